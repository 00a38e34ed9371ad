#!/usr/bin/env python
"""The course evaluation (issue 14): every registered method on the same frames, one table.

    python benchmarks/bench_evaluate.py                 # full: ~25 min on 2 CPU cores the first time (+5 min memory runs), seconds once cached
    python benchmarks/bench_evaluate.py --threads 1     # what RESULTS.md ran: on a 2-core machine that other jobs share, 1 thread is faster
    python benchmarks/bench_evaluate.py --quick         # smoke protocol (64 px, 3 frames): the numbers are not results
    python benchmarks/bench_evaluate.py --no-memory     # skip the peak-memory runs (fresh processes)
    python benchmarks/bench_evaluate.py --render-only   # rewrite the fragment and the summary from out/evaluate/results.json

Runs ``evaluate(*course_evaluation(), course_cache_dir())`` (:mod:`vstlib.evaluate`): the protocol and
variants that notebook 09 and the report's Evaluation section use too, in the same cache folder
(``benchmarks/out/evaluate/cache`` in a clone), so a cell computed by any of them is reused by the others.
The cells store the outputs' measurements; nothing here measures anything the library does not.

1. **The table**: for each variant and painting, the mean ± std over the clips (and seeds) of E_warp along
   Farneback flow, E_warp along MPI-Sintel's ground truth (Sintel frames only), the judge's Gram and W2 style
   losses, the content loss, SSIM, the colour distance to the painting and the seconds per frame (the
   method's own, and file to file). Also E_warp per clip (the spread over clips) and the Pareto front of
   flicker against style (Gram) per painting, in words.
2. **Flow agreement**: does Farneback's E_warp order the cells as ground-truth flow does (Spearman rho on
   the Sintel pairs)?
3. **Memory** (``--memory``, default on): every variant once more on one short clip (``--memory-clip``,
   default the 4 Sintel frames of alley_1) with the first painting, each cell's ``stylize_video`` in a fresh
   Python process, its peak resident memory (``VmHWM``; torch and the interpreter included: the ``none``
   row is that floor). In a separate cache (``out/evaluate/memory_cache``), so the shared cells keep their
   in-process timings.
4. **Wall time**: each cell's own time (run and measurement, recorded when it was computed) summed: what
   the full evaluation costs from an empty cache; and this call's time (cached cells cost seconds).

Writes ``benchmarks/out/evaluate/results.json`` (every cell with its per-pair values), the committed
summary ``benchmarks/evaluation.json`` (what notebook 09 and the report read when they do not recompute:
protocol, variant notes, the table rows with mean/std/min/max, the cells' metrics, flow agreement, Pareto
front, memory, machine, commit, times) and the fragment ``benchmarks/out/evaluate.md``. ``--quick`` writes
under ``benchmarks/out/quick/`` instead and never touches ``benchmarks/evaluation.json``.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as _dt
import json
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if "VSTLIB_DATA_DIR" not in os.environ and (REPO.parent / "shared" / "data" / "registry.tsv").is_file():
    os.environ["VSTLIB_DATA_DIR"] = str(REPO.parent / "shared" / "data")  # as the Makefile does
sys.path.insert(0, str(Path(__file__).resolve().parent))

from run_all import cpu_snapshot, git_state, machine_info, machine_line, other_cores, write_fragment  # noqa: E402

from vstlib import methods as vmethods  # noqa: E402
from vstlib.evaluate import METRICS, course_cache_dir, course_evaluation, evaluate  # noqa: E402

SUMMARY = REPO / "benchmarks" / "evaluation.json"
# The table's columns: (metric, header)
COLUMNS = [("e_warp_farneback", "E_warp Farneback ↓"), ("e_warp_gt", "E_warp GT (Sintel) ↓"),
           ("style_gram", "style Gram ↓"), ("style_w2", "style W2 ↓"), ("content", "content ↓"), ("ssim", "SSIM ↑"),
           ("colour_w2", "colour W2 ↓"), ("seconds_per_frame", "s/frame method"),
           ("wall_seconds_per_frame", "s/frame file to file")]
FLICKER, STYLE = "e_warp_farneback", "style_gram"


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="smoke protocol: 64 px, 3 frames (a minute or two)")
    p.add_argument("--cache", type=Path, default=None, help="cells folder (default: vstlib.evaluate.course_cache_dir())")
    p.add_argument("--device", default=None, help="cpu or cuda (default: CUDA if available)")
    p.add_argument("--threads", type=int, default=None,
                   help="torch threads (default torch's: one per core; on a 2-core machine shared with other jobs "
                        "1 ran 2-7x faster than 2)")
    p.add_argument("--memory", action=argparse.BooleanOptionalAction, default=True,
                   help="also measure each variant's peak memory on --memory-clip in fresh processes (default on)")
    p.add_argument("--memory-clip", default="sintel-gt/alley_1", help="the clip of the memory runs")
    p.add_argument("--render-only", action="store_true", help="rewrite the fragment and summary from results.json")
    p.add_argument("--out", type=Path, default=None, help="default benchmarks/out/evaluate (--quick: out/quick/evaluate)")
    args = p.parse_args(argv)
    args.out = args.out or REPO / "benchmarks" / "out" / ("quick" if args.quick else "") / "evaluate"
    args.summary = SUMMARY if not args.quick else args.out / "evaluation.json"
    args.cache = args.cache or course_cache_dir()
    return args


# ------------------------------------------------------------------------------------------------
# Measuring
# ------------------------------------------------------------------------------------------------


def cell_record(cache: Path, key: str) -> dict:
    path = cache / "cells" / f"{key}.json"
    return json.loads(path.read_text()) if path.is_file() else {}


def pareto(points: dict[str, tuple[float, float]]) -> tuple[list[str], dict[str, str]]:
    """(labels on the front, lowest flicker first; {dominated label: a label that dominates it}) for
    points ``label -> (flicker, style)``, both lower is better.

    >>> pareto({"a": (1, 5), "b": (2, 2), "c": (3, 3), "d": (5, 1)})
    (['a', 'b', 'd'], {'c': 'b'})
    """
    front, dominated = [], {}
    for label, (f, s) in points.items():
        by = next((o for o, (fo, so) in points.items()
                   if o != label and fo <= f and so <= s and (fo < f or so < s)), None)
        if by is None:
            front.append(label)
        else:
            dominated[label] = by
    return sorted(front, key=lambda k: points[k]), dominated


def summarize(results, args, wall: float, load: float, memory: dict | None) -> tuple[dict, list[dict]]:
    """(the summary written to evaluation.json, every cell with its per-pair values for results.json)."""
    protocol = results.protocol
    rows = results.table(("label", "style"), list(METRICS))
    by_clip = results.table(("label", "clip"), [FLICKER, STYLE])
    cells, seconds = [], {}
    for c in results.cells:
        rec = cell_record(args.cache, c.key) if c.status == "ok" else {}
        cells.append({"label": c.label, "method": c.method, "style": c.style, "clip": c.clip, "seed": c.seed,
                      "status": c.status, "reason": c.reason, "key": c.key, "metrics": c.metrics,
                      "size": rec.get("size"), "frame_range": rec.get("frame_range"), "device": rec.get("device"),
                      "cell_seconds": rec.get("cell_seconds"), "pairs": c.pairs})
        if rec.get("cell_seconds") is not None:
            seconds[c.label] = seconds.get(c.label, 0.0) + rec["cell_seconds"]
    # the target: every registered method has a row measured on every clip, for at least one painting
    covered = {}
    for r in rows:
        if r["status"] == "ok" and r["n"] >= len(protocol.clips):
            labels = covered.setdefault(r["method"], [])
            if r["label"] not in labels:
                labels.append(r["label"])
    missing = [m for m in vmethods.names() if m not in covered]
    fronts = {}
    for style in protocol.styles:
        points = {r["label"]: (r[FLICKER], r[STYLE]) for r in rows
                  if r["style"] == style and r["status"] == "ok" and r[FLICKER] is not None}
        front, dominated = pareto(points)
        fronts[style] = {"front": front, "dominated": dominated, "points": points}
    sizes = {}
    for c in cells:
        if c["size"] and c["clip"] not in sizes:
            sizes[c["clip"]] = c["size"]
    info, g = machine_info(), git_state()
    agreement = results.flow_agreement()
    summary = {
        "what": "the course evaluation: vstlib.evaluate.course_evaluation(), written by benchmarks/bench_evaluate.py",
        "smoke": args.quick,
        "date": _dt.datetime.now().strftime("%Y-%m-%d %H:%M"),
        "machine": info, "machine_line": machine_line(info),
        "commit": g["commit"], "dirty": g["dirty"],
        "command": " ".join(["python benchmarks/bench_evaluate.py", *sys.argv[1:]]),
        "protocol": dataclasses.asdict(protocol), "frame_sizes": sizes,
        "variants": [{"label": v.label, "method": v.method, "note": v.note} for v in results.variants],
        "metrics": {m: {"what": METRICS[m][0], "better": METRICS[m][1]} for m in METRICS},
        "rows": rows,
        "rows_by_clip": by_clip,
        "cells": [{k: v for k, v in c.items() if k != "pairs"} for c in cells],
        "flow_agreement": {"spearman": agreement["spearman"], "ratio": agreement["ratio"], "n": len(agreement["rows"])},
        "pareto": {s: {"front": f["front"], "dominated": f["dominated"]} for s, f in fronts.items()},
        "target": {"text": "one table covers every registered method on the same frames",
                   "met": not missing, "methods": vmethods.names(), "missing": missing, "covered_by": covered},
        "time": {"evaluation_seconds": sum(seconds.values()), "seconds_by_variant": seconds,
                 "timed_cells": sum(c["cell_seconds"] is not None for c in cells),
                 "this_call_seconds": wall, "computed_cells": len(results.computed),
                 "cells": len(results.cells), "other_cores": load},
        "memory": memory,
    }
    return summary, cells


def memory_rows(protocol, variants, args) -> dict:
    """Peak resident memory of each variant's stylize_video on one short clip, fresh processes."""
    small = dataclasses.replace(protocol, clips=(args.memory_clip,), styles=(protocol.styles[0],))
    t0 = time.perf_counter()
    res = evaluate(small, variants, args.out / "memory_cache", device=args.device, memory=True)
    rows = [{"label": r["label"], "status": r["status"], "reason": r["reason"], "peak_rss_mb": r["peak_rss_mb"],
             "peak_cuda_mb": r["peak_cuda_mb"]}
            for r in res.table(("label",), ["peak_rss_mb", "peak_cuda_mb"])]
    return {"clip": args.memory_clip, "style": protocol.styles[0], "rows": rows,
            "seconds": time.perf_counter() - t0}


