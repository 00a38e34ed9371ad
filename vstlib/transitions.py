"""Moving between styles: style vectors seen in 2-D, and fades rendered in pixel or embedding space.

A fade from painting A to painting B gives frame t the weights ``1 - w_t`` and ``w_t``
(:func:`fade_weights`, the runner's :func:`vstlib.schedule.crossfade_schedule`). The ``arbitrary``
method can render it two ways (``--mix-space``):

* **pixel**: stylize the frame with A and with B and blend the pictures,
  ``(1 - w) T(x, s_A) + w T(x, s_B)``: a double exposure, both brushstroke patterns at reduced
  contrast (ghosting);
* **embedding**: one pass with the interpolated style vector, ``T(x, (1 - w) s_A + w s_B)``: a
  style in between, drawn with full-contrast strokes.

:func:`compare_transition` renders both (and the pure styles) with the method's own session, and
two statistics compare them along time: :func:`texture_energy` (high-frequency contrast, which a
blend of two unrelated textures loses: for uncorrelated textures of equal energy the RMS of the
mix is ``sqrt((1-w)^2 + w^2)`` of either's, 0.71 at ``w = 1/2``) relative to the pure styles'
(:func:`energy_ratio`), and :func:`consecutive_change` (Lai et al.'s E_warp between consecutive
outputs along a flow that the methods do not use), whose rise inside the fade is what a viewer
sees as a style "moving".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from .errors import VstError

__all__ = ["Projection", "Transition", "compare_transition", "consecutive_change", "energy_ratio", "fade_weights",
           "pca_2d", "style_vectors", "texture_energy"]


def style_vectors(images: Sequence[Tensor] | Tensor, device=None, predictor=None) -> Tensor:
    """The 100-d style vectors of paintings (the style prediction network on each one's centred
    square at 256x256, as the ``arbitrary`` method computes them).

    Args:
        images: [N, 3, H, W] in [0, 1], or a sequence of [1, 3, h, w] / [3, h, w] of any sizes.
        predictor: a loaded :class:`vstlib.arbitrary_net.StylePredictor` (default: the shipped one).

    Returns:
        [N, 100] float32 on the CPU.

    >>> style_vectors(torch.rand(2, 3, 40, 60)).shape
    torch.Size([2, 100])
    """
    from .arbitrary_net import STYLE_SIZE, load_predictor
    from .methods.arbitrary import center_square

    device = torch.device(device or "cpu")
    predictor = predictor if predictor is not None else load_predictor(device=device)
    items = [images[i:i + 1] for i in range(images.shape[0])] if isinstance(images, Tensor) else list(images)
    if not items:
        raise VstError("style_vectors needs at least one image")
    out = []
    with torch.inference_mode():
        for img in items:
            img = img[None] if img.dim() == 3 else img
            out.append(predictor(center_square(img.to(device, torch.float32), STYLE_SIZE)).float().cpu())
    return torch.cat(out)


@dataclass
class Projection:
    """A 2-D principal component projection of vectors."""

    coords: Tensor  # [N, 2]
    explained: Tensor  # [2], fraction of the total variance along each axis
    mean: Tensor  # [D]
    axes: Tensor  # [2, D], unit rows

    def project(self, vectors: Tensor) -> Tensor:
        """[M, D] -> [M, 2] on the same axes (e.g. a style video's keyframes next to the paintings)."""
        return (vectors.float() - self.mean) @ self.axes.T


def pca_2d(vectors: Tensor) -> Projection:
    """The two principal axes of [N, D] vectors (N >= 2) and the vectors' coordinates on them.

    >>> v = torch.tensor([[0.0, 0.0, 0.0], [2.0, 0.0, 0.0], [4.0, 1.0, 0.0]])
    >>> p = pca_2d(v)
    >>> round(float(p.explained.sum()), 4), p.coords.shape
    (1.0, torch.Size([3, 2]))
    >>> bool(torch.allclose(p.project(v), p.coords))
    True
    """
    v = torch.as_tensor(vectors).float()
    if v.dim() != 2 or v.shape[0] < 2:
        raise VstError(f"pca_2d needs at least two vectors as [N, D], got {list(v.shape)}")
    mean = v.mean(0)
    _, s, vh = torch.linalg.svd(v - mean, full_matrices=False)
    total = float((s**2).sum()) or 1.0
    k = min(2, vh.shape[0])
    axes = torch.zeros(2, v.shape[1])
    axes[:k] = vh[:k]
    # Fix the signs (an SVD's are arbitrary): the largest coordinate along each axis is positive.
    coords = (v - mean) @ axes.T
    signs = torch.where(coords.gather(0, coords.abs().argmax(0, keepdim=True))[0] < 0, -1.0, 1.0)
    axes = axes * signs[:, None]
    explained = torch.zeros(2)
    explained[:k] = s[:k] ** 2 / total
    return Projection(coords * signs, explained, mean, axes)


def fade_weights(n_frames: int, fps: float, transition: float) -> list[float]:
    """Style B's weight ``w_t`` for every frame of a two-style crossfade over ``n_frames`` frames
    (the change in the middle of the clip, ``transition`` seconds long): exactly the weights the
    runner's ``--style a,b --transition`` schedule gives.

    >>> fade_weights(10, 1.0, 4)
    [0.0, 0.0, 0.0, 0.0, 0.25, 0.5, 0.75, 1.0, 1.0, 1.0]
    """
    from .schedule import crossfade_schedule

    schedule = crossfade_schedule(n_frames, fps, 2, transition)
    return [round(dict(schedule(i)).get(1, 0.0), 12) for i in range(n_frames)]


@dataclass
class Transition:
    """A fade from style A to style B over a clip, rendered both ways (all [T, 3, H, W] in [0, 1])."""

    weights: list[float]  # w_t, style B's weight per frame
    style_a: Tensor  # every frame with style A only
    style_b: Tensor  # every frame with style B only
    pixel: Tensor  # (1 - w_t) style_a + w_t style_b
    embedding: Tensor  # one pass with the interpolated style vector

    def inside(self) -> np.ndarray:
        """[T] bool: the frames inside the fade (0 < w_t < 1)."""
        w = np.asarray(self.weights)
        return (w > 0) & (w < 1)


def compare_transition(frames: Tensor, style_a: Tensor, style_b: Tensor, weights: Sequence[float], device=None,
                       style_strength: float = 1.0, batch: int = 4) -> Transition:
    """Render a fade from ``style_a`` to ``style_b`` over ``frames`` in pixel and in embedding space,
    with the ``arbitrary`` method's own session (the code ``vst stylize --mix-space`` runs).

    Args:
        frames: [T, 3, H, W] in [0, 1].
        style_a, style_b: paintings, [1, 3, h, w] in [0, 1].
        weights: style B's weight per frame, T values in [0, 1] (e.g. :func:`fade_weights`).
    """
    from .methods.arbitrary import ArbitraryConfig, ArbitraryFrames
    from .methods.base import FrameItem

    if frames.dim() != 4 or frames.shape[1] != 3:
        raise VstError(f"frames must be [T, 3, H, W], got {list(frames.shape)}")
    w = [float(x) for x in weights]
    if len(w) != frames.shape[0] or not all(0.0 <= x <= 1.0 for x in w):
        raise VstError(f"need one weight in [0, 1] per frame ({frames.shape[0]}), got {len(w)}")
    device = torch.device(device or "cpu")
    session = ArbitraryFrames([style_a, style_b], ArbitraryConfig(style_strength=style_strength, batch=batch), device)

    def render(mixes) -> Tensor:
        items = [FrameItem(i, None, frames[i:i + 1], mix) for i, mix in enumerate(mixes)]
        return torch.cat(list(session.run(items)))

    n = frames.shape[0]
    pure_a = render([((0, 1.0),)] * n)
    pure_b = render([((1, 1.0),)] * n)
    wt = torch.tensor(w, dtype=pure_a.dtype)[:, None, None, None]
    pixel = (1 - wt) * pure_a + wt * pure_b  # what --mix-space pixel computes, from the same passes
    # Outside the fade the interpolated vector is one painting's: those frames are the pure renders.
    embedding = torch.where(wt > 0, pure_b, pure_a)
    inside = [i for i, x in enumerate(w) if 0 < x < 1]
    if inside:  # one pass each with the interpolated vectors
        items = [FrameItem(i, None, frames[i:i + 1], ((0, 1.0 - w[i]), (1, w[i]))) for i in inside]
        embedding[inside] = torch.cat(list(session.run(items)))
    return Transition(w, pure_a, pure_b, pixel, embedding)


_LAPLACIAN = torch.tensor([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]])


