"""Style schedules: several paintings over one clip with gradual fades, and keyframes of a style video.

:func:`crossfade_schedule` turns a list of styles into the runner's per-frame schedule
(``schedule(i) -> ((style, weight), ...)``, see :mod:`vstlib.runner`): each style holds for its
share of the clip, and around each change the weight of the outgoing style falls linearly while
the next one's grows, over ``transition`` seconds centred on the change (the proportional mix).
How a mix is rendered is the method's business: ``gatys`` and ``ruder`` optimize towards the
mixed style targets, networks blend their outputs (pixel space), and a method with a style
vector may interpolate the vectors instead (embedding space); all read the same
:attr:`~vstlib.methods.FrameItem.mix`.

:func:`keyframes` picks one representative frame per shot of a *style video*, so that a video's
look (its shots) can become the styles of another clip. Shots are found with the same test
Ruder et al.'s method uses to restart at a cut (:mod:`vstlib.ruder`): a new shot starts where the
optical flow explains too few pixels of the previous frame; here a pixel counts as explained
when the flow is consistent forwards and backwards (:func:`vstlib.flow.occlusion_mask`) *and*
the previous frame warped along it has the same colour (a cut between two flat or smooth images
has a perfectly consistent zero flow, so consistency alone would miss it). PySceneDetect is not
used: it requires ``opencv-python``, which would replace the ``opencv-contrib-python`` that
vstlib needs for DeepFlow (both install the same ``cv2`` package).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import numpy as np

from .errors import VstError

StyleMix = tuple[tuple[int, float], ...]

# A frame whose previous frame explains fewer of its pixels starts a new shot. Ruder's flow-only
# test uses 0.2; with the colour test added, fast action explains less: measured at 128 px on
# sintel_640x360_10s, its 7 cuts score 0.02-0.13 and its fast motion 0.16-0.5 (tears_of_steel
# and bbb: cuts 0.00, within shots >= 0.3).
CUT_THRESHOLD = 0.15
COLOUR_TOLERANCE = 0.1  # an explained pixel differs from the warped previous frame by less than this (in [0, 1])
ANALYSIS_SIDE = 128  # shots are found on frames this small (flow at this size takes about a millisecond)


# --------------------------------------------------------------------------------------------
# Crossfades
# --------------------------------------------------------------------------------------------


def change_times(duration: float, n_styles: int, transition: float = 1.0,
                 times: Sequence[float] | None = None) -> list[float]:
    """The times (seconds from the clip's start) where style k-1 hands over to style k, k = 1..n-1.

    ``times``: the start time of every style (``times[0]`` is 0: the first style starts with the
    clip); default: equal shares of ``duration``. Raises :class:`VstError` for times that are not
    increasing, fall outside the clip, or lie closer together than ``transition`` (fades must not
    overlap, and the first and last fades must fit inside the clip).

    >>> change_times(9.0, 3)
    [3.0, 6.0]
    >>> change_times(9.0, 3, times=[0, 2, 7.5])
    [2.0, 7.5]
    >>> change_times(9.0, 2, times=[0, 12])
    Traceback (most recent call last):
    ...
    vstlib.errors.VstError: --style-times 12 is past the clip's end (9 s); give start times within the clip
    """
    if n_styles < 1:
        raise VstError("a style schedule needs at least one style")
    if not (math.isfinite(transition) and transition >= 0):
        raise VstError(f"--transition must be 0 or more seconds, got {transition:g}")
    if times is None:
        changes = [k * duration / n_styles for k in range(1, n_styles)]
    else:
        times = [float(t) for t in times]
        if len(times) != n_styles:
            raise VstError(f"--style-times gives {len(times)} start time(s) for {n_styles} style(s); give one per "
                           f"style, the first 0")
        if any(not math.isfinite(t) for t in times) or times[0] != 0:
            raise VstError(f"--style-times must start at 0 (the first style starts with the clip), got "
                           f"{','.join(f'{t:g}' for t in times)}")
        for a, b in zip(times, times[1:]):
            if b <= a:
                raise VstError(f"--style-times must increase, got {b:g} after {a:g}")
        late = [t for t in times if t >= duration]
        if late:
            raise VstError(f"--style-times {late[0]:g} is past the clip's end ({duration:g} s); give start times "
                           f"within the clip")
        changes = times[1:]
    starts = [0.0] + changes
    # every style shows alone at some instant: the first and last fades fit inside the clip
    for which, hold in (("first", changes[0] if changes else duration),
                        ("last", duration - changes[-1] if changes else duration)):
        if changes and hold < transition / 2:
            raise VstError(f"--transition {transition:g} s needs the {which} style to hold at least "
                           f"{transition / 2:.3g} s, it holds {hold:.3g} s; shorten it, or use fewer styles or a "
                           f"longer clip")
    for k in range(1, len(starts) - 1):
        gap = starts[k + 1] - starts[k]
        if gap < transition:
            raise VstError(f"--transition {transition:g} s is longer than the {gap:.3g} s that style {k + 1} of "
                           f"{n_styles} holds; shorten it, or use fewer styles or a longer clip")
    return changes


def mix_at(t: float, changes: Sequence[float], transition: float) -> StyleMix:
    """The style mix at time ``t`` (seconds) for the given change times (:func:`change_times`):
    one style outside the fades, two with weights ``1 - p`` and ``p`` inside the fade of change
    k, where ``p`` grows linearly from 0 to 1 over ``[c - transition/2, c + transition/2]``.

    >>> mix_at(1.0, [3.0], 2.0)
    ((0, 1.0),)
    >>> mix_at(2.5, [3.0], 2.0)
    ((0, 0.75), (1, 0.25))
    >>> mix_at(4.0, [3.0], 2.0)
    ((1, 1.0),)
    """
    for k, c in enumerate(changes, start=1):
        if transition > 0 and abs(t - c) < transition / 2:
            p = (t - (c - transition / 2)) / transition
            return ((k - 1, 1.0 - p), (k, p))
    return ((sum(1 for c in changes if t >= c), 1.0),)


def crossfade_schedule(n_frames: int, fps: float, n_styles: int, transition: float = 1.0,
                       times: Sequence[float] | None = None) -> Callable[[int], StyleMix]:
    """A schedule for :func:`vstlib.stylize_video` over ``n_frames`` output frames at ``fps``:
    each style holds for an equal share of the clip (or from its start time in ``times``), with
    linear fades of ``transition`` seconds centred on each change (see :func:`mix_at`).

    Output frame ``i`` is at ``i / fps`` seconds from the clip's start (with ``every`` > 1, pass
    the output's frame rate). The callable carries ``.key`` (for the runner's resume key) and
    ``.changes`` (the change times).

    >>> s = crossfade_schedule(10, 1.0, 2, transition=4)  # change at 5 s, fade over 3..7 s
    >>> [round(dict(s(i)).get(1, 0.0), 2) for i in range(10)]
    [0.0, 0.0, 0.0, 0.0, 0.25, 0.5, 0.75, 1.0, 1.0, 1.0]
    """
    if n_frames < 1 or not (math.isfinite(fps) and fps > 0):
        raise VstError(f"a style schedule needs frames and a frame rate, got {n_frames} frames at {fps:g} fps")
    changes = change_times(n_frames / fps, n_styles, transition, times)

    def schedule(i: int) -> StyleMix:
        return mix_at(i / fps, changes, transition)

    schedule.key = (f"crossfade(frames={n_frames},fps={fps:.6g},styles={n_styles},transition={transition:g},"
                    f"changes={','.join(f'{c:.6g}' for c in changes)})")
    schedule.changes = changes
    return schedule


def parse_times(text: str) -> list[float]:
    """``"0,3.5,7"`` -> ``[0.0, 3.5, 7.0]`` (``--style-times``).

    >>> parse_times("0, 3.5,7")
    [0.0, 3.5, 7.0]
    """
    try:
        return [float(v) for v in text.split(",")]
    except ValueError:
        raise VstError(f"--style-times '{text}' is not a list of seconds; give e.g. 0,3.5,7") from None


# --------------------------------------------------------------------------------------------
# Shots and keyframes of a style video
# --------------------------------------------------------------------------------------------


def explained_fraction(prev: np.ndarray, frame: np.ndarray, flow: str = "dis") -> float:
    """The fraction of ``frame``'s pixels that ``prev`` explains: the flow from ``frame`` to
    ``prev`` is consistent both ways and ``prev`` warped along it has the same colour (every
    channel within :data:`COLOUR_TOLERANCE`). Near 1 within a shot, near 0 across a cut.

    Frames: uint8 ``[H, W, 3]`` of one size.

    >>> a = np.zeros((48, 64, 3), np.uint8); a[..., 0] = 200
    >>> explained_fraction(a, a)
    1.0
    >>> b = a.copy(); b[..., 0], b[..., 2] = 0, 200  # a cut to another colour
    >>> explained_fraction(a, b)
    0.0
    """
    from .flow import estimate_flow, occlusion_mask, warp

    back = estimate_flow(frame, prev, flow)
    fwd = estimate_flow(prev, frame, flow)
    reliable = occlusion_mask(back, fwd) > 0.5
    aligned = warp(prev.astype(np.float32) / 255, back)
    same = np.abs(aligned - frame.astype(np.float32) / 255).max(axis=-1) < COLOUR_TOLERANCE
    return float((reliable & same).mean())


def shot_starts(frames: Iterable[np.ndarray], threshold: float = CUT_THRESHOLD, flow: str = "dis") -> list[int]:
    """Indices of the frames that start a shot (always 0 first): where :func:`explained_fraction`
    of a frame by the one before it falls below ``threshold``."""
    starts, prev = [], None
    for i, frame in enumerate(frames):
        if prev is None or explained_fraction(prev, frame, flow) < threshold:
            starts.append(i)
        prev = frame
    return starts


def _sharpness(frame: np.ndarray) -> float:
    """Variance of the Laplacian of the grey image (larger: more fine detail, less blur)."""
    import cv2

    grey = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
    return float(cv2.Laplacian(grey, cv2.CV_32F).var())


def merge_short(starts: Sequence[int], n_frames: int, min_frames: int) -> list[tuple[int, int]]:
    """Shots ``(first, end)`` from their start indices, each shorter than ``min_frames`` merged
    into the shot before it (the first one into the next).

    >>> merge_short([0, 10, 12, 30], 40, 5)
    [(0, 12), (12, 30), (30, 40)]
    >>> merge_short([0, 2, 30], 40, 5)
    [(0, 30), (30, 40)]
    """
    shots = [[a, b] for a, b in zip(starts, list(starts[1:]) + [n_frames]) if b > a]
    merged: list[list[int]] = []
    for shot in shots:
        if merged and (shot[1] - shot[0] < min_frames or merged[-1][1] - merged[-1][0] < min_frames):
            merged[-1][1] = shot[1]  # a short shot joins the one before; a short first shot takes the next
        else:
            merged.append(shot)
    return [(a, b) for a, b in merged]


def _longest_part(first: int, end: int, starts: Sequence[int]) -> tuple[int, int]:
    """The longest stretch of ``range(first, end)`` between detected shot starts.

    >>> _longest_part(12, 34, [0, 12, 32, 34])
    (12, 32)
    """
    cuts = sorted({first, end, *(s for s in starts if first < s < end)})
    return max(zip(cuts, cuts[1:]), key=lambda ab: ab[1] - ab[0])


def keyframes(style_video: str | Path, max_keyframes: int = 8, min_shot: float = 0.5, pick: str = "middle",
              max_side: int | None = 1024, threshold: float = CUT_THRESHOLD) -> list[tuple[float, np.ndarray]]:
    """One representative frame per shot of ``style_video``: ``[(time in seconds, uint8 [H, W, 3]), ...]``
    in time order.

    Shots (:func:`shot_starts`, on frames shrunk to :data:`ANALYSIS_SIDE`) shorter than
    ``min_shot`` seconds are merged into a neighbour (flashes, fast motion mistaken for a cut);
    of more than ``max_keyframes`` shots the longest are kept. ``pick``: ``"middle"`` (the middle
    frame of the shot) or ``"sharpest"`` (the largest variance of the Laplacian, i.e. the least
    motion blur), both within the longest detected part of a merged shot. Keyframes are shrunk so the longer side is at most ``max_side`` (never enlarged).
    """
    from .io import probe_video, read_frames

    if pick not in ("middle", "sharpest"):
        raise VstError(f"unknown keyframe choice '{pick}'; choose middle or sharpest")
    if max_keyframes < 1:
        raise VstError(f"max_keyframes must be 1 or more, got {max_keyframes}")
    info = probe_video(style_video)
    times, small, sharp = [], [], []
    side = min(ANALYSIS_SIDE, max(info.width, info.height))
    for t, frame in read_frames(style_video, max_side=side, with_times=True):
        times.append(float(t))
        small.append(frame)
        sharp.append(_sharpness(frame) if pick == "sharpest" else 0.0)
    if not small:
        raise VstError(f"no frames could be decoded from the style video '{style_video}'")
    starts = shot_starts(small, threshold)
    shots = merge_short(starts, len(small), max(1, round(min_shot * info.fps)))
    if len(shots) > max_keyframes:
        shots = sorted(sorted(shots, key=lambda s: s[0] - s[1])[:max_keyframes])  # longest first (stable), time order
    # A keyframe comes from the longest detected part of its (merged) shot, never from a flash.
    parts = [_longest_part(a, b, starts) for a, b in shots]
    if pick == "middle":
        chosen = [(a + b - 1) // 2 for a, b in parts]
    else:
        chosen = [max(range(a, b), key=lambda i: sharp[i]) for a, b in parts]
    big = max_side if max_side is not None and max(info.width, info.height) > max_side else None
    out = []
    for i in chosen:
        frames = read_frames(style_video, max_side=big, start=i, end=i + 1)
        try:
            out.append((times[i], next(iter(frames))))
        finally:
            frames.close()
    return out
