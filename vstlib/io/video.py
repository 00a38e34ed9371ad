"""Videos: probing, decoding with seeking, H.264 writing with timestamps and audio, joining.

Why PyAV (the FFmpeg libraries in-process) for probing, decoding and encoding
-----------------------------------------------------------------------------
Measured on the 2-core development machine (``bbb_adain_640x360_10s.mp4``, 240 frames, median
of 5 interleaved runs, other jobs running): decoding every frame to RGB arrays took 0.33 s with
PyAV, 0.34 s with the ffmpeg subprocess (imageio-ffmpeg's pipe) and 0.50 s with imageio's own
``pyav`` plugin (its extra layer copies and converts per frame); decoding *without* the RGB
conversion took 0.12 s with PyAV, which is what makes seeking cheap: frames before ``start``
are decoded (from the keyframe before it) but never converted. A subprocess can only seek by
time and gives frames without timestamps; PyAV gives each frame's timestamp, so ``start`` is a
frame index mapped through the packets' own timestamps, exact also for variable-frame-rate
files. Encoding 48 frames of 640x360 with libx264 took the same time both ways (PyAV 0.95-1.06 s,
subprocess 0.97-0.99 s) and PyAV releases the GIL while encoding; only PyAV can give every frame
its own timestamp (a raw-video pipe has none), which a variable-frame-rate source needs.
Probing reads the packets' timestamps without decoding (as the ffmpeg ``-c copy -f null`` run
did), giving an exact frame count and the variable-frame-rate flag, instead of parsing ffmpeg's
text report with regular expressions.

The audio (trimmed, re-encoded to AAC, every track) and the joining of parts without
re-encoding still go through the ffmpeg binary of imageio-ffmpeg: ``-ss``/``-t`` trimming and
the concat demuxer are one line each there and well proven.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Iterator, List, Optional, Tuple, Union

import av
import imageio_ffmpeg
import numpy as np
import torch

from ..errors import VstError
from .atomic import (PathLike, check_writable, disk_full_error, is_disk_full, new_temp_sibling,
                     remove_quietly)
from .frames import Size, as_uint8_frame, resize_frame, target_size

__all__ = ["VideoInfo", "probe_video", "has_audio", "is_video_path", "read_frames", "VideoWriter",
           "concat_videos", "VIDEO_EXTENSIONS"]

# Extensions the CLI treats as videos. ".gif" is deliberately absent: a GIF is often a still
# image, and load_image reads the first frame of an animated one.
VIDEO_EXTENSIONS = frozenset({".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v"})

# Containers VideoWriter can put H.264 + AAC into. (WebM only takes VP8/VP9/AV1, GIF has no
# H.264, and AVI cannot hold H.264 with B-frames cleanly.)
_WRITABLE_VIDEO_EXTENSIONS = frozenset({".mp4", ".mov", ".mkv", ".m4v"})

# Time base of videos written with per-frame timestamps (the MPEG clock: 1/90000 s).
_TIMED_CLOCK = 90000

# FFmpeg's log stays as PyAV leaves it (off): vstlib reports its own one-line errors. Do not
# call av.logging.set_level here: it installs a Python log callback, and a decoder thread that
# logs while the main thread waits for it with the GIL held deadlocks (seen here, intermittently,
# when a seek left the decoder logging about missing references).


# --------------------------------------------------------------------------------------------
# Opening and probing
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class VideoInfo:
    """What :func:`probe_video` found out about a video file.

    ``width``/``height`` are those of the decoded frames after the rotation of phone videos is
    applied, i.e. what :func:`read_frames` yields without resizing. ``n_frames`` is the number of
    video packets in the file (= frames for all common codecs); ``duration`` is the container
    duration in seconds; ``fps`` the average frame rate. ``audio_streams`` counts the audio
    tracks; ``variable_frame_rate`` is True when the frames are not evenly spaced in time (then
    write with ``VideoWriter.write(frame, time=...)`` to keep the timing).
    """

    path: Path
    width: int
    height: int
    fps: float
    n_frames: int
    duration: float
    has_audio: bool
    audio_streams: int = 0
    variable_frame_rate: bool = False


def is_video_path(path: PathLike) -> bool:
    """True if the file name looks like a video (by extension only; the file is not opened)."""
    return Path(path).suffix.lower() in VIDEO_EXTENSIONS


def _video_error(path: Path, reason: str) -> VstError:
    return VstError(f"cannot read video '{path}': {reason}; check the file or convert it to .mp4 (H.264)")


def _check_input(path: Path, what: str = "video") -> None:
    """Missing file and folder given as input: one line each, before FFmpeg is involved."""
    if path.is_dir():
        raise VstError(f"cannot read {what} '{path}': it is a folder, not a {what} file; give a {what} file")
    if not path.is_file():
        raise VstError(f"cannot read {what} '{path}': file not found; check the path")


def _reason(err: BaseException) -> str:
    """FFmpeg's reason, one line, without PyAV's '[Errno n] ...: path' decoration."""
    text = getattr(err, "strerror", None) or str(err) or type(err).__name__
    return text.splitlines()[0].strip().rstrip(".")


def _open(path: Path, what: str = "video") -> "av.container.InputContainer":
    try:
        return av.open(str(path), "r")
    except av.FFmpegError as err:
        if what == "video":
            raise _video_error(path, _reason(err)) from None
        raise VstError(f"cannot read '{path}': {_reason(err)}; check the file") from None


def _video_stream(container, path: Path):
    if not container.streams.video:
        raise _video_error(path, "the file has no video stream")
    return container.streams.video[0]


def _rotation(frame) -> int:
    """Counter-clockwise display rotation in degrees (0, 90, 180, 270), as FFmpeg's autorotation
    applies it: from the frame's display matrix (FFmpeg passes the stream's on to each frame)."""
    return int(round((frame.rotation or 0) / 90.0)) * 90 % 360


def _packet_times(container, stream, limit: Optional[int] = None) -> Tuple[List[int], bool]:
    """Presentation timestamps of the video packets (demuxed, not decoded), sorted, and whether
    every packet had one. Stops after ``limit`` packets; a damaged tail ends the list."""
    pts, complete = [], True
    try:
        for packet in container.demux(stream):
            if packet.size == 0 and packet.pts is None:  # the demuxer's final flush packet
                continue
            if packet.is_discard:  # e.g. cut off by an edit list: never shown
                continue
            if packet.pts is None:
                complete = False
            else:
                pts.append(int(packet.pts))
            if limit is not None and len(pts) >= limit:
                break
    except av.FFmpegError:  # truncated or damaged: what was read is what there is
        pass
    pts.sort()
    return pts, complete


def _is_variable(pts: List[int]) -> bool:
    """True when the gaps between frames differ by more than timestamp rounding (1.5 ticks and 1 %)."""
    if len(pts) < 3:
        return False
    gaps = np.diff(np.asarray(pts, dtype=np.int64))
    median = float(np.median(gaps))
    return bool(np.abs(gaps - median).max() > max(1.5, 0.01 * median))


def probe_video(path: PathLike) -> VideoInfo:
    """Size, frame rate, frame count, duration, audio tracks and frame-rate regularity of a video.

    Raises:
        VstError: missing file, a folder, not a video, no video stream, or no frames (one line).
    """
    path = Path(path)
    _check_input(path)
    with _open(path) as container:
        stream = _video_stream(container, path)
        ctx = stream.codec_context
        width, height = ctx.width, ctx.height
        if not width or not height:
            raise _video_error(path, "no frame size in the video stream")
        n_audio = len(container.streams.audio)
        fps_rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        duration = container.duration / av.time_base if container.duration else 0.0
        if duration <= 0 and stream.duration and stream.time_base:
            duration = float(stream.duration * stream.time_base)
        pts, _ = _packet_times(container, stream)
        n_frames = len(pts)
        if n_frames <= 0:
            raise _video_error(path, "the video stream has no frames (empty or truncated file)")
        rotation = 0
        with contextlib.suppress(av.FFmpegError, StopIteration):  # the first frame's display matrix
            container.seek(pts[0], stream=stream)
            rotation = _rotation(next(container.decode(stream)))
    if rotation in (90, 270):
        width, height = height, width
    fps = float(fps_rate) if fps_rate else 0.0
    if duration <= 0 and fps > 0:
        duration = n_frames / fps
    if fps <= 0 and duration > 0:
        fps = n_frames / duration
    return VideoInfo(path=path, width=width, height=height, fps=fps, n_frames=n_frames, duration=duration,
                     has_audio=n_audio > 0, audio_streams=n_audio, variable_frame_rate=_is_variable(pts))


def has_audio(path: PathLike) -> bool:
    """True if the media file has at least one audio stream.

    Raises:
        VstError: missing or unreadable file, or a folder.
    """
    path = Path(path)
    _check_input(path, "media")
    with _open(path, what="media") as container:
        if not container.streams:
            raise VstError(f"cannot read '{path}': not a media file; check the file")
        return len(container.streams.audio) > 0


# --------------------------------------------------------------------------------------------
# Reading frames
# --------------------------------------------------------------------------------------------


def read_frames(
    path: PathLike,
    size: Optional[Size] = None,
    max_side: Optional[int] = None,
    start: int = 0,
    end: Optional[int] = None,
    step: int = 1,
    with_times: bool = False,
) -> Iterator[Union[np.ndarray, Tuple[float, np.ndarray]]]:
    """Stream the frames of a video as uint8 ``[H, W, 3]`` RGB arrays.

    Frames ``start, start+step, ...`` up to (excluding) ``end`` are yielded; indices count the
    frames in presentation order from 0; ``step`` > 1 subsamples the frame rate. Only one frame
    is in memory at a time. Rotation metadata (phone videos) is applied; resizing uses
    :func:`~vstlib.io.frames.resize_frame`, the same code as :func:`~vstlib.io.load_image`.
    Odd sizes are kept as they are.

    ``start`` > 0 *seeks*: the packets' timestamps (read without decoding) tell which
    timestamp frame ``start`` has; decoding begins at the keyframe before it, and frames before
    that timestamp are decoded but not converted. The result is the same frames as decoding
    from the beginning and dropping ``start`` of them, also for variable frame rates.

    With ``with_times=True`` the items are ``(seconds, frame)``: the frame's presentation time
    from the first frame of the video (which is at 0.0), e.g. for
    ``VideoWriter.write(frame, time=seconds)``.

    Stopping early (``break``, ``close()``, or the iterator being garbage-collected) closes the file.

    Raises:
        VstError: bad range, missing file or a folder (at call time); a file that is not a
        readable video (on the first ``next()``).
    """
    # Arguments are checked here, eagerly; the generator below opens the file only when the
    # caller asks for the first frame.
    path = Path(path)
    start, step = int(start), int(step)
    if start < 0:
        raise VstError(f"start frame must be 0 or more, got {start}")
    if step < 1:
        raise VstError(f"step must be 1 or more, got {step}")
    if end is not None:
        end = int(end)
        if end <= start:
            raise VstError(f"end frame ({end}) must be after start frame ({start}); widen the range")
    if size is not None or max_side is not None:
        target_size(2, 2, size, max_side)  # validates size/max_side before any decoding
    _check_input(path)
    return _iter_frames(path, size, max_side, start, end, step, with_times)


def _decoded(container, stream, first_pts: Optional[int]):
    """Decoded frames of ``stream`` in presentation order, from the current position.

    While packets lie before ``first_pts`` the decoder skips frames no other frame refers to
    (AVDISCARD_NONREF; exact, since nothing depends on them); broken packets are skipped as
    FFmpeg's command line does.
    """
    ctx = stream.codec_context
    skipping = first_pts is not None
    if skipping:
        ctx.skip_frame = "NONREF"
    try:
        for packet in container.demux(stream):
            if skipping and packet.pts is not None and packet.pts >= first_pts:
                ctx.skip_frame = "DEFAULT"
                skipping = False
            try:
                yield from packet.decode()
            except av.error.InvalidDataError:
                continue
    except av.FFmpegError:  # a damaged tail: the frames so far are all there are
        return


def _iter_frames(path: Path, size, max_side, start: int, end: Optional[int], step: int, with_times: bool):
    container = _open(path)
    try:
        stream = _video_stream(container, path)
        stream.thread_type = "AUTO"  # frame and slice threads, as FFmpeg's command line uses
        time_base = stream.time_base or Fraction(1, 1)
        origin: Optional[int] = None  # pts of frame 0
        first_pts: Optional[int] = None  # pts of frame `start`
        if start > 0:
            # B-frames make packets arrive out of presentation order; a few extra packets
            # make sure the first start + 1 sorted timestamps are the right ones.
            pts, complete = _packet_times(container, stream, limit=start + 64)
            if complete and len(pts) <= start:
                return
            if complete:
                with contextlib.suppress(av.FFmpegError):
                    # back to the keyframe at or before frame `start` (PyAV flushes the decoder)
                    container.seek(pts[start], stream=stream, backward=True)
                    origin, first_pts = pts[0], pts[start]
            if first_pts is None:  # no usable timestamps, or no seeking: decode from the start, counting
                container.close()
                container = _open(path)
                stream = _video_stream(container, path)
                stream.thread_type = "AUTO"
        index = None if first_pts is not None else -1
        for frame in _decoded(container, stream, first_pts):
            pts = frame.pts
            if first_pts is not None and index is None:
                if pts is None or pts < first_pts:
                    continue  # before `start`: decoded for reference, never converted
                index = start
            else:
                index += 1
            if origin is None:
                origin = pts if pts is not None else 0
            if end is not None and index >= end:
                break
            if index < start or (index - start) % step:
                continue
            array = frame.to_ndarray(format="rgb24")
            rotation = _rotation(frame)
            if rotation:
                array = np.ascontiguousarray(np.rot90(array, k=rotation // 90))
            if size is not None or max_side is not None:
                array = resize_frame(array, size=size, max_side=max_side)
            if with_times:
                seconds = float((pts - origin) * time_base) if pts is not None else index / float(
                    stream.average_rate or 1)
                yield seconds, array
            else:
                yield array
    except av.FFmpegError as err:
        raise _video_error(path, _reason(err)) from None
    finally:
        # Runs when our generator is exhausted, closed or collected: an abandoned read keeps
        # no file open and no decoder threads running.
        container.close()


# --------------------------------------------------------------------------------------------
# Writing videos
# --------------------------------------------------------------------------------------------


def _pad_to_even(frame: np.ndarray) -> np.ndarray:
    """Pad an odd width/height by one pixel, repeating the last row/column.

    H.264 in yuv420p stores colour at half resolution, so both sides must be even. Padding
    (rather than resizing) keeps every original pixel exactly where it was, which matters
    when output frames are compared with input frames (e.g. for flow-based metrics); the extra
    row/column is a copy of its neighbour, so it is invisible.
    """
    h, w = frame.shape[:2]
    pad_h, pad_w = h % 2, w % 2
    if pad_h or pad_w:
        frame = np.pad(frame, ((0, pad_h), (0, pad_w), (0, 0)), mode="edge")
    return frame


def _mux(container, packet) -> None:
    """One packet into the file (a function of its own so tests can make the disk 'full')."""
    container.mux(packet)


def _x264_params() -> dict:
    """libx264 options that keep it off its AVX-512 code, on CPUs that have AVX-512.

    With it, x264 (core 165, the build in PyAV's wheels) did not always turn the same frames and
    times into the same bytes in a process that also decodes videos: two 32x18 frames came out
    up to 18 grey levels apart after decoding, which once made a resumed video differ from an
    uninterrupted one (tests/test_video.py; parts are joined without re-encoding, so the encoder
    must be reproducible). Limited to AVX2 the bytes were always the same, and they also were
    with AVX-512 when glibc filled fresh heap memory (``MALLOC_PERTURB_``): its AVX-512 code
    reads heap bytes it never wrote, whose values depend on what other threads (FFmpeg's threaded
    pixel-format conversion when decoding) left there. x264 writes the same bytes with either
    instruction set, so nothing else changes. ``test_video_writer_is_reproducible`` in
    tests/test_io.py checks it (it failed in 5 of 12 runs without this, on an AVX-512 Xeon).
    """
    cpu = getattr(getattr(torch.backends, "cpu", None), "get_cpu_capability", lambda: "")()
    return {"x264-params": "asm=AVX2"} if "AVX512" in str(cpu).upper() else {}


class VideoWriter:
    """Write frames to an H.264 (libx264, yuv420p) video, optionally with audio from a source.

    Use as a context manager::

        with VideoWriter("out.mp4", fps=info.fps, audio_from="in.mp4") as writer:
            for frame in frames:
                writer.write(frame)   # uint8 HxWx3 array, or tensor [1,3,H,W] / [3,H,W]

    * Frames with an odd width or height are padded by one pixel (see :func:`_pad_to_even`);
      all frames must have the size of the first one.
    * Timing: frames are ``1/fps`` apart, unless every frame is given its presentation time,
      ``write(frame, time=seconds)`` (e.g. from ``read_frames(..., with_times=True)``): then a
      variable-frame-rate source keeps its timing. Times are shifted so that the first frame is
      at 0. The last frame lasts until ``end_time`` when set (same clock as ``time``), else
      until ``audio_duration`` after the first frame when given, else as long as the frame before it.
    * Everything is written to a hidden temp file next to ``path`` and renamed into place only
      when the ``with`` block ends without an exception. On an exception the temp files are
      deleted and an existing file at ``path`` is left untouched. A full disk raises
      :class:`VstError` saying so (and which folder).
    * Writing zero frames raises :class:`VstError` and leaves nothing behind.
    * Audio: every audio track of ``audio_from``, from ``audio_start`` seconds, lasting
      ``audio_duration`` seconds (default: the length of the written video), is re-encoded to
      AAC and muxed in. Without an audio track the output is silent.

    Args:
        path: output file (.mp4, .mov, .mkv or .m4v).
        fps: frames per second of the output (the nominal rate when frames carry times).
        audio_from: media file to take audio from, or None.
        audio_start: where the audio excerpt starts in ``audio_from``, in seconds
            (e.g. the time of the first frame written, when only part of a video was stylised).
        audio_duration: length of the audio excerpt in seconds; None = video length.
        quality: 0 (worst) to 10 (best), mapped linearly to x264's CRF (51..0); None means
            CRF 18, x264's usual "visually lossless" setting.
        threads: x264's threads; None lets x264 choose (all cores). Fewer leave the cores to
            a computation running beside the encoder.
    """

    def __init__(
        self,
        path: PathLike,
        fps: float,
        audio_from: Optional[PathLike] = None,
        audio_start: float = 0.0,
        audio_duration: Optional[float] = None,
        quality: Optional[float] = None,
        threads: Optional[int] = None,
    ) -> None:
        self.path = Path(path)
        self.threads = threads
        if self.path.suffix.lower() not in _WRITABLE_VIDEO_EXTENSIONS:
            raise VstError(f"cannot write '{self.path}': H.264 video needs a .mp4, .mov, .mkv or .m4v file name")
        if not fps or float(fps) <= 0:
            raise VstError(f"fps must be positive, got {fps}")
        self.fps = float(fps)
        if quality is not None and not 0 <= float(quality) <= 10:
            raise VstError(f"quality must be between 0 and 10, got {quality}")
        self.crf = 18 if quality is None else int(round(51 * (1 - float(quality) / 10)))
        self.audio_from = Path(audio_from) if audio_from is not None else None
        if self.audio_from is not None:
            if self.audio_from.is_dir():
                raise VstError(f"cannot read audio from '{self.audio_from}': it is a folder, not a media file")
            if not self.audio_from.is_file():
                raise VstError(f"cannot read audio from '{self.audio_from}': file not found; check the path")
        if audio_start < 0:
            raise VstError(f"audio_start must be 0 or more seconds, got {audio_start}")
        if audio_duration is not None and audio_duration <= 0:
            raise VstError(f"audio_duration must be positive, got {audio_duration}")
        self.audio_start = float(audio_start)
        self.audio_duration = audio_duration
        self.end_time: Optional[float] = None  # with timed frames: when the last frame ends
        self.n_frames = 0
        self._rate = Fraction(self.fps).limit_denominator(1001)
        self._frame_size: Optional[Tuple[int, int]] = None  # (H, W) after padding
        self._container = None  # PyAV output, opened on the first frame
        self._stream = None
        self._timed: Optional[bool] = None  # frames carry times (decided by the first frame)
        self._t0 = 0.0
        self._pending = None  # (VideoFrame, pts): the last frame, encoded once its duration is known
        self._prev_gap: Optional[int] = None
        self._durations: dict = {}  # pts -> duration, for the packets
        self._video_temp: Optional[Path] = None  # what the encoder writes
        self._open = False

    # -- context manager ---------------------------------------------------------------------

    def __enter__(self) -> "VideoWriter":
        check_writable(self.path)
        self._video_temp = new_temp_sibling(self.path)
        self._open = True
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        if exc_type is not None:
            self._abort()
            if is_disk_full(exc):
                raise disk_full_error(self.path) from None
            return False  # re-raise the caller's exception
        self.close()
        return False

    # -- writing -----------------------------------------------------------------------------

    def write(self, frame: Union[np.ndarray, torch.Tensor], time: Optional[float] = None) -> None:
        """Append one frame: uint8 HxWx3 RGB array or float tensor [1,3,H,W]/[3,H,W] in [0,1];
        ``time``: its presentation time in seconds (give it for every frame, or for none)."""
        if not self._open:
            raise RuntimeError("VideoWriter.write() called outside its 'with' block")
        array = _pad_to_even(as_uint8_frame(frame))
        timed = time is not None
        if self._container is None:
            self._timed = timed
            self._t0 = float(time) if timed else 0.0
            self._start_encoder(array.shape[0], array.shape[1])
        elif array.shape[:2] != self._frame_size:
            raise ValueError(f"frame {self.n_frames} has size {array.shape[:2]} (H, W), but the video is {self._frame_size}")
        if timed != self._timed:
            raise ValueError("give time= for every frame written, or for none")
        pts = self._pts(time) if timed else self.n_frames
        if self._pending is not None and pts <= self._pending[1]:
            raise ValueError(f"frame times must increase: frame {self.n_frames} at {time} s is not after the one before")
        video_frame = av.VideoFrame.from_ndarray(array, format="rgb24")  # a copy: the caller may reuse `frame`
        video_frame.pts = pts
        video_frame.time_base = self._stream.codec_context.time_base
        self._flush_pending(pts)
        self._pending = (video_frame, pts)
        self.n_frames += 1

    def _pts(self, time: float) -> int:
        return int(round((float(time) - self._t0) * _TIMED_CLOCK))

    def _start_encoder(self, height: int, width: int) -> None:
        self._frame_size = (height, width)
        try:
            self._container = av.open(str(self._video_temp), "w")
            stream = self._container.add_stream("libx264", rate=self._rate)
            stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
            stream.codec_context.time_base = (Fraction(1, _TIMED_CLOCK) if self._timed
                                              else Fraction(self._rate.denominator, self._rate.numerator))
            options = {"crf": str(self.crf), **_x264_params()}
            if self._timed:
                # No B-frames: MP4 stores a frame's duration as the gap to the next frame in
                # *decode* order, so with reordering a remux (audio, joining parts) would give the
                # last frame another frame's duration (measured: 2.023 s instead of 2.000 s).
                stream.codec_context.max_b_frames = 0
            stream.options = options
            if self.threads is not None:
                stream.codec_context.thread_count = int(self.threads)
            self._stream = stream
        except av.FFmpegError as err:
            self._raise_write_error(err)

    def _encode(self, frame) -> None:
        try:
            for packet in self._stream.encode(frame):
                if packet.pts is not None and packet.pts in self._durations:
                    packet.duration = self._durations.pop(packet.pts)
                _mux(self._container, packet)
        except (av.FFmpegError, OSError) as err:
            self._raise_write_error(err)

    def _raise_write_error(self, err: BaseException):
        if is_disk_full(err):
            raise disk_full_error(self.path) from None
        raise VstError(f"cannot write video '{self.path}': {_reason(err)}") from None

    def _flush_pending(self, next_pts: int) -> None:
        """Encode the held-back frame now that the next one tells how long it lasts."""
        if self._pending is None:
            return
        frame, pts = self._pending
        self._prev_gap = next_pts - pts
        self._durations[pts] = self._prev_gap
        self._pending = None
        self._encode(frame)

    def _last_duration(self) -> int:
        """Ticks the last frame lasts: until ``end_time`` (or ``audio_duration`` after the first
        frame) when that is later than its start, else as long as the frame before it."""
        if not self._timed:
            return 1
        pts = self._pending[1]
        end = self.end_time - self._t0 if self.end_time is not None else self.audio_duration
        if end is not None and int(round(end * _TIMED_CLOCK)) > pts:
            return int(round(end * _TIMED_CLOCK)) - pts
        return self._prev_gap or max(1, int(round(_TIMED_CLOCK / self.fps)))

    # -- finishing ---------------------------------------------------------------------------

    def _finish_encoder(self) -> float:
        """Encode the last frame, drain the encoder, close the file; return the video's seconds."""
        pts = self._pending[1]
        end_pts = pts + self._last_duration()
        self._flush_pending(end_pts)
        self._encode(None)  # drain the encoder
        try:
            self._container.close()
        except (av.FFmpegError, OSError) as err:
            self._raise_write_error(err)
        finally:
            self._container = None
        return end_pts / _TIMED_CLOCK if self._timed else end_pts / float(self._rate)

    def _close_quietly(self) -> None:
        if self._container is not None:
            with contextlib.suppress(Exception):
                self._container.close()
            self._container = None

    def _abort(self) -> None:
        """Stop the encoder and delete temp files; the destination is never touched."""
        self._open = False
        try:
            self._close_quietly()
        finally:
            remove_quietly(self._video_temp)
            self._video_temp = None

    def close(self) -> None:
        """Finish the video and move it into place (called by ``__exit__``)."""
        if not self._open:
            return
        if self.n_frames == 0:
            self._abort()
            raise VstError(f"cannot write video '{self.path}': no frames were written; check the input range")
        final_temp: Optional[Path] = None
        try:
            video_seconds = self._finish_encoder()
            self._open = False
            written = probe_video(self._video_temp).n_frames  # a readable video of the expected length?
            if written != self.n_frames:
                raise VstError(f"cannot write video '{self.path}': the encoder wrote {written} of {self.n_frames} frames")
            final_temp = self._video_temp
            if self.audio_from is not None and has_audio(self.audio_from):
                final_temp = new_temp_sibling(self.path, tag="-av")
                duration = self.audio_duration if self.audio_duration is not None else video_seconds
                cmd = [_ffmpeg(), "-hide_banner", "-nostdin", "-y", "-loglevel", "error", "-i", str(self._video_temp),
                       *_trimmed_audio_args(self.audio_from, self.audio_start, duration), "-c:v", "copy",
                       str(final_temp)]
                reason = _run_ffmpeg(cmd)
                if reason is not None:
                    if _says_disk_full(reason):
                        raise disk_full_error(self.path)
                    raise VstError(f"cannot add audio from '{self.audio_from}' to '{self.path}': {reason}")
                remove_quietly(self._video_temp)
            os.replace(final_temp, self.path)
            final_temp = None
            self._video_temp = None
        except BaseException:
            self._close_quietly()
            remove_quietly(self._video_temp)
            remove_quietly(final_temp)
            self._video_temp = None
            self._open = False
            raise

    def __del__(self) -> None:
        # A writer dropped without 'with'/close() must not leave temp files behind.
        if getattr(self, "_open", False):
            with contextlib.suppress(Exception):
                self._abort()


# --------------------------------------------------------------------------------------------
# Audio and joining: the ffmpeg binary
# --------------------------------------------------------------------------------------------


def _ffmpeg() -> str:
    return imageio_ffmpeg.get_ffmpeg_exe()


def _trimmed_audio_args(audio_from: PathLike, start: float, duration: float) -> List[str]:
    """ffmpeg arguments adding ``duration`` seconds of every audio track of ``audio_from`` from
    ``start`` as a second input, mapped beside the first input's video and encoded to AAC.

    -ss/-t before the second -i apply to that input only: seek and cut the audio. The audio is
    re-encoded: cutting a compressed stream with 'copy' snaps to packet boundaries, and AAC is
    what every MP4 player expects whatever the source codec was. ``-map 1:a`` takes all audio
    tracks (a commentary or second language track is kept, not dropped).
    """
    return ["-ss", f"{start:.6f}", "-t", f"{duration:.6f}", "-i", str(audio_from),
            "-map", "0:v:0", "-map", "1:a", "-c:a", "aac", "-b:a", "192k"]


def _run_ffmpeg(cmd: List[str]) -> Optional[str]:
    """Run an ffmpeg command; None on success, else its last error line (or exit status)."""
    proc = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False)
    if proc.returncode == 0:
        return None
    message = proc.stderr.decode("utf-8", errors="replace").strip().splitlines()
    return message[-1] if message else f"ffmpeg exit status {proc.returncode}"


