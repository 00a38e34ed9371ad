"""Frames between numpy and torch: THE one place vstlib converts pixel data.

Conventions used throughout vstlib:

* a *tensor* is a float32 ``torch.Tensor`` of shape ``[1, 3, H, W]`` (or a batch ``[N, 3, H, W]``),
  RGB, values in ``[0, 1]``;
* an *array* (or *frame*) is a numpy ``uint8`` array of shape ``[H, W, 3]``, RGB.

uint8 -> float divides by 255; float -> uint8 clamps to [0, 1] and rounds to the nearest of the
256 levels (never truncates), so ``to_array(to_tensor(a))`` gives ``a`` back exactly.

Also here: :func:`resize_frame`, the one resizing routine shared by images and video frames, so a
video frame and the same picture loaded as an image match pixel for pixel.
"""

from __future__ import annotations

from typing import Optional, Sequence, Tuple, Union

import cv2
import numpy as np
import torch

from ..errors import VstError

__all__ = ["to_tensor", "to_array", "to_tensors", "to_arrays", "as_uint8_frame", "resize_frame"]

Size = Tuple[int, int]  # (height, width), the same order as tensor shapes
FrameLike = Union[np.ndarray, torch.Tensor]


def to_tensor(array: np.ndarray) -> torch.Tensor:
    """Convert an ``[H, W, 3]`` RGB array to a float32 tensor ``[1, 3, H, W]`` in [0, 1].

    ``uint8`` is divided by 255 and ``uint16`` by 65535; float arrays are taken to be in
    [0, 1] already and are only cast to float32 (not clamped, so bugs upstream stay visible).

    >>> frame = np.full((2, 4, 3), 255, np.uint8)
    >>> t = to_tensor(frame); t.shape, float(t.max())
    (torch.Size([1, 3, 2, 4]), 1.0)
    >>> bool((to_array(t) == frame).all())
    True
    """
    if not isinstance(array, np.ndarray):
        raise TypeError(f"to_tensor expects a numpy array, got {type(array).__name__}")
    if array.ndim != 3 or array.shape[2] != 3:
        raise ValueError(f"to_tensor expects an HxWx3 array, got shape {array.shape}")
    if array.dtype == np.uint8:
        x = array.astype(np.float32) / 255.0
    elif array.dtype == np.uint16:
        x = array.astype(np.float32) / 65535.0
    elif np.issubdtype(array.dtype, np.floating):
        x = array.astype(np.float32, copy=False)
    else:
        raise TypeError(f"to_tensor expects uint8, uint16 or float data, got {array.dtype}")
    # HWC -> CHW, plus the batch dimension. ascontiguousarray because torch.from_numpy
    # shares memory and the transposed view is not contiguous.
    chw = np.ascontiguousarray(x.transpose(2, 0, 1))
    return torch.from_numpy(chw).unsqueeze(0)


def to_array(tensor: torch.Tensor) -> np.ndarray:
    """Convert a tensor ``[1, 3, H, W]`` or ``[3, H, W]`` in [0, 1] to a uint8 ``[H, W, 3]`` array.

    Works for tensors on any device and with gradients; values are clamped to [0, 1] and
    rounded (not truncated) to the nearest of the 256 levels.
    """
    if not isinstance(tensor, torch.Tensor):
        raise TypeError(f"to_array expects a torch.Tensor, got {type(tensor).__name__}")
    t = tensor.detach()
    if t.ndim == 4:
        if t.shape[0] != 1:
            raise ValueError(f"to_array expects a batch of one image, got shape {tuple(t.shape)}")
        t = t[0]
    if t.ndim != 3 or t.shape[0] != 3:
        raise ValueError(f"to_array expects [1,3,H,W] or [3,H,W], got shape {tuple(t.shape)}")
    return to_arrays(t[None])[0]


def to_tensors(frames: Union[np.ndarray, Sequence[np.ndarray]], device=None) -> torch.Tensor:
    """A batch of uint8 frames (a sequence of ``[H, W, 3]`` arrays, or one ``[N, H, W, 3]`` array) as
    a float32 tensor ``[N, 3, H, W]`` in [0, 1] on ``device``.

    The uint8 data is moved first and converted there: a quarter of the bytes cross to a GPU.
    """
    batch = frames if isinstance(frames, np.ndarray) else np.stack([np.asarray(f) for f in frames])
    if batch.ndim != 4 or batch.shape[3] != 3:
        raise ValueError(f"to_tensors expects uint8 frames [N, H, W, 3], got shape {batch.shape}")
    if batch.dtype != np.uint8:
        raise TypeError(f"to_tensors expects uint8 frames, got {batch.dtype}")
    # torch.tensor copies: the frames may be read-only views (torch warns on from_numpy of those).
    u8 = torch.tensor(batch) if not batch.flags.writeable else torch.from_numpy(batch)
    if device is not None:
        u8 = u8.to(device, non_blocking=True)
    return u8.permute(0, 3, 1, 2).float().div_(255.0)


