"""ReCoNet (Gao, Gu, Zhang and Yu 2018): a feed-forward network trained to be temporally coherent.

Johnson et al.'s network (:mod:`vstlib.transformer_net`) stylizes each frame on its own, so small
changes of the input (noise, a moving edge) can change the texture it paints: the video flickers.
ReCoNet keeps the one-pass speed at inference but is *trained* on pairs of consecutive frames
(I_{t-1}, I_t) with the optical flow between them, with two temporal losses added to both
frames' perceptual losses:

* **feature-map temporal loss** (:class:`FeatureTemporalLoss`): the encoder's output F_t (the
  feature map between encoder and decoder, a quarter of the frame's size) must move with the
  flow, ``L_temp,f = (1/D) sum M_t ||F_t - W_t(F_{t-1})||^2`` with D = C H W of the feature map,
  the flow and the occlusion mask M_t downsampled to it (:func:`feature_flow`). A constraint on
  features rather than pixels leaves the decoder free to paint any texture, as long as it comes
  from features that are stable;
* **output temporal loss with luminance** (:class:`OutputTemporalLoss`):
  ``L_temp,o = sum_c (1/D) sum M_t ((O_t - W_t(O_{t-1}))_c - (I_t - W_t(I_{t-1}))_Y)^2`` with
  D = H W and Y = 0.2126 R + 0.7152 G + 0.0722 B (:func:`relative_luminance`): where the input
  really gets brighter (a light comes on, a shadow passes), each output channel may change by as
  much, instead of being held at the previous frame's value.

``W_t`` warps with the flow from frame t to frame t-1 (vstlib's "backward flow",
:func:`vstlib.flow.warp`), M_t is 1 where that flow is reliable (:func:`vstlib.flow.occlusion_mask`).

**Network** (:class:`ReCoNet`): an encoder of three convolutions (9x9, then two 3x3 with stride
2) and four residual blocks, and a decoder of two upsampling convolutions and a final 9x9
convolution; instance normalization after every convolution but the output one, reflection
padding, resize-convolutions, the scaled tanh: the building blocks of
:class:`~vstlib.transformer_net.TransformerNet`, reused. ``width`` 48 gives the paper's
48/96/192 channels; 32 gives Johnson's 32/64/128, for like-for-like comparisons.

**Loss layers** (:data:`VGG16_TO_VGG19`): the paper's VGG16 content layer relu3_3 and style
layers relu1_2, relu2_2, relu3_3, relu4_3 are mapped to the VGG19 layers *of the same name*.
VGG19 is VGG16 with one more 3x3 convolution in blocks 3, 4 and 5; its first two blocks are
VGG16's, and the same-named layers in blocks 3 and 4 sit at the same resolution, with the same
channels and after the same number of convolutions within their block. Their receptive fields
match exactly up to block 3 (relu3_3: 40 px in both) and are the closest in block 4 (relu4_3:
100 px against VGG16's 92; relu4_2 has 84, relu4_4 116): see :func:`receptive_field`. The
alternative, "the last ReLU of each block" (relu3_4, relu4_4), would read deeper, coarser
features (48 and 116 px) than the paper's.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .transformer_net import ConvLayer, ResidualBlock, UpsampleConv

# The paper's VGG16 loss layers and the VGG19 layers vstlib uses for them (see the module docstring).
VGG16_TO_VGG19 = {"relu1_2": "relu1_2", "relu2_2": "relu2_2", "relu3_3": "relu3_3", "relu4_3": "relu4_3"}
CONTENT_LAYERS = ("relu3_3",)
STYLE_LAYERS = ("relu1_2", "relu2_2", "relu3_3", "relu4_3")

# ITU-R BT.709 relative luminance, as in the paper's output temporal loss.
LUMINANCE_WEIGHTS = (0.2126, 0.7152, 0.0722)

_VGG_CONVS = {"vgg16": (2, 2, 3, 3, 3), "vgg19": (2, 2, 4, 4, 4)}


def receptive_field(layer: str, net: str = "vgg19") -> int:
    """Receptive field in input pixels of ``relu{b}_{c}`` in VGG16 or VGG19 (3x3 convolutions,
    stride 1; 2x2 max pooling, stride 2, between blocks).

    >>> [receptive_field(n, "vgg16") for n in ("relu1_2", "relu2_2", "relu3_3", "relu4_3")]
    [5, 14, 40, 92]
    >>> [receptive_field(n) for n in ("relu1_2", "relu2_2", "relu3_3", "relu4_3")]
    [5, 14, 40, 100]
    >>> receptive_field("relu3_4"), receptive_field("relu4_2"), receptive_field("relu4_4")
    (48, 84, 116)
    """
    block, conv = (int(v) for v in layer.removeprefix("relu").split("_"))
    convs = _VGG_CONVS[net]
    if not (1 <= block <= 5 and 1 <= conv <= convs[block - 1]):
        from .errors import VstError

        raise VstError(f"{net} has no layer {layer}")
    field, jump = 1, 1
    for b in range(1, block + 1):
        for _ in range(convs[b - 1] if b < block else conv):
            field += 2 * jump  # a 3x3 convolution adds one sample on each side
        if b < block:
            field += jump  # 2x2 pooling, stride 2
            jump *= 2
    return field


# ------------------------------------------------------------------------------------------
# Network
# ------------------------------------------------------------------------------------------


class ReCoNet(nn.Module):
    """Image [B, 3, H, W] in [0, 1] -> stylized image [B, 3, H, W] in [0, 1], any H, W.

    ``encode`` gives the feature map F [B, 4 width, ceil(H/4), ceil(W/4)] (the input is padded
    by reflection to a multiple of 4), ``decode(F, (H, W))`` the image; ``forward`` is both, and
    ``forward_with_features`` returns both the image and F (training).

    >>> net = ReCoNet(width=8)
    >>> with torch.no_grad():
    ...     out, feats = net.forward_with_features(torch.rand(2, 3, 29, 38))
    >>> tuple(out.shape), tuple(feats.shape), 0 <= float(out.min()) <= float(out.max()) <= 1
    ((2, 3, 29, 38), (2, 32, 8, 10), True)
    """

    def __init__(self, width: int = 48, norm: str = "instance", residual_blocks: int = 4):
        super().__init__()
        from .methods.reconet import ReconetTrainConfig

        ReconetTrainConfig(norm=norm, width=width)  # the one place these options are checked
        self.width, self.norm, self.residual_blocks = width, norm, residual_blocks
        w = width
        self.encoder = nn.Sequential(
            ConvLayer(3, w, 9, norm=norm),
            ConvLayer(w, 2 * w, 3, stride=2, norm=norm),
            ConvLayer(2 * w, 4 * w, 3, stride=2, norm=norm),
            *(ResidualBlock(4 * w, norm) for _ in range(residual_blocks)),
        )
        self.decoder = nn.Sequential(
            UpsampleConv(4 * w, 2 * w, norm),
            UpsampleConv(2 * w, w, norm),
            ConvLayer(w, 3, 9, norm="none", relu=False),
        )

    def config(self) -> dict:
        """The constructor arguments (stored in checkpoints and model files)."""
        return {"width": self.width, "norm": self.norm, "residual_blocks": self.residual_blocks}

    def encode(self, image: Tensor) -> Tensor:
        """[B, 3, H, W] -> feature map F_t [B, 4 width, ceil(H/4), ceil(W/4)]."""
        h, w = image.shape[-2:]
        pad_h, pad_w = (-h) % 4, (-w) % 4  # two stride-2 stages
        x = F.pad(image, (0, pad_w, 0, pad_h), mode="reflect") if pad_h or pad_w else image
        return self.encoder(x)

    def decode(self, features: Tensor, size: Sequence[int] | None = None) -> Tensor:
        """Feature map -> image in [0, 1], cropped to ``size = (H, W)`` (default: 4x the map)."""
        y = 0.5 * (torch.tanh(self.decoder(features)) + 1.0)
        return y if size is None else y[..., :size[0], :size[1]]

    def forward_with_features(self, image: Tensor) -> tuple[Tensor, Tensor]:
        features = self.encode(image)
        return self.decode(features, image.shape[-2:]), features

    def forward(self, image: Tensor) -> Tensor:
        return self.forward_with_features(image)[0]


# ------------------------------------------------------------------------------------------
# Temporal losses
# ------------------------------------------------------------------------------------------


def relative_luminance(image: Tensor) -> Tensor:
    """[..., 3, H, W] RGB -> [..., 1, H, W], Y = 0.2126 R + 0.7152 G + 0.0722 B (linear, so it
    also applies to differences of images).

    >>> relative_luminance(torch.ones(1, 3, 2, 2)).flatten().tolist()
    [1.0, 1.0, 1.0, 1.0]
    """
    w = torch.tensor(LUMINANCE_WEIGHTS, dtype=image.dtype, device=image.device).view(3, 1, 1)
    return (image * w).sum(-3, keepdim=True)


def feature_flow(flow: Tensor, mask: Tensor, size: Sequence[int], max_spread: float = 0.5) -> tuple[Tensor, Tensor]:
    """The flow [B, 2, H, W] and mask [B, 1, H, W] (1 = reliable) of full-size frames, for a
    feature map of ``size = (h, w)``: :func:`vstlib.flow.downscale_flow` per image (vectors
    averaged and rescaled; a small pixel is reliable only when every pixel it covers is, and when
    they do not straddle a motion boundary). Returns (flow [B, 2, h, w], mask [B, 1, h, w]).

    >>> f = torch.zeros(1, 2, 8, 8); f[:, 0] = 4.0
    >>> small, m = feature_flow(f, torch.ones(1, 1, 8, 8), (2, 2))
    >>> small[0, 0].tolist(), m[0, 0].tolist()
    ([[1.0, 1.0], [1.0, 1.0]], [[1.0, 1.0], [1.0, 1.0]])
    """
    from .flow import downscale_flow

    flows, masks = [], []
    for fb, mb in zip(flow.detach().float().cpu().numpy(), mask.detach().float().cpu().numpy()):
        small, reliable = downscale_flow(fb.transpose(1, 2, 0), tuple(size), valid=mb[0] > 0.5, max_spread=max_spread)
        flows.append(small.transpose(2, 0, 1))
        masks.append(reliable[None])
    return (torch.from_numpy(np.stack(flows)).to(flow.device, flow.dtype),
            torch.from_numpy(np.stack(masks)).to(mask.device, mask.dtype))


def feature_temporal_loss(features: Tensor, previous: Tensor, flow: Tensor, mask: Tensor) -> Tensor:
    """``L_temp,f = (1/D) sum M ||F_t - W(F_{t-1})||^2``, D = C h w, averaged over the batch.

    ``features``, ``previous``: F_t and F_{t-1} [B, C, h, w]; ``flow`` [B, 2, h, w] from t to t-1
    and ``mask`` [B, 1, h, w] *at the feature map's size* (:func:`feature_flow`).

    >>> f = torch.rand(1, 4, 5, 6)
    >>> zero, one = torch.zeros(1, 2, 5, 6), torch.ones(1, 1, 5, 6)
    >>> round(float(feature_temporal_loss(f, f, zero, one)), 8), round(float(feature_temporal_loss(f + 0.5, f, zero, one)), 8)
    (0.0, 0.25)
    >>> round(float(feature_temporal_loss(f + 0.5, f, zero, torch.zeros(1, 1, 5, 6))), 8)  # all occluded
    0.0
    """
    from .flow import warp

    diff = features - warp(previous, flow)
    return (mask * diff.pow(2)).mean(dim=(1, 2, 3)).mean()


def output_temporal_loss(output: Tensor, previous_output: Tensor, frame: Tensor, previous_frame: Tensor,
                         flow: Tensor, mask: Tensor, luminance: bool = True) -> Tensor:
    """``L_temp,o = sum_c (1/D) sum M ((O_t - W(O_{t-1}))_c - (I_t - W(I_{t-1}))_Y)^2``, D = H W,
    averaged over the batch; ``luminance=False`` drops the input term (Ruder-style: the output
    must not change along the flow at all).

    Outputs and frames [B, 3, H, W] in [0, 1], ``flow`` [B, 2, H, W] from t to t-1, ``mask``
    [B, 1, H, W]. A global brightening of the input by 0.1 in every channel (luminance change 0.1)
    met by the same change of the output costs nothing with the term, 3 x 0.1^2 without:

    >>> o, i = torch.rand(1, 3, 4, 4) * 0.5, torch.rand(1, 3, 4, 4) * 0.5
    >>> zero, one = torch.zeros(1, 2, 4, 4), torch.ones(1, 1, 4, 4)
    >>> round(float(output_temporal_loss(o + 0.1, o, i + 0.1, i, zero, one)), 8)
    0.0
    >>> round(float(output_temporal_loss(o + 0.1, o, i + 0.1, i, zero, one, luminance=False)), 8)
    0.03
    """
    from .flow import warp

    change = output - warp(previous_output, flow)
    if luminance:
        change = change - relative_luminance(frame - warp(previous_frame, flow))
    return (mask * change.pow(2)).sum(dim=1).mean(dim=(1, 2)).mean()


class FeatureTemporalLoss(nn.Module):
    """:func:`feature_temporal_loss` times ``weight`` (lambda_f), with the flow and mask of the
    full-size frames shrunk to the feature map's size here (:func:`feature_flow`)."""

    def __init__(self, weight: float = 1.0):
        super().__init__()
        self.weight = float(weight)

    def forward(self, features: Tensor, previous: Tensor, flow: Tensor, mask: Tensor) -> Tensor:
        if flow.shape[-2:] != features.shape[-2:]:
            flow, mask = feature_flow(flow, mask, features.shape[-2:])
        return self.weight * feature_temporal_loss(features, previous, flow, mask)


