#!/usr/bin/env python
"""Temporal stabilization (``--stabilize``) after a per-frame network: what it buys in E_warp, what it costs.

    python benchmarks/bench_stabilize.py            # 2 methods, 2 clips, 2 s each at 640x360, 2 interleaved repeats (~11 min on 2 quiet cores)
    python benchmarks/bench_stabilize.py --quick    # smoke run: 0.5 s at 160 px, one repeat (about 2 min)
    python benchmarks/bench_stabilize.py --methods arbitrary --painting great_wave_hokusai

For each clip (cut-free stretches of ``video/sintel_640x360_10s.mp4``, animation, and
``video/tears_of_steel_640x360_10s.mp4``, live action; the stretches of ``bench_temporal.py``)
and each method of ``--methods`` (default ``johnson`` with the shipped ``starry_night_vangogh_w16``,
and ``arbitrary`` with ``--painting``, default the course painting :data:`vstlib.course.STYLE`; a
method whose style is an image gets the painting, one that takes a model gets ``--model``):

1. ``stylize_video(..., method, stabilize=s)`` at s = 0 (off), 0.5 and 0.8, file to file with
   audio, the strengths taking turns (``--repeats`` rounds, so a busy machine slows them alike);
   the exact outputs (before H.264) are kept by a post step.
2. **Flicker**: Lai et al.'s E_warp of each output (:func:`vstlib.metrics.temporal_errors`) with
   an *independent* flow: Farneback, not the DIS flow the stabilizer follows (scoring with the
   stabilizer's own flow would reward it for agreeing with itself). Ratio off / on (issue 11's
   target, stated for ``arbitrary``: >= 2x).
3. **Cost**: the median wall time per frame of each strength, and the extra over s = 0 (target
   <= 15 %); also the stabilizer's own time per frame (two DIS flows, the reliability mask, the
   warp and the blend), measured by running it alone over the same outputs.
4. **Ghosting**: the mean change the stabilizer makes (|stabilized - network output|) where the
   independent flow finds disocclusions (its mask is 0) against where it trusts the flow; and a
   figure of the frame with the most disoccluded pixels: input, network output, stabilized output,
   their difference, the stabilizer's mask (:func:`vstlib.plotting.plot_stabilizer_ghosting`,
   ``--out``/ghosting_<clip>_<method>.png).

Writes ``results.json`` and the fragment ``benchmarks/out/stabilize.md`` (one table per method).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
if "VSTLIB_DATA_DIR" not in os.environ and (REPO.parent / "shared" / "data" / "registry.tsv").is_file():
    os.environ["VSTLIB_DATA_DIR"] = str(REPO.parent / "shared" / "data")  # as the Makefile does

from vstlib import course  # noqa: E402
from vstlib import data as vdata  # noqa: E402
from vstlib import methods as vmethods  # noqa: E402
from vstlib.flow import clip_pairs, compute_flows, occlusion_mask  # noqa: E402
from vstlib.io import read_frames, to_array  # noqa: E402
from vstlib.methods.base import FrameItem  # noqa: E402
from vstlib.metrics import temporal_errors  # noqa: E402
from vstlib.runner import KeepOutputs, stylize_video  # noqa: E402
from vstlib.stabilize import Stabilizer  # noqa: E402

# Cut-free stretches (start second), as in bench_temporal.py; both clips are 24 fps.
CLIPS = {"sintel": ("video/sintel_640x360_10s.mp4", 0.4), "tears_of_steel": ("video/tears_of_steel_640x360_10s.mp4", 3.0)}
MODEL = "starry_night_vangogh_w16"
STRENGTHS = (0.0, 0.5, 0.8)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="smoke run: 0.5 s at 160 px, one repeat")
    p.add_argument("--methods", default="johnson,arbitrary", help="comma-separated per-frame methods (default "
                                                                  "johnson,arbitrary)")
    p.add_argument("--clips", default="sintel,tears_of_steel", help="comma-separated: sintel, tears_of_steel")
    p.add_argument("--seconds", type=float, default=2.0, help="length of each stretch (default 2)")
    p.add_argument("--max-side", type=int, default=None, help="frame size (default: the clips' 640x360)")
    p.add_argument("--repeats", type=int, default=2, help="interleaved timing rounds (default 2)")
    p.add_argument("--model", default=MODEL, help=f"for a method that takes a model: the model (default {MODEL})")
    p.add_argument("--painting", default=course.STYLE,
                   help=f"for a method that takes a painting (arbitrary): the painting (default {course.STYLE})")
    p.add_argument("--flow", default="dis", help="the flow the stabilizer follows (default dis)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--out", type=Path, default=REPO / "benchmarks" / "out" / "stabilize")
    args = p.parse_args(argv)
    args.methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    unknown = [m for m in args.methods if m not in vmethods.names()]
    if unknown:
        p.error(f"unknown method(s) {unknown}; choose from {', '.join(vmethods.names())}")
    if args.quick:
        args.seconds, args.max_side, args.repeats = 0.5, 160, 1
        args.out = REPO / "benchmarks" / "out" / "quick" / "stabilize"
    return args


def own_cost(inputs, outputs, strength: float, flow: str) -> tuple[float, list[np.ndarray], list[np.ndarray]]:
    """Median seconds per frame of the stabilizer alone, its outputs, and its masks (frames 1..)."""
    stab = Stabilizer(strength, flow)
    times, outs, masks = [], [], []
    for i, (f, o) in enumerate(zip(inputs, outputs)):
        x = torch.from_numpy(o).permute(2, 0, 1)[None].float() / 255
        t0 = time.perf_counter()
        y = stab(x, FrameItem(index=i, frame=f, content=None))
        times.append(time.perf_counter() - t0)
        outs.append(to_array(y))
        if i:
            masks.append(stab.reliability(f, inputs[i - 1])[1])
    return statistics.median(times[1:]), outs, masks


def style_of(method: str, args) -> str:
    """The painting for a method whose style is an image, else the model."""
    return args.painting if vmethods.get(method).style_kind == "image" else args.model


def ghosting_figure(path: Path, title: str, frame, network, stabilized, mask_stab, mask_indep):
    import matplotlib.pyplot as plt

    from vstlib.plotting import plot_stabilizer_ghosting

    fig = plot_stabilizer_ghosting(frame, network, stabilized, mask_stab, mask_indep, title=title)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)


_FLOWS: dict = {}  # (clip, first frame, end frame, h, w) -> Farneback flows, shared by the methods


def run_clip(name: str, method: str, args) -> dict:
    clip_name, start = CLIPS[name]
    clip = vdata.fetch(clip_name)
    style = style_of(method, args)
    size = {"max_side": args.max_side} if args.max_side else {}
    walls = {s: [] for s in STRENGTHS}
    captured = {}
    # warm-up (model load, allocator, DIS), untimed
    stylize_video(clip, [style], args.out / f"{name}_{method}_warmup.mp4", method, start=start, duration=0.25,
                  device=args.device, progress=False, stabilize=0.5, stabilize_flow=args.flow, **size)
    for r in range(args.repeats):
        for s in STRENGTHS:
            cap = KeepOutputs()
            out = args.out / f"{name}_{method}_s{s:g}.mp4"
            for leftover in out.parent.glob(f".{out.name}.vst-*"):  # an interrupted earlier run would be resumed
                shutil.rmtree(leftover)
            t0 = time.perf_counter()
            res = stylize_video(clip, [style], out, method, start=start,
                                duration=args.seconds, device=args.device, progress=False, stabilize=s,
                                stabilize_flow=args.flow, post_steps=[cap], **size)
            assert res.resumed_frames == 0 and len(cap.frames) == res.n_frames
            walls[s].append((time.perf_counter() - t0) / res.n_frames)
            captured.setdefault(s, cap.frames)
            print(f"  {name} {method} round {r + 1} s={s:g}: {walls[s][-1] * 1000:.0f} ms/frame", flush=True)
    h, w = captured[0.0][0].shape[:2]
    inputs = list(read_frames(clip, size=(h, w), start=res.first_frame, end=res.end_frame))
    n = len(inputs)
    key = (clip_name, res.first_frame, res.end_frame, h, w)
    if key not in _FLOWS:
        _FLOWS[key] = compute_flows(inputs, clip_pairs(n, (1,)), method="farneback", progress=False)
    flows = _FLOWS[key]
    row = {"method": method, "style": style, "clip": clip_name, "start": start, "frames": n, "size": f"{w}x{h}",
           "strengths": {}}
    base_wall = statistics.median(walls[0.0])
    base_ewarp = None
    for s in STRENGTHS:
        errs = temporal_errors(inputs, captured[s], flows=flows).summary()
        if s == 0:
            base_ewarp = errs["warping_error"]
        entry = {"e_warp": errs["warping_error"], "masked_mse": errs["masked_mse"],
                 "e_warp_ratio": base_ewarp / errs["warping_error"],
                 "ms_per_frame": statistics.median(walls[s]) * 1000, "all_ms_per_frame": [v * 1000 for v in walls[s]],
                 "extra_pct": 100 * (statistics.median(walls[s]) / base_wall - 1)}
        if s > 0:
            cost, outs, masks = own_cost(inputs, captured[0.0], s, args.flow)
            entry["own_ms_per_frame"] = cost * 1000
            entry["own_pct"] = 100 * cost / base_wall
            # ghosting: change made where the independent flow sees disocclusions vs. where it trusts the flow
            dis_occ, trusted = [], []
            indep = [occlusion_mask(flows[(t, t - 1)], flows[(t - 1, t)]) for t in range(1, n)]
            for t in range(1, n):
                d = np.abs(captured[s][t].astype(np.float32) - captured[0.0][t].astype(np.float32)).mean(-1) / 255
                m = indep[t - 1]
                if (m == 0).any():
                    dis_occ.append(float(d[m == 0].mean()))
                trusted.append(float(d[m == 1].mean()))
            entry["change_disoccluded"] = float(np.mean(dis_occ)) if dis_occ else float("nan")
            entry["change_trusted"] = float(np.mean(trusted))
            entry["stabilizer_reliable"] = float(np.mean([m.mean() for m in masks]))
            if s == max(STRENGTHS):
                t = 1 + int(np.argmin([m.mean() for m in indep]))
                fig = args.out / f"ghosting_{name}_{method}.png"
                ghosting_figure(fig, f"{method}, {Path(clip_name).name}, frame {t}, s = {s:g}", inputs[t],
                                captured[0.0][t],
                                captured[s][t], masks[t - 1], indep[t - 1])
                row["figure"] = str(fig.relative_to(REPO))
        row["strengths"][f"{s:g}"] = entry
    return row


def markdown(rows: list[dict], args) -> str:
    cmd = "python benchmarks/bench_stabilize.py" + (" --quick" if args.quick else "")
    lines = [f"`{cmd}`: {args.seconds:g} s per clip, flow followed: {args.flow} (fast preset), E_warp scored with "
             f"Farneback; {args.repeats} interleaved round(s), median wall time per frame file to file. One table "
             "per method."]
    for method in dict.fromkeys(r["method"] for r in rows):
        mrows = [r for r in rows if r["method"] == method]
        lines += ["", f"**`{method}`** with `{mrows[0]['style']}`:", "",
                  "| clip | size, frames | strength | E_warp | E_warp off / on (target >= 2x) | ms/frame | extra time "
                  "(target <= 15 %) | stabilizer alone | change at disocclusions / where trusted | stabilizer's "
                  "reliable fraction |",
                  "|---|---|---|---|---|---|---|---|---|---|"]
        for r in mrows:
            for s, e in r["strengths"].items():
                if s == "0":
                    lines.append(f"| {Path(r['clip']).name} | {r['size']}, {r['frames']} | off | {e['e_warp']:.5f} "
                                 f"| - | {e['ms_per_frame']:.0f} | - | - | - | - |")
                else:
                    lines.append(f"| | | {s} | {e['e_warp']:.5f} | **{e['e_warp_ratio']:.2f}x** "
                                 f"| {e['ms_per_frame']:.0f} | **{e['extra_pct']:+.1f} %** "
                                 f"| {e['own_ms_per_frame']:.0f} ms ({e['own_pct']:.1f} %) "
                                 f"| {e['change_disoccluded']:.4f} / {e['change_trusted']:.4f} "
                                 f"| {e['stabilizer_reliable']:.2f} |")
    figs = [r["figure"] for r in rows if "figure" in r]
    if figs:
        lines += ["", "Ghosting figures (the frame with the most pixels the independent flow finds disoccluded): "
                  + ", ".join(f"`{f}`" for f in figs) + "."]
    return "\n".join(lines) + "\n"


def main(argv=None):
    args = parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    print(f"bench_stabilize: methods {','.join(args.methods)}; {'quick (smoke)' if args.quick else 'full'} mode (full "
          "mode on 2 quiet CPU cores: about 8 min for johnson + 3 min for arbitrary)", flush=True)
    rows = []
    for method in args.methods:
        for name in args.clips.split(","):
            print(f"{name}, {method}:", flush=True)
            rows.append(run_clip(name.strip(), method, args))
    (args.out / "results.json").write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()},
                                                       "load_average": os.getloadavg(), "clips": rows}, indent=1))
    md = markdown(rows, args)
    print("\n" + md)
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from run_all import write_fragment

    write_fragment("stabilize", md, quick=args.quick)


if __name__ == "__main__":
    sys.exit(main())
