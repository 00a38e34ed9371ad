"""Johnson et al. (2016): a trained feed-forward network per style, one pass per frame.

This module reads and writes model files and runs networks; training is
:mod:`vstlib.johnson_train` (its names are also reachable from here, e.g. ``johnson.train``).

* **Export**: :func:`export_model` writes the weights in float16 with the network's and the
  training's settings; :func:`load_model` reads such a file (or a checkpoint), by path or by
  the name of a model shipped in ``vstlib/models/``, always with ``weights_only=True``.
* **Inference**: :func:`prepare_model` (fold the upsampling, memory layout, compile),
  :func:`stylize_batch` (inference mode, AMP on CUDA), :func:`stylize_image`; the video method is
  :mod:`vstlib.methods.johnson`.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import torch
from torch import Tensor

from .errors import VstError
from .methods.johnson import NETWORK_STYLE_WEIGHTS, JohnsonConfig, JohnsonInference, TrainConfig  # noqa: F401
from .transformer_net import TransformerNet, fold_upsampling

FORMAT = "vstlib-johnson-1"


def _atomic_save(obj, path: Path) -> None:
    from .io import atomic_path

    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


# ------------------------------------------------------------------------------------------
# Model files
# ------------------------------------------------------------------------------------------


def export_model(model: TransformerNet, path, config: TrainConfig | None = None, info: dict | None = None,
                 format: str = FORMAT) -> Path:
    """Write the weights in float16 (half the size; inference runs in float32 or AMP anyway),
    with the network's constructor arguments, the training settings and ``info`` (free-form).
    ``format`` names the network kind (another network's module passes its own, e.g. ReCoNet)."""
    path = Path(path)
    state = {k: v.detach().to("cpu", torch.float16 if v.is_floating_point() else v.dtype)
             for k, v in model.state_dict().items()}
    _atomic_save({"format": format, "net_config": model.config(), "state_dict": state,
                  "train_config": None if config is None else config.to_dict(),
                  "info": json.dumps(info or {})}, path)
    return path


def shipped_in(folder: str) -> list[str]:
    """Names of the .pth models in ``vstlib/<folder>`` (none if the folder does not exist)."""
    root = resources.files("vstlib").joinpath(*folder.split("/"))
    if not root.is_dir():
        return []
    return sorted(p.name[:-4] for p in root.iterdir() if p.name.endswith(".pth"))


def shipped_models() -> list[str]:
    """Names of the models that come with vstlib (``vst stylize --method johnson --model NAME``)."""
    return shipped_in("models")


def SHIPPED_HINT() -> str:  # noqa: N802 - read by vstlib.methods.johnson.Johnson for any network module
    return f"shipped: {', '.join(shipped_models())}"


def find_model(name_or_path, folder: str = "models", missing: str | None = None) -> Path:
    """The file of a model given by path, or by the name of a model shipped in ``vstlib/<folder>``.
    ``missing``: the end of the error line when it is neither (default: the shipped names)."""
    path = Path(name_or_path)
    if path.is_file():
        return path
    if path.exists():
        raise VstError(f"model '{path}' is not a file; give a .pth model or checkpoint")
    names = shipped_in(folder)
    if str(name_or_path) in names:
        return Path(str(resources.files("vstlib").joinpath(*folder.split("/"), f"{name_or_path}.pth")))
    if missing is None:
        missing = f"give a .pth file or one of the shipped models: {', '.join(names)}"
    raise VstError(f"no model '{name_or_path}': {missing}")


def model_path(name_or_path) -> Path:
    return find_model(name_or_path)


def read_network(path: Path, build, format: str = FORMAT, what: str = "Johnson", train: str = "vst train",
                 device=None):
    """A network saved by :func:`export_model` (or a training checkpoint) at ``path``: ``build(**net_config)``
    with the stored weights, float32, eval mode, on ``device``. Loaded with ``weights_only=True``;
    a file of another ``format`` is refused in one line naming ``what`` and the ``train`` command."""
    from .utils import pick_device

    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # not a torch file, truncated, or holding more than tensors
        raise VstError(f"cannot read model '{path}': {type(err).__name__}; is it a vstlib {what} model?") from None
    if not isinstance(blob, dict) or blob.get("format") != format:
        raise VstError(f"'{path}' is not a vstlib {what} model (train one with `{train}`)")
    model = build(**blob["net_config"])
    state = blob.get("state_dict", blob.get("model"))
    model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()})
    return model.eval().to(pick_device(device))


def load_model(name_or_path, device=None) -> TransformerNet:
    """A trained TransformerNet in eval mode (float32) from a model file, a training checkpoint,
    or the name of a shipped model. Loaded with ``weights_only=True``."""
    return read_network(model_path(name_or_path), TransformerNet, device=device)


def model_train_config(name_or_path) -> TrainConfig | None:
    """The :class:`TrainConfig` a model was trained with (None if the file does not say)."""
    from dataclasses import fields

    stored = model_info(name_or_path)["train_config"]
    if stored is None:
        return None
    known = {f.name for f in fields(TrainConfig)}  # a fine-tuned model may store more (ReCoNet's temporal losses)
    return TrainConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in stored.items() if k in known})


def model_info(name_or_path) -> dict:
    """The training settings and free-form info stored with a model."""
    blob = torch.load(model_path(name_or_path), map_location="cpu", weights_only=True)
    return {"net_config": blob["net_config"], "train_config": blob.get("train_config"),
            "info": json.loads(blob.get("info") or "{}")}


