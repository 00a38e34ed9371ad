"""Optical flow: estimation backends, warping, .flo files, occlusion masks and a clip flow cache.

One convention everywhere in vstlib
-----------------------------------
A *flow* is a float32 numpy array ``[H, W, 2]`` (or a tensor ``[B, 2, H, W]``) in pixels, with
``flow[y, x] = (dx, dy)``: pixel ``(x, y)`` of frame A moves to ``(x + dx, y + dy)`` in frame B.
This is the "flow from A to B" of MPI-Sintel and Middlebury (Sintel's ``flow/frame_0001.flo`` is
the flow from frame 1 to frame 2).

``warp(image_B, flow_AB)`` samples B at ``x + flow_AB(x)`` and therefore returns an image
*aligned with A*. So to bring the previous stylized frame t-1 onto frame t, use
``warp(stylized[t-1], flow(t -> t-1))``, the "backward flow".

Contents
--------
* :func:`estimate_flow` with the backends in :data:`BACKENDS` (DeepFlow, DIS and Farneback from
  OpenCV, RAFT from torchvision) and :func:`flow_params` (their full, defaulted parameters);
* :func:`warp` for tensors (``F.grid_sample``, differentiable, any device) and numpy arrays
  (``cv2.remap``), which agree to float rounding;
* :func:`read_flo` / :func:`write_flo` (Middlebury .flo), :func:`flow_to_color` /
  :func:`color_wheel` (Middlebury colour coding), :func:`endpoint_error`, :func:`downscale_flow`
  (a ground-truth flow for shrunk frames);
* :func:`occlusion_mask` and :func:`long_term_weights`: Ruder et al.'s (2016) per-pixel weights;
* :func:`compute_flows` / :func:`clip_pairs`: all flows of a clip, several pairs at once on worker threads,
  cached on disk;
* :func:`sintel_pair`, :func:`sintel_occlusions`, :func:`sintel_invalid`: MPI-Sintel samples (defined in
  :mod:`vstlib.data`, re-exported here).
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import functools
import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

# The MPI-Sintel loaders live in vstlib.data; imported here so vstlib.flow.sintel_pair etc. keep working.
from .data import _read_binary_png, _read_rgb, _sintel_file, sintel_invalid, sintel_occlusions, sintel_pair  # noqa: F401
from .errors import VstError

__all__ = [
    "BACKENDS",
    "clip_pairs",
    "color_wheel",
    "compute_flows",
    "downscale_flow",
    "endpoint_error",
    "estimate_flow",
    "flow_params",
    "flow_to_color",
    "long_term_weights",
    "occlusion_mask",
    "read_flo",
    "sintel_invalid",
    "sintel_occlusions",
    "sintel_pair",
    "warp",
    "write_flo",
]

BACKENDS = ("deepflow", "dis", "farneback", "raft")

Pair = tuple[int, int]
Frame = np.ndarray | Tensor  # uint8 [H, W, 3], float [H, W, 3] in [0, 1], or [1, 3, H, W]/[3, H, W]

# .flo files (Middlebury) mark pixels without ground truth with values around 1e10; anything
# above this magnitude is "unknown" for the EPE, the colour coding and the occlusion masks.
UNKNOWN_FLOW_THRESHOLD = 1e9

# Ruder, Dosovitskiy & Brox (2016), "Artistic style transfer for videos", GCPR, Sec. 3.2, who take
# both criteria from Sundaram, Brox & Keutzer (2010), "Dense point trajectories by GPU-accelerated
# large displacement optical flow", ECCV. With w = flow_ab(x) and w^ = flow_ba(x + w), a pixel is
# unreliable (disoccluded) when |w + w^|^2 > CONSISTENCY_REL (|w|^2 + |w^|^2) + CONSISTENCY_ABS,
# and it lies on a motion boundary when |grad u|^2 + |grad v|^2 > MOTION_BOUNDARY_REL |w|^2 +
# MOTION_BOUNDARY_ABS. Flows in pixels.
CONSISTENCY_REL = 0.01
CONSISTENCY_ABS = 0.5
MOTION_BOUNDARY_REL = 0.01
MOTION_BOUNDARY_ABS = 0.002


# --------------------------------------------------------------------------------------------
# Input conversion
# --------------------------------------------------------------------------------------------


def _as_rgb_u8(frame: Frame) -> np.ndarray:
    """A frame as a contiguous uint8 ``[H, W, 3]`` RGB array (float data in [0, 1] is rounded);
    :func:`vstlib.io.frames.as_uint8_frame`, with its complaints as :class:`VstError`."""
    from .io.frames import as_uint8_frame

    try:
        return as_uint8_frame(frame)
    except (TypeError, ValueError) as err:
        raise VstError(str(err)) from None


def _gray(rgb: np.ndarray) -> np.ndarray:
    """uint8 ``[H, W]`` luma: DeepFlow and DIS only take 8-bit single-channel images."""
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)


def _flow_array(flow) -> np.ndarray:
    """A flow as float32 numpy ``[H, W, 2]`` (a tensor ``[1, 2, H, W]`` or ``[2, H, W]`` is converted)."""
    if isinstance(flow, Tensor):
        t = flow.detach()
        if t.ndim == 4 and t.shape[0] == 1:
            t = t[0]
        if t.ndim != 3 or t.shape[0] != 2:
            raise VstError(f"a flow tensor must be [1, 2, H, W] or [2, H, W], got {tuple(flow.shape)}")
        return np.ascontiguousarray(t.to(device="cpu", dtype=torch.float32).permute(1, 2, 0).numpy())
    flow = np.asarray(flow)
    if flow.ndim != 3 or flow.shape[2] != 2:
        raise VstError(f"a flow must be an array [H, W, 2], got shape {flow.shape}")
    return np.ascontiguousarray(flow, dtype=np.float32)


def _flow_tensor(flow, like: Tensor | None = None) -> Tensor:
    """A flow as a tensor ``[B, 2, H, W]`` (numpy ``[H, W, 2]`` becomes B = 1), on ``like``'s device."""
    if isinstance(flow, Tensor):
        if flow.ndim == 3:
            flow = flow.unsqueeze(0)
        if flow.ndim != 4 or flow.shape[1] != 2:
            raise VstError(f"a flow tensor must be [B, 2, H, W], got {tuple(flow.shape)}")
    else:
        flow = torch.from_numpy(_flow_array(flow)).permute(2, 0, 1).unsqueeze(0)
    if like is not None:
        flow = flow.to(like.device)
    return flow


