"""Training a Johnson et al. network for one style: data, the training loop, checkpoints, loss plots.

Training minimizes a perceptual loss of the same form as the one Gatys optimizes per image
(content + style + total variation over vstlib's VGG19 features, :mod:`vstlib.losses`), but with
the network's own settings (:class:`~vstlib.methods.johnson.TrainConfig`: content at ``relu2_2``,
as Johnson et al., and a much smaller style weight than
:class:`~vstlib.methods.gatys.GatysConfig`'s; ``johnson.loss_settings`` prints both), over the
weights of a :class:`~vstlib.transformer_net.TransformerNet` and averaged over many content
images, with Adam on random crops. Model files and inference are :mod:`vstlib.johnson`; the settings,
:class:`~vstlib.methods.johnson.TrainConfig`.

* **Data** (:class:`TrainingImages`): any mix of image files, video files and folders of them.
  Images are read from disk when drawn (a folder of 80k COCO photos costs no memory); videos
  contribute every n-th frame, decoded once. The offline default
  (:func:`default_training_sources`) is the registry's clips (their last two seconds held aside
  for evaluation) and scikit-image's photos.
* **Checkpoints** every ``checkpoint_every`` steps and at the end, written atomically
  (temporary file, then rename): model, optimizer, step, loss history. Starting the same
  training again in the same folder resumes from the last checkpoint, also after ``kill -9``.
  The crops of step ``s`` come from a generator seeded by ``(seed, s)``, so a resumed run
  draws exactly the batches an uninterrupted one would have.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from .errors import VstError
from .johnson import FORMAT, _atomic_save
from .losses import ContentLoss, PerceptualLoss, TotalVariationLoss, make_style_loss
from .methods.johnson import TrainConfig
from .transformer_net import TransformerNet

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")
VIDEO_SUFFIXES = (".mp4", ".mov", ".mkv", ".m4v", ".avi", ".webm")
CHECKPOINT = "checkpoint.pt"

# ------------------------------------------------------------------------------------------
# Training data
# ------------------------------------------------------------------------------------------


class TrainingImages:
    """Content images for training, drawn as random square crops.

    ``sources``: image files, video files, folders (searched recursively for both) and uint8
    arrays [H, W, 3]. Videos contribute every ``video_every``-th frame (at most
    ``max_video_frames`` each), decoded once and held in memory at most ``max_side`` pixels on
    their longer side; image files are decoded when drawn. ``exclude_last_seconds`` holds the end
    of every video aside (for evaluation on frames the network never saw).

    In folders, hidden files and folders (a name starting with '.', below the folder given) are
    skipped, and so is everything in ``exclude``: files or folders such as the model being written
    and the training's work directory (its loss_curve.png, its half-written temp files).
    """

    def __init__(self, sources: Iterable, video_every: int = 4, max_video_frames: int = 200, max_side: int = 640,
                 exclude_last_seconds: float = 0.0, exclude: Iterable = ()):
        from .io import probe_video, read_frames

        self.arrays: list[np.ndarray] = []
        self.files: list[Path] = []
        self.max_side = max_side
        self.described: list[str] = []
        in_memory = 0
        excluded = [Path(e).resolve() for e in exclude]

        def wanted(p: Path, folder: Path) -> bool:
            if p.suffix.lower() not in IMAGE_SUFFIXES + VIDEO_SUFFIXES or not p.is_file():
                return False
            if any(part.startswith(".") for part in p.relative_to(folder).parts):
                return False  # hidden: e.g. a half-written .loss_curve.png.tmp-*.png
            resolved = p.resolve()
            return not any(e == resolved or e in resolved.parents for e in excluded)

        for source in sources:
            if isinstance(source, np.ndarray):
                self.arrays.append(_shrink(source, max_side))
                in_memory += 1
                continue
            path = Path(source)
            if path.is_dir():
                found = sorted(p for p in path.rglob("*") if wanted(p, path))
                if not found:
                    raise VstError(f"training folder '{path}' holds no images or videos ({', '.join(IMAGE_SUFFIXES)}, ...)")
            elif path.is_file():
                found = [path]
            else:
                raise VstError(f"training data '{path}' not found; give image files, videos or folders")
            for p in found:
                if p.suffix.lower() in VIDEO_SUFFIXES:
                    info = probe_video(p)
                    end = max(1, info.n_frames - int(round(exclude_last_seconds * info.fps)))
                    end = min(end, max_video_frames * video_every)  # decode no further than the frames kept
                    frames = list(read_frames(p, max_side=max_side, end=end, step=video_every))
                    self.arrays.extend(frames)
                    self.described.append(f"{p.name}: {len(frames)} frames (every {video_every}th of 0..{end - 1})")
                elif p.suffix.lower() in IMAGE_SUFFIXES:
                    self.files.append(p)
        if len(self) == 0:
            raise VstError("no training images: give image files, videos or folders that hold some")
        if self.files:
            self.described.append(f"{len(self.files)} image files")
        if in_memory:
            self.described.append(f"{in_memory} in-memory photos")

    def __len__(self) -> int:
        return len(self.arrays) + len(self.files)

    def _image(self, index: int) -> np.ndarray:
        if index < len(self.arrays):
            return self.arrays[index]
        from .io import load_image, to_array

        return to_array(load_image(self.files[index - len(self.arrays)], max_side=self.max_side))

    def batch(self, rng: np.random.Generator, size: int, crop: int) -> Tensor:
        """``size`` random crops [size, 3, crop, crop] in [0, 1]: a random image, scaled so its
        shorter side is between crop and 1.5 crop, a random crop of that, flipped half the time."""
        out = []
        for _ in range(size):
            image = self._image(int(rng.integers(len(self))))
            h, w = image.shape[:2]
            short = crop * float(rng.uniform(1.0, 1.5))
            scale = short / min(h, w)
            nh, nw = max(crop, round(h * scale)), max(crop, round(w * scale))
            t = torch.tensor(image).permute(2, 0, 1)[None].float() / 255.0  # a copy: arrays may be read-only
            t = F.interpolate(t, size=(nh, nw), mode="bilinear", align_corners=False, antialias=scale < 1)
            y, x = int(rng.integers(nh - crop + 1)), int(rng.integers(nw - crop + 1))
            t = t[..., y:y + crop, x:x + crop]
            if rng.random() < 0.5:
                t = t.flip(-1)
            out.append(t.clamp(0, 1))
        return torch.cat(out)


def _shrink(image: np.ndarray, max_side: int) -> np.ndarray:
    from .io import resize_frame

    return resize_frame(image, max_side=max_side) if max(image.shape[:2]) > max_side else image


# The registry clips used for training by default; their last HOLDOUT_SECONDS are never drawn.
DEFAULT_CLIPS = ("video/bbb_adain_640x360_10s.mp4", "video/sintel_640x360_10s.mp4",
                 "video/tears_of_steel_640x360_10s.mp4", "video/mpi_sintel_cave_2_clean_1024x436_10fps.mp4")
HOLDOUT_SECONDS = 2.0
# A held-aside frame for evaluation: 1 s before the end of the Tears of Steel clip.
HOLDOUT_FRAME = ("video/tears_of_steel_640x360_10s.mp4", -24)


def default_training_sources() -> list:
    """The offline default: the registry's clips (fetched/verified through vstlib.data) and
    scikit-image's bundled photos. Use with ``exclude_last_seconds=HOLDOUT_SECONDS``."""
    from .data import CONTENT_PHOTOS, content_photo, fetch

    return [fetch(name) for name in DEFAULT_CLIPS] + [content_photo(name) for name in CONTENT_PHOTOS]


