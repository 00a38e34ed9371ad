#!/usr/bin/env python
"""Wasserstein style loss and colour preservation: speed and flicker.

    python benchmarks/bench_style_color.py            # 256 px speed + one clip (about 30 min on 2 cores)
    python benchmarks/bench_style_color.py --quick    # smoke run: 64 px, 4 frames (about 1 min)
    python benchmarks/bench_style_color.py --no-video # the speed part only (about 2 min)

1. **W2 versus Gram, time per iteration** (target: W2 within 1.5x of Gram at 256 px). chelsea
   resized to 256 px on its longer side (256x170), The Starry Night at the same pixel count,
   default layers and weights. Two measurements, each ratio from one run:

   * *evaluation*: one objective evaluation with its gradient (VGG19 to relu5_1 forward and
     backward, content + style), Gram and W2 alternating, median of ``--repeats`` after warm-up;
   * *engine*: ``--steps`` L-BFGS iterations of each through vstlib's optimization engine (the
     numbers a user sees), median time per iteration.

   Also the style loss alone on fixed features (forward and backward), and float64 ``eigh`` of a
   512x512 matrix (the per-step cost that W2 adds at relu4_1 and relu5_1).

2. **Colour preservation on a clip** (targets: < 5 % more time per frame, E_warp raised by
   < 5 %). Frames of ``video/sintel_640x360_10s.mp4`` (cut-free from frame 10, every 2nd),
   stylized file to file by :func:`vstlib.stylize_video` with ``preserve_color`` none,
   luminance and histogram, for per-frame Gatys and for Ruder et al. The optical flows are
   computed once beforehand (cached on disk), so every Ruder run pays the same (nothing) for them.
   For each run: wall time, and E_warp (Lai et al., DeepFlow on the input frames) of the finished
   frames in float, before H.264 encoding (the stylizer's cached outputs, finished exactly as
   the video writer does). The colour work is also timed on its own (statistics pass over the
   clip, style preparation, per-frame greying and recombination), which is the precise
   overhead; the wall-clock ratio is the end-to-end check.

3. **W2 with the temporal constraint**: Ruder with the Wasserstein style loss on the same clip,
   E_warp against Ruder with Gram (and against per-frame W2, with ``--w2-per-frame``).

Prints the tables and writes ``results.json`` and ``results.md`` to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
if "VSTLIB_DATA_DIR" not in os.environ and (REPO.parent / "shared" / "data" / "registry.tsv").is_file():
    os.environ["VSTLIB_DATA_DIR"] = str(REPO.parent / "shared" / "data")  # as the Makefile does

from vstlib import color  # noqa: E402
from vstlib import data as vdata  # noqa: E402
from vstlib.engine import optimize_image  # noqa: E402
from vstlib.flow import compute_flows  # noqa: E402
from vstlib.gatys import GatysConfig, GatysStylizer, load_style, resize  # noqa: E402
from vstlib.io import probe_video, read_frames, to_tensor  # noqa: E402
from vstlib.metrics import temporal_errors  # noqa: E402
from vstlib.ruder import RuderConfig, needed_pairs  # noqa: E402
from vstlib.utils import pick_device  # noqa: E402
from vstlib.video import stylize_video  # noqa: E402

# Cut-free stretches (first frame), as in bench_temporal.py: sintel frames 10..57, tears_of_steel 72..119.
CLIPS = {"sintel": ("video/sintel_640x360_10s.mp4", 10), "tears_of_steel": ("video/tears_of_steel_640x360_10s.mp4", 72)}
MODES = ("none", "luminance", "histogram")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="smoke run: 64 px, few steps and frames")
    p.add_argument("--size", type=int, default=256, help="speed part: content longer side, px (default 256)")
    p.add_argument("--repeats", type=int, default=15, help="speed part: evaluations per loss (default 15)")
    p.add_argument("--steps", type=int, default=40, help="speed part: engine iterations per loss (default 40)")
    p.add_argument("--no-video", action="store_true", help="skip parts 2 and 3")
    p.add_argument("--no-speed", action="store_true", help="skip part 1")
    p.add_argument("--no-w2-video", action="store_true", help="skip part 3")
    p.add_argument("--clip", choices=tuple(CLIPS), default="sintel", help="clip of parts 2 and 3 (default sintel)")
    p.add_argument("--from-json", type=Path, metavar="FILE",
                   help="print the report of an earlier run's results.json instead of running")
    p.add_argument("--frames", type=int, default=12, help="clip frames (default 12: 1 s at 12 fps)")
    p.add_argument("--every", type=int, default=2, help="keep every n-th frame (default 2)")
    p.add_argument("--max-side", type=int, default=192, help="clip frame size, longer side (default 192)")
    p.add_argument("--iters", type=int, default=100, help="per-frame Gatys and first Ruder frame iterations (default 100)")
    p.add_argument("--frame-iters", type=int, default=None, help="later Ruder frames (default iters/3)")
    p.add_argument("--methods", default="gatys,ruder", help="comma-separated: gatys, ruder (default both)")
    p.add_argument("--w2-per-frame", action="store_true", help="also per-frame Gatys with the W2 loss")
    p.add_argument("--style", default="starry_night_vangogh")
    p.add_argument("--flow", default="deepflow")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    p.add_argument("--device", default=None, help="cpu, cuda, ... (default: the best available)")
    p.add_argument("--out", type=Path, default=REPO / "benchmarks" / "out" / "style_color")
    args = p.parse_args(argv)
    if args.quick:
        args.size, args.repeats, args.steps = 64, 3, 3
        args.frames, args.max_side, args.iters = 4, 64, 6
    args.frame_iters = args.frame_iters or max(1, args.iters // 3)
    return args


def machine(dev) -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    gpu = f", GPU {torch.cuda.get_device_name(dev)}" if dev.type == "cuda" else ""
    return f"{cpu}, {os.cpu_count()} cores, torch {torch.__version__} ({torch.get_num_threads()} threads){gpu}"


def sync(dev) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


# ------------------------------------------------------------------------------------------
# 1. Speed
# ------------------------------------------------------------------------------------------


def speed(args, dev) -> dict:
    content = resize(to_tensor(vdata.content_photo("chelsea")), _fit(vdata.content_photo("chelsea").shape[:2], args.size))
    content = content.to(dev)
    style = load_style(vdata.resolve(args.style, "style"))
    stylizers = {kind: GatysStylizer(style, GatysConfig(style_loss=kind), device=dev) for kind in ("gram", "wasserstein")}
    for st in stylizers.values():
        st.set_content(content)
    h, w = content.shape[-2:]
    print(f"\n== speed: {w}x{h}, {args.style}, default layers and weights, device {dev}")

    # a. one evaluation with its gradient, alternating
    x = content.clone().requires_grad_(True)
    evals = {k: [] for k in stylizers}
    for r in range(args.repeats + 2):
        for kind, st in stylizers.items():
            sync(dev)
            t0 = time.perf_counter()
            st.objective(x).backward()
            sync(dev)
            if r >= 2:  # warm-up
                evals[kind].append(time.perf_counter() - t0)
            x.grad = None
    # b. the style loss alone, on fixed features
    alone = {k: [] for k in stylizers}
    with torch.no_grad():
        feats = stylizers["gram"].objective.features(content)
    for r in range(args.repeats + 2):
        for kind, st in stylizers.items():
            f = {k: v.detach().clone().requires_grad_(True) for k, v in feats.items() if k in st.style_loss.layers}
            sync(dev)
            t0 = time.perf_counter()
            st.style_loss(f, content).backward()
            sync(dev)
            if r >= 2:
                alone[kind].append(time.perf_counter() - t0)
    # c. the engine
    engine = {}
    for kind, st in stylizers.items():
        res = optimize_image(st.objective, content, iters=args.steps)
        steps = np.diff([0.0] + res.times)
        engine[kind] = {"median": float(np.median(steps[1:])), "total": res.times[-1], "final_loss": res.losses[-1]}
    # d. eigh float64 512x512 (relu4_1 and relu5_1 have 512 channels)
    m = torch.randn(512, 512, dtype=torch.float64, device=dev)
    m = m @ m.T
    eig = []
    for _ in range(5):
        sync(dev)
        t0 = time.perf_counter()
        torch.linalg.eigh(m)
        sync(dev)
        eig.append(time.perf_counter() - t0)

    med = {k: statistics.median(v) for k, v in evals.items()}
    med_alone = {k: statistics.median(v) for k, v in alone.items()}
    out = {
        "size": [w, h],
        "evaluation_ms": {k: 1e3 * v for k, v in med.items()},
        "evaluation_ratio": med["wasserstein"] / med["gram"],
        "style_loss_alone_ms": {k: 1e3 * v for k, v in med_alone.items()},
        "engine_ms_per_iter": {k: 1e3 * v["median"] for k, v in engine.items()},
        "engine_ratio": engine["wasserstein"]["median"] / engine["gram"]["median"],
        "engine_steps": args.steps,
        "eigh64_512_ms": 1e3 * statistics.median(eig),
    }
    print(f"  one evaluation + gradient (median of {args.repeats}): Gram {out['evaluation_ms']['gram']:.1f} ms, "
          f"W2 {out['evaluation_ms']['wasserstein']:.1f} ms  -> W2 / Gram = {out['evaluation_ratio']:.2f}x (target <= 1.5)")
    print(f"  engine, {args.steps} L-BFGS iterations (median per iteration): Gram {out['engine_ms_per_iter']['gram']:.1f} ms, "
          f"W2 {out['engine_ms_per_iter']['wasserstein']:.1f} ms  -> {out['engine_ratio']:.2f}x")
    print(f"  style loss alone, forward + backward on fixed features: Gram {out['style_loss_alone_ms']['gram']:.1f} ms, "
          f"W2 {out['style_loss_alone_ms']['wasserstein']:.1f} ms; float64 eigh 512x512: {out['eigh64_512_ms']:.1f} ms")
    return out


def _fit(hw, side):
    h, w = hw
    s = side / max(h, w)
    return max(16, round(h * s)), max(16, round(w * s))


# ------------------------------------------------------------------------------------------
# 2./3. Colour preservation and W2 on a clip
# ------------------------------------------------------------------------------------------


class Keep:
    """A post step of the runner: keeps each finished frame in float (after colour preservation,
    before H.264): what E_warp is computed on."""

    def __init__(self):
        self.frames: list[torch.Tensor] = []

    def __call__(self, image, item):
        self.frames.append(image.detach().cpu().clone())
        return image


def colour_overhead(video: Path, style: torch.Tensor, mode: str, read) -> float:
    """Seconds of the colour work alone over the clip, as stylize_video does it."""
    t0 = time.perf_counter()
    if mode == "none":
        return 0.0
    plan = color.prepare(style, color.color_stats(read()), mode)
    for frame in read():
        c = to_tensor(frame)
        plan.finish(plan.content(c), c)  # greying in, recombining out (identity for histogram)
    return time.perf_counter() - t0


def video_runs(args, dev) -> dict:
    clip_name, clip_start = CLIPS[args.clip]
    video = vdata.fetch(clip_name)
    info = probe_video(video)
    end = clip_start + args.frames * args.every
    start_s, duration = clip_start / info.fps, (end - clip_start) / info.fps
    frames_u8 = list(read_frames(video, max_side=args.max_side, start=clip_start, end=end, step=args.every))
    h, w = frames_u8[0].shape[:2]
    style_path = vdata.resolve(args.style, "style")
    style = load_style(style_path)
    print(f"\n== clip {Path(clip_name).name}: frames {clip_start}..{end - 1} every {args.every} ({len(frames_u8)} frames, "
          f"{w}x{h}), {args.style}, {args.iters} iterations (Ruder later frames {args.frame_iters})")

    gatys_cfg = GatysConfig(iters=args.iters)
    ruder_cfg = RuderConfig(gatys=gatys_cfg, frame_iters=args.frame_iters, flow=args.flow)
    t0 = time.perf_counter()
    compute_flows(frames_u8, needed_pairs(len(frames_u8), ruder_cfg), method=args.flow, progress=False)
    print(f"  flows for the clip computed once and cached: {time.perf_counter() - t0:.1f} s")

    runs = []
    for method in args.methods.split(","):
        for mode in MODES:
            runs.append((method, mode, "gram"))
    if "ruder" in args.methods and not args.no_w2_video:
        runs.append(("ruder", "none", "wasserstein"))
    if args.w2_per_frame:
        runs.append(("gatys", "none", "wasserstein"))

    def read():
        return read_frames(video, max_side=args.max_side, start=clip_start, end=end, step=args.every)

    results = {}
    work = args.out / "runs"
    work.mkdir(parents=True, exist_ok=True)
    for method, mode, loss in runs:
        name = f"{method}/{mode}/{loss}"
        g = gatys_cfg.replace(style_loss=loss)
        config = g if method == "gatys" else ruder_cfg.replace(gatys=g)
        out_file = work / f"{name.replace('/', '_')}.mp4"
        out_file.unlink(missing_ok=True)
        keep = Keep()
        t0 = time.perf_counter()
        res = stylize_video(video, style_path, out_file, method, config, max_side=args.max_side, start=start_s,
                            duration=duration, every=args.every, device=str(dev), progress=False,
                            preserve_color=mode, post_steps=[keep])
        wall = time.perf_counter() - t0
        finished = keep.frames
        errors = temporal_errors(frames_u8, finished, flow=args.flow).summary()
        overhead = colour_overhead(video, style, mode, read)
        results[name] = {"wall_s": wall, "n_frames": res.n_frames, "sec_per_frame": wall / res.n_frames,
                         "optimization_s": float(sum(res.seconds_per_frame)), "colour_s": overhead, **errors}
        print(f"  {name:30s} {wall:7.1f} s ({wall / res.n_frames:5.2f} s/frame)  E_warp {errors['warping_error']:.5f}"
              f"  colour work {overhead:.2f} s", flush=True)
    return {"clip": clip_name, "first_frame": clip_start, "frames": len(frames_u8), "size": [w, h], "iters": args.iters,
            "frame_iters": args.frame_iters, "runs": results}


def report(sp: dict | None, vid: dict | None, args, dev) -> str:
    lines = [f"Machine: {machine(dev)}. Command: `python benchmarks/bench_style_color.py "
             f"{' '.join(sys.argv[1:])}`.", ""]
    if sp:
        w, h = sp["size"]
        lines += [f"**W2 vs Gram, {w}x{h}** (target: W2 time per iteration within 1.5x of Gram)", "",
                  "| measurement | Gram | W2 | W2 / Gram |", "|---|---|---|---|",
                  f"| one evaluation + gradient, median of {args.repeats} (ms) | {sp['evaluation_ms']['gram']:.1f} | "
                  f"{sp['evaluation_ms']['wasserstein']:.1f} | **{sp['evaluation_ratio']:.2f}x** |",
                  f"| engine, {sp['engine_steps']} L-BFGS iterations, median per iteration (ms) | "
                  f"{sp['engine_ms_per_iter']['gram']:.1f} | {sp['engine_ms_per_iter']['wasserstein']:.1f} | "
                  f"**{sp['engine_ratio']:.2f}x** |",
                  f"| style loss alone, forward + backward on fixed features (ms) | {sp['style_loss_alone_ms']['gram']:.1f} | "
                  f"{sp['style_loss_alone_ms']['wasserstein']:.1f} | |",
                  f"| float64 eigh of a 512x512 matrix (ms) | | {sp['eigh64_512_ms']:.1f} | |", ""]
    if vid:
        w, h = vid["size"]
        lines += [f"**Colour preservation on {Path(vid['clip']).name}** (from frame {vid.get('first_frame', 10)}, every "
                  f"{args.every}), {vid['frames']} frames at {w}x{h}, "
                  f"{vid['iters']} iterations per Gatys frame (Ruder: later frames {vid['frame_iters']}); ratios to "
                  "the same method without colour preservation (targets: time < 1.05x, E_warp < 1.05x)", "",
                  "| method | colour | style loss | wall (s) | optimizer (s) | rest (s) | wall ratio | added time / wall "
                  "| colour work (s) | colour work / wall | E_warp | E_warp ratio |",
                  "|---|---|---|---|---|---|---|---|---|---|---|---|"]
        runs = vid["runs"]
        for name, r in runs.items():
            method, mode, loss = name.split("/")
            base = runs.get(f"{method}/none/{loss}") or runs.get(f"{method}/none/gram")
            rest, base_rest = r["wall_s"] - r["optimization_s"], base["wall_s"] - base["optimization_s"]
            lines.append(f"| {method} | {mode} | {loss} | {r['wall_s']:.1f} | {r['optimization_s']:.1f} | {rest:.2f} | "
                         f"{r['wall_s'] / base['wall_s']:.3f} | {(rest - base_rest) / r['wall_s']:+.2%} | "
                         f"{r['colour_s']:.2f} | {r['colour_s'] / r['wall_s']:.2%} | "
                         f"{r['warping_error']:.5f} | {r['warping_error'] / base['warping_error']:.3f} |")
        lines += ["", "*optimizer*: the stylizer's own time (the same iterations at the same size in every mode); "
                  "*rest*: everything else (decoding, statistics, colour conversions, writing); *added time*: rest "
                  "minus rest without colour preservation, over the wall time; *colour work*: the colour steps "
                  "alone, timed separately. The wall ratio also carries the machine's run-to-run speed variation, "
                  "which shows in the optimizer column."]
        if "ruder/none/wasserstein" in runs and "ruder/none/gram" in runs:
            rw, rg = runs["ruder/none/wasserstein"], runs["ruder/none/gram"]
            lines += ["", f"W2 with the temporal constraint: E_warp {rw['warping_error']:.5f} vs Gram + temporal "
                          f"{rg['warping_error']:.5f} (W2 / Gram = {rw['warping_error'] / rg['warping_error']:.2f}x)"]
            if "gatys/none/wasserstein" in runs:
                pw = runs["gatys/none/wasserstein"]
                lines.append(f"; per-frame W2 {pw['warping_error']:.5f} (Ruder W2 / per-frame W2 = "
                             f"{rw['warping_error'] / pw['warping_error']:.3f}x)")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.from_json:
        saved = json.loads(args.from_json.read_text())
        print(report(saved["speed"], saved["video"], args, pick_device("cpu")).replace(
            f"Machine: {machine(pick_device('cpu'))}", f"Machine: {saved['machine']}"))
        return 0
    if args.threads:
        torch.set_num_threads(args.threads)
    dev = pick_device(args.device)
    args.out.mkdir(parents=True, exist_ok=True)
    print(f"bench_style_color: {machine(dev)}")
    t0 = time.perf_counter()
    sp = None if args.no_speed else speed(args, dev)
    vid = None if args.no_video else video_runs(args, dev)
    text = report(sp, vid, args, dev)
    (args.out / "results.json").write_text(json.dumps({"speed": sp, "video": vid, "machine": machine(dev)}, indent=1))
    (args.out / "results.md").write_text(text)
    print("\n" + text)
    from run_all import write_fragment  # benchmarks/ is on sys.path when a script runs

    write_fragment("style_color", text, quick=args.quick)
    print(f"done in {time.perf_counter() - t0:.0f} s; wrote {args.out / 'results.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
