"""Sample data: a registry of the project's assets, fetched and verified with pooch.

Every sample file (paintings, CC-BY clips, MPI-Sintel frames and flows) is listed in
``registry.tsv`` next to this module with its sha256, size, pinned upstream URL and license.
Nothing third-party is committed to the repository; files are looked up in this order:

1. ``$VSTLIB_DATA_DIR/<name>``: a local mirror (CI and this project's tests use ``../shared/data``);
2. the download cache (``$VSTLIB_CACHE_DIR``, default ``~/.cache/vstlib``), filled by pooch
   from the upstream URL on first use.

Either way the file's sha256 is checked, so a corrupt or substituted file is never used.
Content photos come from scikit-image's bundled data (public domain / CC0), no download needed.
MPI-Sintel frames, ground-truth flows and masks: :func:`sintel_pair`, :func:`sintel_occlusions`,
:func:`sintel_invalid` (also importable from :mod:`vstlib.flow`, where they used to live).
"""

from __future__ import annotations

import csv
import functools
import hashlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import VstError

DATA_DIR_ENV = "VSTLIB_DATA_DIR"
CACHE_DIR_ENV = "VSTLIB_CACHE_DIR"
_REGISTRY_FILE = Path(__file__).with_name("registry.tsv")

# scikit-image's bundled photos that make good content images (public domain or CC0).
CONTENT_PHOTOS = ("astronaut", "chelsea", "coffee", "rocket")


@dataclass(frozen=True)
class Asset:
    """One registry row."""

    name: str  # path below the data folder, e.g. "style/starry_night_vangogh.jpg"
    sha256: str
    size: int  # bytes
    url: str  # upstream URL pinned to a commit
    what: str
    license: str


@functools.lru_cache(maxsize=1)
def registry() -> dict[str, Asset]:
    """All sample assets by name, parsed from ``registry.tsv``."""
    with open(_REGISTRY_FILE, newline="", encoding="utf-8") as f:
        rows = csv.DictReader(f, delimiter="\t")
        return {
            r["name"]: Asset(r["name"], r["sha256"], int(r["bytes"]), r["upstream_url"], r["what"], r["status"])
            for r in rows
        }


def names(prefix: str = "") -> list[str]:
    """Registry names starting with ``prefix`` (e.g. ``"style/"``), sorted."""
    return sorted(n for n in registry() if n.startswith(prefix))


def cache_dir() -> Path:
    return Path(os.environ.get(CACHE_DIR_ENV) or Path.home() / ".cache" / "vstlib")


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


# Hashing a 3.5 MB file costs milliseconds, but notebooks and tests fetch the same file many
# times; remember files already verified (keyed by path, size and mtime so a changed file is
# checked again).
_verified: set[tuple[str, int, int]] = set()


def _verify(path: Path, asset: Asset) -> None:
    st = path.stat()
    key = (str(path), st.st_size, st.st_mtime_ns)
    if key in _verified:
        return
    digest = _sha256(path)
    if digest != asset.sha256:
        raise VstError(
            f"sample file '{asset.name}' at {path} is corrupt (sha256 {digest[:12]}…, expected "
            f"{asset.sha256[:12]}…); delete it and fetch it again from {asset.url}"
        )
    _verified.add(key)


def fetch(name: str) -> Path:
    """Local path of the registry file ``name``, verified against its sha256.

    Raises :class:`VstError` (one line naming the file, its URL and ``VSTLIB_DATA_DIR``) when the
    file is neither in the mirror nor in the cache and cannot be downloaded.
    """
    assets = registry()
    if name not in assets:
        close = [n for n in assets if name in n]
        hint = f" (did you mean {', '.join(close[:3])}?)" if close else "; run `vst data list` to see them"
        raise VstError(f"'{name}' is not a vstlib sample file{hint}")
    asset = assets[name]

    mirror = os.environ.get(DATA_DIR_ENV)
    if mirror:
        path = Path(mirror) / name
        if path.is_file():
            _verify(path, asset)
            return path

    cached = cache_dir() / name
    if cached.is_file():
        _verify(cached, asset)
        return cached

    import pooch  # imported lazily: only needed when something must be downloaded

    pooch.get_logger().setLevel(logging.WARNING)  # pooch's logger is its own, not logging.getLogger("pooch")
    try:
        path = pooch.retrieve(
            asset.url,
            known_hash=f"sha256:{asset.sha256}",
            fname=Path(name).name,
            path=cached.parent,
            progressbar=False,
        )
    except Exception as exc:  # network errors come in many types (requests, urllib3, OSError)
        where = f"{DATA_DIR_ENV}={mirror} has no such file" if mirror else f"{DATA_DIR_ENV} is not set"
        raise VstError(
            f"sample file '{name}' is not available offline and downloading {asset.url} failed "
            f"({type(exc).__name__}); {where}: point {DATA_DIR_ENV} at a folder holding a copy "
            f"of the sample data"
        ) from None
    return Path(path)


