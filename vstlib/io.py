"""Reading and writing images and videos.

Conventions used throughout vstlib:

* a *tensor* is a float32 ``torch.Tensor`` of shape ``[1, 3, H, W]``, RGB, values in ``[0, 1]``;
* an *array* (or *frame*) is a numpy ``uint8`` array of shape ``[H, W, 3]``, RGB.

Images are decoded with OpenCV (it keeps 16-bit PNGs at full precision, which Pillow does not
for 16-bit RGB) and Pillow is used for what OpenCV lacks (EXIF orientation tags, GIF, ...).
Videos go through the ffmpeg binary that ships with ``imageio-ffmpeg``, so no system ffmpeg
is needed. Frames are streamed one at a time; a whole video is never held in memory.

Every file this module writes is first written to a hidden temporary file next to the
destination and renamed into place only when it is complete (:func:`atomic_path`), so an
interrupted run never leaves a truncated image or video behind, nor destroys an older one.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, List, Optional, Tuple, Union

import cv2
import imageio_ffmpeg
import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from .errors import VstError

__all__ = [
    "load_image",
    "save_image",
    "to_tensor",
    "to_array",
    "resize_frame",
    "atomic_path",
    "VideoInfo",
    "probe_video",
    "has_audio",
    "is_video_path",
    "read_frames",
    "VideoWriter",
    "VIDEO_EXTENSIONS",
]

PathLike = Union[str, "os.PathLike[str]"]
Size = Tuple[int, int]  # (height, width), the same order as tensor shapes

# Extensions the CLI treats as videos. ".gif" is deliberately absent: a GIF is often a still
# image, and load_image reads the first frame of an animated one.
VIDEO_EXTENSIONS = frozenset({".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v"})

# Containers VideoWriter can put H.264 + AAC into. (WebM only takes VP8/VP9/AV1, GIF has no
# H.264, and AVI cannot hold H.264 with B-frames cleanly.)
_WRITABLE_VIDEO_EXTENSIONS = frozenset({".mp4", ".mov", ".mkv", ".m4v"})


# --------------------------------------------------------------------------------------------
# Tensors <-> arrays
# --------------------------------------------------------------------------------------------


def to_tensor(array: np.ndarray) -> torch.Tensor:
    """Convert an ``[H, W, 3]`` RGB array to a float32 tensor ``[1, 3, H, W]`` in [0, 1].

    ``uint8`` is divided by 255 and ``uint16`` by 65535; float arrays are taken to be in
    [0, 1] already and are only cast to float32 (not clamped, so bugs upstream stay visible).
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
    t = t.to(device="cpu", dtype=torch.float32).clamp(0.0, 1.0)
    u8 = (t * 255.0).round().to(torch.uint8)
    return np.ascontiguousarray(u8.permute(1, 2, 0).numpy())


def _as_uint8_frame(frame: Union[np.ndarray, torch.Tensor]) -> np.ndarray:
    """Accept a uint8 HxWx3 array or a [1,3,H,W]/[3,H,W] tensor; return a uint8 HxWx3 array."""
    if isinstance(frame, torch.Tensor):
        return to_array(frame)
    if isinstance(frame, np.ndarray):
        if frame.ndim != 3 or frame.shape[2] != 3:
            raise ValueError(f"expected an HxWx3 frame, got shape {frame.shape}")
        if frame.dtype != np.uint8:
            raise TypeError(f"expected a uint8 frame (or a float tensor), got {frame.dtype}")
        return np.ascontiguousarray(frame)
    raise TypeError(f"expected a numpy array or a torch.Tensor, got {type(frame).__name__}")


# --------------------------------------------------------------------------------------------
# Resizing
# --------------------------------------------------------------------------------------------


def _target_size(height: int, width: int, size: Optional[Size], max_side: Optional[int]) -> Size:
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


def resize_frame(
    array: np.ndarray, size: Optional[Size] = None, max_side: Optional[int] = None
) -> np.ndarray:
    """Resize an ``[H, W, C]`` array (uint8 or float32) to ``size=(H, W)`` or to a longer side
    of ``max_side`` pixels; with neither, the array is returned unchanged.

    Shrinking uses ``cv2.INTER_AREA``, which averages all source pixels under each output
    pixel and therefore does not alias (plain bilinear would shimmer on video). Enlarging uses
    bicubic. The dtype is preserved; float results are clipped back to [0, 1] because bicubic
    can overshoot at edges.
    """
    h, w = array.shape[:2]
    new_h, new_w = _target_size(h, w, size, max_side)
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


