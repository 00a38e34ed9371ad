"""The report's Wasserstein and colour-preservation sections (``make_figures.py --only wasserstein``,
``--only color``): the computations of notebooks 04 and 06, written as figures, tables and macros.

Section "Wasserstein style loss" (``wasserstein``):

    w2_images.png    photo | painting | Gram result | W2 result
    w2_stats.pdf     relu3_1 channel means and standard deviations of both results against the painting's
    w2_flicker.pdf   E_warp per frame pair: per-frame W2, Ruder + W2, Ruder + Gram
    w2_table.tex     bare booktabs tabular: time per iteration, both style losses of both results,
                     statistics mismatch; E_warp of the three clip runs
    w2_numbers.tex   the \\W2... macros quoted in the text

Section "Colour preservation" (``color``):

    color_images.png  photo | painting | recoloured painting / plain | luminance-only | histogram-matched
    color_flicker.pdf E_warp per frame pair of Ruder et al. with each colour mode
    color_table.tex   bare booktabs tabular: colour distance to the photo, E_warp and time per mode
    color_numbers.tex the \\Color... macros quoted in the text

The helpers (number formatting, atomic writes, device description) are make_figures.py's.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

W2_FILES = ("w2_images.png", "w2_stats.pdf", "w2_flicker.pdf", "w2_table.tex", "w2_numbers.tex")
COLOR_FILES = ("color_images.png", "color_flicker.pdf", "color_table.tex", "color_numbers.tex")
MODES = ("none", "luminance", "histogram")
W2_CLIP_RUNS = ("per-frame W2", "Ruder + W2", "Ruder + Gram")


@dataclass(frozen=True)
class StyleColorSettings:
    """Everything that defines both sections' figures (as notebooks 04 and 06)."""

    smoke: bool
    photo: str = "chelsea"
    image_side: int = 256
    style: str = "style/starry_night_vangogh.jpg"
    iters: int = 200  # per image, single scale
    clip: str = "video/sintel_640x360_10s.mp4"  # frames 10..57 have no shot cut
    clip_start: int = 10
    clip_every: int = 2
    frames: int = 8  # 7 frame pairs; sizes and iterations as the Ruder section's (make figures fits 90 min)
    side: int = 192
    clip_iters: int = 100  # per-frame runs and Ruder's first frame
    frame_iters: int = 30  # Ruder's later frames
    layer: str = "relu3_1"  # the layer whose channel statistics are plotted
    seed: int = 0


SC_FULL = StyleColorSettings(smoke=False)
SC_SMOKE = StyleColorSettings(smoke=True, image_side=64, iters=10, frames=4, side=64, clip_iters=6, frame_iters=2)


def _mf():
    import make_figures  # the helpers; make_figures puts this folder on sys.path

    return make_figures


def _photo(s: StyleColorSettings, device):
    from vstlib import io
    from vstlib.data import content_photo

    return io.to_tensor(io.resize_frame(content_photo(s.photo), max_side=s.image_side)).to(device)


def _clip(s: StyleColorSettings, device):
    from vstlib import io, probe_video, read_frames
    from vstlib.data import fetch

    clip = fetch(s.clip)
    info = probe_video(clip)
    last = s.clip_start + (s.frames - 1) * s.clip_every
    if s.frames < 2 or last >= info.n_frames:
        raise SystemExit(f"error: '{s.clip}' has {info.n_frames} frames; {s.frames} frames from frame {s.clip_start}, "
                         f"every {s.clip_every}, need {last + 1} (and at least 2 frames)")
    frames_u8 = list(read_frames(clip, max_side=s.side, start=s.clip_start, end=last + 1, step=s.clip_every))
    return frames_u8, [io.to_tensor(f).to(device) for f in frames_u8], info.fps / s.clip_every


def _stylize_clip(frames, style, config, flows, device, desc):
    from vstlib.ruder import RuderStylizer, stylize_clip

    mf = _mf()
    with mf.Progress(len(frames), desc) as bar:
        return [f.cpu() for f in stylize_clip(frames, RuderStylizer(style, config, device=device), flows,
                                              progress=bar).frames]


# ------------------------------------------------------------------------------------------
# Wasserstein
# ------------------------------------------------------------------------------------------


