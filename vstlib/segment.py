"""Foreground/background masks for video: several backends behind one interface.

A backend (:class:`Segmenter`) turns frames into soft masks in [0, 1] (1 = foreground), batched::

    seg = make_segmenter("person")            # or "voc:person,dog", "masks:PATH", "motion", "motion:mog2"
    seg.fit(video, first, end, every, size)   # whole-clip backends look at the clip first (no-op otherwise)
    masks = seg.masks(frames, indices)        # frames [B, 3, H, W] in [0, 1] -> [B, 1, H, W] in [0, 1]

``indices`` are the frames' numbers in the source video (``masks:PATH`` reads the matching file;
``motion`` ignores them). :class:`MaskStabilizer` then makes a mask stream temporally stable.

The backends (:func:`make_segmenter` spec -> class):

* ``person``, ``person:general``, ``person:landscape``: MediaPipe's selfie segmentation networks
  (:mod:`vstlib.selfie_net`, offline; without a variant it is picked by the frame's shape).
* ``voc:CLASS[,CLASS]``: torchvision's DeepLabV3 (MobileNetV3-Large) trained on the 21 Pascal VOC
  classes (:data:`VOC_CLASSES`); the mask is the sum of the chosen classes' softmax
  probabilities (:class:`VocSegmenter`). Its weights are downloaded once.
* ``masks:PATH``: given masks, a folder of PNG/JPG files (one per source frame, from frame 0,
  sorted by name) or a mask video (:class:`FileMasks`).
* ``motion``: a static camera's moving things: the distance of each frame to the clip's
  temporal median (:class:`MotionSegmenter`, whole clip, estimated in :meth:`~Segmenter.fit`).
* ``motion:mog2``: OpenCV's Gaussian-mixture background subtractor, online, frame by frame
  (:class:`Mog2Segmenter`).

Also here: :class:`MaskStabilizer` (the :class:`vstlib.stabilize.Stabilizer` blend applied to
masks), :func:`mask_flicker` and :func:`mask_iou` (measurements), :func:`segment_video` (masks of a
video written as a grey video or PNG folder, the back of ``vst segment``), and synthetic ground
truth: :func:`static_camera` and :func:`synthetic_composite`.
"""

from __future__ import annotations

import math
import os
import re
import secrets
import shutil
from collections.abc import Sequence
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from .errors import VstError
from .stabilize import ANALYSIS_SIDE, CUT_THRESHOLD, Stabilizer

__all__ = ["MASK_EXTENSIONS", "MOTION_SAMPLES", "SEGMENT_BACKENDS", "VOC_CLASSES", "FileMasks", "MaskStabilizer",
           "Mog2Segmenter", "MotionSegmenter", "PersonSegmenter", "Segmenter", "VocSegmenter", "clean_mask",
           "make_segmenter", "mask_flicker", "mask_iou", "segment_video", "static_camera", "synthetic_composite",
           "voc_network", "voc_state_dict", "voc_weights_file"]

# What ``--segment`` accepts (the part before a colon).
SEGMENT_BACKENDS = ("person", "voc", "masks", "motion")
SPEC_HELP = "person[:general|landscape], voc:CLASS[,CLASS], masks:PATH, motion or motion:mog2"

# The 21 outputs of torchvision's VOC segmentation networks, in their order (the weights' meta
# "categories"; tests check they agree). "__background__" cannot be chosen.
VOC_CLASSES = ("__background__", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
               "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train",
               "tvmonitor")
# torchvision's VOC networks: DeepLabV3 is the default (60.3 mIoU on COCO-VOC against LR-ASPP's
# 57.9, torchvision's table), at 5x the work (10.5 against 2.1 GFLOPs): measured at 640x360 on two
# busy CPU cores, 1.3 s against 0.15 s a frame (random weights; the work does not depend on them).
VOC_MODELS = ("deeplabv3", "lraspp")
# The networks were trained and evaluated with the shorter side resized to 520 px (their transforms).
VOC_SHORT_SIDE = 520
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

MASK_EXTENSIONS = (".png", ".jpg", ".jpeg")

# -- motion: the temporal-median background and its thresholds --------------------------------
# Frames (evenly spaced over the range) the median background is estimated from: the median of
# n samples is right wherever the foreground covers a pixel in fewer than half of them, and 25
# keep the fit at ~1.5 s (decoding included; 2 busy cores) and ~70 MB of samples at 640x360.
MOTION_SAMPLES = 25
# Masks are computed at most this many pixels on the longer side and scaled up (bilinear): the
# median, the noise estimate and the clean-up cost grow with the pixels, and a mask's edge needs
# no more detail than this.
MOTION_SIDE = 640
# The distance of a pixel to the background is the RGB norm (units: [0, 1] per channel) of the
# difference, unblurred: a Gaussian blur of sigma 1 px before thresholding would average sensor
# noise down, but it grew the mask by about a pixel along strong edges (measured on the synthetic
# composite over a smooth random texture at 640x360: IoU 0.977 with it, 0.985 without at 2/255
# noise, 0.978 and 0.990 at 5/255), and the opening of the clean-up removes isolated noise pixels.
# Where the background alone would give distances: each pixel's noise sigma is estimated from
# the sampled frames as median_k(d_k) / 1.538 (the median of a chi distribution with 3 degrees of
# freedom, the norm of 3 Gaussian channels), robust to the foreground passing in fewer than half
# of the samples. A pixel starts to be foreground at MOTION_K sigma (chi_3 exceeds 4 with
# probability 0.1 %: one false pixel in a thousand before the clean-up) but never below
# MOTION_FLOOR (10/255 in RGB norm: H.264 ringing and what the gain correction leaves of lighting
# drift are not noise-like, so the estimate alone would be too sensitive on a perfectly clean
# clip), and is fully foreground at twice that distance: a smoothstep between the two, so the
# mask is soft where the colour difference is marginal (often the object's anti-aliased edge).
CHI3_MEDIAN = 1.5382
MOTION_K = 4.0
MOTION_FLOOR = 0.04
# The clean-up (:func:`clean_mask`): an opening removes specks up to ~2r+1 px, a closing fills
# holes of twice that (where the object's colour happens to match the background), r scaled with
# the analysis frame (2 px at 360 lines).
MOTION_CLEAN_PER_LINE = 1 / 180
# motion:mog2: OpenCV's defaults (history 500 frames, squared Mahalanobis threshold 16 = 4 sigma,
# shadows detected and counted as background: a person's shadow is not the person).
MOG2_HISTORY = 500
MOG2_VAR_THRESHOLD = 16.0


