"""Foreground/background compositing: a style (or a method, or none) per region, joined four ways.

A mask backend (:mod:`vstlib.segment`) gives every frame a soft mask ``m`` in [0, 1] (1 =
foreground), made temporally stable by :class:`vstlib.segment.MaskStabilizer`. Each region is
stylized by its own session (``S_fg``, ``S_bg``: a method with a style, or the frame kept as is),
and the output is the blend ::

    out = alpha * S_fg(I_fg) + (1 - alpha) * S_bg(I_bg)

The four ``edges`` variants (the seed project's, defined exactly):

* ``strict``: ``alpha = [m > 0.5]``, a hard cut; ``I_fg = I_bg = I`` (the frame).
* ``feather``: ``alpha = G_sigma * [m > 0.5]``, the cut blurred by a Gaussian of ``feather`` pixels,
  so the seam is a short crossfade.
* ``blur``: the background is stylized from a *defocused* frame, ``I_bg = G_b * I`` (``b`` =
  ``blur`` pixels), the foreground from the sharp one, joined with the feathered alpha: a shallow
  depth of field. Fine background texture (leaves, noise, compression blocks) is what a network
  turns into flickering strokes; defocusing it calms the background instead of cutting it away.
* ``resize``: the foreground's bounding box (padded, widened to the frame's aspect ratio,
  smoothed over time) is cropped and resized to the frame before stylizing, and the result
  resized back: the strokes scale with the subject instead of the frame. Feathered alpha.

**Filling the hole** (``inpaint``): ``S_bg`` of the whole frame also paints the foreground's
texture into the background near the seam (a halo). With ``inpaint``, what the (dilated)
foreground hides is filled by OpenCV's Telea inpainting before the background is stylized,
the seed project's own future work. It is done at most :data:`INPAINT_SIDE` pixels on the longer
side and pasted into the hole only: the filled area is about to be painted over, so its fine
detail does not matter, and the cost stays a few milliseconds.

:class:`RegionSession` wraps the run's session (and those of the regions' own styles or methods)
as one :class:`~vstlib.methods.base.Session`, so it works with every registered method; the
runner builds it when ``regions`` is given (:func:`vstlib.runner.stylize_video`).
"""

from __future__ import annotations

import copy
import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from .errors import VstError
from .methods.base import FrameItem, Session
from .runner import EDGES, RegionOptions

__all__ = ["EDGES", "INPAINT_SIDE", "RegionOptions", "RegionSession", "blend_regions", "edge_alpha", "fill_hidden",
           "gaussian_blur", "region_box", "seam_energy"]

INPAINT_SIDE = 160  # inpainting resolution (longer side, pixels)
KEEP = "none"  # a region's style (or method) that keeps it as it is (unstylized)


# ------------------------------------------------------------------------------------------
# Pieces: blur, alpha, inpainting, boxes, the blend, the seam metric
# ------------------------------------------------------------------------------------------


def gaussian_blur(x: Tensor, sigma: float) -> Tensor:
    """Separable Gaussian blur of ``x`` [*, C, H, W] with standard deviation ``sigma`` pixels
    (reflected borders; ``sigma`` 0 returns ``x``).

    >>> x = torch.zeros(1, 1, 9, 9); x[..., 4, 4] = 1
    >>> y = gaussian_blur(x, 1.0)
    >>> round(float(y.sum()), 4), bool(y[..., 4, 4] < 1), tuple(y.shape)
    (1.0, True, (1, 1, 9, 9))
    """
    if sigma <= 0:
        return x
    radius = max(1, int(math.ceil(3 * sigma)))
    if x.device.type == "cpu" and x.dtype == torch.float32 and radius < min(x.shape[-2:]) and x.numel() > 4096:
        # the same kernel and border (reflect without repeating the edge) through OpenCV: measured
        # ~25x faster than two 1-D convolutions in torch at 640x360 on a CPU
        import cv2

        planes = x.detach().reshape(-1, *x.shape[-2:]).numpy()
        out = np.stack([cv2.GaussianBlur(p, (2 * radius + 1, 2 * radius + 1), sigma, sigmaY=sigma,
                                         borderType=cv2.BORDER_REFLECT_101) for p in planes])
        return torch.from_numpy(out).reshape(x.shape)
    t = torch.arange(-radius, radius + 1, dtype=x.dtype, device=x.device)
    k = torch.exp(-(t ** 2) / (2 * sigma ** 2))
    k = k / k.sum()
    shape = x.shape
    y = x.reshape(-1, 1, shape[-2], shape[-1])
    # reflection needs the pad smaller than the side; replicate covers tiny images
    mode = "reflect" if radius < min(shape[-2:]) else "replicate"
    y = F.conv2d(F.pad(y, (radius, radius, 0, 0), mode=mode), k.view(1, 1, 1, -1))
    y = F.conv2d(F.pad(y, (0, 0, radius, radius), mode=mode), k.view(1, 1, -1, 1))
    return y.reshape(shape)


