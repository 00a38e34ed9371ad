"""Frame-to-frame measurements of video output.

``frame_difference`` is the simplest flicker proxy: the mean absolute change between consecutive
frames. Stylization adds texture that is not tied to the scene, so where the input changes a
little the per-frame output may change a lot; comparing input and output curves shows it.
Motion-compensated metrics (warping error with optical flow) belong to the temporal module.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import torch


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