# --------------------------------------------------------------------------------------------
# Atomic writes
# --------------------------------------------------------------------------------------------


def _check_writable(path: Path) -> None:
    """Raise VstError unless a file could be created at ``path``."""
    parent = path.parent
    if not parent.exists():
        raise VstError(f"cannot write '{path}': folder '{parent}' does not exist; create it first")
    if not parent.is_dir():
        raise VstError(f"cannot write '{path}': '{parent}' is not a folder; choose another output path")
    if path.is_dir():
        raise VstError(f"cannot write '{path}': it is a folder; give a file name instead")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise VstError(
            f"cannot write '{path}': folder '{parent}' is not writable; choose another output folder"
        )


def _new_temp_sibling(path: Path, tag: str = "") -> Path:
    """Create an empty, uniquely named hidden file next to ``path`` and return its path.

    The name keeps the destination's extension (``.out.mp4.tmp-1a2b3c4d.mp4``) because ffmpeg
    and Pillow pick the output format from it. O_EXCL guarantees we never reuse someone else's
    file; mode 0o666 lets the umask decide permissions, exactly as for a normally created file
    (tempfile.mkstemp would force 0o600 and the final file would end up private).
    """
    for _ in range(100):
        temp = path.with_name(f".{path.name}.tmp-{secrets.token_hex(4)}{tag}{path.suffix}")
        try:
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            continue
        except OSError as err:
            raise VstError(f"cannot write '{path}': {err.strerror}; choose another output folder") from None
        os.close(fd)
        return temp
    raise VstError(f"cannot write '{path}': could not create a temporary file next to it")  # pragma: no cover


def _remove_quietly(path: Optional[Path]) -> None:
    if path is not None:
        with contextlib.suppress(FileNotFoundError):
            os.remove(path)


@contextlib.contextmanager
def atomic_path(path: PathLike) -> Iterator[Path]:
    """Context manager for writing ``path`` all-or-nothing.

    Yields a temporary path in the same folder (same extension, hidden name). When the block
    finishes normally the temporary file replaces ``path`` with ``os.replace`` (atomic on the
    same file system, which is why the temp file lives next to the target and not in /tmp).
    When the block raises, the temporary file is deleted, ``path`` is left as it was, and the
    exception propagates.
    """
    path = Path(path)
    _check_writable(path)
    temp = _new_temp_sibling(path)
    try:
        yield temp
    except BaseException:  # also on KeyboardInterrupt: never leave temp files around
        _remove_quietly(temp)
        raise
    try:
        os.replace(temp, path)
    except OSError as err:
        _remove_quietly(temp)
        raise VstError(f"cannot write '{path}': {err.strerror}; choose another output path") from None


# --------------------------------------------------------------------------------------------
# Images
# --------------------------------------------------------------------------------------------


def _exif_orientation(path: Path) -> int:
    """EXIF orientation tag (1..8, 1 = as stored), read by Pillow from the header only."""
    try:
        with Image.open(path) as im:
            return int(im.getexif().get(0x0112, 1) or 1)
    except Exception:  # no EXIF, odd EXIF, or a format Pillow cannot open: assume upright
        return 1


def _apply_orientation(a: np.ndarray, orientation: int) -> np.ndarray:
    """Rotate/flip an HxWxC array the way EXIF ``orientation`` asks (same as PIL's exif_transpose).

    OpenCV's IMREAD_UNCHANGED, which we need for 16-bit data, ignores the tag, so phone photos
    would otherwise come out sideways.
    """
    if orientation == 2:
        return a[:, ::-1]  # mirror left-right
    if orientation == 3:
        return a[::-1, ::-1]  # rotate 180
    if orientation == 4:
        return a[::-1]  # mirror top-bottom
    if orientation == 5:
        return a.transpose(1, 0, 2)  # transpose (mirror along the main diagonal)
    if orientation == 6:
        return np.rot90(a, k=-1)  # rotate 90 clockwise
    if orientation == 7:
        return a[::-1, ::-1].transpose(1, 0, 2)  # transverse (mirror along the anti-diagonal)
    if orientation == 8:
        return np.rot90(a, k=1)  # rotate 90 counter-clockwise
    return a


