"""vstlib: video neural style transfer in PyTorch.

Quick use::

    from vstlib import GatysConfig, stylize_image, stylize_video, load_image
    out = stylize_image(load_image("photo.jpg", max_side=256), load_image("starry.jpg"), GatysConfig(iters=200))
"""

__version__ = "0.1.0"

from .errors import VstError  # noqa: E402
from .gatys import GatysConfig, GatysStylizer, stylize_image  # noqa: E402
from .io import load_image, save_image, read_frames, probe_video, VideoWriter  # noqa: E402
from .metrics import frame_difference, temporal_errors  # noqa: E402
from .ruder import RuderConfig, RuderStylizer  # noqa: E402
from .utils import pick_device, smoke_mode  # noqa: E402
from .video import stylize_video  # noqa: E402

__all__ = [
    "VstError", "GatysConfig", "GatysStylizer", "stylize_image", "stylize_video", "load_image", "save_image",
    "read_frames", "probe_video", "VideoWriter", "frame_difference", "temporal_errors", "RuderConfig", "RuderStylizer",
    "pick_device", "smoke_mode", "__version__",
]