# --------------------------------------------------------------------------------------------
# Backends and their parameters
# --------------------------------------------------------------------------------------------

_DIS_PRESETS = {
    "ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
    "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
    "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
}

# Defaults of each backend. Farneback's are the values used in OpenCV's own sample
# (samples/python/opt_flow.py) and its tutorials; RAFT's 12 refinement steps are torchvision's.
_DEFAULTS: dict[str, dict] = {
    # OpenCV exposes no setters for DeepFlow through createOptFlow_DeepFlow: its parameters are
    # those of Weinzaepfel et al. (2013) as implemented in opencv_contrib.
    "deepflow": {},
    "dis": {"preset": "medium"},
    "farneback": {"pyr_scale": 0.5, "levels": 5, "winsize": 15, "iterations": 3, "poly_n": 5,
                  "poly_sigma": 1.2, "flags": 0},
    "raft": {"model": "small", "iters": 12, "device": "auto"},
}

# Parameters that do not change the result (only where it is computed): left out of cache keys.
_NOT_IN_KEY = {"device"}


def _check_method(method: str) -> None:
    if method not in BACKENDS:
        raise VstError(f"unknown flow method '{method}'; choose one of {', '.join(BACKENDS)}")


def _number(method: str, name: str, value, kind: type, low: float, high: float | None = None):
    """``value`` converted to ``kind`` and checked against [low, high] (VstError otherwise)."""
    try:
        number = kind(value)
        if kind is int and number != float(value):
            raise ValueError
    except (TypeError, ValueError):
        raise VstError(f"{method} parameter {name} must be a {kind.__name__}, got {value!r}") from None
    if not (number >= low and (high is None or number <= high)):
        span = f">= {low}" if high is None else f"in [{low}, {high}]"
        raise VstError(f"{method} parameter {name} must be {span}, got {value!r}")
    return number


def flow_params(method: str = "deepflow", **params) -> dict:
    """The full parameter dict of backend ``method``: its defaults overridden by ``params``.

    Values are checked and normalized (so equal settings give equal dicts, which
    :func:`compute_flows` uses in cache keys). Unknown names or bad values raise VstError.
    """
    _check_method(method)
    defaults = _DEFAULTS[method]
    unknown = sorted(set(params) - set(defaults))
    if unknown:
        allowed = ", ".join(defaults) if defaults else "none"
        raise VstError(f"unknown {method} parameter(s) {', '.join(unknown)}; {method} takes: {allowed}")
    p = {**defaults, **params}
    if method == "dis":
        if p["preset"] not in _DIS_PRESETS:
            raise VstError(f"unknown dis preset '{p['preset']}'; choose one of {', '.join(_DIS_PRESETS)}")
    elif method == "farneback":
        p["pyr_scale"] = _number(method, "pyr_scale", p["pyr_scale"], float, 0.05, 0.95)
        p["levels"] = _number(method, "levels", p["levels"], int, 1, 20)
        p["winsize"] = _number(method, "winsize", p["winsize"], int, 3, 255)
        p["iterations"] = _number(method, "iterations", p["iterations"], int, 1, 100)
        p["poly_n"] = _number(method, "poly_n", p["poly_n"], int, 5, 7)
        if p["poly_n"] not in (5, 7):
            raise VstError(f"farneback parameter poly_n must be 5 or 7, got {p['poly_n']}")
        p["poly_sigma"] = _number(method, "poly_sigma", p["poly_sigma"], float, 0.1, 10)
        p["flags"] = _number(method, "flags", p["flags"], int, 0)
    elif method == "raft":
        if p["model"] not in ("small", "large"):
            raise VstError(f"unknown raft model '{p['model']}'; choose small or large")
        p["iters"] = _number(method, "iters", p["iters"], int, 1, 100)
        p["device"] = str(p["device"])
    return p


def _deepflow(gray_a: np.ndarray, gray_b: np.ndarray, p: dict) -> np.ndarray:
    optflow = getattr(cv2, "optflow", None)
    if optflow is None or not hasattr(optflow, "createOptFlow_DeepFlow"):
        raise VstError("DeepFlow needs OpenCV's contrib modules; run `pip install opencv-contrib-python` "
                       "(after uninstalling opencv-python) or use --flow dis/farneback")
    return optflow.createOptFlow_DeepFlow().calc(gray_a, gray_b, None)


def _dis(gray_a: np.ndarray, gray_b: np.ndarray, p: dict) -> np.ndarray:
    return cv2.DISOpticalFlow_create(_DIS_PRESETS[p["preset"]]).calc(gray_a, gray_b, None)


def _farneback(gray_a: np.ndarray, gray_b: np.ndarray, p: dict) -> np.ndarray:
    return cv2.calcOpticalFlowFarneback(gray_a, gray_b, None, p["pyr_scale"], p["levels"], p["winsize"],
                                        p["iterations"], p["poly_n"], p["poly_sigma"], p["flags"])


_OPENCV_BACKENDS = {"deepflow": _deepflow, "dis": _dis, "farneback": _farneback}