# --------------------------------------------------------------------------------------------
# Small shared pieces
# --------------------------------------------------------------------------------------------


def _check_frames(frames: Tensor) -> Tensor:
    if not isinstance(frames, Tensor) or frames.ndim != 4 or frames.shape[1] != 3:
        shape = tuple(frames.shape) if isinstance(frames, Tensor) else type(frames).__name__
        raise VstError(f"masks: expected RGB frames [B, 3, H, W] in [0, 1], got {shape}")
    return frames


def _resize_masks(masks: Tensor, size: tuple[int, int]) -> Tensor:
    """Masks [B, 1, h, w] resized bilinearly to ``size`` (H, W) (antialiased when shrinking)."""
    if tuple(masks.shape[-2:]) == tuple(size):
        return masks
    shrink = masks.shape[-2] > size[0] or masks.shape[-1] > size[1]
    return F.interpolate(masks, size=tuple(size), mode="bilinear", align_corners=False, antialias=shrink)


def _analysis_size(h: int, w: int, side: int | None) -> tuple[int, int]:
    if side is None or max(h, w) <= side:
        return h, w
    scale = side / max(h, w)
    return max(1, round(h * scale)), max(1, round(w * scale))


def _frames_u8(frames: Tensor | np.ndarray) -> np.ndarray:
    """Frames [T, 3, H, W] in [0, 1] (tensor) or uint8 [T, H, W, 3] (array) as uint8 [T, H, W, 3]."""
    if isinstance(frames, Tensor):
        from .io import to_arrays

        return to_arrays(_check_frames(frames))
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[3] != 3 or frames.dtype != np.uint8:
        raise VstError(f"expected uint8 frames [T, H, W, 3] or a tensor [T, 3, H, W], got {frames.shape} {frames.dtype}")
    return frames


def _smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def clean_mask(mask: np.ndarray, radius: int) -> np.ndarray:
    """A morphological opening then closing of a soft mask [H, W] (float32, grey-level morphology)
    with a disk of ``radius`` pixels: the opening removes foreground specks narrower than the
    disk, the closing then fills holes and gaps of twice that size. ``radius`` 0: unchanged.

    >>> m = np.zeros((12, 12), np.float32); m[1, 1] = 1; m[4:10, 3:9] = 1; m[6, 5] = 0
    >>> out = clean_mask(m, 1)
    >>> float(out[1, 1]), float(out[6, 5]), float(out[5:9, 4:8].min())  # speck gone, hole filled, block kept
    (0.0, 1.0, 1.0)
    """
    radius = int(radius)
    if radius <= 0:
        return mask
    disk = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    mask = np.ascontiguousarray(mask, dtype=np.float32)
    opened = cv2.morphologyEx(mask, cv2.MORPH_OPEN, disk, borderType=cv2.BORDER_REPLICATE)
    big = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (4 * radius + 1, 4 * radius + 1))
    return cv2.morphologyEx(opened, cv2.MORPH_CLOSE, big, borderType=cv2.BORDER_REPLICATE)


# --------------------------------------------------------------------------------------------
# The interface and the spec parser
# --------------------------------------------------------------------------------------------


