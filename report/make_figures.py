#!/usr/bin/env python
"""Regenerate the report's generated figures and tables in report/figures/.

Run from the repository root:

    python report/make_figures.py            # full quality into report/figures/ (committed; see below)
    python report/make_figures.py --smoke    # tiny sizes and iterations into report/build/figures-smoke/
    SMOKE=1 make -C report figures           # the same smoke run through the Makefile

The full-quality files are committed, so the PDF builds from a fresh clone with real figures; a smoke
run never writes there (it refuses ``--out report/figures``).

It writes exactly the files report/main.tex includes (see report/README.md). Section 2, Gatys
(``--only gatys``):

    gatys_image.png    content | style | result, one panel
    gatys_loss.pdf     total loss against L-BFGS iteration (log scale; scale changes marked)
    gatys_flicker.png  frame difference over time, input clip and per-frame stylised clip
    gatys_table.tex    bare booktabs tabular: settings of both runs and measured timings
    gatys_numbers.tex  the five \\newcommand macros quoted in the flicker paragraph

Section 3, Ruder et al. (``--only ruder``; the computations of notebooks/02_ruder_temporal.ipynb):

    ruder_flow.png        MPI-Sintel alley_1 frame 1, true flow 1->2, DeepFlow / DIS / Farneback
                          estimates (one colour scale, EPE in the titles), colour wheel
    ruder_occlusion.png   |frame 2 - frame 3|, |frame 2 - warped frame 3|, Sintel's true
                          occlusions, the unreliable pixels of the DeepFlow forward/backward masks
    ruder_flicker.pdf     E_warp per frame pair (log scale): per-frame Gatys, Ruder, warped init only
    ruder_frames.png      3x3: input / per-frame Gatys / Ruder at the first, middle and last frame
    ruder_table.tex       bare booktabs tabular: E_warp, ratio, masked MSE, luminance error, style
                          and content loss and seconds of each run, with the settings
    ruder_flow_table.tex  bare booktabs tabular: EPE and seconds per pair of each flow backend,
                          precision / recall of its occlusion mask against Sintel's
    ruder_numbers.tex     the \\newcommand macros quoted in the Ruder section (\\Ruder...)

Notation (``--only notation``): notation.tex, the table of symbols and units of the report's
section 1, converted from notebooks/NOTATION.md (the course's one notation source); see
figures_notation.py. No torch and no data: it takes well under a second.

Section 2, style layer weights (``--only layer_weights``): layer_weights.png and
layer_weights_numbers.tex (the \\Lw... macros quoted in the text), vstlib's default
w_l = 1/C_l^2 against Gatys et al.'s uniform weights at equal style strength, with each layer's
remaining Gram error; see figures_layer_weights.py.

Section 4, Johnson et al.'s fast network (``--only johnson``: johnson_*): the shipped networks
against Gatys on a held-aside frame, their training curves, a speed table; see figures_johnson.py.

Sections 5 and 7, Wasserstein style loss (``--only wasserstein``: w2_*) and colour preservation
(``--only color``: color_*), the computations of notebooks 04 and 06: see figures_w2_color.py.

Section "Arbitrary style with keyframe transitions" (``--only arbitrary``: arbitrary_*): style vectors
of the paintings and of a style video's keyframes in 2-D, a fade rendered in pixel and embedding space,
the stabilizer's E_warp and ghosting after ``arbitrary``, AdaIN without a decoder; see
figures_arbitrary.py.

Section "ReCoNet" (``--only reconet``: reconet_*): the shipped ReCoNet against the shipped Johnson
network on held-aside frames (E_warp, style loss), the luminance term of the output temporal loss on a
synthetic lighting change, the shipped model's training curves; see figures_reconet.py.

Section "Foreground/background segmentation" (``--only segmentation``: segment_*): masks of each backend
on real frames, mask flicker and the mask stabilizer, the four ``--edges`` variants with their seams, a
style per region and inpainting, the background's E_warp with and without segmentation, IoU on synthetic
composites; see figures_segment.py.

Section "Evaluation" (``--only evaluation``: eval_*): every registered method and option under the one
protocol of vstlib.evaluate (``course_evaluation``, the shared cache ``course_cache_dir()``, the same
results as notebook 09): the table of every metric, flicker against style with the Pareto front, speed
against quality, every method on the same frame, E_warp maps, ground truth against Farneback; see
figures_evaluation.py (full mode reads the cached cells and computes only missing ones).

Every file is written atomically (a temporary file renamed into place), so an interrupted run
leaves the previous figures intact. Settings, device and torch version of the run are recorded
in the table, so a figure never outlives the description of how it was made.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO_ROOT / "report" / "figures"  # full quality: committed, the PDF includes these
# Smoke figures go elsewhere (git-ignored), so a quick check never overwrites the committed ones.
SMOKE_OUT = REPO_ROOT / "report" / "build" / "figures-smoke"
if str(Path(__file__).resolve().parent) not in sys.path:
    sys.path.insert(0, str(Path(__file__).resolve().parent))  # figures_w2_color.py, beside this file
from figures_arbitrary import ARB_FULL, ARB_SMOKE, ARBITRARY_FILES  # noqa: E402
from figures_evaluation import EVAL_FULL, EVAL_SMOKE, EVALUATION_FILES  # noqa: E402
from figures_johnson import JOHNSON_FILES, JOHNSON_FULL, JOHNSON_SMOKE  # noqa: E402
from figures_layer_weights import LAYER_WEIGHT_FILES  # noqa: E402
from figures_notation import NOTATION_FILES  # noqa: E402
from figures_reconet import RECO_FULL, RECO_SMOKE, RECONET_FILES  # noqa: E402
from figures_segment import SEG_FULL, SEG_SMOKE, SEGMENT_FILES  # noqa: E402
from figures_style_weight import STYLE_WEIGHT_FILES  # noqa: E402
from figures_w2_color import COLOR_FILES, SC_FULL, SC_SMOKE, W2_FILES  # noqa: E402
GATYS_FILES = ("gatys_image.png", "gatys_loss.pdf", "gatys_flicker.png", "gatys_table.tex", "gatys_numbers.tex")
RUDER_FILES = ("ruder_flow.png", "ruder_occlusion.png", "ruder_flicker.pdf", "ruder_frames.png", "ruder_table.tex",
               "ruder_flow_table.tex", "ruder_numbers.tex")
METHODS_FILES = ("methods_table.tex",)
SECTION_FILES = {"notation": NOTATION_FILES, "methods": METHODS_FILES, "gatys": GATYS_FILES,
                 "layer_weights": LAYER_WEIGHT_FILES, "style_weight": STYLE_WEIGHT_FILES,
                 "ruder": RUDER_FILES, "johnson": JOHNSON_FILES, "wasserstein": W2_FILES, "color": COLOR_FILES,
                 "arbitrary": ARBITRARY_FILES, "reconet": RECONET_FILES, "segmentation": SEGMENT_FILES,
                 "evaluation": EVALUATION_FILES}
SECTIONS = tuple(SECTION_FILES)
FILES = (NOTATION_FILES + METHODS_FILES + GATYS_FILES + LAYER_WEIGHT_FILES + STYLE_WEIGHT_FILES + RUDER_FILES + JOHNSON_FILES
         + W2_FILES + COLOR_FILES + ARBITRARY_FILES + RECONET_FILES + SEGMENT_FILES + EVALUATION_FILES)


@dataclass(frozen=True)
class Settings:
    """Everything that defines the figures (all of it ends up in the table)."""

    smoke: bool
    photo: str = "chelsea"  # scikit-image photo (vstlib.data.CONTENT_PHOTOS)
    image_side: int = 384  # longer side of the content image, px
    style: str = "style/starry_night_vangogh.jpg"  # registry name (vstlib.data.fetch)
    iters: int = 150  # L-BFGS iterations at full scale (image); with the coarse scale's start, enough to settle
    coarse_iters: int = 100  # at each coarser scale (image)
    scales: tuple[float, ...] = (0.5, 1.0)  # coarse-to-fine (image)
    video: str = "video/bbb_adain_640x360_10s.mp4"
    video_start: float = 0.0  # seconds
    video_frames: int = 24  # 1 s at 24 fps: enough to see per-frame flicker
    video_side: int = 160  # longer side of the frames, px (the evaluation's size: make figures fits 90 min on a CPU)
    video_iters: int = 100  # per frame, single scale
    seed: int = 0


FULL = Settings(smoke=False)
SMOKE = Settings(smoke=True, image_side=64, iters=10, coarse_iters=5, video_frames=4, video_side=64, video_iters=5)


@dataclass(frozen=True)
class RuderSettings:
    """Everything that defines the Ruder section's figures (as notebooks/02_ruder_temporal.ipynb)."""

    smoke: bool
    sintel_scene: str = "alley_1"  # MPI-Sintel sample (vstlib.flow.sintel_pair), clean render
    flow_backends: tuple[str, ...] = ("deepflow", "dis", "farneback")  # compared on the Sintel pairs
    clip: str = "video/sintel_640x360_10s.mp4"  # CC-BY Blender Foundation; frames 10..57 have no cut
    clip_start: int = 10  # first frame
    clip_every: int = 2  # every 2nd frame: 12 fps, twice the motion per step
    frames: int = 12  # 1 s
    side: int = 192  # longer side of the frames, px (cut from 256 so make figures fits 90 min on a CPU)
    style: str = "style/starry_night_vangogh.jpg"
    iters: int = 100  # per-frame Gatys, and the first frame of the Ruder runs
    frame_iters: int = 30  # the Ruder runs' later frames (they start close to the answer)
    temporal_weight: float | None = None  # None: vstlib.ruder.RuderConfig().temporal_weight
    flow: str = "deepflow"  # the flow of the Ruder runs and of the metrics (Ruder et al.'s choice)
    seed: int = 0


