"""MediaPipe's selfie segmentation networks (person vs background), ported to PyTorch.

Two small networks trained by Google's MediaPipe team (Apache-2.0; attribution, checksums and the
conversion check in ``vstlib/models/selfie/NOTICE.md``, use and limits in ``MODEL_CARD.md``):

* ``"general"``: input 256x256, for square or portrait frames;
* ``"landscape"``: input 144x256 (H x W, 16:9), for wide frames; the same layers, about 56 % of
  the general network's pixels and work.

Both take RGB in [0, 1] and return a soft person mask in [0, 1] (1 = person). The architecture
is a MobileNetV3-style encoder (inverted residual blocks, squeeze-and-excitation, hard-swish)
down to 1/16 of the input, an LR-ASPP-like head, and a decoder that upsamples x2 three times,
each time merging an encoder skip connection through a channel gate, then a 2x2 stride-2
transposed convolution to the input size. It is written here layer by layer from the TFLite
graph (``tools/convert_mediapipe_selfie.py`` reads the weights and checks the port against the
LiteRT interpreter).

    >>> import torch
    >>> net = SelfieSegmenter().eval()          # random weights; load_selfie() has the trained ones
    >>> with torch.no_grad():
    ...     net(torch.rand(2, 3, 144, 256)).shape
    torch.Size([2, 1, 144, 256])
    >>> pick_variant(360, 640), pick_variant(480, 640), pick_variant(640, 360)
    ('landscape', 'general', 'general')
"""

from __future__ import annotations

import functools
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .errors import VstError

__all__ = ["INPUT_SIZES", "VARIANTS", "SelfieSegmenter", "load_selfie", "person_masks", "pick_variant", "weights_path"]

# The networks' input sizes (H, W), as MediaPipe feeds them (the frame is stretched, not cropped).
INPUT_SIZES = {"general": (256, 256), "landscape": (144, 256)}
VARIANTS = tuple(INPUT_SIZES)
# Frames wider than 4:3 go to the landscape network. 4:3 is the geometric middle of the two
# input shapes (1:1 and 16:9): above it, stretching to 16:9 distorts less than squashing to 1:1
# (a 16:9 clip, the common case here, is not distorted at all and costs 56 % of the work).
LANDSCAPE_ABOVE = 4 / 3

MODELS_DIR = Path(__file__).resolve().parent / "models" / "selfie"
WEIGHT_FILES = {"general": "selfie_segmentation.pt", "landscape": "selfie_segmentation_landscape.pt"}
FORMAT = "vstlib-selfie-v1"

# The encoder, one row per inverted residual block:
# (expanded channels, output channels, depthwise kernel, stride, activation, squeeze channels or None).
# A block adds its input back when it keeps the size and channel count.
ENCODER_BLOCKS = (
    (16, 16, 3, 2, "relu", 8),       # -> 1/4, skip connection of the last decoder stage but one
    (72, 24, 3, 2, "relu", None),    # -> 1/8
    (88, 24, 3, 1, "relu", None),    # 1/8, skip connection of the first decoder stage
    (96, 32, 5, 2, "hswish", 24),    # -> 1/16
    (128, 32, 5, 1, "hswish", 32),
    (128, 32, 5, 1, "hswish", 32),
    (96, 32, 5, 1, "hswish", 24),
    (96, 32, 5, 1, "hswish", 24),
)
STEM_CHANNELS = 16
HEAD_CHANNELS = 128
# Decoder stages from coarse to fine: (input channels, skip channels); each upsamples x2.
DECODER_STAGES = ((128, 24), (24, 16), (16, 16))


def _activation(name: str) -> nn.Module:
    return nn.Hardswish() if name == "hswish" else nn.ReLU()