def to_arrays(tensor: torch.Tensor) -> np.ndarray:
    """A float tensor ``[N, 3, H, W]`` in [0, 1] (any device) as uint8 ``[N, H, W, 3]`` (clamped, rounded)."""
    if not isinstance(tensor, torch.Tensor):
        raise TypeError(f"to_arrays expects a torch.Tensor, got {type(tensor).__name__}")
    t = tensor.detach()
    if t.ndim != 4 or t.shape[1] != 3:
        raise ValueError(f"to_arrays expects [N,3,H,W], got shape {tuple(t.shape)}")
    # Rounded on the tensor's own device, so only uint8 comes back from a GPU.
    u8 = (t.float().clamp(0.0, 1.0) * 255.0).round_().to(torch.uint8)
    return np.ascontiguousarray(u8.permute(0, 2, 3, 1).cpu().numpy())


def as_uint8_frame(frame: FrameLike) -> np.ndarray:
    """Any single frame as a contiguous uint8 ``[H, W, 3]`` RGB array.

    Accepts a uint8 ``[H, W, 3]`` array (returned as is when already contiguous), a float array in
    [0, 1], or a tensor ``[1, 3, H, W]`` / ``[3, H, W]`` in [0, 1]; float data is clamped and rounded.
    Raises TypeError/ValueError ("... an RGB array [H, W, 3] ...") for anything else.
    """
    if isinstance(frame, torch.Tensor):
        return to_array(frame)
    if not isinstance(frame, np.ndarray):
        raise TypeError(f"a frame must be a numpy array or a torch tensor, got {type(frame).__name__}")
    if frame.ndim != 3 or frame.shape[2] != 3:
        raise ValueError(f"a frame must be an RGB array [H, W, 3], got shape {frame.shape}")
    if frame.dtype == np.uint8:
        return np.ascontiguousarray(frame)
    if np.issubdtype(frame.dtype, np.floating):
        return np.round(np.clip(frame, 0.0, 1.0) * 255.0).astype(np.uint8)
    raise TypeError(f"a frame must be uint8 or float in [0, 1], got {frame.dtype}")


# --------------------------------------------------------------------------------------------
# Resizing
# --------------------------------------------------------------------------------------------


def target_size(height: int, width: int, size: Optional[Size], max_side: Optional[int]) -> Size:
    """Work out the output (H, W) from either an explicit size or a longer-side length."""
    if size is not None and max_side is not None:
        raise VstError("give either size or max_side, not both; drop one of them")
    if size is not None:
        if len(size) != 2 or int(size[0]) < 1 or int(size[1]) < 1:
            raise VstError(f"size must be (height, width) with positive values, got {size!r}")
        return int(size[0]), int(size[1])
    if max_side is not None:
        max_side = int(max_side)
        if max_side < 1:
            raise VstError(f"max_side must be a positive number of pixels, got {max_side}")
        scale = max_side / max(height, width)
        # The longer side gets exactly max_side; the shorter one keeps the aspect ratio
        # (rounded, and never below one pixel).
        if height >= width:
            return max_side, max(1, round(width * scale))
        return max(1, round(height * scale)), max_side
    return height, width


def resize_frame(array: np.ndarray, size: Optional[Size] = None, max_side: Optional[int] = None) -> np.ndarray:
    """Resize an ``[H, W, C]`` array (uint8 or float32) to ``size=(H, W)`` or to a longer side
    of ``max_side`` pixels; with neither, the array is returned unchanged.

    Shrinking uses ``cv2.INTER_AREA``, which averages all source pixels under each output
    pixel and therefore does not alias (plain bilinear would shimmer on video). Enlarging uses
    bicubic. The dtype is preserved; float results are clipped back to [0, 1] because bicubic
    can overshoot at edges.
    """
    h, w = array.shape[:2]
    new_h, new_w = target_size(h, w, size, max_side)
    if (new_h, new_w) == (h, w):
        return array
    shrinking = new_h < h or new_w < w
    interp = cv2.INTER_AREA if shrinking else cv2.INTER_CUBIC
    out = cv2.resize(array, (new_w, new_h), interpolation=interp)  # cv2 wants (W, H)
    if out.ndim == 2 and array.ndim == 3:  # cv2 drops a trailing channel axis of size 1
        out = out[:, :, None]
    if np.issubdtype(out.dtype, np.floating):
        np.clip(out, 0.0, 1.0, out=out)
    return out
