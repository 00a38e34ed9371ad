"""Frame-to-frame measurements of video output.

``frame_difference`` is the simplest flicker proxy: the mean absolute change between consecutive
frames. Stylization adds texture that is not tied to the scene, so where the input changes a
little the per-frame output may change a lot; comparing input and output curves shows it.

Moving content changes frames too, so the temporal metrics compensate motion: the next (or
previous) output frame is warped onto the current one with optical flow computed on the *input*
frames, and only pixels the flow can be trusted on (the occlusion mask of
:func:`vstlib.flow.occlusion_mask`, 1 = reliable) count. Three published variants, each exactly
as defined in its paper (values for images in [0, 1]):

* :func:`warping_error`, E_warp of Lai et al. (2018): for the pair (t, t+1),
  ``sum_i M_t(i) |O_t(i) - W(O_{t+1})(i)|^2 / sum_i M_t(i)``, where ``|.|^2`` is the squared
  norm of the RGB vector (summed over channels), ``W`` warps with the flow t -> t+1 and the mask
  lives in frame t. The normalization by the mask makes it a mean over reliable pixels.
  :func:`warping_errors` scores a clip along given forward flows and masks (e.g. ground truth).
* :func:`masked_mse`, Ruder et al. (2016)'s temporal loss as a metric: for the pair (t-1, t),
  ``(1/D) sum_k c_k (x_k - w_k)^2`` with ``w`` frame t-1 warped onto t by the flow t -> t-1 and
  ``D = H W C``: divided by *all* entries, so occluded pixels lower it (it is the quantity
  Ruder's method optimizes).
* :func:`luminance_warping_error`, ReCoNet (Gao et al. 2018)'s output-level temporal loss: the
  output's change minus the input's change in relative luminance
  ``Y = 0.2126 R + 0.7152 G + 0.0722 B`` (Rec. 709), so that lighting changes in the source
  (which the output should follow) are not counted as flicker:
  ``(1/(H W)) sum_c sum_i M(i) ((O_t - W(O_{t-1}))_c(i) - Y(I_t - W(I_{t-1}))(i))^2``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

# Rec. 709 relative luminance weights (R, G, B), as used by ReCoNet.
LUMINANCE_WEIGHTS = np.array([0.2126, 0.7152, 0.0722])


def _as_float(frame) -> np.ndarray:
    if isinstance(frame, torch.Tensor):
        frame = frame.detach().cpu()
        frame = frame[0] if frame.ndim == 4 else frame
        return frame.permute(1, 2, 0).numpy().astype(np.float64)
    frame = np.asarray(frame)
    return frame.astype(np.float64) / 255.0 if frame.dtype == np.uint8 else frame.astype(np.float64)


def frame_difference(frames: Iterable) -> np.ndarray:
    """Mean absolute difference between consecutive frames, in [0, 1] intensity units.

    ``frames``: uint8 arrays [H, W, 3], float arrays in [0, 1], or tensors [1, 3, H, W].
    Returns an array of length ``len(frames) - 1`` (entry t compares frame t+1 with frame t).
    """
    diffs, prev = [], None
    for frame in frames:
        cur = _as_float(frame)
        if prev is not None:
            if cur.shape != prev.shape:
                raise ValueError(f"frame sizes differ: {prev.shape} then {cur.shape}")
            diffs.append(float(np.abs(cur - prev).mean()))
        prev = cur
    return np.asarray(diffs)


def flicker_ratio(input_frames, output_frames) -> float:
    """Mean output frame difference over mean input frame difference (1 = no added flicker)."""
    din, dout = frame_difference(input_frames), frame_difference(output_frames)
    return float(dout.mean() / max(din.mean(), 1e-12))


def _rgb(frame) -> np.ndarray:
    """A frame as float64 [H, W, 3] in [0, 1] (uint8 arrays, float arrays or tensors)."""
    a = _as_float(frame)
    if a.ndim != 3 or a.shape[2] != 3:
        raise ValueError(f"expected an RGB frame [H, W, 3] or [1, 3, H, W], got shape {a.shape}")
    return a


def _mask(mask, shape) -> np.ndarray:
    m = np.asarray(mask.detach().cpu() if isinstance(mask, torch.Tensor) else mask, dtype=np.float64).squeeze()
    if m.shape != tuple(shape[:2]):
        raise ValueError(f"mask of shape {m.shape} does not match frames of shape {shape[:2]}")
    return m


def _warp(image: np.ndarray, flow) -> np.ndarray:
    from .flow import warp

    flow = np.asarray(flow, dtype=np.float32)
    if flow.shape != image.shape[:2] + (2,):
        raise ValueError(f"flow of shape {flow.shape} does not match frames of shape {image.shape[:2]}")
    return warp(np.ascontiguousarray(image, dtype=np.float64), flow)


def warping_error(out_t, out_next, flow_t_next, mask_t) -> float:
    """Lai et al.'s E_warp of one pair: mean over reliable pixels of frame t of the squared RGB
    distance between ``out_t`` and ``out_next`` warped onto frame t (flow t -> t+1, mask in t).

    Returns 0 when no pixel is reliable (nothing can be compared).
    """
    a, b = _rgb(out_t), _rgb(out_next)
    m = _mask(mask_t, a.shape)
    diff2 = ((a - _warp(b, flow_t_next)) ** 2).sum(axis=2)
    total = m.sum()
    return float((m * diff2).sum() / total) if total > 0 else 0.0


def warping_errors(output_frames: Sequence, flows: Sequence, masks: Sequence) -> np.ndarray:
    """E_warp of every consecutive pair of a clip along *given* flows and masks, e.g. MPI-Sintel's
    ground truth, or a flow other than the one a method optimized (:func:`temporal_errors` estimates
    both directions and derives its masks from them; ground truth has only the forward flow).

    Args:
        output_frames: n frames (uint8 ``[H, W, 3]``, float in [0, 1], or tensors ``[1, 3, H, W]``).
        flows: n - 1 forward flows, ``flows[t]`` from frame t to t+1, float ``[H, W, 2]``.
        masks: n - 1 masks in frame t, 1 = reliable (e.g. not occluded in t+1, flow valid).
    Returns:
        float array ``[n - 1]``: :func:`warping_error` of each pair, in [0, 1] units squared.

    >>> a = np.zeros((2, 3, 3)); a[:, 1] = 1.0  # a bright column that moves one pixel right
    >>> right = np.zeros((2, 3, 2), np.float32); right[..., 0] = 1
    >>> ok = np.ones((2, 3)); ok[:, 2] = 0  # the right column leaves the frame
    >>> warping_errors([a, np.roll(a, 1, axis=1)], [right], [ok]).tolist()
    [0.0]
    """
    if not (len(flows) == len(masks) == len(output_frames) - 1):
        raise ValueError(f"{len(output_frames)} frames need {len(output_frames) - 1} flows and masks, "
                         f"got {len(flows)} and {len(masks)}")
    return np.asarray([warping_error(output_frames[t], output_frames[t + 1], flows[t], masks[t])
                       for t in range(len(flows))])


def masked_mse(out_t, out_prev, flow_t_prev, mask_t) -> float:
    """Ruder et al.'s temporal loss of one pair: ``(1/D) sum c (x - w)^2`` over all D = H*W*3
    entries, with ``w`` = ``out_prev`` warped onto frame t (flow t -> t-1, mask in frame t)."""
    x, prev = _rgb(out_t), _rgb(out_prev)
    c = _mask(mask_t, x.shape)
    return float((c[..., None] * (x - _warp(prev, flow_t_prev)) ** 2).mean())


def luminance_warping_error(out_t, out_prev, in_t, in_prev, flow_t_prev, mask_t) -> float:
    """ReCoNet's luminance-compensated output temporal error of one pair (see module docstring):
    per channel, the output change minus the luminance of the input change, squared, masked,
    summed over channels and divided by the number of pixels H*W."""
    o, o_prev, i, i_prev = _rgb(out_t), _rgb(out_prev), _rgb(in_t), _rgb(in_prev)
    if not (o.shape == o_prev.shape == i.shape == i_prev.shape):
        raise ValueError("input and output frames must all have the same size")
    m = _mask(mask_t, o.shape)
    d_out = o - _warp(o_prev, flow_t_prev)
    d_in_y = (i - _warp(i_prev, flow_t_prev)) @ LUMINANCE_WEIGHTS
    return float((m[..., None] * (d_out - d_in_y[..., None]) ** 2).sum() / (o.shape[0] * o.shape[1]))


@dataclass
class TemporalErrors:
    """Per-pair temporal errors of a clip (entry t compares frames t and t+1)."""

    warping_error: np.ndarray  # Lai et al. E_warp
    masked_mse: np.ndarray  # Ruder et al.
    luminance_error: np.ndarray  # ReCoNet
    reliable: np.ndarray  # fraction of reliable pixels (in frame t+1, the mask Ruder and ReCoNet use)
    flow: str = "deepflow"
    extra: dict = field(default_factory=dict)

    def summary(self) -> dict[str, float]:
        """Means over the clip's pairs."""
        return {"warping_error": float(self.warping_error.mean()), "masked_mse": float(self.masked_mse.mean()),
                "luminance_error": float(self.luminance_error.mean()), "reliable": float(self.reliable.mean())}


