"""``ruder``: Ruder et al. (2016), temporally consistent optimization along the optical flow.

Settings and the streaming session here; the temporal loss, the warping of neighbours and the
in-memory clip loop used by the notebooks are in :mod:`vstlib.ruder`.

The session streams: for each frame it computes the flows to the frames its long-term offsets
need (kept on disk by :func:`vstlib.flow.compute_flows`' cache), and holds only those earlier
input frames and results. Multi-pass (``passes > 1``) must revisit the clip backwards: pass 1
streams and writes every content frame and result to the run's folder (16-bit PNG, so resumed
passes see what an uninterrupted run would), later passes read them back, and the final pass's
frames are handed to the runner in order. Memory stays a few frames whatever the clip's length.
"""

from __future__ import annotations

from collections import deque
from dataclasses import asdict, dataclass, field, replace

from ..choices import FLOW_BACKENDS
from ..config import nested, option, validate
from .base import Method, Session, register
from .gatys import GatysConfig


def _offsets(values) -> str | None:
    if values[0] != 1 or list(values) != sorted(set(values)) or any(v < 1 for v in values):
        return f"offsets must increase and start at 1, e.g. 1 or 1,2,4; got {','.join(map(str, values))}"
    return None


def _below_one(value) -> str | None:
    return None if value < 1 else f"must be below 1, got {value}"