def edge_alpha(mask: Tensor, edges: str, feather: float) -> Tensor:
    """The blending weight of the foreground for ``edges`` from a soft mask [*, 1, H, W] in [0, 1].

    >>> m = torch.zeros(1, 1, 8, 8); m[..., :, 4:] = 0.8
    >>> a = edge_alpha(m, "strict", 2.0)
    >>> sorted(a.unique().tolist())
    [0.0, 1.0]
    >>> f = edge_alpha(m, "feather", 1.0)
    >>> bool(0 < f[0, 0, 0, 3] < 0.5 < f[0, 0, 0, 4] < 1)
    True
    """
    if edges not in EDGES:
        raise VstError(f"unknown --edges value '{edges}'; choose {', '.join(EDGES)}")
    hard = (mask > 0.5).to(mask.dtype)
    return hard if edges == "strict" else gaussian_blur(hard, feather)


def blend_regions(fg: Tensor, bg: Tensor, alpha: Tensor) -> Tensor:
    """``alpha * fg + (1 - alpha) * bg`` for images [*, C, H, W] and alpha [*, 1, H, W].

    >>> blend_regions(torch.ones(1, 3, 2, 2), torch.zeros(1, 3, 2, 2), torch.full((1, 1, 2, 2), 0.25)).mean().item()
    0.25
    """
    return alpha * fg + (1 - alpha) * bg


def fill_hidden(image: np.ndarray, hole: np.ndarray, max_side: int = INPAINT_SIDE, grow: int | None = None) -> np.ndarray:
    """``image`` (uint8 [H, W, 3]) with the pixels under ``hole`` (bool [H, W]) filled from their
    surroundings (OpenCV Telea inpainting at most ``max_side`` pixels on the longer side, pasted
    into the hole only). ``grow``: pixels the hole is first dilated by (default 1.5 % of the
    longer side), so the foreground's fringe, which the mask misses, goes too.

    >>> img = np.full((40, 60, 3), 100, np.uint8); img[10:30, 20:40] = 250
    >>> hole = np.zeros((40, 60), bool); hole[10:30, 20:40] = True
    >>> out = fill_hidden(img, hole)
    >>> int(np.abs(out[15:25, 25:35].astype(int) - 100).max()) < 10, bool((out[0] == img[0]).all())
    (True, True)
    """
    import cv2

    h, w = hole.shape
    if not hole.any():
        return image
    grow = max(1, round(0.015 * max(h, w))) if grow is None else grow
    hole_u8 = hole.astype(np.uint8)
    if grow > 0:
        hole_u8 = cv2.dilate(hole_u8, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * grow + 1, 2 * grow + 1)))
    scale = min(1.0, max_side / max(h, w))
    sw, sh = max(1, round(w * scale)), max(1, round(h * scale))
    small = cv2.resize(image, (sw, sh), interpolation=cv2.INTER_AREA)
    # a small hole must not vanish when scaled down: any covered pixel counts
    small_hole = (cv2.resize(hole_u8.astype(np.float32), (sw, sh), interpolation=cv2.INTER_AREA) > 0).astype(np.uint8)
    filled = cv2.inpaint(small, small_hole, 3, cv2.INPAINT_TELEA)
    filled = cv2.resize(filled, (w, h), interpolation=cv2.INTER_LINEAR)
    out = image.copy()
    out[hole_u8.astype(bool)] = filled[hole_u8.astype(bool)]
    return out