def _says_disk_full(reason: str) -> bool:
    return "No space left on device" in reason or "Disk quota exceeded" in reason


def concat_videos(
    parts: List[Path],
    path: PathLike,
    audio_from: Optional[PathLike] = None,
    audio_start: float = 0.0,
    audio_duration: Optional[float] = None,
) -> None:
    """Join H.264 videos written by :class:`VideoWriter` (same size) into ``path``, without
    re-encoding, and add the trimmed audio (every track) of ``audio_from`` as VideoWriter does.

    Each part starts where the one before ends (its last frame's duration included), so parts
    written with per-frame times keep them. Written to a temporary file and renamed into place:
    ``path`` is never left half-written.
    """
    path = Path(path)
    if not parts:
        raise VstError(f"cannot write video '{path}': nothing to join")
    check_writable(path)
    listing = new_temp_sibling(path, tag="-list")
    temp = new_temp_sibling(path, tag="-cat")
    try:
        # The concat demuxer's list format: one "file '<path>'" per line, quotes escaped.
        try:
            listing.write_text("".join("file '" + str(Path(p).resolve()).replace("'", "'\\''") + "'\n"
                                       for p in parts))
        except OSError as err:
            if is_disk_full(err):
                raise disk_full_error(path) from None
            raise
        cmd = [_ffmpeg(), "-hide_banner", "-nostdin", "-y", "-loglevel", "error",
               "-f", "concat", "-safe", "0", "-i", str(listing)]
        if audio_from is not None and has_audio(audio_from):
            if audio_duration is None:
                audio_duration = sum(probe_video(p).duration for p in parts)
            cmd += _trimmed_audio_args(audio_from, audio_start, audio_duration)
        suffix = path.suffix.lower()
        cmd += ["-c:v", "copy", "-f", "mp4" if suffix in (".mp4", ".m4v") else ("mov" if suffix == ".mov" else "matroska"),
                str(temp)]
        reason = _run_ffmpeg(cmd)
        if reason is not None:
            if _says_disk_full(reason):
                raise disk_full_error(path)
            raise VstError(f"cannot write video '{path}': {reason}")
        os.replace(temp, path)
    finally:
        remove_quietly(listing)
        remove_quietly(temp)