class OutputTemporalLoss(nn.Module):
    """:func:`output_temporal_loss` times ``weight`` (lambda_o)."""

    def __init__(self, weight: float = 1.0, luminance: bool = True):
        super().__init__()
        self.weight, self.luminance = float(weight), bool(luminance)

    def forward(self, output: Tensor, previous_output: Tensor, frame: Tensor, previous_frame: Tensor, flow: Tensor,
                mask: Tensor) -> Tensor:
        return self.weight * output_temporal_loss(output, previous_output, frame, previous_frame, flow, mask,
                                                  self.luminance)


# ------------------------------------------------------------------------------------------
# Model files (the code of vstlib.johnson, with ReCoNet's format and folder)
# ------------------------------------------------------------------------------------------

FORMAT = "vstlib-reconet-1"
MODELS_FOLDER = "models/reconet"  # shipped ReCoNet models: vstlib/models/reconet/NAME.pth
TRAIN_COMMAND = "vst train --arch reconet"


def shipped_models() -> list[str]:
    """Names of the ReCoNet models that come with vstlib (``--method reconet --model NAME``)."""
    from .johnson import shipped_in

    return shipped_in(MODELS_FOLDER)


def SHIPPED_HINT() -> str:  # noqa: N802 - the name vstlib.methods.johnson.Johnson reads
    names = shipped_models()
    if names:
        return f"shipped: {', '.join(names)}; train more with `{TRAIN_COMMAND}`"
    return f"no ReCoNet model is shipped yet: train one with `{TRAIN_COMMAND} --style STYLE -o MODEL.pth`"