def _normalise_to_float(raw: np.ndarray) -> np.ndarray:
    """Integer or float pixel data -> float32 in [0, 1], scaled by the dtype's full range."""
    if raw.dtype == np.uint8:
        return raw.astype(np.float32) / 255.0
    if raw.dtype == np.uint16:
        # 16-bit PNG/TIFF: divide by 65535 so full precision survives (no squashing to 8 bits).
        return raw.astype(np.float32) / 65535.0
    if np.issubdtype(raw.dtype, np.floating):  # float TIFF/EXR: assume [0, 1] already
        return np.clip(raw.astype(np.float32), 0.0, 1.0)
    if np.issubdtype(raw.dtype, np.integer):  # e.g. 32-bit integer TIFF ("I" mode in Pillow)
        return np.clip(raw.astype(np.float64) / np.iinfo(raw.dtype).max, 0.0, 1.0).astype(np.float32)
    raise ValueError(f"unsupported pixel type {raw.dtype}")


def _to_rgb(x: np.ndarray, bgr: bool) -> np.ndarray:
    """float32 HxW / HxWx{1,2,3,4} in [0, 1] -> float32 HxWx3 RGB in [0, 1].

    Alpha is *composited onto white* rather than dropped: fully transparent pixels often hold
    arbitrary (frequently black) colour that was never meant to be seen, and white is how most
    viewers show transparency, so the stylised result matches what the user sees.
    """
    if x.ndim == 2:
        x = x[:, :, None]
    channels = x.shape[2]
    if channels in (2, 4):  # gray+alpha or colour+alpha
        alpha = x[:, :, -1:]
        x = x[:, :, :-1] * alpha + (1.0 - alpha)
        channels -= 1
    if channels == 1:
        return np.repeat(x, 3, axis=2)  # grayscale: replicate to three equal channels
    if channels == 3:
        return x[:, :, ::-1] if bgr else x  # OpenCV stores BGR
    raise ValueError(f"unsupported number of channels: {channels}")


def _decode_image(path: Path) -> np.ndarray:
    """Decode an image file to float32 HxWx3 RGB in [0, 1], EXIF orientation applied."""
    # OpenCV first, with IMREAD_UNCHANGED: it returns 16-bit PNG/TIFF data as uint16
    # (Pillow reduces 16-bit RGB PNGs to 8 bits), keeps alpha, and expands palettes.
    # imdecode from bytes instead of imread(path) so that non-ASCII paths work everywhere.
    data = np.fromfile(path, dtype=np.uint8)
    raw = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    if raw is not None:
        rgb = _to_rgb(_normalise_to_float(raw), bgr=True)
        return np.ascontiguousarray(_apply_orientation(rgb, _exif_orientation(path)))

    # Pillow as the fallback for formats OpenCV was built without (GIF, some TIFFs, ...).
    # Image.open raises UnidentifiedImageError for files that are not images at all.
    with Image.open(path) as im:
        im.seek(0)  # first frame of animations
        if im.mode.startswith("I;16"):  # Pillow's 16-bit grayscale modes
            raw = np.asarray(im).astype(np.uint16)
        elif im.mode == "I":
            # 32-bit integer mode; in practice Pillow uses it for 16-bit grayscale, so the
            # values are 0..65535.
            raw = np.clip(np.asarray(im), 0, 65535).astype(np.uint16)
        elif im.mode in ("L", "LA", "RGB", "RGBA", "F"):
            raw = np.asarray(im)
        else:  # palette, bilevel, CMYK, YCbCr, ...: let Pillow expand, keeping transparency
            keep_alpha = "A" in im.mode or "transparency" in im.info
            raw = np.asarray(im.convert("RGBA" if keep_alpha else "RGB"))
    rgb = _to_rgb(_normalise_to_float(raw), bgr=False)
    return np.ascontiguousarray(_apply_orientation(rgb, _exif_orientation(path)))


def load_image(
    path: PathLike, size: Optional[Size] = None, max_side: Optional[int] = None
) -> torch.Tensor:
    """Load an image file as a float32 tensor ``[1, 3, H, W]``, RGB, in [0, 1].

    Args:
        path: any format OpenCV or Pillow can read (PNG, JPEG, WebP, TIFF, BMP, GIF, ...).
            Grayscale is replicated to three channels; alpha is composited onto white;
            palette images are expanded; 16-bit images keep their full precision; the EXIF
            orientation tag is applied.
        size: ``(height, width)`` to resize to, or None.
        max_side: resize so that the longer side has this many pixels (aspect kept), or None.

    Raises:
        VstError: the file is missing or is not a readable image.
    """
    path = Path(path)
    if not path.exists():
        raise VstError(f"cannot read image '{path}': file not found; check the path")
    if path.is_dir():
        raise VstError(f"cannot read image '{path}': it is a folder; give an image file")
    try:
        rgb = _decode_image(path)  # float32 HxWx3 in [0, 1]
    except (UnidentifiedImageError, ValueError, OSError, cv2.error) as err:
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        if isinstance(err, UnidentifiedImageError):
            reason = "not an image file (or a format that OpenCV and Pillow cannot decode)"
        raise VstError(
            f"cannot read image '{path}': {reason}; convert it to PNG or JPEG"
        ) from None
    rgb = resize_frame(rgb, size=size, max_side=max_side)
    return to_tensor(rgb)


