"""The report's Johnson section (``make_figures.py --only johnson``): the shipped networks on a
held-aside frame against Gatys, their training curves, and a speed table measured on the machine
that runs it (the computations of notebooks/03_johnson_fast.ipynb and benchmarks/bench_johnson.py).

    johnson_images.png   held-aside frame | each shipped network | Gatys at the same weights
    johnson_loss.pdf     training loss (style and content terms) of each shipped network
    johnson_table.tex    bare booktabs tabular: style loss network vs Gatys; speed model-only and end to end
    johnson_numbers.tex  the \\Johnson... macros quoted in the text
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

JOHNSON_FILES = ("johnson_images.png", "johnson_loss.pdf", "johnson_table.tex", "johnson_numbers.tex")


@dataclass(frozen=True)
class JohnsonSettings:
    smoke: bool
    quality_side: int = 384  # longer side of the held-aside frame
    gatys_iters: int = 200  # cut from 300 so make figures fits 90 min on a CPU
    speed_size: tuple[int, int] = (360, 640)  # (H, W) of the model-only timing
    batch: int = 4
    repeats: int = 5
    clip: str = "video/bbb_adain_640x360_10s.mp4"
    clip_seconds: float = 4.0


JOHNSON_FULL = JohnsonSettings(smoke=False)
JOHNSON_SMOKE = JohnsonSettings(smoke=True, quality_side=64, gatys_iters=5, speed_size=(36, 64), batch=2, repeats=2,
                                clip_seconds=0.25)


def _mf():
    import make_figures

    return make_figures


def run_johnson(s: JohnsonSettings, device, workdir: Path) -> dict:
    import torch
    from vstlib import data, io, johnson
    from vstlib.gatys import GatysStylizer, load_style
    from vstlib.transformer_net import TransformerNet, flops_per_frame
    from vstlib.video import stylize_video

    mf = _mf()
    frame = io.to_tensor(johnson.holdout_frame(max_side=s.quality_side)).to(device)
    h, w = frame.shape[-2:]
    models = johnson.shipped_models()
    mf.log(f"[johnson 1/2] held-aside frame {w}x{h}: {', '.join(models)} against Gatys ({s.gatys_iters} iterations)")
    quality = {}
    gatys_cache = {}
    for name in models:
        info = johnson.model_info(name)
        cfg = johnson.model_train_config(name)
        style = load_style(data.resolve(info["info"].get("style", name), "style"))
        net_out = johnson.stylize_image(frame, johnson.load_model(name, device))
        gcfg = johnson.gatys_config_like(cfg, iters=s.gatys_iters)
        key = (info["info"].get("style", name), repr(gcfg))  # the width-16 model shares its style
        if key not in gatys_cache:
            with mf.Progress(s.gatys_iters, f"gatys {name}") as bar:
                gatys_cache[key] = GatysStylizer(style, gcfg, device=device)(frame, progress=bar).image
        gatys = gatys_cache[key]
        net_loss, gatys_loss = johnson.gram_style_loss([net_out, gatys], style, cfg, device)
        quality[name] = {"net": net_out.cpu(), "gatys": gatys.cpu(), "net_loss": net_loss, "gatys_loss": gatys_loss,
                         "ratio": net_loss / gatys_loss, "width": info["net_config"]["width"], "cfg": cfg,
                         "steps": info["info"].get("steps"), "losses": info["info"].get("losses", {}),
                         "device": info["info"].get("device", "?")}
        mf.log(f"      {name:28} style loss network {net_loss:.4g}, Gatys {gatys_loss:.4g} ({net_loss / gatys_loss:.2f}x)")

    hs, ws = s.speed_size
    mf.log(f"[johnson 2/2] speed: {ws}x{hs}, batch {s.batch}, model only; then {s.clip_seconds:g} s of "
           f"{Path(s.clip).name} end to end")
    x = torch.rand(s.batch, 3, hs, ws, device=device)
    speed = {}
    for width in (32, 16):
        net = TransformerNet("instance", width).to(device).eval()
        inference = johnson.JohnsonInference()
        fast = johnson.prepare_model(net, inference, device)  # a copy: folded upsampling, layout for the device
        amp = inference.resolved_amp(device)
        x_in = x.contiguous(memory_format=torch.channels_last) if inference.resolved_channels_last(device) else x

        def ref(net=net):
            with torch.no_grad():
                net(x)

        def ours(fast=fast, amp=amp):
            johnson.stylize_batch(fast, x_in, amp)

        flops = flops_per_frame(net, hs, ws)
        for label, fn in (("reference", ref), ("vstlib", ours)):
            fn()
            fn()
            times = []
            for _ in range(s.repeats):
                if device.type == "cuda":
                    torch.cuda.synchronize(device)
                t0 = time.perf_counter()
                fn()
                if device.type == "cuda":
                    torch.cuda.synchronize(device)
                times.append(time.perf_counter() - t0)
            fps = s.batch / statistics.median(times)
            speed[(width, label)] = {"fps": fps, "tflops": fps * flops / 1e12, "gflop": flops / 1e9}
    clip = data.fetch(s.clip)
    t0 = time.perf_counter()
    res = stylize_video(clip, None, workdir / "johnson_e2e.mp4", "johnson",
                        johnson.JohnsonInference(model=models[0], batch=s.batch), size=(hs, ws),
                        duration=s.clip_seconds, device=str(device), progress=False)
    e2e_fps = res.n_frames / (time.perf_counter() - t0)
    for (width, label), v in speed.items():
        mf.log(f"      width {width} {label:9} {v['fps']:.2f} frames/s ({v['tflops']:.3f} TFLOP/s)")
    mf.log(f"      end to end {e2e_fps:.2f} frames/s ({res.n_frames} frames)")
    return {"frame": frame.cpu(), "hw": (h, w), "quality": quality, "speed": speed, "speed_hw": (hs, ws),
            "e2e_fps": e2e_fps, "e2e_frames": res.n_frames}


def _short(name: str) -> str:
    return name.replace("starry_night_vangogh", "starry").replace("udnie_picabia", "udnie").replace("_w16", " w16")


def figure_images(jd: dict):
    """One row per shipped network: the held-aside frame, the network's output, Gatys."""
    from vstlib.plotting import show_images

    images, titles = [], []
    for name, q in jd["quality"].items():
        images += [jd["frame"], q["net"], q["gatys"]]
        titles += ["held-aside frame", f"{name} (network)", "Gatys, same weights"]
    fig = show_images(images, titles, ncols=3, size=2.0)
    _mf()._titles(fig, 10)
    return fig