@functools.lru_cache(maxsize=2)
def _raft_model(model: str, device: str):
    """A torchvision RAFT in eval mode on ``device`` with its transforms; built once per process."""
    from torchvision.models import optical_flow as of

    build, weights = {"small": (of.raft_small, of.Raft_Small_Weights.DEFAULT),
                      "large": (of.raft_large, of.Raft_Large_Weights.DEFAULT)}[model]
    try:
        net = build(weights=weights, progress=False)
    except Exception as exc:  # noqa: BLE001  (URLError, HTTPError, OSError, hash mismatch: all mean no weights)
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise VstError(f"RAFT weights could not be downloaded ({reason}); use --flow deepflow, dis or "
                       f"farneback, or run once with internet access") from None
    return net.eval().to(device), weights.transforms()


_RAFT_MIN_SIDE = 128


def _raft(rgb_a: np.ndarray, rgb_b: np.ndarray, p: dict) -> np.ndarray:
    from .io import to_tensor
    from .utils import pick_device

    device = pick_device(p["device"])
    net, transforms = _raft_model(p["model"], str(device))
    # The weights' transforms map [0, 1] to [-1, 1] as RAFT was trained on. (The frames went
    # through uint8 on the way, which is what RAFT's training data was anyway.)
    a, b = transforms(to_tensor(rgb_a), to_tensor(rgb_b))
    h, w = a.shape[-2:]
    # RAFT works on 1/8-resolution features, so both sides must be multiples of 8, and its
    # 4-level correlation pyramid needs at least 16 features (128 px). Replicate padding at the
    # right/bottom, then crop: the flow of the original pixels keeps its coordinates.
    pad = (0, max(_RAFT_MIN_SIDE, w + -w % 8) - w, 0, max(_RAFT_MIN_SIDE, h + -h % 8) - h)
    a = F.pad(a, pad, mode="replicate").to(device)
    b = F.pad(b, pad, mode="replicate").to(device)
    with torch.no_grad():
        predictions = net(a, b, num_flow_updates=p["iters"])
    flow = predictions[-1][0, :, :h, :w]  # the last (most refined) prediction, [2, h, w]
    return flow.permute(1, 2, 0).float().cpu().numpy()


def estimate_flow(frame_a: Frame, frame_b: Frame, method: str = "deepflow", **params) -> np.ndarray:
    """The optical flow from ``frame_a`` to ``frame_b``: float32 ``[H, W, 2]`` in pixels.

    Frames: uint8 RGB ``[H, W, 3]``, float arrays in [0, 1], or tensors ``[1, 3, H, W]`` /
    ``[3, H, W]`` in [0, 1]. ``method`` is one of :data:`BACKENDS`; ``params`` override the
    backend's defaults (see :func:`flow_params`):

    * ``deepflow``: Weinzaepfel et al. (2013), OpenCV contrib; accurate, ~0.4 s at 640x360.
    * ``dis``: Kroeger et al. (2016) Dense Inverse Search; ``preset`` ultrafast/fast/medium. Fast.
    * ``farneback``: Farneback (2003) polynomial expansion; ``pyr_scale, levels, winsize,
      iterations, poly_n, poly_sigma, flags`` as in ``cv2.calcOpticalFlowFarneback``.
    * ``raft``: Teed & Deng (2020), torchvision; ``model`` small/large, ``iters`` refinement
      steps, ``device``. Downloads its weights on first use.
    """
    p = flow_params(method, **params)
    rgb_a, rgb_b = _as_rgb_u8(frame_a), _as_rgb_u8(frame_b)
    if rgb_a.shape != rgb_b.shape:
        raise VstError(f"the two frames differ in size ({rgb_a.shape[1]}x{rgb_a.shape[0]} and "
                       f"{rgb_b.shape[1]}x{rgb_b.shape[0]}); resize them to the same size first")
    if method == "raft":
        flow = _raft(rgb_a, rgb_b, p)
    else:
        try:
            flow = _OPENCV_BACKENDS[method](_gray(rgb_a), _gray(rgb_b), p)
        except cv2.error as err:  # e.g. DIS refuses frames smaller than its patches
            reason = getattr(err, "err", None) or str(err).strip().splitlines()[-1]
            raise VstError(f"{method} flow failed on {rgb_a.shape[1]}x{rgb_a.shape[0]} frames: {reason}; "
                           f"use larger frames or another --flow method") from None
    return np.ascontiguousarray(flow, dtype=np.float32)


# --------------------------------------------------------------------------------------------
# Warping
# --------------------------------------------------------------------------------------------

PADDINGS = ("border", "zeros")

# OpenCV 5 interpolates remap() with float weights (measured: matches grid_sample to ~2e-6);
# OpenCV 4 rounds the sub-pixel position to 1/32 pixel, which would break the agreement of the
# two warp paths, so there an exact numpy bilinear sampler is used instead.
_REMAP_IS_EXACT = int(cv2.__version__.split(".")[0]) >= 5


def _warp_tensor(image: Tensor, flow, padding: str) -> Tensor:
    if image.ndim != 4:
        raise VstError(f"warp expects an image tensor [B, C, H, W], got {tuple(image.shape)}")
    flow = _flow_tensor(flow, like=image)
    b, _, h, w = image.shape
    if flow.shape[-2:] != image.shape[-2:] or flow.shape[0] not in (1, b):
        raise VstError(f"flow {tuple(flow.shape)} does not fit image {tuple(image.shape)}; "
                       f"compute the flow at the image's size")
    # Coordinates in float32 at least (half precision cannot address pixels past 2048 exactly).
    ctype = torch.float64 if image.dtype == torch.float64 else torch.float32
    flow = flow.to(ctype)
    xs = torch.arange(w, device=image.device, dtype=ctype).view(1, 1, w)
    ys = torch.arange(h, device=image.device, dtype=ctype).view(1, h, 1)
    # align_corners=True puts -1 and +1 at the *centres* of the first and last pixels, so pixel
    # x maps to 2x/(W-1) - 1 (max() keeps a one-pixel-wide image finite; any value samples it).
    gx = (xs + flow[:, 0]) * (2.0 / max(w - 1, 1)) - 1.0
    gy = (ys + flow[:, 1]) * (2.0 / max(h - 1, 1)) - 1.0
    grid = torch.stack((gx, gy), dim=-1).expand(b, h, w, 2).to(image.dtype)
    return F.grid_sample(image, grid, mode="bilinear", padding_mode=padding, align_corners=True)