def resolve(name_or_path: str | os.PathLike, kind: str) -> Path:
    """A user-given file: an existing path, or a short sample name like ``starry_night_vangogh``.

    ``kind`` is the registry folder tried for short names (``"style"`` or ``"video"``).
    """
    path = Path(name_or_path)
    if path.exists():
        return path
    text = str(name_or_path)
    for candidate in (text, f"{kind}/{text}"):
        if candidate in registry():
            return fetch(candidate)
    matches = [n for n in names(f"{kind}/") if Path(n).stem == text]
    if len(matches) == 1:
        return fetch(matches[0])
    samples = ", ".join(Path(n).stem for n in names(f"{kind}/"))
    raise VstError(f"no such file '{text}'; give a path or one of the sample {kind} names: {samples}")


def content_photo(name: str = "astronaut") -> np.ndarray:
    """A bundled scikit-image photo as uint8 RGB array [H, W, 3] (no download)."""
    if name not in CONTENT_PHOTOS:
        raise VstError(f"unknown content photo '{name}'; choose one of {', '.join(CONTENT_PHOTOS)}")
    from skimage import data as skdata

    image = getattr(skdata, name)()
    if image.ndim == 2:
        image = np.stack([image] * 3, axis=-1)
    return np.ascontiguousarray(image[..., :3])


# --------------------------------------------------------------------------------------------
# MPI-Sintel samples
# --------------------------------------------------------------------------------------------


def _sintel_file(scene: str, kind: str, frame: int, ext: str) -> Path:
    name = f"sintel/{scene}/{kind}/frame_{int(frame):04d}.{ext}"
    available = names(f"sintel/{scene}/{kind}/") if scene else []
    if name not in available:
        scenes = sorted({n.split("/")[1] for n in names("sintel/")})
        frames = ", ".join(str(int(Path(n).stem.split("_")[1])) for n in available)
        hint = f"frames with {kind}: {frames}" if frames else f"scenes: {', '.join(scenes)}"
        raise VstError(f"no Sintel sample {name}; {hint}")
    return fetch(name)


def _read_rgb(path: Path) -> np.ndarray:
    from .io import load_image, to_array

    return to_array(load_image(path))  # uint8 -> [0, 1] -> uint8 is exact


def _read_binary_png(path: Path) -> np.ndarray:
    import cv2

    image = cv2.imdecode(np.fromfile(path, dtype=np.uint8), cv2.IMREAD_GRAYSCALE)
    if image is None:
        raise VstError(f"cannot read mask '{path}'; delete it so that it is fetched again")
    return image > 127  # white = set


def sintel_pair(scene: str = "alley_1", frame: int = 1, render: str = "clean"):
    """MPI-Sintel frames ``frame`` and ``frame + 1`` (uint8 ``[436, 1024, 3]``) and the ground-truth
    flow between them (float32 ``[436, 1024, 2]``), from the sample data."""
    if render not in ("clean", "final"):
        raise VstError(f"unknown Sintel render pass '{render}'; choose clean or final")
    from .flow import read_flo

    gt = read_flo(_sintel_file(scene, "flow", frame, "flo"))
    frame_a = _read_rgb(_sintel_file(scene, render, frame, "png"))
    frame_b = _read_rgb(_sintel_file(scene, render, frame + 1, "png"))
    return frame_a, frame_b, gt


def sintel_occlusions(scene: str = "alley_1", frame: int = 2) -> np.ndarray:
    """bool ``[H, W]``, True where a pixel of frame ``frame`` is occluded in frame ``frame + 1``
    (so the ground-truth flow ``frame -> frame + 1`` has no visible target there)."""
    return _read_binary_png(_sintel_file(scene, "occlusions", frame, "png"))


def sintel_invalid(scene: str = "alley_1", frame: int = 2) -> np.ndarray:
    """bool ``[H, W]``, True where Sintel's ground-truth flow of frame ``frame`` is invalid."""
    return _read_binary_png(_sintel_file(scene, "invalid", frame, "png"))
