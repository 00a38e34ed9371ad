"""Figures shared by the notebooks and the report's figure scripts.

Every function draws with matplotlib, works under the non-interactive ``Agg`` backend (nothing
here calls ``plt.show``), and returns the :class:`~matplotlib.figure.Figure` so a caller can
``fig.savefig(...)`` it. Figures are created through ``pyplot`` so that Jupyter's inline
backend displays them at the end of a cell; scripts that make many figures should
``plt.close(fig)`` after saving.

Images may be given in any of vstlib's forms: a tensor ``[1, 3, H, W]`` or ``[3, H, W]`` in
[0, 1], a uint8 array ``[H, W, 3]``, a float array ``[H, W, 3]`` in [0, 1], or a 2-D array
(drawn with a colour map, e.g. a feature map or a Gram matrix).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
from matplotlib.ticker import MaxNLocator
import numpy as np
import torch

__all__ = ["as_image", "show_images", "show_feature_maps", "plot_losses", "plot_frame_differences"]


def as_image(image) -> np.ndarray:
    """An image in any vstlib form as an array ``imshow`` draws as intended.

    Colour images become float ``[H, W, 3]`` in [0, 1] (clamped); 2-D input stays 2-D (float).
    """
    if isinstance(image, torch.Tensor):
        t = image.detach().to("cpu", torch.float32)
        if t.ndim == 4:
            if t.shape[0] != 1:
                raise ValueError(f"expected one image, got a batch of shape {tuple(t.shape)}")
            t = t[0]
        if t.ndim == 3:
            if t.shape[0] == 1:  # single channel -> 2-D
                return t[0].numpy()
            if t.shape[0] != 3:
                raise ValueError(f"expected [3, H, W] or [1, 3, H, W], got shape {tuple(image.shape)}")
            return t.clamp(0, 1).permute(1, 2, 0).numpy()
        if t.ndim == 2:
            return t.numpy()
        raise ValueError(f"cannot draw a tensor of shape {tuple(image.shape)}")
    a = np.asarray(image)
    if a.ndim == 2:
        return a.astype(np.float64)
    if a.ndim != 3 or a.shape[2] != 3:
        raise ValueError(f"expected an [H, W, 3] or [H, W] array, got shape {a.shape}")
    if a.dtype == np.uint8:
        return a.astype(np.float32) / 255.0
    return np.clip(a.astype(np.float32), 0.0, 1.0)


def _grid(n: int, ncols: int | None) -> tuple[int, int]:
    ncols = max(1, min(n, ncols or n))
    return math.ceil(n / ncols), ncols


def show_images(images: Sequence, titles: Sequence[str] | None = None, ncols: int | None = None,
                size: float = 3.0, cmap: str = "viridis", suptitle: str | None = None):
    """Images in a grid (one row unless ``ncols`` is given), axes hidden; returns the figure.

    The figure has exactly ``len(images)`` axes (unused grid cells are removed). ``size`` is the
    height in inches of one row; each column is as wide as the widest image in it needs at that
    height, so images of different shapes (a photo and a painting) are not letterboxed. 2-D
    images are drawn with ``cmap`` and their own value range.
    """
    images = [as_image(im) for im in images]
    if not images:
        raise ValueError("show_images needs at least one image")
    if titles is not None and len(titles) != len(images):
        raise ValueError(f"got {len(titles)} titles for {len(images)} images")
    nrows, ncols = _grid(len(images), ncols)
    ratios = [max(im.shape[1] / im.shape[0] for im in images[c::ncols]) for c in range(ncols)]
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * sum(ratios) + 0.2, nrows * (size + 0.4 * (titles is not None))),
                             squeeze=False, gridspec_kw={"width_ratios": ratios})
    for i, ax in enumerate(axes.flat):
        if i >= len(images):
            fig.delaxes(ax)
            continue
        im = images[i]
        ax.imshow(im, cmap=cmap if im.ndim == 2 else None, interpolation="nearest" if max(im.shape[:2]) < 128 else "antialiased")
        ax.set_axis_off()
        if titles is not None:
            ax.set_title(titles[i], fontsize=10)
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


def show_feature_maps(features: Mapping[str, torch.Tensor], layers: Sequence[str] | None = None, n: int = 4,
                      size: float = 1.8, cmap: str = "magma"):
    """A few channels of VGG feature maps: one row per layer, ``n`` columns; returns the figure.

    ``features`` maps layer names to activations ``[1, C, H, W]`` (as returned by
    :func:`vstlib.vgg.encoder`). In each layer the ``n`` channels that vary most across the image
    are shown, each with its own colour range; the variation is measured away from the border,
    where zero padding makes some channels light up along the edges whatever the image.
    """
    layers = list(layers if layers is not None else features)
    if not layers:
        raise ValueError("show_feature_maps needs at least one layer")
    h, w = features[layers[0]].shape[-2:]
    fig, axes = plt.subplots(len(layers), n, figsize=(n * size, len(layers) * (size * h / w + 0.35)), squeeze=False)
    for row, layer in zip(axes, layers):
        f = features[layer].detach().to("cpu", torch.float32)[0]  # [C, H, W]
        inner = f[:, 1:-1, 1:-1] if min(f.shape[1:]) > 4 else f
        order = torch.argsort(inner.flatten(1).std(dim=1), descending=True)[:n].tolist()
        for j, ax in enumerate(row):
            ax.set_xticks([])
            ax.set_yticks([])
            if j < len(order):
                ax.imshow(f[order[j]].numpy(), cmap=cmap, interpolation="nearest")
                ax.set_title(f"ch {order[j]}", fontsize=8)
        row[0].set_ylabel(f"{layer}\n{tuple(f.shape[1:])}", fontsize=9)
    fig.tight_layout()
    return fig


def _loss_list(result) -> tuple[list[float], list[int]]:
    losses = getattr(result, "losses", result)
    scale_iters = list(getattr(result, "scale_iters", []) or [])
    return [float(v) for v in losses], scale_iters


def plot_losses(results, labels: Sequence[str] | None = None, logy: bool = True, ax=None, title: str | None = None):
    """Loss per iteration of one or several optimizations; returns the figure.

    ``results``: an :class:`~vstlib.engine.OptimResult` (or a list of losses), a list of them, or
    a dict ``{label: result}``. One line per result. A coarse-to-fine result (several entries in
    ``scale_iters``) gets a dotted vertical line where each finer scale starts: its loss jumps
    there because the objective itself changes with the image size.
    """
    if isinstance(results, Mapping):
        labels, results = list(results), list(results.values())
    elif hasattr(results, "losses") or (len(results) and np.isscalar(results[0])):
        results = [results]
    if labels is not None and len(labels) != len(results):
        raise ValueError(f"got {len(labels)} labels for {len(results)} results")
    fig = ax.figure if ax is not None else plt.subplots(figsize=(5.5, 3.5))[0]
    ax = ax if ax is not None else fig.axes[0]
    for i, result in enumerate(results):
        losses, scale_iters = _loss_list(result)
        line, = ax.plot(np.arange(1, len(losses) + 1), losses, label=None if labels is None else labels[i])
        for boundary in np.cumsum(scale_iters)[:-1] if len(scale_iters) > 1 else []:
            ax.axvline(boundary + 0.5, color=line.get_color(), linestyle=":", linewidth=1)
    if logy:
        ax.set_yscale("log")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("iteration")
    ax.set_ylabel("loss")
    if title:
        ax.set_title(title)
    if labels is not None:
        ax.legend()
    ax.grid(True, which="major", alpha=0.3)
    fig.tight_layout()
    return fig


def plot_frame_differences(curves: Mapping[str, Sequence[float]], fps: float | None = None, logy: bool = False,
                           ax=None, title: str | None = None, ylabel: str = "mean |frame t+1 - frame t|"):
    """Frame-to-frame differences over time, one line per entry of ``{label: differences}``.

    ``differences`` as returned by :func:`vstlib.metrics.frame_difference` (entry t compares
    frame t+1 with frame t). With ``fps`` the x axis is in seconds, else in frames. Each legend
    entry shows the curve's mean. Any per-pair measure plots the same way (e.g. the warping
    errors of :func:`vstlib.metrics.temporal_errors`, with ``ylabel="E_warp"``). Returns the figure.
    """
    if not curves:
        raise ValueError("plot_frame_differences needs at least one curve")
    fig = ax.figure if ax is not None else plt.subplots(figsize=(5.5, 3.2))[0]
    ax = ax if ax is not None else fig.axes[0]
    for label, values in curves.items():
        values = np.asarray(values, dtype=np.float64)
        x = np.arange(1, len(values) + 1)
        x = x / fps if fps else x
        ax.plot(x, values, marker="o", markersize=3, label=f"{label} (mean {values.mean():.4f})")
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel("time (s)" if fps else "frame")
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    ax.legend()
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    return fig
