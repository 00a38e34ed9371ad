#!/usr/bin/env python
"""Regenerate the report's generated figures and tables in report/figures/.

Run from the repository root:

    python report/make_figures.py            # full quality (slow on a CPU, see below)
    python report/make_figures.py --smoke    # tiny sizes and iterations, under a minute on a CPU
    SMOKE=1 make -C report figures           # the same smoke run through the Makefile

It writes exactly the files report/main.tex includes (see report/README.md):

    gatys_image.png    content | style | result, one panel
    gatys_loss.pdf     total loss against L-BFGS iteration (log scale; scale changes marked)
    gatys_flicker.png  frame difference over time, input clip and per-frame stylised clip
    gatys_table.tex    bare booktabs tabular: settings of both runs and measured timings
    gatys_numbers.tex  the five \\newcommand macros quoted in the flicker paragraph

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
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO_ROOT / "report" / "figures"
FILES = ("gatys_image.png", "gatys_loss.pdf", "gatys_flicker.png", "gatys_table.tex", "gatys_numbers.tex")


@dataclass(frozen=True)
class Settings:
    """Everything that defines the figures (all of it ends up in the table)."""

    smoke: bool
    photo: str = "chelsea"  # scikit-image photo (vstlib.data.CONTENT_PHOTOS)
    image_side: int = 384  # longer side of the content image, px
    style: str = "style/starry_night_vangogh.jpg"  # registry name (vstlib.data.fetch)
    iters: int = 300  # L-BFGS iterations at full scale (image)
    coarse_iters: int = 100  # at each coarser scale (image)
    scales: tuple[float, ...] = (0.5, 1.0)  # coarse-to-fine (image)
    video: str = "video/bbb_adain_640x360_10s.mp4"
    video_start: float = 0.0  # seconds
    video_frames: int = 48  # 2 s at 24 fps
    video_side: int = 256  # longer side of the frames, px
    video_iters: int = 100  # per frame, single scale
    seed: int = 0


FULL = Settings(smoke=False)
SMOKE = Settings(smoke=True, image_side=64, iters=10, coarse_iters=5, video_frames=4, video_side=64, video_iters=5)


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
    return f"a {n}-core CPU", f"CPU, {n} cores, {torch.get_num_threads()} threads ({cpu_model()})"


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
    plt.close(fig)


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
        vr = stylize_video(path, fetch(s.style), tmp / "gatys.mp4", config=config, max_side=s.video_side,
                           start=first / info.fps, duration=(n - 0.5) / info.fps, device=str(device),
                           cache_dir=tmp / "frames", keep_cache=True, progress=True)
        wall = time.perf_counter() - t0
        if vr.n_frames != n:
            raise RuntimeError(f"stylize_video made {vr.n_frames} frames, expected {n}")
        from vstlib.io import load_image

        # The exact frames (lossless PNG cache), not the H.264 file, so the codec adds no noise.
        out_frames = [load_image(p) for p in sorted((tmp / "frames").glob("frame_*.png"))]
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
         f"\\multicolumn{{2}}{{l}}{{{c.content_weight:g}, {c.style_weight:g}, {c.tv_weight:g}}}", None),
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
        "% Generated by report/make_figures.py; do not edit (rerun `make figures`).",
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
    return "\n".join([
        "% Generated by report/make_figures.py; do not edit (rerun `make figures`).",
        f"\\newcommand{{\\GatysFlickerIn}}{{{num(vid['flicker_in'])}}}",
        f"\\newcommand{{\\GatysFlickerOut}}{{{num(vid['flicker_out'])}}}",
        f"\\newcommand{{\\GatysFlickerRatio}}{{{num(vid['ratio'], 2)}}}",
        f"\\newcommand{{\\GatysSecondsPerFrame}}{{{num(vid['sec_per_frame'])}}}",
        f"\\newcommand{{\\GatysDevice}}{{{tex(device_short)}}}",
        "",
    ])


# ------------------------------------------------------------------------------------------
# Main
# ------------------------------------------------------------------------------------------


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python report/make_figures.py",
        description="Regenerate report/figures/ (the files report/main.tex includes): "
                    + ", ".join(FILES) + ". Run from the repository root.",
        epilog=f"Full quality: {FULL.photo} at {FULL.image_side} px with {FULL.iters} iterations "
               f"(+{FULL.coarse_iters} at half size), and {FULL.video_frames} frames of "
               f"{Path(FULL.video).name} at {FULL.video_side} px with {FULL.video_iters} iterations each: "
               "about 20 min on an otherwise idle 2-core CPU (the script prints an estimate). "
               f"--smoke (or SMOKE=1 / VSTLIB_SMOKE=1): {SMOKE.image_side} px, {SMOKE.iters} iterations, "
               f"{SMOKE.video_frames} frames at {SMOKE.video_side} px with {SMOKE.video_iters} iterations; "
               "under a minute on a CPU. Sample data: set VSTLIB_DATA_DIR to a local mirror when offline.",
    )
    p.add_argument("--smoke", action="store_true",
                   help="tiny sizes and iterations (also when SMOKE=1 or VSTLIB_SMOKE=1 is set)")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT,
                   help="output folder, created if missing (default: report/figures)")
    p.add_argument("--device", default="auto", help="cpu, cuda, cuda:N, mps or auto (default: auto)")
    p.add_argument("--seed", type=int, default=FULL.seed, help=f"random seed (default: {FULL.seed})")
    g = p.add_argument_group("overrides (recorded in the table; default: the full / smoke setting)")
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
    return p.parse_args(argv)


def settings_from(args: argparse.Namespace) -> Settings:
    s = SMOKE if (args.smoke or env_smoke()) else FULL
    overrides = {"photo": args.photo, "image_side": args.image_size, "iters": args.iters,
                 "video_frames": args.frames, "video_start": args.video_start, "video_side": args.video_size,
                 "video_iters": args.video_iters}
    return replace(s, seed=args.seed, **{k: v for k, v in overrides.items() if v is not None})


def main(argv=None) -> int:
    args = parse_args(argv)
    s = settings_from(args)
    out = args.out
    out.mkdir(parents=True, exist_ok=True)

    import matplotlib

    matplotlib.use("Agg")
    import torch
    from vstlib import VstError, pick_device

    try:
        device = pick_device(args.device)
    except VstError as err:
        log(f"error: {err}")
        return 2
    torch.manual_seed(s.seed)
    np.random.seed(s.seed)
    short, long = describe_device(device)
    mode = "SMOKE (quick, low quality)" if s.smoke else "full quality"
    log(f"make_figures: {mode} on {long}; torch {torch.__version__}; writing to {out}")
    if not s.smoke and device.type == "cpu":
        log("      full quality on a CPU takes tens of minutes (the video dominates); --smoke for a quick check")

    t_start = time.perf_counter()
    try:
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
    except VstError as err:
        log(f"error: {err}")
        return 1

    write_text(out / "gatys_table.tex", table_tex(s, img, vid, long))
    log(f"wrote {out / 'gatys_table.tex'}")
    write_text(out / "gatys_numbers.tex", numbers_tex(vid, short))
    log(f"wrote {out / 'gatys_numbers.tex'}")
    log(f"done in {time.perf_counter() - t_start:.1f} s: " + ", ".join(
        f"{name} ({(out / name).stat().st_size / 1024:.0f} KiB)" for name in FILES))
    return 0


if __name__ == "__main__":
    sys.exit(main())