def save_image(image: Union[torch.Tensor, np.ndarray], path: PathLike, quality: int = 95) -> None:
    """Save a tensor ``[1,3,H,W]``/``[3,H,W]`` or a uint8 HxWx3 array, atomically.

    The format comes from the extension (.png, .jpg/.jpeg, .webp, .bmp, .tif/.tiff).
    ``quality`` applies to JPEG/WebP only (Pillow's default of 75 visibly blurs style textures).
    """
    path = Path(path)
    fmt = Image.registered_extensions().get(path.suffix.lower())
    if fmt is None:
        raise VstError(f"cannot write '{path}': unknown image extension '{path.suffix}'; use .png or .jpg")
    array = _as_uint8_frame(image)
    options = {"quality": int(quality)} if fmt in ("JPEG", "WEBP") else {}
    with atomic_path(path) as temp:
        # format= given explicitly: the temp name ends with the same suffix, but being explicit
        # costs nothing and guards against Pillow's extension table changing.
        Image.fromarray(array, mode="RGB").save(temp, format=fmt, **options)


# --------------------------------------------------------------------------------------------
# Video probing (ffmpeg's own stream report, parsed)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class VideoInfo:
    """What :func:`probe_video` found out about a video file.

    ``width``/``height`` are those of the decoded frames (after ffmpeg's automatic rotation of
    phone videos), i.e. what :func:`read_frames` yields without resizing. ``n_frames`` is the
    number of video packets in the file, which equals the number of frames for all common
    codecs; ``duration`` is the container duration in seconds.
    """

    path: Path
    width: int
    height: int
    fps: float
    n_frames: int
    duration: float
    has_audio: bool


def is_video_path(path: PathLike) -> bool:
    """True if the file name looks like a video (by extension only; the file is not opened)."""
    return Path(path).suffix.lower() in VIDEO_EXTENSIONS


def _ffmpeg() -> str:
    return imageio_ffmpeg.get_ffmpeg_exe()


def _run_ffmpeg_report(path: Path, count_frames: bool) -> str:
    """Run ffmpeg on ``path`` and return its stderr report (text).

    With ``count_frames`` the first video stream is stream-copied into the null muxer: this
    reads every packet but decodes nothing, so it gives an exact frame count in milliseconds
    even for long files (imageio_ffmpeg.count_frames_and_secs decodes every frame instead).
    Without it, ffmpeg only opens the file and prints the stream list (and then complains that
    there is no output, which is expected).
    """
    cmd = [_ffmpeg(), "-hide_banner", "-nostdin", "-i", str(path)]
    if count_frames:
        cmd += ["-map", "0:v:0", "-c", "copy", "-f", "null", "-"]
    proc = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False)
    return proc.stderr.decode("utf-8", errors="replace")


def _input_section(report: str) -> str:
    """The part of ffmpeg's report that describes the input (before any 'Output #0')."""
    return report.split("\nOutput #", 1)[0]


def _ffmpeg_open_error(report: str) -> Optional[str]:
    """ffmpeg's reason for not opening an input (e.g. 'Invalid data found ...'), if any."""
    m = re.search(r"Error opening input(?: file)?[^:\n]*: (.+)", report)
    if m:
        return m.group(1).strip()
    if "No such file or directory" in report:
        return "No such file or directory"
    return None


def _stream_lines(section: str, kind: str) -> List[str]:
    """Lines like '  Stream #0:0[0x1](und): Video: h264 ...' for kind 'Video' or 'Audio'."""
    return [ln for ln in section.splitlines() if ln.lstrip().startswith("Stream #") and f": {kind}:" in ln]


