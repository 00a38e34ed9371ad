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

__all__ = ["as_image", "show_images", "show_feature_maps", "plot_losses", "plot_frame_differences", "plot_style_space", "plot_transition",
           "plot_stabilizer_ghosting", "plot_masks", "seam_window", "plot_variants", "mask_flicker_curve",
           "plot_mask_flicker", "pareto_front", "plot_pareto", "plot_speed_quality", "plot_method_grid",
           "plot_warping_error_maps"]


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


def plot_style_space(projection, labels: Sequence[str], thumbnails: Sequence | None = None,
                     extra: Mapping[str, object] | None = None, ax=None, zoom: float | None = None):
    """Style vectors in 2-D: the points of a :class:`vstlib.transitions.Projection`, labelled, with
    an optional thumbnail of each painting, and extra point series on the same axes; returns the figure.

    Args:
        projection: from :func:`vstlib.transitions.pca_2d` (its ``coords`` [N, 2] are drawn).
        labels: N names, one per point.
        thumbnails: N images (any form :func:`as_image` takes), drawn next to their points.
        extra: ``{label: [M, 2] coordinates}`` (e.g. a style video's keyframes, from
            ``projection.project(vectors)``), each drawn as a numbered path in time order.
        zoom: thumbnail scale (default: about 0.6 inch whatever the thumbnail's pixel size).

    The axis labels give the fraction of the variance each principal axis explains.

    >>> from vstlib.transitions import pca_2d
    >>> p = pca_2d(torch.tensor([[0.0, 0.0, 1.0], [2.0, 0.0, 0.0], [4.0, 1.0, 0.0]]))
    >>> fig = plot_style_space(p, ["a", "b", "c"], extra={"keyframes": p.project(torch.ones(2, 3))})
    >>> [t.get_text() for t in fig.axes[0].texts][:3], fig.axes[0].get_xlabel()[:3]
    (['a', 'b', 'c'], 'PC1')
    >>> plt.close(fig)
    """
    from matplotlib.offsetbox import AnnotationBbox, OffsetImage

    coords = np.asarray(torch.as_tensor(projection.coords, dtype=torch.float32))
    if len(labels) != len(coords):
        raise ValueError(f"got {len(labels)} labels for {len(coords)} points")
    if thumbnails is not None and len(thumbnails) != len(coords):
        raise ValueError(f"got {len(thumbnails)} thumbnails for {len(coords)} points")
    fig = ax.figure if ax is not None else plt.subplots(figsize=(6.5, 5.0))[0]
    ax = ax if ax is not None else fig.axes[0]
    ax.scatter(coords[:, 0], coords[:, 1], s=30, color="k", zorder=3, label="paintings")
    span = float(np.ptp(coords, axis=0).max()) or 1.0
    for (x, y), label in zip(coords, labels):
        ax.annotate(label, (x, y), xytext=(4, -12), textcoords="offset points", fontsize=8)
    if thumbnails is not None:
        for (x, y), image in zip(coords, thumbnails):
            im = as_image(image)
            box = OffsetImage(im, zoom=zoom if zoom is not None else 45.0 / max(im.shape[:2]))
            ax.add_artist(AnnotationBbox(box, (x, y), xybox=(0, 30), boxcoords="offset points", pad=0.1,
                                         frameon=True, zorder=2))
    for label, points in (extra or {}).items():
        pts = np.asarray(torch.as_tensor(points, dtype=torch.float32)).reshape(-1, 2)
        line, = ax.plot(pts[:, 0], pts[:, 1], marker="o", linestyle="--", linewidth=1, markersize=6, label=label,
                        zorder=4)
        for k, (x, y) in enumerate(pts, 1):
            ax.annotate(str(k), (x, y), xytext=(4, 4), textcoords="offset points", fontsize=8, color=line.get_color())
    explained = np.asarray(torch.as_tensor(projection.explained, dtype=torch.float32))
    ax.set_xlabel(f"PC1 ({explained[0]:.0%} of the variance)")
    ax.set_ylabel(f"PC2 ({explained[1]:.0%} of the variance)")
    lo, hi = coords.min(0), coords.max(0)
    ax.set_xlim(lo[0] - 0.15 * span, hi[0] + 0.15 * span)
    ax.set_ylim(lo[1] - 0.15 * span, hi[1] + 0.3 * span)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return fig


