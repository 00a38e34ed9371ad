"""Adaptive instance normalization (AdaIN; Huang and Belongie 2017) on vstlib's VGG features.

AdaIN gives every channel of the content's features the style's per-channel mean and standard
deviation over the positions:

    AdaIN(x, y) = sigma(y) * (x - mu(x)) / sigma(x) + mu(y),

so it matches the first two moments of each channel and nothing else: the correlations *between*
channels, which a Gram matrix or the Gaussian W2 loss of notebook 04 (:mod:`vstlib.wasserstein`)
also matches, stay those of the content. It is the diagonal special case of Gaussian optimal
transport: between N(mu_c, diag sigma_c^2) and N(mu_s, diag sigma_s^2) the W2-optimal map is
x -> mu_s + (sigma_s / sigma_c)(x - mu_c), which is AdaIN (tests/test_adain.py checks both this
and that the diagonal W2 left after AdaIN is 0 while the full-covariance one is not). The
original method adds a trained decoder that turns AdaIN's features back into an image in one
pass; vstlib shows the operation decoder-free, by optimizing an image whose ``relu4_1`` features
match AdaIN's output (:func:`adain_image`). The paper's recipe for that decoder, which vstlib
does not train: MS-COCO content and WikiArt style images (resized to 512, random 256 crops), a
frozen VGG-19 encoder up to ``relu4_1``, a decoder mirroring it (nearest upsampling instead of
pooling, reflection padding), the content loss between the re-encoded output and the AdaIN
target t plus the mean/std style loss at ``relu1_1`` .. ``relu4_1`` with weight 10, Adam at
learning rate 1e-4, batches of 8 content-style pairs, about 160k iterations (the schedule of the
widely used PyTorch re-implementation); on a Colab GPU that is hours of training (not measured
here), not a notebook cell.

Conventions: means and standard deviations are over the last two dims (H, W) with the population
variance (divided by H W, like :func:`vstlib.wasserstein.gaussian_stats`; the PyTorch
re-implementation divides by H W - 1), and ``eps`` is added to the variance before the square root.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import Tensor

from .choices import LAYER_NAMES
from .engine import OptimResult, optimize_image
from .errors import VstError
from .losses import ContentLoss, FeatureLoss, PerceptualLoss, _layer_weights

__all__ = ["MeanStdStyleLoss", "adain", "adain_image", "channel_stats", "diagonal_w2"]

# The paper's style layers (its decoder's loss) and its content/AdaIN layer.
STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1")
EPS = 1e-5


def _check(features: Tensor, name: str) -> None:
    if features.ndim < 3:
        raise VstError(f"{name} must be a (*, C, H, W) tensor, got shape {tuple(features.shape)}; "
                       "add the channel and spatial dims")


def channel_stats(features: Tensor, eps: float = EPS) -> tuple[Tensor, Tensor]:
    """(*, C, H, W) -> per-channel mean (*, C) and standard deviation ``sqrt(var + eps)`` (*, C).

    >>> f = torch.tensor([[[1.0, 3.0], [1.0, 3.0]]])      # one channel, 2 x 2 positions
    >>> mean, std = channel_stats(f, eps=0.0)
    >>> mean.tolist(), std.tolist()
    ([2.0], [1.0])
    """
    _check(features, "features")
    mean = features.mean(dim=(-2, -1))
    var = features.var(dim=(-2, -1), correction=0)
    return mean, (var + eps).sqrt()


def adain(content_features: Tensor, style_features: Tensor, eps: float = EPS) -> Tensor:
    """AdaIN: each content channel normalized over (H, W), then given the style's mean and std.

    ``AdaIN(x, y) = sigma(y) (x - mu(x)) / sigma(x) + mu(y)`` per channel, with mu, sigma over the
    positions (:func:`channel_stats`). content (*, C, H, W), style (*, C, h, w): the leading dims
    broadcast (one style for a batch), the sizes may differ (only the style's statistics are
    used). Returns the content's shape.

    The output's per-channel mean is the style's exactly and its std is the style's up to eps
    (``sqrt(var_s + eps) * sqrt(var_c / (var_c + eps))``), for every channel where the content
    varies; a constant content channel (e.g. a dead ReLU) stays constant, at the style's mean.
    This is the W2-optimal transport map between the diagonal Gaussians of the two feature sets
    (module docstring); the cross-channel covariance keeps the content's correlations.

    >>> content, style = torch.randn(2, 8, 5, 6), 3 + 2 * torch.randn(1, 8, 7, 7)
    >>> out = adain(content, style)
    >>> out.shape
    torch.Size([2, 8, 5, 6])
    >>> (mu_o, sd_o), (mu_s, sd_s) = channel_stats(out), channel_stats(style)
    >>> bool((mu_o - mu_s).abs().max() < 1e-4), bool((sd_o - sd_s).abs().max() < 1e-4)
    (True, True)
    """
    _check(content_features, "content features")
    _check(style_features, "style features")
    c_content, c_style = content_features.shape[-3], style_features.shape[-3]
    if c_content != c_style:
        raise VstError(f"content features have {c_content} channels and style features {c_style}; "
                       "take both from the same encoder layer")
    try:
        torch.broadcast_shapes(content_features.shape[:-3], style_features.shape[:-3])
    except RuntimeError:
        raise VstError(f"batch dims {tuple(content_features.shape[:-3])} (content) and "
                       f"{tuple(style_features.shape[:-3])} (style) do not broadcast; give one style or one "
                       "per content") from None
    mu_c, sd_c = (s[..., None, None] for s in channel_stats(content_features, eps))
    mu_s, sd_s = (s[..., None, None] for s in channel_stats(style_features, eps))
    return (content_features - mu_c) * (sd_s / sd_c) + mu_s


def diagonal_w2(a: Tensor, b: Tensor, eps: float = EPS) -> Tensor:
    """Squared W2 distance between the *diagonal* Gaussians fitted to two feature sets, (*,).

    ``sum_c (mu_a - mu_b)^2 + (sigma_a - sigma_b)^2`` over the channels: the closed-form W2^2 of
    :func:`vstlib.wasserstein.wasserstein2_gaussian` when both covariances are diagonal (variances
    ``var + eps``). It sees only what AdaIN matches, so it is ~0 after AdaIN.

    >>> a = torch.randn(4, 6, 6)
    >>> float(diagonal_w2(a, a)), round(float(diagonal_w2(a, a + 2.0)), 4)   # a shift of 2 in 4 channels
    (0.0, 16.0)
    """
    mu_a, sd_a = channel_stats(a, eps)
    mu_b, sd_b = channel_stats(b, eps)
    return (mu_a - mu_b).pow(2).sum(-1) + (sd_a - sd_b).pow(2).sum(-1)


class MeanStdStyleLoss(FeatureLoss):
    """AdaIN's style loss: per-channel means and stds of the output's features against the style's.

    Per layer ``mean_c (mu_x - mu_s)^2 + mean_c (sigma_x - sigma_s)^2`` (= :func:`diagonal_w2` / C,
    the mean-squared form of the paper's released PyTorch code; the paper writes unsquared L2
    norms), summed over ``layers`` with ``layer_weights`` (default 1). It is
    :class:`~vstlib.wasserstein.WassersteinStyleLoss` with the covariances' off-diagonal entries
    dropped. ``mix_targets`` (weighted means of the means and of the stds) gives the W2
    barycentre of the styles' diagonal Gaussians.

    >>> loss = MeanStdStyleLoss(["relu1_1"], weight=1.0)
    >>> style = {"relu1_1": torch.rand(1, 4, 8, 8)}
    >>> loss.set_target(style)
    >>> float(loss(style, None)) == 0.0, float(loss({"relu1_1": torch.zeros(1, 4, 8, 8)}, None)) > 0
    (True, True)
    """

    def __init__(self, layers: Sequence[str] = STYLE_LAYERS, weight: float = 1.0, layer_weights=None,
                 eps: float = EPS):
        super().__init__(weight)
        self.layers = tuple(layers)
        self.layer_weights = _layer_weights(self.layers, layer_weights, default=lambda layer: 1.0)
        self.eps = eps
        self.targets: dict[str, Tensor] = {}  # layer -> stack(mean, std) [2, B, C], no graph

    def set_target(self, features: Mapping[str, Tensor]) -> None:
        """Style features [1, C, H, W] per layer; their means and stds are kept."""
        self.targets = {layer: torch.stack(channel_stats(features[layer].detach(), self.eps)) for layer in self.layers}

    def forward(self, features, image):
        loss = image.new_zeros(()) if image is not None else 0.0
        for layer, lw in zip(self.layers, self.layer_weights):
            stats = torch.stack(channel_stats(features[layer], self.eps))
            loss = loss + lw * (stats - self.targets[layer]).pow(2).mean(-1).sum(0).mean()
        return self.weight * loss


def adain_image(content: Tensor, style: Tensor, layer: str = "relu4_1", iters: int = 100, device=None,
                init: str | Tensor = "content", style_weight: float = 0.0, style_layers: Sequence[str] = STYLE_LAYERS,
                alpha: float = 1.0, optimizer: str = "lbfgs", seed: int = 0) -> OptimResult:
    """AdaIN without a decoder: optimize an image whose ``layer`` features match AdaIN(f(c), f(s)).

    content [B, 3, H, W] and style [1, 3, h, w] in [0, 1]; the style is resized to the content's
    pixel count first (:func:`vstlib.gatys.style_size_for`). Objective: the content loss
    ``mean((f(x) - t)^2)`` at ``layer`` against the AdaIN target
    ``t = (1 - alpha) f(c) + alpha AdaIN(f(c), f(s))`` (the paper's content target and its
    content-style trade-off alpha), plus ``style_weight`` times :class:`MeanStdStyleLoss` at
    ``style_layers`` (the paper's style loss; 0 by default, so only the AdaIN operation acts). Scale,
    measured on chelsea (64 x 40) x Starry Night at the content image: the content term is 6.0e5,
    the style term 6.9e5 at weight 1, so 1 makes them comparable and 10 (the paper's decoder
    weight, with its differently scaled VGG) lets the style statistics dominate.
    ``init``: ``"content"``, ``"noise"`` (uniform, ``seed``) or a tensor. Runs
    :func:`vstlib.engine.optimize_image` (projected L-BFGS by default) and returns its
    :class:`~vstlib.engine.OptimResult`.

    >>> content = torch.linspace(0, 1, 32).expand(1, 3, 32, 32)
    >>> style = torch.rand(1, 3, 32, 32)
    >>> result = adain_image(content, style, iters=3)
    >>> result.image.shape, result.losses[-1] < result.losses[0]
    (torch.Size([1, 3, 32, 32]), True)
    """
    from .gatys import noise_image, resize, style_size_for

    if content.ndim != 4 or content.shape[1] != 3 or style.ndim != 4 or style.shape[1] != 3:
        raise VstError(f"content and style must be RGB batches [B, 3, H, W], got {tuple(content.shape)} and "
                       f"{tuple(style.shape)}")
    if min(content.shape[-2:]) < 16:
        raise VstError(f"the content image is {content.shape[-1]}x{content.shape[-2]} pixels; AdaIN at {layer} "
                       "needs at least 16 pixels on each side")
    unknown = [name for name in (layer, *style_layers) if name not in LAYER_NAMES]
    if unknown:
        raise VstError(f"unknown VGG19 layer(s) {unknown}; choose from {', '.join(LAYER_NAMES)}")
    if not 0.0 <= alpha <= 1.0:
        raise VstError(f"alpha must lie in [0, 1] (0: the content's features, 1: full AdaIN), got {alpha}")
    if not style_weight >= 0.0:
        raise VstError(f"style weight must be >= 0, got {style_weight}")
    device = torch.device(device) if device is not None else content.device
    content = content.to(device)
    style = resize(style.to(device), style_size_for(style.shape[-2:], content.shape[-2:]))
    content_loss = ContentLoss([layer])
    style_loss = MeanStdStyleLoss(style_layers, style_weight)
    objective = PerceptualLoss({"content": content_loss, "style": style_loss}, device=device)
    with torch.no_grad():
        f_c = objective.features(content, [layer])[layer]
        f_s = objective.features(style, sorted({layer, *style_layers}))
        target = adain(f_c, f_s[layer])
        content_loss.set_target({layer: (1 - alpha) * f_c + alpha * target})
        style_loss.set_target(f_s)
    if isinstance(init, Tensor):
        start = init.to(device)
    elif init == "content":
        start = content.clone()
    elif init == "noise":
        start = noise_image(content.shape, seed).to(device)
    else:
        raise VstError(f"unknown init '{init}'; choose content, noise or give a tensor")
    return optimize_image(objective, start, optimizer=optimizer, iters=iters)