def _parse_video_line(line: str) -> Tuple[int, int, float]:
    """(width, height, fps) from an ffmpeg 'Video:' stream line."""
    # Size: a WxH token preceded by a space and followed by a space/comma/bracket. The
    # neighbours matter: the codec tag '(avc1 / 0x31637661)' would otherwise match as 0 x ...
    size = re.search(r"\s(\d+)x(\d+)(?=[\s,\[])", line)
    if size is None:
        raise ValueError("no frame size in the video stream description")
    width, height = int(size.group(1)), int(size.group(2))
    # Frame rate: 'NN fps' when known; otherwise 'tbr' (ffmpeg's guess). Values may carry a 'k'
    # suffix (e.g. '1k tbr' for broken timestamps), which we treat as unknown.
    fps = 0.0
    for unit in ("fps", "tbr"):
        m = re.search(rf"\s(\d+(?:\.\d+)?)\s{unit}\b", line)
        if m:
            fps = float(m.group(1))
            break
    return width, height, fps


def _rotation_degrees(section: str) -> int:
    """Rotation ffmpeg will apply on decode ('displaymatrix: rotation of -90.00 degrees')."""
    m = re.search(r"rotation of (-?\d+(?:\.\d+)?) degrees", section) or re.search(
        r"rotate\s*:\s*(-?\d+)", section
    )
    return int(round(float(m.group(1)))) % 360 if m else 0


def _parse_duration(section: str) -> float:
    m = re.search(r"Duration:\s*(\d+):(\d+):(\d+(?:\.\d+)?)", section)
    if not m:  # 'Duration: N/A' (e.g. some raw streams)
        return 0.0
    return int(m.group(1)) * 3600 + int(m.group(2)) * 60 + float(m.group(3))


def _parse_frame_count(report: str) -> Optional[int]:
    """The last 'frame=  240 ...' progress line of an ffmpeg run."""
    counts = re.findall(r"frame=\s*(\d+)", report)
    return int(counts[-1]) if counts else None


def _video_error(path: Path, reason: str) -> VstError:
    return VstError(f"cannot read video '{path}': {reason}; check the file or convert it to .mp4 (H.264)")


def probe_video(path: PathLike) -> VideoInfo:
    """Size, frame rate, frame count, duration and audio presence of a video file.

    Raises:
        VstError: missing file, not a video, no video stream, or no frames.
    """
    path = Path(path)
    if not path.exists():
        raise VstError(f"cannot read video '{path}': file not found; check the path")
    if path.is_dir():
        raise VstError(f"cannot read video '{path}': it is a folder; give a video file")
    report = _run_ffmpeg_report(path, count_frames=True)
    section = _input_section(report)
    video_lines = _stream_lines(section, "Video")
    if not video_lines:
        reason = _ffmpeg_open_error(report) or "the file has no video stream"
        raise _video_error(path, reason)
    try:
        width, height, fps = _parse_video_line(video_lines[0])
    except ValueError as err:
        raise _video_error(path, str(err)) from None
    if _rotation_degrees(section) in (90, 270):
        width, height = height, width  # ffmpeg auto-rotates on decode, so frames come out turned
    duration = _parse_duration(section)
    n_frames = _parse_frame_count(report)
    if n_frames is None:  # should not happen; fall back to the usual estimate
        n_frames = int(round(fps * duration))
    if n_frames <= 0:
        raise _video_error(path, "the video stream has no frames")
    if duration <= 0 and fps > 0:
        duration = n_frames / fps
    if fps <= 0 and duration > 0:
        fps = n_frames / duration
    return VideoInfo(
        path=path,
        width=width,
        height=height,
        fps=fps,
        n_frames=n_frames,
        duration=duration,
        has_audio=bool(_stream_lines(section, "Audio")),
    )


def has_audio(path: PathLike) -> bool:
    """True if the media file has at least one audio stream.

    Raises:
        VstError: missing or unreadable file.
    """
    path = Path(path)
    if not path.is_file():
        raise VstError(f"cannot read '{path}': file not found; check the path")
    report = _run_ffmpeg_report(path, count_frames=False)
    section = _input_section(report)
    if "Stream #" not in section:
        reason = _ffmpeg_open_error(report) or "not a media file"
        raise VstError(f"cannot read '{path}': {reason}; check the file")
    return bool(_stream_lines(section, "Audio"))


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
) -> Iterator[np.ndarray]:
    """Stream the frames of a video as uint8 ``[H, W, 3]`` RGB arrays.

    Frames ``start, start+step, ...`` up to (excluding) ``end`` are yielded, counted in decode
    order from 0; ``step`` > 1 subsamples the frame rate. Only one frame is in memory at a
    time. Resizing uses :func:`resize_frame`, the same code as :func:`load_image`, so a video
    frame and the same picture loaded as an image match.

    Frames before ``start`` are decoded and dropped rather than seeked over: ffmpeg seeks by
    timestamp, and mapping timestamps to frame indices is not exact for every file.

    Stopping early (``break``, ``close()``, or the iterator being garbage-collected) stops the
    ffmpeg process.

    Raises:
        VstError: bad range or missing file (at call time); a file that is not a readable
        video (on the first ``next()``, when ffmpeg has looked at it).
    """
    # Arguments are checked here, eagerly; the generator below starts ffmpeg only when the
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
        _target_size(2, 2, size, max_side)  # validates size/max_side before any decoding
    if not path.is_file():
        raise VstError(f"cannot read video '{path}': file not found; check the path")
    return _iter_frames(path, size, max_side, start, end, step)