def holdout_frame(max_side: int | None = None) -> np.ndarray:
    """A frame no default training run has seen (uint8 [H, W, 3])."""
    from .data import fetch
    from .io import probe_video, read_frames

    path = fetch(HOLDOUT_FRAME[0])
    index = probe_video(path).n_frames + HOLDOUT_FRAME[1]
    return next(iter(read_frames(path, max_side=max_side, start=index, end=index + 1)))


# ------------------------------------------------------------------------------------------
# Training
# ------------------------------------------------------------------------------------------


@dataclass
class TrainResult:
    model: TransformerNet
    steps: int  # steps done in total (resumed ones included)
    resumed_from: int  # the step the run started at (0: a fresh run)
    losses: dict[str, list[float]] = field(default_factory=dict)  # per step: total, content, style, tv
    seconds: float = 0.0  # wall time of this run's steps
    folder: Path | None = None


def perceptual_objective(config: TrainConfig, style: Tensor, device) -> PerceptualLoss:
    """The training loss: content + style (Gram or W2) + TV over VGG19, style targets set from
    the style image resized to the crop's pixel count (times style_scale^2)."""
    from .gatys import resize, style_size_for

    objective = PerceptualLoss({
        "content": ContentLoss(config.content_layers, config.content_weight),
        "style": make_style_loss(config.style_loss, config.style_layers, config.effective_style_weight),
        "tv": TotalVariationLoss(config.tv_weight),
    }, weights=config.weights, device=device)
    style_hw = style_size_for(style.shape[-2:], (config.crop, config.crop), config.style_scale)
    with torch.no_grad():
        small = resize(style.to(device), style_hw)
        objective.losses["style"].set_target(objective.features(small, objective.losses["style"].layers))
    return objective