def _bilinear_numpy(image: np.ndarray, map_x: np.ndarray, map_y: np.ndarray, padding: str) -> np.ndarray:
    """float32 ``[H, W, C]`` sampled at (map_x, map_y), exactly like grid_sample(align_corners=True)."""
    h, w = image.shape[:2]
    if padding == "border":  # clamping the position equals replicating the edge pixels
        map_x, map_y = np.clip(map_x, 0, w - 1), np.clip(map_y, 0, h - 1)
    x0, y0 = np.floor(map_x), np.floor(map_y)
    fx, fy = (map_x - x0)[..., None], (map_y - y0)[..., None]
    x0, y0 = x0.astype(np.int64), y0.astype(np.int64)
    out = np.zeros(map_x.shape + image.shape[2:], np.float32)
    for dy, wy in ((0, 1 - fy), (1, fy)):
        for dx, wx in ((0, 1 - fx), (1, fx)):
            xi, yi = x0 + dx, y0 + dy
            inside = ((xi >= 0) & (xi < w) & (yi >= 0) & (yi < h))[..., None]  # "zeros": outside taps add 0
            tap = image[np.clip(yi, 0, h - 1), np.clip(xi, 0, w - 1)]
            out += np.where(inside, tap * (wx * wy), 0)
    return out


def _warp_numpy(image: np.ndarray, flow, padding: str) -> np.ndarray:
    flow = _flow_array(flow)
    if image.ndim not in (2, 3) or flow.shape[:2] != image.shape[:2]:
        raise VstError(f"flow {flow.shape} does not fit image {image.shape}; compute the flow at the image's size")
    h, w = image.shape[:2]
    map_x = np.arange(w, dtype=np.float32)[None, :] + flow[..., 0]
    map_y = np.arange(h, dtype=np.float32)[:, None] + flow[..., 1]
    dtype = image.dtype
    if _REMAP_IS_EXACT and (image.ndim == 2 or image.shape[2] <= 4):
        src = image if dtype in (np.uint8, np.uint16, np.float32, np.float64) else image.astype(np.float32)
        border = cv2.BORDER_REPLICATE if padding == "border" else cv2.BORDER_CONSTANT
        out = cv2.remap(src, map_x, map_y, cv2.INTER_LINEAR, borderMode=border, borderValue=0)
        if out.ndim == 2 and image.ndim == 3:  # cv2 drops a trailing channel axis of size 1
            out = out[:, :, None]
    else:
        src = image.astype(np.float32)
        out = _bilinear_numpy(src if src.ndim == 3 else src[..., None], map_x, map_y, padding)
        out = out.reshape(image.shape)
    if out.dtype != dtype:
        if np.issubdtype(dtype, np.integer):  # round to nearest, as cv2 does for integer images
            info = np.iinfo(dtype)
            out = np.clip(np.round(out), info.min, info.max)
        out = out.astype(dtype)
    return out


def warp(image, flow, padding: str = "border"):
    """Sample ``image`` at ``x + flow(x)`` (bilinear): with ``flow`` from A to B and ``image`` = B,
    the result is aligned with A.

    * tensor ``image [B, C, H, W]`` (any float dtype and device) with ``flow [B, 2, H, W]``,
      ``[1, 2, H, W]`` or numpy ``[H, W, 2]`` -> tensor ``[B, C, H, W]``; differentiable.
    * numpy ``image [H, W, C]`` or ``[H, W]`` (float or uint8) with ``flow [H, W, 2]`` -> the same
      shape and dtype (integer images rounded).

    ``padding``: ``"border"`` repeats the edge pixels for positions outside the frame,
    ``"zeros"`` reads 0 there. Both paths give the same values up to float rounding.

    >>> b = torch.arange(12.0).reshape(1, 1, 3, 4)
    >>> right = np.zeros((3, 4, 2), np.float32); right[..., 0] = 1  # every pixel of A is one to the right in B
    >>> warp(b, right)[0, 0, 0].tolist()
    [1.0, 2.0, 3.0, 3.0]
    """
    if padding not in PADDINGS:
        raise VstError(f"unknown warp padding '{padding}'; choose one of {', '.join(PADDINGS)}")
    if isinstance(image, Tensor):
        return _warp_tensor(image, flow, padding)
    if isinstance(image, np.ndarray):
        return _warp_numpy(image, flow, padding)
    raise VstError(f"warp expects a numpy array or a torch tensor, got {type(image).__name__}")


# --------------------------------------------------------------------------------------------
# Middlebury .flo files
# --------------------------------------------------------------------------------------------

FLO_MAGIC = 202021.25  # the float32 "PIEH" tag at the start of every .flo file


