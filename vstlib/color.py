"""Colour preservation for style transfer (Gatys, Bethge, Hertzmann, Shechtman 2016).

Plain neural style transfer copies the style image's palette along with its brush strokes.
"Preserving color in neural artistic style transfer" (arXiv:1606.05897) gives two cheap,
linear ways to keep the content's colours instead:

1. **Colour (histogram) matching**, before stylization: apply an affine map
   ``x' = A (x - mu_s) + mu_c`` to every RGB pixel of the *style* image so that its colour mean
   and 3x3 covariance equal the content's (:func:`match_color`). The stylizer then runs as
   usual with the recoloured style; the output needs no post-processing.
2. **Luminance-only transfer**: stylize luminance only. The style's luminance is first shifted
   and scaled to the content's luminance mean and standard deviation
   (:func:`match_luminance`), both images are turned into grey images (:func:`to_luminance_image`),
   and after stylization the result's luminance is recombined with the content's chroma
   (:func:`luminance_only`).

Colour space: **YIQ** (as in the paper). It is a fixed linear transform of RGB, so luminance
and chroma separate exactly, the round trip RGB -> YIQ -> RGB is exact up to rounding, the
transform is differentiable and runs on any device as one 3x3 matrix product. CIELab would
give perceptually more uniform chroma but is nonlinear (gamma, cube roots), depends on a white
point, and recombining one image's L with another's a, b easily lands outside the sRGB gamut;
none of that buys anything here, where we only need "keep Y from here, I and Q from there".

Video: matching the style to *each frame's* colours would change the style target (and so the
stylized colours) every frame, which shows as flicker. Instead compute the colour statistics
once, pooled over the whole clip or its first frame (:func:`color_stats`), and recolour the
style once with :func:`match_color_to_stats`; every frame then sees the same style image.
:func:`prepare` accepts such precomputed statistics too (also for the luminance mode, whose
luminance mean/std follow exactly from the RGB mean and covariance).

Usage with any stylizer (two calls, plus greying the content in luminance mode)::

    plan = prepare(style, content_or_clip_stats, "luminance")
    out = stylize(plan.content(frame), plan.style)
    out = plan.finish(out, frame)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import NamedTuple, Union

import numpy as np
import torch
from torch import Tensor

from .errors import VstError

__all__ = [
    "PRESERVE_COLOR_MODES",
    "MATCH_MODES",
    "rgb_to_yiq",
    "yiq_to_rgb",
    "luminance",
    "to_luminance_image",
    "match_luminance",
    "luminance_only",
    "ColorStats",
    "color_stats",
    "match_color",
    "match_color_to_stats",
    "ColorPlan",
    "prepare",
]

from .choices import PRESERVE_COLOR_MODES  # noqa: E402
MATCH_MODES = ("sym", "chol")

# Default relative regularization of colour covariances, see _regularize.
DEFAULT_EPS = 1e-4

# NTSC RGB -> YIQ. Rows: Y (luma), I (orange-blue), Q (purple-green). Each chroma row sums to
# zero, so greys (R = G = B) have I = Q = 0; the Y row sums to one, so grey g has Y = g.
_RGB_TO_YIQ = torch.tensor(
    [
        [0.299, 0.587, 0.114],
        [0.595716, -0.274453, -0.321263],
        [0.211456, -0.522591, 0.311135],
    ],
    dtype=torch.float64,
)
# The exact inverse of the matrix above (computed in float64, not the rounded textbook
# constants), so that yiq_to_rgb(rgb_to_yiq(x)) == x up to float32 rounding.
_YIQ_TO_RGB = torch.linalg.inv(_RGB_TO_YIQ)

ImagesOrStats = Union[Tensor, Sequence[Tensor], "ColorStats", tuple]


def _check_image(image: Tensor, name: str = "image") -> None:
    if not isinstance(image, Tensor) or image.ndim != 4 or image.shape[1] != 3:
        shape = tuple(image.shape) if isinstance(image, Tensor) else type(image).__name__
        raise ValueError(f"{name} must be a tensor [B, 3, H, W], got {shape}")


def _apply_matrix(matrix: Tensor, image: Tensor) -> Tensor:
    """Multiply every pixel's 3-vector of ``image`` [B, 3, H, W] by ``matrix`` [3, 3]."""
    m = matrix.to(device=image.device, dtype=image.dtype)
    return torch.einsum("ij,bjhw->bihw", m, image)


# --------------------------------------------------------------------------------------------
# YIQ and luminance-only transfer
# --------------------------------------------------------------------------------------------


def rgb_to_yiq(image: Tensor) -> Tensor:
    """RGB [B, 3, H, W] -> YIQ [B, 3, H, W] (channel 0 is luminance). Linear, differentiable."""
    _check_image(image)
    return _apply_matrix(_RGB_TO_YIQ, image)