def temporal_errors(input_frames: Sequence, output_frames: Sequence, flow: str = "deepflow", flows=None,
                    workers: int | None = None, cache_dir=None, progress: bool = False) -> TemporalErrors:
    """All three temporal errors for a stylized clip, with flow and masks computed on the input.

    Args:
        input_frames / output_frames: the source clip and its stylization, same length and size
            (uint8 [H, W, 3] arrays, float arrays in [0, 1], or tensors [1, 3, H, W]).
        flow: the flow backend (see :data:`vstlib.flow.BACKENDS`); flows are cached on disk, so
            scoring several stylizations of one clip computes them once.
        flows: precomputed ``{(a, b): flow a -> b}`` for all consecutive pairs in both directions
            (e.g. ground truth); overrides ``flow``.
    """
    from .flow import clip_pairs, compute_flows, occlusion_mask

    if len(input_frames) != len(output_frames):
        raise ValueError(f"{len(input_frames)} input frames but {len(output_frames)} output frames")
    n = len(input_frames)
    if n < 2:
        raise ValueError("temporal errors need at least two frames")
    ins = [_rgb(f) for f in input_frames]
    outs = [_rgb(f) for f in output_frames]
    if flows is None:
        u8 = [np.round(f * 255).astype(np.uint8) for f in ins]
        flows = compute_flows(u8, clip_pairs(n, (1,)), method=flow, workers=workers, cache_dir=cache_dir,
                              progress=progress)
        flow_name = flow
    else:
        flow_name = "given"
    e_warp, mse, lum, reliable = [], [], [], []
    for t in range(n - 1):
        fwd, bwd = flows[(t, t + 1)], flows[(t + 1, t)]
        mask_t = occlusion_mask(fwd, bwd)  # frame t
        mask_next = occlusion_mask(bwd, fwd)  # frame t+1
        e_warp.append(warping_error(outs[t], outs[t + 1], fwd, mask_t))
        mse.append(masked_mse(outs[t + 1], outs[t], bwd, mask_next))
        lum.append(luminance_warping_error(outs[t + 1], outs[t], ins[t + 1], ins[t], bwd, mask_next))
        reliable.append(float(np.mean(mask_next)))
    return TemporalErrors(np.asarray(e_warp), np.asarray(mse), np.asarray(lum), np.asarray(reliable), flow_name)