class SameConv2d(nn.Conv2d):
    """A convolution with TensorFlow's "SAME" padding: output size ceil(input / stride).

    With stride 2 TensorFlow pads the extra row/column at the bottom/right only (e.g. 0 above,
    1 below for a 3x3 kernel on an even size), which PyTorch's symmetric ``padding`` cannot
    express, so it is done with an explicit ``F.pad``. Stride 1 pads symmetrically.

        >>> conv = SameConv2d(1, 1, 3, stride=2)
        >>> conv(torch.zeros(1, 1, 9, 16)).shape
        torch.Size([1, 1, 5, 8])
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1, groups: int = 1):
        pad = (kernel_size - 1) // 2 if stride == 1 else 0
        super().__init__(in_channels, out_channels, kernel_size, stride=stride, padding=pad, groups=groups)

    def forward(self, x: Tensor) -> Tensor:
        if self.stride[0] > 1:
            pads = []
            for size, k, s in ((x.shape[-1], self.kernel_size[1], self.stride[1]),
                               (x.shape[-2], self.kernel_size[0], self.stride[0])):
                total = max((-(-size // s) - 1) * s + k - size, 0)
                pads += [total // 2, total - total // 2]  # the odd pixel goes after
            x = F.pad(x, pads)
        return super().forward(x)


class SqueezeExcite(nn.Module):
    """Channel gate: global mean -> 1x1 conv -> ReLU -> 1x1 conv -> sigmoid (a true sigmoid,
    not MobileNetV3's hard sigmoid: the TFLite graph uses LOGISTIC)."""

    def __init__(self, channels: int, squeeze: int):
        super().__init__()
        self.reduce = nn.Conv2d(channels, squeeze, 1)
        self.expand = nn.Conv2d(squeeze, channels, 1)

    def gate(self, x: Tensor) -> Tensor:
        """[B, C, 1, 1] weights in (0, 1) computed from ``x`` [B, C, H, W]."""
        return torch.sigmoid(self.expand(F.relu(self.reduce(x.mean((2, 3), keepdim=True)))))

    def forward(self, x: Tensor) -> Tensor:
        return x * self.gate(x)


class InvertedResidual(nn.Module):
    """1x1 expand + activation, kxk depthwise + activation, optional squeeze-excite, 1x1 project
    (linear), plus the input when the shape is kept."""

    def __init__(self, cin: int, expanded: int, cout: int, kernel: int, stride: int, act: str, squeeze: int | None):
        super().__init__()
        self.expand = nn.Conv2d(cin, expanded, 1)
        self.depthwise = SameConv2d(expanded, expanded, kernel, stride=stride, groups=expanded)
        self.act = _activation(act)
        self.se = SqueezeExcite(expanded, squeeze) if squeeze else None
        self.project = nn.Conv2d(expanded, cout, 1)
        self.residual = stride == 1 and cin == cout

    def forward(self, x: Tensor) -> Tensor:
        y = self.act(self.depthwise(self.act(self.expand(x))))
        if self.se is not None:
            y = self.se(y)
        y = self.project(y)
        return y + x if self.residual else y


class DecoderStage(nn.Module):
    """Upsample x2 (bilinear, half-pixel centers), 1x1 conv to the skip's channels, merge with
    the encoder skip connection, then a small residual refinement:

        up = conv1x1(upsample(x));  s = skip + up
        merged = skip * gate(s) + up                  (gate: squeeze-excite weights of s)
        r = relu(conv1x1(merged));  out = r + relu(depthwise3x3(r))
    """

    def __init__(self, cin: int, cskip: int):
        super().__init__()
        self.lateral = nn.Conv2d(cin, cskip, 1)
        self.gate = SqueezeExcite(cskip, cskip)
        self.refine = nn.Conv2d(cskip, cskip, 1)
        self.depthwise = SameConv2d(cskip, cskip, 3, groups=cskip)

    def forward(self, x: Tensor, skip: Tensor) -> Tensor:
        up = self.lateral(F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False))
        merged = skip * self.gate.gate(skip + up) + up
        r = F.relu(self.refine(merged))
        return r + F.relu(self.depthwise(r))


class SelfieSegmenter(nn.Module):
    """The selfie segmentation network: RGB [B, 3, h, w] in [0, 1] -> person mask [B, 1, h, w] in [0, 1].

    h and w must be multiples of 16 (the trained sizes are :data:`INPUT_SIZES`; other sizes run
    but are outside what the network saw in training). Use :func:`person_masks` for frames of
    any size.
    """

    def __init__(self):
        super().__init__()
        self.stem = SameConv2d(3, STEM_CHANNELS, 3, stride=2)
        blocks, cin = [], STEM_CHANNELS
        for expanded, cout, kernel, stride, act, squeeze in ENCODER_BLOCKS:
            blocks.append(InvertedResidual(cin, expanded, cout, kernel, stride, act, squeeze))
            cin = cout
        self.blocks = nn.ModuleList(blocks)
        # LR-ASPP-like head: 1x1 conv + ReLU, gated by a sigmoid of the globally pooled input.
        self.head = nn.Conv2d(cin, HEAD_CHANNELS, 1)
        self.head_gate = nn.Conv2d(cin, HEAD_CHANNELS, 1)
        self.decoder = nn.ModuleList(DecoderStage(c, s) for c, s in DECODER_STAGES)
        self.out = nn.ConvTranspose2d(DECODER_STAGES[-1][1], 1, 2, stride=2)

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim != 4 or x.shape[1] != 3 or x.shape[-2] % 16 or x.shape[-1] % 16:
            raise VstError(f"SelfieSegmenter: expected RGB [B, 3, h, w] with h, w multiples of 16, got "
                           f"{list(x.shape)}; use person_masks() for frames of any size")
        half = F.hardswish(self.stem(x))                    # 1/2, 16 channels
        quarter = self.blocks[0](half)                      # 1/4, 16
        y = self.blocks[1](quarter)
        eighth = self.blocks[2](y)                          # 1/8, 24
        y = eighth
        for block in self.blocks[3:]:
            y = block(y)                                    # 1/16, 32
        y = F.relu(self.head(y)) * torch.sigmoid(self.head_gate(y.mean((2, 3), keepdim=True)))
        for stage, skip in zip(self.decoder, (eighth, quarter, half)):
            y = stage(y, skip)
        return torch.sigmoid(self.out(y))