def yiq_to_rgb(image: Tensor) -> Tensor:
    """YIQ [B, 3, H, W] -> RGB, the exact inverse of :func:`rgb_to_yiq`. Not clamped."""
    _check_image(image)
    return _apply_matrix(_YIQ_TO_RGB, image)


def luminance(image: Tensor) -> Tensor:
    """The Y channel of an RGB image [B, 3, H, W], as [B, 1, H, W].

    >>> white, red = torch.ones(1, 3, 2, 2), torch.tensor([1.0, 0, 0]).view(1, 3, 1, 1).expand(1, 3, 2, 2)
    >>> round(float(luminance(white)[0, 0, 0, 0]), 4), round(float(luminance(red)[0, 0, 0, 0]), 3)
    (1.0, 0.299)
    """
    _check_image(image)
    return rgb_to_yiq(image)[:, :1]


def to_luminance_image(image: Tensor) -> Tensor:
    """A grey 3-channel image (Y, Y, Y) from an RGB image, or from a luminance image [B, 1, H, W].

    This is what gets stylized in luminance-only mode: VGG expects three channels, and a grey
    image with R = G = B = Y has luminance Y and no chroma.
    """
    if isinstance(image, Tensor) and image.ndim == 4 and image.shape[1] == 1:
        y = image
    else:
        y = luminance(image)
    return y.expand(-1, 3, -1, -1).contiguous()


def _mean_std(y: Tensor) -> tuple[Tensor, Tensor]:
    """Per-image mean and (population) standard deviation, shaped [B, 1, 1, 1]."""
    flat = y.reshape(y.shape[0], -1)
    mean = flat.mean(dim=1)
    std = flat.std(dim=1, unbiased=False)
    return mean.view(-1, 1, 1, 1), std.view(-1, 1, 1, 1)


def _shift_scale(style_y: Tensor, mean_c: Tensor, std_c: Tensor) -> Tensor:
    mean_s, std_s = _mean_std(style_y)
    # A flat style (std 0) has nothing to scale: it becomes flat at the content's mean. The
    # floor only prevents 0/0; the deviations it divides are then exactly zero anyway.
    scale = std_c / std_s.clamp_min(torch.finfo(std_s.dtype).tiny)
    return (style_y - mean_s) * scale + mean_c


def match_luminance(style_y: Tensor, content_y: Tensor) -> Tensor:
    """The paper's luminance matching: ``(sigma_c / sigma_s) (L_s - mu_s) + mu_c``.

    ``style_y`` and ``content_y`` are luminance tensors [B, 1, H, W] (any shape with the batch
    first; the sizes may differ). Mean and standard deviation are taken per batch element over
    all remaining dimensions; a content batch of 1 applies to every style. Not clamped: the
    result is a luminance target, and matching the content's spread exactly is the point.
    """
    mean_c, std_c = _mean_std(content_y)
    return _shift_scale(style_y, mean_c.view(-1, *[1] * (style_y.ndim - 1)), std_c.view(-1, *[1] * (style_y.ndim - 1)))


def luminance_only(stylized: Tensor, content: Tensor) -> Tensor:
    """The stylized image's luminance with the content's chroma (I, Q), as RGB clamped to [0, 1].

    ``content`` must have the same size as ``stylized`` (a content batch of 1 is broadcast).
    """
    _check_image(stylized, "stylized")
    _check_image(content, "content")
    if stylized.shape[-2:] != content.shape[-2:]:
        raise ValueError(f"stylized {tuple(stylized.shape)} and content {tuple(content.shape)} differ in size")
    y = luminance(stylized)
    iq = rgb_to_yiq(content)[:, 1:]
    if iq.shape[0] != y.shape[0]:
        iq = iq.expand(y.shape[0], -1, -1, -1)
    return yiq_to_rgb(torch.cat([y, iq], dim=1)).clamp(0, 1)


# --------------------------------------------------------------------------------------------
# Colour statistics matching
# --------------------------------------------------------------------------------------------


class ColorStats(NamedTuple):
    """RGB mean [3] and population covariance [3, 3] of a set of pixels (float64)."""

    mean: Tensor
    cov: Tensor


def _image_pixels(image) -> Tensor:
    """One image [B, 3, H, W] or [3, H, W] (tensor), or uint8 [H, W, 3] (array), as float64 [N, 3] in [0, 1]."""
    if isinstance(image, np.ndarray):
        if image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f"an array frame must be [H, W, 3], got {image.shape}")
        scale = 255.0 if image.dtype == np.uint8 else 1.0
        return torch.from_numpy(image.reshape(-1, 3).astype(np.float64) / scale)
    if isinstance(image, Tensor) and image.ndim == 3:
        image = image.unsqueeze(0)
    _check_image(image)
    return image.detach().to(torch.float64).permute(0, 2, 3, 1).reshape(-1, 3)