def read_flo(path) -> np.ndarray:
    """Read a Middlebury .flo file as float32 ``[H, W, 2]``.

    Layout (little-endian): float32 202021.25, int32 width, int32 height, then ``H*W`` pairs of
    float32 (u, v), row by row.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise VstError(f"cannot read flow '{path}': file not found; check the path") from None
    except OSError as err:
        raise VstError(f"cannot read flow '{path}': {err.strerror}") from None
    if len(data) < 12 or np.frombuffer(data, "<f4", 1)[0] != np.float32(FLO_MAGIC):
        raise VstError(f"cannot read flow '{path}': not a .flo file (bad magic number); give a Middlebury .flo file")
    width, height = (int(v) for v in np.frombuffer(data, "<i4", 2, offset=4))
    expected = 12 + 8 * width * height
    if width < 1 or height < 1 or len(data) != expected:
        raise VstError(f"cannot read flow '{path}': it holds {len(data)} bytes, but a {width}x{height} flow "
                       f"needs {expected}; the file is truncated or corrupt")
    return np.frombuffer(data, "<f4", offset=12).reshape(height, width, 2).astype(np.float32)


def write_flo(path, flow) -> None:
    """Write a flow ``[H, W, 2]`` as a Middlebury .flo file, atomically (temp file, then rename)."""
    from .io import atomic_path

    flow = _flow_array(flow)
    h, w = flow.shape[:2]
    header = np.array([FLO_MAGIC], "<f4").tobytes() + np.array([w, h], "<i4").tobytes()
    with atomic_path(path) as temp, open(temp, "wb") as f:
        f.write(header)
        f.write(flow.astype("<f4").tobytes())


# --------------------------------------------------------------------------------------------
# Visualization and accuracy
# --------------------------------------------------------------------------------------------

# Baker et al. (2011), "A database and evaluation methodology for optical flow", IJCV: a colour
# wheel of 55 hues, with the number of steps between the primaries and secondaries chosen to be
# perceptually even: red->yellow 15, yellow->green 6, green->cyan 4, cyan->blue 11,
# blue->magenta 13, magenta->red 6.
_WHEEL_SEGMENTS = (15, 6, 4, 11, 13, 6)


@functools.lru_cache(maxsize=1)
def _wheel() -> np.ndarray:
    """The 55 wheel colours, float ``[55, 3]`` RGB in 0..255, starting at red, going via yellow."""
    colors = []
    # For each segment: which channel ramps, up (True) or down, from which fixed colour.
    ramps = (((255, 0, 0), 1, True), ((255, 255, 0), 0, False), ((0, 255, 0), 2, True),
             ((0, 255, 255), 1, False), ((0, 0, 255), 0, True), ((255, 0, 255), 2, False))
    for n, (start, channel, up) in zip(_WHEEL_SEGMENTS, ramps):
        for i in range(n):
            step = np.floor(255 * i / n)
            color = list(start)
            color[channel] = step if up else 255 - step
            colors.append(color)
    return np.array(colors, np.float64)


def _known(flow: np.ndarray) -> np.ndarray:
    """``[H, W]`` bool: both components finite and within UNKNOWN_FLOW_THRESHOLD."""
    return np.all(np.isfinite(flow) & (np.abs(flow) <= UNKNOWN_FLOW_THRESHOLD), axis=-1)


# Why not torchvision.utils.flow_to_image (same Baker et al. wheel)? Measured on a random
# 1024x436 flow: the pictures agree to within one level on all but 0.002 % of the pixels, but
# flow_to_image (a) always scales by the largest vector, so it has no max_magnitude (one scale for
# several flows side by side, as the report's figures need) and never shows saturated vectors
# darkened; (b) has no notion of unknown values: one 1e10 entry from a .flo file sets the scale
# and turns the whole picture white (ours paints it black); (c) took 0.53 s against our 0.13 s.
def flow_to_color(flow, max_magnitude: float | None = None) -> np.ndarray:
    """Middlebury colour coding of a flow: uint8 RGB ``[H, W, 3]``.

    Hue is the direction (right = red, down = yellow-orange, left = cyan, up = blue-violet),
    saturation the length relative to ``max_magnitude`` (default: the longest known vector), so
    zero motion is white. Vectors longer than ``max_magnitude`` are drawn at full saturation and
    darkened; unknown values (``> 1e9`` as in .flo files, or NaN) are black.
    """
    flow = _flow_array(flow).astype(np.float64)
    known = _known(flow)
    u = np.where(known, flow[..., 0], 0.0)
    v = np.where(known, flow[..., 1], 0.0)
    radius = np.hypot(u, v)
    if max_magnitude is None:
        max_magnitude = float(radius.max()) if radius.size else 0.0
    elif not max_magnitude > 0:
        raise VstError(f"max_magnitude must be a positive number of pixels, got {max_magnitude}")
    scale = max(max_magnitude, np.finfo(np.float64).eps)
    u, v, radius = u / scale, v / scale, radius / scale

    wheel = _wheel()
    n = len(wheel)
    angle = np.arctan2(-v, -u) / np.pi  # in [-1, 1]; -1 and 1 are both "pointing right"
    position = (angle + 1) / 2 * (n - 1)  # fractional index into the wheel
    k0 = np.floor(position).astype(np.int64)
    k1 = (k0 + 1) % n
    f = (position - k0)[..., None]
    color = ((1 - f) * wheel[k0] + f * wheel[k1]) / 255.0  # [H, W, 3] in [0, 1]
    r = radius[..., None]
    inside = r <= 1
    # Inside the unit circle, blend from white (no motion) to the wheel colour; beyond it, keep
    # the colour and darken it so saturated values are recognizable.
    color = np.where(inside, 1 - r * (1 - color), color * 0.75)
    color[~known] = 0
    return np.floor(255 * color).astype(np.uint8)


def color_wheel(size: int = 151) -> np.ndarray:
    """A ``size x size`` legend for :func:`flow_to_color`: the flow at each pixel is its offset from
    the centre, the disc's edge is full saturation; outside the disc is white."""
    if size < 3:
        raise VstError(f"color wheel size must be at least 3 pixels, got {size}")
    c = (size - 1) / 2
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32)
    flow = np.stack((xs - c, ys - c), axis=-1)
    image = flow_to_color(flow, max_magnitude=c)
    image[np.hypot(xs - c, ys - c) > c] = 255
    return image