def model_path(name_or_path) -> Path:
    """The file of a ReCoNet model given by path or shipped name; one clear line if there is none."""
    from .johnson import find_model

    names = shipped_models()
    missing = (f"give a .pth file, one of the shipped ReCoNet models ({', '.join(names)}), or train one with "
               f"`{TRAIN_COMMAND}`" if names else
               f"give a .pth file; {SHIPPED_HINT()}")
    return find_model(name_or_path, MODELS_FOLDER, missing)


def load_model(name_or_path, device=None) -> ReCoNet:
    """A trained ReCoNet in eval mode (float32) from a model file, a training checkpoint or a
    shipped name, loaded with ``weights_only=True`` (:func:`vstlib.johnson.read_network`)."""
    from .johnson import read_network

    return read_network(model_path(name_or_path), ReCoNet, FORMAT, "ReCoNet", TRAIN_COMMAND, device)


def export_model(model: ReCoNet, path, config=None, info: dict | None = None) -> Path:
    """Write a ReCoNet model file: float16 weights and settings (:func:`vstlib.johnson.export_model`).
    A Johnson network fine-tuned with the temporal losses (``init``) is written as the Johnson
    model it still is (``--method johnson``)."""
    from .johnson import export_model as export

    return export(model, path, config, info, format=_format_of(model))


