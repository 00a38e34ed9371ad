"""Temporal stabilization: a post step that blends the previous output, carried along the optical
flow, into the current one wherever the flow is trusted. Works after any per-frame method.

With ``out_t`` the method's output for frame t, ``f`` the flow from input frame t to input frame
t-1 (computed on the *input* frames, which do not flicker), ``c`` its reliability mask
(:func:`reliability_mask`: the criteria of :func:`vstlib.flow.occlusion_mask`, forward-backward
consistency, motion boundaries, out of frame) and a strength ``s`` in [0, 1]::

    out'_t = (1 - s c) out_t + s c warp(out'_{t-1}, f)

Where ``c = 0`` (disocclusions, motion boundaries, pixels entering the frame) the method's output
is kept unchanged; where ``c = 1`` the output is an exponential moving average along the motion
trajectories. A frame whose reliable fraction falls below :data:`CUT_THRESHOLD` starts a new shot
(the same criterion and threshold as Ruder's shot-cut detection, :mod:`vstlib.ruder`), and is
left unchanged.

What it does to flicker (static scene, ``c = 1``): if the method's output is ``m + n_t`` with
``n_t`` independent noise of variance ``sigma^2``, the stabilized noise ``v_t`` obeys
``v_t = (1 - s) n_t + s v_{t-1}``, so its variance ``V_t = (1 - s)^2 sigma^2 + s^2 V_{t-1}``
(``V_0 = sigma^2``) tends to ``sigma^2 (1 - s) / (1 + s)``, and the frame difference
``out'_t - out'_{t-1} = (1 - s)(n_t - v_{t-1})`` has the mean square
``D_t = (1 - s)^2 (sigma^2 + V_{t-1})`` against ``2 sigma^2`` without the step: each step's change
is scaled by ``1 - s``, and the steady-state RMS flicker by ``(1 - s) / sqrt(1 + s)``
(:func:`expected_flicker`). The price is lag: a change of the method's output (a new style, a
lighting change the method reacts to) reaches the output with the time constant
``1 / (1 - s)`` frames, and a flow error leaves a faint copy of the previous output (ghosting)
where the mask trusts a wrong vector.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

from .errors import VstError
from .methods.ruder import RuderConfig

__all__ = ["CUT_THRESHOLD", "STABILIZE_FLOWS", "Stabilizer", "check_strength", "expected_flicker", "reliability_mask",
           "stabilize_blend"]

# Ruder's shot-cut criterion (fewer reliable pixels than this fraction: a new shot), with its default.
CUT_THRESHOLD: float = RuderConfig.cut_threshold
# Flow backends the stabilizer offers (RAFT would download weights; these run offline on a CPU),
# and their settings: DIS "fast" is ~5 ms at 640x360 on one core.
STABILIZE_FLOWS = ("dis", "farneback", "deepflow")
FLOW_SETTINGS = {"dis": {"preset": "fast"}, "farneback": {}, "deepflow": {}}
# The flow and its reliability mask are computed on frames at most this many pixels on the longer
# side, then scaled up: at 640x360 the two DIS flows and the mask take ~6 ms at 320 px against
# ~23 ms at full size (on one busy core), which matters next to a ~100 ms network pass, and the
# blend (the warp of the previous output) still runs at full resolution.
ANALYSIS_SIDE = 320


def check_strength(strength) -> float:
    """``strength`` as a float in [0, 1], or one clear line.

    >>> check_strength(0.5)
    0.5
    >>> check_strength(2)
    Traceback (most recent call last):
    ...
    vstlib.errors.VstError: --stabilize 2 is out of range (must be >= 0 and <= 1): 0 = off, 0.5-0.8 typical
    """
    try:
        value = float(strength)
    except (TypeError, ValueError):
        raise VstError(f"--stabilize must be a number between 0 and 1, got {strength!r}") from None
    if not (math.isfinite(value) and 0.0 <= value <= 1.0):
        raise VstError(f"--stabilize {value:g} is out of range (must be >= 0 and <= 1): 0 = off, 0.5-0.8 typical")
    return value


def stabilize_blend(current: Tensor, warped_previous: Tensor, reliability: Tensor, strength: float) -> Tensor:
    """``(1 - s c) current + s c warped_previous``.

    Args:
        current: the method's output, (*, C, H, W) in [0, 1].
        warped_previous: the previous stabilized output warped onto this frame, (*, C, H, W).
        reliability: the mask ``c``, (*, 1, H, W) in [0, 1] (1: the flow is trusted).
        strength: ``s`` in [0, 1] (0: ``current`` unchanged).

    >>> cur, prev = torch.zeros(1, 3, 2, 2), torch.ones(1, 3, 2, 2)
    >>> c = torch.tensor([[[[1.0, 0.0], [1.0, 0.0]]]])
    >>> stabilize_blend(cur, prev, c, 0.75)[0, 0].tolist()
    [[0.75, 0.0], [0.75, 0.0]]
    """
    s = check_strength(strength)
    if current.shape != warped_previous.shape:
        raise VstError(f"the previous output {tuple(warped_previous.shape)} does not fit the current one "
                       f"{tuple(current.shape)}; both must have the same size")
    weight = (s * reliability).to(current.dtype)
    return current + weight * (warped_previous - current)


def expected_flicker(strength: float, frames: int | None = None) -> float:
    """The RMS frame difference of stabilized i.i.d. noise relative to the unstabilized one (static
    scene, ``c = 1``): ``(1 - s) / sqrt(1 + s)`` in the steady state, or, with ``frames``, at the
    difference between frames ``frames - 1`` and ``frames`` counted from the first (unchanged)
    output (module docstring).

    >>> round(expected_flicker(0.5), 4), expected_flicker(0.0), round(expected_flicker(0.5, frames=1), 4)
    (0.4082, 1.0, 0.5)
    """
    s = check_strength(strength)
    if frames is None:
        return (1 - s) / math.sqrt(1 + s)
    variance = 1.0  # V_0 = sigma^2 = 1
    for _ in range(frames - 1):
        variance = (1 - s) ** 2 + s**2 * variance
    return math.sqrt((1 - s) ** 2 * (1 + variance) / 2)


def _sample(image: np.ndarray, map_x: np.ndarray, map_y: np.ndarray) -> np.ndarray:
    """``image`` [H, W, C] float32 sampled bilinearly at (map_x, map_y), edges repeated: the numpy
    path of :func:`vstlib.flow.warp` with the positions already computed."""
    import cv2

    return cv2.remap(image, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE).reshape(image.shape)


def reliability_mask(flow_ab: np.ndarray, flow_ba: np.ndarray) -> np.ndarray:
    """Ruder et al.'s reliability of ``flow_ab`` ([H, W, 2], in A's coordinates, float32 [H, W],
    1 = reliable): the criteria and thresholds of :func:`vstlib.flow.occlusion_mask`
    (forward-backward consistency, motion boundaries, out of frame, unknown vectors), computed
    with OpenCV and numpy in a few milliseconds at 640x360 (a torch version pays for a dozen
    thread-pool launches per frame, which a busy CPU turns into tens of milliseconds).

    >>> right = np.zeros((4, 6, 2), np.float32); right[..., 0] = 1
    >>> reliability_mask(right, -right)[0].tolist()  # the last column leaves the frame
    [1.0, 1.0, 1.0, 1.0, 1.0, 0.0]
    """
    from .flow import CONSISTENCY_ABS, CONSISTENCY_REL, MOTION_BOUNDARY_ABS, MOTION_BOUNDARY_REL

    h, w = flow_ab.shape[:2]
    u, v = (np.asarray(flow_ab[..., k], np.float32) for k in (0, 1))
    unknown = ~((np.abs(u) <= 1e9) & (np.abs(v) <= 1e9))  # NaN compares False: unknown too
    if unknown.any():
        u, v = np.where(unknown, 0, u), np.where(unknown, 0, v)
    fba = np.nan_to_num(np.asarray(flow_ba, np.float32), nan=0.0, posinf=0.0, neginf=0.0)
    map_x = np.arange(w, dtype=np.float32)[None, :] + u
    map_y = np.arange(h, dtype=np.float32)[:, None] + v
    bad = unknown | (map_x < 0) | (map_x > w - 1) | (map_y < 0) | (map_y > h - 1)
    back = _sample(fba, map_x, map_y)  # w^ = flow_ba(x + w)
    bu, bv = back[..., 0], back[..., 1]
    lengths = u * u + v * v
    bad |= (u + bu) ** 2 + (v + bv) ** 2 > CONSISTENCY_REL * (lengths + bu * bu + bv * bv) + CONSISTENCY_ABS
    if h > 1 and w > 1:
        grad2 = sum(g * g for c in (u, v) for g in np.gradient(c))
        bad |= grad2 > MOTION_BOUNDARY_REL * lengths + MOTION_BOUNDARY_ABS
    return (~bad).astype(np.float32)


class Stabilizer:
    """The stabilization post step: ``step(image [1, 3, H, W], item) -> image`` for
    :func:`vstlib.runner.stylize_video`, fed the frames in order.

    It carries the previous input frame and the previous stabilized output between frames;
    :meth:`state_dict` / :meth:`load_state_dict` hand them to the runner, which saves them with
    every finished part, so a resumed video continues exactly.

    Args:
        strength: ``s`` in [0, 1].
        flow: the flow backend (:data:`STABILIZE_FLOWS`), on the input frames.
        flow_fn: ``flow_fn(frame_a, frame_b) -> flow a -> b`` (numpy [H, W, 2]) instead of ``flow``
            (e.g. known flows in tests).
        cut_threshold: a frame with a smaller reliable fraction starts a new shot.
    """

    def __init__(self, strength: float, flow: str = "dis", flow_fn=None, cut_threshold: float = CUT_THRESHOLD,
                 analysis_side: int | None = ANALYSIS_SIDE):
        self.strength = check_strength(strength)
        if flow not in STABILIZE_FLOWS:
            raise VstError(f"unknown --stabilize-flow '{flow}'; choose one of {', '.join(STABILIZE_FLOWS)}")
        self.flow, self.flow_fn, self.cut_threshold = flow, flow_fn, float(cut_threshold)
        self.analysis_side = analysis_side  # None: flow and mask at the frames' own size
        self.prev_frame: np.ndarray | None = None  # input frame t-1, uint8 [H, W, 3]
        self.prev_out: Tensor | None = None  # stabilized output t-1, [1, 3, H, W] on the CPU
        self.next_index = 0
        self.cuts: list[int] = []  # frames that started a new shot (left unchanged)
        self.reliable: list[float] = []  # the reliable fraction of each frame after the first (diagnostics)

    def __repr__(self) -> str:  # the runner's resume key names the post steps
        return f"Stabilizer(strength={self.strength:g}, flow={self.flow!r}, analysis_side={self.analysis_side})"

    def _flow(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        if self.flow_fn is not None:
            return np.asarray(self.flow_fn(a, b), np.float32)
        from .flow import estimate_flow

        return estimate_flow(a, b, self.flow, **FLOW_SETTINGS[self.flow])

    def reliability(self, frame: np.ndarray, prev_frame: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(flow from ``frame`` to ``prev_frame`` [H, W, 2], its reliability mask [H, W] in [0, 1]),
        computed at most :attr:`analysis_side` pixels on the longer side and scaled up (bilinear:
        the mask is soft along the edges of unreliable regions)."""
        import cv2

        h, w = frame.shape[:2]
        side = self.analysis_side
        if self.flow_fn is not None or side is None or max(h, w) <= side:
            back = self._flow(frame, prev_frame)
            return back, reliability_mask(back, self._flow(prev_frame, frame))
        scale = side / max(h, w)
        small = (max(1, round(w * scale)), max(1, round(h * scale)))
        a, b = (cv2.resize(np.ascontiguousarray(f), small, interpolation=cv2.INTER_AREA) for f in (frame, prev_frame))
        back = self._flow(a, b)
        mask = reliability_mask(back, self._flow(b, a))
        back = cv2.resize(back, (w, h), interpolation=cv2.INTER_LINEAR)
        back[..., 0] *= w / small[0]  # vectors in full-size pixels
        back[..., 1] *= h / small[1]
        return back, np.clip(cv2.resize(mask, (w, h), interpolation=cv2.INTER_LINEAR), 0.0, 1.0)

    def __call__(self, image: Tensor, item) -> Tensor:
        frame = np.asarray(item.frame)
        out = image
        usable = (self.prev_out is not None and self.strength > 0 and item.index == self.next_index
                  and self.prev_frame.shape == frame.shape and tuple(self.prev_out.shape) == tuple(image.shape))
        if usable:
            back, mask = self.reliability(frame, self.prev_frame)
            fraction = float(mask.mean())
            self.reliable.append(fraction)
            if fraction < self.cut_threshold:
                self.cuts.append(item.index)
            else:  # numpy on the CPU: one remap, no thread-pool launches per operation
                h, w = mask.shape
                map_x = np.arange(w, dtype=np.float32)[None, :] + back[..., 0]
                map_y = np.arange(h, dtype=np.float32)[:, None] + back[..., 1]
                previous = _sample(np.ascontiguousarray(self.prev_out[0].permute(1, 2, 0).numpy()), map_x, map_y)
                current = image.detach()[0].to("cpu", torch.float32).permute(1, 2, 0).numpy()
                weight = (self.strength * mask)[..., None]
                blended = current + weight * (previous - current)
                out = torch.from_numpy(np.ascontiguousarray(blended.transpose(2, 0, 1)))[None].to(image.device,
                                                                                                   image.dtype)
        self.prev_frame = frame.copy()
        self.prev_out = out.detach().to("cpu", torch.float32).clone()
        self.next_index = item.index + 1
        return out

    # -- carried state (saved by the runner with each finished part) --
    def state_dict(self) -> dict:
        return {"next_index": self.next_index, "cuts": list(self.cuts),
                "prev_frame": None if self.prev_frame is None else torch.from_numpy(self.prev_frame.copy()),
                "prev_out": self.prev_out}

    def load_state_dict(self, state: dict) -> None:
        self.next_index = int(state["next_index"])
        self.cuts = list(state.get("cuts", []))
        frame = state.get("prev_frame")
        self.prev_frame = None if frame is None else frame.numpy()
        self.prev_out = state.get("prev_out")
