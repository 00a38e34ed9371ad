#!/usr/bin/env python
"""The runner's work on Ray (issue 15): equality, overhead, Ruder's seams, and scaling on paper.

    python benchmarks/bench_cluster.py            # ~15-25 min on 2 busy cores
    python benchmarks/bench_cluster.py --quick    # smoke run (tiny sizes, one round): not results
    python benchmarks/bench_cluster.py --render-only

Four parts, every run on a local Ray instance of as many CPUs as the machine has:

1. **Equality and overhead.** ``johnson`` (shipped ``starry_night_vangogh``) on the 10 s sample clip at its
   own 640x360, file to file: single machine (``stylize_video``) against ``cluster="ray"`` with Ray
   started and shut down inside the timed span (what ``vst stylize --cluster ray`` costs), the two
   taking turns for ``--rounds`` rounds; the ratio of the medians. Both arms hash every output
   before H.264 (a post step), so the frames the method wrote are compared exactly, and the decoded
   videos are compared with the encoder's own run-to-run difference: the single run's exact frames
   encoded again in parts cut where the Ray run's chunks were cut.
2. **Ruder's seams.** ``ruder`` (DIS flow, few iterations: ``--ruder-iters``) on the first frames of
   Tears of Steel (a shot cut at frame 21), sequential against chunked by shot on Ray (``--workers``
   chunks) without overlap and with ``--overlap`` cross-faded frames: E_warp (:mod:`vstlib.metrics`,
   Farneback flow on the input) of every consecutive pair, at the seams (the pairs inside a shot
   where one chunk hands over to the next; with an overlap, every pair of the cross-fade and the one
   after it) against the same pairs of the sequential run. Figure ``ruder_seams.png``.
3. **Shot statistics** of the three 640x360 sample clips with the runner's cut criterion (Ruder's
   ``cut_threshold`` on DIS flow at 128 px).
4. **Scaling on paper**: Ruder's measured seconds per frame (default settings, 256 px, first and later
   frames) scaled to 720p by the pixel count and divided by an assumed GPU speed-up, then a
   3-minute 720p clip at 24 fps made of the measured shots, planned by :func:`vstlib.cluster.plan_chunks`
   and scheduled longest chunk first on 1, 4 and 16 GPU workers.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if "VSTLIB_DATA_DIR" not in os.environ and (REPO.parent / "shared" / "data" / "registry.tsv").is_file():
    os.environ["VSTLIB_DATA_DIR"] = str(REPO.parent / "shared" / "data")  # as the Makefile does

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run_all import cpu_snapshot, other_cores, write_fragment  # noqa: E402

OUT = REPO / "benchmarks" / "out" / "cluster"
GPU_SPEEDUP = 50.0  # assumed: one data-centre GPU against these 2 CPU cores for VGG19's forward+backward
CLIP_SECONDS, CLIP_FPS, CLIP_SIZE = 180, 24, (720, 1280)


class HashFrames:
    """A post step writing the sha256 of every output (uint8, before H.264) to ``folder/<index>``."""

    def __init__(self, folder):
        self.folder = Path(folder)

    def __call__(self, image, item):
        from vstlib.io import to_array

        (self.folder / f"{item.index:06d}").write_text(hashlib.sha256(to_array(image).tobytes()).hexdigest())
        return image

    def __repr__(self):
        return "HashFrames()"


def _hashes(folder: Path) -> list[str]:
    return [p.read_text() for p in sorted(folder.iterdir())]


def _decoded(path) -> np.ndarray:
    from vstlib.io import read_frames

    return np.stack(list(read_frames(path))).astype(np.int16)


def _start_ray(cpus: int):
    from vstlib.cluster import connect

    ray = connect("ray", num_cpus=cpus)
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    return ray


def part_equality_and_overhead(args) -> dict:
    import ray

    from vstlib import data
    from vstlib.io import VideoWriter, concat_videos
    from vstlib.johnson import JohnsonInference
    from vstlib.runner import KeepOutputs, stylize_video

    clip = data.fetch("video/bbb_adain_640x360_10s.mp4")
    cfg = JohnsonInference(model="starry_night_vangogh")
    kw = dict(max_side=args.johnson_side, duration=args.johnson_seconds, progress=False)
    times = {"single": [], "ray": [], "ray_without_start": []}
    before = cpu_snapshot()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for r in range(args.rounds):  # Ray first: any cold start (files, imports) counts against it
            for arm in ("ray", "single") if r % 2 == 0 else ("single", "ray"):
                hashes = tmp / f"{arm}{r}"
                hashes.mkdir()
                steps = [HashFrames(hashes)]
                keep = KeepOutputs() if arm == "single" and r == 0 else None  # the exact frames, once
                t0 = time.perf_counter()
                if arm == "single":
                    stylize_video(clip, None, tmp / f"{arm}{r}.mp4", "johnson", cfg, post_steps=steps + ([keep] if keep else []),
                                  **kw)
                else:
                    _start_ray(os.cpu_count())
                    t1 = time.perf_counter()
                    stylize_video(clip, None, tmp / f"{arm}{r}.mp4", "johnson", cfg, post_steps=steps, cluster="ray", **kw)
                    times["ray_without_start"].append(time.perf_counter() - t1)
                    ray.shutdown()
                times[arm].append(time.perf_counter() - t0)
                if keep:
                    exact = np.stack(keep.frames)
                print(f"  round {r} {arm}: {times[arm][-1]:.1f} s", flush=True)
        single, clustered = _decoded(tmp / "single0.mp4"), _decoded(tmp / "ray0.mp4")
        n = len(exact)
        from vstlib.cluster import plan_chunks
        from vstlib.runner import PART_SECONDS

        chunks = plan_chunks(n, os.cpu_count(), int(round(PART_SECONDS * 24)))
        # the encoder by itself: the same exact frames in parts cut at the chunks' boundaries
        parts = []
        for c in chunks:
            path = tmp / f"re_{c.start}.mp4"
            with VideoWriter(path, fps=24, threads=1) as w:
                for f in exact[c.start:c.end]:
                    w.write(f)
            parts.append(path)
        concat_videos(parts, tmp / "re.mp4")
        again = _decoded(tmp / "re.mp4")
        same = sum(a == b for a, b in zip(_hashes(tmp / "single0"), _hashes(tmp / "ray0")))
        res = {
            "frames": n, "size": list(exact.shape[1:3]), "chunks": [[c.start, c.end] for c in chunks],
            "identical_outputs": same,
            "max_diff_decoded": int(np.abs(clustered - single).max()),
            "mean_diff_decoded": float(np.abs(clustered - single).mean()),
            "max_diff_encoder": int(np.abs(again - single).max()),
            "mean_diff_encoder": float(np.abs(again - single).mean()),
            "max_diff_single_vs_exact": int(np.abs(single - exact).max()),
            "max_diff_ray_vs_exact": int(np.abs(clustered - exact).max()),
            "times": times,
            "ratio": statistics.median(times["ray"]) / statistics.median(times["single"]),
            "ratio_without_start": statistics.median(times["ray_without_start"]) / statistics.median(times["single"]),
            "other_cores": other_cores(before, cpu_snapshot()),
        }
    return res


def _e_warp(inputs, path) -> np.ndarray:
    from vstlib.metrics import temporal_errors

    h, w = inputs[0].shape[:2]  # H.264 pads an odd side by a pixel
    return temporal_errors(inputs, list(_decoded(path)[:, :h, :w].astype(np.uint8)), flow="farneback").warping_error


def part_ruder_seams(args) -> dict:
    import ray

    from vstlib import data
    from vstlib.cluster import ClusterOptions, plan_chunks, shot_cuts
    from vstlib.gatys import GatysConfig
    from vstlib.io import probe_video, read_frames
    from vstlib.methods.ruder import RuderConfig
    from vstlib.runner import _output_size, stylize_video

    clip = data.fetch("video/tears_of_steel_640x360_10s.mp4")
    info = probe_video(clip)
    hw = _output_size(info.height, info.width, None, args.ruder_side)
    n = args.ruder_frames
    cfg = RuderConfig(gatys=GatysConfig(iters=args.ruder_iters), frame_iters=max(1, args.ruder_iters // 3), flow="dis")
    kw = dict(max_side=args.ruder_side, duration=(n - 0.5) / info.fps, progress=False)
    inputs = list(read_frames(clip, size=hw, end=n))
    res = {"frames": n, "size": list(hw), "iters": [cfg.gatys.iters, cfg.later_iters], "workers": args.workers,
           "overlap": args.overlap, "runs": {}}
    before = cpu_snapshot()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        t0 = time.perf_counter()
        seq = stylize_video(clip, "starry_night_vangogh", tmp / "seq.mp4", "ruder", cfg, **kw)
        res["runs"]["sequential"] = {"seconds": time.perf_counter() - t0, "cuts": seq.cuts,
                                     "e_warp": _e_warp(inputs, tmp / "seq.mp4").tolist()}
        _start_ray(os.cpu_count())
        cuts = shot_cuts(ray, clip, hw, 0, n, 1, n, cfg, args.workers)
        for overlap in (0, args.overlap):
            name = f"overlap {overlap}"
            chunks = plan_chunks(n, args.workers, cuts=cuts, overlap=overlap, split="shots")
            t0 = time.perf_counter()
            out = tmp / f"ray{overlap}.mp4"
            stylize_video(clip, "starry_night_vangogh", out, "ruder", cfg, cluster="ray",
                          cluster_options=ClusterOptions(workers=args.workers, overlap=overlap), **kw)
            seams = [c.start for c in chunks if c.start not in cuts and c.start > 0]
            res["runs"][name] = {"seconds": time.perf_counter() - t0, "chunks": [[c.start, c.end] for c in chunks],
                                 "seams": seams, "e_warp": _e_warp(inputs, out).tolist()}
        ray.shutdown()
    res["cuts"] = cuts
    res["other_cores"] = other_cores(before, cpu_snapshot())
    seq_e = np.asarray(res["runs"]["sequential"]["e_warp"])
    for name, run in res["runs"].items():
        if name == "sequential":
            continue
        overlap = int(name.split()[1])
        # pair t compares frames t and t+1: a seam at s is pair s-1; a cross-fade over [s-O, s) adds the pairs before
        pairs = sorted({p for s in run["seams"] for p in range(s - 1 - overlap, s)})
        e = np.asarray(run["e_warp"])
        run["seam_pairs"] = pairs
        run["seam_e_warp"] = float(e[pairs].mean())
        run["seam_e_warp_sequential"] = float(seq_e[pairs].mean())
        run["max_seam_e_warp"] = float(e[pairs].max())
        run["max_seam_e_warp_sequential"] = float(seq_e[pairs].max())
        run["mean_e_warp"] = float(e.mean())
    res["mean_e_warp_sequential"] = float(seq_e.mean())
    _seam_figure(res, args.out / "ruder_seams.png")
    return res


def _seam_figure(res: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from vstlib.plotting import plot_frame_differences

    curves = {("sequential (one run)" if k == "sequential" else f"Ray, chunks by shot, {k}"): v["e_warp"]
              for k, v in res["runs"].items()}
    fig, ax = plt.subplots(figsize=(7.5, 3.4))
    plot_frame_differences(curves, ax=ax, ylabel="E_warp (pair t, t+1)",
                           title=f"Ruder on Ray: seams ({res['size'][1]}x{res['size'][0]}, Tears of Steel)")
    for s in sorted({s for run in res["runs"].values() for s in run.get("seams", [])}):  # chunk seams: dashed
        ax.axvline(s, color="grey", ls="--", lw=0.8)
    for c in res["cuts"]:
        ax.axvline(c, color="black", lw=0.8)
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    plt.close(fig)


def part_shots(args) -> dict:
    from vstlib import data
    from vstlib.cluster import _reliable_fractions
    from vstlib.io import probe_video
    from vstlib.methods.ruder import RuderConfig
    from vstlib.runner import _output_size

    threshold = RuderConfig().cut_threshold
    out = {}
    for name in ("sintel_640x360_10s", "tears_of_steel_640x360_10s", "bbb_adain_640x360_10s"):
        path = data.fetch(f"video/{name}.mp4")
        info = probe_video(path)
        end = info.n_frames if not args.quick else 48
        hw = _output_size(info.height, info.width, None, 128)
        fractions = _reliable_fractions(path, hw, 0, 1, end, 1, "dis", {}, end)
        cuts = [i for i, f in enumerate(fractions, start=1) if f < threshold]
        bounds = [0] + cuts + [end]
        out[name] = {"frames": end, "cuts": cuts, "shots": [b - a for a, b in zip(bounds, bounds[1:])]}
    return out


def part_ruder_speed(args) -> dict:
    from vstlib import data
    from vstlib.gatys import GatysConfig
    from vstlib.methods.ruder import RuderConfig
    from vstlib.runner import stylize_video

    clip = data.fetch("video/tears_of_steel_640x360_10s.mp4")
    cfg = RuderConfig(gatys=GatysConfig(iters=6), frame_iters=2) if args.quick else RuderConfig()
    side = 64 if args.quick else args.speed_side
    with tempfile.TemporaryDirectory() as tmp:
        r = stylize_video(clip, "starry_night_vangogh", Path(tmp) / "r.mp4", "ruder", cfg, max_side=side,
                          start=1.0, duration=(args.speed_frames - 0.5) / 24, progress=False)
    spf = r.seconds_per_frame
    return {"side": side, "size": [r.height, r.width], "iters": [cfg.gatys.iters, cfg.later_iters],
            "first": spf[0], "later": statistics.mean(spf[1:]), "flow": cfg.flow}


def scaling(res: dict) -> list[dict]:
    """Expected hours for a 3-minute 720p clip on 1, 4, 16 GPU workers (see the fragment's assumptions)."""
    from vstlib.cluster import plan_chunks

    speed = res["ruder_speed"]
    pixels = CLIP_SIZE[0] * CLIP_SIZE[1] / (speed["size"][0] * speed["size"][1])
    first, later = (speed[k] * pixels / GPU_SPEEDUP for k in ("first", "later"))
    shots = [s for clip in res["shots"].values() for s in clip["shots"]]
    n = CLIP_SECONDS * CLIP_FPS
    cuts, at, k = [], 0, 0
    while True:  # the measured shots, one after the other, until three minutes are filled
        at += shots[k % len(shots)]
        k += 1
        if at >= n:
            break
        cuts.append(at)
    rows = []
    for workers in (1, 4, 16):
        chunks = plan_chunks(n, workers, cuts=cuts, overlap=8, split="shots")
        cost = sorted(((c.end - c.start + c.warmup - 1) * later + first for c in chunks), reverse=True)
        load = [0.0] * workers
        for c in cost:  # longest first, each to the least loaded worker
            load[load.index(min(load))] += c
        rows.append({"workers": workers, "chunks": len(chunks), "computed_frames": sum(c.end - c.start + c.warmup
                                                                                      for c in chunks),
                     "hours": max(load) / 3600, "speedup": None})
    for r in rows:
        r["speedup"] = rows[0]["hours"] / r["hours"]
    res["scaling_assumptions"] = {"first_s": first, "later_s": later, "pixels_factor": pixels,
                                  "gpu_speedup": GPU_SPEEDUP, "n_frames": n, "n_shots": len(cuts) + 1,
                                  "mean_shot": n / (len(cuts) + 1)}
    return rows


def markdown(res: dict, quick: bool) -> str:
    eq, rs, sp, a = res["equality"], res["ruder_seams"], res["ruder_speed"], res["scaling_assumptions"]
    L = []
    if quick:
        L.append("**Quick (smoke) run: tiny sizes and one round; these numbers are NOT results.**\n")
    t = eq["times"]
    L.append(f"**1. Equality and overhead** (`johnson`, shipped `starry_night_vangogh`, the 10 s clip "
             f"`bbb_adain_640x360_10s` at {eq['size'][1]}x{eq['size'][0]}, {eq['frames']} frames; local Ray with "
             f"{os.cpu_count()} CPUs: chunks {eq['chunks']}, one worker each; {len(t['single'])} rounds, the arms "
             f"taking turns; processes outside this script, Ray's own workers included, kept "
             f"{eq['other_cores']:.2f} cores busy on average).\n")
    L.append(f"* Outputs of the method (before H.264): **{eq['identical_outputs']} of {eq['frames']} identical** "
             f"(sha256) to the single-machine run's.")
    ok = eq["max_diff_decoded"] <= eq["max_diff_encoder"]
    L.append(f"* Decoded videos: max abs difference Ray vs single machine **{eq['max_diff_decoded']}** (mean "
             f"{eq['mean_diff_decoded']:.3f}) gray levels; the encoder's own run-to-run difference (the same exact "
             f"frames encoded again in parts cut at the chunks' boundaries, vs the single run's video) max "
             f"**{eq['max_diff_encoder']}** (mean {eq['mean_diff_encoder']:.3f}); each video vs the exact frames: "
             f"max {eq['max_diff_single_vs_exact']} (single), {eq['max_diff_ray_vs_exact']} (Ray). "
             f"**Target (within the encoder's own difference): {'met' if ok else 'NOT met'}.**")
    ok = eq["ratio"] <= 1.3
    L.append(f"* Wall time, median of the rounds: single machine {statistics.median(t['single']):.1f} s "
             f"({', '.join(f'{x:.1f}' for x in t['single'])}); Ray including starting and stopping the local "
             f"instance {statistics.median(t['ray']):.1f} s ({', '.join(f'{x:.1f}' for x in t['ray'])}): "
             f"**{eq['ratio']:.2f}x**; without the start {eq['ratio_without_start']:.2f}x. "
             f"**Target (<= 1.3x): {'met' if ok else 'NOT met'}.**\n")
    seq = rs["runs"]["sequential"]
    L.append(f"**2. Ruder's seams** (`ruder` on the first {rs['frames']} frames of `tears_of_steel_640x360_10s` at "
             f"{rs['size'][1]}x{rs['size'][0]}, {rs['iters'][0]} then {rs['iters'][1]} iterations, DIS flow; shot "
             f"cuts found on Ray: {rs['cuts']} (the sequential run restarted at {seq['cuts']}); {rs['workers']} "
             f"chunks asked for; E_warp along Farneback flow on the input, decoded outputs; processes outside this script, Ray's workers included, kept "
             f"{rs['other_cores']:.2f} cores busy). Figure: `benchmarks/out/cluster/ruder_seams.png` (solid line: "
             f"the shot cut; dashed: where chunks meet).\n")
    L.append("| run | chunks | seams inside shots | E_warp, all pairs | E_warp at the seams | same pairs, sequential "
             "| worst seam pair | same, sequential | wall |")
    L.append("|---|---|---|---|---|---|---|---|---|")
    L.append(f"| sequential (one run) | 1 | - | {rs['mean_e_warp_sequential']:.4f} | - | - | - | - | "
             f"{seq['seconds']:.0f} s |")
    for name, run in rs["runs"].items():
        if name == "sequential":
            continue
        L.append(f"| Ray, by shot, {name} | {run['chunks']} | {run['seams']} | {run['mean_e_warp']:.4f} | "
                 f"{run['seam_e_warp']:.4f} | {run['seam_e_warp_sequential']:.4f} | {run['max_seam_e_warp']:.4f} | "
                 f"{run['max_seam_e_warp_sequential']:.4f} | {run['seconds']:.0f} s |")
    L.append("\nWith an overlap the seam pairs are the cross-fade's and the one after it: the jump between two "
             "independent optimizations is spread over them instead of landing on one pair.\n")
    shots = res["shots"]
    L.append("**3. Shots** (the runner's criterion: fewer than 20 % reliable pixels along DIS flow at 128 px): " +
             "; ".join(f"`{k}` {v['frames']} frames, cuts at {v['cuts']}, shots {v['shots']}" for k, v in shots.items())
             + ".\n")
    L.append(f"**4. Scaling on paper: Ruder on a 3-minute 720p clip** ({a['n_frames']} frames at {CLIP_FPS} fps). "
             f"Measured here: Ruder with its defaults ({sp['iters'][0]} iterations for a shot's first frame, "
             f"{sp['iters'][1]} for the others, {sp['flow']} flow) at {sp['size'][1]}x{sp['size'][0]} on this CPU: "
             f"{sp['first']:.1f} s for the first frame, {sp['later']:.1f} s per later frame. **Assumed** (no GPU "
             f"was lent to measure): the cost grows with the pixel count (x{a['pixels_factor']:.1f} to 1280x720), "
             f"and one GPU worker runs it {a['gpu_speedup']:g}x faster than these 2 cores, so "
             f"{a['first_s']:.1f} s per shot's first frame and {a['later_s']:.1f} s per later frame; the clip "
             f"is the measured shots of part 3 one after another ({a['n_shots']} shots, {a['mean_shot']:.0f} "
             f"frames on average); chunks by `plan_chunks` (overlap 8), each worker takes the longest chunk left; "
             f"flow, decoding, model loading and Ray's scheduling are not counted (seconds against hours).\n")
    L.append("| GPU workers | chunks | frames computed (with overlaps) | expected time | speed-up |")
    L.append("|---|---|---|---|---|")
    for r in res["scaling"]:
        L.append(f"| {r['workers']} | {r['chunks']} | {r['computed_frames']} | {r['hours']:.1f} h | "
                 f"{r['speedup']:.1f}x |")
    return "\n".join(L) + "\n"


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--render-only", action="store_true")
    p.add_argument("--rounds", type=int, default=1, help="part 1: rounds of the two arms, taking turns")
    p.add_argument("--workers", type=int, default=4, help="part 2: chunks of the Ruder clip")
    p.add_argument("--overlap", type=int, default=6, help="part 2: cross-faded frames")
    p.add_argument("--ruder-iters", type=int, default=24)
    p.add_argument("--ruder-side", type=int, default=96)
    p.add_argument("--ruder-frames", type=int, default=64)
    p.add_argument("--speed-frames", type=int, default=3)
    p.add_argument("--speed-side", type=int, default=256, help="part 4: Ruder's measured size (longer side)")
    p.add_argument("--johnson-side", type=int, default=None, help="part 1: longer side (default: the clip's 640)")
    p.add_argument("--out", type=Path, default=OUT)
    args = p.parse_args(argv)
    args.johnson_seconds = None
    if args.quick:
        args.rounds, args.ruder_iters, args.ruder_side, args.ruder_frames = 1, 3, 48, 30
        args.johnson_side, args.johnson_seconds, args.speed_frames = 64, 2.0, 2
        args.out = REPO / "benchmarks" / "out" / "quick" / "cluster"
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    saved = args.out / "results.json"
    cmd = "python benchmarks/bench_cluster.py" + (" --quick" if args.quick else "")
    if args.render_only:
        res = json.loads(saved.read_text())
        write_fragment("cluster", markdown(res, args.quick), command=f"{cmd}`; re-rendered by `{cmd} --render-only",
                       quick=args.quick)
        return 0
    res = {"load_average": os.getloadavg()}
    for name, part in (("shots", part_shots), ("equality", part_equality_and_overhead),
                       ("ruder_seams", part_ruder_seams), ("ruder_speed", part_ruder_speed)):
        t0 = time.perf_counter()
        print(f"{name} ...", flush=True)
        res[name] = part(args)
        print(f"{name}: {time.perf_counter() - t0:.0f} s", flush=True)
    res["scaling"] = scaling(res)
    saved.write_text(json.dumps(res, indent=1))
    md = markdown(res, args.quick)
    print(md)
    write_fragment("cluster", md, quick=args.quick)
    return 0


if __name__ == "__main__":
    sys.exit(main())