# ------------------------------------------------------------------------------------------------
# Rendering
# ------------------------------------------------------------------------------------------------


def short(name) -> str:
    return Path(str(name)).stem if name else ""


def g3(v, digits: int = 3) -> str:
    return "–" if v is None else f"{v:.{digits}g}"


def pm(row: dict, m: str) -> str:
    """``mean ± std``, or the value alone when the cells agree (or only one has the metric, e.g. E_warp GT)."""
    if row.get(m) is None:
        return "–"
    return f"{g3(row[m])} ± {g3(row[m + '_std'], 2)}" if row[m + "_max"] > row[m + "_min"] else g3(row[m])


def markdown(s: dict) -> str:
    p = s["protocol"]
    clips = [short(c) for c in p["clips"]]
    sizes = ", ".join(f"{short(c)} {w}x{h}" for c, (h, w) in s["frame_sizes"].items())
    L = [f"*Run: {s['date']}, {s['machine_line']}, vstlib commit {s['commit']}"
         f"{' + uncommitted changes' if s['dirty'] else ''}, `{s['command']}`.*", ""]
    L += [f"**Protocol** (`vstlib.evaluate.course_evaluation({'smoke=True' if s['smoke'] else ''})`): clips "
          f"{', '.join(f'`{c}`' for c in p['clips'])}; paintings {', '.join(f'`{short(x)}`' for x in p['styles'])}; "
          f"longer side {p['max_side']} px ({sizes}); {p['n_frames']} consecutive frames per mp4 clip from "
          f"{p['start']:g} s (every {p['every']}), the Sintel scenes' first {min(p['n_frames'], 4)} frames; style, "
          f"content, SSIM and colour on frames 0, {p['judge_every']}, {2 * p['judge_every']}, ... of each clip; "
          f"seeds {tuple(p['seeds'])}. Every cell "
          "runs through `stylize_video` and is scored on its exact outputs by one fixed judge (metrics: "
          "`vstlib.evaluate.METRICS`). Variants:", ""]
    L += [f"* `{v['label']}` ({v['method']}): {v['note']}" for v in s["variants"]]
    t = s["target"]
    cover = "; ".join(f"{m}: {', '.join(f'`{x}`' for x in labels)}" for m, labels in t["covered_by"].items())
    L += ["", f"**Target: {t['text']}: {'met' if t['met'] else 'NOT met'}.** "
          f"Registered methods ({len(t['methods'])}): {', '.join(t['methods'])}; each with its rows measured on all "
          f"{len(p['clips'])} clips ({cover})" + (f"; missing: {', '.join(t['missing'])}" if t["missing"] else "")
          + ". A row that is *not available* says why (a network has no shipped model of that painting)."]
    L += ["", "**The table**: mean ± std over the clips (and seeds; `n` cells) of each variant and painting. "
          "E_warp in [0, 1] RGB units squared; style and content losses in the judge's units (compare within a "
          "painting); s/frame method: the model or optimizer alone; file to file: the whole `stylize_video` call.",
          ""]
    head = ["variant", "painting", "n"] + [h for _, h in COLUMNS]
    L += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in s["rows"]:
        keys = [f"`{r['label']}`", short(r["style"])]
        if r["status"] != "ok":
            L.append("| " + " | ".join(keys + ["0", f"not available: {r['reason']}"] + [""] * (len(COLUMNS) - 1))
                     + " |")
            continue
        L.append("| " + " | ".join(keys + [str(r["n"])] + [pm(r, m) for m, _ in COLUMNS]) + " |")
    L += ["", "**Spread over clips**: E_warp along Farneback per clip (mean over the paintings the variant "
          "has), and the range of the style loss (Gram) over the clips relative to its mean:", ""]
    head = ["variant"] + clips + ["Gram range / mean (per painting)"]
    L += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    by = {(r["label"], r["clip"]): r for r in s["rows_by_clip"]}
    for v in s["variants"]:
        vals = [g3(by.get((v["label"], c), {}).get(FLICKER)) for c in p["clips"]]
        spread = [f"{short(r['style'])} {(r[STYLE + '_max'] - r[STYLE + '_min']) / r[STYLE]:.2f}"
                  for r in s["rows"] if r["label"] == v["label"] and r["status"] == "ok" and r.get(STYLE)]
        L.append("| " + " | ".join([f"`{v['label']}`"] + vals + [", ".join(spread) or "–"]) + " |")
    L += ["", "**Flicker against style** (Pareto front of mean E_warp along Farneback and mean Gram style loss, "
          "both lower is better, per painting):", ""]
    for style, f in s["pareto"].items():
        front = ", ".join(f"`{x}`" for x in f["front"])
        dom = "; ".join(f"`{a}` by `{b}`" for a, b in f["dominated"].items())
        L.append(f"* {short(style)}: on the front, from the least flicker to the closest to the painting: {front}. "
                 f"Dominated (another variant flickers no more *and* is closer to the painting): {dom or 'none'}.")
    fa = s["flow_agreement"]
    if fa["n"]:
        L += ["", f"**Flow agreement** (Sintel pairs with ground truth, {fa['n']} cells): Spearman rank correlation "
              f"of E_warp along Farneback against along ground truth {g3(fa['spearman'], 3)}; median ratio "
              f"Farneback / ground truth {g3(fa['ratio'], 3)}. A rho near 1 means Farneback's E_warp, the only "
              "one the mp4 clips have, ranks the methods as the true motion does."]
    mem = s.get("memory")
    if mem:
        L += ["", f"**Peak memory** (each variant's `stylize_video` alone in a fresh Python process, "
              f"`{short(mem['clip'])}` with {short(mem['style'])}, Linux VmHWM, MB; interpreter and torch "
              f"included, `none` is that floor; {mem['seconds']:.0f} s for these runs): "
              + ", ".join(f"`{r['label']}` {g3(r['peak_rss_mb'], 4)}" if r["status"] == "ok" else
                          f"`{r['label']}` not available" for r in mem["rows"]) + "."]
    else:
        L += ["", "**Peak memory**: not measured in this run (`--no-memory`)."]
    tm = s["time"]
    per = ", ".join(f"`{k}` {v / 60:.1f}" for k, v in tm["seconds_by_variant"].items())
    measured = [c for c in s["cells"] if c["status"] == "ok"]
    timed = tm.get("timed_cells", sum(c.get("cell_seconds") is not None for c in measured))
    untimed = len(measured) - timed
    L += ["", f"**Wall time**: the whole evaluation from an empty cache took **{tm['evaluation_seconds'] / 60:.1f} "
          f"min** (the {timed} measured cells' own times, run and measurement, as recorded when each was "
          f"computed" + (f"; {untimed} cells were stored without their time and are not counted" if untimed else "")
          + f"; per variant, min: {per}). This call: {tm['this_call_seconds']:.0f} s, {tm['computed_cells']} cells "
          f"computed, the rest from the cache; other processes kept {tm['other_cores']:.2f} cores busy meanwhile "
          "(0 = the machine was ours)."]
    return "\n".join(L) + "\n"