def run_w2(s: StyleColorSettings, device) -> dict:
    import tempfile

    import torch
    from vstlib import flow, metrics
    from vstlib.data import fetch
    from vstlib.gatys import GatysConfig, GatysStylizer, load_style, resize, style_size_for
    from vstlib.ruder import RuderConfig, needed_pairs

    mf = _mf()
    photo = _photo(s, device)
    style = load_style(fetch(s.style))
    h, w = photo.shape[-2:]
    mf.log(f"[w2 1/2] {s.photo} {w}x{h}, {Path(s.style).stem}: Gram and W2, {s.iters} L-BFGS iterations each")
    stylizers, results, per_iter = {}, {}, {}
    for name, kind in (("Gram", "gram"), ("W2", "wasserstein")):
        torch.manual_seed(s.seed)
        stylizers[name] = GatysStylizer(style, GatysConfig(iters=s.iters, style_loss=kind, seed=s.seed), device=device)
        with mf.Progress(s.iters, name) as bar:
            results[name] = stylizers[name](photo, progress=bar)
        per_iter[name] = float(np.median(np.diff(results[name].times))) if s.iters > 1 else results[name].times[-1]
    cross = {}
    for judge, st in stylizers.items():
        st.set_content(photo)
        cross[judge] = {name: st.loss_parts(r.image)["style"] for name, r in results.items()}
    encoder = stylizers["Gram"].objective
    with torch.no_grad():
        small = resize(stylizers["Gram"].style, style_size_for(style.shape[-2:], (h, w)))
        feats = {"painting": encoder.features(small, [s.layer])[s.layer]}
        feats.update({name: encoder.features(r.image.to(device), [s.layer])[s.layer] for name, r in results.items()})
    moments = {name: (f.mean(dim=(0, 2, 3)).cpu().numpy(), f.std(dim=(0, 2, 3)).cpu().numpy())
               for name, f in feats.items()}
    mismatch = {name: float(np.abs(moments[name][0] - moments["painting"][0]).mean()
                            + np.abs(moments[name][1] - moments["painting"][1]).mean()) for name in results}
    mf.log(f"      ms/iteration Gram {1e3 * per_iter['Gram']:.0f}, W2 {1e3 * per_iter['W2']:.0f}; "
           f"statistics mismatch Gram {mismatch['Gram']:.3f}, W2 {mismatch['W2']:.3f}")

    frames_u8, frames, fps = _clip(s, device)
    configs = {kind: RuderConfig(gatys=GatysConfig(iters=s.clip_iters, style_loss=kind, seed=s.seed),
                                 frame_iters=s.frame_iters) for kind in ("gram", "wasserstein")}
    fh, fw = frames_u8[0].shape[:2]
    mf.log(f"[w2 2/2] clip {Path(s.clip).name}: {len(frames)} frames, {fw}x{fh}; per-frame W2, Ruder + W2, Ruder + Gram")
    outputs, seconds = {}, {}
    with tempfile.TemporaryDirectory(prefix="vstlib-figures-flow-") as cache:
        flows = flow.compute_flows(frames_u8, needed_pairs(len(frames), configs["gram"]), cache_dir=cache,
                                   progress=False)
        t0 = time.perf_counter()
        per_frame = GatysStylizer(style, configs["wasserstein"].gatys, device=device)
        with mf.Progress(len(frames), "per-frame W2") as bar:
            outputs["per-frame W2"] = []
            for f in frames:
                outputs["per-frame W2"].append(per_frame(f).image.cpu())
                bar.update(1)
        seconds["per-frame W2"] = time.perf_counter() - t0
        for name, kind in (("Ruder + W2", "wasserstein"), ("Ruder + Gram", "gram")):
            torch.manual_seed(s.seed)
            t0 = time.perf_counter()
            outputs[name] = _stylize_clip(frames, style, configs[kind], flows, device, name)
            seconds[name] = time.perf_counter() - t0
        errors = {name: metrics.temporal_errors(frames_u8, out, cache_dir=cache) for name, out in outputs.items()}
    for name in W2_CLIP_RUNS:
        mf.log(f"      {name:13} E_warp {errors[name].summary()['warping_error']:.5f}, {seconds[name]:.1f} s")
    return {"photo": photo.cpu(), "style": style, "results": results, "per_iter": per_iter, "cross": cross,
            "moments": moments, "mismatch": mismatch, "hw": (h, w), "clip_hw": (fh, fw), "fps": fps,
            "n": len(frames), "errors": errors, "seconds": seconds, "outputs": outputs}