def _mid_fade(weights) -> int:
    w = np.asarray(weights, dtype=np.float64)
    inside = np.flatnonzero((w > 0) & (w < 1))
    if inside.size == 0:
        return int(len(w) // 2)
    return int(inside[np.argmin(np.abs(w[inside] - 0.5))])


def _shade_fade(ax, weights, offset: float = 0.0) -> None:
    w = np.asarray(weights, dtype=np.float64)
    inside = np.flatnonzero((w > 0) & (w < 1))
    if inside.size:
        ax.axvspan(inside[0] - 0.5 + offset, inside[-1] + 0.5 + offset, color="0.85", zorder=0, label="fade")


def plot_transition(transition, inputs=None, show: Sequence[int] | None = None, crop=None, size: float = 2.2):
    """A fade rendered in pixel and in embedding space (:func:`vstlib.transitions.compare_transition`),
    frames side by side and statistics along time; returns the figure.

    Top two rows: the pixel mix and the embedding path at the frames ``show`` (default: the last
    frame before the fade, mid-fade and the first frame after it), each titled with ``w_t``, and a
    last column with a zoomed crop of mid-fade (the frame of ``show`` closest to ``w = 1/2``), where
    the pixel mix shows two brushstroke patterns at once. ``crop``: ``(top, left, side)`` in pixels
    (default: the centred square of a third of the shorter side); it is outlined on that frame.

    Bottom row: :func:`vstlib.transitions.energy_ratio` of both renderings per frame, and, when the
    input frames ``inputs`` [T, 3, H, W] are given, :func:`vstlib.transitions.consecutive_change` of
    both and of the pure styles per consecutive pair (plotted between its two frames); the fade is
    shaded.

    >>> from vstlib.transitions import Transition
    >>> g = torch.Generator().manual_seed(0)
    >>> a, b = torch.rand(6, 3, 16, 20, generator=g), torch.rand(6, 3, 16, 20, generator=g)
    >>> w = [0, 0, 0.25, 0.5, 1, 1]
    >>> t = torch.tensor(w)[:, None, None, None]
    >>> fig = plot_transition(Transition(w, a, b, (1 - t) * a + t * b, (a + b) / 2))
    >>> len(fig.axes), fig.axes[-1].get_ylabel()
    (9, 'texture energy ratio')
    >>> plt.close(fig)
    """
    from matplotlib.patches import Rectangle

    from .transitions import consecutive_change, energy_ratio

    w = list(transition.weights)
    n = len(w)
    if show is None:
        inside = np.flatnonzero((np.asarray(w) > 0) & (np.asarray(w) < 1))
        show = ([max(0, int(inside[0]) - 1), _mid_fade(w), min(n - 1, int(inside[-1]) + 1)] if inside.size
                else [0, n // 2, n - 1])
        show = list(dict.fromkeys(show))
    show = [int(i) for i in show]
    if not show or any(not 0 <= i < n for i in show):
        raise ValueError(f"show must list frame indices in 0..{n - 1}, got {show}")
    mid = min(show, key=lambda i: (abs(w[i] - 0.5), i))
    h, wd = transition.pixel.shape[-2:]
    if crop is None:
        side = max(4, min(h, wd) // 3)
        crop = ((h - side) // 2, (wd - side) // 2, side)
    top, left, side = (int(v) for v in crop)
    if side < 1 or top < 0 or left < 0 or top + side > h or left + side > wd:
        raise ValueError(f"crop {crop} (top, left, side) does not fit a {wd}x{h} frame")
    ncols = len(show) + 1
    ratio = wd / h
    fig = plt.figure(figsize=(size * (ratio * len(show) + 1) + 0.6, 2 * size + 0.6 + 2.6))
    gs = fig.add_gridspec(3, ncols, width_ratios=[ratio] * len(show) + [1], height_ratios=[size, size, 2.6])
    rows = (("pixel", transition.pixel), ("embedding", transition.embedding))
    for r, (name, frames) in enumerate(rows):
        for c, i in enumerate(show):
            ax = fig.add_subplot(gs[r, c])
            ax.imshow(as_image(frames[i]))
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(f"{name}, frame {i}, w = {w[i]:.2f}", fontsize=8)
            if i == mid:
                ax.add_patch(Rectangle((left - 0.5, top - 0.5), side, side, fill=False, edgecolor="yellow", linewidth=1))
        ax = fig.add_subplot(gs[r, ncols - 1])
        ax.imshow(as_image(frames[mid][:, top:top + side, left:left + side]), interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(f"{name}, zoom (frame {mid})", fontsize=8)
    bottom = gs[2, :].subgridspec(1, 2 if inputs is not None else 1, wspace=0.3)
    ax_e = fig.add_subplot(bottom[0, 0])
    x = np.arange(n)
    for name in ("pixel", "embedding"):
        ax_e.plot(x, energy_ratio(transition, name), marker="o", markersize=3, label=name)
    _shade_fade(ax_e, w)
    ax_e.set_xlabel("frame")
    ax_e.set_ylabel("texture energy ratio")
    ax_e.grid(True, alpha=0.3)
    ax_e.legend(fontsize=8)
    if inputs is not None:
        if inputs.shape != transition.pixel.shape:
            raise ValueError(f"inputs {list(inputs.shape)} must match the rendered frames {list(transition.pixel.shape)}")
        ax_c = fig.add_subplot(bottom[0, 1])
        xp = np.arange(n - 1) + 0.5
        for name, style in (("pixel", "-"), ("embedding", "-"), ("style_a", ":"), ("style_b", ":")):
            ax_c.plot(xp, consecutive_change(inputs, getattr(transition, name)), linestyle=style, marker="o",
                      markersize=3, label=name.replace("_", " "))
        _shade_fade(ax_c, w)
        ax_c.set_xlabel("frame")
        ax_c.set_ylabel("consecutive change (E_warp)")
        ax_c.grid(True, alpha=0.3)
        ax_c.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_stabilizer_ghosting(frame, network, stabilized, mask_stab, mask_indep, title: str | None = None,
                             size: float = 2.2):
    """What a temporal stabilizer (:class:`vstlib.stabilize.Stabilizer`) changed at one frame, cropped
    to the square where an independent flow finds the most disoccluded pixels (where ghosting shows).

    Six panels: the input frame, the network's output, the stabilized output, their difference
    ``|stabilized - network|`` (mean over channels, x4, grey), the stabilizer's reliability mask and
    the independent flow's occlusion mask (1 = the flow is trusted, 0 = disoccluded).

    Args:
        frame, network, stabilized: images of equal size in any vstlib form (``[H, W, 3]`` uint8,
            ``[1, 3, H, W]`` in [0, 1], ...).
        mask_stab, mask_indep: ``[H, W]`` in [0, 1], e.g. :meth:`Stabilizer.reliability`'s mask and
            :func:`vstlib.flow.occlusion_mask` of another flow.
        title: figure title.

    Returns:
        the figure.

    >>> import numpy as np
    >>> f = np.zeros((32, 48, 3), np.uint8)
    >>> m = np.ones((32, 48))
    >>> len(plot_stabilizer_ghosting(f, f, f, m, m).axes)
    6
    """
    import torch.nn.functional as F

    images = [as_image(x) for x in (frame, network, stabilized)]
    masks = [np.asarray(m, dtype=np.float32) for m in (mask_stab, mask_indep)]
    h, w = masks[1].shape
    if any(im.shape[:2] != (h, w) or im.ndim != 3 for im in images) or masks[0].shape != (h, w):
        raise ValueError("plot_stabilizer_ghosting needs three colour images and two masks of one size, got "
                         + ", ".join(str(x.shape) for x in images + masks))
    side = min(h, w, max(48, min(h, w) // 2))
    # the side x side window with the most disoccluded pixels (a box filter, valid positions only)
    holes = torch.from_numpy(1 - masks[1])[None, None]
    density = F.avg_pool2d(holes, side, stride=1)[0, 0].numpy()
    y0, x0 = (int(v) for v in np.unravel_index(np.argmax(density), density.shape))
    crop = (slice(y0, y0 + side), slice(x0, x0 + side))
    diff = np.abs(images[2] - images[1]).mean(-1)
    grey = np.repeat(np.clip(diff[crop] * 4, 0, 1)[..., None], 3, -1)
    panels = [images[0][crop], images[1][crop], images[2][crop], grey, masks[0][crop], masks[1][crop]]
    fig = show_images(panels, titles=["input t", "network output", "stabilized", "|stabilized - network| x4",
                                      "stabilizer's mask", "independent flow's mask"], ncols=6, size=size)
    for ax in fig.axes[4:]:
        ax.images[0].set_clim(0, 1)  # masks on a fixed scale, not their own range
    if title:
        fig.suptitle(title, y=1.04)
    return fig


# -- foreground/background segmentation (notebook 07 and the report) -------------------------

_OUTLINE_COLOURS = ("tab:orange", "tab:cyan", "tab:pink", "tab:olive", "tab:purple", "tab:red", "tab:green")


def _image_list(images) -> list[np.ndarray]:
    """A batch (tensor [N, 3, H, W], uint8 array [N, H, W, 3]) or a sequence of images -> list of :func:`as_image` arrays."""
    if isinstance(images, (torch.Tensor, np.ndarray)) and images.ndim == 4:
        return [as_image(images[i]) for i in range(images.shape[0])]
    return [as_image(im) for im in images]


def _mask_list(masks) -> list[np.ndarray]:
    """Masks [N, 1, H, W] or [N, H, W] (tensor or array), or a sequence of [H, W] (or [1, H, W],
    [1, 1, H, W]) masks -> list of float arrays [H, W]."""
    if isinstance(masks, torch.Tensor):
        masks = masks.detach().to("cpu", torch.float32).numpy()
    if isinstance(masks, np.ndarray):
        if masks.ndim == 4 and masks.shape[1] == 1:
            masks = masks[:, 0]
        if masks.ndim != 3:
            raise ValueError(f"expected masks [N, 1, H, W] or [N, H, W], got shape {masks.shape}")
        return [m.astype(np.float64) for m in masks]
    out = []
    for m in masks:
        m = m.detach().to("cpu", torch.float32).numpy() if isinstance(m, torch.Tensor) else np.asarray(m)
        m = m.reshape(m.shape[-2:]) if m.ndim > 2 and all(s == 1 for s in m.shape[:-2]) else m
        if m.ndim != 2:
            raise ValueError(f"expected one mask [H, W] per frame, got shape {m.shape}")
        out.append(m.astype(np.float64))
    return out


def _outline(ax, mask: np.ndarray, threshold: float, colour: str) -> bool:
    """Draw the ``threshold`` level of ``mask`` on ``ax``; False when the mask never crosses it."""
    if not (mask.min() < threshold < mask.max()):
        return False
    ax.contour(mask, levels=[threshold], colors=[colour], linewidths=1.2)
    return True


def plot_masks(frames, masks, titles: Sequence[str] | None = None, threshold: float = 0.5, size: float = 2.0):
    """Frames and their foreground masks from one or several backends; returns the figure.

    The first row shows the frames, each with the outline (the ``threshold`` level) of every
    backend's mask in that backend's colour; each further row shows one backend's masks in grey
    on a fixed scale (black 0, white 1), labelled in the colour of its outline and titled with
    the mask's mean (the fraction of the frame it covers).

    Args:
        frames: N images (a tensor [N, 3, H, W], or a sequence in any form :func:`as_image` takes).
        masks: ``{label: N masks}`` (each a tensor or array [N, 1, H, W] or [N, H, W], or a sequence
            of N masks [H, W]) in [0, 1], one row each; or one set of N masks (labelled "mask").
        titles: N column titles (e.g. the frames' times).

    >>> fig = plot_masks(torch.rand(2, 3, 8, 12), {"a": torch.rand(2, 1, 8, 12), "b": torch.zeros(2, 8, 12)})
    >>> len(fig.axes), fig.axes[2].get_ylabel(), fig.axes[4].get_title()
    (6, 'a', 'mean 0.00')
    >>> plt.close(fig)
    """
    images = _image_list(frames)
    sets = dict(masks) if isinstance(masks, Mapping) else {"mask": masks}
    sets = {label: _mask_list(m) for label, m in sets.items()}
    n = len(images)
    if n == 0 or not sets:
        raise ValueError("plot_masks needs at least one frame and one set of masks")
    if titles is not None and len(titles) != n:
        raise ValueError(f"got {len(titles)} titles for {n} frames")
    for label, ms in sets.items():
        if len(ms) != n:
            raise ValueError(f"{len(ms)} masks for '{label}' but {n} frames")
        for m, im in zip(ms, images):
            if m.shape != im.shape[:2]:
                raise ValueError(f"mask of '{label}' is {m.shape[1]}x{m.shape[0]}, its frame {im.shape[1]}x{im.shape[0]}")
    h, w = images[0].shape[:2]
    rows = 1 + len(sets)
    fig, axes = plt.subplots(rows, n, figsize=(n * size * w / h + 0.4, rows * (size + 0.3)), squeeze=False)
    colours = {label: _OUTLINE_COLOURS[k % len(_OUTLINE_COLOURS)] for k, label in enumerate(sets)}
    for j, image in enumerate(images):
        ax = axes[0, j]
        ax.imshow(image)
        for label, ms in sets.items():
            _outline(ax, ms[j], threshold, colours[label])
        if titles is not None:
            ax.set_title(titles[j], fontsize=9)
    for r, (label, ms) in enumerate(sets.items(), 1):
        for j, m in enumerate(ms):
            ax = axes[r, j]
            ax.imshow(m, cmap="gray", vmin=0, vmax=1, interpolation="nearest" if max(m.shape) < 128 else "antialiased")
            ax.set_title(f"mean {m.mean():.2f}", fontsize=8)
        axes[r, 0].set_ylabel(label, color=colours[label], fontsize=9)
    axes[0, 0].set_ylabel(f"frame, outlines at m = {threshold:g}", fontsize=8)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    return fig


def seam_window(mask, side: int | None = None, threshold: float = 0.5) -> tuple[int, int, int]:
    """``(top, left, side)``: the square window of ``side`` pixels (default: a third of the shorter
    side) holding the most pixels of the boundary of ``mask > threshold`` (a mask [H, W], [1, H, W]
    or [1, 1, H, W]); the centred window when the mask has no boundary.

    >>> m = torch.zeros(30, 60); m[10:20, 40:50] = 1
    >>> top, left, side = seam_window(m)
    >>> side, top <= 10 and top + side >= 20 and left <= 40 and left + side >= 50
    (10, True)
    """
    import torch.nn.functional as F

    (m,) = _mask_list([mask])
    h, w = m.shape
    side = max(1, min(h, w) // 3) if side is None else int(side)
    if not 1 <= side <= min(h, w):
        raise ValueError(f"a window of {side} pixels does not fit a {w}x{h} mask")
    hard = torch.from_numpy(m > threshold).float()[None, None]
    boundary = (F.max_pool2d(hard, 3, 1, 1) + F.max_pool2d(-hard, 3, 1, 1)) > 0  # dilated minus eroded
    if not boundary.any():
        return (h - side) // 2, (w - side) // 2, side
    density = F.avg_pool2d(boundary.float(), side, stride=1)[0, 0].numpy()
    # among equally good windows, the one closest to the boundary's centre of mass
    ys, xs = np.nonzero(boundary[0, 0].numpy())
    best = np.argwhere(density >= density.max() - 1e-9)
    centre = np.array([ys.mean() - (side - 1) / 2, xs.mean() - (side - 1) / 2])
    top, left = best[np.argmin(((best - centre) ** 2).sum(axis=1))]
    return int(top), int(left), side


def plot_variants(frame, outputs: Mapping[str, object], mask, crop=None, scores: Mapping[str, float] | None = None,
                  score_name: str = "seam", threshold: float = 0.5, size: float = 2.4, title: str | None = None):
    """Several renderings of one frame side by side, with a zoomed crop of the seam; returns the figure.

    Top row: the frame, with the outline of ``mask > threshold``, then every output, with the crop
    outlined. Bottom row: that crop of each, enlarged (nearest-neighbour, so single pixels show).

    Args:
        frame: the input frame, any form :func:`as_image` takes.
        outputs: ``{label: image}`` of the frame's size (e.g. the four ``--edges`` variants).
        mask: the foreground mask [H, W] (or [1, H, W], [1, 1, H, W]) in [0, 1].
        crop: ``(top, left, side)`` in pixels; default :func:`seam_window` of the mask.
        scores: ``{label: number}`` added to the titles as ``score_name = value`` (e.g. :func:`vstlib.composite.seam_energy`).
        title: the figure's title, above the panels' own.

    >>> m = torch.zeros(1, 1, 24, 40); m[..., 6:18, 10:22] = 1
    >>> fig = plot_variants(torch.rand(1, 3, 24, 40), {"a": torch.rand(1, 3, 24, 40)}, m, scores={"a": 1.5})
    >>> len(fig.axes), fig.axes[1].get_title()
    (4, 'a\\nseam = 1.50')
    >>> plt.close(fig)
    """
    from matplotlib.patches import Rectangle

    image = as_image(frame)
    rendered = {label: as_image(out) for label, out in outputs.items()}
    (m,) = _mask_list([mask])
    h, w = image.shape[:2]
    if not rendered:
        raise ValueError("plot_variants needs at least one output")
    for label, out in rendered.items():
        if out.shape[:2] != (h, w):
            raise ValueError(f"output '{label}' is {out.shape[1]}x{out.shape[0]}, the frame {w}x{h}")
    if m.shape != (h, w):
        raise ValueError(f"the mask is {m.shape[1]}x{m.shape[0]}, the frame {w}x{h}")
    top, left, side = seam_window(m) if crop is None else (int(v) for v in crop)
    if side < 1 or top < 0 or left < 0 or top + side > h or left + side > w:
        raise ValueError(f"crop {crop} (top, left, side) does not fit a {w}x{h} frame")
    panels = [("input", image)] + list(rendered.items())
    ratio = w / h
    fig = plt.figure(figsize=(len(panels) * size * ratio + 0.4, size + size * ratio + 0.9))
    gs = fig.add_gridspec(2, len(panels), height_ratios=[1, ratio])
    window = (slice(top, top + side), slice(left, left + side))
    for j, (label, im) in enumerate(panels):  # the top row first: fig.axes[:len(panels)]
        ax = fig.add_subplot(gs[0, j])
        ax.imshow(im)
        if j == 0:
            _outline(ax, m, threshold, _OUTLINE_COLOURS[0])
        ax.add_patch(Rectangle((left - 0.5, top - 0.5), side, side, fill=False, edgecolor="yellow", linewidth=1))
        score = (scores or {}).get(label)
        ax.set_title(label if score is None else f"{label}\n{score_name} = {score:.2f}", fontsize=9)
    for j, (label, im) in enumerate(panels):
        zoom = fig.add_subplot(gs[1, j])
        zoom.imshow(im[window], interpolation="nearest")
        if j == 0:
            _outline(zoom, m[window], threshold, _OUTLINE_COLOURS[0])
        zoom.set_title(f"zoom ({side}x{side} px)" if j == 0 else "zoom", fontsize=8)
    for ax in fig.axes:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    if title:
        fig.suptitle(title, y=1.03)
    return fig


def mask_flicker_curve(masks, frames=None, flow: str = "dis") -> np.ndarray:
    """:func:`vstlib.segment.mask_flicker` of every consecutive pair of a mask stream ([T, 1, H, W]
    or [T, H, W]): entry t-1 compares masks t-1 and t (along the motion of ``frames`` when given,
    [T, 3, H, W] in [0, 1] or uint8 [T, H, W, 3]). Without frames its mean is ``mask_flicker(masks)``;
    with frames, a pair without reliable flow (a shot cut) scores 0 here, where ``mask_flicker`` of
    the whole stream skips it.

    >>> blink = torch.zeros(3, 1, 2, 2); blink[1, 0, 0] = 1  # the top row appears, then goes
    >>> mask_flicker_curve(blink).tolist()
    [0.5, 0.5]
    """
    from .segment import mask_flicker

    ms = np.stack(_mask_list(masks)).astype(np.float32)
    if frames is not None and len(frames) != len(ms):
        raise ValueError(f"{len(ms)} masks but {len(frames)} frames")
    return np.asarray([mask_flicker(ms[t - 1:t + 1], None if frames is None else frames[t - 1:t + 1], flow=flow)
                       for t in range(1, len(ms))])


def plot_mask_flicker(masks: Mapping[str, object], frames=None, fps: float | None = None, flow: str = "dis",
                      size: float = 2.2):
    """How much mask streams flicker, along time and where; returns the figure.

    Top: one curve per stream, :func:`mask_flicker_curve` (entry t: masks t-1 and t, along the
    motion of ``frames`` when given), the legend giving the curve's mean. Bottom: per stream, the
    mean absolute change of each pixel between consecutive masks, ``mean_t |m_t - m_{t-1}|``
    (not motion-compensated: a moving edge shows too), all on one colour scale.

    Args:
        masks: ``{label: masks [T, 1, H, W] or [T, H, W]}`` (e.g. raw and stabilized), T >= 2.
        frames: the input frames [T, 3, H, W] in [0, 1] (or uint8 [T, H, W, 3]), or None (static camera).
        fps: with it the x axis is in seconds, else in frames.

    >>> steady, blink = torch.zeros(3, 1, 2, 2), torch.zeros(3, 1, 2, 2); blink[1, 0, 0] = 1
    >>> fig = plot_mask_flicker({"steady": steady, "blink": blink})
    >>> [line.get_label() for line in fig.axes[0].get_lines()]
    ['steady (mean 0.0000)', 'blink (mean 0.5000)']
    >>> plt.close(fig)
    """
    if not masks:
        raise ValueError("plot_mask_flicker needs at least one mask stream")
    streams = {label: np.stack(_mask_list(m)) for label, m in masks.items()}
    for label, ms in streams.items():
        if len(ms) < 2:
            raise ValueError(f"'{label}': a flicker curve needs at least two masks, got {len(ms)}")
    maps = {label: np.abs(np.diff(ms, axis=0)).mean(axis=0) for label, ms in streams.items()}
    top = max(float(mp.max()) for mp in maps.values()) or 1.0
    h, w = next(iter(maps.values())).shape
    n = len(streams)
    fig = plt.figure(figsize=(max(6.0, n * size * w / h + 1.0), 2.8 + size + 0.5))
    gs = fig.add_gridspec(2, n, height_ratios=[2.8, size])
    ax = fig.add_subplot(gs[0, :])
    for label, ms in streams.items():
        curve = mask_flicker_curve(ms, frames, flow=flow)
        x = np.arange(1, len(ms))
        ax.plot(x / fps if fps else x, curve, marker="o", markersize=3, label=f"{label} (mean {curve.mean():.4f})")
    ax.set_xlabel("time (s)" if fps else "frame")
    ax.set_ylabel("mask flicker" + (" (along the flow)" if frames is not None else ""))
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    for j, (label, mp) in enumerate(maps.items()):
        a = fig.add_subplot(gs[1, j])
        a.imshow(mp, cmap="magma", vmin=0, vmax=top, interpolation="nearest" if max(mp.shape) < 128 else "antialiased")
        a.set_title(f"{label}: mean |m_t - m_(t-1)|", fontsize=8)
        a.set_xticks([])
        a.set_yticks([])
    fig.tight_layout()
    return fig


# ------------------------------------------------------------------------------------------
# Evaluation figures (notebook 09 and the report's Evaluation section): rows of
# vstlib.evaluate.Results.table() in, a Figure out.
# ------------------------------------------------------------------------------------------


def _better(metric: str) -> str:
    """"lower" or "higher": which way ``metric`` is better (vstlib.evaluate.METRICS; else lower)."""
    from .evaluate import METRICS

    return METRICS.get(metric, ("", "lower"))[1]


def pareto_front(points, better: Sequence[str] = ("lower", "lower")) -> list[int]:
    """The indices of the points no other point beats: none is at least as good in every
    coordinate and better in one (``better``: "lower" or "higher" per coordinate). Sorted by the
    first coordinate, ascending; equal points are all on the front.

    >>> pareto_front([(1, 5), (2, 2), (3, 3), (4, 1), (2, 2)])  # (3, 3) is beaten by (2, 2)
    [0, 1, 4, 3]
    >>> pareto_front([(1, 0.5), (2, 0.9), (3, 0.7)], better=("lower", "higher"))
    [0, 1]
    """
    p = np.asarray(points, dtype=np.float64).reshape(len(points), -1)
    if len(better) != p.shape[1] or any(b not in ("lower", "higher") for b in better):
        raise ValueError(f"better needs 'lower' or 'higher' for each of the {p.shape[1]} coordinates, got {better}")
    q = p * np.where(np.asarray(better) == "lower", 1.0, -1.0)  # lower is better in every column of q
    front = [i for i in range(len(q)) if not any(np.all(q[j] <= q[i]) and np.any(q[j] < q[i]) for j in range(len(q)))]
    return sorted(front, key=lambda i: (p[i, 0], i))


def _plotted_rows(rows: Sequence[Mapping], *metrics: str) -> list[Mapping]:
    """The rows measured (status ok) that have a value for every metric."""
    return [r for r in rows if r.get("status", "ok") == "ok" and all(r.get(m) is not None for m in metrics)]


def _point_labels(rows: Sequence[Mapping]) -> list[str]:
    """A row's variant label, with its painting when the rows hold several paintings."""
    from pathlib import Path

    styles = {r.get("style") for r in rows}
    return [str(r.get("label", i)) + (f" ({Path(str(r['style'])).stem.split('_')[0]})" if len(styles) > 1 else "")
            for i, r in enumerate(rows)]


def _axis_label(metric: str) -> str:
    return f"{metric} ({_better(metric)} is better)"


def _log_axis(ax, axis) -> None:
    """A log scale labelled at 1, 2, 3 and 5 times each power of ten (no crowded minor labels)."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    def label(value, _):
        if value <= 0 or 1e-3 <= value < 1e4:
            return f"{value:g}"
        exponent = math.floor(math.log10(value) + 1e-9)
        mantissa = round(value / 10**exponent, 2)
        return f"$10^{{{exponent}}}$" if mantissa == 1 else f"${mantissa:g}\\times10^{{{exponent}}}$"

    (ax.set_xscale if axis is ax.xaxis else ax.set_yscale)("log")
    axis.set_major_locator(LogLocator(subs=(1.0, 2.0, 3.0, 5.0)))
    axis.set_major_formatter(FuncFormatter(label))
    axis.set_minor_formatter(NullFormatter())


def _scatter_front(ax, rows: Sequence[Mapping], x: str, y: str, logx: bool, logy: bool, spread: bool) -> list[int]:
    """One labelled point per row and the Pareto front as a staircase; returns the front's indices."""
    from matplotlib.lines import Line2D

    rows = _plotted_rows(rows, x, y)
    if not rows:
        raise ValueError(f"no measured row has both {x} and {y}")
    xs, ys = np.array([r[x] for r in rows], float), np.array([r[y] for r in rows], float)
    bx, by = _better(x), _better(y)
    front = pareto_front(np.stack([xs, ys], axis=1), (bx, by))
    colours = plt.get_cmap("tab20")(np.arange(len(rows)) % 20)
    on_front = np.isin(np.arange(len(rows)), front)
    ax.scatter(xs[~on_front], ys[~on_front], s=36, c=colours[~on_front], edgecolors="0.4", zorder=3)
    ax.scatter(xs[on_front], ys[on_front], s=64, c=colours[on_front], edgecolors="k", linewidths=1.5, zorder=4)
    if spread:  # the spread over clips and seeds: min to max
        for r, xv, yv, c in zip(rows, xs, ys, colours):
            lo = [[xv - r.get(f"{x}_min", xv)], [r.get(f"{x}_max", xv) - xv]]
            hi = [[yv - r.get(f"{y}_min", yv)], [r.get(f"{y}_max", yv) - yv]]
            ax.errorbar([xv], [yv], xerr=lo, yerr=hi, color=c, alpha=0.4, linewidth=1, zorder=2)
    # the boundary of what the front dominates: horizontal first when x is better lower
    ax.plot(xs[front], ys[front], color="k", linestyle="--", linewidth=1,
            drawstyle="steps-post" if bx == "lower" else "steps-pre", zorder=2, label="Pareto front")
    for label, xv, yv in zip(_point_labels(rows), xs, ys):
        ax.annotate(label, (xv, yv), xytext=(4, 4), textcoords="offset points", fontsize=8)
    for axis, log in ((ax.xaxis, logx), (ax.yaxis, logy)):
        if log:
            _log_axis(ax, axis)
    ax.set_xlabel(_axis_label(x))
    ax.set_ylabel(_axis_label(y))
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(handles=[Line2D([], [], color="k", linestyle="--", linewidth=1, label="Pareto front"),
                       Line2D([], [], marker="o", linestyle="", markerfacecolor="0.8", markeredgecolor="k",
                              markeredgewidth=1.5, label="on the front")], fontsize=8, loc="best")
    return front


def plot_pareto(rows: Sequence[Mapping], x: str = "e_warp_farneback", y: str = "style_gram", logx: bool = True,
                logy: bool = True, spread: bool = False, ax=None, title: str | None = None):
    """Each row (a variant, e.g. ``Results.table()`` for one painting) as a labelled point of two
    metrics, and the Pareto front: the rows no other row beats on both (drawn as the staircase
    that bounds what they dominate, its points outlined in black); returns the figure.

    Which way each metric is better comes from :data:`vstlib.evaluate.METRICS` (lower unless
    it says higher), and the axis labels say it. Rows that are not available or lack a
    value are left out. ``spread``: min-max bars over the row's clips and seeds (``m_min``,
    ``m_max``). When the rows hold several paintings, each point's label names its painting.

    >>> rows = [{"label": "a", "e_warp_farneback": 1.0, "style_gram": 4.0},
    ...         {"label": "b", "e_warp_farneback": 2.0, "style_gram": 1.0},
    ...         {"label": "c", "e_warp_farneback": 3.0, "style_gram": 3.0}]
    >>> fig = plot_pareto(rows)
    >>> [t.get_text() for t in fig.axes[0].texts[:3]], fig.axes[0].get_lines()[0].get_xdata().tolist()
    (['a', 'b', 'c'], [1.0, 2.0])
    >>> plt.close(fig)
    """
    fig = ax.figure if ax is not None else plt.subplots(figsize=(6.5, 4.8))[0]
    ax = ax if ax is not None else fig.axes[0]
    _scatter_front(ax, rows, x, y, logx, logy, spread)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig


def plot_speed_quality(rows: Sequence[Mapping], quality: Sequence[str] = ("style_gram", "e_warp_farneback"),
                       speed: str = "seconds_per_frame", logy: bool = True, size: float = 4.2,
                       title: str | None = None):
    """Speed against quality: one panel per metric of ``quality``, seconds per frame (log scale)
    across, the metric up, each row a labelled point, and the front of rows that no other row
    beats on both speed and that metric; returns the figure. Rows without a time (the ``none``
    variant) are left out.

    >>> rows = [{"label": "slow", "seconds_per_frame": 10.0, "style_gram": 1.0, "e_warp_farneback": 2.0},
    ...         {"label": "fast", "seconds_per_frame": 0.01, "style_gram": 3.0, "e_warp_farneback": 1.0},
    ...         {"label": "none", "seconds_per_frame": None, "style_gram": 9.0, "e_warp_farneback": 0.1}]
    >>> fig = plot_speed_quality(rows)
    >>> len(fig.axes), fig.axes[0].get_xscale(), [t.get_text() for t in fig.axes[1].texts[:2]]
    (2, 'log', ['slow', 'fast'])
    >>> plt.close(fig)
    """
    quality = [quality] if isinstance(quality, str) else list(quality)
    if not quality:
        raise ValueError("plot_speed_quality needs at least one quality metric")
    fig, axes = plt.subplots(1, len(quality), figsize=(size * 1.3 * len(quality), size), squeeze=False)
    for ax, metric in zip(axes[0], quality):
        _scatter_front(ax, rows, speed, metric, True, logy, False)
        ax.set_xlabel(f"{speed} (log scale; lower is better)")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def _centre_crop(h: int, w: int) -> tuple[int, int, int]:
    side = max(1, min(h, w) // 3)
    return (h - side) // 2, (w - side) // 2, side


def plot_method_grid(outputs: Mapping[str, Sequence], inputs: Sequence | None = None,
                     frame_titles: Sequence[str] | None = None, crop=None, zoom: Sequence[int] | None = None,
                     size: float = 1.4, title: str | None = None):
    """Every method on the same frames, one row per method, with zoomed crops; returns the figure.

    Args:
        outputs: ``{label: k frames}`` (a list of images in any form :func:`as_image` takes, or a
            uint8 array ``[k, H, W, 3]`` such as ``Results.frames(...)["output"]``), all of one size.
        inputs: the k input frames, drawn as the first row ("input").
        frame_titles: k column titles (default "frame 0", "frame 1", ...).
        crop: ``(top, left, side)`` of the zoomed square in pixels (default: the centre, a third of
            the shorter side), outlined in yellow on the frames it zooms.
        zoom: the frames (0 ... k-1) whose crop gets a column of its own, enlarged with
            nearest-neighbour interpolation (default: the middle one; ``[]``: none).
        size: the height of one row in inches.

    >>> frames = np.zeros((3, 12, 18, 3), np.uint8)
    >>> fig = plot_method_grid({"a": frames, "b": frames + 255}, inputs=frames)
    >>> len(fig.axes), fig.axes[0].get_ylabel(), fig.axes[3].get_title()  # 3 rows x (3 frames + 1 zoom)
    (12, 'input', 'zoom of frame 1')
    >>> plt.close(fig)
    """
    from matplotlib.patches import Rectangle

    rows = ([("input", inputs)] if inputs is not None else []) + list(outputs.items())
    if not outputs:
        raise ValueError("plot_method_grid needs at least one method's frames")
    images = [(label, [as_image(f) for f in frames]) for label, frames in rows]
    k = len(images[0][1])
    h, w = images[0][1][0].shape[:2]
    for label, frames in images:
        if len(frames) != k:
            raise ValueError(f"'{label}' has {len(frames)} frames, '{images[0][0]}' {k}")
        if any(f.shape[:2] != (h, w) for f in frames):
            raise ValueError(f"the frames of '{label}' are not all {w}x{h}")
    if frame_titles is not None and len(frame_titles) != k:
        raise ValueError(f"got {len(frame_titles)} frame titles for {k} frames")
    zoom = [k // 2] if zoom is None else [int(z) for z in zoom]
    if any(not 0 <= z < k for z in zoom):
        raise ValueError(f"zoom {zoom} names frames outside 0..{k - 1}")
    top, left, side = _centre_crop(h, w) if crop is None else (int(v) for v in crop)
    if side < 1 or top < 0 or left < 0 or top + side > h or left + side > w:
        raise ValueError(f"crop {crop} (top, left, side) does not fit a {w}x{h} frame")
    titles = list(frame_titles) if frame_titles is not None else [f"frame {j}" for j in range(k)]
    ratios = [w / h] * k + [1.0] * len(zoom)
    fig, axes = plt.subplots(len(images), k + len(zoom), squeeze=False, gridspec_kw={"width_ratios": ratios},
                             figsize=(size * sum(ratios) + 0.6, size * len(images) + 0.4))
    smooth = "nearest" if max(h, w) < 128 else "antialiased"
    for r, (label, frames) in enumerate(images):
        for j, frame in enumerate(frames):
            ax = axes[r, j]
            ax.imshow(frame, interpolation=smooth)
            if j in zoom:
                ax.add_patch(Rectangle((left - 0.5, top - 0.5), side, side, fill=False, edgecolor="yellow",
                                       linewidth=1))
        for c, z in enumerate(zoom, k):
            axes[r, c].imshow(frames[z][top:top + side, left:left + side], interpolation="nearest")
        axes[r, 0].set_ylabel(label, fontsize=9)
    for j in range(k + len(zoom)):
        axes[0, j].set_title(titles[j] if j < k else f"zoom of {titles[zoom[j - k]]}", fontsize=9)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_warping_error_maps(maps: Mapping[str, object], frame=None, vmax: float | None = None,
                            ncols: int | None = None, size: float = 2.2, title: str | None = None):
    """Per-pixel warping error maps (:func:`vstlib.metrics.warping_error_map`) as heat maps on one
    colour scale, pixels not compared (NaN) in grey, each titled with its mean, the pair's E_warp;
    returns the figure.

    Args:
        maps: ``{label: [H, W] map}``, e.g. from :func:`vstlib.metrics.warping_error_maps`.
        frame: the input frame t, drawn first ("input"), any form :func:`as_image` takes.
        vmax: the top of the colour scale (default: the 99th percentile of all compared pixels,
            so that a few extreme pixels do not wash out the rest; brighter ones saturate).
        ncols: panels per row (default: up to 4).

    >>> m = np.zeros((6, 8)); m[0, 0] = np.nan; m[1, 1] = 0.7
    >>> fig = plot_warping_error_maps({"a": m, "b": m / 2})
    >>> fig.axes[0].get_title(), fig.axes[0].get_images()[0].get_clim() == fig.axes[1].get_images()[0].get_clim()
    ('a\\nE_warp = 0.0149', True)
    >>> plt.close(fig)
    """
    if not maps:
        raise ValueError("plot_warping_error_maps needs at least one map")
    arrays = {label: np.asarray(m, dtype=np.float64).squeeze() for label, m in maps.items()}
    shapes = {a.shape for a in arrays.values()}
    if len(shapes) != 1 or len(next(iter(shapes))) != 2:
        raise ValueError(f"the maps must all be [H, W] of one size, got shapes {sorted(shapes)}")
    values = np.concatenate([a[np.isfinite(a)] for a in arrays.values()])
    if vmax is None:
        vmax = float(np.percentile(values, 99)) if values.size else 1.0
    vmax = vmax if vmax > 0 else 1.0
    panels = ([("input", as_image(frame))] if frame is not None else []) + list(arrays.items())
    nrows, ncols = _grid(len(panels), ncols or 4)
    h, w = next(iter(shapes))
    fig, axes = plt.subplots(nrows, ncols, figsize=(ncols * size * w / h + 1.0, nrows * (size + 0.45)),
                             squeeze=False, layout="constrained")
    cmap = plt.get_cmap("magma").with_extremes(bad="0.6")
    smooth = "nearest" if max(h, w) < 128 else "antialiased"
    heat = None
    map_axes = []
    for ax, (label, image) in zip(axes.flat, panels):
        if frame is not None and ax is axes.flat[0]:
            ax.imshow(image, interpolation=smooth)
            ax.set_title(label, fontsize=9)
        else:
            heat = ax.imshow(np.ma.masked_invalid(image), cmap=cmap, vmin=0.0, vmax=vmax, interpolation=smooth)
            mean = float(np.nanmean(image)) if np.isfinite(image).any() else float("nan")
            ax.set_title(f"{label}\nE_warp = {mean:.4f}", fontsize=9)
            map_axes.append(ax)
        ax.set_xticks([])
        ax.set_yticks([])
    for ax in list(axes.flat)[len(panels):]:
        fig.delaxes(ax)
    fig.colorbar(heat, ax=map_axes, shrink=0.8, label="squared RGB distance (grey: not compared)")
    if title:
        fig.suptitle(title)
    return fig
