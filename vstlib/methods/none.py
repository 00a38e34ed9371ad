"""``none``: frames pass through unchanged. The baseline every metric is compared against
(the input's own flicker, the cost of decoding and encoding alone), and the smallest example
of a method: a config, a session, one registration line in ``vstlib/methods/__init__.py``.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..config import validate
from .base import Method, Session, register


@dataclass(frozen=True)
class NoneConfig:
    """No settings."""

    def __post_init__(self):
        validate(self)


class PassThrough(Session):
    batch_size = 8

    def stylize(self, items):
        import torch

        return torch.cat([item.content for item in items])


@register
class NoneMethod(Method):
    name = "none"
    summary = "frames unchanged (a baseline for metrics and timings)"
    Config = NoneConfig
    style_kind = "none"
    native_resolution = True

    def prepare(self, config, styles, device, workdir=None):
        return PassThrough()