RUDER_FULL = RuderSettings(smoke=False)
RUDER_SMOKE = RuderSettings(smoke=True, frames=4, side=64, iters=10, frame_iters=3)


# ------------------------------------------------------------------------------------------
# Small helpers
# ------------------------------------------------------------------------------------------


def log(msg: str = "") -> None:
    print(msg, flush=True)


def env_smoke() -> bool:
    return any(os.environ.get(k, "0") not in ("", "0", "false", "False") for k in ("VSTLIB_SMOKE", "SMOKE"))


_TEX_ESCAPES = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}


def tex(text) -> str:
    """Escape plain text for LaTeX (``relu4_2`` -> ``relu4\\_2``)."""
    return "".join(_TEX_ESCAPES.get(c, c) for c in str(text))


def num(x: float, sig: int = 3) -> str:
    """A plain decimal number with ``sig`` significant digits (no exponent), e.g. 0.0123, 41.2, 1230."""
    if x is None or not math.isfinite(x):
        return "n/a"
    if x == 0:
        return "0"
    decimals = max(0, sig - 1 - math.floor(math.log10(abs(x))))
    return f"{x:.{decimals}f}"


def sci(x: float, sig: int = 3) -> str:
    """A number for a LaTeX table, in math mode: $1.23\\times10^{7}$ for large or small values."""
    if x is None or not math.isfinite(x):
        return "n/a"
    if x != 0 and not 1e-3 <= abs(x) < 1e4:
        mantissa, exponent = f"{x:.{sig - 1}e}".split("e")
        return rf"${mantissa}\times10^{{{int(exponent)}}}$"
    return num(x, sig)


def fmt_duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def cpu_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def describe_device(device) -> tuple[str, str]:
    """(short phrase for the text, longer description for the table)."""
    import torch

    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
        return f"an {name} GPU" if name[:1].upper() in "AEIOU" else f"a {name} GPU", f"{name} (CUDA {torch.version.cuda})"
    if device.type == "mps":
        return "an Apple GPU (MPS)", f"Apple GPU (MPS), {platform.machine()}"
    n = cpu_cores()
    threads = torch.get_num_threads()
    return f"a {n}-core CPU", f"CPU, {n} cores, {threads} thread{'s' if threads != 1 else ''} ({cpu_model()})"


GENERATED = "% Generated by report/make_figures.py; do not edit (rerun `make figures`)."


def methods_table_tex() -> str:
    """The registered methods (vstlib.methods): name, what it does, its settings and their count,
    the module it lives in. Generated, so the report lists exactly what the library registers."""
    import inspect

    from vstlib import methods
    from vstlib.config import flags_of

    rows = []
    for m in methods.methods():
        module = Path(inspect.getfile(type(m))).relative_to(REPO_ROOT).as_posix()
        rows.append(f"\\texttt{{{tex(m.name)}}} & {tex(m.summary.replace('`', ''))} & \\texttt{{{tex(m.Config.__name__)}}} "
                    f"({len(flags_of(m.Config))}) & \\texttt{{{tex(module)}}} \\\\")
    return (GENERATED + "\n\\begin{tabular}{@{}lp{0.42\\linewidth}ll@{}}\n\\toprule\n"
            "\\texttt{-{}-method} & What it does & Settings (options) & Module \\\\\n\\midrule\n"
            + "\n".join(rows) + "\n\\bottomrule\n\\end{tabular}\n")


def macros_tex(macros: dict[str, str]) -> str:
    """A numbers file: one ``\\newcommand`` per macro, quoted in the report's text."""
    return "\n".join([GENERATED] + [f"\\newcommand{{\\{k}}}{{{v}}}" for k, v in macros.items()] + [""])


def table_note(ncol: int):
    """A function turning text into a footnote row spanning a table's ``ncol`` columns."""
    return lambda text: rf"\multicolumn{{{ncol}}}{{@{{}}p{{\linewidth}}@{{}}}}{{\footnotesize {text}}} \\"


def write_text(path: Path, text: str) -> None:
    from vstlib.io import atomic_path

    with atomic_path(path) as temp:
        temp.write_text(text, encoding="utf-8")


def save_figure(fig, path: Path, dpi: int = 200) -> None:
    """``fig.savefig`` through a temporary file; no creation date in PDFs (reproducible bytes)."""
    import matplotlib.pyplot as plt
    from vstlib.io import atomic_path

    fmt = path.suffix.lstrip(".").lower()
    metadata = {"CreationDate": None} if fmt == "pdf" else {"Software": None}
    with atomic_path(path) as temp:
        fig.savefig(temp, format=fmt, dpi=dpi, bbox_inches="tight", pad_inches=0.02, metadata=metadata)
        if fmt == "png":
            compact_png(Path(temp))
    plt.close(fig)


def compact_png(path: Path) -> None:
    """Rewrite a PNG losslessly smaller: matplotlib writes RGBA, and an opaque alpha channel is a quarter of
    the pixels for nothing; Pillow's ``optimize`` picks better filters. About 13 % off the committed figures
    (they must stay under 20 MB in all)."""
    from PIL import Image

    with Image.open(path) as im:
        im.load()
        if im.mode == "RGBA" and im.getchannel("A").getextrema() == (255, 255):
            im = im.convert("RGB")
        im.save(path, format="PNG", optimize=True)


def style_label(name: str) -> str:
    """The registry's description (``Vincent van Gogh, The Starry Night``), else the file's stem."""
    from vstlib.data import registry

    asset = registry().get(name)
    if asset is not None and asset.what:
        return asset.what
    stem = Path(name).stem.split("_")
    return f"{' '.join(stem[:-1])} ({stem[-1]})" if len(stem) > 1 else stem[0]


class Progress:
    """A tqdm bar over the optimisation iterations (vstlib's progress protocol)."""

    def __init__(self, total: int, desc: str):
        from vstlib.utils import progress_bar

        self.bar = progress_bar(total=total, desc=desc, unit="it", leave=True, file=sys.stdout)

    def __enter__(self):
        return self.bar

    def __exit__(self, *exc):
        self.bar.close()


# ------------------------------------------------------------------------------------------
# Figures (vstlib.plotting, adjusted for the report's page)
# ------------------------------------------------------------------------------------------


def figure_image_panel(content, style, result):
    """content | style | result side by side, same height, each at its own aspect ratio.

    (vstlib.plotting.show_images gives every panel the first image's aspect ratio, which would
    letterbox a style image of another shape.)
    """
    import matplotlib.pyplot as plt
    from vstlib.plotting import as_image

    images = [as_image(t) for t in (content, style, result)]
    ratios = [im.shape[1] / im.shape[0] for im in images]
    height = 2.6  # inches; the panel is scaled to \textwidth, so this sets the title size
    fig, axes = plt.subplots(1, 3, figsize=(height * sum(ratios) + 0.3, height + 0.35),
                             gridspec_kw={"width_ratios": ratios, "wspace": 0.03})
    for ax, im, title in zip(axes, images, ("content", "style", "result")):
        ax.imshow(im, interpolation="nearest" if im.shape[0] < 128 else "antialiased")
        ax.set_title(title, fontsize=16, pad=5)
        ax.set_axis_off()
    return fig


def _compact(ax, legend_loc="best") -> None:
    """Font sizes for a half-text-width subfigure."""
    ax.tick_params(labelsize=8)
    ax.xaxis.label.set_size(9)
    ax.yaxis.label.set_size(9)
    ax.legend(fontsize=7, loc=legend_loc, frameon=False)
    ax.figure.tight_layout()


def figure_loss(result, scales: tuple[float, ...], image_hw):
    """vstlib.plotting.plot_losses, cut for the report: L-BFGS without a line search
    (vstlib.engine) can overshoot for a few early iterations, by many orders of magnitude; the
    axis is cut above the largest loss at the start of any scale and the points above it are
    marked by triangles at the top. Each scale is labelled with its image size.
    """
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator
    from vstlib.plotting import plot_losses

    losses = np.asarray(result.losses, dtype=float)
    scale_iters = list(result.scale_iters) or [len(losses)]
    it = np.arange(1, len(losses) + 1)
    starts = np.concatenate([[0], np.cumsum(scale_iters)[:-1]]).astype(int)
    top = max(losses[s] for s in starts if s < len(losses)) * 3.0
    fig, ax = plt.subplots(figsize=(3.3, 2.45))
    plot_losses({"total loss": result}, ax=ax)
    over = losses > top
    if over.any():
        ax.plot(it[over], np.full(over.sum(), top), "^", color="C3", ms=4, clip_on=False,
                label=f"off scale ({over.sum()} it.)")
    ax.set_ylim(np.nanmin(losses) / 2.0, top)
    ax.set_xlim(0, len(losses) + 1)
    ax.set_xlabel("L-BFGS iteration")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if len(scale_iters) > 1:
        for start, n, scale in zip(starts, scale_iters, scales):
            h, w = round(image_hw[0] * scale), round(image_hw[1] * scale)
            ax.text(start + n / 2, 1.035, f"{w}×{h} px", transform=ax.get_xaxis_transform(), ha="center",
                    va="bottom", fontsize=7, color="0.3")
    _compact(ax, "lower left")
    return fig