class Segmenter:
    """A mask backend. Subclasses set :attr:`spec` and implement :meth:`masks`."""

    spec: str = ""  # the text that made it ("person", "voc:person", ...): part of a run's resume key

    def fit(self, video: Path, first: int, end: int, every: int, size: tuple[int, int]) -> None:
        """Look at the frames ``first, first + every, ... < end`` of ``video`` at ``size`` (H, W)
        before any :meth:`masks` call. Per-frame backends do nothing."""

    def masks(self, frames: Tensor, indices: Sequence[int]) -> Tensor:
        """Soft masks [B, 1, H, W] in [0, 1] for frames [B, 3, H, W] in [0, 1] (source frame numbers ``indices``)."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.spec!r})"


def make_segmenter(spec: str, device=None) -> Segmenter:
    """The backend ``spec`` names, or one clear :class:`VstError` line.

    ``device``: where the networks of ``person`` and ``voc`` run (None: on the frames' device).

    >>> make_segmenter("motion").spec, make_segmenter("motion:mog2").spec
    ('motion', 'motion:mog2')
    >>> make_segmenter("voc:cat,unicorn")
    Traceback (most recent call last):
    ...
    vstlib.errors.VstError: --segment voc:cat,unicorn: unknown class 'unicorn'; choose from aeroplane, bicycle, bird, boat, bottle, bus, car, cat, chair, cow, diningtable, dog, horse, motorbike, person, pottedplant, sheep, sofa, train, tvmonitor
    """
    if isinstance(spec, Segmenter):
        return spec
    text = str(spec).strip()
    name, _, arg = text.partition(":")
    name = name.strip().lower()
    if name == "person":
        return PersonSegmenter(arg.strip().lower() or None, device=device)
    if name == "voc":
        return VocSegmenter(_voc_classes(text, arg), device=device)
    if name == "masks":
        if not arg.strip():
            raise VstError("--segment masks:PATH needs a path: a folder of PNG/JPG masks or a mask video")
        return FileMasks(arg.strip())
    if name == "motion":
        kind = arg.strip().lower()
        if kind in ("", "median"):
            return MotionSegmenter()
        if kind == "mog2":
            return Mog2Segmenter()
        raise VstError(f"--segment {text}: unknown motion backend '{kind}'; use motion (temporal median) or motion:mog2")
    raise VstError(f"unknown --segment '{text}'; use {SPEC_HELP}")


def _voc_classes(text: str, arg: str) -> tuple[str, ...]:
    names = [c.strip().lower() for c in arg.split(",") if c.strip()]
    valid = ", ".join(VOC_CLASSES[1:])
    if not names:
        raise VstError(f"--segment {text}: name the VOC classes, e.g. voc:person or voc:cat,dog; choose from {valid}")
    for name in names:
        if name not in VOC_CLASSES[1:]:
            raise VstError(f"--segment {text}: unknown class '{name}'; choose from {valid}")
    return tuple(dict.fromkeys(names))


# --------------------------------------------------------------------------------------------
# person: MediaPipe selfie segmentation (vstlib.selfie_net)
# --------------------------------------------------------------------------------------------


class PersonSegmenter(Segmenter):
    """People, with :func:`vstlib.selfie_net.person_masks` (``variant`` None: picked per frame
    shape, wide frames get the landscape network)."""

    VARIANTS = ("general", "landscape")

    def __init__(self, variant: str | None = None, device=None):
        if variant is not None and variant not in self.VARIANTS:
            raise VstError(f"--segment person:{variant}: unknown variant; use person, person:general or person:landscape")
        try:
            from . import selfie_net  # noqa: F401  (a clear error now, not at the first frame)
        except ModuleNotFoundError:
            raise VstError("--segment person needs vstlib.selfie_net, missing from this installation; "
                           "use voc:person, motion or masks:PATH") from None
        self.variant = variant
        self.device = None if device is None else torch.device(device)
        self.spec = "person" if variant is None else f"person:{variant}"

    def masks(self, frames: Tensor, indices: Sequence[int]) -> Tensor:
        from .selfie_net import person_masks

        frames = _check_frames(frames)
        x = frames if self.device is None else frames.to(self.device)
        return person_masks(x, variant=self.variant).to(frames.device, torch.float32).clamp(0, 1)


# --------------------------------------------------------------------------------------------
# voc: torchvision semantic segmentation
# --------------------------------------------------------------------------------------------


def _voc_builder(model: str):
    from torchvision.models import segmentation as seg

    if model == "deeplabv3":
        return seg.deeplabv3_mobilenet_v3_large, seg.DeepLabV3_MobileNet_V3_Large_Weights.DEFAULT
    if model == "lraspp":
        return seg.lraspp_mobilenet_v3_large, seg.LRASPP_MobileNet_V3_Large_Weights.DEFAULT
    raise VstError(f"unknown VOC segmentation model '{model}'; use one of {', '.join(VOC_MODELS)}")


def voc_weights_file(model: str = "deeplabv3") -> Path:
    """Where torch.hub keeps (or will keep) the weights of ``model`` (``$TORCH_HOME/hub/checkpoints``)."""
    _, weights = _voc_builder(model)
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(weights.url)


def voc_state_dict(model: str = "deeplabv3", download: bool = True) -> dict[str, Tensor]:
    """The trained weights of ``model`` (:data:`VOC_MODELS`): read from the torch.hub cache when
    they are there (no network at all), else downloaded into it once (checked against the hash in
    the file name). Offline without a cached copy, or with ``download=False``: one VstError line.

    As with RAFT's weights in :mod:`vstlib.flow`, any failure of the download means "no weights".
    """
    _, weights = _voc_builder(model)
    cached = voc_weights_file(model)
    if cached.is_file():
        try:
            return torch.load(cached, map_location="cpu", weights_only=True)
        except Exception as exc:  # noqa: BLE001  (a truncated or foreign file: many exception types)
            raise VstError(f"the cached {model} VOC segmentation weights {cached} cannot be read ({type(exc).__name__});"
                           f" delete the file to download it again") from None
    advice = ("run once with internet access (the file is then cached), or use --segment person (offline) "
              "or masks:PATH")
    if not download:
        raise VstError(f"the {model} VOC segmentation weights are not cached ({cached}); {advice}")
    try:
        return torch.hub.load_state_dict_from_url(weights.url, progress=False, check_hash=True, map_location="cpu",
                                                  weights_only=True)
    except Exception as exc:  # noqa: BLE001  (URLError, HTTPError, OSError, hash mismatch: all mean no weights)
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise VstError(f"the {model} VOC segmentation weights could not be downloaded ({reason}); {advice}") from None


def voc_network(model: str = "deeplabv3", weights: str | None = "default") -> torch.nn.Module:
    """torchvision's VOC network ``model`` in eval mode: trained (``weights="default"``, see
    :func:`voc_state_dict`) or randomly initialised (``weights=None``, for tests; no download).
    DeepLabV3's auxiliary head (training only) is removed."""
    build, _ = _voc_builder(model)
    kwargs = {"aux_loss": True} if model == "deeplabv3" else {}
    net = build(weights=None, weights_backbone=None, num_classes=len(VOC_CLASSES), **kwargs)
    if weights == "default":
        net.load_state_dict(voc_state_dict(model))
    elif weights is not None:
        raise VstError(f"VOC weights must be 'default' or None, got {weights!r}")
    if getattr(net, "aux_classifier", None) is not None:
        net.aux_classifier = None
    return net.eval().requires_grad_(False)


class VocSegmenter(Segmenter):
    """The Pascal VOC ``classes`` found by a torchvision network: per pixel, the sum of their
    softmax probabilities.

    Each frame is resized (bilinear, antialiased) so its shorter side is ``short_side`` (as the
    networks were trained), normalized with ImageNet's mean and std, and the probabilities are
    resized back bilinearly.

    Args:
        classes: names from :data:`VOC_CLASSES`.
        model: ``"deeplabv3"`` or ``"lraspp"`` (both MobileNetV3-Large).
        weights: ``"default"`` (the trained weights, downloaded once) or None (random, for tests).
        net: a ready network instead (any module mapping normalized [B, 3, h, w] to
            ``{"out": logits [B, 21, h, w]}``).
        device: where the network runs (None: the frames' device).
    """

    def __init__(self, classes: Sequence[str], *, model: str = "deeplabv3", weights: str | None = "default",
                 net: torch.nn.Module | None = None, device=None, short_side: int | None = VOC_SHORT_SIDE):
        classes = _voc_classes("voc:" + ",".join(classes), ",".join(classes))
        self.classes = classes
        self.channels = [VOC_CLASSES.index(c) for c in classes]
        self.spec = "voc:" + ",".join(classes)
        self.short_side = short_side
        self.net = net if net is not None else voc_network(model, weights)
        self.device = None if device is None else torch.device(device)

    def masks(self, frames: Tensor, indices: Sequence[int]) -> Tensor:
        frames = _check_frames(frames)
        h, w = frames.shape[-2:]
        device = self.device or frames.device
        self.net.to(device)
        x = frames.to(device, torch.float32)
        if self.short_side is not None and min(h, w) != self.short_side:
            scale = self.short_side / min(h, w)
            size = (max(1, round(h * scale)), max(1, round(w * scale)))
            x = F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=scale < 1).clamp(0, 1)
        mean = torch.tensor(IMAGENET_MEAN, device=device).view(1, 3, 1, 1)
        std = torch.tensor(IMAGENET_STD, device=device).view(1, 3, 1, 1)
        with torch.no_grad():
            logits = self.net((x - mean) / std)["out"]
        probs = logits.float().softmax(dim=1)[:, self.channels].sum(dim=1, keepdim=True)
        return _resize_masks(probs, (h, w)).clamp(0, 1).to(frames.device)


# --------------------------------------------------------------------------------------------
# masks:PATH: given masks
# --------------------------------------------------------------------------------------------