def color_stats(images: Tensor | np.ndarray | Iterable) -> ColorStats:
    """Colour mean [3] and covariance [3, 3] pooled over every pixel of every given image.

    ``images`` is a tensor [B, 3, H, W] or an iterable of images in any sizes: tensors in
    [0, 1] or uint8 arrays [H, W, 3], e.g. the frames of a clip straight from
    :func:`vstlib.io.read_frames`. It is consumed once and never held whole: each image's mean
    and centred scatter are merged into the running totals with the exact pairwise update of
    Chan, Golub and LeVeque (1979), so the result equals the statistics of all pixels
    concatenated, in float64, without gradients.
    """
    if isinstance(images, (Tensor, np.ndarray)) and not (isinstance(images, np.ndarray) and images.ndim == 4):
        images = [images]
    n, mean, scatter, device = 0, None, None, None
    for image in images:
        x = _image_pixels(image)
        if device is None:
            device = x.device  # pool on the first image's device
        x = x.to(device)
        m = x.shape[0]
        if m == 0:
            continue
        mean_x = x.mean(dim=0)
        d = x - mean_x
        scatter_x = d.T @ d
        if n == 0:
            n, mean, scatter = m, mean_x, scatter_x
            continue
        delta = mean_x - mean
        total = n + m
        scatter = scatter + scatter_x + torch.outer(delta, delta) * (n * m / total)
        mean = mean + delta * (m / total)
        n = total
    if n == 0:
        raise ValueError("color_stats needs at least one image with pixels")
    return ColorStats(mean, scatter / n)


def _regularize(cov: Tensor, eps: float) -> Tensor:
    """``cov + eps * (trace(cov) / 3) * I``: a ridge relative to the average channel variance.

    A grey image has a rank-1 covariance (all channels move together) and a flat image a zero
    one, so their inverses and Cholesky factors do not exist. Adding a fraction ``eps`` of the
    mean variance is scale-free (it does not care whether images vary a lot or a little) and
    changes well-conditioned covariances by a relative ``eps`` only. The tiny absolute floor
    only matters for a perfectly flat image, whose deviations from its mean are all zero, so
    its transform is irrelevant (the output is simply the target mean).
    """
    scale = (torch.diagonal(cov).sum() / 3).clamp_min(1e-12)
    return cov + eps * scale * torch.eye(3, dtype=cov.dtype, device=cov.device)


def _sym_power(cov: Tensor, power: float) -> Tensor:
    """``cov ** power`` for a symmetric positive definite matrix, via its eigendecomposition."""
    values, vectors = torch.linalg.eigh(cov)
    return (vectors * values.clamp_min(torch.finfo(cov.dtype).tiny) ** power) @ vectors.T


def _color_transform(source: ColorStats, target: ColorStats, mode: str, eps: float) -> Tensor:
    """The matrix A with ``A cov_s A^T = cov_t`` (both regularized), in float64."""
    cov_s = _regularize(source.cov, eps)
    cov_t = _regularize(target.cov.to(cov_s.device, torch.float64), eps)
    if mode == "chol":
        l_s = torch.linalg.cholesky(cov_s)
        l_t = torch.linalg.cholesky(cov_t)
        # A = L_t L_s^{-1}: A cov_s A^T = L_t L_s^{-1} L_s L_s^T L_s^{-T} L_t^T = cov_t.
        return l_t @ torch.linalg.inv(l_s)
    # A = cov_t^(1/2) cov_s^(-1/2): A cov_s A^T = cov_t^(1/2) I cov_t^(1/2) = cov_t.
    return _sym_power(cov_t, 0.5) @ _sym_power(cov_s, -0.5)


def _check_match_mode(mode: str) -> None:
    if mode not in MATCH_MODES:
        raise VstError(f"unknown colour matching mode '{mode}'; choose {' or '.join(MATCH_MODES)}")


