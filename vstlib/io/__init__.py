"""Reading and writing images and videos, split by idea:

* :mod:`.frames`: frames between uint8 arrays ``[H, W, 3]`` and float tensors ``[*, 3, H, W]``
  (:func:`to_tensor`, :func:`to_array`, :func:`to_tensors`, :func:`to_arrays`) and
  :func:`resize_frame`; the one place vstlib converts pixels;
* :mod:`.images`: :func:`load_image`, :func:`save_image`;
* :mod:`.video`: :func:`probe_video`, :func:`read_frames` (seeking), :class:`VideoWriter`,
  :func:`concat_videos` (PyAV, the FFmpeg libraries in-process; see the module for why);
* :mod:`.atomic`: :func:`atomic_path` and the temporary siblings every writer uses, so an
  interrupted run never leaves a truncated file and a full disk is reported as such.

Everything other modules imported from the former ``vstlib/io.py`` is re-exported here.
"""

from .atomic import atomic_path, check_writable, disk_full_error, is_disk_full, new_temp_sibling, remove_quietly  # noqa: F401
from .frames import as_uint8_frame, resize_frame, target_size, to_array, to_arrays, to_tensor, to_tensors
from .images import MAX_PIXELS, load_image, save_image
from .video import (VIDEO_EXTENSIONS, VideoInfo, VideoWriter, concat_videos, has_audio, is_video_path, probe_video,
                    read_frames)

# The former private names, still imported elsewhere (vstlib/video.py uses _check_writable).
_check_writable = check_writable
_new_temp_sibling = new_temp_sibling
_remove_quietly = remove_quietly
_as_uint8_frame = as_uint8_frame
_target_size = target_size

__all__ = [
    "load_image",
    "save_image",
    "to_tensor",
    "to_array",
    "to_tensors",
    "to_arrays",
    "as_uint8_frame",
    "resize_frame",
    "atomic_path",
    "VideoInfo",
    "probe_video",
    "has_audio",
    "is_video_path",
    "read_frames",
    "VideoWriter",
    "concat_videos",
    "VIDEO_EXTENSIONS",
    "MAX_PIXELS",
]