def _grey(rgb: Tensor) -> Tensor:
    """[1, 3, h, w] -> [1, 1, h, w]: the mean of the channels (a grey image's level exactly)."""
    if torch.equal(rgb[:, 0], rgb[:, 1]) and torch.equal(rgb[:, 1], rgb[:, 2]):
        return rgb[:, :1]
    return rgb.mean(dim=1, keepdim=True)


def _natural_key(path: Path):
    """Sort key: the name with its numbers compared as numbers (frame_2 before frame_10)."""
    return [(0, int(part), "") if part.isdigit() else (1, 0, part) for part in re.split(r"(\d+)", path.name)]


class FileMasks(Segmenter):
    """Masks from files: a folder of PNG/JPG images, sorted by name (numbers in names compared as
    numbers), or a video; mask ``k`` belongs to source frame ``k`` (in a folder whose files are all
    named ``mask_NNNNNN``, as :func:`segment_video` writes them, the number says the frame). Grey level (the mean of the
    channels) / 255 is the mask (255 = foreground; an alpha channel is composited onto white by
    :func:`vstlib.io.load_image`, so save masks without transparency). Each is resized to the
    frame bilinearly."""

    def __init__(self, path):
        from .io import is_video_path, probe_video

        self.path = Path(path)
        self.spec = f"masks:{path}"
        self.files: list[Path] | None = None
        if self.path.is_dir():
            self.files = sorted((p for p in self.path.iterdir() if p.suffix.lower() in MASK_EXTENSIONS
                                 and not p.name.startswith(".") and p.is_file()), key=_natural_key)
            if not self.files:
                raise VstError(f"--segment masks:{path}: the folder has no .png or .jpg masks; "
                               f"give a folder of mask images or a mask video")
            self.count = len(self.files)
            # vstlib's own folders (segment_video) name each mask by its source frame number, and
            # may start after frame 0: then the number, not the position, says which frame it is
            numbered = [re.fullmatch(r"mask_(\d+)", f.stem) for f in self.files]
            if all(numbered):
                by_number = {int(m.group(1)): f for m, f in zip(numbered, self.files)}
                self.files = [by_number.get(k) for k in range(max(by_number) + 1)]
                self.count = len(self.files)
        elif self.path.is_file() and is_video_path(self.path):
            self.count = probe_video(self.path).n_frames
        elif self.path.exists():
            raise VstError(f"--segment masks:{path}: not a folder of masks nor a video; give a folder of "
                           f"PNG/JPG masks or a mask video (.mp4, ...)")
        else:
            raise VstError(f"--segment masks:{path}: not found; give a folder of PNG/JPG masks or a mask video")
        self._reader = None  # the open mask video, positioned at self._reader_next
        self._reader_next = -1

    def _need(self, last: int) -> None:
        if last >= self.count:
            raise VstError(f"--segment masks:{self.path}: {self.count} masks found, but frames up to {last} need "
                           f"{last + 1}; give one mask per source frame, from frame 0")

    def fit(self, video: Path, first: int, end: int, every: int, size: tuple[int, int]) -> None:
        indices = range(first, end, every)
        if len(indices):
            self._need(indices[-1])

    def _read(self, index: int) -> Tensor:
        """Mask ``index`` at its own size, [1, 1, h, w] in [0, 1]."""
        from .io import load_image, read_frames, to_tensor

        if self.files is not None:
            if self.files[index] is None:
                raise VstError(f"--segment masks:{self.path}: no mask_{index:06d} for frame {index}; segment the "
                               f"range you stylize")
            grey = _grey(load_image(self.files[index]))
        else:
            if self._reader is None or index != self._reader_next:
                if self._reader is not None:
                    self._reader.close()
                self._reader = read_frames(self.path, start=index)
            try:
                frame = next(self._reader)
            except StopIteration:
                raise VstError(f"--segment masks:{self.path}: the video ends before frame {index}") from None
            self._reader_next = index + 1
            grey = _grey(to_tensor(frame))
        return grey

    def masks(self, frames: Tensor, indices: Sequence[int]) -> Tensor:
        frames = _check_frames(frames)
        if len(indices) != frames.shape[0]:
            raise ValueError(f"{frames.shape[0]} frames but {len(indices)} indices")
        size = tuple(frames.shape[-2:])
        out = []
        for index in indices:
            self._need(int(index))
            out.append(_resize_masks(self._read(int(index)), size))
        return torch.cat(out).clamp(0, 1).to(frames.device)


# --------------------------------------------------------------------------------------------
# motion: temporal median background; motion:mog2
# --------------------------------------------------------------------------------------------


def _sample_indices(first: int, end: int, every: int, samples: int) -> range:
    """At most ``samples`` evenly spaced frames of ``range(first, end, every)`` (as a range)."""
    frames = range(first, end, every)
    stride = max(1, math.ceil(len(frames) / samples))
    return frames[::stride]