def figure_flicker(curves: dict[str, np.ndarray], fps: float):
    """vstlib.plotting.plot_frame_differences (seconds on x), each curve's mean as a dotted line."""
    import matplotlib.pyplot as plt
    from vstlib.plotting import plot_frame_differences

    fig, ax = plt.subplots(figsize=(3.3, 2.45))
    plot_frame_differences(curves, fps=fps, ax=ax)
    for line, diffs in zip(ax.get_lines(), curves.values()):
        if len(diffs) > 12:
            line.set_marker("")
        ax.axhline(float(np.mean(diffs)), color=line.get_color(), ls=":", lw=0.8)
    top = max(float(np.max(d)) for d in curves.values())
    ax.set_ylim(0, top * 1.4 if top > 0 else 1.0)  # room for the legend above the curves
    ax.set_ylabel("mean abs. frame difference")
    _compact(ax, "upper left")
    return fig


# ------------------------------------------------------------------------------------------
# The two runs
# ------------------------------------------------------------------------------------------


def run_image(s: Settings, device):
    import torch
    from vstlib import GatysConfig, GatysStylizer
    from vstlib.data import content_photo, fetch
    from vstlib.gatys import load_style, resize, style_size_for
    from vstlib.io import resize_frame, to_tensor

    content = to_tensor(resize_frame(content_photo(s.photo), max_side=s.image_side))
    style = load_style(fetch(s.style))
    config = GatysConfig(iters=s.iters, coarse_iters=s.coarse_iters, scales=s.scales, seed=s.seed)
    torch.manual_seed(s.seed)
    stylizer = GatysStylizer(style, config, device=device)
    total = s.iters + s.coarse_iters * (len(s.scales) - 1)
    h, w = content.shape[-2:]
    log(f"[1/2] image: {s.photo} {w}x{h} px in the style of {style_label(s.style)}, "
        f"{total} L-BFGS iterations (scales {', '.join(map(str, s.scales))}) on {device}")
    t0 = time.perf_counter()
    with Progress(total, "gatys image") as bar:
        res = stylizer(content, progress=bar)
    if device.type == "cuda":
        torch.cuda.synchronize()
    wall = time.perf_counter() - t0
    parts = stylizer.loss_parts(res.image)  # content target is the full-scale one after the call
    # Seconds per iteration at the full scale (the coarse scales are cheaper per iteration).
    n_full = res.scale_iters[-1]
    t_end = res.times[-1]
    t_before = res.times[-n_full - 1] if len(res.times) > n_full else 0.0
    style_shown = resize(style, style_size_for(style.shape[-2:], (h, w), config.style_scale))
    return {
        "config": config, "content": content, "style": style_shown, "style_hw": tuple(style.shape[-2:]),
        "result": res.image.cpu(), "res": res,
        "hw": (h, w), "wall": wall, "sec_per_iter": (t_end - t_before) / max(n_full, 1),
        "final_loss": sum(parts.values()), "parts": parts,
    }


def run_video(s: Settings, device, image_sec_per_iter: float, image_pixels: int):
    import torch
    from vstlib import GatysConfig, frame_difference, probe_video, read_frames, stylize_video
    from vstlib.data import fetch

    path = fetch(s.video)
    info = probe_video(path)
    first = int(round(s.video_start * info.fps))
    n = min(s.video_frames, info.n_frames - first)
    if n < 2:
        raise SystemExit(f"error: '{s.video}' has {info.n_frames} frames; need 2 or more after {s.video_start} s")
    # vstlib.io's rule for max_side: the longer side gets exactly max_side, the other is rounded.
    scale = s.video_side / max(info.height, info.width)
    fh, fw = (s.video_side, max(1, round(info.width * scale))) if info.height >= info.width else \
        (max(1, round(info.height * scale)), s.video_side)
    config = GatysConfig(iters=s.video_iters, scales=(1.0,), seed=s.seed)
    estimate = image_sec_per_iter * (fh * fw) / image_pixels * s.video_iters * n
    log(f"[2/2] video: {Path(s.video).name}, {n} frames from {s.video_start:g} s ({n / info.fps:.2f} s at "
        f"{info.fps:g} fps), {fw}x{fh} px, {s.video_iters} iterations per frame, frame by frame")
    log(f"      estimate from the image run: about {fmt_duration(estimate)} "
        f"({fmt_duration(estimate / n)} per frame)")
    torch.manual_seed(s.seed)
    with tempfile.TemporaryDirectory(prefix="vstlib-figures-") as tmp:
        tmp = Path(tmp)
        t0 = time.perf_counter()
        # duration a half frame short of n frames: stylize_video rounds the frame count up.
        out_frames = []  # the exact frames (a post step keeps them), not the H.264 file: no codec noise

        def keep(image, item):
            out_frames.append(image.clone())
            return image

        vr = stylize_video(path, fetch(s.style), tmp / "gatys.mp4", "gatys", config, max_side=s.video_side,
                           start=first / info.fps, duration=(n - 0.5) / info.fps, device=str(device),
                           progress=True, post_steps=[keep])
        wall = time.perf_counter() - t0
        if vr.n_frames != n:
            raise RuntimeError(f"stylize_video made {vr.n_frames} frames, expected {n}")
        in_frames = list(read_frames(path, max_side=s.video_side, start=first, end=first + n))
    if len(out_frames) != n or len(in_frames) != n:
        raise RuntimeError(f"got {len(in_frames)} input and {len(out_frames)} output frames, expected {n}")
    d_in, d_out = frame_difference(in_frames), frame_difference(out_frames)
    spf = float(np.mean(vr.seconds_per_frame)) if vr.seconds_per_frame else math.nan
    return {
        "config": config, "n": n, "fps": info.fps, "first": first, "hw": (fh, fw), "wall": wall,
        "sec_per_frame": spf, "sec_per_iter": spf / s.video_iters, "final_loss": float(np.mean(vr.final_losses)),
        "d_in": d_in, "d_out": d_out, "flicker_in": float(d_in.mean()), "flicker_out": float(d_out.mean()),
        "ratio": float(d_out.mean() / max(d_in.mean(), 1e-12)),
    }


# ------------------------------------------------------------------------------------------
# Tables
# ------------------------------------------------------------------------------------------


def layers_tex(layers) -> str:
    return ", ".join(r"\texttt{" + tex(layer) + "}" for layer in layers)