def warping_error_map(out_t, out_next, flow_t_next, mask_t=None) -> np.ndarray:
    """Where E_warp comes from: per pixel of frame t, the squared RGB distance between ``out_t`` and
    ``out_next`` warped onto frame t (flow t -> t+1), NaN where ``mask_t`` is 0 (not compared).

    :func:`warping_error` is the mask-weighted mean of this map, so for a 0/1 mask (the occlusion
    masks of :func:`vstlib.flow.occlusion_mask`, the ground-truth masks of
    :func:`vstlib.evaluate.resize_gt_flow`) ``np.nanmean(map)`` is E_warp. Without a mask every
    pixel is compared. Returns float64 ``[H, W]``, in [0, 1] units squared (at most 3).

    >>> a = np.zeros((2, 3, 3)); a[:, 1] = 1.0  # a bright column that moves one pixel right ...
    >>> b = np.roll(a, 1, axis=1); b[0, 2] = 0.5  # ... and in its new place one pixel turns grey
    >>> right = np.zeros((2, 3, 2), np.float32); right[..., 0] = 1
    >>> ok = np.ones((2, 3)); ok[:, 2] = 0  # the right column leaves the frame: not compared
    >>> m = warping_error_map(a, b, right, ok)
    >>> m.tolist()  # 3 channels x 0.5^2 where the grey pixel lands
    [[0.0, 0.75, nan], [0.0, 0.0, nan]]
    >>> bool(np.nanmean(m) == warping_error(a, b, right, ok))
    True
    """
    a, b = _rgb(out_t), _rgb(out_next)
    diff2 = ((a - _warp(b, flow_t_next)) ** 2).sum(axis=2)
    if mask_t is not None:
        diff2[_mask(mask_t, a.shape) <= 0] = np.nan
    return diff2