def _format_of(model) -> str:
    from . import johnson
    from .transformer_net import TransformerNet

    return johnson.FORMAT if isinstance(model, TransformerNet) else FORMAT


def initial_network(init, device=None) -> nn.Module:
    """The network a training starts from: ``init`` is a model file or training checkpoint, or a
    shipped name, of a ReCoNet or of a Johnson network (:class:`~vstlib.transformer_net.TransformerNet`,
    which has ``forward_with_features`` too). Loaded with ``weights_only=True``; float32."""
    from . import johnson
    from .errors import VstError
    from .transformer_net import TransformerNet

    path = Path(init)
    if not path.is_file():
        if str(init) in shipped_models():
            path = model_path(init)
        elif str(init) in johnson.shipped_models():
            path = johnson.model_path(init)
        else:
            raise VstError(f"--init '{init}' is neither a model file nor a shipped model (ReCoNet: "
                           f"{', '.join(shipped_models()) or 'none'}; Johnson: {', '.join(johnson.shipped_models())})")
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise VstError(f"cannot read --init model '{path}': {type(err).__name__}") from None
    if isinstance(blob, dict) and blob.get("format") == johnson.FORMAT:
        return johnson.read_network(path, TransformerNet, device=device)
    return johnson.read_network(path, ReCoNet, FORMAT, "ReCoNet or Johnson", TRAIN_COMMAND, device)