def table_tex(s: Settings, img: dict, vid: dict, device_long: str) -> str:
    import torch
    from vstlib import __version__
    from vstlib.gatys import style_size_for

    c = img["config"]  # vstlib.GatysConfig
    (h, w), (fh, fw) = img["hw"], vid["hw"]
    n, fps = vid["n"], vid["fps"]
    coarse = " + ".join(f"{c.coarse_iters} at {sc:g}$\\times$" for sc in c.scales[:-1])
    iters_img = f"{coarse} + {c.iters} at 1$\\times$" if coarse else str(c.iters)
    style_w = r"$1/C_l^2$" if c.style_layer_weights is None else ", ".join(num(x) for x in c.style_layer_weights)
    optimizer = {"lbfgs": "L-BFGS, no line search", "adam": "Adam"}[c.optimizer]
    rows_settings = [
        ("Content", f"\\texttt{{{tex(s.photo)}}} (scikit-image)", f"\\texttt{{{tex(Path(s.video).name)}}}"),
        ("Size (px)", f"{w}$\\times${h}", f"{fw}$\\times${fh}"),
        ("Frames", "--", f"{n} ({s.video_start:g}--{s.video_start + n / fps:.2f}\\,s at {fps:g}\\,fps)"),
        ("Style", f"\\multicolumn{{2}}{{l}}{{{tex(style_label(s.style))}}}", None),
        ("Style size (px)", *(f"{sw}$\\times${sh}" for sh, sw in (
            style_size_for(img["style_hw"], hw, c.style_scale) for hw in (img["hw"], vid["hw"])))),
        ("Content layer", f"\\multicolumn{{2}}{{l}}{{{layers_tex(c.content_layers)}}}", None),
        ("Style layers", f"\\multicolumn{{2}}{{l}}{{{layers_tex(c.style_layers)}, $w_l$ = {style_w}}}", None),
        ("Weights $\\alpha$, $\\beta$, $\\gamma$",
         f"\\multicolumn{{2}}{{l}}{{{c.content_weight:g}, {c.effective_style_weight:g}, {c.tv_weight:g}}}", None),
        ("VGG19", f"\\multicolumn{{2}}{{l}}{{{tex(c.weights)} weights, {tex(c.pooling)} pooling}}", None),
        ("Optimizer", f"\\multicolumn{{2}}{{l}}{{{optimizer}, initialised from the {tex(c.init)}, seed {c.seed}}}", None),
        ("Iterations", iters_img, f"{vid['config'].iters} per frame"),
        ("Device", f"\\multicolumn{{2}}{{l}}{{{tex(device_long)}}}", None),
        ("Software", f"\\multicolumn{{2}}{{l}}{{PyTorch {tex(torch.__version__)}, \\vstlib{{}} {tex(__version__)}"
         f"{', smoke settings' if s.smoke else ''}}}", None),
    ]
    rows_measured = [
        ("Seconds per iteration", num(img["sec_per_iter"]) + (" (at 1$\\times$)" if len(c.scales) > 1 else ""),
         num(vid["sec_per_iter"])),
        ("Seconds per frame", "--", num(vid["sec_per_frame"])),
        ("Total time (s)", num(img["wall"]), num(vid["wall"])),
        ("Final loss", sci(img["final_loss"]), sci(vid["final_loss"]) + " (mean)"),
        ("Flicker $\\Phi$ in / out", "--", f"{num(vid['flicker_in'])} / {num(vid['flicker_out'])}"),
        ("Flicker ratio out/in", "--", num(vid["ratio"], 2)),
    ]

    def row(cells):
        name, a, b = cells
        return f"{name} & {a} \\\\" if b is None else f"{name} & {a} & {b} \\\\"

    lines = [
        GENERATED,
        r"\begin{tabular}{@{}lll@{}}",
        r"\toprule",
        r" & Image & Video (per frame) \\",
        r"\midrule",
        *(row(r) for r in rows_settings),
        r"\midrule",
        r"\multicolumn{3}{@{}l}{\emph{Measured}} \\",
        *(row(r) for r in rows_measured),
        r"\bottomrule",
        r"\end{tabular}",
        "",
    ]
    return "\n".join(lines)


def numbers_tex(vid: dict, device_short: str) -> str:
    return macros_tex({"GatysFlickerIn": num(vid["flicker_in"]), "GatysFlickerOut": num(vid["flicker_out"]),
                       "GatysFlickerRatio": num(vid["ratio"], 2), "GatysSecondsPerFrame": num(vid["sec_per_frame"]),
                       "GatysDevice": tex(device_short)})


# ------------------------------------------------------------------------------------------
# Section 3: Ruder et al. (the computations of notebooks/02_ruder_temporal.ipynb)
# ------------------------------------------------------------------------------------------

FLOW_NAMES = {"deepflow": "DeepFlow", "dis": "DIS", "farneback": "Farnebäck", "raft": "RAFT"}  # figures
FLOW_TEX = {"deepflow": "DeepFlow", "dis": "DIS", "farneback": r"Farneb\"ack", "raft": "RAFT"}  # tables, text
RUNS = ("per-frame Gatys", "Ruder", "warped init only")  # the clip's three stylizations, in table order


def resolved_weight(s: RuderSettings) -> float:
    from vstlib.ruder import RuderConfig

    return float(RuderConfig().temporal_weight if s.temporal_weight is None else s.temporal_weight)


def weight_tex(x: float) -> str:
    """``$10^{5}$`` for a power of ten, else :func:`sci` (``$1.50\\times10^{4}$``), for text and tables."""
    if x > 0 and math.isclose(10 ** round(math.log10(x)), x, rel_tol=1e-9):
        return f"$10^{{{round(math.log10(x))}}}$"
    return sci(x) if x != 0 and not 1e-3 <= abs(x) < 1e4 else f"${num(x)}$"


def precision_recall(flagged: np.ndarray, occluded: np.ndarray) -> tuple[float, float]:
    """Of the pixels a mask flags, the fraction truly occluded; of the occluded, the fraction flagged."""
    hits = float((flagged & occluded).sum())
    return hits / max(float(flagged.sum()), 1.0), hits / max(float(occluded.sum()), 1.0)


def run_flow_study(s: RuderSettings) -> dict:
    """Flow backends on the Sintel pairs 1->2 (figure, EPE) and 2<->3 (occlusion masks), as the
    notebook's sections 1 and 2. Every backend estimates three flows (1->2, 2->3, 3->2) one after
    the other with OpenCV's default threading; its time per pair is their mean."""
    from vstlib import flow

    frame1, frame2, true_12 = flow.sintel_pair(s.sintel_scene, 1)
    f2, f3, true_23 = flow.sintel_pair(s.sintel_scene, 2)
    occluded = flow.sintel_occlusions(s.sintel_scene, 2)  # pixels of frame 2 hidden in frame 3
    h, w = frame1.shape[:2]
    log(f"[ruder 1/2] flow: MPI-Sintel {s.sintel_scene} (clean, {w}x{h} px), "
        f"{', '.join(FLOW_NAMES[m] for m in s.flow_backends)}: pairs 1->2, 2->3, 3->2")
    est, forward, seconds, epe12, epe23, masks = {}, {}, {}, {}, {}, {}
    for method in s.flow_backends:
        times = []
        pairs = [(frame1, frame2), (f2, f3), (f3, f2)]
        flows = []
        for a, b in pairs:
            t0 = time.perf_counter()
            flows.append(flow.estimate_flow(a, b, method))
            times.append(time.perf_counter() - t0)
        est[method], forward[method], backward = flows
        seconds[method] = float(np.mean(times))
        epe12[method] = flow.endpoint_error(est[method], true_12)
        epe23[method] = flow.endpoint_error(forward[method], true_23)
        reliable = flow.occlusion_mask(forward[method], backward)  # 1 = reliable, in frame 2
        masks[method] = {"unreliable": reliable < 0.5,
                         "consistency": flow.occlusion_mask(forward[method], backward, motion_boundaries=False) < 0.5}
        log(f"      {method:10} EPE 1->2 {epe12[method]:.3f} px, 2->3 {epe23[method]:.3f} px, "
            f"{seconds[method]:.2f} s per pair")
    zero = np.zeros_like(true_12)
    epe12["zero"] = flow.endpoint_error(zero, true_12)
    epe23["zero"] = flow.endpoint_error(np.zeros_like(true_23), true_23)
    occl = {m: {k: (float(v.mean()), *precision_recall(v, occluded)) for k, v in mk.items()}
            for m, mk in masks.items()}  # (flagged fraction, precision, recall)
    warped = flow.warp(f3, forward[s.flow])  # frame 3 moved onto frame 2
    before = np.abs(f2.astype(np.float64) - f3).mean(axis=2)  # gray levels
    after = np.abs(f2.astype(np.float64) - warped).mean(axis=2)
    unreliable = masks[s.flow]["unreliable"]
    return {
        "frame1": frame1, "true_12": true_12, "estimates": est, "hw": (h, w), "seconds": seconds,
        "epe12": epe12, "epe23": epe23, "occluded": occluded, "occl": occl, "unreliable": unreliable,
        "before": before, "after": after,
        "diff_before": float(before.mean()), "diff_after": float(after.mean()),
        "diff_reliable": float(after[~unreliable].mean()) if (~unreliable).any() else math.nan,
        "diff_unreliable": float(after[unreliable].mean()) if unreliable.any() else math.nan,
    }


