#!/usr/bin/env python
"""Ruder et al. vs per-frame Gatys on real clips: flicker (E_warp), style loss, warm start.

    python benchmarks/bench_temporal.py            # both clips, 2 s at 12 fps, 256 px (about 40 min on 2 cores)
    python benchmarks/bench_temporal.py --quick    # smoke run: 4 frames at 64 px (about 1 min)

For each clip (``video/sintel_640x360_10s.mp4`` and ``video/tears_of_steel_640x360_10s.mp4``, a
cut-free stretch of each), at the same frame size, style and weights:

1. **Per-frame Gatys**: every frame optimized from its content for ``--iters`` iterations.
2. **Ruder**: the first frame as Gatys; each later frame from the warped previous output, with the
   short-term temporal loss, for ``--frame-iters`` iterations (default ``--iters`` / 3).
3. **Flicker**: Lai et al.'s E_warp (and Ruder's masked MSE, ReCoNet's luminance error) of both
   outputs, with DeepFlow and occlusion masks computed on the input frames; ratio Ruder / Gatys
   (target <= 0.25).
4. **Style**: the style loss of each output frame (the Gatys style term alone); ratio of the
   means Ruder / Gatys (target <= 1.25).
5. **Warm start**: for a few frames, the per-frame Gatys objective (no temporal term) optimized
   from the warped previous Ruder output: the first iteration whose loss is at or below the loss
   per-frame Gatys ends with, as a fraction of ``--iters`` (target <= 1/3).

Prints the tables and writes ``results.json`` and ``results.md`` to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
if "VSTLIB_DATA_DIR" not in os.environ and (REPO.parent / "shared" / "data" / "registry.tsv").is_file():
    os.environ["VSTLIB_DATA_DIR"] = str(REPO.parent / "shared" / "data")  # as the Makefile does

from vstlib import data as vdata  # noqa: E402
from vstlib.engine import optimize_image  # noqa: E402
from vstlib.flow import compute_flows  # noqa: E402
from vstlib.gatys import GatysConfig, GatysStylizer, load_style  # noqa: E402
from vstlib.io import probe_video, read_frames, save_image, to_tensor  # noqa: E402
from vstlib.metrics import temporal_errors  # noqa: E402
from vstlib.ruder import RuderConfig, RuderStylizer, needed_pairs, stylize_clip, warp_neighbour  # noqa: E402
from vstlib.utils import pick_device, progress_bar  # noqa: E402

# Cut-free stretches (start second) found from frame differences; both clips are 24 fps.
CLIPS = {"sintel": ("video/sintel_640x360_10s.mp4", 0.4), "tears_of_steel": ("video/tears_of_steel_640x360_10s.mp4", 3.0)}


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="smoke run: 4 frames at 64 px, 10 iterations")
    p.add_argument("--clips", default="sintel,tears_of_steel", help="comma-separated: sintel, tears_of_steel")
    p.add_argument("--seconds", type=float, default=2.0, help="length of each stretch (default 2)")
    p.add_argument("--every", type=int, default=2, help="keep every n-th frame (default 2: 12 fps)")
    p.add_argument("--max-side", type=int, default=256, help="frame size, longer side (default 256)")
    p.add_argument("--iters", type=int, default=150, help="per-frame Gatys iterations (default 150)")
    p.add_argument("--frame-iters", type=int, default=None, help="Ruder iterations after the first frame (default iters/3)")
    p.add_argument("--temporal-weight", type=float, default=RuderConfig().temporal_weight)
    p.add_argument("--style", default="starry_night_vangogh")
    p.add_argument("--flow", default="deepflow")
    p.add_argument("--warm-frames", type=int, default=3, help="frames on which warm start is measured")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    p.add_argument("--device", default=None, help="cpu, cuda, ... (default: the best available)")
    p.add_argument("--out", type=Path, default=REPO / "benchmarks" / "out" / "temporal")
    args = p.parse_args()
    if args.quick:
        args.seconds, args.every, args.max_side, args.iters, args.warm_frames = 4 / 12, 2, 64, 10, 1
    args.frame_iters = args.frame_iters or max(1, args.iters // 3)
    return args


def style_losses(stylizer: GatysStylizer, frames, outputs) -> list[float]:
    values = []
    for content, out in zip(frames, outputs):
        stylizer.set_content(content)
        values.append(stylizer.loss_parts(out)["style"])
    return values


def first_reaching(losses: list[float], target: float) -> int | None:
    for i, v in enumerate(losses, start=1):
        if v <= target:
            return i
    return None


def run_clip(name: str, args, style, out_dir: Path, dev) -> dict:
    path, start_s = CLIPS[name]
    video = vdata.fetch(path)
    info = probe_video(video)
    first = int(round(start_s * info.fps))
    end = first + int(round(args.seconds * info.fps))
    frames_u8 = list(read_frames(video, max_side=args.max_side, start=first, end=end, step=args.every))
    frames = [to_tensor(f).to(dev) for f in frames_u8]
    n = len(frames)
    h, w = frames_u8[0].shape[:2]
    print(f"\n== {name}: frames {first}..{end - 1} every {args.every} ({n} frames, {w}x{h}), style {args.style}")

    gatys_cfg = GatysConfig(iters=args.iters)
    ruder_cfg = RuderConfig(gatys=gatys_cfg, temporal_weight=args.temporal_weight, frame_iters=args.frame_iters,
                            flow=args.flow)

    t0 = time.perf_counter()
    flows = compute_flows(frames_u8, needed_pairs(n, ruder_cfg), method=args.flow)
    flow_s = time.perf_counter() - t0

    # 1. per-frame Gatys
    gatys = GatysStylizer(style, gatys_cfg, device=dev)
    g_out, g_final, g_curves = [], [], []
    t0 = time.perf_counter()
    for f in progress_bar(iterable=frames, desc=f"gatys {name}", unit="frame"):
        res = gatys(f)
        g_out.append(res.image)
        g_final.append(res.losses[-1])
        g_curves.append(res.losses)
    gatys_s = time.perf_counter() - t0

    # 2. Ruder
    ruder = RuderStylizer(style, ruder_cfg, device=dev)
    t0 = time.perf_counter()
    with progress_bar(total=n, desc=f"ruder {name}", unit="frame") as bar:
        clip = stylize_clip(frames, ruder, flows, progress=bar)
    ruder_s = time.perf_counter() - t0
    r_out = clip.frames

    # 3. flicker, 4. style
    errs = {k: temporal_errors(frames_u8, outs, flow=args.flow) for k, outs in (("gatys", g_out), ("ruder", r_out))}
    evaluator = GatysStylizer(style, gatys_cfg, device=dev)
    style_loss = {"gatys": style_losses(evaluator, frames, g_out), "ruder": style_losses(evaluator, frames, r_out)}

    # 5. warm start on the pure Gatys objective
    warm = []
    picks = np.linspace(1, n - 1, min(args.warm_frames, n - 1)).round().astype(int).tolist() if n > 1 else []
    for t in sorted(set(picks)):
        nb = warp_neighbour(r_out[t - 1].to(dev), flows[(t, t - 1)], flows[(t - 1, t)])
        evaluator.set_content(frames[t])
        res = optimize_image(evaluator.objective, nb.warped, iters=args.iters)
        target = g_final[t]
        hit = first_reaching(res.losses, target)
        warm.append({"frame": t, "per_frame_final_loss": target, "warm_start_loss_at_0": res.losses[0],
                     "iterations_to_reach": hit, "fraction_of_iters": None if hit is None else hit / args.iters,
                     "warm_final_loss": res.losses[-1]})

    for tag, outs in (("gatys", g_out), ("ruder", r_out)):
        for i in (0, n // 2, n - 1):
            save_image(outs[i], out_dir / f"{name}_{tag}_{i:03d}.png")
    gs, rs = errs["gatys"].summary(), errs["ruder"].summary()
    row = {
        "clip": path, "frames": [first, end, args.every], "n_frames": n, "size": [w, h],
        "flow_seconds": flow_s, "gatys_seconds": gatys_s, "ruder_seconds": ruder_s,
        "gatys": gs, "ruder": rs,
        "e_warp_ratio": rs["warping_error"] / gs["warping_error"],
        "masked_mse_ratio": rs["masked_mse"] / gs["masked_mse"],
        "luminance_ratio": rs["luminance_error"] / gs["luminance_error"],
        "style_loss": {k: float(np.mean(v)) for k, v in style_loss.items()},
        "style_ratio": float(np.mean(style_loss["ruder"]) / np.mean(style_loss["gatys"])),
        "ruder_iterations": clip.iterations, "cuts": clip.cuts, "warm_start": warm,
        "e_warp_per_pair": {"gatys": errs["gatys"].warping_error.tolist(), "ruder": errs["ruder"].warping_error.tolist()},
    }
    print(f"  E_warp  gatys {gs['warping_error']:.5f}  ruder {rs['warping_error']:.5f}  ratio {row['e_warp_ratio']:.3f}"
          f"  (target <= 0.25)")
    print(f"  style   gatys {row['style_loss']['gatys']:.4g}  ruder {row['style_loss']['ruder']:.4g}  "
          f"ratio {row['style_ratio']:.3f}  (target <= 1.25)")
    for wrow in warm:
        frac = "not reached" if wrow["fraction_of_iters"] is None else f"{wrow['iterations_to_reach']} it = {wrow['fraction_of_iters']:.3f}"
        print(f"  warm start frame {wrow['frame']}: per-frame loss {wrow['per_frame_final_loss']:.4g} reached after {frac}"
              f" (target <= 1/3)")
    print(f"  time: flow {flow_s:.1f} s, gatys {gatys_s:.0f} s, ruder {ruder_s:.0f} s")
    return row


def markdown(rows: list[dict], args, machine: str) -> str:
    lines = [f"Machine: {machine}. Command: `python benchmarks/bench_temporal.py{' --quick' if args.quick else ''}` "
             f"(style {args.style}, {args.max_side} px, Gatys {args.iters} it/frame, Ruder first frame {args.iters} it "
             f"then {args.frame_iters} it/frame, temporal weight {args.temporal_weight:g}, flow {args.flow}).", "",
             "| clip | frames | E_warp Gatys | E_warp Ruder | ratio | masked MSE ratio | luminance ratio | style ratio | warm start (it to per-frame loss / iters) | time Gatys / Ruder |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        warm = ", ".join("-" if w["fraction_of_iters"] is None else f"{w['fraction_of_iters']:.2f}" for w in r["warm_start"])
        lines.append(f"| {Path(r['clip']).name} | {r['frames'][0]}..{r['frames'][1] - 1} step {r['frames'][2]} ({r['n_frames']}) "
                     f"| {r['gatys']['warping_error']:.5f} | {r['ruder']['warping_error']:.5f} | **{r['e_warp_ratio']:.3f}** "
                     f"| {r['masked_mse_ratio']:.3f} | {r['luminance_ratio']:.3f} | **{r['style_ratio']:.3f}** | {warm} "
                     f"| {r['gatys_seconds']:.0f} s / {r['ruder_seconds']:.0f} s |")
    return "\n".join(lines) + "\n"


def main():
    args = parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    style = load_style(vdata.resolve(args.style, "style"))
    dev = pick_device(args.device)
    where = torch.cuda.get_device_name(dev) if dev.type == "cuda" else "CPU"
    machine = f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, {where}"
    rows = [run_clip(name.strip(), args, style, args.out, dev) for name in args.clips.split(",")]
    (args.out / "results.json").write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()},
                                                       "machine": machine, "clips": rows}, indent=1))
    md = markdown(rows, args, machine)
    (args.out / "results.md").write_text(md)
    print("\n" + md)
    from run_all import write_fragment  # benchmarks/ is on sys.path when a script runs

    write_fragment("temporal", md, quick=args.quick)


if __name__ == "__main__":
    sys.exit(main())