def endpoint_error(flow, gt, mask=None) -> float:
    """Mean end-point error: mean over pixels of ``|flow - gt|`` (Euclidean, in pixels).

    Pixels where ``gt`` is unknown (``> 1e9`` or NaN) are ignored; with ``mask`` (bool ``[H, W]``)
    only pixels where it is True count.
    """
    flow, gt = _flow_array(flow), _flow_array(gt)
    if flow.shape != gt.shape:
        raise VstError(f"flow {flow.shape} and ground truth {gt.shape} differ in size; compare at one size")
    valid = _known(gt)
    if mask is not None:
        mask = np.asarray(mask.detach().cpu() if isinstance(mask, Tensor) else mask).astype(bool).squeeze()
        if mask.shape != valid.shape:
            raise VstError(f"mask {mask.shape} does not match the flow's size {valid.shape}")
        valid &= mask
    if not valid.any():
        raise VstError("no pixel to compare: the mask and the ground truth's known pixels do not overlap")
    diff = flow[valid].astype(np.float64) - gt[valid]
    return float(np.sqrt((diff**2).sum(axis=-1)).mean())


def downscale_flow(flow, size: tuple[int, int], valid=None, max_spread: float = 0.5):
    """Shrink a flow (e.g. MPI-Sintel's ground truth) to ``size = (H', W')``, for frames shrunk the
    same way, together with the pixels it still describes reliably.

    Each small pixel gets the mean of the vectors it covers (``cv2.INTER_AREA`` weights), in
    small-frame pixels (``dx * W'/W``, ``dy * H'/H``). It is reliable (1) when every pixel it
    covers is known (not ``> 1e9`` or NaN) and True in ``valid`` (bool ``[H, W]``, e.g. not
    occluded and not invalid), and when the covered vectors spread by at most ``max_spread``
    small pixels (RMS distance to their mean): a small pixel that straddles a motion boundary
    mixes two motions, and their mean fits neither.

    Args:
        flow: float ``[H, W, 2]`` (dx, dy) in pixels of the full-size frames.
        size: (H', W') of the small frames, at most (H, W).
    Returns:
        (float32 ``[H', W', 2]`` flow, float32 ``[H', W']`` mask in {0, 1}, 1 = reliable).

    >>> f = np.zeros((4, 8, 2), np.float32); f[..., 0] = 4.0; f[:, 6:] = 0.0  # two motions
    >>> small, reliable = downscale_flow(f, (2, 4))
    >>> small[0, :, 0].tolist(), reliable[0].tolist()  # 4 px become 2 px; the right column is still
    ([2.0, 2.0, 2.0, 0.0], [1.0, 1.0, 1.0, 1.0])
    >>> f[:, 5] = 0.0; downscale_flow(f, (2, 4))[1][0].tolist()  # a boundary inside a small pixel
    [1.0, 1.0, 0.0, 1.0]
    """
    flow = _flow_array(flow).astype(np.float64)
    h, w = flow.shape[:2]
    hs, ws = int(size[0]), int(size[1])
    if not (1 <= hs <= h and 1 <= ws <= w):
        raise VstError(f"downscale_flow shrinks: size {hs}x{ws} must be within 1x1..{h}x{w}")
    known = _known(flow.astype(np.float32))
    if valid is not None:
        valid = np.asarray(valid).astype(bool).squeeze()
        if valid.shape != (h, w):
            raise VstError(f"valid mask {valid.shape} does not match the flow's size {(h, w)}")
        known &= valid
    flow = np.where(known[..., None], flow, 0.0) * np.array([ws / w, hs / h])  # in small-frame pixels

    def area(a: np.ndarray) -> np.ndarray:
        return cv2.resize(a, (ws, hs), interpolation=cv2.INTER_AREA)

    mean = area(flow)
    spread2 = area((flow**2).sum(axis=2)) - (mean**2).sum(axis=2)  # E|f|^2 - |E f|^2
    reliable = (area(known.astype(np.float64)) > 1 - 1e-6) & (spread2 <= max_spread**2)
    return mean.astype(np.float32), reliable.astype(np.float32)


# --------------------------------------------------------------------------------------------
# Occlusions and reliability weights (Ruder et al. 2016)
# --------------------------------------------------------------------------------------------


def _gradient(x: Tensor, dim: int) -> Tensor:
    """Finite differences along ``dim``: central ``(f[i+1] - f[i-1]) / 2`` inside, one-sided
    (forward at the first, backward at the last sample) at the edges, like ``np.gradient``.

    Central differences are symmetric, so a motion boundary is flagged on both sides of the edge
    instead of being shifted half a pixel to one side as with forward differences.
    """
    if x.shape[dim] < 2:
        return torch.zeros_like(x)
    return torch.gradient(x, dim=dim, edge_order=1)[0]


def _occlusion_tensor(fab: Tensor, fba: Tensor, consistency: bool, motion_boundaries: bool,
                      out_of_frame: bool) -> Tensor:
    """The reliability mask ``[B, 1, H, W]`` (1 = reliable) of flows ``[B, 2, H, W]``; see occlusion_mask."""
    ctype = torch.float64 if fab.dtype == torch.float64 else torch.float32
    fab, fba = fab.to(ctype), fba.to(device=fab.device, dtype=ctype)
    h, w = fab.shape[-2:]
    # Unknown vectors (.flo "unknown", NaN) are unreliable; zero them so they cannot turn the
    # arithmetic below into inf/NaN.
    unknown_ab = ~torch.all(torch.isfinite(fab) & (fab.abs() <= UNKNOWN_FLOW_THRESHOLD), dim=1, keepdim=True)
    unknown_ba = ~torch.all(torch.isfinite(fba) & (fba.abs() <= UNKNOWN_FLOW_THRESHOLD), dim=1, keepdim=True)
    fab = fab.masked_fill(unknown_ab, 0.0)
    fba = fba.masked_fill(unknown_ba, 0.0)
    bad = unknown_ab.clone()

    if out_of_frame:
        x = torch.arange(w, device=fab.device, dtype=ctype).view(1, 1, 1, w) + fab[:, 0:1]
        y = torch.arange(h, device=fab.device, dtype=ctype).view(1, 1, h, 1) + fab[:, 1:2]
        bad |= (x < 0) | (x > w - 1) | (y < 0) | (y > h - 1)

    if consistency:
        back = _warp_tensor(fba, fab, "border")  # w^ = flow_ba(x + w), bilinear
        # Any unknown vector among the four bilinear taps makes w^ meaningless.
        bad |= _warp_tensor(unknown_ba.to(ctype), fab, "border") > 0
        mismatch = ((fab + back) ** 2).sum(1, keepdim=True)
        lengths = (fab**2).sum(1, keepdim=True) + (back**2).sum(1, keepdim=True)
        bad |= mismatch > CONSISTENCY_REL * lengths + CONSISTENCY_ABS

    if motion_boundaries:
        # |grad u|^2 + |grad v|^2 of flow_ab, summed over both components and both directions.
        grad2 = (_gradient(fab, dim=-1) ** 2 + _gradient(fab, dim=-2) ** 2).sum(1, keepdim=True)
        bad |= grad2 > MOTION_BOUNDARY_REL * (fab**2).sum(1, keepdim=True) + MOTION_BOUNDARY_ABS

    return (~bad).to(torch.float32)