def run_ruder_clip(s: RuderSettings, device) -> dict:
    """Per-frame Gatys, Ruder and "warped init only" on one clip, scored by the temporal metrics
    and one Gatys style evaluator, as the notebook's sections 3 and 4."""
    import torch
    from vstlib import flow, io, metrics, probe_video, read_frames
    from vstlib.data import fetch
    from vstlib.gatys import GatysConfig, GatysStylizer, load_style
    from vstlib.ruder import RuderConfig, RuderStylizer, needed_pairs, stylize_clip

    clip = fetch(s.clip)
    info = probe_video(clip)
    last = s.clip_start + (s.frames - 1) * s.clip_every
    if s.frames < 2 or last >= info.n_frames:
        raise SystemExit(f"error: '{s.clip}' has {info.n_frames} frames; {s.frames} frames from frame {s.clip_start}, "
                         f"every {s.clip_every}, need {last + 1} (and at least 2 frames)")
    frames_u8 = list(read_frames(clip, max_side=s.side, start=s.clip_start, end=last + 1, step=s.clip_every))
    if len(frames_u8) != s.frames:
        raise RuntimeError(f"read {len(frames_u8)} frames from {s.clip}, expected {s.frames}")
    frames = [io.to_tensor(f).to(device) for f in frames_u8]
    n, (fh, fw) = len(frames), frames_u8[0].shape[:2]
    fps = info.fps / s.clip_every
    style = load_style(fetch(s.style))
    gatys_config = GatysConfig(iters=s.iters, seed=s.seed)
    ruder_config = RuderConfig(gatys=gatys_config, frame_iters=s.frame_iters, flow=s.flow,
                               temporal_weight=resolved_weight(s))
    variants = {"Ruder": ruder_config, "warped init only": ruder_config.replace(temporal_weight=0.0)}
    log(f"[ruder 2/2] clip: {Path(s.clip).name}, {n} frames from frame {s.clip_start}, every {s.clip_every} "
        f"({fps:g} fps), {fw}x{fh} px; per-frame Gatys {s.iters} iterations per frame; Ruder "
        f"{s.iters} + {s.frame_iters} per later frame, temporal weight {ruder_config.temporal_weight:g}; {s.flow} flow")
    with tempfile.TemporaryDirectory(prefix="vstlib-figures-flow-") as cache:
        # A private flow cache: the timing below is a real computation, and the metrics reuse the flows.
        t0 = time.perf_counter()
        pairs = needed_pairs(n, ruder_config)
        flows = flow.compute_flows(frames_u8, pairs, method=s.flow, cache_dir=cache, progress=False)
        flow_seconds = time.perf_counter() - t0
        log(f"      {len(pairs)} flows in {flow_seconds:.2f} s")
        outputs, seconds = {}, {}
        torch.manual_seed(s.seed)
        t0 = time.perf_counter()
        baseline = GatysStylizer(style, gatys_config, device=device)
        with Progress(n, "per-frame gatys") as bar:
            out = []
            for f in frames:
                out.append(baseline(f).image)
                bar.update(1)
        outputs["per-frame Gatys"] = out
        seconds["per-frame Gatys"] = time.perf_counter() - t0
        for name, config in variants.items():
            torch.manual_seed(s.seed)
            t0 = time.perf_counter()
            with Progress(n, name) as bar:
                outputs[name] = stylize_clip(frames, RuderStylizer(style, config, device=device), flows,
                                             progress=bar).frames
            seconds[name] = time.perf_counter() - t0
        errors = {name: metrics.temporal_errors(frames_u8, out, flow=s.flow, cache_dir=cache)
                  for name, out in outputs.items()}
        input_errors = metrics.temporal_errors(frames_u8, frames_u8, flow=s.flow, cache_dir=cache)
    style_loss, content_loss = {}, {}
    for name, out in outputs.items():  # the Gatys style and content terms, the same evaluator for every run
        parts = []
        for content, image in zip(frames, out):
            baseline.set_content(content)  # each frame's content loss is against its own input frame
            parts.append(baseline.loss_parts(image))
        style_loss[name] = float(np.mean([q["style"] for q in parts]))
        content_loss[name] = float(np.mean([q["content"] for q in parts]))
    summary = {name: e.summary() for name, e in errors.items()}
    base = summary["per-frame Gatys"]["warping_error"]
    for name in RUNS:
        log(f"      {name:18} E_warp {summary[name]['warping_error']:.5f} "
            f"(x{summary[name]['warping_error'] / max(base, 1e-30):.2f}), style loss {style_loss[name]:.4g}, "
            f"content loss {content_loss[name]:.4g}, {seconds[name]:.1f} s")
    return {
        "config": ruder_config, "n": n, "hw": (fh, fw), "fps": fps, "src_fps": info.fps,
        "flow_pairs": len(pairs), "flow_seconds": flow_seconds,
        "frames": [f.cpu() for f in frames], "outputs": {k: [o.detach().cpu() for o in v] for k, v in outputs.items()},
        "errors": errors, "summary": summary, "input": input_errors.summary(), "input_errors": input_errors,
        "style_loss": style_loss, "content_loss": content_loss,
        "seconds": seconds,
    }


def _titles(fig, fontsize: float) -> None:
    """Title size for a figure scaled to the page (vstlib.plotting.show_images uses 10 pt)."""
    for ax in fig.axes:
        ax.title.set_fontsize(fontsize)
    fig.tight_layout(pad=0.3, w_pad=0.4, h_pad=0.6)


def figure_flow(fl: dict, s: RuderSettings):
    """As the notebook: frame 1, true flow, the estimates (one colour scale), the colour wheel."""
    from vstlib import flow
    from vstlib.plotting import show_images

    scale = float(np.linalg.norm(fl["true_12"], axis=2).max())  # one colour scale for all
    est = fl["estimates"]
    images = ([fl["frame1"], flow.flow_to_color(fl["true_12"], scale)]
              + [flow.flow_to_color(est[m], scale) for m in est] + [flow.color_wheel()])
    titles = ([f"Sintel {s.sintel_scene}, frame 1", "true flow 1→2"]
              + [f"{FLOW_NAMES[m]}: EPE {fl['epe12'][m]:.2f} px" for m in est] + ["direction (wheel)"])
    fig = show_images(images, titles, ncols=3, size=1.5)
    _titles(fig, 12)
    return fig


def figure_occlusion(fl: dict, s: RuderSettings):
    """As the notebook: frame differences before / after warping, true and estimated occlusions."""
    from vstlib.plotting import show_images

    flagged, p, r = fl["occl"][s.flow]["unreliable"]
    images = [np.clip(fl["before"] / 64, 0, 1), np.clip(fl["after"] / 64, 0, 1), fl["occluded"].astype(float),
              fl["unreliable"].astype(float)]
    titles = [f"|frame 2 − frame 3| (mean {fl['diff_before']:.1f})",
              f"|frame 2 − warped frame 3| (mean {fl['diff_after']:.1f})",
              f"true occlusions (Sintel): {fl['occluded'].mean():.1%}",
              f"unreliable ({FLOW_NAMES[s.flow]}): P {p:.2f}, R {r:.2f}"]
    fig = show_images(images, titles, ncols=2, size=1.5)
    _titles(fig, 10)
    return fig


def figure_ruder_flicker(rd: dict):
    """E_warp per frame pair (log scale), one line per run; the input clip's as a grey dotted reference."""
    import matplotlib.pyplot as plt
    from vstlib.plotting import plot_frame_differences

    fig, ax = plt.subplots(figsize=(3.3, 2.45))
    curves = {name: rd["errors"][name].warping_error for name in RUNS}
    plot_frame_differences(curves, fps=rd["fps"], logy=True, ax=ax)
    for line, (ls, marker) in zip(ax.get_lines(), (("-", "o"), ("-", "s"), ("--", "^"))):
        line.set_linestyle(ls)  # Ruder and warped init only can coincide (few iterations): keep both visible
        line.set_marker(marker if len(line.get_xdata()) <= 24 else "")
        line.set_markerfacecolor("none")
    ref = np.asarray(rd["input_errors"].warping_error, dtype=float)
    ax.plot(np.arange(1, len(ref) + 1) / rd["fps"], ref, color="0.55", ls=":", lw=1.0,
            label=f"input clip (mean {ref.mean():.4f})")
    ax.set_ylabel("$E_{warp}$ (pair $t$, $t+1$)")
    values = np.concatenate([np.asarray(c, dtype=float) for c in curves.values()] + [ref])
    values = values[values > 0]
    if values.size:
        ax.set_ylim(values.min() / 3, values.max() * 30)  # room for the legend above the curves
    _compact(ax, "upper left")
    return fig