def warping_error_maps(input_pair: Sequence, output_pairs, flow: str = "farneback", cache_dir=None):
    """:func:`warping_error_map` of several stylizations of the same two frames, along one flow
    estimated on the *input* frames (both directions) with its forward-backward occlusion mask,
    exactly as :func:`temporal_errors` scores E_warp.

    Args:
        input_pair: input frames t and t+1 (uint8 ``[H, W, 3]``, float in [0, 1] or tensors).
        output_pairs: ``{label: (output t, output t+1)}``, the same size.
        flow: the flow backend; the evaluation protocol uses Farneback, which no method optimizes.
        cache_dir: the flow cache (see :func:`vstlib.flow.compute_flows`).
    Returns:
        ``({label: map [H, W]}, mask [H, W])``: the maps (NaN where not compared) and the mask
        (1 = compared). ``np.nanmean(maps[label])`` is the pair's E_warp.

    >>> y, x = np.mgrid[0:32, 0:48]
    >>> frame = np.stack([np.sin(x / 5), np.cos(y / 4), np.sin((x + y) / 7)], axis=2) * 0.5 + 0.5
    >>> noisy = np.clip(frame + np.random.default_rng(0).normal(0, 0.05, frame.shape), 0, 1)
    >>> maps, mask = warping_error_maps([frame, frame], {"still": (frame, frame), "noisy": (frame, noisy)},
    ...                                 cache_dir=False)
    >>> float(np.nanmean(maps["still"])) < 1e-4, 0.006 < float(np.nanmean(maps["noisy"])) < 0.009  # 3 x 0.05^2
    (True, True)
    """
    from .flow import clip_pairs, compute_flows, occlusion_mask

    if len(input_pair) != 2:
        raise ValueError(f"input_pair must hold two frames (t and t+1), got {len(input_pair)}")
    u8 = [np.round(_rgb(f) * 255).astype(np.uint8) for f in input_pair]
    flows = compute_flows(u8, clip_pairs(2, (1,)), method=flow, cache_dir=cache_dir, progress=False)
    mask = occlusion_mask(flows[(0, 1)], flows[(1, 0)])
    maps = {}
    for label, pair in dict(output_pairs).items():
        if len(pair) != 2:
            raise ValueError(f"output_pairs['{label}'] must hold two frames (t and t+1), got {len(pair)}")
        maps[label] = warping_error_map(pair[0], pair[1], flows[(0, 1)], mask)
    return maps, mask
