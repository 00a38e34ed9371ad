"""Video stylization: the public entry point. Everything happens in :mod:`vstlib.runner` (one
runner for every registered method); this module keeps the name users import."""

from .runner import VideoResult, stylize_video

__all__ = ["VideoResult", "stylize_video"]