def region_box(mask: Tensor, aspect: float, pad: float = 0.15, min_side: int = 16) -> tuple[float, float, float, float] | None:
    """The box (x0, y0, x1, y1) around the foreground of ``mask`` [H, W] (> 0.5), grown by ``pad``
    of its size on every side, widened to ``aspect`` (width / height) and clamped to the frame;
    None when there is no foreground.

    >>> m = torch.zeros(90, 160); m[40:60, 70:90] = 1
    >>> x0, y0, x1, y1 = region_box(m, 160 / 90)
    >>> round((x1 - x0) / (y1 - y0), 3), x0 <= 70 and x1 >= 90 and y0 <= 40 and y1 >= 60
    (1.778, True)
    """
    h, w = mask.shape[-2:]
    ys, xs = torch.nonzero(mask.reshape(h, w) > 0.5, as_tuple=True)
    if len(xs) == 0:
        return None
    x0, x1, y0, y1 = float(xs.min()), float(xs.max()) + 1, float(ys.min()), float(ys.max()) + 1
    bw, bh = x1 - x0, y1 - y0
    bw, bh = bw * (1 + 2 * pad), bh * (1 + 2 * pad)
    bw, bh = max(bw, bh * aspect, min_side * aspect), max(bh, bw / aspect, min_side)
    bw, bh = min(bw, w), min(bh, h)
    if bw / bh > aspect:  # clamped by the frame's height: keep the aspect
        bw = bh * aspect
    else:
        bh = bw / aspect
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    cx, cy = min(max(cx, bw / 2), w - bw / 2), min(max(cy, bh / 2), h - bh / 2)
    return cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2


def _int_box(box, h: int, w: int) -> tuple[int, int, int, int]:
    x0, y0, x1, y1 = box
    x0, y0 = max(0, int(math.floor(x0))), max(0, int(math.floor(y0)))
    return x0, y0, max(x0 + 2, min(w, int(math.ceil(x1)))), max(y0 + 2, min(h, int(math.ceil(y1))))


def seam_energy(image: Tensor, alpha: Tensor, width: int = 2) -> float:
    """How visible the seam is: the mean gradient magnitude (Sobel, luminance) of ``image``
    [1, 3, H, W] in a band of ``width`` pixels on both sides of the mask boundary (``alpha`` > 0.5),
    over the mean gradient magnitude everywhere else. About 1: the boundary is as busy as the
    rest of the picture; well above 1: an edge the picture does not have elsewhere.

    >>> a = torch.zeros(1, 1, 32, 32); a[..., 8:24, 8:24] = 1
    >>> smooth = torch.full((1, 3, 32, 32), 0.5)
    >>> cut = 0.2 + 0.6 * a.expand(1, 3, 32, 32)
    >>> seam_energy(cut, a) > 10 * seam_energy(smooth + 1e-3 * torch.rand(1, 3, 32, 32), a)
    True
    """
    grey = (0.2126 * image[:, 0] + 0.7152 * image[:, 1] + 0.0722 * image[:, 2]).unsqueeze(1)
    kx = torch.tensor([[-1.0, 0, 1], [-2, 0, 2], [-1, 0, 1]], dtype=grey.dtype, device=grey.device).view(1, 1, 3, 3) / 8
    padded = F.pad(grey, (1, 1, 1, 1), mode="replicate")
    g = torch.sqrt(F.conv2d(padded, kx) ** 2 + F.conv2d(padded, kx.transpose(-1, -2)) ** 2)
    hard = (alpha > 0.5).to(grey.dtype)
    k = 2 * width + 1
    band = (F.max_pool2d(hard, k, 1, width) - -F.max_pool2d(-hard, k, 1, width)) > 0
    if not band.any() or band.all():
        return float("nan")
    return float(g[band].mean() / g[~band].mean().clamp_min(1e-8))


# ------------------------------------------------------------------------------------------
# The session
# ------------------------------------------------------------------------------------------


@dataclass
class RegionPlan:
    """What one region gets: ``session`` (None: the frame kept as it is) and whether it follows
    the run's style schedule (it shares the run's own session) or its one style."""

    session: Session | None
    scheduled: bool
    label: str