# ------------------------------------------------------------------------------------------
# Training
# ------------------------------------------------------------------------------------------

LOSS_NAMES = ("content", "style", "tv", "temporal_f", "temporal_o", "pixel")


def make_step(config, style: Tensor, device):
    """The loss terms of one training batch (for :func:`vstlib.training.train_network`).

    A :class:`~vstlib.training.PairBatch` runs both frames through the network in one batch
    (instance normalization is per image, so this is exact): the perceptual loss is the mean of
    the two frames' (the paper sums them: its temporal weights are relatively half as large as
    these), plus ``lambda_f L_temp,f + lambda_o L_temp,o`` where those weights are not 0. A
    plain tensor of frames (:class:`~vstlib.johnson_train.TrainingImages`) gets the perceptual
    loss only. The first ``warmup_steps`` learn to reproduce the input (pixel loss, no VGG).
    """
    from .johnson_train import perceptual_objective
    from .training import PairBatch

    objective = perceptual_objective(config, style, device)
    content_loss = objective.losses["content"]
    feature_loss = FeatureTemporalLoss(config.feature_temporal_weight)
    output_loss = OutputTemporalLoss(config.output_temporal_weight, config.luminance)

    def step_losses(model, batch, step):
        pairs = isinstance(batch, PairBatch)
        batch = batch.to(device)
        x = torch.cat([batch.previous, batch.current]) if pairs else batch
        out, features = model.forward_with_features(x)
        if step < config.warmup_steps:
            return {"pixel": F.mse_loss(out, x)}
        with torch.no_grad():
            content_loss.set_target(objective.features(x, content_loss.layers))
        parts = objective.parts(out)
        if pairs:
            (out_prev, out_cur), (f_prev, f_cur) = out.chunk(2), features.chunk(2)
            if feature_loss.weight:
                parts["temporal_f"] = feature_loss(f_cur, f_prev, batch.flow, batch.mask)
            if output_loss.weight:
                parts["temporal_o"] = output_loss(out_cur, out_prev, batch.current, batch.previous, batch.flow,
                                                  batch.mask)
        return parts

    return step_losses


def train(style: Tensor, config, data, folder, device=None, progress: bool = True, max_seconds: float | None = None,
          on_step=None):
    """Train (or resume training) a :class:`ReCoNet` for ``style`` [1, 3, h, w] in [0, 1] with a
    :class:`~vstlib.methods.reconet.ReconetTrainConfig`, on ``data``: a
    :class:`~vstlib.training.FramePairs` (or, without temporal losses, any source with a
    ``batch(rng, size, crop)`` method, e.g. :class:`~vstlib.johnson_train.TrainingImages`).
    Checkpoints, resume and loss curves as :func:`vstlib.training.train_network`; returns its
    :class:`~vstlib.training.TrainResult`. With ``config.init`` training starts from that model's
    weights (:func:`initial_network`; a Johnson network stays one, checkpoints in Johnson's format)."""
    from .errors import VstError
    from .training import PairBatch, train_network
    from .utils import pick_device

    if config.temporal and not isinstance(data.batch(np.random.default_rng(0), 1, config.crop), PairBatch):
        raise VstError("the temporal losses need frame pairs with flow (FramePairs); set both temporal weights "
                       "to 0 to train on single images")
    dev = pick_device(device)
    torch.manual_seed(config.seed)
    init = getattr(config, "init", None)
    model = ReCoNet(config.width, config.norm).to(dev) if init is None else initial_network(init, dev)
    return train_network(model, config, lambda: make_step(config, style, dev),
                         lambda rng: data.batch(rng, config.batch, config.crop), folder, _format_of(model),
                         LOSS_NAMES, dev, progress, max_seconds, on_step, desc="train reconet")
