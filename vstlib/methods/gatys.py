"""``gatys``: Gatys et al. (2016) on every frame independently (the flickering baseline).

Settings here; the optimization itself is :class:`vstlib.gatys.GatysStylizer` over
:func:`vstlib.engine.optimize_image`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

from ..choices import (AUTOCAST_MODES, DEFAULT_STYLE_WEIGHTS, LAYER_NAMES, OPTIMIZERS, POOLINGS, STYLE_LOSSES,
                       VGG_WEIGHTS)
from ..config import option, validate
from .base import Method, Session, register


def _coarse_to_fine(scales) -> str | None:
    if list(scales) != sorted(scales) or scales[-1] != 1.0 or not all(0 < s <= 1 for s in scales):
        return f"scales must increase and end at 1, e.g. 0.5,1; got {','.join(f'{s:g}' for s in scales)}"
    return None


@dataclass(frozen=True)
class GatysConfig:
    """Everything that defines a Gatys result (and keys the video resume folder)."""

    content_layers: tuple[str, ...] = option(("relu4_2",), "VGG19 layers of the content loss", choices=LAYER_NAMES,
                                             metavar="L,..")
    style_layers: tuple[str, ...] = option(("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"),
                                           "VGG19 layers of the style loss", choices=LAYER_NAMES, metavar="L,..")
    style_layer_weights: tuple[float, ...] | None = option(
        None, "one weight per style layer", kind=tuple, item=float, low=0, metavar="W,..",
        default_text="the style loss's own: Gram 1/C^2, W2 1/C")
    content_weight: float = option(1.0, "content loss weight", low=0, metavar="W")
    style_weight: float | None = option(None, "style loss weight", kind=float, low=0, metavar="W",
                                        default_text=f"gram {DEFAULT_STYLE_WEIGHTS['gram']:g}, wasserstein "
                                                     f"{DEFAULT_STYLE_WEIGHTS['wasserstein']:g}: about the same "
                                                     f"strength")
    style_loss: str = option("gram", "gram: Gram matrices (Gatys et al.); wasserstein: distance between "
                                     "Gaussian fits of the features (W2: means and covariances)", choices=STYLE_LOSSES)
    tv_weight: float = option(0.0, "total variation weight", low=0, metavar="W")
    optimizer: str = option("lbfgs", "optimizer", choices=OPTIMIZERS)
    iters: int = option(300, "iterations per image/frame (at full size)", low=1, high=100000)
    coarse_iters: int | None = option(None, "iterations at each coarser scale", kind=int, low=0, high=100000,
                                      default_text="--iters")
    lr: float | None = option(None, "step size (L-BFGS: multiplier; Adam: gray levels per step)", kind=float, low=0,
                              low_open=True, metavar="LR", default_text="L-BFGS 1, Adam 5")
    first_step: float | None = option(128.0, "L-BFGS first step, in gray levels of the steepest pixel (None: "
                                             "torch's own, as pastiche)", kind=float, low=0, low_open=True,
                                      metavar="G", cli=False, nullable=True)
    tol: float = option(0.0, "stop when the relative loss change stays below this", low=0, metavar="T")
    init: str = option("content", "starting image", choices=("content", "noise"))
    style_scale: float = option(1.0, "style image pixel count relative to the frame's, as a side ratio", low=0.05,
                                high=8, metavar="S")
    scales: tuple[float, ...] = option((1.0,), "coarse-to-fine scales, e.g. 0.5,1", check=_coarse_to_fine,
                                       metavar="S,..")
    pooling: str = option("max", "VGG19 pooling", choices=POOLINGS)
    weights: str = option("pastiche", "VGG19 weights: pastiche (offline) or torchvision (downloads once)",
                          choices=VGG_WEIGHTS)
    seed: int = option(0, "random seed", low=0)
    project: bool = option(True, "keep the pixels in range after every step (projected L-BFGS); "
                                 "--no-project clamps only the result, as pastiche does")
    autocast: str = option("none", "run VGG19 in bfloat16 (faster on recent CPUs and GPUs)", choices=AUTOCAST_MODES)

    def __post_init__(self):
        validate(self)

    @property
    def effective_style_weight(self) -> float:
        """``style_weight``, or the chosen style loss's default when it is None."""
        from ..losses import default_style_weight

        return self.style_weight if self.style_weight is not None else default_style_weight(self.style_loss)

    @property
    def total_iters(self) -> int:
        coarse = self.coarse_iters if self.coarse_iters is not None else self.iters
        return self.iters + (len(self.scales) - 1) * coarse

    def replace(self, **changes) -> GatysConfig:
        return replace(self, **changes)

    def to_dict(self) -> dict:
        return asdict(self)


class GatysFrames(Session):
    """One optimization per frame; the style targets (or their mix) are computed once per size."""

    def __init__(self, styles, config: GatysConfig, device):
        from ..gatys import GatysStylizer

        super().__init__()
        self.stylizer = GatysStylizer(styles[0], config, device=device, styles=styles)
        self.progress = None  # a tqdm bar advanced once per iteration (single images)

    def stylize(self, items):
        (item,) = items
        self.stylizer.set_style_mix(item.mix)
        result = self.stylizer(item.content, progress=self.progress)
        self.stats.seconds_per_frame.append(result.times[-1] if result.times else 0.0)
        self.stats.final_losses.append(result.losses[-1] if result.losses else float("nan"))
        self.stats.iterations.append(result.iterations)
        return result.image.cpu()


@register
class Gatys(Method):
    name = "gatys"
    summary = "Gatys et al.: optimize every frame on its own (the flickering baseline)"
    Config = GatysConfig

    def prepare(self, config, styles, device, workdir=None):
        return GatysFrames(styles, config, device)