class MotionSegmenter(Segmenter):
    """Moving things in a static camera's clip: each frame's distance to the clip's background,
    the per-pixel temporal median of up to ``samples`` evenly spaced frames (:meth:`fit` or
    :meth:`fit_frames`). The thresholds and why: the ``MOTION_*`` constants of this module.

    Per frame (at most ``analysis_side`` px on the longer side):

    1. a gain per colour channel, the median over pixels of frame / background, so slow global
       lighting drift (auto exposure, clouds) is not taken for motion;
    2. ``d`` = RGB norm of the difference to the gain-scaled background;
    3. mask = smoothstep of ``(d - t) / t`` with ``t = max(MOTION_FLOOR, MOTION_K sigma)`` per pixel,
       ``sigma`` the background noise measured in the fit;
    4. :func:`clean_mask` (opening, closing), then scaled up to the frame bilinearly.

    A thing that stays put for more than half the samples is background; a moving camera makes
    everything foreground (use ``person``/``voc`` there).
    """

    spec = "motion"

    def __init__(self, samples: int = MOTION_SAMPLES, analysis_side: int | None = MOTION_SIDE):
        if int(samples) < 3:
            raise VstError(f"motion segmentation needs at least 3 samples, got {samples}")
        self.samples, self.analysis_side = int(samples), analysis_side
        self.background: np.ndarray | None = None  # float32 [h, w, 3] in [0, 1]
        self.threshold: np.ndarray | None = None  # float32 [h, w]: where the smoothstep starts
        self.size: tuple[int, int] | None = None  # the frames' (H, W)

    def fit(self, video: Path, first: int, end: int, every: int, size: tuple[int, int]) -> None:
        from .io import read_frames

        chosen = _sample_indices(first, end, every, self.samples)
        if not len(chosen):
            raise VstError(f"motion segmentation: no frames in the range {first}..{end}; widen the range")
        frames = list(read_frames(video, size=tuple(size), start=chosen[0], end=chosen[-1] + 1, step=chosen.step))
        self.fit_frames(np.stack(frames))

    def _small(self, frame: np.ndarray) -> np.ndarray:
        h, w = _analysis_size(*frame.shape[:2], self.analysis_side)
        if (h, w) != frame.shape[:2]:
            frame = cv2.resize(frame, (w, h), interpolation=cv2.INTER_AREA)
        return frame.astype(np.float32) / 255.0

    def _gain(self, frame: np.ndarray) -> np.ndarray:
        bg = self.background
        valid = bg > 0.05  # dark pixels give wild ratios
        ratio = np.where(valid, frame / np.maximum(bg, 1e-3), np.nan).reshape(-1, 3)
        gain = np.nanmedian(ratio, axis=0) if valid.any() else np.ones(3)
        return np.nan_to_num(gain, nan=1.0).astype(np.float32)

    def _distance(self, frame: np.ndarray) -> np.ndarray:
        diff = frame - self._gain(frame) * self.background
        return np.sqrt((diff * diff).sum(axis=2))

    def fit_frames(self, frames: Tensor | np.ndarray) -> None:
        """Estimate the background and its noise from frames [T, 3, H, W] in [0, 1] (or uint8
        [T, H, W, 3]), e.g. a few evenly spaced frames of the clip (at least 3)."""
        u8 = _frames_u8(frames)
        if len(u8) < 3:
            raise VstError(f"motion segmentation needs at least 3 frames to estimate the background, got {len(u8)}")
        self.size = tuple(u8.shape[1:3])
        small = np.stack([self._small(f) for f in u8])  # [T, h, w, 3]
        self.background = np.median(small, axis=0).astype(np.float32)
        # Second pass: remove each sample's lighting drift, then the median again.
        gains = np.stack([self._gain(f) for f in small])
        self.background = np.median(small / gains[:, None, None, :], axis=0).astype(np.float32)
        distances = np.stack([self._distance(f) for f in small])
        sigma = np.median(distances, axis=0) / CHI3_MEDIAN
        self.threshold = np.maximum(MOTION_FLOOR, MOTION_K * sigma).astype(np.float32)

    def mask_of(self, frame: np.ndarray) -> np.ndarray:
        """The soft mask [h, w] (analysis size) of one uint8 frame [H, W, 3]."""
        d = self._distance(self._small(frame))
        soft = _smoothstep((d - self.threshold) / self.threshold).astype(np.float32)
        return clean_mask(soft, max(1, round(min(soft.shape) * MOTION_CLEAN_PER_LINE)))

    def masks(self, frames: Tensor, indices: Sequence[int]) -> Tensor:
        if self.background is None:
            raise RuntimeError("MotionSegmenter.masks() before fit() or fit_frames()")
        u8 = _frames_u8(frames)
        if tuple(u8.shape[1:3]) != self.size:
            raise VstError(f"motion segmentation: frames of {u8.shape[2]}x{u8.shape[1]} px, but the background was "
                           f"estimated at {self.size[1]}x{self.size[0]}; fit at the frames' size")
        small = torch.from_numpy(np.stack([self.mask_of(f) for f in u8]))[:, None]
        return _resize_masks(small, tuple(frames.shape[-2:])).clamp(0, 1).to(frames.device)


class Mog2Segmenter(Segmenter):
    """Moving things with OpenCV's ``BackgroundSubtractorMOG2`` (Zivkovic 2004/2006: a mixture of
    Gaussians per pixel, updated online), fed the frames in order; shadows count as background.
    The binary result gets the same :func:`clean_mask` as ``motion``.

    It learns as it goes, so early frames are poor (a thing present from the first frame is at
    first background, and leaves a "ghost" where it was until the model forgets it). After
    :meth:`fit`, a jump in the frame numbers (a resumed run) replays the skipped frames from the
    video, so the masks are the same as in one uninterrupted pass; without a fit a jump restarts
    the model.
    """

    spec = "motion:mog2"

    def __init__(self, history: int = MOG2_HISTORY, var_threshold: float = MOG2_VAR_THRESHOLD,
                 analysis_side: int | None = MOTION_SIDE):
        self.history, self.var_threshold, self.analysis_side = int(history), float(var_threshold), analysis_side
        self._video = None  # (path, first, every, size) from fit()
        self._reset()

    def _reset(self) -> None:
        self.model = cv2.createBackgroundSubtractorMOG2(history=self.history, varThreshold=self.var_threshold,
                                                        detectShadows=True)
        self._next: int | None = None  # the frame number the model expects next

    def fit(self, video: Path, first: int, end: int, every: int, size: tuple[int, int]) -> None:
        self._video = (Path(video), int(first), int(every), tuple(size))
        self._reset()

    def _apply(self, frame: np.ndarray) -> np.ndarray:
        h, w = _analysis_size(*frame.shape[:2], self.analysis_side)
        if (h, w) != frame.shape[:2]:
            frame = cv2.resize(frame, (w, h), interpolation=cv2.INTER_AREA)
        labels = self.model.apply(np.ascontiguousarray(frame))  # 255 foreground, 127 shadow, 0 background
        return (labels == 255).astype(np.float32)

    def _catch_up(self, index: int) -> None:
        """Bring the model to just before frame ``index``, replaying frames from the video."""
        if self._video is None:
            self._reset()
            return
        path, first, every, size = self._video
        if index < self._next:
            self._reset()
        start = first if self._next is None else self._next
        if index > start:
            from .io import read_frames

            for frame in read_frames(path, size=size, start=start, end=index, step=every):
                self._apply(frame)

    def masks(self, frames: Tensor, indices: Sequence[int]) -> Tensor:
        u8 = _frames_u8(frames)
        every = 1 if self._video is None else self._video[2]
        if self._video is not None and self._next is None:
            self._next = self._video[1]
        out = []
        for frame, index in zip(u8, indices):
            if self._next is not None and int(index) != self._next:
                self._catch_up(int(index))
            binary = self._apply(frame)
            out.append(clean_mask(binary, max(1, round(min(binary.shape) * MOTION_CLEAN_PER_LINE))))
            self._next = int(index) + every
        small = torch.from_numpy(np.stack(out))[:, None]
        return _resize_masks(small, tuple(frames.shape[-2:])).clamp(0, 1).to(frames.device)