def match_color_to_stats(
    style: Tensor, mean: Tensor, cov: Tensor, mode: str = "sym", eps: float = DEFAULT_EPS
) -> Tensor:
    """Recolour ``style`` [B, 3, H, W] so its colour mean and covariance become ``mean``, ``cov``.

    ``x' = A (x - mu_s) + mu_s_target`` per pixel, with ``mu_s``, ``cov_s`` pooled over the style
    batch. ``mode``:

    * ``"sym"`` (default): ``A = cov_c^(1/2) cov_s^(-1/2)``, the "image analogies" colour
      transfer. It treats R, G and B alike (permuting the channels permutes A the same way)
      and, for the common case of similar covariances, stays close to the identity.
    * ``"chol"``: ``A = L_c L_s^(-1)`` with Cholesky factors. Equally exact on mean and
      covariance, but the factorization singles out the channel order (R first), so the
      result depends on it.

    Both covariances get the relative ridge described in :func:`_regularize` (``eps``). The
    output is clamped to [0, 1]; clamping (only for colours outside the RGB cube) is the one
    place where the matched statistics can deviate.
    """
    _check_image(style, "style")
    _check_match_mode(mode)
    if not eps > 0:
        raise ValueError(f"eps must be > 0, got {eps}")
    source = color_stats(style)
    target = ColorStats(mean.to(source.mean.device, torch.float64), cov.to(source.mean.device, torch.float64))
    a = _color_transform(source, target, mode, eps)
    # x' = A x + (mu_t - A mu_s), applied in the style's own dtype and device.
    offset = (target.mean - a @ source.mean).to(device=style.device, dtype=style.dtype)
    out = _apply_matrix(a, style) + offset.view(1, 3, 1, 1)
    return out.clamp(0, 1)


def match_color(style: Tensor, content: Tensor, mode: str = "sym", eps: float = DEFAULT_EPS) -> Tensor:
    """The paper's colour-histogram matching: give ``style`` the content's colour mean and covariance.

    Shorthand for ``match_color_to_stats(style, *color_stats(content), mode, eps)``; see there.
    For video pass the statistics of the whole clip (or its first frame) to
    :func:`match_color_to_stats` instead of matching per frame.
    """
    stats = color_stats(content)
    return match_color_to_stats(style, stats.mean, stats.cov, mode=mode, eps=eps)


# --------------------------------------------------------------------------------------------
# One entry point for stylizers
# --------------------------------------------------------------------------------------------


def _identity_content(image: Tensor) -> Tensor:
    return image


def _identity_finish(stylized: Tensor, content: Tensor) -> Tensor:
    return stylized


class ColorPlan(NamedTuple):
    """How to run a stylizer for one colour-preservation mode.

    ``style``: the style image to use; ``content(frame)``: the content image to stylize (grey in
    luminance mode, unchanged otherwise); ``finish(stylized, frame)``: the final output
    (:func:`luminance_only` in luminance mode, the identity otherwise). ``frame`` is always the
    original colour content.
    """

    style: Tensor
    content: Callable[[Tensor], Tensor]
    finish: Callable[[Tensor, Tensor], Tensor]


def _as_stats(content_or_stats: ImagesOrStats) -> ColorStats:
    if isinstance(content_or_stats, ColorStats):
        return content_or_stats
    if (
        isinstance(content_or_stats, (tuple, list))
        and len(content_or_stats) == 2
        and all(isinstance(t, Tensor) for t in content_or_stats)
        and content_or_stats[0].shape == (3,)
        and content_or_stats[1].shape == (3, 3)
    ):
        return ColorStats(*content_or_stats)
    return color_stats(content_or_stats)


def prepare(style: Tensor, content_or_stats: ImagesOrStats, mode: str, match_mode: str = "sym") -> ColorPlan:
    """Set up colour preservation ``mode`` (one of :data:`PRESERVE_COLOR_MODES`).

    ``content_or_stats`` is the content image, a sequence of frames (statistics pooled over
    all of them), or precomputed :class:`ColorStats` / ``(mean, cov)``. It is used once, here,
    to build the style image; per-frame work is only ``plan.content`` and ``plan.finish``.

    * ``"none"``: style unchanged, content and output unchanged.
    * ``"histogram"``: style recoloured by :func:`match_color_to_stats` (``match_mode``).
    * ``"luminance"``: style replaced by its grey, luminance-matched version; the luminance
      mean and std of the content follow from its RGB statistics (``Y = w . rgb`` gives
      ``mu_Y = w . mu`` and ``sigma_Y^2 = w^T cov w``), so clip statistics work here too.
    """
    if mode not in PRESERVE_COLOR_MODES:
        raise VstError(f"unknown colour preservation mode '{mode}'; choose {', '.join(PRESERVE_COLOR_MODES)}")
    _check_match_mode(match_mode)
    _check_image(style, "style")
    if mode == "none":
        return ColorPlan(style, _identity_content, _identity_finish)
    stats = _as_stats(content_or_stats)
    if mode == "histogram":
        return ColorPlan(match_color_to_stats(style, stats.mean, stats.cov, mode=match_mode), _identity_content, _identity_finish)
    w = _RGB_TO_YIQ[0].to(stats.mean.device)
    mean_y = (w @ stats.mean.to(torch.float64)).to(style.dtype).to(style.device)
    std_y = (w @ stats.cov.to(torch.float64) @ w).clamp_min(0).sqrt().to(style.dtype).to(style.device)
    style_y = _shift_scale(luminance(style), mean_y, std_y).clamp(0, 1)
    return ColorPlan(to_luminance_image(style_y), to_luminance_image, luminance_only)
