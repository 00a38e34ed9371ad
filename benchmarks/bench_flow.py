#!/usr/bin/env python
"""Optical flow backends on MPI-Sintel ground truth: accuracy, speed, occlusion masks, parallelism.

    python benchmarks/bench_flow.py            # about 2 min on 2 CPU cores
    python benchmarks/bench_flow.py --quick    # smoke run: one Sintel pair, 4 clip frames

1. **End-point error** of each backend (DeepFlow, DIS at three presets, Farneback; RAFT when its
   weights can be downloaded) on every Sintel pair in the sample data (alley_1 1->2, 2->3, 3->4
   and cave_2 2->3, clean and final renders, 1024x436), with the time per frame pair (one pair
   at a time, OpenCV's default threading). EPE over all pixels and over the non-occluded ones
   (frame 2 pairs, where Sintel's occlusion maps exist).
2. **Occlusion masks** (Ruder et al.'s criterion) from each backend's forward and backward flow
   of frames 2 <-> 3 against Sintel's occlusion maps: precision and recall of the pixels marked
   unreliable, with the consistency check alone and with motion boundaries added.
3. **Parallel flow** for a 640x360 clip (``video/sintel_640x360_10s.mp4``, 8 frames, forward and
   backward: 14 pairs): ``compute_flows(workers=2)`` vs serial on one OpenCV thread and vs serial
   with OpenCV's own threading; median of ``--repeats`` runs, fresh cache each time.

Prints the tables and writes ``results.json`` and ``results.md`` to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
if "VSTLIB_DATA_DIR" not in os.environ and (REPO.parent / "shared" / "data" / "registry.tsv").is_file():
    os.environ["VSTLIB_DATA_DIR"] = str(REPO.parent / "shared" / "data")  # as the Makefile does

from vstlib import data as vdata  # noqa: E402
from vstlib import flow  # noqa: E402
from vstlib.errors import VstError  # noqa: E402
from vstlib.io import read_frames  # noqa: E402

BACKENDS = [("deepflow", {}), ("dis", {"preset": "medium"}), ("dis", {"preset": "fast"}),
            ("dis", {"preset": "ultrafast"}), ("farneback", {}), ("raft", {"model": "small"}), ("raft", {"model": "large"})]
PAIRS = [("alley_1", 1), ("alley_1", 2), ("alley_1", 3), ("cave_2", 2)]


def label(method: str, params: dict) -> str:
    return method + (f" ({', '.join(str(v) for v in params.values())})" if params else "")


def epe_table(args) -> tuple[list[dict], dict]:
    rows, skipped = [], {}
    pairs = PAIRS[1:2] if args.quick else PAIRS
    renders = ("clean",) if args.quick else ("clean", "final")
    for method, params in BACKENDS:
        name = label(method, params)
        epes, epes_noc, times = [], [], []
        try:
            for scene, frame in pairs:
                for render in renders:
                    a, b, gt = flow.sintel_pair(scene, frame, render)
                    flow.estimate_flow(a[:64, :64], b[:64, :64], method, **params)  # warm-up (model load, caches)
                    t0 = time.perf_counter()
                    est = flow.estimate_flow(a, b, method, **params)
                    times.append(time.perf_counter() - t0)
                    epes.append(flow.endpoint_error(est, gt))
                    if frame == 2:
                        visible = ~flow.sintel_occlusions(scene, 2) & ~flow.sintel_invalid(scene, 2)
                        epes_noc.append(flow.endpoint_error(est, gt, visible))
        except VstError as err:
            skipped[name] = str(err)
            print(f"  {name:22s} skipped: {err}")
            continue
        row = {"backend": name, "epe": float(np.mean(epes)), "epe_noc_frame2": float(np.mean(epes_noc)) if epes_noc else None,
               "seconds_per_pair": float(np.median(times)), "pairs": len(epes)}
        rows.append(row)
        noc = "-" if row["epe_noc_frame2"] is None else f"{row['epe_noc_frame2']:.3f}"
        print(f"  {name:22s} EPE {row['epe']:6.3f}  (non-occluded, frame 2 pairs: {noc})  "
              f"{row['seconds_per_pair']:.3f} s/pair")
    zero = [flow.endpoint_error(np.zeros_like(gt), gt) for scene, frame in pairs
            for gt in [flow.sintel_pair(scene, frame)[2]] for _ in renders]
    rows.append({"backend": "zero flow (reference)", "epe": float(np.mean(zero)), "epe_noc_frame2": None,
                 "seconds_per_pair": 0.0, "pairs": len(zero)})
    return rows, skipped


def occlusion_table(args) -> list[dict]:
    rows = []
    for scene in ("alley_1",) if args.quick else ("alley_1", "cave_2"):
        f2, f3, _ = flow.sintel_pair(scene, 2)
        occluded = flow.sintel_occlusions(scene, 2)
        for method, params in BACKENDS:
            if method == "raft":
                continue
            fwd = flow.estimate_flow(f2, f3, method, **params)
            bwd = flow.estimate_flow(f3, f2, method, **params)
            for criterion, kwargs in (("consistency", {"motion_boundaries": False}), ("consistency + boundaries", {})):
                unreliable = flow.occlusion_mask(fwd, bwd, **kwargs) < 0.5
                hits = (unreliable & occluded).sum()
                rows.append({"scene": scene, "backend": label(method, params), "criterion": criterion,
                             "flagged": float(unreliable.mean()), "occluded": float(occluded.mean()),
                             "precision": float(hits / max(unreliable.sum(), 1)), "recall": float(hits / max(occluded.sum(), 1))})
                r = rows[-1]
                print(f"  {scene:8s} {r['backend']:18s} {criterion:25s} flagged {r['flagged']:.3f} (occluded "
                      f"{r['occluded']:.3f})  precision {r['precision']:.2f}  recall {r['recall']:.2f}")
    return rows


def parallel_table(args) -> list[dict]:
    clip = vdata.fetch("video/sintel_640x360_10s.mp4")
    n = 4 if args.quick else 8
    frames = list(read_frames(clip, start=100, end=100 + n))
    pairs = flow.clip_pairs(n)
    default_threads = cv2.getNumThreads()

    def timed(workers: int, opencv_threads: int) -> float:
        cv2.setNumThreads(opencv_threads)
        try:
            with tempfile.TemporaryDirectory() as cache:
                t0 = time.perf_counter()
                flow.compute_flows(frames, pairs, method, workers=workers, cache_dir=cache, progress=False)
                return time.perf_counter() - t0
        finally:
            cv2.setNumThreads(default_threads)

    rows = []
    for method in ("deepflow", "dis", "farneback"):
        runs = {"serial_1_thread": [], "serial_opencv_threads": [], "pool_2": []}
        for _ in range(args.repeats):  # interleaved, so slow phases of a busy machine hit all three
            runs["serial_1_thread"].append(timed(1, 1))
            runs["serial_opencv_threads"].append(timed(1, default_threads))
            runs["pool_2"].append(timed(2, default_threads))
        med = {k: statistics.median(v) for k, v in runs.items()}
        row = {"method": method, "pairs": len(pairs), "size": f"{frames[0].shape[1]}x{frames[0].shape[0]}",
               **{f"{k}_s": v for k, v in med.items()},
               "speedup_vs_1_thread": med["serial_1_thread"] / med["pool_2"],
               "speedup_vs_opencv_threads": med["serial_opencv_threads"] / med["pool_2"], "runs": runs}
        rows.append(row)
        print(f"  {method:10s} {len(pairs)} pairs: serial 1 thread {med['serial_1_thread']:.2f} s, serial OpenCV "
              f"threads {med['serial_opencv_threads']:.2f} s, 2 workers {med['pool_2']:.2f} s -> speedup "
              f"{row['speedup_vs_1_thread']:.2f}x / {row['speedup_vs_opencv_threads']:.2f}x")
    return rows


def markdown(epe, skipped, occ, par, machine, args) -> str:
    out = [f"Machine: {machine}. Command: `python benchmarks/bench_flow.py{' --quick' if args.quick else ''}`.", "",
           "**End-point error on MPI-Sintel** (pixels; mean over alley_1 1->2, 2->3, 3->4 and cave_2 2->3, clean and "
           "final, 1024x436; non-occluded: frame 2 pairs, Sintel's occlusion and invalid maps excluded):", "",
           "| backend | EPE | EPE non-occluded (frame 2) | time per pair |", "|---|---|---|---|"]
    for r in epe:
        noc = "" if r["epe_noc_frame2"] is None else f"{r['epe_noc_frame2']:.3f}"
        out.append(f"| {r['backend']} | {r['epe']:.3f} | {noc} | {r['seconds_per_pair']:.3f} s |")
    for name, why in skipped.items():
        out.append(f"| {name} | skipped: {why.split(';')[0]} | | |")
    out += ["", "**Occlusion masks vs Sintel's occlusion maps** (frame 2, pixels marked unreliable):", "",
            "| scene | backend | criterion | flagged | occluded (truth) | precision | recall |", "|---|---|---|---|---|---|---|"]
    for r in occ:
        out.append(f"| {r['scene']} | {r['backend']} | {r['criterion']} | {r['flagged']:.3f} | {r['occluded']:.3f} "
                   f"| {r['precision']:.2f} | {r['recall']:.2f} |")
    out += ["", f"**Parallel flow, 640x360 clip** (median of {args.repeats} runs, fresh cache each):", "",
            "| backend | pairs | serial, 1 OpenCV thread | serial, OpenCV threads | 2 workers | speedup vs 1 thread | speedup vs OpenCV threads |",
            "|---|---|---|---|---|---|---|"]
    for r in par:
        out.append(f"| {r['method']} | {r['pairs']} | {r['serial_1_thread_s']:.2f} s | {r['serial_opencv_threads_s']:.2f} s "
                   f"| {r['pool_2_s']:.2f} s | **{r['speedup_vs_1_thread']:.2f}x** | {r['speedup_vs_opencv_threads']:.2f}x |")
    return "\n".join(out) + "\n"


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--out", type=Path, default=REPO / "benchmarks" / "out" / "flow")
    args = p.parse_args()
    if args.quick:
        args.repeats = 1
    args.out.mkdir(parents=True, exist_ok=True)
    machine = (f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, OpenCV {cv2.__version__} "
               f"({cv2.getNumThreads()} threads), torch {torch.__version__}")
    print("== end-point error on Sintel")
    epe, skipped = epe_table(args)
    print("== occlusion masks")
    occ = occlusion_table(args)
    print("== parallel flow")
    par = parallel_table(args)
    (args.out / "results.json").write_text(json.dumps({"machine": machine, "epe": epe, "skipped": skipped,
                                                       "occlusion": occ, "parallel": par}, indent=1))
    md = markdown(epe, skipped, occ, par, machine, args)
    (args.out / "results.md").write_text(md)
    print("\n" + md)
    from run_all import write_fragment  # benchmarks/ is on sys.path when a script runs

    write_fragment("flow", md, quick=args.quick)


if __name__ == "__main__":
    sys.exit(main())
