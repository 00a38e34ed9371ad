"""``multistyle``: one pretrained network with 26 built-in styles (Dumoulin et al. 2017).

Conditional instance normalization keeps a scale and a shift per style in every normalization
layer; ``--styles 3`` picks style 3, ``--styles 3:0.5,12:0.5`` mixes the normalization
parameters of two styles (one pass, not a blend of pictures). The network and its pretrained
TensorFlow weights: :mod:`vstlib.multistyle_net`. The styles have indices, not names (the
release never named them).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

from ..choices import AMP_MODES
from ..config import option, validate
from ..errors import VstError
from .base import Method, Session, amp_dtype, register


def _check_styles(value) -> str | None:
    from ..multistyle_net import parse_styles

    try:
        parse_styles(value)
    except VstError as err:
        return str(err)
    return None


@dataclass(frozen=True)
class MultiStyleConfig:
    """Which of the 26 built-in styles, and how to run the network."""

    styles: str = option("0", "a built-in style index 0-25, or a mix such as 3:0.5,12:0.5", check=_check_styles,
                         metavar="I[:W],..")
    batch: int = option(4, "frames per forward pass", low=1, high=1024)
    amp: str = option("auto", "precision: auto = bf16 on CUDA, float32 on CPU", choices=AMP_MODES)

    def __post_init__(self):
        validate(self)

    def resolved_dtype(self, device):
        return amp_dtype(self.amp, device)

    def replace(self, **changes) -> MultiStyleConfig:
        return replace(self, **changes)

    def to_dict(self) -> dict:
        return asdict(self)


class MultiStyleFrames(Session):
    def __init__(self, config: MultiStyleConfig, device):
        from ..multistyle_net import load_multistyle, parse_styles

        super().__init__()
        self.config, self.device = config, device
        self.dtype = config.resolved_dtype(device)
        self.net = load_multistyle(device=device).to(self.dtype)
        self.weights = parse_styles(config.styles).to(device)
        self.batch_size = config.batch

    def stylize(self, items):
        import time

        import torch

        t0 = time.perf_counter()
        with torch.inference_mode():
            x = torch.cat([item.content for item in items]).to(self.device, self.dtype, non_blocking=True)
            y = self.net(x, self.weights).float().clamp(0, 1).cpu()
        self.stats.seconds_per_frame += [(time.perf_counter() - t0) / len(items)] * len(items)
        return y


@register
class MultiStyle(Method):
    name = "multistyle"
    summary = "Dumoulin et al.: one pretrained network, 26 built-in styles and their mixes (--styles 3:0.5,12:0.5)"
    Config = MultiStyleConfig
    style_kind = "none"
    native_resolution = True
    mixes_styles = False

    def prepare(self, config, styles, device, workdir=None):
        return MultiStyleFrames(config, device)