def occlusion_mask(flow_ab, flow_ba, consistency: bool = True, motion_boundaries: bool = True,
                   out_of_frame: bool = True):
    """Per-pixel reliability of ``flow_ab`` in frame A's coordinates: 1 = reliable, 0 = not.

    Ruder et al. (2016)'s weights ``c`` for the temporal loss, with Sundaram et al.'s (2010)
    criteria (thresholds: the module constants). With ``w = flow_ab(x)`` and
    ``w^ = flow_ba(x + w)`` (``flow_ba`` sampled bilinearly, i.e. ``warp(flow_ba, flow_ab)``), a
    pixel is unreliable when

    * ``consistency``: ``|w + w^|^2 > 0.01 (|w|^2 + |w^|^2) + 0.5``: forward and backward flow
      disagree, typically because x is hidden in B (with A = frame t and B = frame t-1: the
      regions Ruder et al. call disoccluded, newly visible in t);
    * ``motion_boundaries``: ``|grad u|^2 + |grad v|^2 > 0.01 |w|^2 + 0.002`` with (u, v) the
      components of ``flow_ab``, differentiated with central differences inside the frame and
      one-sided differences on its edge (as ``np.gradient``);
    * ``out_of_frame``: ``x + w`` falls outside frame B;
    * either flow is unknown there (``> 1e9`` or NaN).

    Numpy flows ``[H, W, 2]`` give float32 ``[H, W]``; tensors ``[B, 2, H, W]`` give float32
    ``[B, 1, H, W]`` on their device. Both are computed by the same code, so they agree exactly.
    """
    as_numpy = not isinstance(flow_ab, Tensor)
    fab = _flow_tensor(flow_ab)
    fba = _flow_tensor(flow_ba, like=fab)
    if fab.shape != fba.shape and not (fab.shape[-2:] == fba.shape[-2:] and 1 in (fab.shape[0], fba.shape[0])):
        raise VstError(f"the two flows differ in size ({tuple(fab.shape)} and {tuple(fba.shape)}); "
                       f"compute both at one size")
    mask = _occlusion_tensor(fab, fba, consistency, motion_boundaries, out_of_frame)
    return mask[0, 0].cpu().numpy() if as_numpy else mask


def long_term_weights(masks: Sequence) -> list:
    """Ruder et al.'s long-term weights from short ones.

    ``masks[i]`` is the reliability mask ``c_j`` of the flow from frame t to frame t - j, for the
    offsets j in ascending order (e.g. J = 1, 2, 4). Returns ``c_long_j = max(c_j - sum_{k<j} c_k,
    0)``: a pixel is used only through the *nearest* previous frame where it is reliable, so that
    the loss does not pull it towards several (possibly inconsistent) earlier frames at once.
    Works on numpy arrays and tensors alike.
    """
    weights, seen = [], None
    for c in masks:
        if seen is None:
            weights.append(c * 1)  # a copy, of the same type
            seen = c * 1
        else:
            diff = c - seen
            weights.append(diff.clamp(min=0) if isinstance(diff, Tensor) else np.maximum(diff, 0))
            seen = seen + c
    return weights


# --------------------------------------------------------------------------------------------
# Flows of a whole clip: parallel and cached
# --------------------------------------------------------------------------------------------

DIRECTIONS = ("backward", "forward")


def clip_pairs(n_frames: int, offsets: Sequence[int] = (1,), directions: Sequence[str] = DIRECTIONS) -> list[Pair]:
    """The (a, b) pairs whose flows a clip of ``n_frames`` needs: for every frame t and offset j
    with t - j >= 0, the backward pair (t, t - j) and/or the forward pair (t - j, t)."""
    bad = [d for d in directions if d not in DIRECTIONS]
    if bad:
        raise VstError(f"unknown flow direction '{bad[0]}'; choose backward and/or forward")
    if any(int(j) != j or j < 1 for j in offsets):
        raise VstError(f"frame offsets must be whole numbers >= 1, got {tuple(offsets)}")
    pairs = []
    for t in range(n_frames):
        for j in offsets:
            if t - j >= 0:
                if "backward" in directions:
                    pairs.append((t, t - j))
                if "forward" in directions:
                    pairs.append((t - j, t))
    return pairs


def _frame_digest(rgb: np.ndarray) -> str:
    h = hashlib.sha256(f"{rgb.shape}|{rgb.dtype}|".encode())
    h.update(rgb.tobytes())
    return h.hexdigest()