def figure_loss(jd: dict):
    """Style and content terms per step after the warm-up (pixel reconstruction, not shown)."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(3.3, 2.9))
    for i, (name, q) in enumerate(jd["quality"].items()):
        color = f"C{i}"
        for term, ls in (("style", "-"), ("content", "--")):
            values = np.asarray(q["losses"].get(term, []), dtype=float)
            start = int(np.argmax(values > 0)) if np.any(values > 0) else values.size
            values = values[start:]
            if values.size == 0:
                continue
            k = min(25, values.size)
            mean = np.convolve(values, np.ones(k) / k, mode="valid")
            ax.plot(start + np.arange(k, values.size + 1), mean, ls=ls, color=color, lw=1,
                    label=f"{_short(name)}: {term}")
    ax.set_yscale("log")
    ax.set_xlabel("training step")
    ax.set_ylabel("loss (running mean of 25)")
    ax.tick_params(labelsize=8)
    ax.xaxis.label.set_size(9)
    ax.yaxis.label.set_size(9)
    ax.legend(fontsize=6.5, frameon=False, ncol=2, loc="upper center", bbox_to_anchor=(0.5, -0.22))
    fig.tight_layout()
    return fig


def table_tex(s: JohnsonSettings, jd: dict, device_long: str) -> str:
    import torch
    from vstlib import __version__

    mf = _mf()
    h, w = jd["hw"]
    hs, ws = jd["speed_hw"]
    note = mf.table_note(5)
    rows = []
    for name, q in jd["quality"].items():
        rows.append(" & ".join([rf"\texttt{{{mf.tex(name)}}}", str(q["width"]), mf.sci(q["net_loss"]),
                                mf.sci(q["gatys_loss"]), mf.num(q["ratio"])]) + r" \\")
    speed_rows = []
    for width in (32, 16):
        ref, ours = jd["speed"][(width, "reference")], jd["speed"][(width, "vstlib")]
        speed_rows.append(" & ".join([f"Width {width}, model only", mf.num(ref["fps"]), mf.num(ours["fps"]),
                                      mf.num(ours["fps"] / ref["fps"]), mf.num(ours["tflops"], 2)]) + r" \\")
    ours32 = jd["speed"][(32, "vstlib")]["fps"]
    speed_rows.append(" & ".join(["Width 32, file to file", "--", mf.num(jd["e2e_fps"]),
                                  mf.num(jd["e2e_fps"] / ours32) + " of model", "--"]) + r" \\")
    lines = [
        mf.GENERATED,
        r"\begin{tabular*}{\linewidth}{@{\extracolsep{\fill}}lrrrr@{}}",
        r"\toprule",
        r"Shipped network & Width & Style loss, network & Style loss, Gatys & Ratio \\",
        r"\midrule",
        *rows,
        r"\midrule",
        r"Speed & Reference (fps) & \vstlib{} (fps) & Ratio & TFLOP/s \\",
        r"\midrule",
        *speed_rows,
        r"\midrule",
        note(f"Style loss: the training objective's style term (Gram, its layers and weights) of the network's "
             f"output and of a {s.gatys_iters}-iteration Gatys result at the same content and style weights, on a "
             f"held-aside {w}$\\times${h} frame (Tears of Steel, the last two seconds of which training never drew)."),
        note(f"Speed: {ws}$\\times${hs} frames, batch {s.batch}, median of {s.repeats}; reference = float32, NCHW, "
             f"\\texttt{{no\\_grad}}; \\vstlib{{}} = \\texttt{{inference\\_mode}}, folded upsampling; channels-last and "
             f"bfloat16 autocast on CUDA. File to file: {s.clip_seconds:g}\\,s of \\texttt{{{mf.tex(Path(s.clip).name)}}} decoded, "
             f"stylized and encoded with audio, in overlapping threads."),
        note(f"{mf.tex(device_long)}; PyTorch {mf.tex(torch.__version__)}, \\vstlib{{}} {mf.tex(__version__)}"
             f"{'; smoke settings (not meaningful)' if s.smoke else ''}."),
        r"\bottomrule",
        r"\end{tabular*}",
        "",
    ]
    return "\n".join(lines)


def numbers_tex(s: JohnsonSettings, jd: dict, device_short: str) -> str:
    mf = _mf()
    ratios = [q["ratio"] for q in jd["quality"].values()]
    ref, ours = jd["speed"][(32, "reference")], jd["speed"][(32, "vstlib")]
    macros = {
        "JohnsonModels": str(len(jd["quality"])),
        "JohnsonRatioMin": mf.num(min(ratios)) if ratios else "n/a",
        "JohnsonRatioMax": mf.num(max(ratios)) if ratios else "n/a",
        "JohnsonFpsRef": mf.num(ref["fps"]),
        "JohnsonFps": mf.num(ours["fps"]),
        "JohnsonSpeedup": mf.num(ours["fps"] / ref["fps"]),
        "JohnsonFpsHalf": mf.num(jd["speed"][(16, "vstlib")]["fps"]),
        "JohnsonEndToEnd": mf.num(jd["e2e_fps"]),
        "JohnsonEndToEndRatio": mf.num(jd["e2e_fps"] / ours["fps"]),
        "JohnsonGflop": mf.num(ours["gflop"]),
        "JohnsonSpeedSize": f"{jd['speed_hw'][1]}$\\times${jd['speed_hw'][0]}",
        "JohnsonDevice": mf.tex(device_short),
        "JohnsonSmokeNote": r" \emph{(smoke settings: these numbers are not meaningful)}" if s.smoke else "",
    }
    return mf.macros_tex(macros)


def make_johnson(s: JohnsonSettings, device, out: Path) -> None:
    import tempfile

    mf = _mf()
    short, long = mf.describe_device(device)
    with tempfile.TemporaryDirectory(prefix="vstlib-figures-johnson-") as work:
        jd = run_johnson(s, device, Path(work))
    mf.save_figure(figure_images(jd), out / "johnson_images.png", dpi=150)
    mf.save_figure(figure_loss(jd), out / "johnson_loss.pdf")
    mf.write_text(out / "johnson_table.tex", table_tex(s, jd, long))
    mf.write_text(out / "johnson_numbers.tex", numbers_tex(s, jd, short))
    mf.log(f"wrote {', '.join(str(out / name) for name in JOHNSON_FILES)}")