# --------------------------------------------------------------------------------------------
# Temporal stability and measurements
# --------------------------------------------------------------------------------------------


class MaskStabilizer:
    """Temporal smoothing of a mask stream along the flow of the input frames (stateful, in order).

    The :class:`vstlib.stabilize.Stabilizer` blend applied to masks: with ``c`` the reliability of
    the flow from input frame t to t-1 (computed at most :data:`vstlib.stabilize.ANALYSIS_SIDE`
    px on the longer side), ``m'_t = (1 - s c) m_t + s c warp(m'_{t-1})``; a shot cut (too few
    reliable pixels) leaves the mask unchanged. On a static scene the frame-to-frame noise of the
    mask shrinks by ``(1 - s) / sqrt(1 + s)`` (:func:`vstlib.stabilize.expected_flicker`), at the
    price of a lag of about ``1 / (1 - s)`` frames where the mask's object moves unlike the
    flow. ``clean`` > 0 first applies :func:`clean_mask` with that radius to each incoming mask.

    Args:
        strength: ``s`` in [0, 1].
        flow: the flow backend (:data:`vstlib.stabilize.STABILIZE_FLOWS`).
        clean: radius in pixels of the opening/closing (0: none).
        flow_fn: ``flow_fn(frame_a, frame_b) -> flow a -> b`` instead of ``flow`` (tests).
    """

    def __init__(self, strength: float = 0.5, flow: str = "dis", *, clean: int = 0, flow_fn=None,
                 cut_threshold: float = CUT_THRESHOLD, analysis_side: int | None = ANALYSIS_SIDE):
        self._core = Stabilizer(strength, flow=flow, flow_fn=flow_fn, cut_threshold=cut_threshold,
                                analysis_side=analysis_side)
        self.clean = int(clean)

    @property
    def strength(self) -> float:
        return self._core.strength

    @property
    def cuts(self) -> list[int]:
        """Calls (counted from 0) whose frame started a new shot."""
        return self._core.cuts

    def __repr__(self) -> str:
        return f"MaskStabilizer(strength={self.strength:g}, flow={self._core.flow!r}, clean={self.clean})"

    def __call__(self, mask: Tensor, frame) -> Tensor:
        """mask [1, 1, H, W] in [0, 1], frame uint8 [H, W, 3] -> stabilized mask [1, 1, H, W].

        ``frame`` (also a tensor [1, 3, H, W] in [0, 1]) is resized to the mask's size if it differs."""
        from .io import as_uint8_frame

        if mask.ndim != 4 or mask.shape[:2] != (1, 1):
            raise VstError(f"MaskStabilizer: expected a mask [1, 1, H, W], got {tuple(mask.shape)}")
        frame = as_uint8_frame(frame)
        h, w = mask.shape[-2:]
        if frame.shape[:2] != (h, w):
            frame = cv2.resize(frame, (w, h), interpolation=cv2.INTER_AREA)
        if self.clean > 0:
            cleaned = clean_mask(mask[0, 0].detach().float().cpu().numpy(), self.clean)
            mask = torch.from_numpy(cleaned)[None, None].to(mask.device, mask.dtype)
        # The core counts frames itself: every call is the next frame of the stream.
        return self._core(mask, SimpleNamespace(index=self._core.next_index, frame=frame)).clamp(0, 1)

    def state_dict(self) -> dict:
        """The carried state (ints and tensors: saves and loads with ``torch.load(weights_only=True)``)."""
        return self._core.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self._core.load_state_dict(state)


def _masks_numpy(masks) -> np.ndarray:
    """Masks [T, 1, H, W] (tensor or array) or [T, H, W] as float64 [T, H, W]."""
    if isinstance(masks, Tensor):
        masks = masks.detach().cpu().double().numpy()
    masks = np.asarray(masks, dtype=np.float64)
    if masks.ndim == 4 and masks.shape[1] == 1:
        masks = masks[:, 0]
    if masks.ndim != 3:
        raise VstError(f"expected masks [T, 1, H, W], got shape {masks.shape}")
    return masks


def mask_flicker(masks, frames=None, *, flow: str = "dis", flow_fn=None) -> float:
    """How much a mask stream flickers, in mask units (0 = steady, 1 = flips everywhere every frame).

    * Without ``frames`` (a static camera): the mean absolute temporal difference,
      ``mean_t mean_x |m_t(x) - m_{t-1}(x)|`` over t = 1..T-1.
    * With the input ``frames`` ([T, 3, H, W] in [0, 1], or uint8 [T, H, W, 3]): the same along the
      motion, where it is reliable: with ``f_t`` the flow from input frame t to t-1 and ``c_t`` its
      reliability (both as :class:`MaskStabilizer` computes them), the mean over t of
      ``sum_x c_t |m_t - warp(m_{t-1}, f_t)| / sum_x c_t`` (frames without reliable pixels are skipped).

    A convex object moving ``v`` px a frame with a perfect mask scores 0 with frames given (up to
    flow error), but about ``2 w v / (H W)`` without (``w``: its width across the motion).

    >>> steady, blink = torch.zeros(3, 1, 2, 2), torch.zeros(3, 1, 2, 2)
    >>> blink[1, 0, 0] = 1  # the top row appears in frame 1 and goes in frame 2
    >>> mask_flicker(steady), mask_flicker(blink)
    (0.0, 0.5)
    """
    m = _masks_numpy(masks)
    if len(m) < 2:
        return 0.0
    if frames is None:
        return float(np.abs(np.diff(m, axis=0)).mean())
    from .flow import warp

    u8 = _frames_u8(frames)
    if len(u8) != len(m) or u8.shape[1:3] != m.shape[1:]:
        raise VstError(f"mask_flicker: {len(m)} masks of {m.shape[1:]} but {len(u8)} frames of {u8.shape[1:3]}")
    core = Stabilizer(0.0, flow=flow, flow_fn=flow_fn)
    values = []
    for t in range(1, len(m)):
        back, c = core.reliability(u8[t], u8[t - 1])
        carried = warp(m[t - 1].astype(np.float32), back)
        if c.sum() > 0:
            values.append(float((c * np.abs(m[t] - carried)).sum() / c.sum()))
    return float(np.mean(values)) if values else 0.0