def figure_w2_images(w2: dict):
    from vstlib.plotting import show_images

    fig = show_images([w2["photo"], w2["style"], w2["results"]["Gram"].image, w2["results"]["W2"].image],
                      ["photo", "painting", "Gram", "W2"], ncols=4, size=2.0)
    _mf()._titles(fig, 12)
    return fig


def figure_w2_stats(w2: dict, s: StyleColorSettings):
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(6.4, 2.8))
    for ax, k, label in zip(axes, (0, 1), ("channel mean", "channel std. deviation")):
        ref = w2["moments"]["painting"][k]
        top = float(max(ref.max(), *(w2["moments"][n][k].max() for n in ("Gram", "W2"))))
        ax.plot([0, top], [0, top], color="0.6", lw=0.8)
        for name, marker in (("Gram", "o"), ("W2", "s")):
            ax.scatter(ref, w2["moments"][name][k], s=5, alpha=0.6, marker=marker,
                       label=f"{name} (mismatch {w2['mismatch'][name]:.3g})" if k == 0 else name)
        ax.set_xlabel(f"painting, {s.layer}")
        ax.set_ylabel("result")
        ax.set_title(label, fontsize=9)
        _mf()._compact(ax, "upper left")
    return fig


def figure_flicker(errors: dict, names, fps: float, title_ylabel: str = "$E_{warp}$ (pair $t$, $t+1$)"):
    import matplotlib.pyplot as plt
    from vstlib.plotting import plot_frame_differences

    fig, ax = plt.subplots(figsize=(3.3, 2.45))
    curves = {name: errors[name].warping_error for name in names}
    plot_frame_differences(curves, fps=fps, logy=True, ax=ax)
    for line, (ls, marker) in zip(ax.get_lines(), (("-", "o"), ("-", "s"), ("--", "^"))):
        line.set_linestyle(ls)
        line.set_marker(marker if len(line.get_xdata()) <= 24 else "")
        line.set_markerfacecolor("none")
    values = np.concatenate([np.asarray(c, dtype=float) for c in curves.values()])
    values = values[values > 0]
    if values.size:
        ax.set_ylim(values.min() / 3, values.max() * 30)  # room for the legend above the curves
    ax.set_ylabel(title_ylabel)
    _mf()._compact(ax, "upper left")
    return fig


def _clip_note(s: StyleColorSettings, n: int, fps: float, hw) -> str:
    from vstlib.ruder import RuderConfig

    mf = _mf()
    fh, fw = hw
    last = s.clip_start + (n - 1) * s.clip_every
    return (f"Clip \\texttt{{{mf.tex(Path(s.clip).name)}}}, frames {s.clip_start}, {s.clip_start + s.clip_every}, "
            f"\\dots, {last} ({n} frames at {fps:g}\\,fps), {fw}$\\times${fh} px; Ruder: {s.clip_iters} iterations "
            f"for the first frame, {s.frame_iters} for later ones, temporal weight "
            f"{mf.weight_tex(RuderConfig().temporal_weight)}; $E_{{warp}}$ with "
            f"DeepFlow and occlusion masks on the input frames, mean over the {n - 1} pairs.")


def w2_table_tex(s: StyleColorSettings, w2: dict, device_long: str) -> str:
    import torch
    from vstlib import __version__
    from vstlib.choices import DEFAULT_STYLE_WEIGHTS

    mf = _mf()
    h, w = w2["hw"]
    cross, e = w2["cross"], {name: w2["errors"][name].summary()["warping_error"] for name in W2_CLIP_RUNS}
    note = mf.table_note(5)
    lines = [
        mf.GENERATED,
        r"\begin{tabular*}{\linewidth}{@{\extracolsep{\fill}}lrrrr@{}}",
        r"\toprule",
        r"Image & ms / iteration & Gram style loss & $W_2$ style loss & Statistics mismatch \\",
        r"\midrule",
        *(" & ".join([f"{name} result", mf.num(1e3 * w2["per_iter"][name]), mf.sci(cross["Gram"][name]),
                      mf.sci(cross["W2"][name]), mf.num(w2["mismatch"][name])]) + r" \\" for name in ("Gram", "W2")),
        r"\midrule",
        r"Clip run & Seconds & $E_{warp}$ & Ratio to per-frame $W_2$ & \\",
        r"\midrule",
        *(" & ".join([name.replace("W2", "$W_2$"), mf.num(w2["seconds"][name]), mf.sci(e[name]),
                      mf.num(e[name] / max(e["per-frame W2"], 1e-30)), ""]) + r" \\" for name in W2_CLIP_RUNS),
        r"\midrule",
        note(f"Image: {mf.tex(s.photo)} at {w}$\\times${h} px, {mf.tex(mf.style_label(s.style))}; {s.iters} L-BFGS "
             f"iterations from the photo, content weight 1, style weight {mf.num(DEFAULT_STYLE_WEIGHTS['gram'])} (Gram) "
             f"and {mf.num(DEFAULT_STYLE_WEIGHTS['wasserstein'])} ($W_2$), "
             f"layers relu1\\_1--relu5\\_1; each result scored by both style losses at those weights. Statistics "
             f"mismatch: mean absolute difference of the {mf.tex(s.layer)} channel means plus that of the channel "
             f"standard deviations, result against painting."),
        note(_clip_note(s, w2["n"], w2["fps"], w2["clip_hw"]) + " Per-frame: every frame from its content, "
             f"{s.clip_iters} iterations."),
        note(f"{mf.tex(device_long)}; PyTorch {mf.tex(torch.__version__)}, \\vstlib{{}} {mf.tex(__version__)}"
             f"{'; smoke settings (not meaningful)' if s.smoke else ''}."),
        r"\bottomrule",
        r"\end{tabular*}",
        "",
    ]
    return "\n".join(lines)


