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
* **Training** (:func:`train`) runs vstlib's one training loop, :func:`vstlib.training.train_network`:
  checkpoints every ``checkpoint_every`` steps and at the end, written atomically (temporary
  file, then rename): model, optimizer, step, loss history. Starting the same training again
  in the same folder resumes from the last checkpoint, also after ``kill -9``. The crops of
  step ``s`` come from a generator seeded by ``(seed, s)``, so a resumed run draws exactly the
  batches an uninterrupted one would have.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from .errors import VstError
from .johnson import FORMAT
from .losses import ContentLoss, PerceptualLoss, TotalVariationLoss, make_style_loss
from .methods.johnson import TrainConfig
from .training import CHECKPOINT, TrainResult, plot_training_losses, train_network  # noqa: F401 - re-exported
from .training import save_checkpoint as _save_checkpoint
from .transformer_net import TransformerNet

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")
VIDEO_SUFFIXES = (".mp4", ".mov", ".mkv", ".m4v", ".avi", ".webm")

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
    ``on_step(step, losses)`` is called after every step. The loop is
    :func:`vstlib.training.train_network`; this function gives it the network, the batches of
    crops and the loss of a step.
    """
    from .utils import pick_device

    dev = pick_device(device)
    torch.manual_seed(config.seed)
    model = TransformerNet(config.norm, config.width).to(dev)

    def make_step():
        objective = perceptual_objective(config, style, dev)
        content_loss = objective.losses["content"]

        def step_losses(model, batch, step):
            batch = batch.to(dev)
            out = model(batch)
            if step < config.warmup_steps:  # learn to reproduce the input first (no VGG: cheap)
                return {"pixel": F.mse_loss(out, batch)}
            with torch.no_grad():
                content_loss.set_target(objective.features(batch, content_loss.layers))
            return objective.parts(out)

        return step_losses

    return train_network(model, config, make_step, lambda rng: data.batch(rng, config.batch, config.crop), folder,
                         FORMAT, ("content", "style", "tv", "pixel"), dev, progress, max_seconds, on_step,
                         desc="train johnson")


def save_checkpoint(folder: Path, model, optimizer, config: TrainConfig, step: int, losses: dict) -> None:
    """Checkpoint, loss table and loss plot, each written atomically (:func:`vstlib.training.save_checkpoint`)."""
    _save_checkpoint(folder, model, optimizer, config, step, losses, FORMAT)
