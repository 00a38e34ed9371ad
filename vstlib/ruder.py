"""Ruder et al. (2016): video style transfer with temporal constraints.

Per-frame Gatys flickers because every frame's optimization settles into a different local
minimum. Ruder et al. tie frame t to the stylized frames before it, moved along the optical flow:

* **warped initialization**: frame t starts from the stylized frame t-1 warped onto frame t, so
  the optimization starts next to the previous solution (and needs fewer iterations);
* **short-term temporal loss** ``(1/D) sum_k c_k (x_k - w_k)^2`` between the image ``x`` and the
  warped previous output ``w``, where ``c`` (:func:`vstlib.flow.occlusion_mask`) is 0 on
  disoccluded pixels and motion boundaries, whose warped values are wrong;
* **long-term loss** over several earlier frames t-j, j in J (e.g. {1, 2, 4}), with weights
  ``c_long`` (:func:`vstlib.flow.long_term_weights`) so each pixel is tied to the nearest frame
  in which it was visible: a region that reappears after an occlusion gets its old texture back;
* **multi-pass** (optional): passes alternate forward and backward through the clip, each frame
  starting from a blend of its previous-pass result and its warped neighbour, so the first frames
  also get information from later ones (it removes the artifacts that build up at frame edges as
  the camera moves).

The temporal terms are one more :class:`~vstlib.losses.FeatureLoss` (:class:`TemporalLoss`) in the
Gatys objective, optimized by the same :func:`~vstlib.engine.optimize_image`; nothing here has a
loop of its own over iterations.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from .engine import PIXEL_SCALE, OptimResult, optimize_image
from .flow import clip_pairs, long_term_weights, occlusion_mask, warp
from .gatys import GatysConfig, GatysStylizer  # noqa: F401 - GatysConfig: the docstring example
from .io import load_image, save_image
from .losses import FeatureLoss
from .methods.ruder import RuderConfig

__all__ = ["RuderConfig", "RuderStylizer", "TemporalLoss", "blend_start", "needed_pairs", "stylize_clip",
           "warp_neighbour"]

class TemporalLoss(FeatureLoss):
    """Ruder's temporal loss: ``weight * sum_j (1/D) sum_k c_j,k (x_k - w_j,k)^2``.

    Each target is a warped earlier output ``w_j`` [B, 3, H, W] in [0, 1] with its per-pixel
    weight ``c_j`` [B, 1, H, W] (a reliability mask, or ``c_long``). D counts all entries of the
    image (not only reliable ones), as in the paper. Differences are measured in gray levels
    (0..255, as Ruder et al.'s images and vstlib's optimizer variable), so a weight of 1 costs a
    one-gray-level mismatch everywhere 1. No targets: the loss is 0 (the first frame of a clip).
    """

    layers = ()

    def __init__(self, weight: float = 1.0):
        super().__init__(weight)
        self.targets: list[tuple[Tensor, Tensor]] = []

    def set_target(self, warped: Sequence[Tensor], weights: Sequence[Tensor]) -> None:
        if len(warped) != len(weights):
            raise ValueError(f"{len(warped)} warped frames but {len(weights)} weight maps")
        self.targets = [(w.detach(), c.detach()) for w, c in zip(warped, weights)]

    def clear(self) -> None:
        self.targets = []

    def forward(self, features, image):
        loss = image.new_zeros(())
        for warped, c in self.targets:
            # c [B, 1, H, W] broadcasts over the channels; divide by all B*C*H*W entries
            loss = loss + (c * ((image - warped) * PIXEL_SCALE).pow(2)).sum() / image.numel()
        return self.weight * loss


@dataclass
class Neighbour:
    """An earlier (or, in multi-pass, later) stylized frame moved onto the current frame."""

    warped: Tensor  # [1, 3, H, W] in [0, 1]
    mask: Tensor  # [1, 1, H, W], 1 = reliable


def warp_neighbour(stylized: Tensor, flow_to: np.ndarray, flow_from: np.ndarray) -> Neighbour:
    """Move a stylized frame s onto the current frame t.

    ``flow_to``: flow t -> s (where each pixel of t is found in s); ``flow_from``: flow s -> t,
    used only for the forward-backward consistency check.
    """
    dev = stylized.device
    flow_t = torch.from_numpy(np.ascontiguousarray(flow_to)).permute(2, 0, 1)[None].to(dev)
    warped = warp(stylized, flow_t).clamp(0, 1)
    mask = torch.from_numpy(occlusion_mask(flow_to, flow_from)).to(dev)[None, None]
    return Neighbour(warped, mask)


class RuderStylizer:
    """Stylize the frames of one clip in order, each tied to the earlier ones.

    >>> style, frame0, frame1 = torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 32)
    >>> still = np.zeros((32, 32, 2), np.float32)  # the flow between the frames: nothing moved
    >>> stylizer = RuderStylizer(style, RuderConfig(gatys=GatysConfig(iters=2), frame_iters=2))
    >>> first = stylizer.stylize_frame(frame0, [])
    >>> second = stylizer.stylize_frame(frame1, [warp_neighbour(first.image, still, still)])
    >>> second.image.shape, second.iterations
    (torch.Size([1, 3, 32, 32]), 2)
    """

    def __init__(self, style: Tensor, config: RuderConfig = RuderConfig(), device=None, styles=None):
        self.config = config
        self.temporal = TemporalLoss(config.temporal_weight)
        self.gatys = GatysStylizer(style, config.gatys, device=device, extra_losses={"temporal": self.temporal},
                                   styles=styles)
        self.device = self.gatys.device

    @property
    def objective(self):
        return self.gatys.objective

    def start_image(self, content: Tensor, neighbours: Sequence[Neighbour]) -> Tensor:
        """The initialization of a later frame: its nearest warped neighbour, its content or noise.

        Where the warped neighbour is unreliable (disocclusions), Ruder et al. keep the warped
        values anyway; the temporal loss ignores them and the style and content terms repaint them.
        """
        if self.config.init == "warped":
            return neighbours[0].warped.clone()
        if self.config.init == "content":
            return content.clone()
        gen = torch.Generator().manual_seed(self.config.gatys.seed)
        return torch.rand(content.shape, generator=gen).to(content.device)

    def stylize_frame(self, content: Tensor, neighbours: Sequence[Neighbour], init: Tensor | None = None,
                      iters: int | None = None, long_term: bool = True, callback: Callable | None = None,
                      progress=None) -> OptimResult:
        """Stylize one frame [1, 3, H, W] given its warped neighbours (nearest first).

        No neighbours and no ``iters``: a plain Gatys frame (coarse-to-fine as configured), the
        first frame of a clip or of a new shot. Otherwise one full-size optimization of content +
        style + temporal loss for ``iters`` (default ``frame_iters``) iterations, started from
        ``init`` (default :meth:`start_image`). ``long_term``: the neighbours are frames t-j,
        j in J, weighted by ``c_long``; otherwise each by its own mask (multi-pass).
        """
        content = content.to(self.device)
        if not neighbours and iters is None:
            self.temporal.clear()
            return self.gatys(content, init=init, callback=callback, progress=progress)
        masks = [n.mask for n in neighbours]
        weights = long_term_weights(masks) if long_term and len(neighbours) > 1 else masks
        self.temporal.set_target([n.warped.to(self.device) for n in neighbours], [w.to(self.device) for w in weights])
        self.gatys.set_content(content)
        cfg = self.config.gatys
        if init is None and not neighbours:
            raise ValueError("a frame without neighbours optimized for a fixed number of iterations needs an init")
        start = init.to(self.device) if init is not None else self.start_image(content, neighbours)
        torch.manual_seed(cfg.seed)
        return optimize_image(self.objective, start, **self.gatys.engine_options(iters or self.config.later_iters),
                              callback=callback, progress=progress)

    def next_frame(self, content: Tensor, neighbours: Sequence[Neighbour]) -> tuple[OptimResult, bool]:
        """A frame of the first (or only) pass: tied to its warped earlier frames (nearest first),
        or, when the flow finds almost nothing of the previous frame (a shot cut), started afresh
        like the first frame. Returns the result and whether this frame was a cut."""
        cut = bool(neighbours) and float(neighbours[0].mask.mean()) < self.config.cut_threshold
        return self.stylize_frame(content, [] if cut else neighbours, long_term=True), cut

    def loss_parts(self, image: Tensor) -> dict[str, float]:
        return self.gatys.loss_parts(image)


def blend_start(own: Tensor, neighbour: Neighbour, blend: float) -> Tensor:
    """Multi-pass initialization (Ruder et al., sec. 3.3): ``delta c w + (1 - delta c) x``.

    The warped neighbour ``w`` is mixed in with weight ``delta`` where it is reliable (c = 1);
    elsewhere the frame keeps its previous-pass result ``x``.
    """
    c = neighbour.mask
    return blend * c * neighbour.warped + (1 - blend * c) * own


def needed_pairs(n_frames: int, config: RuderConfig) -> list[tuple[int, int]]:
    """The flows a clip of ``n_frames`` needs: t -> t-j and t-j -> t for j in J."""
    return clip_pairs(n_frames, offsets=config.long_term)


def _pass_path(cache, p: int, passes: int, i: int):
    return cache / (f"frame_{i:05d}.png" if p == passes else f"pass{p:02d}_frame_{i:05d}.png")


@dataclass
class ClipResult:
    frames: list[Tensor]  # stylized frames [1, 3, H, W] in [0, 1], on the CPU
    computed: int = 0  # frame optimizations run (over all passes)
    resumed: int = 0  # frame results (over all passes) found in the cache
    cuts: list[int] = field(default_factory=list)  # frames that started a new shot
    seconds_per_frame: list[float] = field(default_factory=list)
    final_losses: list[float] = field(default_factory=list)
    iterations: list[int] = field(default_factory=list)


def stylize_clip(frames: Sequence[Tensor], stylizer: RuderStylizer, flows: dict, cache=None,
                 progress=None, on_frame: Callable | None = None) -> ClipResult:
    """Stylize a clip (frames [1, 3, H, W] in [0, 1]) with Ruder's method, single- or multi-pass.

    Args:
        flows: ``{(a, b): flow a -> b}`` as numpy [H, W, 2] for every pair of :func:`needed_pairs`.
        cache: a folder for finished frames (PNG). Frames found there are loaded instead of
            computed, so an interrupted clip resumes where it stopped. Final results are
            ``frame_NNNNN.png``; multi-pass keeps earlier passes as ``passPP_frame_NNNNN.png``.
        progress: a tqdm-like bar advanced once per frame and pass.
        on_frame: ``on_frame(pass, index, image)`` after each frame (e.g. a live preview).
    """
    cfg = stylizer.config
    n, passes = len(frames), cfg.passes
    if cache is not None:
        cache = Path(cache)
        cache.mkdir(parents=True, exist_ok=True)
    state: list[Tensor | None] = [None] * n  # latest result of each frame
    result = ClipResult(frames=[])
    dev = stylizer.device

    def neighbour(i: int, k: int) -> Neighbour:
        return warp_neighbour(state[k].to(dev), flows[(i, k)], flows[(k, i)])

    for p in range(1, passes + 1):
        forward = p % 2 == 1
        order = range(n) if forward else range(n - 1, -1, -1)
        step = -1 if forward else 1  # where the already-updated neighbour is
        for i in order:
            path = _pass_path(cache, p, passes, i) if cache is not None else None
            if path is not None and path.is_file():
                state[i] = load_image(path)
                result.resumed += 1
            else:
                content = frames[i].to(dev)
                if p == 1:
                    res, cut = stylizer.next_frame(content, [neighbour(i, i - j) for j in cfg.long_term if i - j >= 0])
                    if cut:
                        result.cuts.append(i)
                else:
                    nbs = [neighbour(i, k) for k in (i + step, i - step) if 0 <= k < n]
                    init = blend_start(state[i].to(dev), nbs[0], cfg.blend) if nbs else state[i].to(dev)
                    nbs = [nb for nb in nbs if float(nb.mask.mean()) >= cfg.cut_threshold]
                    res = stylizer.stylize_frame(content, nbs, init=init, iters=cfg.later_iters, long_term=False)
                state[i] = res.image.detach().cpu()
                result.computed += 1
                result.seconds_per_frame.append(res.times[-1] if res.times else 0.0)
                result.final_losses.append(res.losses[-1] if res.losses else math.nan)
                result.iterations.append(res.iterations)
                if path is not None:
                    save_image(state[i], path)  # atomic
                    # PNG rounds to 8 bits; continue from exactly what a resumed run would load
                    state[i] = load_image(path)
            if on_frame is not None:
                on_frame(p, i, state[i])
            if progress is not None:
                progress.update(1)
    result.frames = [s for s in state]
    return result
