"""Loading and saving still images.

Images are decoded with OpenCV (it keeps 16-bit PNGs at full precision, which Pillow does not
for 16-bit RGB) and Pillow is used for what OpenCV lacks (the header, EXIF orientation, GIF, ...).
The header is read first, so an enormous image is never decoded whole: past
:data:`MAX_PIXELS` a JPEG is decoded at 1/2, 1/4 or 1/8 scale by libjpeg itself (Pillow's
``Image.draft``), and any other format is refused with one line saying how to shrink it.
(A 430 KB PNG of 20000x20000 px took 11.9 GB to load before this limit.)
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Optional, Union

import cv2
import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from ..errors import VstError
from .atomic import PathLike, atomic_path
from .frames import Size, as_uint8_frame, resize_frame, target_size, to_tensor

__all__ = ["load_image", "save_image", "MAX_PIXELS"]

# Decoding limit in pixels (width x height of the file). Loading costs about 20 bytes per pixel
# at the peak (8-bit data, its float32 copy, the RGB result), so 64 MP is ~1.3 GB. JPEGs above it
# are decoded reduced; other formats above it are refused.
MAX_PIXELS = 64_000_000

_ORIENTATION = 0x0112  # EXIF tag
_pil_open_lock = threading.Lock()


def _open_header(path: Path) -> Optional[Image.Image]:
    """The file opened lazily by Pillow (header only: size, mode, format, EXIF), or None when
    Pillow does not know the format (OpenCV may still: EXR, HDR, ...).

    Pillow's own decompression-bomb check (which raises above ~179 MP before we could decide to
    decode a JPEG reduced) is off while opening: :data:`MAX_PIXELS` is checked instead.
    """
    with _pil_open_lock:
        saved, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None
        try:
            return Image.open(path)
        except UnidentifiedImageError:
            return None
        finally:
            Image.MAX_IMAGE_PIXELS = saved


def _orientation(im: Optional[Image.Image]) -> int:
    try:
        return int(im.getexif().get(_ORIENTATION, 1) or 1) if im is not None else 1
    except Exception:  # odd EXIF: assume upright
        return 1


def _orient_array(a: np.ndarray, orientation: int) -> np.ndarray:
    """Turn an ``[H, W, C]`` array (any dtype) the way EXIF ``orientation`` asks.

    OpenCV's IMREAD_UNCHANGED, which we need for 16-bit data, ignores the tag. Rather than a
    table of our own, Pillow's ``ImageOps.exif_transpose`` is applied to a 2x3 probe image and
    the array gets the same transposition and flips (views, no copy).
    """
    if orientation == 1:
        return a
    probe = Image.fromarray(np.arange(6, dtype=np.uint8).reshape(2, 3), mode="L")
    exif = Image.Exif()
    exif[_ORIENTATION] = orientation
    probe.info["exif"] = exif.tobytes()
    want = np.asarray(ImageOps.exif_transpose(probe))
    ref = np.arange(6).reshape(2, 3)
    if want.shape != ref.shape:
        a, ref = a.swapaxes(0, 1), ref.T
    for ud in (1, -1):
        for lr in (1, -1):
            if np.array_equal(ref[::ud, ::lr], want):
                return a[::ud, ::lr]
    return a  # pragma: no cover - exif_transpose only transposes and flips


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


def _too_big(path: Path, width: int, height: int) -> VstError:
    return VstError(
        f"cannot read image '{path}': it is {width}x{height} px ({width * height / 1e6:.0f} megapixels), more than "
        f"the {MAX_PIXELS / 1e6:.0f} MP vstlib decodes; shrink it first (or save it as JPEG, which is decoded reduced)")


def _pil_to_raw(im: Image.Image) -> np.ndarray:
    """A Pillow image (first frame) as an array OpenCV-style: uint8/uint16/float, RGB(A) order."""
    im.seek(0)  # first frame of animations
    if im.mode.startswith("I;16"):  # Pillow's 16-bit grayscale modes
        return np.asarray(im).astype(np.uint16)
    if im.mode == "I":
        # 32-bit integer mode; in practice Pillow uses it for 16-bit grayscale, so the values are 0..65535.
        return np.clip(np.asarray(im), 0, 65535).astype(np.uint16)
    if im.mode in ("L", "LA", "RGB", "RGBA", "F"):
        return np.asarray(im)
    # palette, bilevel, CMYK, YCbCr, ...: let Pillow expand, keeping transparency
    keep_alpha = "A" in im.mode or "transparency" in im.info
    return np.asarray(im.convert("RGBA" if keep_alpha else "RGB"))


def _decode_reduced_jpeg(im: Image.Image) -> np.ndarray:
    """A JPEG over MAX_PIXELS, decoded by libjpeg at the largest of 1/2, 1/4, 1/8 scale that fits."""
    width, height = im.size
    for scale in (2, 4, 8):
        if (width // scale) * (height // scale) <= MAX_PIXELS:
            break
    # draft picks the strongest DCT scaling whose result is still at least this size.
    im.draft("RGB", (-(-width // scale), -(-height // scale)))
    im = ImageOps.exif_transpose(im.convert("RGB"))
    return _normalise_to_float(np.asarray(im))


def _decode_image(path: Path) -> np.ndarray:
    """Decode an image file to float32 HxWx3 RGB in [0, 1], EXIF orientation applied."""
    im = _open_header(path)
    try:
        if im is not None:
            width, height = im.size
            if width * height > MAX_PIXELS:
                if im.format == "JPEG" and (width // 8) * (height // 8) <= MAX_PIXELS:
                    return _decode_reduced_jpeg(im)
                raise _too_big(path, width, height)
        orientation = _orientation(im)
        # OpenCV first, with IMREAD_UNCHANGED: it returns 16-bit PNG/TIFF data as uint16
        # (Pillow reduces 16-bit RGB PNGs to 8 bits), keeps alpha, and expands palettes.
        # imdecode from bytes instead of imread(path) so that non-ASCII paths work everywhere.
        data = np.fromfile(path, dtype=np.uint8)
        raw = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
        del data
        bgr = raw is not None
        if raw is None:
            # Pillow as the fallback for formats OpenCV was built without (GIF, some TIFFs, ...).
            if im is None:
                raise UnidentifiedImageError(f"cannot identify image file '{path}'")
            raw = _pil_to_raw(im)
        elif im is None and raw.shape[0] * raw.shape[1] > MAX_PIXELS:  # a format only OpenCV knows
            raise _too_big(path, raw.shape[1], raw.shape[0])
        # Orientation first, on the integer data (views); one float copy; one RGB result.
        raw = _orient_array(raw if raw.ndim == 3 else raw[:, :, None], orientation)
        return np.ascontiguousarray(_to_rgb(_normalise_to_float(raw), bgr=bgr))
    finally:
        if im is not None:
            im.close()


def load_image(path: PathLike, size: Optional[Size] = None, max_side: Optional[int] = None) -> torch.Tensor:
    """Load an image file as a float32 tensor ``[1, 3, H, W]``, RGB, in [0, 1].

    Args:
        path: any format OpenCV or Pillow can read (PNG, JPEG, WebP, TIFF, BMP, GIF, ...).
            Grayscale is replicated to three channels; alpha is composited onto white;
            palette images are expanded; 16-bit images keep their full precision; the EXIF
            orientation tag is applied. Past :data:`MAX_PIXELS` a JPEG is decoded reduced
            and other formats are refused.
        size: ``(height, width)`` to resize to, or None.
        max_side: resize so that the longer side has this many pixels (aspect kept), or None.

    Raises:
        VstError: the file is missing, is a folder, is too big, or is not a readable image.
    """
    path = Path(path)
    if path.is_dir():
        raise VstError(f"cannot read image '{path}': it is a folder, not an image file; give an image file")
    if not path.exists():
        raise VstError(f"cannot read image '{path}': file not found; check the path")
    if size is not None or max_side is not None:
        target_size(2, 2, size, max_side)  # validates size/max_side before any decoding
    try:
        rgb = _decode_image(path)  # float32 HxWx3 in [0, 1]
    except VstError:
        raise
    except (UnidentifiedImageError, ValueError, OSError, cv2.error, SyntaxError) as err:
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        if isinstance(err, UnidentifiedImageError):
            reason = "not an image file (or a format that OpenCV and Pillow cannot decode)"
        raise VstError(f"cannot read image '{path}': {reason}; convert it to PNG or JPEG") from None
    except MemoryError:
        raise VstError(f"cannot read image '{path}': not enough memory to decode it; shrink it first") from None
    rgb = resize_frame(rgb, size=size, max_side=max_side)
    return to_tensor(rgb)


def save_image(image: Union[torch.Tensor, np.ndarray], path: PathLike, quality: int = 95) -> None:
    """Save a tensor ``[1,3,H,W]``/``[3,H,W]`` or an HxWx3 array (uint8, or float in [0, 1]), atomically.

    The format comes from the extension (.png, .jpg/.jpeg, .webp, .bmp, .tif/.tiff).
    ``quality`` applies to JPEG/WebP only (Pillow's default of 75 visibly blurs style textures).
    A full disk raises :class:`VstError` naming the folder, and leaves nothing behind.
    """
    path = Path(path)
    fmt = Image.registered_extensions().get(path.suffix.lower())
    if fmt is None:
        raise VstError(f"cannot write '{path}': unknown image extension '{path.suffix}'; use .png or .jpg")
    array = as_uint8_frame(image)
    options = {"quality": int(quality)} if fmt in ("JPEG", "WEBP") else {}
    with atomic_path(path) as temp:
        # format= given explicitly: the temp name ends with the same suffix, but being explicit
        # costs nothing and guards against Pillow's extension table changing.
        Image.fromarray(array, mode="RGB").save(temp, format=fmt, **options)
