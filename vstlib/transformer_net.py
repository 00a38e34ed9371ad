"""The feed-forward stylization network of Johnson, Alahi and Fei-Fei (2016).

One forward pass replaces Gatys' optimization: a network trained for one style maps any image
[B, 3, H, W] in [0, 1] to its stylization. The architecture follows the paper and its
supplementary material, with the changes the field has since adopted:

* 9x9 convolutions at input and output, two stride-2 downsampling convolutions, five residual
  blocks at a quarter of the resolution, two 2x upsamplings;
* **upsampling by resize-then-convolve** (nearest-neighbour 2x, then a 3x3 convolution) instead
  of transposed convolutions, which avoids checkerboard artifacts (Odena et al. 2016);
* **reflection padding** everywhere, so frame borders are not darkened by zero padding;
* **instance normalization** (Ulyanov et al. 2016) by default: each image's feature
  statistics are normalized on their own, which removes the content image's contrast and lets
  the network impose the style's; batch normalization and no normalization are options;
* the output is squashed to [0, 1] with a scaled tanh (as in the paper), so training sees
  exactly the images inference writes: no clamp afterwards can change the loss.

``width`` scales every layer's channels (32 = the paper's 32/64/128; 16 = the reduced-width
variant, about 4x fewer multiply-adds).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn




def _norm(kind: str, channels: int) -> nn.Module:
    if kind == "instance":
        # affine: a learned scale and shift per channel after normalizing (the style's statistics)
        return nn.InstanceNorm2d(channels, affine=True)
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    return nn.Identity()


class ConvLayer(nn.Sequential):
    """Reflection padding, convolution, optional normalization and ReLU."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int = 1, norm: str = "instance", relu: bool = True):
        layers = [nn.ReflectionPad2d(kernel // 2), nn.Conv2d(cin, cout, kernel, stride)]
        if norm != "none":
            layers.append(_norm(norm, cout))
        if relu:
            layers.append(nn.ReLU(inplace=True))
        super().__init__(*layers)


class ResidualBlock(nn.Module):
    """x + conv-norm-relu-conv-norm(x), at constant size (He et al. 2016, as in Johnson et al.)."""

    def __init__(self, channels: int, norm: str = "instance"):
        super().__init__()
        self.body = nn.Sequential(ConvLayer(channels, channels, 3, norm=norm),
                                  ConvLayer(channels, channels, 3, norm=norm, relu=False))

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x)


class UpsampleConv(nn.Module):
    """Nearest-neighbour 2x upsampling, then a convolution: no checkerboard artifacts."""

    def __init__(self, cin: int, cout: int, norm: str = "instance"):
        super().__init__()
        self.conv = ConvLayer(cin, cout, 3, norm=norm)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(F.interpolate(x, scale_factor=2, mode="nearest"))


class PhaseUpsampleConv(nn.Module):
    """The same function as an ``UpsampleConv`` (up to float rounding), at 16/36 of its cost.

    After nearest-neighbour 2x upsampling, each 3x3 window covers only 2x2 distinct input
    pixels, and which 2x2 depends on the output pixel's phase (row and column parity). So every
    phase is a 2x2 convolution of the *low-resolution* input with summed weights: one 2x2
    convolution with 4 x C_out channels, then the phases are interleaved (pixel shuffle). The
    reflection padding of the upsampled image by one pixel equals replicate padding of the input.
    For inference (``fold_upsampling``); training keeps the plain module.
    """

    def __init__(self, up: UpsampleConv):
        super().__init__()
        pad, conv, *rest = up.conv
        if not (isinstance(pad, nn.ReflectionPad2d) and conv.kernel_size == (3, 3) and conv.stride == (1, 1)):
            raise ValueError("PhaseUpsampleConv expects reflection padding 1 and a 3x3, stride-1 convolution")
        w = conv.weight.detach()  # [C_out, C_in, 3, 3]
        # taps of phase a (0: even output rows, 1: odd) onto the 2 input rows it sees
        groups = {0: ((0,), (1, 2)), 1: ((0, 1), (2,))}
        kernels = []
        for a in (0, 1):
            for c in (0, 1):
                k = torch.zeros(w.shape[0], w.shape[1], 2, 2, dtype=w.dtype, device=w.device)
                for u, rows in enumerate(groups[a]):
                    for v, cols in enumerate(groups[c]):
                        k[:, :, u, v] = w[:, :, list(rows)][:, :, :, list(cols)].sum(dim=(2, 3))
                kernels.append(k)
        self.cout = w.shape[0]
        self.phases = nn.Conv2d(w.shape[1], 4 * self.cout, 2, bias=conv.bias is not None).to(w.device)
        with torch.no_grad():
            self.phases.weight.copy_(torch.cat(kernels))
            if conv.bias is not None:
                self.phases.bias.copy_(conv.bias.detach().repeat(4))
        self.rest = nn.Sequential(*rest)  # normalization and ReLU, unchanged

    def forward(self, x: Tensor) -> Tensor:
        b, _, h, w = x.shape
        out = self.phases(F.pad(x, (1, 1, 1, 1), mode="replicate"))  # [B, 4 C, h + 1, w + 1]
        c = self.cout
        y = out.new_empty(b, c, 2 * h, 2 * w)
        phases = y.view(b, c, h, 2, w, 2)  # y[..., 2i + a, 2j + cc] = phases[..., i, a, j, cc]
        for k, (a, cc) in enumerate(((0, 0), (0, 1), (1, 0), (1, 1))):
            phases[:, :, :, a, :, cc] = out[:, k * c:(k + 1) * c, a:a + h, cc:cc + w]
        return self.rest(y)


class TransformerNet(nn.Module):
    """Image [B, 3, H, W] in [0, 1] -> stylized image [B, 3, H, W] in [0, 1].

    Any H, W works; sizes that are not multiples of 4 are padded by reflection inside and the
    output is cropped back, so the output always has the input's size.
    """

    def __init__(self, norm: str = "instance", width: int = 32, residual_blocks: int = 5):
        super().__init__()
        from .methods.johnson import TrainConfig

        TrainConfig(norm=norm, width=width)  # the one place these options are checked
        self.norm, self.width, self.residual_blocks = norm, width, residual_blocks
        w = width
        self.encoder = nn.Sequential(
            ConvLayer(3, w, 9, norm=norm),
            ConvLayer(w, 2 * w, 3, stride=2, norm=norm),
            ConvLayer(2 * w, 4 * w, 3, stride=2, norm=norm),
        )
        self.residuals = nn.Sequential(*(ResidualBlock(4 * w, norm) for _ in range(residual_blocks)))
        self.decoder = nn.Sequential(
            UpsampleConv(4 * w, 2 * w, norm),
            UpsampleConv(2 * w, w, norm),
            ConvLayer(w, 3, 9, norm="none", relu=False),
        )

    def config(self) -> dict:
        """The constructor arguments (stored in checkpoints)."""
        return {"norm": self.norm, "width": self.width, "residual_blocks": self.residual_blocks}

    def forward_with_features(self, image: Tensor) -> tuple[Tensor, Tensor]:
        """The output and the feature map F after the residual blocks [B, 4 width, ceil(H/4), ceil(W/4)]:
        what ReCoNet's feature-map temporal loss constrains (fine-tuning with
        :func:`vstlib.reconet.train`'s ``init``).

        >>> net = TransformerNet("instance", 8).eval()
        >>> x = torch.rand(1, 3, 30, 41)
        >>> with torch.no_grad():
        ...     out, feats = net.forward_with_features(x)
        >>> tuple(out.shape), tuple(feats.shape), bool(torch.equal(out, net(x)))
        ((1, 3, 30, 41), (1, 32, 8, 11), True)
        """
        h, w = image.shape[-2:]
        pad_h, pad_w = (-h) % 4, (-w) % 4  # two stride-2 stages: sizes must divide by 4
        x = F.pad(image, (0, pad_w, 0, pad_h), mode="reflect") if pad_h or pad_w else image
        features = self.residuals(self.encoder(x))
        y = 0.5 * (torch.tanh(self.decoder(features)) + 1.0)  # Johnson et al.'s scaled tanh, to [0, 1]
        return (y[..., :h, :w] if pad_h or pad_w else y), features

    def forward(self, image: Tensor) -> Tensor:
        return self.forward_with_features(image)[0]


def fold_upsampling(model: TransformerNet) -> TransformerNet:
    """The network with each resize-convolution replaced by its phase decomposition
    (``PhaseUpsampleConv``): the same outputs, about 13 % fewer FLOPs per frame. In place."""
    for i, layer in enumerate(model.decoder):
        if isinstance(layer, UpsampleConv):
            model.decoder[i] = PhaseUpsampleConv(layer)
    return model


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def flops_per_frame(model: TransformerNet, height: int, width: int) -> float:
    """Floating-point operations (2 x multiply-adds) of one forward pass at H x W, as counted by
    :class:`torch.utils.flop_counter.FlopCounterMode`: the convolutions (norms, ReLUs and the
    upsampling add well under 1 % and are not counted). Counted on a copy on the ``meta`` device
    (shapes only, nothing computed), so a 1280x720 count costs milliseconds, not a forward pass.

    >>> f"{flops_per_frame(TransformerNet('instance', 32), 720, 1280) / 1e9:.1f} GFLOP"
    '283.5 GFLOP'
    """
    import copy

    from torch.utils.flop_counter import FlopCounterMode

    shapes_only = copy.deepcopy(model).to("meta")
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        shapes_only(torch.zeros(1, 3, height, width, device="meta"))
    return float(counter.get_total_flops())