def mask_iou(pred, truth, threshold: float = 0.5) -> float:
    """Intersection over union of ``pred >= threshold`` and ``truth >= threshold``, pooled over all
    pixels of all frames (masks [T, 1, H, W] or [H, W]..., tensors or arrays); 1.0 when both are empty.

    >>> pred = torch.tensor([[0.9, 0.6], [0.2, 0.0]]); truth = torch.tensor([[1.0, 0.0], [1.0, 0.0]])
    >>> round(mask_iou(pred, truth), 4)  # 1 pixel in both, 3 in either
    0.3333
    """
    a = np.asarray(pred.detach().cpu() if isinstance(pred, Tensor) else pred, dtype=np.float64) >= threshold
    b = np.asarray(truth.detach().cpu() if isinstance(truth, Tensor) else truth, dtype=np.float64) >= threshold
    if a.shape != b.shape:
        raise VstError(f"mask_iou: the masks differ in shape ({a.shape} and {b.shape})")
    union = np.logical_or(a, b).sum()
    return 1.0 if union == 0 else float(np.logical_and(a, b).sum() / union)


# --------------------------------------------------------------------------------------------
# Writing masks: segment_video
# --------------------------------------------------------------------------------------------

# Mask videos are written at CRF 5 (VideoWriter quality 9): near-lossless on flat grey, still
# ordinary 8-bit 4:2:0 High profile (CRF 0 would need the High 4:4:4 profile few players decode).
MASK_VIDEO_QUALITY = 9
SEGMENT_BATCH = 8


class _FolderWriter:
    """PNG masks into a hidden temporary sibling folder, renamed to ``path`` when the ``with``
    block ends without an exception (else deleted)."""

    def __init__(self, path: Path):
        self.path = path
        if not path.parent.is_dir():
            raise VstError(f"cannot write '{path}': folder '{path.parent}' does not exist; create it first")
        if path.exists() and (not path.is_dir() or any(path.iterdir())):
            raise VstError(f"cannot write masks to '{path}': it exists and is not an empty folder; "
                           f"remove it or choose another output")
        self.temp: Path | None = None
        self.n_frames = 0

    def __enter__(self) -> _FolderWriter:
        self.temp = self.path.with_name(f".{self.path.name}.tmp-{secrets.token_hex(4)}")
        self.temp.mkdir()
        return self

    def write(self, grey_rgb: np.ndarray, index: int) -> None:
        from .io import save_image

        save_image(grey_rgb, self.temp / f"mask_{index:06d}.png")
        self.n_frames += 1

    def __exit__(self, exc_type, exc, tb) -> bool:
        if exc_type is not None:
            shutil.rmtree(self.temp, ignore_errors=True)
            return False
        try:
            if self.path.is_dir():
                self.path.rmdir()  # empty (checked above): replaced by the finished folder
            os.replace(self.temp, self.path)
        except OSError as err:
            shutil.rmtree(self.temp, ignore_errors=True)
            raise VstError(f"cannot write masks to '{self.path}': {err.strerror}; choose another output") from None
        return False


def segment_video(input, output, spec, *, stabilize: float = 0.5, start: float = 0.0, duration: float | None = None,
                  device=None, progress: bool = True) -> Path:
    """Write the masks of ``input`` for the backend ``spec`` (:func:`make_segmenter`, or a
    :class:`Segmenter`): a grey video (255 = foreground; the input's size, frame rate and the
    range's frame count; H.264 at CRF 5) when ``output`` has a video suffix, else a folder of PNGs
    ``mask_NNNNNN.png`` (source frame numbers). ``start`` / ``duration``: the part of the video,
    in seconds. ``stabilize``: the :class:`MaskStabilizer` strength (0: off). ``device``: where
    the frames go (None: the best available). All or nothing: after an error no output is left.

    Reading the result with ``masks:OUTPUT`` gives the masks back, for the same frames (a mask
    video always starts at frame 0; PNGs are named by frame number, so a part can start later).
    """
    from .io import VideoWriter, is_video_path, probe_video, read_frames, to_tensors
    from .runner import frame_range
    from .stabilize import check_strength
    from .utils import pick_device, progress_bar

    input, output = Path(input), Path(output)
    strength = check_strength(stabilize)
    info = probe_video(input)
    first, end, n_out, _ = frame_range(info, start, duration, 1)
    if first > 0 and is_video_path(output):
        # masks:VIDEO maps video frame k to source frame k, so a mask video starts at frame 0
        raise VstError("a mask video holds every frame from the first: drop --start, or write PNG masks to a "
                       "folder (they are named by frame number)")
    segmenter = make_segmenter(spec, device=device)
    dev = pick_device(device)
    sink = (VideoWriter(output, fps=info.fps, quality=MASK_VIDEO_QUALITY) if is_video_path(output)
            else _FolderWriter(output))
    segmenter.fit(input, first, end, 1, (info.height, info.width))
    stabilizer = MaskStabilizer(strength) if strength > 0 else None
    with sink, progress_bar(total=n_out, disable=not progress, desc="segment", unit="frame") as bar:
        frames = read_frames(input, start=first, end=end)
        index = first
        while batch := [f for _, f in zip(range(SEGMENT_BATCH), frames)]:
            masks = segmenter.masks(to_tensors(batch, device=dev), range(index, index + len(batch))).float().cpu()
            for i, frame in enumerate(batch):
                m = masks[i:i + 1] if stabilizer is None else stabilizer(masks[i:i + 1], frame)
                grey = (m[0, 0].clamp(0, 1) * 255).round().to(torch.uint8).numpy()
                rgb = np.ascontiguousarray(np.repeat(grey[..., None], 3, axis=2))
                if isinstance(sink, VideoWriter):
                    sink.write(rgb)
                else:
                    sink.write(rgb, index + i)
                bar.update(1)
            index += len(batch)
        if sink.n_frames != n_out:
            raise VstError(f"cannot segment '{input}': read {sink.n_frames} of its {n_out} frames; check the file")
    return output


# --------------------------------------------------------------------------------------------
# Synthetic ground truth
# --------------------------------------------------------------------------------------------