def texture_energy(images: Tensor) -> Tensor:
    """The high-frequency contrast of images: the RMS of the Laplacian of their luminance (Rec. 709
    weights), per image. Brushstrokes carry most of it; blending two unrelated textures lowers it.

    Args:
        images: (*, 3, H, W) in [0, 1], H and W >= 3.

    Returns:
        (*) float.

    >>> flat, noise = torch.zeros(1, 3, 8, 8), torch.rand(1, 3, 8, 8)
    >>> float(texture_energy(flat)[0]), bool(texture_energy(noise)[0] > 0.1)
    (0.0, True)
    """
    if images.dim() < 3 or images.shape[-3] != 3 or min(images.shape[-2:]) < 3:
        raise VstError(f"texture_energy needs (*, 3, H, W) images with H, W >= 3, got {list(images.shape)}")
    lead = images.shape[:-3]
    x = images.reshape(-1, 3, *images.shape[-2:]).float()
    y = (0.2126 * x[:, 0] + 0.7152 * x[:, 1] + 0.0722 * x[:, 2])[:, None]
    lap = F.conv2d(y, _LAPLACIAN.to(y)[None, None])  # valid part only: no border artefacts
    return lap.pow(2).mean(dim=(1, 2, 3)).sqrt().reshape(lead)


