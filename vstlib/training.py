"""Training any feed-forward stylization network: the loop, checkpoints, resume, loss curves, and frame pairs.

:func:`train_network` is the one training loop of vstlib. It knows nothing about the network or
its losses: the caller gives the model, a settings dataclass (``steps``, ``lr``, ``seed``,
``checkpoint_every``, ``to_dict()``, ``defines_the_same_network()``), a function drawing the
batch of a step and a function returning that batch's named loss terms. Johnson's training
(:func:`vstlib.johnson_train.train`: single frames, perceptual loss) and ReCoNet's
(:func:`vstlib.reconet.train`: frame pairs with flow, perceptual and temporal losses) are both
such a pair of functions.

* **Checkpoints** every ``checkpoint_every`` steps and at the end, written atomically (temporary
  file, then rename): model, optimizer, step, loss history, the network's and the training's
  settings, and a ``format`` naming the kind of network. Starting the same training again in the
  same folder resumes from the last checkpoint, also after ``kill -9``; a folder holding another
  kind of network or other settings is refused.
* **Batches** of step ``s`` come from a generator seeded by ``(seed, s)``, so a resumed run draws
  exactly the batches an uninterrupted one would have.
* **Loss curves**: ``losses.csv`` (one column per term) and ``loss_curve.png`` beside each checkpoint.

:class:`FramePairs` gives training pairs from videos: (I_{t-1}, I_t), the flow from t to t-1
and its reliability mask, with flows computed once and cached (:func:`vstlib.flow.compute_flows`),
plus the MPI-Sintel sample frames with ground-truth flow.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from .errors import VstError

CHECKPOINT = "checkpoint.pt"

# ------------------------------------------------------------------------------------------
# The loop
# ------------------------------------------------------------------------------------------


@dataclass
class TrainResult:
    model: torch.nn.Module
    steps: int  # steps done in total (resumed ones included)
    resumed_from: int  # the step the run started at (0: a fresh run)
    losses: dict[str, list[float]] = field(default_factory=dict)  # per step: total and each term
    seconds: float = 0.0  # wall time of this run's steps
    folder: Path | None = None


def _tuples(d: dict) -> dict:
    return {k: tuple(v) if isinstance(v, list) else v for k, v in d.items()}


def train_network(model: torch.nn.Module, config, make_step: Callable[[], Callable], next_batch: Callable,
                  folder, format: str, loss_names: Sequence[str], device, progress: bool = True,
                  max_seconds: float | None = None, on_step=None, desc: str = "train") -> TrainResult:
    """Train (or resume training) ``model`` with Adam (``config.lr``) for ``config.steps`` steps.

    Args:
        model: the network, on ``device`` (seed torch before building it, for reproducible weights).
        config: the training settings (stored in the checkpoint; a resumed run must define the same network).
        make_step: called once, after a checkpoint was found compatible (so a refused folder costs
            no loss network): returns ``step(model, batch, step_index) -> {name: scalar tensor}``,
            the loss terms of a batch (their sum is minimized; a term absent from a step counts 0).
        next_batch: ``next_batch(rng) -> batch`` from a numpy generator seeded by ``(seed, step)``.
        folder: checkpoint.pt, losses.csv and loss_curve.png.
        format: the kind of network, stored and checked on resume (e.g. ``"vstlib-johnson-1"``).
        loss_names: the terms recorded per step (besides ``total``), in the order of the table.
        max_seconds: stop at the next checkpoint after that much time (run again to continue).
        on_step: ``on_step(step, values)`` after every step.
    """
    from .utils import progress_bar

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    losses: dict[str, list[float]] = {name: [] for name in ("total", *loss_names)}
    start = 0
    ckpt_path = folder / CHECKPOINT
    if ckpt_path.is_file():
        ckpt = torch.load(ckpt_path, map_location=device, weights_only=True)
        same = ckpt.get("format") == format
        if same:
            try:
                same = type(config)(**_tuples(ckpt["train_config"])).defines_the_same_network(config)
            except (TypeError, VstError):  # settings of another kind of network
                same = False
        if not same:
            raise VstError(f"'{ckpt_path}' was made with other settings; choose another folder, or delete it to "
                           f"start over")
        model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        losses.update({k: list(v) for k, v in ckpt["losses"].items()})
        start = int(ckpt["step"])
    step_losses = make_step()
    model.train()

    result = TrainResult(model=model, steps=start, resumed_from=start, losses=losses, folder=folder)
    t0 = time.perf_counter()
    bar = progress_bar(total=config.steps, initial=start, desc=desc, unit="step", disable=not progress)
    try:
        for step in range(start, config.steps):
            rng = np.random.default_rng([config.seed, step])  # the same batch whether resumed or not
            parts = step_losses(model, next_batch(rng), step)
            total = sum(parts.values())
            optimizer.zero_grad(set_to_none=True)
            total.backward()
            optimizer.step()
            values = {"total": total.item()} | {k: float(parts[k].detach()) if k in parts else 0.0 for k in loss_names}
            if not math.isfinite(values["total"]):
                raise FloatingPointError(f"training loss became {values['total']} at step {step + 1}; "
                                         f"lower the learning rate or the weights")
            for k, v in values.items():
                losses.setdefault(k, []).append(v)
            result.steps = step + 1
            bar.update(1)
            bar.set_postfix(loss=f"{values['total']:.4g}", refresh=False)
            if on_step is not None:
                on_step(step + 1, values)
            last = step + 1 == config.steps
            if (step + 1) % config.checkpoint_every == 0 or last:
                save_checkpoint(folder, model, optimizer, config, step + 1, losses, format)
                if max_seconds is not None and time.perf_counter() - t0 > max_seconds and not last:
                    break
    finally:
        bar.close()
        result.seconds = time.perf_counter() - t0
    model.eval()
    return result


def save_checkpoint(folder: Path, model, optimizer, config, step: int, losses: dict, format: str) -> None:
    """Checkpoint, loss table and loss plot, each written atomically."""
    from .io import atomic_path
    from .johnson import _atomic_save

    _atomic_save({"format": format, "step": step, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                  "net_config": model.config(), "train_config": config.to_dict(), "losses": losses}, folder / CHECKPOINT)
    names = tuple(losses)
    rows = [",".join(("step",) + names)] + [
        ",".join([str(i + 1)] + [f"{losses[k][i]:.6g}" if i < len(losses.get(k, [])) else "0" for k in names])
        for i in range(len(losses["total"]))]
    with atomic_path(folder / "losses.csv") as tmp:
        tmp.write_text("\n".join(rows) + "\n")
    plot_training_losses(losses, folder / "loss_curve.png")


def plot_training_losses(losses: dict, path: Path | None = None, smooth: int = 25):
    """Loss per step (light) and its running mean over ``smooth`` steps, per term; log scale.

    Without ``path`` the figure is made through pyplot, so Jupyter's inline backend shows it.
    With ``path`` it is only written there (atomically): drawn on a plain
    :class:`matplotlib.figure.Figure`, without pyplot, so training inside a notebook neither
    switches the kernel's backend (which would blank every later figure) nor leaves an open figure.
    """
    if path is None:
        import matplotlib.pyplot as plt

        fig = plt.figure(figsize=(5.5, 3.3))
    else:
        from matplotlib.figure import Figure

        fig = Figure(figsize=(5.5, 3.3))
    ax = fig.add_subplot()
    for name, values in losses.items():
        values = np.asarray(values, dtype=float)
        if values.size == 0 or not np.any(values > 0):
            continue
        steps = np.arange(1, values.size + 1)
        keep = values > 0  # a term is 0 where it is not used (the warm-up has only the pixel term)
        line, = ax.plot(steps[keep], values[keep], alpha=0.25, linewidth=0.8)
        k = min(smooth, int(keep.sum()))
        mean = np.convolve(values[keep], np.ones(k) / k, mode="valid")
        ax.plot(steps[keep][k - 1:], mean, color=line.get_color(), label=name)
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    if ax.get_legend_handles_labels()[0]:
        ax.legend()
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    if path is not None:
        from .io import atomic_path

        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=100)
    return fig


# ------------------------------------------------------------------------------------------
# Frame pairs with flow
# ------------------------------------------------------------------------------------------


@dataclass
class PairBatch:
    """A batch of frame pairs: ``previous`` I_{t-1} and ``current`` I_t [B, 3, H, W] in [0, 1],
    ``flow`` [B, 2, H, W] from t to t-1 (``warp(previous, flow)`` is aligned with ``current``),
    ``mask`` [B, 1, H, W] (1 where that flow is reliable)."""

    previous: Tensor
    current: Tensor
    flow: Tensor
    mask: Tensor

    def to(self, device) -> PairBatch:
        return PairBatch(*(t.to(device) for t in (self.previous, self.current, self.flow, self.mask)))


@dataclass
class _Pair:
    previous: np.ndarray  # uint8 [H, W, 3]
    current: np.ndarray
    flow: np.ndarray  # float32 [H, W, 2], t -> t-1
    mask: np.ndarray  # float32 [H, W], 1 = reliable


def _shrink_pair(pair: _Pair, max_side: int) -> _Pair:
    """A pair at most ``max_side`` on its longer side (flow and mask by :func:`vstlib.flow.downscale_flow`)."""
    from .flow import downscale_flow
    from .io import resize_frame

    h, w = pair.current.shape[:2]
    if max(h, w) <= max_side:
        return pair
    small_prev, small_cur = resize_frame(pair.previous, max_side=max_side), resize_frame(pair.current, max_side=max_side)
    flow, mask = downscale_flow(pair.flow, small_cur.shape[:2], valid=pair.mask > 0.5)
    return _Pair(small_prev, small_cur, flow, mask)


class FramePairs:
    """Training pairs of consecutive video frames with the flow between them and its reliability.

    ``sources``: video files and folders (searched recursively; hidden entries and ``exclude``
    skipped). ``None``: the registry's sample clips (:data:`vstlib.johnson_train.DEFAULT_CLIPS`,
    their last ``HOLDOUT_SECONDS`` held aside) plus, with ``sintel=True``, the MPI-Sintel sample
    frames that have ground-truth flow. From each video every ``pair_every``-th pair (t-1, t) is
    kept (at most ``max_pairs``), decoded at most ``max_side`` pixels on the longer side; the flow
    t -> t-1 is estimated with ``flow`` (and the flow t-1 -> t for the occlusion mask,
    :func:`vstlib.flow.occlusion_mask`), once: both are cached on disk by
    :func:`vstlib.flow.compute_flows`. Pairs with less than ``min_reliable`` of their pixels
    reliable (shot cuts) are dropped.

    Sintel's ground truth is a forward flow (frame f -> f+1), so its pairs run backwards in time:
    I_t = frame f, I_{t-1} = frame f+1, the flow t -> t-1 is the ground truth. The mask is
    Sintel's (not occluded, not invalid) where the samples have it, else
    :func:`~vstlib.flow.occlusion_mask` of the ground truth against the estimated reverse flow.
    """

    def __init__(self, sources: Iterable | None = None, flow: str = "deepflow", max_side: int = 360,
                 pair_every: int = 4, max_pairs: int = 50, exclude_last_seconds: float | None = None,
                 sintel: bool | None = None, min_reliable: float = 0.3, exclude: Iterable = (), cache_dir=None,
                 progress: bool = False):
        from .johnson_train import DEFAULT_CLIPS, HOLDOUT_SECONDS, VIDEO_SUFFIXES

        if pair_every < 1 or max_pairs < 1:
            raise VstError(f"pair_every and max_pairs must be >= 1, got {pair_every} and {max_pairs}")
        self.flow, self.max_side, self.cache_dir, self.progress = flow, max_side, cache_dir, progress
        self.pairs: list[_Pair] = []
        self.described: list[str] = []
        default = sources is None
        if default:
            from .data import fetch

            sources = [fetch(name) for name in DEFAULT_CLIPS]
        holdout = (HOLDOUT_SECONDS if default else 0.0) if exclude_last_seconds is None else exclude_last_seconds
        excluded = [Path(e).resolve() for e in exclude]

        def wanted(p: Path, folder: Path) -> bool:
            if p.suffix.lower() not in VIDEO_SUFFIXES or not p.is_file():
                return False
            if any(part.startswith(".") for part in p.relative_to(folder).parts):
                return False
            resolved = p.resolve()
            return not any(e == resolved or e in resolved.parents for e in excluded)

        for source in sources:
            path = Path(source)
            if path.is_dir():
                found = sorted(p for p in path.rglob("*") if wanted(p, path))
                if not found:
                    raise VstError(f"training folder '{path}' holds no videos ({', '.join(VIDEO_SUFFIXES)})")
            elif path.is_file():
                if path.suffix.lower() not in VIDEO_SUFFIXES:
                    raise VstError(f"'{path}' is not a video ({', '.join(VIDEO_SUFFIXES)}); frame pairs come "
                                   f"from videos")
                found = [path]
            else:
                raise VstError(f"training data '{path}' not found; give video files or folders of them")
            for p in found:
                self._add_video(p, pair_every, max_pairs, holdout, min_reliable)
        if sintel if sintel is not None else default:
            self._add_sintel()
        if not self.pairs:
            raise VstError("no training pairs: give videos of at least two frames")

    def __len__(self) -> int:
        return len(self.pairs)

    def _add_video(self, path: Path, pair_every: int, max_pairs: int, holdout: float, min_reliable: float) -> None:
        from .flow import compute_flows, occlusion_mask
        from .io import probe_video, read_frames

        info = probe_video(path)
        end = max(0, info.n_frames - int(round(holdout * info.fps)))
        ts = list(range(1, end, pair_every))[:max_pairs]
        needed = sorted({i for t in ts for i in (t - 1, t)})
        if not ts:
            return
        frames = {}
        shrink = self.max_side if max(info.width, info.height) > self.max_side else None  # never enlarge
        for i, frame in enumerate(read_frames(path, max_side=shrink, end=needed[-1] + 1)):
            if i in needed:
                frames[i] = frame
        ts = [t for t in ts if t in frames and t - 1 in frames]
        order = sorted(frames)
        local = {i: k for k, i in enumerate(order)}
        clip = [frames[i] for i in order]
        pairs = [(local[t], local[t - 1]) for t in ts] + [(local[t - 1], local[t]) for t in ts]
        flows = compute_flows(clip, pairs, method=self.flow, cache_dir=self.cache_dir, progress=self.progress)
        kept = 0
        for t in ts:
            back, fwd = flows[(local[t], local[t - 1])], flows[(local[t - 1], local[t])]
            mask = occlusion_mask(back, fwd)
            if mask.mean() < min_reliable:
                continue  # a shot cut, or motion the flow could not follow
            self.pairs.append(_Pair(frames[t - 1], frames[t], back, mask))
            kept += 1
        self.described.append(f"{path.name}: {kept} pairs (every {pair_every}th of frames 1..{end - 1}, "
                              f"{self.flow} flow)")

    def _add_sintel(self) -> None:
        from . import data
        from .flow import compute_flows, occlusion_mask

        count = 0
        for name in data.names("sintel/"):
            parts = name.split("/")
            if parts[2] != "flow":
                continue
            scene, f = parts[1], int(Path(name).stem.split("_")[1])
            if f"sintel/{scene}/clean/frame_{f + 1:04d}.png" not in data.names(f"sintel/{scene}/clean/"):
                continue
            a, b, gt = data.sintel_pair(scene, f, "clean")
            if f"sintel/{scene}/occlusions/frame_{f:04d}.png" in data.names(f"sintel/{scene}/occlusions/"):
                mask = ~data.sintel_occlusions(scene, f)
                if f"sintel/{scene}/invalid/frame_{f:04d}.png" in data.names(f"sintel/{scene}/invalid/"):
                    mask &= ~data.sintel_invalid(scene, f)
                mask = mask.astype(np.float32)
            else:
                reverse = compute_flows([a, b], [(1, 0)], method=self.flow, cache_dir=self.cache_dir,
                                        progress=self.progress)[(1, 0)]
                mask = occlusion_mask(gt, reverse)
            self.pairs.append(_shrink_pair(_Pair(b, a, gt, mask), self.max_side))
            count += 1
        if count:
            self.described.append(f"MPI-Sintel: {count} pairs with ground-truth flow (clean pass)")

    def batch(self, rng: np.random.Generator, size: int, crop: int) -> PairBatch:
        """``size`` random crops of random pairs: both frames, flow and mask cut alike; scaled so the
        shorter side is between crop and 1.5 crop (the flow's vectors scaled with it), flipped
        left-right half the time (the flow's x component negated)."""
        from .flow import downscale_flow

        out = []
        for _ in range(size):
            pair = self.pairs[int(rng.integers(len(self)))]
            h, w = pair.current.shape[:2]
            scale = crop * float(rng.uniform(1.0, 1.5)) / min(h, w)
            nh, nw = max(crop, round(h * scale)), max(crop, round(w * scale))
            frames = torch.tensor(np.stack([pair.previous, pair.current])).permute(0, 3, 1, 2).float() / 255.0
            frames = F.interpolate(frames, size=(nh, nw), mode="bilinear", align_corners=False, antialias=scale < 1)
            if nh <= h and nw <= w:
                flow, mask = downscale_flow(pair.flow, (nh, nw), valid=pair.mask > 0.5)
                flow, mask = torch.from_numpy(flow).permute(2, 0, 1), torch.from_numpy(mask)[None]
            else:  # enlarged: vectors interpolated and scaled, the mask by nearest neighbour
                flow = torch.from_numpy(pair.flow).permute(2, 0, 1)[None]
                flow = F.interpolate(flow, size=(nh, nw), mode="bilinear", align_corners=False)[0]
                flow = flow * torch.tensor([nw / w, nh / h]).view(2, 1, 1)
                mask = F.interpolate(torch.from_numpy(pair.mask)[None, None], size=(nh, nw), mode="nearest")[0]
            y, x = int(rng.integers(nh - crop + 1)), int(rng.integers(nw - crop + 1))
            frames, flow, mask = (t[..., y:y + crop, x:x + crop] for t in (frames, flow, mask))
            if rng.random() < 0.5:
                frames, flow, mask = frames.flip(-1), flow.flip(-1) * torch.tensor([-1.0, 1.0]).view(2, 1, 1), mask.flip(-1)
            out.append((frames.clamp(0, 1), flow.float(), mask.float()))
        return PairBatch(torch.stack([o[0][0] for o in out]), torch.stack([o[0][1] for o in out]),
                         torch.stack([o[1] for o in out]), torch.stack([o[2] for o in out]))