def _iter_frames(
    path: Path, size: Optional[Size], max_side: Optional[int], start: int, end: Optional[int], step: int
) -> Iterator[np.ndarray]:
    # '-frames:v end' makes ffmpeg itself stop after the last frame we need, instead of
    # decoding ahead into the pipe buffer until we close it.
    output_params = ["-frames:v", str(end)] if end is not None else []
    frames = imageio_ffmpeg.read_frames(str(path), pix_fmt="rgb24", output_params=output_params)
    try:
        try:
            # First item: a dict with 'size' (W, H) of the frames it will yield, 'fps',
            # 'duration', 'codec', 'rotate' and, only if there is audio, 'audio_codec'.
            meta = next(frames)
        except (OSError, RuntimeError, IndexError, AttributeError, StopIteration) as err:
            # imageio raises OSError carrying ffmpeg's whole stderr; keep a one-line reason.
            reason = _ffmpeg_open_error(str(err)) or "not a video, or no video stream"
            raise _video_error(path, reason) from None
        width, height = meta["size"]
        for index, raw in enumerate(frames):
            if end is not None and index >= end:
                break
            if index < start or (index - start) % step:
                continue
            frame = np.frombuffer(raw, dtype=np.uint8).reshape(height, width, 3)
            if size is None and max_side is None:
                frame = frame.copy()  # frombuffer on bytes is read-only; callers may edit it
            else:
                frame = resize_frame(frame, size=size, max_side=max_side)
            yield frame
    finally:
        # Closing imageio's generator runs its cleanup, which closes the pipes and terminates
        # (or kills) ffmpeg. This runs when our own generator is closed or collected, so an
        # abandoned read never leaves ffmpeg decoding in the background.
        frames.close()


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