def _cache_key(digest_a: str, digest_b: str, method: str, params: dict) -> str:
    key_params = {k: v for k, v in params.items() if k not in _NOT_IN_KEY}
    text = json.dumps([digest_a, digest_b, method, key_params], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _read_cached(path: Path, shape: tuple[int, int]) -> np.ndarray | None:
    """A cached flow of the right size, or None (missing, or damaged: then it is recomputed)."""
    if not path.is_file():
        return None
    try:
        flow = read_flo(path)
    except VstError:
        return None
    return flow if flow.shape[:2] == shape else None


def _compute_and_store(rgb_a: np.ndarray, rgb_b: np.ndarray, method: str, params: dict, path: Path | None):
    """One pair (also the task run by pool threads): estimate, write the cache file, return."""
    flow = estimate_flow(rgb_a, rgb_b, method, **params)
    if path is not None:
        write_flo(path, flow)  # atomic: a killed run never leaves a truncated cache file
    return flow


@contextlib.contextmanager
def _one_opencv_thread():
    """OpenCV's thread count is per process: one per worker thread while the pool runs, then back."""
    previous = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        yield
    finally:
        cv2.setNumThreads(previous)


def _run_pool(todo: dict, method: str, params: dict, workers: int, bar) -> dict:
    """Compute ``todo = {pair: (rgb_a, rgb_b, cache_path)}`` on ``workers`` threads.

    Threads, not processes: OpenCV's Python bindings release the GIL inside ``calc()``, so N
    threads run N flows at once, each on one OpenCV thread (N workers x N OpenCV threads would
    oversubscribe the cores). Unlike a process pool this needs no ``if __name__ == "__main__"``
    guard in scripts, copies no frames between processes, cannot deadlock a forked child of a
    process running torch's OpenMP threads, and starts in no time (process pools measured
    the same speed on 2 cores once started, but 1.5-2 s slower to start).
    """
    results = {}
    with _one_opencv_thread(), concurrent.futures.ThreadPoolExecutor(
            max_workers=workers, thread_name_prefix="vstlib-flow") as pool:
        futures = {pool.submit(_compute_and_store, a, b, method, params, path): pair
                   for pair, (a, b, path) in todo.items()}
        try:
            for future in concurrent.futures.as_completed(futures):
                pair = futures[future]
                try:
                    results[pair] = future.result()
                except VstError:
                    raise
                except Exception as exc:
                    raise RuntimeError(f"computing {method} flow for frames {pair[0]}->{pair[1]} failed: "
                                       f"{type(exc).__name__}: {exc}") from exc
                bar.update(1)
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)  # do not start the remaining pairs
            raise
    return results


def compute_flows(frames: Sequence[Frame], pairs: Sequence[Pair], method: str = "deepflow",
                  params: dict | None = None, workers: int | None = None, cache_dir=None,
                  progress: bool = True) -> dict[Pair, np.ndarray]:
    """Flows for several frame pairs of a clip: ``{(a, b): flow from frames[a] to frames[b]}``.

    Args:
        frames: the clip (uint8 ``[H, W, 3]`` arrays, float arrays or tensors in [0, 1]), all of one size.
        pairs: index pairs, e.g. from :func:`clip_pairs`.
        method, params: the backend and its parameters (see :func:`estimate_flow`).
        workers: pairs computed at once (threads) for the OpenCV backends; ``None`` = one per
            CPU core, ``1`` = one after the other with OpenCV's own multi-threading, while pool
            threads run one OpenCV thread each (so both use all cores and a timing comparison is
            fair). RAFT always runs one pair at a time, on its device.
        cache_dir: folder of the flow cache (default ``<VSTLIB_CACHE_DIR or ~/.cache/vstlib>/flow``);
            ``False`` disables caching. One .flo file per pair, named by a sha256 of both frames'
            contents, the backend and its parameters, so any change to those computes afresh
            and cached pairs are never recomputed.
        progress: show a progress bar.
    """
    from .data import cache_dir as default_cache_dir
    from .utils import progress_bar

    params = flow_params(method, **(params or {}))
    workers = (os.cpu_count() or 1) if workers is None else workers
    if not isinstance(workers, int) or workers < 1:
        raise VstError(f"flow workers must be a whole number >= 1, got {workers!r}")
    pairs = list(dict.fromkeys((int(a), int(b)) for a, b in pairs))  # unique, order kept
    n = len(frames)
    for a, b in pairs:
        if not (0 <= a < n and 0 <= b < n):
            raise VstError(f"flow pair ({a}, {b}) is out of range for a clip of {n} frames")

    used = sorted({i for pair in pairs for i in pair})
    rgb = {i: _as_rgb_u8(frames[i]) for i in used}
    sizes = {rgb[i].shape for i in used}
    if len(sizes) > 1:
        raise VstError(f"the frames differ in size ({', '.join(f'{s[1]}x{s[0]}' for s in sorted(sizes))}); "
                       f"resize them to one size first")

    folder = None
    if cache_dir is not False:
        folder = Path(cache_dir) if cache_dir is not None else default_cache_dir() / "flow"
        folder.mkdir(parents=True, exist_ok=True)
    digests = {i: _frame_digest(rgb[i]) for i in used} if folder is not None else {}

    flows: dict[Pair, np.ndarray] = {}
    todo: dict[Pair, tuple] = {}
    for a, b in pairs:
        path = folder / f"{method}-{_cache_key(digests[a], digests[b], method, params)}.flo" if folder else None
        cached = _read_cached(path, rgb[a].shape[:2]) if path is not None else None
        if cached is not None:
            flows[(a, b)] = cached
        else:
            todo[(a, b)] = (rgb[a], rgb[b], path)

    bar = progress_bar(total=len(pairs), initial=len(flows), desc=f"flow {method}", unit="pair",
                       disable=not progress)
    try:
        workers = min(workers, len(todo))
        if method == "raft" or workers <= 1:
            for pair, (a, b, path) in todo.items():
                flows[pair] = _compute_and_store(a, b, method, params, path)
                bar.update(1)
        else:
            flows.update(_run_pool(todo, method, params, workers, bar))
    finally:
        bar.close()
    return {pair: flows[pair] for pair in pairs}


