"""``arbitrary``: any painting as the style, one network pass per frame (Ghiasi et al. 2017).

The style prediction network maps each painting (center square, 256x256) to a 100-d style
vector; the transfer network stylizes every frame at its own resolution with conditional
instance norm parameters computed from that vector (:mod:`vstlib.arbitrary_net`, pretrained
Magenta weights). A frame's style mix (fades, schedules from :mod:`vstlib.schedule`) is
rendered in *embedding space*: the style vectors are interpolated and the frame goes through the
network once, instead of blending several stylized frames. ``--style-strength`` below 1 mixes
the painting's vector with the frame's own style vector, as Magenta does.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

from ..choices import AMP_MODES
from ..config import option, validate
from .base import Method, Session, amp_dtype, register

MIX_SPACES = ("embedding", "pixel")


@dataclass(frozen=True)
class ArbitraryConfig:
    """How to run the arbitrary-style networks over frames."""

    style_strength: float = option(1.0, "1 = the painting's style; lower mixes in the frame's own style vector "
                                        "(0 = the frame's own style)", low=0, high=1, metavar="S")
    # How a frame whose schedule mixes several styles (a fade) is rendered: "embedding"
    # interpolates the style vectors (one pass, a style in between); "pixel" stylizes with each
    # style and blends the pictures (one pass per style, the two styles superimposed).
    mix_space: str = option("embedding", "fades between styles: interpolate the style vectors (embedding, one "
                                          "pass) or blend the stylized frames (pixel)", choices=MIX_SPACES)
    batch: int = option(4, "frames per forward pass", low=1, high=1024)
    amp: str = option("auto", "precision: auto = bf16 on CUDA, float32 on CPU", choices=AMP_MODES)
    # The int8 release rounds its activations; float activations are smoother and faster.
    int8_activations: bool = option(False, "replay the release's int8 activation rounding (slower; for checks)")

    def __post_init__(self):
        validate(self)

    def resolved_dtype(self, device):
        return amp_dtype(self.amp, device)

    def replace(self, **changes) -> ArbitraryConfig:
        return replace(self, **changes)

    def to_dict(self) -> dict:
        return asdict(self)


def center_square(image, size: int):
    """The largest centred square of [B, 3, H, W], resized to size x size (antialiased).

    >>> import torch
    >>> center_square(torch.rand(1, 3, 40, 90), 16).shape
    torch.Size([1, 3, 16, 16])
    """
    import torch.nn.functional as F

    h, w = image.shape[-2:]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    crop = image[..., top:top + side, left:left + side]
    return F.interpolate(crop, size=(size, size), mode="bilinear", align_corners=False,
                         antialias=side > size).clamp(0, 1)


class ArbitraryFrames(Session):
    """Frames through the transfer network with interpolated style vectors."""

    def __init__(self, styles, config: ArbitraryConfig, device):
        import torch

        from ..arbitrary_net import load_predictor, load_transformer

        super().__init__()
        self.config, self.device = config, device
        self.dtype = config.resolved_dtype(device)
        q = config.int8_activations
        self.predictor = load_predictor(device=device, quantize_activations=q).to(self.dtype)
        self.transformer = load_transformer(device=device, quantize_activations=q).to(self.dtype)
        self.batch_size = config.batch
        with torch.inference_mode():
            self.vectors = torch.cat([self.style_vector(s) for s in styles]).float()  # [n_styles, 100]

    def style_vector(self, images):
        """[B, 3, H, W] in [0, 1] -> [B, 100] (center square at 256x256, as Magenta does)."""
        from ..arbitrary_net import STYLE_SIZE

        x = center_square(images.to(self.device, self.dtype), STYLE_SIZE)
        return self.predictor(x).float()

    def stylize(self, items):
        import time

        import torch

        t0 = time.perf_counter()
        with torch.inference_mode():
            x = torch.cat([item.content for item in items]).to(self.device, self.dtype, non_blocking=True)
            w = torch.zeros(len(items), self.vectors.shape[0], device=self.device)
            for i, item in enumerate(items):
                for k, weight in item.mix:
                    w[i, k] += weight
            own = self.style_vector(x) if self.config.style_strength < 1 else None
            if self.config.mix_space == "embedding":
                y = self._pass(x, w @ self.vectors, own)  # one pass with the interpolated vector
            else:  # one pass per style present, then blend the pictures
                used = [k for k in range(w.shape[1]) if bool((w[:, k] > 0).any())]
                y = sum(w[:, k, None, None, None] * self._pass(x, self.vectors[k].expand(len(items), -1), own)
                        for k in used)
            y = y.clamp(0, 1).cpu()
        self.stats.seconds_per_frame += [(time.perf_counter() - t0) / len(items)] * len(items)
        return y


    def _pass(self, x, vectors, own):
        s = self.config.style_strength
        if own is not None:
            vectors = s * vectors + (1 - s) * own
        return self.transformer(x, vectors.to(self.dtype)).float()


@register
class Arbitrary(Method):
    name = "arbitrary"
    summary = "Ghiasi et al.: any painting as the style, one pretrained network pass per frame (fast)"
    Config = ArbitraryConfig
    style_kind = "image"
    native_resolution = True

    def prepare(self, config, styles, device, workdir=None):
        return ArbitraryFrames(styles, config, device)