def energy_ratio(transition: Transition, space: str) -> np.ndarray:
    """[T]: the texture energy of the ``space`` rendering ("pixel" or "embedding") relative to
    ``(1 - w_t) E(A_t) + w_t E(B_t)``, the pure styles' energies mixed with the fade's weights.
    1 outside the fade by construction; a dip inside it is contrast lost to superposition.
    """
    if space not in ("pixel", "embedding"):
        raise VstError(f"space must be 'pixel' or 'embedding', got {space!r}")
    w = torch.tensor(transition.weights, dtype=torch.float32)
    expected = (1 - w) * texture_energy(transition.style_a) + w * texture_energy(transition.style_b)
    return (texture_energy(getattr(transition, space)) / expected.clamp_min(1e-8)).numpy()


def consecutive_change(inputs: Tensor, outputs: Tensor, flow: str = "farneback", cache_dir=None) -> np.ndarray:
    """[T-1]: Lai et al.'s warping error between consecutive outputs (entry t compares frames t and
    t+1), with the flow and occlusion masks computed on the *inputs* by ``flow`` (default
    Farneback: neither the methods nor the stabilizer, which follows DIS, use it).

    Args:
        inputs, outputs: [T, 3, H, W] in [0, 1], T >= 2.
    """
    from .metrics import temporal_errors

    if inputs.shape != outputs.shape or inputs.dim() != 4:
        raise VstError(f"inputs {list(inputs.shape)} and outputs {list(outputs.shape)} must be equal [T, 3, H, W]")
    ins = [inputs[i:i + 1] for i in range(inputs.shape[0])]
    outs = [outputs[i:i + 1] for i in range(outputs.shape[0])]
    return temporal_errors(ins, outs, flow=flow, cache_dir=cache_dir).warping_error