def train(style: Tensor, config: TrainConfig, data: TrainingImages, folder, device=None, progress: bool = True,
          max_seconds: float | None = None, on_step=None) -> TrainResult:
    """Train (or resume training) a TransformerNet for ``style`` [1, 3, h, w] in [0, 1].

    ``folder`` holds ``checkpoint.pt`` (resumed from when present and made with the same
    settings), ``losses.csv`` and ``loss_curve.png``. ``max_seconds`` stops early at the next
    checkpoint after that much time (a time budget; run again to continue).
    ``on_step(step, losses)`` is called after every step.
    """
    from .utils import pick_device, progress_bar

    dev = pick_device(device)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(config.seed)
    model = TransformerNet(config.norm, config.width).to(dev)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    losses: dict[str, list[float]] = {"total": [], "content": [], "style": [], "tv": [], "pixel": []}
    start = 0
    ckpt_path = folder / CHECKPOINT
    if ckpt_path.is_file():
        ckpt = torch.load(ckpt_path, map_location=dev, weights_only=True)
        old = TrainConfig(**_tuples(ckpt["train_config"]))
        if not old.defines_the_same_network(config):
            raise VstError(f"'{ckpt_path}' was made with other settings; choose another folder, or delete it to "
                           f"start over")
        model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        losses.update({k: list(v) for k, v in ckpt["losses"].items()})
        start = int(ckpt["step"])
    objective = perceptual_objective(config, style, dev)
    content_loss = objective.losses["content"]
    model.train()

    result = TrainResult(model=model, steps=start, resumed_from=start, losses=losses, folder=folder)
    t0 = time.perf_counter()
    bar = progress_bar(total=config.steps, initial=start, desc="train johnson", unit="step", disable=not progress)
    try:
        for step in range(start, config.steps):
            rng = np.random.default_rng([config.seed, step])  # the same batch whether resumed or not
            batch = data.batch(rng, config.batch, config.crop).to(dev)
            out = model(batch)
            if step < config.warmup_steps:  # learn to reproduce the input first (no VGG: cheap)
                parts = {"pixel": F.mse_loss(out, batch)}
            else:
                with torch.no_grad():
                    content_loss.set_target(objective.features(batch, content_loss.layers))
                parts = objective.parts(out)
            total = sum(parts.values())
            optimizer.zero_grad(set_to_none=True)
            total.backward()
            optimizer.step()
            values = {"total": total.item()} | {k: float(parts[k].detach()) if k in parts else 0.0
                                                for k in ("content", "style", "tv", "pixel")}
            if not math.isfinite(values["total"]):
                raise FloatingPointError(f"training loss became {values['total']} at step {step + 1}; "
                                         f"lower the learning rate or the weights")
            for k, v in values.items():
                losses[k].append(v)
            result.steps = step + 1
            bar.update(1)
            bar.set_postfix(loss=f"{values['total']:.4g}", refresh=False)
            if on_step is not None:
                on_step(step + 1, values)
            last = step + 1 == config.steps
            if (step + 1) % config.checkpoint_every == 0 or last:
                save_checkpoint(folder, model, optimizer, config, step + 1, losses)
                if max_seconds is not None and time.perf_counter() - t0 > max_seconds and not last:
                    break
    finally:
        bar.close()
        result.seconds = time.perf_counter() - t0
    model.eval()
    return result


def _tuples(d: dict) -> dict:
    return {k: tuple(v) if isinstance(v, list) else v for k, v in d.items()}


def save_checkpoint(folder: Path, model, optimizer, config: TrainConfig, step: int, losses: dict) -> None:
    """Checkpoint, loss table and loss plot, each written atomically."""
    _atomic_save({"format": FORMAT, "step": step, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                  "net_config": model.config(), "train_config": config.to_dict(), "losses": losses}, folder / CHECKPOINT)
    names = ("total", "content", "style", "tv", "pixel")
    rows = [",".join(("step",) + names)] + [
        ",".join([str(i + 1)] + [f"{losses[k][i]:.6g}" if i < len(losses.get(k, [])) else "0" for k in names])
        for i in range(len(losses["total"]))]
    from .io import atomic_path

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
    for name in ("total", "content", "style", "tv", "pixel"):
        values = np.asarray(losses.get(name, []), dtype=float)
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