def prepare_model(model: TransformerNet, inference: JohnsonConfig, device) -> TransformerNet:
    """A copy for inference: on the device, upsampling folded, memory layout set, compiled if asked."""
    model = copy.deepcopy(model).to(device).eval()
    if inference.fold_upsampling:
        model = fold_upsampling(model)
    if inference.resolved_channels_last(device):
        model = model.to(memory_format=torch.channels_last)
    if inference.compile:
        model = torch.compile(model)
    return model


def stylize_batch(model: TransformerNet, frames: Tensor, amp: str | None = None) -> Tensor:
    """[B, 3, H, W] in [0, 1] -> stylized, under inference_mode; ``amp`` "bf16"/"fp16" on CUDA."""
    with torch.inference_mode():
        if amp and frames.device.type == "cuda":
            dtype = torch.bfloat16 if amp == "bf16" else torch.float16
            with torch.autocast("cuda", dtype=dtype):
                return model(frames).float()
        return model(frames)


def stylize_image(content: Tensor, model: TransformerNet | str | Path, device=None) -> Tensor:
    """Stylize one image [1, 3, H, W] with a trained network (or a model name/path)."""
    if not isinstance(model, TransformerNet):
        model = load_model(model, device)
    dev = next(model.parameters()).device
    return stylize_batch(model, content.to(dev)).clamp(0, 1)


@dataclass
class OutputChange:
    """How much a network's output moved when its input did (:func:`output_change`)."""

    input_rms: float  # RMS of the input difference, [0, 1] units
    output_rms: float  # RMS of the output difference, [0, 1] units
    gain: float  # output_rms / input_rms: > 1 amplifies the change, < 1 damps it
    map: Tensor  # [H, W] per-pixel output difference (RMS over the 3 channels), [0, 1] units
    before: Tensor  # the output for the image, [1, 3, H, W] in [0, 1]
    after: Tensor  # the output for the changed image


def output_change(model: TransformerNet, image: Tensor, changed: Tensor) -> OutputChange:
    """Run ``model`` on ``image`` and on ``changed`` (both [1, 3, H, W] in [0, 1]) and compare.

    The gain is a finite-difference estimate of how strongly the network passes this change on
    (noise, dimming, the next frame): continuity alone says nothing about its size.

    >>> net = TransformerNet("instance", 8).eval()
    >>> x = torch.rand(1, 3, 32, 32)
    >>> output_change(net, x, 0.5 * x + 0.2).gain < 1e-2    # instance norm: contrast and brightness removed
    True
    """
    a, b = stylize_image(image, model), stylize_image(changed.to(image.device), model)
    d_in, d_out = (changed.to(image.device) - image).float(), (b - a).float()
    input_rms, output_rms = float(d_in.pow(2).mean().sqrt()), float(d_out.pow(2).mean().sqrt())
    return OutputChange(input_rms, output_rms, output_rms / max(input_rms, 1e-12),
                        d_out[0].pow(2).mean(0).sqrt().cpu(), a, b)


def loss_settings(config) -> dict[str, str]:
    """The perceptual loss a configuration defines, as strings for a table: a
    :class:`~vstlib.gatys.GatysConfig` (optimized per image) or a :class:`TrainConfig` (a
    network's training loss). Layer weights ``w_l`` are those the loss modules use.

    >>> from vstlib.gatys import GatysConfig
    >>> loss_settings(TrainConfig())["content layers"], loss_settings(GatysConfig())["content layers"]
    ('relu2_2', 'relu4_2')
    """
    from .losses import make_style_loss

    style = make_style_loss(config.style_loss, config.style_layers, config.effective_style_weight,
                            getattr(config, "style_layer_weights", None))  # TrainConfig: the loss's defaults
    return {"content layers": ", ".join(config.content_layers), "alpha": f"{config.content_weight:g}",
            "style layers": ", ".join(config.style_layers), "style loss": config.style_loss,
            "w_l": ", ".join(f"{w:.3g}" for w in style.layer_weights), "beta": f"{config.effective_style_weight:g}",
            "lambda_tv": f"{config.tv_weight:g}",
            # training builds its PerceptualLoss with the default (max) pooling
            "VGG19": f"{config.weights} weights, {getattr(config, 'pooling', 'max')} pooling"}


def gatys_config_like(config: TrainConfig, iters: int = 300):
    """A Gatys configuration with a network's loss: layers, weights, style loss and style scale."""
    from .gatys import GatysConfig

    return GatysConfig(content_layers=config.content_layers, style_layers=config.style_layers,
                       content_weight=config.content_weight, style_weight=config.effective_style_weight,
                       style_loss=config.style_loss, style_scale=config.style_scale, weights=config.weights, iters=iters)


def gram_style_loss(images: Sequence[Tensor], style: Tensor, config: TrainConfig, device=None) -> list[float]:
    """The training style term of each image (at the training weights), with the style resized
    as in training (``style_scale`` x each image's side, as Gatys does with the same setting): the
    quality measure against a Gatys result (``gatys_config_like``)."""
    from .gatys import GatysStylizer

    judge = GatysStylizer(style, gatys_config_like(config), device=device)
    values = []
    for image in images:
        judge.set_content(image.to(judge.device))
        values.append(judge.loss_parts(image)["style"])
    return values


_TRAINING = {"TrainingImages", "default_training_sources", "holdout_frame", "train", "TrainResult",
             "perceptual_objective", "save_checkpoint", "plot_training_losses", "DEFAULT_CLIPS", "HOLDOUT_SECONDS",
             "HOLDOUT_FRAME", "CHECKPOINT", "IMAGE_SUFFIXES", "VIDEO_SUFFIXES"}


def __getattr__(name: str):
    """Training names from :mod:`vstlib.johnson_train`, imported on first use."""
    if name in _TRAINING:
        from . import johnson_train

        return getattr(johnson_train, name)
    raise AttributeError(f"module 'vstlib.johnson' has no attribute '{name}'")