def pick_variant(height: int, width: int) -> str:
    """``"landscape"`` for frames wider than 4:3 (16:9 clips), else ``"general"``."""
    return "landscape" if width > LANDSCAPE_ABOVE * height else "general"


def weights_path(variant: str) -> Path:
    if variant not in WEIGHT_FILES:
        raise VstError(f"unknown selfie segmentation variant {variant!r}: use one of {', '.join(VARIANTS)}")
    return MODELS_DIR / WEIGHT_FILES[variant]


def state_from_blob(blob: dict) -> dict[str, Tensor]:
    """The float32 state dict of a saved ``.pt`` blob (weights are stored as float16, exactly
    the TFLite files' float16 values)."""
    if blob.get("format") != FORMAT:
        raise VstError(f"not a vstlib selfie segmentation file (format {blob.get('format')!r}); "
                       f"regenerate it with tools/convert_mediapipe_selfie.py")
    return {k: v.float() for k, v in blob["state_dict"].items()}


@functools.cache
def _load_cpu(variant: str) -> SelfieSegmenter:
    path = weights_path(variant)
    if not path.is_file():
        raise VstError(f"{path} is missing: reinstall vstlib or run tools/convert_mediapipe_selfie.py")
    net = SelfieSegmenter()
    net.load_state_dict(state_from_blob(torch.load(path, map_location="cpu", weights_only=True)))
    return net.eval().requires_grad_(False)


_DEVICE_CACHE: dict[tuple[str, str], SelfieSegmenter] = {}


def load_selfie(variant: str = "general", device: torch.device | str | None = None) -> SelfieSegmenter:
    """The trained network ``variant`` ("general" or "landscape") in eval mode, without
    gradients, on ``device`` (default CPU). Loaded once per process and device; do not modify it.

        >>> load_selfie("landscape").out.weight.shape
        torch.Size([16, 1, 2, 2])
    """
    net = _load_cpu(variant)
    dev = torch.device(device) if device is not None else torch.device("cpu")
    if dev.type == "cpu":
        return net
    key = (variant, str(dev))
    if key not in _DEVICE_CACHE:
        _DEVICE_CACHE[key] = SelfieSegmenter().to(dev).eval().requires_grad_(False)
        _DEVICE_CACHE[key].load_state_dict(net.state_dict())
    return _DEVICE_CACHE[key]


def person_masks(frames: Tensor, variant: str | None = None, net: SelfieSegmenter | None = None) -> Tensor:
    """Soft person masks [B, 1, H, W] in [0, 1] for RGB frames [B, 3, H, W] in [0, 1].

    Each frame is resized (stretched, as MediaPipe does) to the network's input size, with
    antialiasing when shrinking, and the mask is resized back bilinearly. ``variant``: "general",
    "landscape" or None to pick by the frames' shape (:func:`pick_variant`). ``net``: an already
    loaded network (default: :func:`load_selfie` on the frames' device); it must be the variant's.

        >>> person_masks(torch.rand(2, 3, 90, 160)).shape
        torch.Size([2, 1, 90, 160])
    """
    if frames.ndim == 3:
        return person_masks(frames[None], variant, net)[0]
    if frames.ndim != 4 or frames.shape[1] != 3:
        raise VstError(f"person_masks: expected RGB frames [B, 3, H, W] in [0, 1], got shape {list(frames.shape)}")
    if not frames.is_floating_point():
        raise VstError(f"person_masks: expected float frames in [0, 1], got {frames.dtype}; divide uint8 frames by 255")
    h, w = frames.shape[-2:]
    variant = variant or pick_variant(h, w)
    if variant not in INPUT_SIZES:
        raise VstError(f"unknown selfie segmentation variant {variant!r}: use one of {', '.join(VARIANTS)}")
    net = net if net is not None else load_selfie(variant, frames.device)
    size = INPUT_SIZES[variant]
    x = frames.float()
    if tuple(x.shape[-2:]) != size:
        shrink = h > size[0] or w > size[1]
        x = F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=shrink).clamp(0, 1)
    with torch.no_grad():
        mask = net(x)
    if (h, w) != size:
        mask = F.interpolate(mask, size=(h, w), mode="bilinear", align_corners=False)
    return mask.clamp(0, 1)
