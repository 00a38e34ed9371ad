"""``reconet``: a feed-forward network trained to be temporally coherent (Gao et al. 2018), one pass per frame.

At inference ReCoNet is run exactly like Johnson's network (frames in batches, at the input's
resolution): this method is :class:`~vstlib.methods.johnson.Johnson` with ReCoNet's model files
(:mod:`vstlib.reconet`). Its training settings (:class:`ReconetTrainConfig`, ``vst train --arch
reconet``) are Johnson's plus the two temporal losses, with the paper's loss layers mapped to VGG19.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..choices import FLOW_BACKENDS, LAYER_NAMES
from ..config import option
from .base import register
from .johnson import Johnson, JohnsonConfig, TrainConfig


@dataclass(frozen=True)
class ReconetConfig(JohnsonConfig):
    """How to run a trained ReCoNet over frames (Johnson's options)."""

    model: str | None = option(None, "a .pth file from `vst train --arch reconet` (or a shipped ReCoNet model)",
                               kind=str, metavar="NAME|PATH", default_text="--style")


# Defaults of the temporal weights: the shipped model's recipe (vstlib/models/reconet/MODEL_CARD.md),
# set from the measured loss magnitudes (content ~6e4, style ~5e4, L_temp,f ~0.12, L_temp,o ~0.004 on a
# stylized network) so that the temporal terms are some 20 % of the perceptual loss; 4x larger halved
# E_warp's gap but doubled the style loss (benchmarks/bench_reconet.py). Not the paper's values: its
# losses are normalized differently (0..255 images, sums).
FEATURE_TEMPORAL_WEIGHT = 5e4
OUTPUT_TEMPORAL_WEIGHT = 5e6


@dataclass(frozen=True)
class ReconetTrainConfig(TrainConfig):
    """Everything that defines a trained ReCoNet: Johnson's training settings with the paper's
    loss layers (VGG16's relu3_3 / relu1_2, relu2_2, relu3_3, relu4_3, mapped to the VGG19 layers of
    the same names: :data:`vstlib.reconet.VGG16_TO_VGG19`) and the temporal losses."""

    content_layers: tuple[str, ...] = option(("relu3_3",), "VGG19 content layers (ReCoNet: VGG16's relu3_3)",
                                             choices=LAYER_NAMES, metavar="L,..")
    style_layers: tuple[str, ...] = option(("relu1_2", "relu2_2", "relu3_3", "relu4_3"),
                                           "VGG19 style layers (ReCoNet: VGG16's relu1_2,relu2_2,relu3_3,relu4_3)",
                                           choices=LAYER_NAMES, metavar="L,..")
    width: int = option(48, "channels of the first layer: 48 = the paper's 48/96/192, 32 = Johnson's 32/64/128",
                        low=4, high=256, metavar="C")
    feature_temporal_weight: float = option(FEATURE_TEMPORAL_WEIGHT, "lambda_f: the feature-map temporal loss "
                                            "(0: off)", low=0, metavar="W")
    output_temporal_weight: float = option(OUTPUT_TEMPORAL_WEIGHT, "lambda_o: the output temporal loss (0: off)",
                                           low=0, metavar="W")
    luminance: bool = option(True, "the output temporal loss lets each channel change with the input's luminance")
    flow: str = option("deepflow", "optical flow of the training pairs (computed once, cached)",
                       choices=FLOW_BACKENDS)
    init: str | None = option(None, "start from the weights of a model file or checkpoint (fine-tuning): a ReCoNet, "
                              "or a Johnson network (kept as it is: the result is a Johnson model file, "
                              "--method johnson); the network's size then comes from it", kind=str,
                              metavar="MODEL")

    @property
    def temporal(self) -> bool:
        """Whether training needs frame pairs with flow (a temporal weight is not 0)."""
        return self.feature_temporal_weight > 0 or self.output_temporal_weight > 0


@register
class Reconet(Johnson):
    name = "reconet"
    summary = "ReCoNet: a feed-forward network trained for temporal coherence (fast; vst train --arch reconet)"
    Config = ReconetConfig
    TrainConfig = ReconetTrainConfig

    def train_model(self, style, config, data, folder, exclude=(), device=None, progress=True):
        """``vst train --arch reconet``: frame pairs with flow from the videos in ``data`` (None: the
        sample clips and the Sintel frames with ground-truth flow); returns (TrainResult, data description)."""
        from ..reconet import train
        from ..training import FramePairs

        pairs = FramePairs(data, flow=config.flow, exclude=exclude, progress=progress) if data else \
            FramePairs(flow=config.flow, progress=progress)
        return train(style, config, pairs, folder, device=device, progress=progress), pairs.described

    @staticmethod
    def _model_files():
        from .. import reconet

        return reconet