def figure_ruder_frames(rd: dict):
    """As the notebook: rows input / per-frame Gatys / Ruder, columns first / middle / last frame."""
    from vstlib.plotting import show_images

    n = rd["n"]
    show = [0, n // 2, n - 1]
    rows = (("input", rd["frames"]), ("per-frame", rd["outputs"]["per-frame Gatys"]), ("Ruder", rd["outputs"]["Ruder"]))
    fig = show_images([frames[t] for _, frames in rows for t in show],
                      [f"{label} {t}" for label, _ in rows for t in show], ncols=3, size=1.4)
    _titles(fig, 16)
    return fig


def ruder_table_tex(s: RuderSettings, rd: dict, device_long: str) -> str:
    import torch
    from vstlib import __version__

    summ, base = rd["summary"], rd["summary"]["per-frame Gatys"]["warping_error"]
    fh, fw = rd["hw"]
    last = s.clip_start + (rd["n"] - 1) * s.clip_every
    labels = {"per-frame Gatys": "Per-frame Gatys", "Ruder": "Ruder", "warped init only": "Warped init only"}
    iters = {"per-frame Gatys": f"{s.iters}", "Ruder": f"{s.iters} / {s.frame_iters}",
             "warped init only": f"{s.iters} / {s.frame_iters}"}  # first frame / later frames
    weights = {"per-frame Gatys": "--", "Ruder": weight_tex(rd["config"].temporal_weight), "warped init only": "0"}

    def row(name: str) -> str:
        m = summ[name]
        return " & ".join([labels[name], iters[name], weights[name], sci(m["warping_error"]),
                           num(m["warping_error"] / base), sci(m["masked_mse"]), sci(m["luminance_error"]),
                           sci(rd["style_loss"][name]), sci(rd["content_loss"][name]),
                           num(rd["seconds"][name])]) + r" \\"

    inp = rd["input"]
    ncol = 10
    note = table_note(ncol)
    lines = [
        GENERATED,
        r"\begin{tabular*}{\linewidth}{@{\extracolsep{\fill}}lllrrrrrrr@{}}",
        r"\toprule",
        r"Run & Iters. & $\gamma$ & $E_{warp}$ & Ratio & Masked MSE & Luminance & Style loss & Content loss & Seconds \\",
        r"\midrule",
        *(row(name) for name in RUNS),
        " & ".join(["Input clip", "--", "--", sci(inp["warping_error"]), num(inp["warping_error"] / base),
                    sci(inp["masked_mse"]), sci(inp["luminance_error"]), "--", "--", "--"]) + r" \\",
        r"\midrule",
        note(f"Iters.: L-BFGS iterations, first frame / later frames. "
             f"Clip \\texttt{{{tex(Path(s.clip).name)}}}, frames {s.clip_start}, {s.clip_start + s.clip_every}, "
             f"\\dots, {last} ({rd['n']} frames at {rd['fps']:g}\\,fps), {fw}$\\times${fh} px; style: "
             f"{tex(style_label(s.style))}; Gatys weights and layers as in Table~\\ref{{tab:gatys}}, "
             f"L-BFGS from the content (first frames) or the warped previous output (later frames), seed {s.seed}."),
        note(f"Flow and masks: {FLOW_TEX[s.flow]} on the input frames ({rd['flow_pairs']} pairs in "
             f"{num(rd['flow_seconds'])}\\,s, not included in the seconds above). Means over the "
             f"{rd['n'] - 1} frame pairs; images in $[0,1]$. Style and content loss: the weighted Gatys terms "
             f"$\\beta\\,\\mathcal{{L}}_s$ and $\\alpha\\,\\mathcal{{L}}_c$ of each frame against its input frame, "
             f"means over the {rd['n']} frames."),
        note(f"{tex(device_long)}; PyTorch {tex(torch.__version__)}, \\vstlib{{}} {tex(__version__)}"
             f"{'; smoke settings (not meaningful)' if s.smoke else ''}."),
        r"\bottomrule",
        r"\end{tabular*}",
        "",
    ]
    return "\n".join(lines)


def flow_table_tex(s: RuderSettings, fl: dict, device_long: str) -> str:
    import cv2
    from vstlib.flow import flow_params

    h, w = fl["hw"]

    def label(m: str) -> str:
        preset = flow_params(m).get("preset") if m == "dis" else None
        return FLOW_TEX[m] + (f" ({tex(preset)})" if preset else "")

    def pct(x: float) -> str:
        return num(100 * x, 2) + r"\%"

    rows = []
    for m in s.flow_backends:
        flagged, p, r = fl["occl"][m]["unreliable"]
        rows.append(" & ".join([label(m), num(fl["epe12"][m]), num(fl["epe23"][m]), num(fl["seconds"][m]),
                                pct(flagged), num(p, 2), num(r, 2)]) + r" \\")
    rows.append(" & ".join(["Zero flow", num(fl["epe12"]["zero"]), num(fl["epe23"]["zero"]), "--", "--", "--", "--"])
                + r" \\")
    flagged, p, r = fl["occl"][s.flow]["consistency"]
    rows_cons = " & ".join([f"{FLOW_TEX[s.flow]}, consistency only", "--", "--", "--", pct(flagged),
                            num(p, 2), num(r, 2)]) + r" \\"
    ncol = 7
    note = table_note(ncol)
    lines = [
        GENERATED,
        r"\begin{tabular*}{\linewidth}{@{\extracolsep{\fill}}lrrrrrr@{}}",
        r"\toprule",
        r" & \multicolumn{2}{c}{EPE (px)} & & \multicolumn{3}{c}{Unreliable pixels, frame 2} \\",
        r"\cmidrule(lr){2-3}\cmidrule(l){5-7}",
        r"Flow & 1$\to$2 & 2$\to$3 & Seconds per pair & Flagged & Precision & Recall \\",
        r"\midrule",
        *rows,
        r"\midrule",
        rows_cons,
        r"\midrule",
        note(f"MPI-Sintel \\texttt{{{tex(s.sintel_scene)}}}, clean render, {w}$\\times${h} px. Seconds: mean over "
             f"the pairs 1$\\to$2, 2$\\to$3, 3$\\to$2, one at a time, OpenCV {tex(cv2.__version__)} with its "
             f"default threading. Unreliable: $c=0$ from the forward and backward flow of frames 2 and 3 "
             f"(consistency check and motion boundaries; last row: the consistency check alone); precision and "
             f"recall against Sintel's occlusion map "
             f"({pct(float(fl['occluded'].mean()))} of the pixels occluded)."),
        note(f"{tex(device_long)}{'; smoke settings' if s.smoke else ''}."),
        r"\bottomrule",
        r"\end{tabular*}",
        "",
    ]
    return "\n".join(lines)


def ruder_numbers_tex(s: RuderSettings, fl: dict, rd: dict, device_short: str) -> str:
    summ = rd["summary"]
    e = {name: summ[name]["warping_error"] for name in RUNS}
    base = max(e["per-frame Gatys"], 1e-30)
    fh, fw = rd["hw"]
    flagged, p, r = fl["occl"][s.flow]["unreliable"]
    c_flagged, c_p, c_r = fl["occl"][s.flow]["consistency"]
    macros = {
        "RuderClip": rf"\texttt{{{tex(Path(s.clip).name)}}}",
        "RuderFrames": str(rd["n"]),
        "RuderFirstFrame": str(s.clip_start),
        "RuderEvery": str(s.clip_every),
        "RuderFps": f"{rd['fps']:g}",
        "RuderSize": f"{fw}$\\times${fh}",
        "RuderIters": str(s.iters),
        "RuderFrameIters": str(s.frame_iters),
        "RuderTemporalWeight": weight_tex(rd["config"].temporal_weight),
        "RuderFlow": FLOW_TEX[s.flow],
        "RuderFlowPairs": str(rd["flow_pairs"]),
        "RuderFlowSeconds": num(rd["flow_seconds"]),
        "RuderEwarpInput": num(rd["input"]["warping_error"]),
        "RuderEwarpGatys": num(e["per-frame Gatys"]),
        "RuderEwarpRuder": num(e["Ruder"]),
        "RuderEwarpInit": num(e["warped init only"]),
        "RuderEwarpRatio": num(e["Ruder"] / base),
        "RuderEwarpInitRatio": num(e["warped init only"] / base),
        "RuderStyleRatio": num(rd["style_loss"]["Ruder"] / max(rd["style_loss"]["per-frame Gatys"], 1e-30)),
        "RuderInitStyleRatio": num(rd["style_loss"]["warped init only"]
                                   / max(rd["style_loss"]["per-frame Gatys"], 1e-30)),
        "RuderContentRatio": num(rd["content_loss"]["Ruder"] / max(rd["content_loss"]["per-frame Gatys"], 1e-30)),
        "RuderSecondsGatys": num(rd["seconds"]["per-frame Gatys"]),
        "RuderSecondsRuder": num(rd["seconds"]["Ruder"]),
        "RuderTimeRatio": num(rd["seconds"]["Ruder"] / max(rd["seconds"]["per-frame Gatys"], 1e-30)),
        "RuderEpeDeepflow": num(fl["epe12"].get("deepflow", math.nan)),
        "RuderEpeDis": num(fl["epe12"].get("dis", math.nan)),
        "RuderEpeFarneback": num(fl["epe12"].get("farneback", math.nan)),
        "RuderEpeZero": num(fl["epe12"]["zero"]),
        "RuderFlowSecDeepflow": num(fl["seconds"].get("deepflow", math.nan)),
        "RuderFlowSecDis": num(fl["seconds"].get("dis", math.nan)),
        "RuderFlowSecFarneback": num(fl["seconds"].get("farneback", math.nan)),
        "RuderOccTrue": num(100 * float(fl["occluded"].mean()), 2) + r"\%",
        "RuderOccFlagged": num(100 * flagged, 2) + r"\%",
        "RuderOccPrecision": num(p, 2),
        "RuderOccRecall": num(r, 2),
        "RuderOccConsFlagged": num(100 * c_flagged, 2) + r"\%",
        "RuderOccConsPrecision": num(c_p, 2),
        "RuderOccConsRecall": num(c_r, 2),
        "RuderDiffBefore": num(fl["diff_before"]),
        "RuderDiffAfter": num(fl["diff_after"]),
        "RuderDiffReliable": num(fl["diff_reliable"]),
        "RuderDevice": tex(device_short),
        "RuderSmokeNote": r" \emph{(smoke settings: these numbers are not meaningful)}" if s.smoke else "",
    }
    return macros_tex(macros)


# ------------------------------------------------------------------------------------------
# Main
# ------------------------------------------------------------------------------------------


def count(text: str) -> int:
    """An argparse type: a whole number >= 0 (0: the default), else one error line."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number >= 0")
    return value


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python report/make_figures.py",
        description="Regenerate report/figures/ (the files report/main.tex includes): "
                    + ", ".join(FILES) + ". Run from the repository root.",
        epilog=f"Full quality: {FULL.photo} at {FULL.image_side} px with {FULL.iters} iterations "
               f"(+{FULL.coarse_iters} at half size), and {FULL.video_frames} frames of "
               f"{Path(FULL.video).name} at {FULL.video_side} px with {FULL.video_iters} iterations each"
               "; Ruder section: "
               f"{RUDER_FULL.frames} frames of {Path(RUDER_FULL.clip).name} at {RUDER_FULL.side} px, "
               f"{RUDER_FULL.iters} iterations per per-frame Gatys frame, {RUDER_FULL.frame_iters} per later Ruder "
               "frame, three runs. "
               f"--smoke (or SMOKE=1 / VSTLIB_SMOKE=1): {SMOKE.image_side} px, {SMOKE.iters} iterations, "
               f"{SMOKE.video_frames} frames at {SMOKE.video_side} px with {SMOKE.video_iters} iterations; "
               f"Ruder {RUDER_SMOKE.frames} frames at {RUDER_SMOKE.side} px, {RUDER_SMOKE.iters} / "
               f"{RUDER_SMOKE.frame_iters} iterations; about a minute on a CPU. Wasserstein and colour sections: "
               f"{SC_FULL.photo} at {SC_FULL.image_side} px with {SC_FULL.iters} iterations per image, "
               f"{SC_FULL.frames} clip frames at {SC_FULL.side} px ({SC_FULL.clip_iters} / {SC_FULL.frame_iters} "
               "iterations). Every section at full quality: see report/README.md for the measured time on a 2-core CPU. "
               "Sample data: set VSTLIB_DATA_DIR to a local mirror when offline.",
    )
    p.add_argument("--smoke", action="store_true",
                   help="tiny sizes and iterations (also when SMOKE=1 or VSTLIB_SMOKE=1 is set)")
    p.add_argument("--only", choices=SECTIONS,
                   help="regenerate one section's files only (notation: notation.tex from notebooks/NOTATION.md, "
                        "methods: methods_table.tex, gatys: gatys_*, layer_weights: layer_weights*, style_weight: style_weight.jpg, ruder: ruder_*, "
                        "johnson: johnson_*, wasserstein: w2_*, color: color_*, arbitrary: arbitrary_*, reconet: reconet_*, segmentation: segment_*, "
                        "evaluation: eval_*; default: all)")
    p.add_argument("--out", type=Path, default=None,
                   help="output folder, created if missing (default: report/figures, the committed figures; "
                        "with --smoke report/build/figures-smoke: smoke figures never go into report/figures)")
    p.add_argument("--device", default="auto", help="cpu, cuda, cuda:N, mps or auto (default: auto)")
    p.add_argument("--cluster", metavar="ADDRESS",
                   help="compute the evaluation section's missing cells as Ray tasks ('ray': a local Ray instance, "
                        "else a cluster's address; pip install 'vstlib[ray]'), into the same cache")
    p.add_argument("--jobs", type=count, default=0, metavar="N",
                   help="sections run at once, each in its own process (default: on a CPU one per core, at most "
                        f"{MAX_CPU_JOBS}; on a GPU 1)")
    p.add_argument("--threads", type=count, default=0, metavar="N",
                   help="torch threads per process on a CPU (default: the cores shared out among the jobs; the "
                        "figures' small images run faster on one thread each, two sections side by side, than on "
                        "two threads one after the other)")
    p.add_argument("--seed", type=int, default=FULL.seed, help=f"random seed (default: {FULL.seed})")
    g = p.add_argument_group("overrides of the Gatys section "
                             "(recorded in the table; default: the full / smoke setting)")
    g.add_argument("--photo", choices=("astronaut", "chelsea", "coffee", "rocket"),
                   help=f"scikit-image content photo ({FULL.photo})")
    g.add_argument("--image-size", type=int, metavar="PX",
                   help=f"longer side of the content image ({FULL.image_side} / {SMOKE.image_side})")
    g.add_argument("--iters", type=int, metavar="N",
                   help=f"image iterations at full size ({FULL.iters} / {SMOKE.iters}; "
                        f"plus {FULL.coarse_iters} / {SMOKE.coarse_iters} at half size)")
    g.add_argument("--frames", type=int, metavar="N", help=f"video frames ({FULL.video_frames} / {SMOKE.video_frames})")
    g.add_argument("--video-start", type=float, metavar="S", help=f"start of the clip, seconds ({FULL.video_start:g})")
    g.add_argument("--video-size", type=int, metavar="PX",
                   help=f"longer side of the video frames ({FULL.video_side} / {SMOKE.video_side})")
    g.add_argument("--video-iters", type=int, metavar="N",
                   help=f"iterations per video frame ({FULL.video_iters} / {SMOKE.video_iters})")
    r = p.add_argument_group("overrides of the Ruder section (recorded in its table)")
    r.add_argument("--ruder-frames", type=int, metavar="N",
                   help=f"clip frames, every {RUDER_FULL.clip_every}nd from frame {RUDER_FULL.clip_start} "
                        f"({RUDER_FULL.frames} / {RUDER_SMOKE.frames})")
    r.add_argument("--ruder-size", type=int, metavar="PX",
                   help=f"longer side of the clip frames ({RUDER_FULL.side} / {RUDER_SMOKE.side})")
    r.add_argument("--ruder-iters", type=int, metavar="N",
                   help=f"iterations per frame of per-frame Gatys and of the first Ruder frame "
                        f"({RUDER_FULL.iters} / {RUDER_SMOKE.iters})")
    r.add_argument("--ruder-frame-iters", type=int, metavar="N",
                   help=f"iterations per later Ruder frame ({RUDER_FULL.frame_iters} / {RUDER_SMOKE.frame_iters}; "
                        "with --ruder-iters alone: a third of it)")
    r.add_argument("--temporal-weight", type=float, metavar="W",
                   help="Ruder's temporal weight (default: vstlib.ruder.RuderConfig's)")
    r.add_argument("--flow", choices=RUDER_FULL.flow_backends,
                   help=f"flow of the Ruder runs and the metrics ({RUDER_FULL.flow})")
    return p.parse_args(argv)


def settings_from(args: argparse.Namespace) -> Settings:
    s = SMOKE if (args.smoke or env_smoke()) else FULL
    overrides = {"photo": args.photo, "image_side": args.image_size, "iters": args.iters,
                 "video_frames": args.frames, "video_start": args.video_start, "video_side": args.video_size,
                 "video_iters": args.video_iters}
    return replace(s, seed=args.seed, **{k: v for k, v in overrides.items() if v is not None})


def ruder_settings_from(args: argparse.Namespace) -> RuderSettings:
    r = RUDER_SMOKE if (args.smoke or env_smoke()) else RUDER_FULL
    frame_iters = args.ruder_frame_iters
    if frame_iters is None and args.ruder_iters is not None:
        frame_iters = max(1, args.ruder_iters // 3)  # the notebook's rule
    overrides = {"frames": args.ruder_frames, "side": args.ruder_size, "iters": args.ruder_iters,
                 "frame_iters": frame_iters, "temporal_weight": args.temporal_weight, "flow": args.flow}
    return replace(r, seed=args.seed, **{k: v for k, v in overrides.items() if v is not None})


# Sections from the longest to the shortest (measured full-quality minutes on the 2-core CPU, one
# thread each): the parallel run starts the long ones first so that the short ones fill the gaps.
SECTION_COST = {"style_weight": 29, "evaluation": 21, "wasserstein": 13, "gatys": 12, "color": 11, "ruder": 10,
                "johnson": 10, "layer_weights": 4, "arbitrary": 1.4, "reconet": 0.5, "segmentation": 0.5,
                "methods": 0.1, "notation": 0.1}
MAX_CPU_JOBS = 4


def default_jobs(device: str) -> int:
    """One job per core on a CPU (at most MAX_CPU_JOBS); 1 on an accelerator, which one process fills."""
    if device not in ("auto", "cpu"):
        return 1
    if device == "auto":
        import torch

        if torch.cuda.is_available() or (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
            return 1
    return max(1, min(MAX_CPU_JOBS, len(os.sched_getaffinity(0))))


def run_in_parallel(argv: list[str], sections: Sequence[str], jobs: int, threads: int) -> int:
    """Run each section as ``make_figures.py ARGV --only SECTION`` in its own process, ``jobs`` at a time,
    longest first; their lines are printed as they come, prefixed with the section. Exit status 1 when
    any section failed (the others still finish: every file is written atomically)."""
    import subprocess
    import threading

    todo = sorted(sections, key=lambda sec: -SECTION_COST.get(sec, 1))
    env = {**os.environ, "TQDM_DISABLE": "1"}  # progress bars of two processes would garble each other
    lock, seconds, failed = threading.Lock(), {}, []

    def worker():
        while True:
            with lock:
                if not todo:
                    return
                sec = todo.pop(0)
            t0 = time.perf_counter()
            cmd = [sys.executable, str(Path(__file__).resolve()), *argv, "--only", sec, "--jobs", "1",
                   "--threads", str(threads)]
            proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                                    cwd=REPO_ROOT)
            for line in proc.stdout:
                log(f"[{sec}] {line.rstrip()}")
            code = proc.wait()
            with lock:
                seconds[sec] = time.perf_counter() - t0
                if code != 0:
                    failed.append(sec)
            log(f"[{sec}] {'FAILED' if code else 'finished'} in {fmt_duration(seconds[sec])}")

    t_start = time.perf_counter()
    log(f"make_figures: {len(sections)} sections, {jobs} at a time, {threads} torch thread(s) each")
    pool = [threading.Thread(target=worker) for _ in range(min(jobs, len(sections)))]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    log("per section: " + ", ".join(f"{sec} {fmt_duration(sec_s)}" for sec, sec_s in
                                     sorted(seconds.items(), key=lambda kv: -kv[1])))
    log(f"all sections done in {fmt_duration(time.perf_counter() - t_start)}"
        + (f"; FAILED: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


def one_thread_if_smoke(smoke: bool, device):
    """Thumbnails on a CPU: OpenMP threads cost more than they bring on a busy machine."""
    import contextlib

    import torch

    @contextlib.contextmanager
    def scope():
        threads = torch.get_num_threads()
        if smoke and device.type == "cpu":
            torch.set_num_threads(1)
        try:
            yield
        finally:
            torch.set_num_threads(threads)

    return scope()


def make_gatys(s: Settings, device, out: Path, device_short: str, device_long: str) -> None:
    """Section 2: the image and the per-frame video run, their figures, table and numbers."""
    img = run_image(s, device)
    log(f"      {img['wall']:.1f} s, {img['sec_per_iter']:.3f} s/iteration at full size, "
        f"final loss {img['final_loss']:.4g}")
    save_figure(figure_image_panel(img["content"], img["style"], img["result"]), out / "gatys_image.png", dpi=150)
    log(f"wrote {out / 'gatys_image.png'}")
    save_figure(figure_loss(img["res"], s.scales, img["hw"]), out / "gatys_loss.pdf")
    log(f"wrote {out / 'gatys_loss.pdf'}")

    vid = run_video(s, device, img["sec_per_iter"], img["hw"][0] * img["hw"][1])
    log(f"      {vid['wall']:.1f} s, {vid['sec_per_frame']:.2f} s/frame; flicker in {vid['flicker_in']:.4f}, "
        f"out {vid['flicker_out']:.4f}, ratio {vid['ratio']:.2f}")
    curves = {"input": vid["d_in"], "stylised (per frame)": vid["d_out"]}
    save_figure(figure_flicker(curves, vid["fps"]), out / "gatys_flicker.png", dpi=200)
    log(f"wrote {out / 'gatys_flicker.png'}")

    write_text(out / "gatys_table.tex", table_tex(s, img, vid, device_long))
    log(f"wrote {out / 'gatys_table.tex'}")
    write_text(out / "gatys_numbers.tex", numbers_tex(vid, device_short))
    log(f"wrote {out / 'gatys_numbers.tex'}")


def make_ruder(r: RuderSettings, device, out: Path) -> None:
    """Section 3: the flow study on MPI-Sintel and the three stylizations of one clip."""
    import torch

    threads = torch.get_num_threads()
    if r.smoke and device.type == "cpu":
        torch.set_num_threads(1)  # thumbnails: OpenMP threads cost more than they bring on a busy CPU
    try:
        r = replace(r, temporal_weight=resolved_weight(r))
        short, long = describe_device(device)  # after the thread count is set: the table records it
        fl = run_flow_study(r)
        save_figure(figure_flow(fl, r), out / "ruder_flow.png", dpi=150)
        log(f"wrote {out / 'ruder_flow.png'}")
        save_figure(figure_occlusion(fl, r), out / "ruder_occlusion.png", dpi=150)
        log(f"wrote {out / 'ruder_occlusion.png'}")
        write_text(out / "ruder_flow_table.tex", flow_table_tex(r, fl, long))
        log(f"wrote {out / 'ruder_flow_table.tex'}")

        rd = run_ruder_clip(r, device)
        save_figure(figure_ruder_flicker(rd), out / "ruder_flicker.pdf")
        log(f"wrote {out / 'ruder_flicker.pdf'}")
        save_figure(figure_ruder_frames(rd), out / "ruder_frames.png", dpi=150)
        log(f"wrote {out / 'ruder_frames.png'}")
        write_text(out / "ruder_table.tex", ruder_table_tex(r, rd, long))
        log(f"wrote {out / 'ruder_table.tex'}")
        write_text(out / "ruder_numbers.tex", ruder_numbers_tex(r, fl, rd, short))
        log(f"wrote {out / 'ruder_numbers.tex'}")
    finally:
        torch.set_num_threads(threads)


def main(argv=None) -> int:
    args = parse_args(argv)
    s = settings_from(args)
    r = ruder_settings_from(args)
    sections = (args.only,) if args.only else SECTIONS
    out = args.out or (SMOKE_OUT if s.smoke else DEFAULT_OUT)
    if s.smoke and out.resolve() == DEFAULT_OUT.resolve():
        log(f"error: smoke figures would overwrite the committed full-quality ones in {DEFAULT_OUT}; "
            f"leave --out out (default {SMOKE_OUT.relative_to(REPO_ROOT)}) or choose another folder")
        return 2
    out.mkdir(parents=True, exist_ok=True)
    # Smoke runs stay in one process (seconds per section; the tests read one log).
    jobs = args.jobs or (default_jobs(args.device) if len(sections) > 1 and not s.smoke else 1)
    if jobs > 1 and len(sections) > 1:
        argv = list(sys.argv[1:] if argv is None else argv)
        threads = args.threads or max(1, len(os.sched_getaffinity(0)) // jobs)
        return run_in_parallel(argv + ["--out", str(out)], sections, jobs, threads)
    t_start = time.perf_counter()
    if "notation" in sections:  # plain text conversion: no torch, no device
        from figures_notation import make_notation

        make_notation(out)
        log(f"wrote {out / NOTATION_FILES[0]}")
        if sections == ("notation",):
            log(f"done in {time.perf_counter() - t_start:.1f} s: {NOTATION_FILES[0]}")
            return 0

    import matplotlib

    matplotlib.use("Agg")
    import torch
    from vstlib import VstError, pick_device

    if args.threads:
        torch.set_num_threads(args.threads)

    try:
        device = pick_device(args.device)
    except VstError as err:
        log(f"error: {err}")
        return 2
    torch.manual_seed(s.seed)
    np.random.seed(s.seed)
    short, long = describe_device(device)
    mode = "SMOKE (quick, low quality)" if s.smoke else "full quality"
    log(f"make_figures: {mode}, sections {', '.join(sections)}, on {long}; torch {torch.__version__}; "
        f"writing to {out}")
    if not s.smoke and device.type == "cpu":
        log("      full quality on a CPU takes tens of minutes per section; --smoke for a quick check")

    try:
        if "methods" in sections:
            write_text(out / "methods_table.tex", methods_table_tex())
        if "gatys" in sections:
            make_gatys(s, device, out, short, long)
        if "layer_weights" in sections:
            from figures_layer_weights import make_layer_weights

            with one_thread_if_smoke(s.smoke, device):
                make_layer_weights(s.smoke, device, out)
        if "style_weight" in sections:
            from figures_style_weight import make_style_weight

            make_style_weight(s.smoke, device, out)
        if "ruder" in sections:
            make_ruder(r, device, out)
        if "johnson" in sections:
            from figures_johnson import make_johnson

            with one_thread_if_smoke(s.smoke, device):
                make_johnson(JOHNSON_SMOKE if s.smoke else JOHNSON_FULL, device, out)
        sc = replace(SC_SMOKE if s.smoke else SC_FULL, seed=s.seed)
        if "wasserstein" in sections:
            from figures_w2_color import make_wasserstein

            with one_thread_if_smoke(sc.smoke, device):
                make_wasserstein(sc, device, out)
        if "color" in sections:
            from figures_w2_color import make_color

            with one_thread_if_smoke(sc.smoke, device):
                make_color(sc, device, out)
        if "arbitrary" in sections:
            from figures_arbitrary import make_arbitrary

            with one_thread_if_smoke(s.smoke, device):
                make_arbitrary(replace(ARB_SMOKE if s.smoke else ARB_FULL, seed=s.seed), device, out)
        if "reconet" in sections:
            from figures_reconet import make_reconet

            with one_thread_if_smoke(s.smoke, device):
                make_reconet(replace(RECO_SMOKE if s.smoke else RECO_FULL, seed=s.seed), device, out)
        if "segmentation" in sections:
            from figures_segment import make_segment

            with one_thread_if_smoke(s.smoke, device):
                make_segment(replace(SEG_SMOKE if s.smoke else SEG_FULL, seed=s.seed), device, out)
        if "evaluation" in sections:
            from figures_evaluation import make_evaluation

            with one_thread_if_smoke(s.smoke, device):
                make_evaluation(replace(EVAL_SMOKE if s.smoke else EVAL_FULL, cluster=args.cluster), device, out)
    except VstError as err:
        log(f"error: {err}")
        return 1
    written = [name for sec in sections for name in SECTION_FILES[sec]]
    log(f"done in {time.perf_counter() - t_start:.1f} s: " + ", ".join(
        f"{name} ({(out / name).stat().st_size / 1024:.0f} KiB)" for name in written))
    return 0


if __name__ == "__main__":
    sys.exit(main())