def _nearer(value: float, reference: float, words: tuple[str, str, str]) -> str:
    """One of ``words`` (below, within 0.1 % of, above ``reference``) for a sentence of the report that
    follows the measurement: the evaluation section's :func:`figures_evaluation.word`, at 0.1 %.

    >>> _nearer(1.0, 2.0, ("lower", "equal", "higher")), _nearer(2.0, 2.0001, ("lower", "equal", "higher"))
    ('lower', 'equal')
    """
    from figures_evaluation import word  # beside this file (make_figures puts the folder on sys.path)

    return dict(zip(("lower", "equal", "higher"), words))[word(value / reference, tolerance=1e-3)]


def w2_numbers_tex(s: StyleColorSettings, w2: dict, device_short: str) -> str:
    mf = _mf()
    h, w = w2["hw"]
    e = {name: w2["errors"][name].summary()["warping_error"] for name in W2_CLIP_RUNS}
    macros = {
        "WtwoSize": f"{w}$\\times${h}",
        "WtwoIters": str(s.iters),
        "WtwoMsGram": mf.num(1e3 * w2["per_iter"]["Gram"]),
        "WtwoMsWtwo": mf.num(1e3 * w2["per_iter"]["W2"]),
        "WtwoTimeRatio": mf.num(w2["per_iter"]["W2"] / max(w2["per_iter"]["Gram"], 1e-30)),
        "WtwoMismatchGram": mf.num(w2["mismatch"]["Gram"]),
        "WtwoMismatchWtwo": mf.num(w2["mismatch"]["W2"]),
        "WtwoGramOfGram": mf.sci(w2["cross"]["Gram"]["Gram"]),
        "WtwoGramOfWtwo": mf.sci(w2["cross"]["Gram"]["W2"]),
        "WtwoWtwoOfGram": mf.sci(w2["cross"]["W2"]["Gram"], 4),
        "WtwoWtwoOfWtwo": mf.sci(w2["cross"]["W2"]["W2"], 4),
        # The prose's comparisons, from the numbers (a run may well contradict the expectation).
        "WtwoByWtwoWord": _nearer(w2["cross"]["W2"]["W2"], w2["cross"]["W2"]["Gram"],
                                  ("nearer", "no nearer than the Gram result to", "farther from")),
        "WtwoStatsWord": _nearer(w2["mismatch"]["W2"], w2["mismatch"]["Gram"],
                                 ("lie closer to", "lie as close to", "lie farther from")),
        "WtwoEwarpPerFrame": mf.num(e["per-frame W2"]),
        "WtwoEwarpRuder": mf.num(e["Ruder + W2"]),
        "WtwoEwarpRuderGram": mf.num(e["Ruder + Gram"]),
        "WtwoRuderRatio": mf.num(e["Ruder + W2"] / max(e["per-frame W2"], 1e-30)),
        "WtwoVsGram": mf.num(e["Ruder + W2"] / max(e["Ruder + Gram"], 1e-30)),
        "WtwoDevice": mf.tex(device_short),
        "WtwoSmokeNote": r" \emph{(smoke settings: these numbers are not meaningful)}" if s.smoke else "",
    }
    return mf.macros_tex(macros)


