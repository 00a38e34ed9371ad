"""Atomic files: write to a hidden temporary sibling, rename into place only when complete.

Every file vstlib writes goes through here, so an interrupted run never leaves a truncated image
or video behind, nor destroys an older one; and a full disk is reported as such (which folder),
with the temporary files removed.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
from pathlib import Path
from typing import Iterator, Optional, Union

from ..errors import VstError

__all__ = ["atomic_path", "check_writable", "new_temp_sibling", "remove_quietly", "disk_full_error",
           "is_disk_full", "PathLike"]

PathLike = Union[str, "os.PathLike[str]"]

# errno values that mean "no room": ENOSPC, and EDQUOT (a user quota) where the platform has it.
_FULL = {errno.ENOSPC} | ({errno.EDQUOT} if hasattr(errno, "EDQUOT") else set())


def is_disk_full(err: BaseException) -> bool:
    """True for an OSError (PyAV's and Pillow's included) that says the disk or quota is full."""
    return isinstance(err, OSError) and err.errno in _FULL


def disk_full_error(path: PathLike) -> VstError:
    """The one-line error for a full disk while writing ``path``."""
    folder = Path(path).resolve().parent
    return VstError(f"cannot write '{path}': the disk is full (no space left in '{folder}'); "
                    f"free some space or choose another output folder")


def check_writable(path: Path) -> None:
    """Raise VstError unless a file could be created at ``path``."""
    parent = path.parent
    if not parent.exists():
        raise VstError(f"cannot write '{path}': folder '{parent}' does not exist; create it first")
    if not parent.is_dir():
        raise VstError(f"cannot write '{path}': '{parent}' is not a folder; choose another output path")
    if path.is_dir():
        raise VstError(f"cannot write '{path}': it is a folder; give a file name instead")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise VstError(f"cannot write '{path}': folder '{parent}' is not writable; choose another output folder")


def new_temp_sibling(path: Path, tag: str = "") -> Path:
    """Create an empty, uniquely named hidden file next to ``path`` and return its path.

    The name keeps the destination's extension (``.out.mp4.tmp-1a2b3c4d.mp4``) because the
    encoders pick the output format from it. O_EXCL guarantees we never reuse someone else's
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
            if is_disk_full(err):
                raise disk_full_error(path) from None
            raise VstError(f"cannot write '{path}': {err.strerror}; choose another output folder") from None
        os.close(fd)
        return temp
    raise VstError(f"cannot write '{path}': could not create a temporary file next to it")  # pragma: no cover


def remove_quietly(path: Optional[Path]) -> None:
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
    exception propagates; an OSError saying the disk is full (ENOSPC, EDQUOT) becomes a
    :class:`VstError` naming the folder.
    """
    path = Path(path)
    check_writable(path)
    temp = new_temp_sibling(path)
    try:
        yield temp
    except BaseException as err:  # also on KeyboardInterrupt: never leave temp files around
        remove_quietly(temp)
        if is_disk_full(err):
            raise disk_full_error(path) from None
        raise
    try:
        os.replace(temp, path)
    except OSError as err:
        remove_quietly(temp)
        raise VstError(f"cannot write '{path}': {err.strerror}; choose another output path") from None