class VideoWriter:
    """Write frames to an H.264 (libx264, yuv420p) video, optionally with audio from a source.

    Use as a context manager::

        with VideoWriter("out.mp4", fps=info.fps, audio_from="in.mp4") as writer:
            for frame in frames:
                writer.write(frame)   # uint8 HxWx3 array, or tensor [1,3,H,W] / [3,H,W]

    * Frames with an odd width or height are padded by one pixel (see :func:`_pad_to_even`);
      all frames must have the size of the first one.
    * Everything is written to a hidden temp file next to ``path`` and renamed into place only
      when the ``with`` block ends without an exception. On an exception the temp files are
      deleted and an existing file at ``path`` is left untouched.
    * Writing zero frames raises :class:`VstError` and leaves nothing behind.
    * Audio: if ``audio_from`` has an audio track, the part from ``audio_start`` seconds,
      lasting ``audio_duration`` seconds (default: the length of the written video), is
      re-encoded to AAC and muxed in. Without an audio track the output is silent.

    Args:
        path: output file (.mp4, .mov, .mkv or .m4v).
        fps: frames per second of the output.
        audio_from: media file to take audio from, or None.
        audio_start: where the audio excerpt starts in ``audio_from``, in seconds
            (e.g. ``start_frame / source_fps`` when only part of a video was stylised).
        audio_duration: length of the audio excerpt in seconds; None = video length.
        quality: 0 (worst) to 10 (best), mapped linearly to x264's CRF (51..0); None means
            CRF 18, x264's usual "visually lossless" setting.
        threads: x264's threads; None lets ffmpeg choose (all cores). Fewer leave the cores to
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
            raise VstError(
                f"cannot write '{self.path}': H.264 video needs a .mp4, .mov, .mkv or .m4v file name"
            )
        if not fps or float(fps) <= 0:
            raise VstError(f"fps must be positive, got {fps}")
        self.fps = float(fps)
        if quality is not None and not 0 <= float(quality) <= 10:
            raise VstError(f"quality must be between 0 and 10, got {quality}")
        self.crf = 18 if quality is None else int(round(51 * (1 - float(quality) / 10)))
        self.audio_from = Path(audio_from) if audio_from is not None else None
        if self.audio_from is not None and not self.audio_from.is_file():
            raise VstError(f"cannot read audio from '{self.audio_from}': file not found; check the path")
        if audio_start < 0:
            raise VstError(f"audio_start must be 0 or more seconds, got {audio_start}")
        if audio_duration is not None and audio_duration <= 0:
            raise VstError(f"audio_duration must be positive, got {audio_duration}")
        self.audio_start = float(audio_start)
        self.audio_duration = audio_duration
        self.n_frames = 0
        self._frame_size: Optional[Tuple[int, int]] = None  # (H, W) after padding
        self._encoder = None  # imageio_ffmpeg.write_frames generator, started on first frame
        self._video_temp: Optional[Path] = None  # what the encoder writes
        self._open = False

    # -- context manager ---------------------------------------------------------------------

    def __enter__(self) -> "VideoWriter":
        _check_writable(self.path)
        self._video_temp = _new_temp_sibling(self.path)
        self._open = True
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        if exc_type is not None:
            self._abort()
            return False  # re-raise the caller's exception
        self.close()
        return False

    # -- writing -----------------------------------------------------------------------------

    def write(self, frame: Union[np.ndarray, torch.Tensor]) -> None:
        """Append one frame: uint8 HxWx3 RGB array or float tensor [1,3,H,W]/[3,H,W] in [0,1]."""
        if not self._open:
            raise RuntimeError("VideoWriter.write() called outside its 'with' block")
        array = _pad_to_even(_as_uint8_frame(frame))
        if self._encoder is None:
            self._start_encoder(array.shape[0], array.shape[1])
        elif array.shape[:2] != self._frame_size:
            raise ValueError(
                f"frame {self.n_frames} has size {array.shape[:2]} (H, W), "
                f"but the video is {self._frame_size}"
            )
        try:
            self._encoder.send(np.ascontiguousarray(array))
        except OSError:
            # ffmpeg exited (disk full, killed, ...): its own message is already on stderr.
            raise VstError(
                f"cannot write video '{self.path}': ffmpeg stopped accepting frames; see its message above"
            ) from None
        self.n_frames += 1

    def _start_encoder(self, height: int, width: int) -> None:
        self._frame_size = (height, width)
        self._encoder = imageio_ffmpeg.write_frames(
            str(self._video_temp),
            size=(width, height),  # imageio wants (W, H)
            fps=self.fps,
            codec="libx264",
            pix_fmt_in="rgb24",
            pix_fmt_out="yuv420p",
            quality=None,  # we pass CRF ourselves (imageio's 0-10 scale is coarser)
            # 1 = no alignment: imageio would otherwise *rescale* to multiples of 16
            # (360 -> 368 rows), which distorts the picture. We already made sizes even.
            macro_block_size=1,
            ffmpeg_log_level="error",
            output_params=["-crf", str(self.crf)] + ([] if self.threads is None else ["-threads", str(self.threads)]),
        )
        self._encoder.send(None)  # prime the generator (starts ffmpeg)

    # -- finishing ---------------------------------------------------------------------------

    def _stop_encoder(self) -> None:
        if self._encoder is not None:
            # close() raises GeneratorExit inside imageio's generator, which closes ffmpeg's
            # stdin and waits for it to finish writing the file.
            self._encoder.close()
            self._encoder = None

    def _abort(self) -> None:
        """Stop ffmpeg and delete temp files; the destination is never touched."""
        self._open = False
        try:
            self._stop_encoder()
        finally:
            _remove_quietly(self._video_temp)
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
            self._stop_encoder()
            self._open = False
            # Check that ffmpeg really produced a readable video of the expected length
            # (imageio's generator does not report ffmpeg's exit status).
            written = probe_video(self._video_temp).n_frames
            if written != self.n_frames:
                raise VstError(
                    f"cannot write video '{self.path}': ffmpeg wrote {written} of {self.n_frames} frames"
                )
            final_temp = self._video_temp
            if self.audio_from is not None and has_audio(self.audio_from):
                final_temp = _new_temp_sibling(self.path, tag="-av")
                self._mux_audio(self._video_temp, final_temp)
                _remove_quietly(self._video_temp)
            os.replace(final_temp, self.path)
            final_temp = None
            self._video_temp = None
        except BaseException:
            _remove_quietly(self._video_temp)
            _remove_quietly(final_temp)
            self._video_temp = None
            raise

    def _mux_audio(self, video: Path, output: Path) -> None:
        """Copy the video stream and add the trimmed audio of ``audio_from`` (second ffmpeg run).

        Done as a separate pass because imageio_ffmpeg.write_frames' ``audio_path`` adds the
        audio input without any options, so it cannot be seeked (-ss) or cut (-t) on its own;
        and the default duration (= video length) is only known once all frames are written.
        The audio is re-encoded to AAC: cutting a compressed stream with 'copy' snaps to packet
        boundaries, and AAC is what every MP4 player expects whatever the source codec was.
        """
        duration = self.audio_duration if self.audio_duration is not None else self.n_frames / self.fps
        cmd = [_ffmpeg(), "-hide_banner", "-nostdin", "-y", "-loglevel", "error", "-i", str(video),
               *_trimmed_audio_args(self.audio_from, self.audio_start, duration), "-c:v", "copy", str(output)]
        reason = _run_ffmpeg(cmd)
        if reason is not None:
            raise VstError(f"cannot add audio from '{self.audio_from}' to '{self.path}': {reason}")

    def __del__(self) -> None:
        # A writer dropped without 'with'/close() must not leave ffmpeg or temp files behind.
        if getattr(self, "_open", False):
            with contextlib.suppress(Exception):
                self._abort()



def _trimmed_audio_args(audio_from: PathLike, start: float, duration: float) -> List[str]:
    """ffmpeg arguments adding ``duration`` seconds of ``audio_from``'s audio from ``start`` as a
    second input, mapped beside the first input's video and encoded to AAC.

    -ss/-t before the second -i apply to that input only: seek and cut the audio. The audio is
    re-encoded: cutting a compressed stream with 'copy' snaps to packet boundaries, and AAC is
    what every MP4 player expects whatever the source codec was.
    """
    return ["-ss", f"{start:.6f}", "-t", f"{duration:.6f}", "-i", str(audio_from),
            "-map", "0:v:0", "-map", "1:a:0", "-c:a", "aac", "-b:a", "192k"]


def _run_ffmpeg(cmd: List[str]) -> Optional[str]:
    """Run an ffmpeg command; None on success, else its last error line (or exit status)."""
    proc = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False)
    if proc.returncode == 0:
        return None
    message = proc.stderr.decode("utf-8", errors="replace").strip().splitlines()
    return message[-1] if message else f"ffmpeg exit status {proc.returncode}"

def concat_videos(
    parts: List[Path],
    path: PathLike,
    audio_from: Optional[PathLike] = None,
    audio_start: float = 0.0,
    audio_duration: Optional[float] = None,
) -> None:
    """Join H.264 videos written by :class:`VideoWriter` (same size and fps) into ``path``, without
    re-encoding, and add the trimmed audio of ``audio_from`` (AAC), as VideoWriter does.

    Written to a temporary file and renamed into place: ``path`` is never left half-written.
    """
    path = Path(path)
    if not parts:
        raise VstError(f"cannot write video '{path}': nothing to join")
    _check_writable(path)
    listing = _new_temp_sibling(path, tag="-list")
    temp = _new_temp_sibling(path, tag="-cat")
    try:
        # The concat demuxer's list format: one "file '<path>'" per line, quotes escaped.
        listing.write_text("".join("file '" + str(Path(p).resolve()).replace("'", "'\\''") + "'\n" for p in parts))
        cmd = [_ffmpeg(), "-hide_banner", "-nostdin", "-y", "-loglevel", "error",
               "-f", "concat", "-safe", "0", "-i", str(listing)]
        if audio_from is not None and has_audio(audio_from):
            if audio_duration is None:
                audio_duration = sum(probe_video(p).duration for p in parts)
            cmd += _trimmed_audio_args(audio_from, audio_start, audio_duration)
        cmd += ["-c:v", "copy", "-f", "mp4" if path.suffix.lower() in (".mp4", ".m4v") else
                ("mov" if path.suffix.lower() == ".mov" else "matroska"), str(temp)]
        reason = _run_ffmpeg(cmd)
        if reason is not None:
            raise VstError(f"cannot write video '{path}': {reason}")
        os.replace(temp, path)
    finally:
        _remove_quietly(listing)
        _remove_quietly(temp)
