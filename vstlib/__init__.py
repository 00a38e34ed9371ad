"""vstlib: video neural style transfer in PyTorch.

Quick use::

    from vstlib import GatysConfig, stylize_image, stylize_video, load_image
    out = stylize_image(load_image("photo.jpg", max_side=256), load_image("starry.jpg"), GatysConfig(iters=200))

The names below are imported on first use (PEP 562), so ``import vstlib`` and the ``vst``
command line's help do not load torch.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_LAZY = {
    "VstError": "errors", "GatysConfig": "methods.gatys", "GatysStylizer": "gatys", "stylize_image": "gatys",
    "load_image": "io", "save_image": "io", "read_frames": "io", "probe_video": "io", "VideoWriter": "io",
    "frame_difference": "metrics", "temporal_errors": "metrics", "RuderConfig": "methods.ruder",
    "RuderStylizer": "ruder", "JohnsonConfig": "methods.johnson", "pick_device": "utils", "smoke_mode": "utils",
    "stylize_video": "runner", "stylize_image_file": "runner", "methods": None,
}

__all__ = sorted(_LAZY) + ["__version__"]


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module 'vstlib' has no attribute '{name}'")
    module = _LAZY[name]
    value = importlib.import_module(f".{module or name}", __name__)
    if module is not None:
        value = getattr(value, name)
    globals()[name] = value
    return value


def __dir__():
    return __all__
