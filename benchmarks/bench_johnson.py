#!/usr/bin/env python
"""Johnson et al.'s feed-forward network: speed (model only, end to end) and quality.

    python benchmarks/bench_johnson.py             # CPU or GPU, whatever is there (about 10 min on 2 cores)
    python benchmarks/bench_johnson.py --quick     # smoke run: tiny sizes
    python benchmarks/bench_johnson.py --device cuda --size 1280x720 --batch 8   # the GPU targets

1. **Model only** (forward passes of random frames at ``--size``, ``--batch`` frames each, median
   of ``--repeats`` after warm-up), all in one run so the ratios compare like with like:

   * *reference*: the reference TransformerNet architecture as it is usually run, float32,
     NCHW (contiguous) layout, torch's default threads, ``torch.no_grad``;
   * *vstlib default*: as :func:`vstlib.video.stylize_video` runs it: ``inference_mode``, the
     folded upsampling (each resize-convolution as one 2x2 convolution of the low-resolution
     input per output phase: the same function, 13 % fewer FLOPs), channels_last and bf16
     autocast on CUDA, NCHW and float32 on a CPU;
   * the default without the folding, with the other layout, and with ``torch.compile``
     (``--compile``; not the default: it takes about a minute to start on a CPU), each with its
     ratio to the reference. The variants take turns, so a noisy machine slows them alike;
   * the reduced-width network (16 channels) the same way.

   Frames per second, TFLOP/s (from the reference network's FLOPs, counted from the layer shapes,
   so the folded variant's figure is the *effective* rate), the ratio to the reference (CPU
   target: >= 1.25x).

2. **End to end**, file to file: ``stylize_video(..., "johnson")`` on ``--clip`` (decode, batches,
   encode with audio, in overlapping threads), frames per second against the model-only speed of
   the same configuration (target: >= 0.9x).

3. **Memory** (``--memory``): a synthetic 1080p clip (``--memory-frames`` frames) through the
   same pipeline with the network replaced by the identity (the pipeline's memory does not depend
   on the model; a real network at 1080p would take hours on a CPU): resident memory sampled
   every 0.1 s, reported at 10 %, 50 % and 100 % of the frames. Bounded queues: it stays flat.

4. **Quality**: on the held-aside frame (never drawn in training), the style loss of each shipped
   model's output at its training weights and layers, against a 300-step Gatys result at the same
   size, weights and layers (target: within 2x).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
if "VSTLIB_DATA_DIR" not in os.environ and (REPO.parent / "shared" / "data" / "registry.tsv").is_file():
    os.environ["VSTLIB_DATA_DIR"] = str(REPO.parent / "shared" / "data")  # as the Makefile does

from vstlib import data as vdata  # noqa: E402
from vstlib import johnson  # noqa: E402
from vstlib.gatys import GatysStylizer, load_style  # noqa: E402
from vstlib.io import probe_video, to_tensor  # noqa: E402
from vstlib.transformer_net import TransformerNet, flops_per_frame  # noqa: E402
from vstlib.utils import pick_device  # noqa: E402
from vstlib.video import stylize_video  # noqa: E402


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="smoke run: tiny sizes")
    p.add_argument("--size", default="640x360", help="frame size WxH (default 640x360)")
    p.add_argument("--batch", type=int, default=4, help="frames per forward pass (default 4)")
    p.add_argument("--repeats", type=int, default=5, help="timed passes per variant (default 5)")
    p.add_argument("--device", default=None, help="cpu, cuda (default: the best available)")
    p.add_argument("--amp", default="auto", help="vstlib's AMP setting (default auto: bf16 on CUDA)")
    p.add_argument("--compile", action="store_true", help="also time torch.compile (slow to start on a CPU)")
    p.add_argument("--clip", default="video/bbb_adain_640x360_10s.mp4", help="end-to-end clip (registry name)")
    p.add_argument("--seconds", type=float, default=4.0, help="end-to-end: seconds of the clip (default 4)")
    p.add_argument("--model", default="starry_night_vangogh", help="model for the end-to-end run")
    p.add_argument("--no-quality", action="store_true", help="skip part 4")
    p.add_argument("--no-speed", action="store_true", help="skip parts 1 and 2")
    p.add_argument("--models", nargs="+", metavar="NAME", help="part 4: these models (default: every shipped one)")
    p.add_argument("--memory", action="store_true", help="part 3: host memory over a synthetic 1080p clip")
    p.add_argument("--memory-frames", type=int, default=480, help="part 3: frames of the 1080p clip (default 480)")
    p.add_argument("--quality-size", type=int, default=384, help="part 3: longer side of the frame (default 384)")
    p.add_argument("--gatys-iters", type=int, default=300, help="part 3: Gatys iterations (default 300)")
    p.add_argument("--out", type=Path, default=REPO / "benchmarks" / "out" / "johnson")
    args = p.parse_args(argv)
    if args.quick:
        args.size, args.batch, args.repeats, args.seconds, args.quality_size, args.gatys_iters = "64x36", 2, 2, 0.5, 64, 5
    w, h = (int(v) for v in args.size.lower().split("x"))
    args.hw = (h, w)
    return args


def sync(dev):
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


def time_interleaved(variants: dict, dev, repeats: int) -> dict:
    """Median seconds of one call per variant, after two warm-up calls each. The variants take
    turns (round robin), so a slow spell of a shared machine hits them all alike."""
    for fn, x in variants.values():
        for _ in range(2):
            fn(x)
    sync(dev)
    times = {name: [] for name in variants}
    for _ in range(repeats):
        for name, (fn, x) in variants.items():
            t0 = time.perf_counter()
            fn(x)
            sync(dev)
            times[name].append(time.perf_counter() - t0)
    return {name: statistics.median(t) for name, t in times.items()}


def model_only(args, dev) -> dict:
    h, w = args.hw
    x = torch.rand(args.batch, 3, h, w, device=dev)
    x_cl = x.contiguous(memory_format=torch.channels_last)
    rows = {}
    for width in (32, 16):
        net = TransformerNet("instance", width).to(dev).eval()
        flops = flops_per_frame(net, h, w)

        def reference(inp, net=net):
            with torch.no_grad():
                return net(inp)

        def runner(inference):
            model = johnson.prepare_model(net, inference, dev)  # a copy
            amp = inference.resolved_amp(dev)
            inp = x_cl if inference.resolved_channels_last(dev) else x
            return (lambda i, model=model, amp=amp: johnson.stylize_batch(model, i, amp)), inp

        default = johnson.JohnsonInference(amp=args.amp)
        layout = "channels_last" if default.resolved_channels_last(dev) else "NCHW"
        precision = default.resolved_amp(dev) or "fp32"
        variants = {"reference (NCHW, no_grad, fp32)": (reference, x),
                    f"vstlib, upsampling not folded ({layout}, {precision})":
                        runner(johnson.JohnsonInference(amp=args.amp, fold_upsampling=False)),
                    f"vstlib default (folded upsampling, {layout}, {precision})": runner(default),
                    f"vstlib + channels_last={layout == 'NCHW'}":
                        runner(johnson.JohnsonInference(amp=args.amp, channels_last=layout == "NCHW"))}
        if args.compile:
            fn, inp = runner(johnson.JohnsonInference(amp=args.amp, compile=True))
            t0 = time.perf_counter()
            fn(inp)
            variants[f"vstlib + torch.compile (first call {time.perf_counter() - t0:.0f} s)"] = (fn, inp)
        seconds = time_interleaved(variants, dev, args.repeats)
        ref = args.batch / seconds["reference (NCHW, no_grad, fp32)"]
        for name, sec in seconds.items():
            fps = args.batch / sec
            row = rows[(width, name)] = {"width": width, "variant": name, "fps": fps, "tflops": fps * flops / 1e12,
                                         "gflop_per_frame": flops / 1e9, "ratio": fps / ref}
            print(f"  width {width:2d}  {name:58s} {fps:8.2f} frames/s  {row['tflops']:.3f} TFLOP/s  "
                  f"{row['ratio']:.2f}x reference", flush=True)
    return {"size": [w, h], "batch": args.batch, "rows": list(rows.values())}


def end_to_end(args, dev, model_fps: float) -> dict:
    clip = vdata.fetch(args.clip)
    info = probe_video(clip)
    h, w = args.hw
    out = args.out / "e2e.mp4"
    inference = johnson.JohnsonInference(model=args.model, batch=args.batch, amp=args.amp)
    t0 = time.perf_counter()
    res = stylize_video(clip, None, out, "johnson", inference, size=(h, w), duration=args.seconds, device=str(dev),
                        progress=False)
    wall = time.perf_counter() - t0
    fps = res.n_frames / wall
    print(f"  end to end {clip.name} -> {out.name}: {res.n_frames} frames {w}x{h} in {wall:.1f} s = {fps:.2f} frames/s "
          f"({fps / model_fps:.2f}x model-only {model_fps:.2f}); audio {probe_video(out).has_audio}", flush=True)
    return {"frames": res.n_frames, "wall_s": wall, "fps": fps, "model_fps": model_fps, "ratio": fps / model_fps,
            "source_fps": info.fps}


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def memory(args, dev) -> dict:
    import threading

    from vstlib.io import VideoWriter, read_frames, resize_frame

    src = vdata.fetch(args.clip)
    clip = args.out / "synthetic_1080p.mp4"
    if not clip.is_file() or probe_video(clip).n_frames != args.memory_frames:
        frames = [resize_frame(f, size=(1080, 1920)) for f in read_frames(src, end=48)]
        with VideoWriter(clip, fps=24, audio_from=src) as writer:
            for i in range(args.memory_frames):
                writer.write(frames[i % len(frames)])
    original = johnson.stylize_batch
    johnson.stylize_batch = lambda model, x, amp=None: x  # the pipeline alone
    samples, done = [], threading.Event()

    def sample():
        while not done.is_set():
            samples.append((time.perf_counter(), rss_mb()))
            time.sleep(0.1)

    thread = threading.Thread(target=sample, daemon=True)
    before = rss_mb()
    thread.start()
    t0 = time.perf_counter()
    try:
        res = stylize_video(clip, None, args.out / "memory_out.mp4", "johnson",
                            johnson.JohnsonInference(model=args.model, batch=args.batch), device=str(dev), progress=False)
    finally:
        johnson.stylize_batch = original
        done.set()
        thread.join()
    wall = time.perf_counter() - t0
    at = {}
    for frac in (0.1, 0.5, 1.0):
        t = t0 + frac * wall
        at[frac] = max((m for ts, m in samples if ts <= t), default=float("nan"))
    print(f"  1080p pipeline, {res.n_frames} frames in {wall:.1f} s ({res.n_frames / wall:.1f} frames/s, identity model): "
          f"RSS before {before:.0f} MB, peak by 10 % {at[0.1]:.0f} MB, by 50 % {at[0.5]:.0f} MB, by 100 % {at[1.0]:.0f} MB",
          flush=True)
    return {"frames": res.n_frames, "wall_s": wall, "rss_before_mb": before,
            "peak_rss_mb": {str(k): v for k, v in at.items()}}


def quality(args, dev) -> list[dict]:
    frame = to_tensor(johnson.holdout_frame(max_side=args.quality_size)).to(dev)
    h, w = frame.shape[-2:]
    rows = []
    gatys_cache = {}  # (style, loss settings) -> (image, seconds): the width-16 model shares its style
    for name in args.models or johnson.shipped_models():
        info = johnson.model_info(name)
        cfg = johnson.model_train_config(name)
        style_name = info["info"].get("style", name)
        style = load_style(vdata.resolve(style_name, "style"))
        model = johnson.load_model(name, dev)
        out = johnson.stylize_image(frame, model)
        net_loss = johnson.gram_style_loss([out], style, cfg, dev)[0]
        gcfg = johnson.gatys_config_like(cfg, iters=args.gatys_iters)
        key = (style_name, repr(gcfg))
        if key not in gatys_cache:
            t0 = time.perf_counter()
            image = GatysStylizer(style, gcfg, device=dev)(frame).image
            gatys_cache[key] = (image, time.perf_counter() - t0)
        gatys_image, gatys_s = gatys_cache[key]
        gatys_loss = johnson.gram_style_loss([gatys_image], style, cfg, dev)[0]
        from vstlib.io import save_image

        save_image(out, args.out / f"quality_{name}_net.png")
        save_image(gatys_image, args.out / f"quality_{name}_gatys.png")
        row = {"model": name, "size": [w, h], "net_style_loss": net_loss, "gatys_style_loss": gatys_loss,
               "ratio": net_loss / gatys_loss, "gatys_seconds": gatys_s, "width": info["net_config"]["width"]}
        rows.append(row)
        print(f"  {name:30s} {w}x{h}: network style loss {net_loss:.4g}, Gatys {args.gatys_iters} steps {gatys_loss:.4g} "
              f"-> {row['ratio']:.2f}x (target <= 2)", flush=True)
    return rows


def markdown(device: str, mo, e2e, mem, q, args) -> str:
    """The tables of results.json as markdown (what RESULTS.md shows)."""
    lines = [f"Device: {device}. Command: `python benchmarks/bench_johnson.py {' '.join(sys.argv[1:])}`.", ""]
    if mo:
        w, h = mo["size"]
        lines += [f"**Model only, {w}x{h}, batch {mo['batch']}** (random frames; the variants take turns, median of "
                  f"{args.repeats}):", "", "| network | variant | frames/s | TFLOP/s | vs reference |", "|---|---|---|---|---|"]
        for r in mo["rows"]:
            net = f"width {r['width']} ({r['gflop_per_frame']:.1f} GFLOP/frame)"
            bold = "**" if r["variant"].startswith("vstlib default") else ""
            lines.append(f"| {net} | {r['variant']} | {bold}{r['fps']:.2f}{bold} | {r['tflops']:.3f} | "
                         f"{bold}{r['ratio']:.2f}x{bold} |")
        lines.append("")
    if e2e:
        lines += [f"**End to end**, file to file (`stylize_video(..., \"johnson\")`, `{Path(args.clip).name}`, "
                  f"{args.seconds:g} s, {args.size}, batch {args.batch}, audio kept): {e2e['frames']} frames in "
                  f"{e2e['wall_s']:.1f} s = **{e2e['fps']:.2f} frames/s = {e2e['ratio']:.2f}x** the model-only "
                  f"{e2e['model_fps']:.2f} frames/s (target >= 0.9x).", ""]
    if mem:
        pk = mem["peak_rss_mb"]
        lines += [f"**Memory, 1080p** (synthetic clip, identity network): {mem['frames']} frames in {mem['wall_s']:.1f} s; "
                  f"resident memory {mem['rss_before_mb']:,.0f} MB before, at most {pk['0.1']:,.0f} MB by 10 % of the "
                  f"frames, {pk['0.5']:,.0f} MB by 50 %, {pk['1.0']:,.0f} MB by 100 %.", ""]
    if q:
        lines += [f"**Quality on the held-aside frame** (Gram style loss at each model's training layers and weights; "
                  f"Gatys {args.gatys_iters} iterations, same settings and size):", "",
                  "| model | size | network style loss | Gatys | ratio | target <= 2x | Gatys time |", "|---|---|---|---|---|---|---|"]
        for r in q:
            w, h = r["size"]
            lines.append(f"| `{r['model']}` (width {r['width']}) | {w}x{h} | {r['net_style_loss']:,.0f} | "
                         f"{r['gatys_style_loss']:,.0f} | **{r['ratio']:.2f}x** | {'met' if r['ratio'] <= 2 else 'missed'} | "
                         f"{r['gatys_seconds']:.0f} s |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    args = parse_args(argv)
    dev = pick_device(args.device)
    args.out.mkdir(parents=True, exist_ok=True)
    name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else "CPU"
    print(f"bench_johnson: {name}, {os.cpu_count()} cores, torch {torch.__version__} ({torch.get_num_threads()} threads)")
    mo = e2e = None
    if not args.no_speed:
        print(f"\n== model only, {args.size}, batch {args.batch}")
        mo = model_only(args, dev)
        best = next(r for r in mo["rows"] if r["width"] == 32 and r["variant"].startswith("vstlib default"))
        print("\n== end to end")
        e2e = end_to_end(args, dev, best["fps"])
    mem = None
    if args.memory:
        print("\n== memory, 1080p")
        mem = memory(args, dev)
    q = []
    if not args.no_quality:
        print("\n== quality on the held-aside frame")
        q = quality(args, dev)
    (args.out / "results.json").write_text(json.dumps({"device": name, "model_only": mo, "end_to_end": e2e,
                                                       "quality": q, "memory": mem, "argv": sys.argv[1:]}, indent=1, default=str))
    print(f"\nwrote {args.out / 'results.json'}")
    md = markdown(name, mo, e2e, mem, q, args)
    (args.out / "results.md").write_text(md)
    print("\n" + md)
    from run_all import write_fragment  # benchmarks/ is on sys.path when a script runs

    write_fragment("johnson", md, quick=args.quick)
    return 0


if __name__ == "__main__":
    sys.exit(main())