def _with(item: FrameItem, frame: np.ndarray, content: Tensor, scheduled: bool) -> FrameItem:
    return dataclasses.replace(item, frame=frame, content=content, mix=item.mix if scheduled else ((0, 1.0),))


class RegionSession(Session):
    """The run's session plus the regions' own, behind one :class:`Session` (see the module text).

    ``first``/``every``: the source frame numbers of output frames (``first + index * every``),
    for mask backends that read files. Works with any session that stylizes batches through
    :meth:`Session.stylize` (every per-frame method, and Ruder's single-pass mode)."""

    def __init__(self, fg: RegionPlan, bg: RegionPlan, segmenter, options: RegionOptions, first: int = 0,
                 every: int = 1, main: Session | None = None, stabilizer=None):
        super().__init__()
        self.fg, self.bg, self.segmenter, self.options = fg, bg, segmenter, options
        self.first, self.every = first, every
        self.stabilizer = stabilizer
        sessions = [p.session for p in (fg, bg) if p.session is not None]
        for s in sessions:
            # a session that does not resume mid-clip consumes the whole clip in its own run()
            # (multi-pass Ruder): it cannot be handed one region's frames batch by batch
            if not s.resumes_mid_clip:
                raise VstError("--segment needs a method that stylizes frame by frame; this one runs over the whole "
                               "clip at once (e.g. ruder --passes > 1): use a single pass")
        self.batch_size = min([s.batch_size for s in sessions] or [1])
        if main is not None:
            self.stats = main.stats  # cuts, losses and timings of the run's own method
        self.box: list[float] | None = None  # the smoothed foreground box (resize)
        self._snapshots: list[dict] = []  # own state after each frame of the batch not yet handed out
        self._handed_out: dict | None = None
        self._track = False  # inside run(): snapshot the state after every frame
        self.last_masks: Tensor | None = None  # the latest batch's stabilized masks [B, 1, H, W] (for callers)
        if options.edges == "resize" and fg.session is None:
            raise VstError("--edges resize stylizes the foreground's box at the frame's size, but the foreground is "
                           "kept as it is: give it a style (--fg-style) or choose --edges feather")
        same = fg.session is bg.session and fg.scheduled == bg.scheduled
        inpaint = options.inpaint == "on" or (options.inpaint == "auto" and not same)
        self.inpaint = inpaint and options.edges != "blur"

    # Carried state: the sessions', the mask stabilizer's and the box's. A batch runs the mask
    # stabilizer and the box several frames ahead of the output the runner has taken, so their
    # state is snapshotted after every frame and :meth:`state_dict` gives the one of the last
    # output handed out (the regions' own sessions are per-frame or take one frame at a time).
    def _own_state(self) -> dict:
        state = {}
        if self.stabilizer is not None:
            state["masks"] = copy.deepcopy(self.stabilizer.state_dict())
        if self.box is not None:
            state["box"] = torch.tensor(self.box, dtype=torch.float64)
        return state

    def state_dict(self) -> dict:
        state = {}
        for name, plan in (("fg", self.fg), ("bg", self.bg)):
            if plan.session is not None:
                state[name] = plan.session.state_dict()
        state.update(self._handed_out if self._track and self._handed_out is not None else self._own_state())
        return state

    def run(self, items):
        """Outputs one by one, as :meth:`Session.run`, keeping :meth:`state_dict` in step with them."""
        self._track = True
        try:
            for out in super().run(items):
                self._handed_out = self._snapshots.pop(0)
                yield out
        finally:
            self._track = False

    def load_state_dict(self, state: dict) -> None:
        for name, plan in (("fg", self.fg), ("bg", self.bg)):
            if plan.session is not None and name in state:
                plan.session.load_state_dict(state[name])
        if self.stabilizer is not None and "masks" in state:
            self.stabilizer.load_state_dict(state["masks"])
        self.box = state["box"].tolist() if "box" in state else None
        self._snapshots, self._handed_out = [], None

    @property
    def resumes_mid_clip(self) -> bool:
        return all(p.session.resumes_mid_clip for p in (self.fg, self.bg) if p.session is not None)

    def masks(self, items: Sequence[FrameItem]) -> Tensor:
        """Stabilized soft masks [B, 1, H, W] of the items' frames, in order; the stabilizer's
        state after each frame goes to :attr:`_snapshots`."""
        from .io import to_tensors

        frames = to_tensors([it.frame for it in items])
        raw = self.segmenter.masks(frames, [self.first + it.index * self.every for it in items]).float().cpu()
        out = []
        for i, it in enumerate(items):
            out.append(raw[i:i + 1] if self.stabilizer is None else self.stabilizer(raw[i:i + 1], it.frame))
            if self._track:
                self._snapshots.append({"masks": copy.deepcopy(self.stabilizer.state_dict())} if self.stabilizer
                                       else {})
        return torch.cat(out).clamp(0, 1)

    def _run(self, plan: RegionPlan, items: Sequence[FrameItem]) -> Tensor:
        if plan.session is None:
            return torch.cat([it.content for it in items])
        return plan.session.stylize(items).float().cpu()

    def stylize(self, items: Sequence[FrameItem]) -> Tensor:
        from .io import to_array, to_tensor

        opts = self.options
        done = len(self._snapshots)  # snapshots of earlier frames still waiting to be handed out
        masks = self.masks(items)
        self.last_masks = masks
        alpha = edge_alpha(masks, opts.edges, opts.feather)
        h, w = masks.shape[-2:]

        # The foreground's inputs: the frame, or (resize) its box scaled to the frame.
        fg_items, boxes = list(items), [None] * len(items)
        if opts.edges == "resize" and self.fg.session is not None:
            fg_items = []
            for i, it in enumerate(items):
                box = self._smoothed_box(region_box(masks[i, 0], w / h), h, w)
                boxes[i] = _int_box(box, h, w) if box is not None else None
                if box is not None and self._track:
                    self._snapshots[done + i]["box"] = torch.tensor(box, dtype=torch.float64)
                if boxes[i] is None:
                    fg_items.append(_with(it, it.frame, it.content, self.fg.scheduled))
                    continue
                x0, y0, x1, y1 = boxes[i]
                content = F.interpolate(it.content[..., y0:y1, x0:x1], size=(h, w), mode="bilinear",
                                        align_corners=False, antialias=True)
                frame = to_array(F.interpolate(to_tensor(np.ascontiguousarray(it.frame[y0:y1, x0:x1])), size=(h, w),
                                               mode="bilinear", align_corners=False))
                fg_items.append(_with(it, frame, content, self.fg.scheduled))
        else:
            fg_items = [_with(it, it.frame, it.content, self.fg.scheduled) for it in items]

        # The background's inputs: the frame, defocused (blur) or with the foreground filled in.
        if opts.edges == "blur" and self.bg.session is not None:
            bg_items = []
            for it in items:
                content = gaussian_blur(it.content, opts.blur)
                # the content is the frame unless colour preservation made it grey: blur once
                same = it.content.shape[-3] == 3 and np.array_equal(to_array(it.content), it.frame)
                frame = to_array(content) if same else to_array(gaussian_blur(to_tensor(it.frame), opts.blur))
                bg_items.append(_with(it, frame, content, self.bg.scheduled))
        elif self.inpaint and self.bg.session is not None:
            bg_items = []
            for i, it in enumerate(items):
                hole = (masks[i, 0] > 0.5).numpy()
                frame = fill_hidden(it.frame, hole)
                content_u8 = to_array(it.content)
                content = to_tensor(fill_hidden(content_u8, hole)).to(it.content.dtype) if not \
                    np.array_equal(content_u8, it.frame) else to_tensor(frame)
                bg_items.append(_with(it, frame, content, self.bg.scheduled))
        else:
            bg_items = [_with(it, it.frame, it.content, self.bg.scheduled) for it in items]

        # One stylization when both regions would get the same one.
        shared = (self.fg.session is self.bg.session and self.fg.scheduled == self.bg.scheduled
                  and all(a is b or (a.content is b.content) for a, b in zip(fg_items, bg_items)))
        out_bg = self._run(self.bg, bg_items)
        out_fg = out_bg if shared else self._run(self.fg, fg_items)

        if any(b is not None for b in boxes):
            placed = out_bg.clone()
            for i, b in enumerate(boxes):
                if b is None:
                    placed[i] = out_fg[i]
                    continue
                x0, y0, x1, y1 = b
                placed[i, :, y0:y1, x0:x1] = F.interpolate(out_fg[i:i + 1], size=(y1 - y0, x1 - x0), mode="bilinear",
                                                           align_corners=False, antialias=True)[0]
                # nothing of the foreground outside its box
                outside = torch.ones(h, w, dtype=torch.bool)
                outside[y0:y1, x0:x1] = False
                alpha[i, 0][outside] = 0
            out_fg = placed
        return blend_regions(out_fg, out_bg, alpha).clamp(0, 1)

    def _smoothed_box(self, box, h: int, w: int):
        """The box smoothed over time, so the crop (and the strokes' scale) does not jitter with
        the mask: its centre is an exponential moving average, its size never smaller than the
        current box's (the foreground must stay inside it); a frame without foreground keeps the
        last box."""
        if box is None:
            return self.box
        cx, cy, bw, bh = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2, box[2] - box[0], box[3] - box[1]
        if self.box is not None:
            ox, oy, ow = ((self.box[0] + self.box[2]) / 2, (self.box[1] + self.box[3]) / 2,
                          self.box[2] - self.box[0])
            cx, cy = 0.7 * ox + 0.3 * cx, 0.7 * oy + 0.3 * cy
            grow = max(1.0, (0.7 * ow + 0.3 * bw) / bw)
            # the smoothed centre may lag: grow until the current box fits, keeping the aspect
            need = max(2 * max(cx - box[0], box[2] - cx) / bw, 2 * max(cy - box[1], box[3] - cy) / bh)
            grow = max(grow, need)
            bw, bh = min(w, bw * grow), min(h, bh * grow)
            if bw / bh > w / h:
                bw = bh * w / h
            else:
                bh = bw * h / w
            cx, cy = min(max(cx, bw / 2), w - bw / 2), min(max(cy, bh / 2), h - bh / 2)
        self.box = [cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2]
        return self.box


