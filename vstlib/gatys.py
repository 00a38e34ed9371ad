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

import torch
import torch.nn.functional as F
from torch import Tensor

from .engine import OptimResult, optimize_image
from .errors import VstError
from .losses import ContentLoss, FeatureLoss, GramStyleLoss, PerceptualLoss, TotalVariationLoss, make_style_loss
from .methods.gatys import GatysConfig

__all__ = ["GatysConfig", "GatysStylizer", "load_style", "reconstruct", "resize", "stylize_frames", "stylize_image",
           "style_size_for"]

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

    >>> style, content = torch.rand(1, 3, 48, 48), torch.rand(1, 3, 32, 48)
    >>> stylizer = GatysStylizer(style, GatysConfig(iters=3))
    >>> result = stylizer(content)            # OptimResult
    >>> result.image.shape, result.iterations, float(result.image.min()) >= 0
    (torch.Size([1, 3, 32, 48]), 3, True)
    >>> result.losses[-1] < result.losses[0]
    True
    """

    def __init__(self, style: Tensor, config: GatysConfig = GatysConfig(), device=None, extra_losses=None,
                 styles: Sequence[Tensor] | None = None):
        """``styles``: several style images to mix per frame (:meth:`set_style_mix`); ``style`` is
        then ``styles[0]``."""
        self.config = config
        self.device = torch.device(device) if device is not None else style.device
        self.styles = [s.to(self.device) for s in (styles if styles else [style])]
        self.style = self.styles[0]
        losses = {
            "content": ContentLoss(config.content_layers, config.content_weight),
            "style": make_style_loss(config.style_loss, config.style_layers, config.effective_style_weight,
                                     config.style_layer_weights),
            "tv": TotalVariationLoss(config.tv_weight),
        }
        losses.update(extra_losses or {})
        self.objective = PerceptualLoss(losses, config.weights, config.pooling, self.device)
        self.mix: tuple[tuple[int, float], ...] = ((0, 1.0),)
        self._targets: dict = {}  # (style index, style size) -> that style's loss targets
        self._target_key = None  # (mix, content size) the style loss holds targets for

    def set_style_mix(self, mix) -> None:
        """Use a weighted mix of the styles, ``((index, weight), ...)``, from the next frame on.
        For the Gram loss, the mixed target (the weighted mean of the Gram matrices) gives exactly
        the gradient of the weighted sum of the per-style losses; the W2 loss mixes means and
        covariances (:meth:`vstlib.wasserstein.WassersteinStyleLoss.mix_targets`)."""
        total = sum(w for _, w in mix)
        mix = tuple((int(k), float(w) / total) for k, w in mix if w > 0)
        if not mix or any(not 0 <= k < len(self.styles) for k, _ in mix):
            raise ValueError(f"a style mix needs positive weights of styles 0..{len(self.styles) - 1}, got {mix}")
        self.mix = mix

    @property
    def content_loss(self) -> ContentLoss:
        return self.objective.losses["content"]

    @property
    def style_loss(self) -> FeatureLoss:
        return self.objective.losses["style"]

    def set_content(self, content: Tensor) -> None:
        """Content targets for [B, 3, H, W]; style targets are recomputed only when the size or
        the style mix changed (each style's targets are kept per size)."""
        hw = tuple(content.shape[-2:])
        with torch.no_grad():
            if (self.mix, hw) != self._target_key:
                targets = [self._style_targets(k, hw) for k, _ in self.mix]
                loss = self.style_loss
                loss.targets = targets[0] if len(targets) == 1 else loss.mix_targets(targets, [w for _, w in self.mix])
                self._target_key = (self.mix, hw)
            self.content_loss.set_target(self.objective.features(content, self.content_loss.layers))

    def _style_targets(self, index: int, content_hw) -> dict:
        style = self.styles[index]
        style_hw = style_size_for(style.shape[-2:], content_hw, self.config.style_scale)
        if (index, style_hw) not in self._targets:
            loss = self.style_loss
            loss.set_target(self.objective.features(resize(style, style_hw), loss.layers))
            self._targets[(index, style_hw)] = loss.targets
        return self._targets[(index, style_hw)]

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
            result = optimize_image(self.objective, start, **self.engine_options(iters), callback=callback,
                                    progress=progress)
            history.losses += result.losses
            history.times += [t0 + t for t in result.times]
            history.iterations += result.iterations
            history.scale_iters.append(result.iterations)
            history.stopped = result.stopped
            image = result.image
        history.image = image
        return history

    def engine_options(self, iters: int) -> dict:
        """The engine settings of this config (shared with Ruder's later frames)."""
        cfg = self.config
        return dict(optimizer=cfg.optimizer, iters=iters, lr=cfg.lr, tol=cfg.tol, first_step=cfg.first_step,
                    project=cfg.project, autocast=None if cfg.autocast == "none" else cfg.autocast)

    def loss_parts(self, image: Tensor) -> dict[str, float]:
        """Each loss term of ``image`` against the current content target (no graph)."""
        with torch.no_grad():
            return {name: float(value) for name, value in self.objective.parts(image.to(self.device)).items()}

    def style_layer_losses(self, image: Tensor) -> dict[str, float]:
        """Each style layer's ``mean((G_l(x) - G_l(a))^2)`` for ``image`` [B, 3, H, W], before the layer
        weights and beta (Gram loss only; the style targets are those of the last content size)."""
        loss = self.style_loss
        if not hasattr(loss, "layer_losses") or not loss.targets:
            raise VstError("per-layer style losses need the Gram style loss and a content image (call the stylizer first)")
        with torch.no_grad():
            features = self.objective.features(image.to(self.device), loss.layers)
            return {layer: float(value) for layer, value in loss.layer_losses(features).items()}


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


def noise_image(shape: Sequence[int], seed: int = 0) -> Tensor:
    """Uniform noise in [0, 1] of ``shape`` (e.g. [1, 3, H, W]), the same for the same seed (on the CPU)."""
    return torch.rand(tuple(shape), generator=torch.Generator().manual_seed(seed))


def reconstruct(image: Tensor, layers: Sequence[str], kind: str = "content", iters: int = 100,
                init: str | Tensor = "noise", seed: int = 0, layer_weights: Sequence[float] | None = None,
                optimizer: str = "lbfgs", device=None) -> OptimResult:
    """What one representation keeps of ``image`` [1, 3, H, W] in [0, 1] (Gatys et al. 2016, Fig. 1).

    Optimizes a new image, from noise by default, so that it matches only ``image``'s features at
    ``layers`` (``kind="content"``: :class:`~vstlib.losses.ContentLoss`, mean over the layers) or
    only its Gram matrices there (``kind="style"``: :class:`~vstlib.losses.GramStyleLoss` with
    ``layer_weights``, default 1/C_l^2). Whatever the result shares with ``image`` is what those
    features pin down. ``init``: ``"noise"`` (uniform, ``seed``), ``"content"`` (``image`` itself)
    or a tensor. Returns the engine's :class:`~vstlib.engine.OptimResult` (L-BFGS by default).

    >>> photo = torch.linspace(0, 1, 32).expand(1, 3, 32, 32)   # a smooth ramp
    >>> result = reconstruct(photo, ["relu1_1"], "content", iters=5)
    >>> noise = noise_image(photo.shape)
    >>> float((result.image - photo).abs().mean()) < float((noise - photo).abs().mean())
    True
    """
    device = torch.device(device) if device is not None else image.device
    image = image.to(device)
    if kind == "content":
        loss: FeatureLoss = ContentLoss(layers)
    elif kind == "style":
        loss = GramStyleLoss(layers, weight=1.0, layer_weights=layer_weights)
    else:
        raise VstError(f"unknown representation '{kind}'; choose content or style")
    objective = PerceptualLoss({kind: loss}, device=device)
    with torch.no_grad():
        loss.set_target(objective.features(image, loss.layers))
    if isinstance(init, Tensor):
        start = init.to(device)
    elif init == "noise":
        start = noise_image(image.shape, seed).to(device)
    elif init == "content":
        start = image.clone()
    else:
        raise VstError(f"unknown init '{init}'; choose noise, content or give a tensor")
    return optimize_image(objective, start, optimizer=optimizer, iters=iters)


def stylize_frames(stylizer: GatysStylizer, frames: Sequence, fresh_noise: bool = True) -> list[Tensor]:
    """Per-frame Gatys: each frame (uint8 [H, W, 3] or tensor [1, 3, H, W]) stylized on its own.

    With ``stylizer.config.init == "noise"``, ``fresh_noise=True`` starts frame t from its own noise
    (seed ``config.seed + t``), as independent runs would; False starts every frame from the same
    noise. Returns the stylized frames, [1, 3, H, W] tensors on the CPU.

    >>> stylizer = GatysStylizer(torch.rand(1, 3, 32, 32), GatysConfig(iters=2, init="noise"))
    >>> frame = torch.rand(1, 3, 32, 32)
    >>> fresh, same = stylize_frames(stylizer, [frame, frame]), stylize_frames(stylizer, [frame, frame], False)
    >>> torch.equal(same[0], same[1]), torch.equal(fresh[0], fresh[1])
    (True, False)
    """
    from .io import to_tensor

    outputs = []
    for t, frame in enumerate(frames):
        content = frame if isinstance(frame, Tensor) else to_tensor(frame)
        init = None
        if stylizer.config.init == "noise" and fresh_noise:
            init = noise_image(content.shape, stylizer.config.seed + t)
        outputs.append(stylizer(content, init=init).image.cpu())
    return outputs