def write(summary: dict, cells: list | None, args, command: str | None = None) -> None:
    args.out.mkdir(parents=True, exist_ok=True)
    if cells is not None:
        (args.out / "results.json").write_text(json.dumps({**summary, "cells": cells}, indent=1, default=float))
    args.summary.parent.mkdir(parents=True, exist_ok=True)
    args.summary.write_text(json.dumps(summary, indent=1, default=float) + "\n")
    print(f"wrote {args.summary}")
    md = markdown(summary)
    print("\n" + md)
    write_fragment("evaluate", md, command=command, quick=args.quick)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.render_only:
        saved = json.loads((args.out / "results.json").read_text())
        cells = saved.pop("cells")
        saved["cells"] = [{k: v for k, v in c.items() if k != "pairs"} for c in cells]
        cmd = saved["command"]
        threads = (saved.get("machine") or {}).get("torch_threads")
        if threads:  # the provenance line names the threads of the run, not of this re-rendering
            import torch

            torch.set_num_threads(threads)
        write(saved, None, args, command=f"{cmd}` (its results.json, re-rendered by `{cmd} --render-only")
        return 0
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
        os.environ["OMP_NUM_THREADS"] = str(args.threads)  # the memory runs' child processes too
    protocol, variants = course_evaluation(smoke=args.quick)
    print(f"bench_evaluate: {'smoke' if args.quick else 'full'} protocol, {len(variants)} variants, cache "
          f"{args.cache}", flush=True)
    before = cpu_snapshot()
    results = evaluate(protocol, variants, args.cache, device=args.device)
    after = cpu_snapshot()
    wall, load = after[0] - before[0], other_cores(before, after)
    memory = memory_rows(protocol, variants, args) if args.memory else None
    summary, cells = summarize(results, args, wall, load, memory)
    write(summary, cells, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