# ------------------------------------------------------------------------------------------
# Building it for a run
# ------------------------------------------------------------------------------------------


def _region_plan(which: str, method_name: str | None, style, m, config, main: Session, load_styles, device,
                 workdir) -> RegionPlan:
    """The plan of region ``which`` ("fg"/"bg"): the run's session, the frame kept, or a session of its own."""
    from . import methods

    name = method_name or m.name
    if style == KEEP or name == KEEP:
        return RegionPlan(None, False, "unstylized")
    if name == m.name and style is None:
        return RegionPlan(main, True, "the run's style")
    rm = methods.get(name)
    if style is None and rm.style_kind != "none":
        raise VstError(f"--{which}-method {name} needs its own style: add --{which}-style STYLE")
    cfg = config if name == m.name else rm.default_config()
    if style is not None and getattr(cfg, "model", None) is not None:
        cfg = dataclasses.replace(cfg, model=None)  # the region's style names its model
    styles = load_styles(rm, rm.resolve_styles(cfg, [] if style is None else [style]))
    folder = None if workdir is None else workdir / f"region_{which}"
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
    return RegionPlan(rm.prepare(cfg, styles, device, folder), False, f"{name} {style}")


def region_session(options: RegionOptions, m, config, main: Session, load_styles, device, *, video=None,
                   first: int = 0, end: int = 0, every: int = 1, size: tuple[int, int] | None = None,
                   workdir=None) -> RegionSession:
    """The :class:`RegionSession` of a run: the mask backend (fitted to the clip's frame range when
    ``video`` is given), the mask stabilizer, and each region's plan. ``load_styles(method,
    styles)`` turns a method's resolved styles into what its ``prepare`` takes."""
    from .segment import MaskStabilizer, make_segmenter

    segmenter = make_segmenter(options.segment, device=device)
    if video is not None:
        segmenter.fit(video, first, end, every, size)
    fg = _region_plan("fg", options.fg_method, options.fg_style, m, config, main, load_styles, device, workdir)
    bg = _region_plan("bg", options.bg_method, options.bg_style, m, config, main, load_styles, device, workdir)
    stabilizer = MaskStabilizer(options.mask_stability) if options.mask_stability > 0 else None
    return RegionSession(fg, bg, segmenter, options, first, every, main=main, stabilizer=stabilizer)
