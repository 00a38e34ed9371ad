"""The report's layer-weight figure (``make_figures.py --only layer_weights``): vstlib's default
style layer weights ``w_l = 1/C_l^2`` against Gatys et al.'s uniform weights.

    layer_weights.png   content | result with w_l = 1/C_l^2 (vstlib) | result with Gatys et al.'s
                        w_l = 1/20 (vstlib.losses.gatys_layer_weights); right: each style layer's
                        remaining Gram error mean((G_l(x) - G_l(a))^2), relative to the content
                        image's, for both results (log scale)

Both runs use the course's photo, painting and size (vstlib.course) and GatysConfig's defaults
otherwise. So that the comparison is at equal style strength, the paper-weight run's beta is
chosen to give the same weighted style loss at the content image (the starting point) as the
default run: ``beta_paper = beta * sum_l m_l / C_l^2 / sum_l m_l / 20``, with ``m_l`` the
per-layer Gram error of the content image. Full: 256 px, 300 iterations each (a few minutes on a
2-core CPU); smoke: 64 px, 10 iterations (seconds).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

LAYER_WEIGHT_FILES = ("layer_weights.png",)


@dataclass(frozen=True)
class LayerWeightSettings:
    smoke: bool
    side: int = 256  # vstlib.course.frame_size(False)
    iters: int = 300  # GatysConfig().iters
    seed: int = 0


LW_FULL = LayerWeightSettings(smoke=False)
LW_SMOKE = LayerWeightSettings(smoke=True, side=64, iters=10)


def run_layer_weights(s: LayerWeightSettings, device) -> dict:
    """Both optimizations and the per-layer Gram errors of the content image and both results."""
    import torch
    from vstlib import course
    from vstlib.data import content_photo, fetch
    from vstlib.gatys import GatysConfig, GatysStylizer, load_style
    from vstlib.io import resize_frame, to_tensor
    from vstlib.losses import gatys_layer_weights
    from vstlib.vgg import channels as vgg_channels

    content = to_tensor(resize_frame(content_photo(course.PHOTO), max_side=s.side))
    style = load_style(fetch(f"style/{course.STYLE}.jpg"))
    base = GatysConfig(iters=s.iters, seed=s.seed)
    layers = base.style_layers
    torch.manual_seed(s.seed)
    default = GatysStylizer(style, base, device=device)
    default.set_content(content.to(default.device))
    start = default.style_layer_losses(content)  # m_l at the content image
    w_default = [1.0 / vgg_channels(layer) ** 2 for layer in layers]
    w_paper = list(gatys_layer_weights(layers))
    beta = base.effective_style_weight
    beta_paper = beta * sum(w * start[k] for w, k in zip(w_default, layers)) / sum(
        w * start[k] for w, k in zip(w_paper, layers))
    paper_cfg = base.replace(style_layer_weights=tuple(w_paper), style_weight=beta_paper)
    results = {}
    for name, stylizer in (("default", default), ("paper", GatysStylizer(style, paper_cfg, device=device))):
        torch.manual_seed(s.seed)
        results[name] = stylizer(content.to(stylizer.device)).image.cpu()
    errors = {name: default.style_layer_losses(img) for name, img in results.items()}  # same targets
    return {"content": content, "results": results, "start": start, "errors": errors, "layers": layers,
            "beta": beta, "beta_paper": beta_paper, "hw": tuple(content.shape[-2:])}


def figure_layer_weights(d: dict, s: LayerWeightSettings):
    import matplotlib.pyplot as plt
    import numpy as np
    from vstlib.plotting import as_image

    h, w = d["hw"]
    ratio = w / h
    fig = plt.figure(figsize=(3 * 2.4 * ratio + 3.6, 2.9))
    grid = fig.add_gridspec(1, 4, width_ratios=[ratio, ratio, ratio, 1.5 * ratio], wspace=0.08)
    titles = ("content\n", "vstlib\n$w_l = 1/C_l^2$, " + f"$\\beta$ = {d['beta']:g}",
              "Gatys et al.\n$w_l = 1/20$, " + f"$\\beta$ = {d['beta_paper']:.3g}")
    for i, (img, title) in enumerate(zip((d["content"], d["results"]["default"], d["results"]["paper"]), titles)):
        ax = fig.add_subplot(grid[0, i])
        im = as_image(img)
        ax.imshow(im, interpolation="nearest" if im.shape[0] < 128 else "antialiased")
        ax.set_title(title, fontsize=11)
        ax.axis("off")
    ax = fig.add_subplot(grid[0, 3])
    layers = d["layers"]
    x = np.arange(len(layers))
    for offset, (name, label) in zip((-0.2, 0.2), (("default", "$1/C_l^2$"), ("paper", "$1/20$"))):
        rel = [d["errors"][name][k] / d["start"][k] for k in layers]
        ax.bar(x + offset, rel, width=0.4, label=label)
    ax.set_yscale("log")
    ax.set_xticks(x, list(layers), rotation=45, fontsize=10)
    ax.yaxis.tick_right()  # keep the labels clear of the images on the left
    ax.yaxis.set_label_position("right")
    ax.set_ylabel("Gram error left\n(result / content image)", fontsize=11)
    ax.tick_params(axis="y", which="both", labelsize=10)
    ax.legend(fontsize=10, title="$w_l$", title_fontsize=10)
    ax.set_title(f"{s.iters} iterations, {w}x{h} px" + (" (smoke)" if s.smoke else ""), fontsize=12)
    return fig


def make_layer_weights(smoke: bool, device, out: Path) -> list[Path]:
    """Write ``out/layer_weights.png`` (atomically)."""
    import matplotlib.pyplot as plt

    s = LW_SMOKE if smoke else LW_FULL
    d = run_layer_weights(s, device)
    fig = figure_layer_weights(d, s)
    path = Path(out) / LAYER_WEIGHT_FILES[0]
    tmp = path.with_name(".tmp_" + path.name)
    fig.savefig(tmp, dpi=200, bbox_inches="tight", format="png")
    plt.close(fig)
    tmp.replace(path)
    return [path]