def make_wasserstein(s: StyleColorSettings, device, out: Path) -> None:
    mf = _mf()
    short, long = mf.describe_device(device)
    w2 = run_w2(s, device)
    mf.save_figure(figure_w2_images(w2), out / "w2_images.png", dpi=150)
    mf.save_figure(figure_w2_stats(w2, s), out / "w2_stats.pdf")
    mf.save_figure(figure_flicker(w2["errors"], W2_CLIP_RUNS, w2["fps"]), out / "w2_flicker.pdf")
    mf.write_text(out / "w2_table.tex", w2_table_tex(s, w2, long))
    mf.write_text(out / "w2_numbers.tex", w2_numbers_tex(s, w2, short))
    mf.log(f"wrote {', '.join(str(out / name) for name in W2_FILES)}")


# ------------------------------------------------------------------------------------------
# Colour preservation
# ------------------------------------------------------------------------------------------


def run_color(s: StyleColorSettings, device) -> dict:
    import tempfile

    import torch
    from vstlib import color, flow, metrics
    from vstlib.data import fetch
    from vstlib.gatys import GatysConfig, GatysStylizer, load_style
    from vstlib.ruder import RuderConfig, needed_pairs

    mf = _mf()
    photo = _photo(s, device)
    style = load_style(fetch(s.style))
    h, w = photo.shape[-2:]
    mf.log(f"[color 1/2] {s.photo} {w}x{h}, {Path(s.style).stem}: none, luminance, histogram, {s.iters} iterations")
    images, plans = {}, {}
    for mode in MODES:
        torch.manual_seed(s.seed)
        plan = color.prepare(style, photo, mode)
        with mf.Progress(s.iters, mode) as bar:
            result = GatysStylizer(plan.style, GatysConfig(iters=s.iters, seed=s.seed), device=device)(
                plan.content(photo), progress=bar)
        images[mode], plans[mode] = plan.finish(result.image, photo).cpu(), plan
    photo_stats = color.color_stats(photo)

    def distance(image):
        st = color.color_stats(image)
        return float((st.mean - photo_stats.mean.cpu()).norm() + (st.cov - photo_stats.cov.cpu()).norm())

    dist = {mode: distance(img) for mode, img in images.items()}
    lum = images["luminance"]
    inside = ((lum > 0) & (lum < 1)).all(dim=1)
    chroma_err = float((color.rgb_to_yiq(lum)[:, 1:] - color.rgb_to_yiq(photo.cpu())[:, 1:]).abs().amax(dim=1)[inside].max())

    frames_u8, frames, fps = _clip(s, device)
    fh, fw = frames_u8[0].shape[:2]
    mf.log(f"[color 2/2] clip {Path(s.clip).name}: {len(frames)} frames, {fw}x{fh}; Ruder with each colour mode")
    ruder = RuderConfig(gatys=GatysConfig(iters=s.clip_iters, seed=s.seed), frame_iters=s.frame_iters)
    clip_stats = color.color_stats(frames_u8)
    per_frame_styles = [color.match_color(style, f.cpu()) for f in frames]
    style_change = float(np.mean([(b - a).abs().mean() for a, b in zip(per_frame_styles, per_frame_styles[1:])]))
    outputs, seconds = {}, {}
    with tempfile.TemporaryDirectory(prefix="vstlib-figures-flow-") as cache:
        flows = flow.compute_flows(frames_u8, needed_pairs(len(frames), ruder), cache_dir=cache, progress=False)
        for mode in MODES:
            torch.manual_seed(s.seed)
            t0 = time.perf_counter()
            plan = color.prepare(style, clip_stats, mode)
            raw = _stylize_clip([plan.content(f) for f in frames], plan.style, ruder, flows, device, f"ruder {mode}")
            outputs[mode] = [plan.finish(o, f.cpu()) for o, f in zip(raw, frames)]
            seconds[mode] = time.perf_counter() - t0
        errors = {mode: metrics.temporal_errors(frames_u8, out, cache_dir=cache) for mode, out in outputs.items()}
    for mode in MODES:
        mf.log(f"      {mode:10} E_warp {errors[mode].summary()['warping_error']:.5f}, {seconds[mode]:.1f} s, "
               f"colour distance (image) {dist[mode]:.3f}")
    return {"photo": photo.cpu(), "style": style, "recoloured": plans["histogram"].style.cpu(), "images": images,
            "distance": dist, "chroma_err": chroma_err, "hw": (h, w), "clip_hw": (fh, fw), "fps": fps,
            "n": len(frames), "errors": errors, "seconds": seconds, "style_change": style_change,
            "frame": frames[len(frames) // 2].cpu(), "mid": {m: o[len(o) // 2] for m, o in outputs.items()}}


def figure_color_images(c: dict):
    from vstlib.plotting import show_images

    fig = show_images([c["photo"], c["style"], c["recoloured"]] + [c["images"][m] for m in MODES],
                      ["photo", "painting", "painting, recoloured", "plain", "luminance only", "histogram matched"],
                      ncols=3, size=2.0)
    _mf()._titles(fig, 12)
    return fig


def color_table_tex(s: StyleColorSettings, c: dict, device_long: str) -> str:
    import torch
    from vstlib import __version__

    mf = _mf()
    h, w = c["hw"]
    e = {m: c["errors"][m].summary()["warping_error"] for m in MODES}
    note = mf.table_note(5)
    names = {"none": "None", "luminance": "Luminance only", "histogram": "Histogram matching"}
    lines = [
        mf.GENERATED,
        r"\begin{tabular*}{\linewidth}{@{\extracolsep{\fill}}lrrrr@{}}",
        r"\toprule",
        r"Colour preservation & Colour distance (image) & $E_{warp}$ (clip) & Ratio & Seconds (clip) \\",
        r"\midrule",
        *(" & ".join([names[m], mf.num(c["distance"][m]), mf.sci(e[m]), mf.num(e[m] / max(e["none"], 1e-30)),
                      mf.num(c["seconds"][m])]) + r" \\" for m in MODES),
        r"\midrule",
        note(f"Image: {mf.tex(s.photo)} at {w}$\\times${h} px, {mf.tex(mf.style_label(s.style))}, Gatys with "
             f"{s.iters} L-BFGS iterations, default weights. Colour distance: $\\lVert\\mu - \\mu_c\\rVert + "
             f"\\lVert\\Sigma - \\Sigma_c\\rVert_F$ between the RGB mean and covariance of the result and of the photo."),
        note(_clip_note(s, c["n"], c["fps"], c["clip_hw"]) + " Colour statistics pooled over the clip; seconds "
             "include the colour work."),
        note(f"{mf.tex(device_long)}; PyTorch {mf.tex(torch.__version__)}, \\vstlib{{}} {mf.tex(__version__)}"
             f"{'; smoke settings (not meaningful)' if s.smoke else ''}."),
        r"\bottomrule",
        r"\end{tabular*}",
        "",
    ]
    return "\n".join(lines)


def color_numbers_tex(s: StyleColorSettings, c: dict, device_short: str) -> str:
    mf = _mf()
    e = {m: c["errors"][m].summary()["warping_error"] for m in MODES}
    macros = {
        "ColorDistNone": mf.num(c["distance"]["none"]),
        "ColorDistLum": mf.num(c["distance"]["luminance"]),
        "ColorDistHist": mf.num(c["distance"]["histogram"]),
        "ColorChromaErr": mf.sci(c["chroma_err"]),
        "ColorEwarpNone": mf.num(e["none"]),
        "ColorEwarpLum": mf.num(e["luminance"]),
        "ColorEwarpHist": mf.num(e["histogram"]),
        "ColorRatioLum": mf.num(e["luminance"] / max(e["none"], 1e-30)),
        "ColorRatioHist": mf.num(e["histogram"] / max(e["none"], 1e-30)),
        "ColorStyleChange": mf.num(c["style_change"]),
        "ColorDevice": mf.tex(device_short),
        "ColorSmokeNote": r" \emph{(smoke settings: these numbers are not meaningful)}" if s.smoke else "",
    }
    return mf.macros_tex(macros)


def make_color(s: StyleColorSettings, device, out: Path) -> None:
    mf = _mf()
    short, long = mf.describe_device(device)
    c = run_color(s, device)
    mf.save_figure(figure_color_images(c), out / "color_images.png", dpi=150)
    mf.save_figure(figure_flicker(c["errors"], MODES, c["fps"]), out / "color_flicker.pdf")
    mf.write_text(out / "color_table.tex", color_table_tex(s, c, long))
    mf.write_text(out / "color_numbers.tex", color_numbers_tex(s, c, short))
    mf.log(f"wrote {', '.join(str(out / name) for name in COLOR_FILES)}")
