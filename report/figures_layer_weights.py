"""The report's layer-weight figure (``make_figures.py --only layer_weights``): vstlib's default
style layer weights ``w_l = 1/C_l^2`` against Gatys et al.'s uniform weights.

    layer_weights.png   content | result with w_l = 1/C_l^2 (vstlib) | result with Gatys et al.'s
                        w_l = 1/20 (vstlib.losses.gatys_layer_weights); right: each style layer's
                        remaining Gram error mean((G_l(x) - G_l(a))^2), relative to the content
                        image's, for both results (log scale)
    layer_weights_numbers.tex
                        the \\Lw... macros the report quotes about this run: relu4_1's share of the
                        starting weighted style loss under each weighting, the ratios of the Gram
                        error left (Gatys et al.'s weights / vstlib's) at relu1_1-relu3_1 and at
                        relu4_1-relu5_1, the spread of the per-layer Gram errors, and the
                        colourfulness of the content image and of both results

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

LAYER_WEIGHT_FILES = ("layer_weights.png", "layer_weights_numbers.tex")
SHALLOW = ("relu1_1", "relu2_1", "relu3_1")  # the layers vstlib's 1/C_l^2 weighs more than the paper
DEEP = ("relu4_1", "relu5_1")  # the same weight (relu4_1) or less (relu5_1)


@dataclass(frozen=True)
class LayerWeightSettings:
    smoke: bool
    side: int = 256  # vstlib.course.frame_size(False)
    iters: int = 200  # cut from GatysConfig().iters (300) so make figures fits 90 min on a CPU
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
            "w_default": w_default, "w_paper": w_paper,
            "beta": beta, "beta_paper": beta_paper, "hw": tuple(content.shape[-2:])}


def colourfulness(image) -> float:
    """Hasler and Suesstrunk's (2003) colourfulness of an RGB image [1, 3, H, W] or [3, H, W] in [0, 1]:
    with the opponent channels rg = R - G and yb = (R + G) / 2 - B on the 0-255 scale,
    sqrt(std(rg)^2 + std(yb)^2) + 0.3 sqrt(mean(rg)^2 + mean(yb)^2). 0 for a grey image.

    >>> import torch
    >>> colourfulness(torch.full((3, 4, 4), 0.5))
    0.0
    >>> round(colourfulness(torch.tensor([1.0, 0.0, 0.0]).view(3, 1, 1).expand(3, 4, 4)), 1)  # pure red
    85.5
    """
    import torch

    img = image.detach().double()
    rgb = 255.0 * (img if img.dim() == 3 else img[0]).reshape(3, -1)
    rg = rgb[0] - rgb[1]
    yb = 0.5 * (rgb[0] + rgb[1]) - rgb[2]
    spread = torch.sqrt(rg.var(unbiased=False) + yb.var(unbiased=False))
    centre = torch.sqrt(rg.mean() ** 2 + yb.mean() ** 2)
    return float(spread + 0.3 * centre)


def layer_weight_numbers(d: dict, s: LayerWeightSettings) -> dict[str, float]:
    """The values the report's text quotes about this run (plain floats; see numbers_tex)."""
    layers, start, errors = d["layers"], d["start"], d["errors"]

    def share(weights) -> float:  # relu4_1's share of the starting weighted style loss
        total = sum(w * start[k] for w, k in zip(weights, layers))
        return sum(w * start[k] for w, k in zip(weights, layers) if k == "relu4_1") / total

    left = {k: errors["paper"][k] / max(errors["default"][k], 1e-30) for k in layers}  # paper / vstlib
    shallow = [left[k] for k in SHALLOW if k in left]
    deep = [left[k] for k in DEEP if k in left]
    return {
        "share_default": share(d["w_default"]), "share_paper": share(d["w_paper"]),
        "shallow_min": min(shallow), "shallow_max": max(shallow), "deep_min": min(deep), "deep_max": max(deep),
        "spread": max(start.values()) / max(min(start.values()), 1e-30),
        "colour_content": colourfulness(d["content"]), "colour_default": colourfulness(d["results"]["default"]),
        "colour_paper": colourfulness(d["results"]["paper"]),
    }


def numbers_tex(d: dict, s: LayerWeightSettings) -> str:
    """layer_weights_numbers.tex: one \\newcommand per value the report quotes."""
    import make_figures as mf  # the helpers; make_figures puts this folder on sys.path

    v = layer_weight_numbers(d, s)
    h, w = d["hw"]
    macros = {
        "LwSize": f"{w}$\\times${h}",
        "LwIters": str(s.iters),
        "LwShareDefault": mf.num(100 * v["share_default"], 2) + r"\%",
        "LwSharePaper": mf.num(100 * v["share_paper"], 2) + r"\%",
        "LwShallowMin": mf.num(v["shallow_min"], 2),
        "LwShallowMax": mf.num(v["shallow_max"], 2),
        "LwDeepMin": mf.num(v["deep_min"], 2),
        "LwDeepMax": mf.num(v["deep_max"], 2),
        "LwSpread": mf.sci(v["spread"], 2),
        "LwColourContent": mf.num(v["colour_content"]),
        "LwColourDefault": mf.num(v["colour_default"]),
        "LwColourPaper": mf.num(v["colour_paper"]),
        "LwSmokeNote": r" \emph{(smoke settings: these numbers are not meaningful)}" if s.smoke else "",
    }
    return mf.macros_tex(macros)


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
    """Write ``out/layer_weights.png`` and ``out/layer_weights_numbers.tex`` (atomically)."""
    import make_figures as mf
    import matplotlib.pyplot as plt

    s = LW_SMOKE if smoke else LW_FULL
    d = run_layer_weights(s, device)
    fig = figure_layer_weights(d, s)
    path = Path(out) / LAYER_WEIGHT_FILES[0]
    tmp = path.with_name(".tmp_" + path.name)
    fig.savefig(tmp, dpi=200, bbox_inches="tight", format="png")
    plt.close(fig)
    tmp.replace(path)
    numbers = Path(out) / LAYER_WEIGHT_FILES[1]
    mf.write_text(numbers, numbers_tex(d, s))
    v = layer_weight_numbers(d, s)
    mf.log(f"      relu4_1 share of the starting style loss: {v['share_default']:.1%} (1/C_l^2), "
           f"{v['share_paper']:.1%} (1/20); Gram error left, paper / vstlib: relu1_1-relu3_1 "
           f"{v['shallow_min']:.2f}-{v['shallow_max']:.2f}, relu4_1-relu5_1 {v['deep_min']:.2f}-{v['deep_max']:.2f}; "
           f"colourfulness content {v['colour_content']:.1f}, vstlib {v['colour_default']:.1f}, "
           f"paper {v['colour_paper']:.1f}")
    return [path, numbers]