@dataclass(frozen=True)
class RuderConfig:
    """Everything that defines a Ruder result (and keys the video resume folder).

    ``gatys`` holds the per-frame objective and the first frame's optimization (all of its
    scales and iterations); later frames run ``frame_iters`` iterations at full size from
    ``init``, by default a third of ``gatys.iters``: started from the warped previous frame,
    that is about when they reach the loss per-frame Gatys ends with (benchmarks/RESULTS.md).
    """

    gatys: GatysConfig = nested(GatysConfig, "the per-frame objective and the first frame's optimization")
    # Tuned against the style weight: with the old style default 1e3, 1e5 pulled a frame most of the
    # way to the warped previous one. The style default is now 1e1, which makes the rest of the
    # objective about 12x smaller (bench_style_weight: content 5.8e5 + style 4.1e6 -> 2.7e5 + 1.1e5),
    # so the weight came down with it. `bench_temporal.py --clips sintel --max-side 128 --iters 60
    # --seconds 1 --flow dis --temporal-weight W` (12 frames): W = 1e5 gave E_warp 0.030x per-frame
    # Gatys with 1.48x its style loss; W = 1e4 gave 0.023x with 1.14x: steadier and closer to the style.
    temporal_weight: float = option(1e4, "temporal loss weight, per squared grey level", low=0, metavar="W")
    init: str = option("warped", "start of frames after the first", choices=("warped", "content", "noise"),
                       flag="frame-init")
    frame_iters: int | None = option(None, "iterations for frames after the first, which start from the warped "
                                           "previous frame", kind=int, low=1, high=100000,
                                     default_text="a third of --iters")
    flow: str = option("deepflow", "optical flow method", choices=FLOW_BACKENDS)
    flow_params: tuple = field(default=())  # backend parameters, e.g. (("preset", "fast"),): library only
    long_term: tuple[int, ...] = option((1,), "tie each frame to these earlier frames, e.g. 1,2,4", check=_offsets,
                                        metavar="J,..")
    passes: int = option(1, "multi-pass: alternate forward and backward passes", low=1, high=1000)
    blend: float = option(0.5, "multi-pass: weight of the warped neighbour in a frame's start", low=0, high=1,
                          metavar="D")
    cut_threshold: float = option(0.2, "a frame with fewer reliable pixels than this starts a new shot", low=0,
                                  check=_below_one, metavar="F")
    flow_workers: int | None = option(None, "frame pairs whose optical flow is computed at once", kind=int, low=1,
                                      high=256, default_text="one per CPU core")

    def __post_init__(self):
        validate(self)

    @property
    def later_iters(self) -> int:
        return self.frame_iters if self.frame_iters is not None else max(1, self.gatys.iters // 3)

    def replace(self, **changes) -> RuderConfig:
        return replace(self, **changes)

    def to_dict(self) -> dict:
        return asdict(self)


class RuderFrames(Session):
    """Frames in order, each tied to the earlier results along the flow."""

    def __init__(self, styles, config: RuderConfig, device, workdir=None):
        from ..ruder import RuderStylizer

        super().__init__()
        self.config = config
        self.stylizer = RuderStylizer(styles[0], config, device=device, styles=styles)
        self.workdir = workdir
        depth = max(config.long_term)
        self.frames: deque = deque(maxlen=depth)  # earlier input frames, uint8 [H, W, 3], nearest last
        self.results: deque = deque(maxlen=depth)  # their results [1, 3, H, W] on the CPU, nearest last
        self.index = 0  # the next frame's number

    # -- state carried between frames (saved with each finished part of the video) --
    def state_dict(self) -> dict:
        import numpy as np
        import torch

        return {"index": self.index, "frames": [torch.from_numpy(np.ascontiguousarray(f)) for f in self.frames],
                "results": list(self.results), "cuts": list(self.stats.cuts)}

    def load_state_dict(self, state: dict) -> None:
        self.index = int(state["index"])
        self.frames.clear()
        self.frames.extend(t.numpy() for t in state["frames"])
        self.results.clear()
        self.results.extend(state["results"])
        self.stats.cuts = list(state.get("cuts", []))

    @property
    def resumes_mid_clip(self) -> bool:
        return self.config.passes == 1

    def _flows(self, frame, earlier: list, pairs_back: bool = True) -> list:
        """Flows between ``frame`` and each earlier frame (both directions), from the cache when known."""
        from ..flow import compute_flows

        frames = list(earlier) + [frame]
        last = len(frames) - 1
        pairs = [p for k in range(last) for p in ((last, k), (k, last))]
        flows = compute_flows(frames, pairs, method=self.config.flow, params=dict(self.config.flow_params),
                              workers=self.config.flow_workers, progress=False)
        return [(flows[(last, k)], flows[(k, last)]) for k in range(last)]

    def _first_pass_frame(self, item):
        """Stylize one frame given the held earlier frames (nearest offsets first)."""
        from ..ruder import warp_neighbour

        cfg = self.config
        held = len(self.frames)
        offsets = [j for j in cfg.long_term if j <= held]
        earlier = [self.frames[held - j] for j in offsets]
        neighbours = []
        if earlier:
            for (to, back), j in zip(self._flows(item.frame, earlier), offsets):
                neighbours.append(warp_neighbour(self.results[held - j], to, back))
        self.stylizer.gatys.set_style_mix(item.mix)
        result, cut = self.stylizer.next_frame(item.content, neighbours)
        if cut:
            self.stats.cuts.append(item.index)
        self._record(result)
        image = result.image.detach().cpu()
        self.frames.append(item.frame)
        self.results.append(image)
        self.index = item.index + 1
        return image

    def _record(self, result):
        self.stats.seconds_per_frame.append(result.times[-1] if result.times else 0.0)
        self.stats.final_losses.append(result.losses[-1] if result.losses else float("nan"))

    def stylize(self, items):
        (item,) = items
        return self._first_pass_frame(item)

    def run(self, items):
        if self.config.passes == 1:
            yield from super().run(items)
            return
        yield from self._multi_pass(items)

    # -- multi-pass: frames and passes on disk ------------------------------------------------
    def _multi_pass(self, items):
        from ..ruder import blend_start, warp_neighbour

        if self.workdir is None:
            raise ValueError("multi-pass needs a work folder for its frames")
        folder = self.workdir / "passes"
        folder.mkdir(parents=True, exist_ok=True)
        cfg, n = self.config, 0
        mixes = []
        for item in items:  # pass 1, streaming; inputs and results kept on disk
            n += 1
            mixes.append(item.mix)
            out = folder / f"p01_{item.index:06d}.png"
            if not (folder / f"frame_{item.index:06d}.png").is_file():
                _save16(folder / f"content_{item.index:06d}.png", item.content)
                _save_u8(folder / f"frame_{item.index:06d}.png", item.frame)
            if out.is_file():  # resumed: what the earlier run computed
                image = _load16(out)
                self.frames.append(item.frame)
                self.results.append(image)
            else:
                image = self._first_pass_frame(item)
                _save16(out, image)
            item.frame = item.content = None  # on disk now: the runner holds nothing per waiting frame
        for p in range(2, cfg.passes + 1):
            forward = p % 2 == 1
            order = range(n) if forward else range(n - 1, -1, -1)
            step = -1 if forward else 1  # where the neighbour already updated in this pass is
            for i in order:
                out = folder / f"p{p:02d}_{i:06d}.png"
                if out.is_file():
                    continue
                own = _load16(folder / f"p{p - 1:02d}_{i:06d}.png")
                frame = _load_u8(folder / f"frame_{i:06d}.png")
                neighbours = []
                for k, this_pass in ((i + step, True), (i - step, False)):
                    if 0 <= k < n:
                        result_k = _load16(folder / f"p{p if this_pass else p - 1:02d}_{k:06d}.png")
                        (to, back), = self._flows(frame, [_load_u8(folder / f"frame_{k:06d}.png")])
                        neighbours.append(warp_neighbour(result_k, to, back))
                init = blend_start(own.to(self.stylizer.device), neighbours[0], cfg.blend) if neighbours else own
                neighbours = [nb for nb in neighbours if float(nb.mask.mean()) >= cfg.cut_threshold]
                self.stylizer.gatys.set_style_mix(mixes[i])
                result = self.stylizer.stylize_frame(_load16(folder / f"content_{i:06d}.png"), neighbours, init=init,
                                                     iters=cfg.later_iters, long_term=False)
                self._record(result)
                _save16(out, result.image.detach().cpu())
        for i in range(n):  # with its input frame, which the runner's post steps may need
            yield _load16(folder / f"p{cfg.passes:02d}_{i:06d}.png"), _load_u8(folder / f"frame_{i:06d}.png")


def _save16(path, image) -> None:
    """[1, 3, H, W] in [0, 1] as a 16-bit PNG (written atomically): 1/65535 steps, lossless enough
    that a resumed pass continues from what it computed."""
    import cv2
    import numpy as np

    from ..io import atomic_path

    a = (image[0].permute(1, 2, 0).clamp(0, 1).cpu().numpy() * 65535.0).round().astype(np.uint16)
    with atomic_path(path) as tmp:
        if not cv2.imwrite(str(tmp), a[..., ::-1]):  # the temporary name keeps the .png suffix
            raise OSError(f"could not write {path}")


def _load16(path):
    import cv2
    import torch

    a = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)[..., ::-1].astype("float32") / 65535.0
    return torch.from_numpy(a.copy()).permute(2, 0, 1)[None]


def _save_u8(path, frame) -> None:
    import cv2

    from ..io import atomic_path

    with atomic_path(path) as tmp:
        if not cv2.imwrite(str(tmp), frame[..., ::-1]):
            raise OSError(f"could not write {path}")


def _load_u8(path):
    import cv2

    return cv2.imread(str(path), cv2.IMREAD_COLOR)[..., ::-1].copy()


@register
class Ruder(Method):
    name = "ruder"
    summary = "Ruder et al.: optical flow, warped starts and a temporal loss (far less flicker; videos)"
    Config = RuderConfig
    video_only = True

    def coerce_config(self, config):
        if isinstance(config, GatysConfig):  # the per-frame settings, with Ruder's defaults around them
            return RuderConfig(gatys=config)
        return super().coerce_config(config)

    def chunking(self, config) -> str:
        return "shots" if config.passes == 1 else "none"  # multi-pass revisits the whole clip

    def prepare(self, config, styles, device, workdir=None):
        return RuderFrames(styles, config, device, workdir)