def static_camera(still: Tensor, n_frames: int, *, noise: float = 2 / 255, drift: float = 0.03,
                  seed: int = 0) -> Tensor:
    """``n_frames`` frames [T, 3, H, W] of a static camera looking at ``still`` ([3, H, W] or
    [1, 3, H, W] in [0, 1]): Gaussian sensor noise of std ``noise`` per pixel and channel, a slow
    global brightness drift (gain ``1 + drift sin(2 pi t / T)``, one period over the clip), and
    8-bit quantization, as a decoded video has.

    >>> frames = static_camera(torch.full((3, 4, 5), 0.5), 6)
    >>> frames.shape, bool((frames * 255 == (frames * 255).round()).all())
    (torch.Size([6, 3, 4, 5]), True)
    """
    still = still[0] if still.ndim == 4 else still
    if still.ndim != 3 or still.shape[0] != 3:
        raise VstError(f"static_camera: expected a still [3, H, W], got {tuple(still.shape)}")
    g = torch.Generator().manual_seed(seed)
    t = torch.arange(n_frames, dtype=torch.float32)
    gain = (1 + drift * torch.sin(2 * math.pi * t / max(n_frames, 1))).view(-1, 1, 1, 1)
    frames = still.float().cpu()[None] * gain + noise * torch.randn((n_frames, *still.shape), generator=g)
    return (frames.clamp(0, 1) * 255).round() / 255


def _blob_sprite(height: int, seed: int) -> Tensor:
    """A textured blob, premultiplied RGBA [4, s, s] with an anti-aliased edge: radius
    ``r(theta) = r0 (1 + 0.15 sin(3 theta + phase))``, saturated smooth colours plus stripes."""
    g = torch.Generator().manual_seed(seed)
    r0 = 0.2 * height
    side = math.ceil(2 * r0 * 1.2) + 4
    c = (side - 1) / 2
    ys, xs = torch.meshgrid(torch.arange(side, dtype=torch.float32) - c, torch.arange(side, dtype=torch.float32) - c,
                            indexing="ij")
    rho, theta = torch.sqrt(xs**2 + ys**2), torch.atan2(ys, xs)
    phase = float(torch.rand(1, generator=g)) * 2 * math.pi
    radius = r0 * (1 + 0.15 * torch.sin(3 * theta + phase))
    alpha = (radius - rho + 0.5).clamp(0, 1)  # one pixel of anti-aliasing across the edge
    colours = torch.rand(1, 3, 4, 4, generator=g) * 0.8 + 0.1
    colours = colours - colours.mean(dim=1, keepdim=True) * 0.5 + 0.25  # push away from grey
    texture = F.interpolate(colours, size=(side, side), mode="bicubic", align_corners=True)[0]
    stripes = 0.5 + 0.5 * torch.sin(2 * math.pi * (xs + 0.5 * ys) / max(4.0, height / 24))
    rgb = (texture * (0.75 + 0.25 * stripes)).clamp(0, 1)
    return torch.cat([rgb * alpha, alpha[None]])


def _default_path(n_frames: int, height: int, width: int, sprite: tuple[int, int]) -> list[tuple[float, float]]:
    """Centres moving once across the frame, left to right, with a gentle vertical wave."""
    sw = sprite[1]
    x0, x1 = 0.1 * width + sw / 4, 0.9 * width - sw / 4
    out = []
    for t in range(n_frames):
        u = t / max(n_frames - 1, 1)
        out.append((x0 + (x1 - x0) * u, height / 2 + 0.15 * height * math.sin(2 * math.pi * u)))
    return out


def synthetic_composite(background_frames: Tensor, *, kind: str = "shape", seed: int = 0,
                        foreground: Tensor | None = None, path: Sequence[tuple[float, float]] | None = None
                        ) -> tuple[Tensor, Tensor]:
    """A moving textured foreground with known alpha over ``background_frames`` [T, 3, H, W] in [0, 1].

    Returns ``(frames [T, 3, H, W], alpha [T, 1, H, W])``, both in [0, 1], with
    ``frames = alpha * fg + (1 - alpha) * background`` (premultiplied, so edges are exact).

    Args:
        kind: ``"shape"``: a blob with a smooth colour texture and stripes, about 0.4 H across;
            ``"cutout"``: ``foreground``, an RGBA image [4, h, w] (or [1, 4, h, w]) in [0, 1],
            e.g. a person cut out of a still photo (straight, not premultiplied, alpha).
        seed: the blob's shape and colours.
        path: the foreground's centre (x, y) in pixels for each frame (sub-pixel positions are
            resampled bilinearly); default: once across the frame, left to right, with a gentle wave.

    >>> frames, alpha = synthetic_composite(torch.zeros(4, 3, 36, 64))
    >>> frames.shape, alpha.shape, 0.05 < float(alpha.mean()) < 0.3
    (torch.Size([4, 3, 36, 64]), torch.Size([4, 1, 36, 64]), True)
    """
    if background_frames.ndim != 4 or background_frames.shape[1] != 3:
        raise VstError(f"synthetic_composite: expected frames [T, 3, H, W], got {tuple(background_frames.shape)}")
    n, _, h, w = background_frames.shape
    if kind == "shape":
        sprite = _blob_sprite(h, seed)
    elif kind == "cutout":
        if foreground is None:
            raise VstError("synthetic_composite(kind='cutout') needs foreground=RGBA [4, h, w]")
        fg = foreground[0] if foreground.ndim == 4 else foreground
        if fg.ndim != 3 or fg.shape[0] != 4:
            raise VstError(f"synthetic_composite: foreground must be RGBA [4, h, w], got {tuple(fg.shape)}")
        fg = fg.float().cpu().clamp(0, 1)
        sprite = torch.cat([fg[:3] * fg[3:], fg[3:]])
    else:
        raise VstError(f"synthetic_composite: unknown kind '{kind}'; use 'shape' or 'cutout'")
    sh, sw = sprite.shape[-2:]
    centres = list(path) if path is not None else _default_path(n, h, w, (sh, sw))
    if len(centres) != n:
        raise VstError(f"synthetic_composite: {len(centres)} path positions for {n} frames")
    ys = torch.arange(h, dtype=torch.float32).view(h, 1).expand(h, w)
    xs = torch.arange(w, dtype=torch.float32).view(1, w).expand(h, w)
    frames, alphas = [], []
    for t, (cx, cy) in enumerate(centres):
        # Output pixel (x, y) shows sprite pixel (x - cx + (sw - 1) / 2, y - cy + (sh - 1) / 2).
        sx = (xs - cx + (sw - 1) / 2) * (2 / max(sw - 1, 1)) - 1
        sy = (ys - cy + (sh - 1) / 2) * (2 / max(sh - 1, 1)) - 1
        grid = torch.stack((sx, sy), dim=-1)[None]
        layer = F.grid_sample(sprite[None], grid, mode="bilinear", padding_mode="zeros", align_corners=True)[0]
        alpha = layer[3:].clamp(0, 1)
        bg = background_frames[t].float().cpu()
        frames.append((layer[:3] + (1 - alpha) * bg).clamp(0, 1))
        alphas.append(alpha)
    return torch.stack(frames), torch.stack(alphas)
