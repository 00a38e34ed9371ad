#!/usr/bin/env python
"""ReCoNet's ablation: do the temporal losses buy stability at equal training budget, and at what style cost?

    python benchmarks/bench_reconet.py            # trains 5 arms (~25 min on 2 cores), then evaluates (~10 min)
    python benchmarks/bench_reconet.py --quick    # smoke run: a few steps at 64 px, tiny evaluation (~3 min)

**Training** (one equal budget; every arm sees the same frame pairs of the default training set,
:class:`vstlib.training.FramePairs`: the sample clips without their last ``HOLDOUT_SECONDS`` and the
Sintel frames with ground-truth flow, DeepFlow flow; the same seed, so the same crops per step):

* a **pixel warm-up** of a ReCoNet (``--warmup`` steps of reconstruction, no VGG), trained once;
* arm **A**: from the warm-up, ``--steps`` perceptual steps with the temporal losses off
  (lambda_f = lambda_o = 0: a Johnson-style network, trained on both frames of each pair);
* arm **B**: the same, with the temporal losses on (luminance term), for each pair of weights
  ``lambda_f:lambda_o`` of ``--lambdas`` (the first pair is the shipped model's recipe);
* arm **C**: the shipped Johnson network ``starry_night_vangogh_w16`` fine-tuned for ``--steps``
  steps with its own perceptual loss (its TrainConfig) plus the same temporal losses (each pair); **C0**, the
  shipped network itself, for reference.

The arms run at the same time, one thread each (``--jobs``), into ``--out``/work/<arm>; a finished
arm is not trained again (delete its folder to redo it), an interrupted one resumes.

**Evaluation** on held-aside frames no training step drew: ``--frames`` consecutive frames at the
start of the held-aside last 2 s of ``video/sintel_640x360_10s.mp4`` and
``video/tears_of_steel_640x360_10s.mp4``, at ``--eval-size`` (384x216):

1. flicker: E_warp, Ruder's masked MSE and ReCoNet's luminance variant
   (:func:`vstlib.metrics.temporal_errors`) along an *independent* flow (Farneback; training used
   DeepFlow);
2. style: the Gram style loss (:func:`vstlib.johnson.gram_style_loss`) of every 4th frame, by two
   fixed judges for all models: the ReCoNet arms' training loss (VGG16's layers mapped to VGG19) and
   the Johnson network's (relu1_1 ... relu5_1), both at style scale 2;
3. next to them at a small size (``--small``, 160x90, first ``--small-frames`` frames of each clip):
   per-frame Gatys and Ruder (``--gatys-iters``), and the networks on the same small frames;
4. speed: model-only at 640x360 (batch 4, ReCoNet arm B (first pair) against the Johnson networks, interleaved,
   the same threads), and file to file with audio kept (``vst stylize --method reconet``).

Targets (issue 12): E_warp(B) <= 0.5 E_warp(A) at style loss(B) <= 1.25 style loss(A); ReCoNet's
model-only speed >= Johnson's at 640x360. Writes ``results.json``, the models of the arms
(``--out``/arm_*.pth) and the fragment ``benchmarks/out/reconet.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
if "VSTLIB_DATA_DIR" not in os.environ and (REPO.parent / "shared" / "data" / "registry.tsv").is_file():
    os.environ["VSTLIB_DATA_DIR"] = str(REPO.parent / "shared" / "data")  # as the Makefile does

from vstlib import data as vdata  # noqa: E402
from vstlib import johnson, reconet  # noqa: E402
from vstlib.gatys import load_style  # noqa: E402
from vstlib.methods.reconet import ReconetTrainConfig  # noqa: E402

STYLE = "starry_night_vangogh"
JOHNSON = "starry_night_vangogh_w16"
EVAL_CLIPS = ("video/sintel_640x360_10s.mp4", "video/tears_of_steel_640x360_10s.mp4")
ARM_TEXT = {"A": "ReCoNet, temporal losses off", "B": "ReCoNet, temporal losses on",
            "C": f"Johnson {JOHNSON} fine-tuned with the temporal losses", "C0": f"Johnson {JOHNSON} as shipped"}


def arm_ids(args) -> list[str]:
    """A, then B and C for each (lambda_f, lambda_o) of --lambdas: ids like ``B_50000_5e+06`` (folders, files)."""
    return ["A"] + [f"{kind}_{f:g}_{o:g}" for f, o in args.lambdas for kind in ("B", "C")]


def arm_lambdas(arm: str) -> tuple[float, float]:
    _, f, o = arm.split("_")
    return float(f), float(o)


def arm_text(arm: str) -> str:
    if arm in ("A", "C0"):
        return f"{arm}: {ARM_TEXT[arm]}"
    f, o = arm_lambdas(arm)
    return f"{arm[0]}: {ARM_TEXT[arm[0]]}, lambda_f {f:g}, lambda_o {o:g}"


def _lambdas(text: str) -> list[tuple[float, float]]:
    return [tuple(float(v) for v in pair.split(":")) for pair in text.split(",") if pair.strip()]


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="smoke run: a few steps at 64 px, a tiny evaluation")
    p.add_argument("--steps", type=int, default=250, help="perceptual steps per arm (default 250)")
    p.add_argument("--warmup", type=int, default=400, help="pixel warm-up steps of the ReCoNet arms (default 400)")
    p.add_argument("--width", type=int, default=16, help="ReCoNet width (default 16, as the Johnson w16 model)")
    p.add_argument("--crop", type=int, default=128, help="training crop (default 128, as the shipped models)")
    p.add_argument("--batch", type=int, default=2, help="frame pairs per step (default 2: 4 images, as Johnson's 4 crops)")
    p.add_argument("--lambdas", type=_lambdas, default="5e4:5e6,2e5:2e7",
                   help="temporal weights lambda_f:lambda_o of arms B and C, comma-separated pairs (default "
                        "5e4:5e6,2e5:2e7; the first pair is the shipped model's recipe)")
    p.add_argument("--jobs", type=int, default=3, help="arms trained at once, one thread each (default 3)")
    p.add_argument("--train-only", action="store_true", help="train the arms, evaluate nothing")
    p.add_argument("--render-only", action="store_true", help="rewrite the fragment from --out/results.json (no run)")
    p.add_argument("--frames", type=int, default=24, help="held-aside frames per clip (default 24)")
    p.add_argument("--eval-size", default="384x216", help="evaluation frame size WxH (default 384x216)")
    p.add_argument("--small", default="160x90", help="size of the Gatys/Ruder comparison (default 160x90)")
    p.add_argument("--small-frames", type=int, default=8, help="frames per clip of that comparison (default 8)")
    p.add_argument("--gatys-iters", type=int, default=80, help="Gatys iterations per frame, Ruder's first frame "
                                                              "(default 80; Ruder's later frames a third)")
    p.add_argument("--speed-size", default="640x360", help="model-only speed size (default 640x360)")
    p.add_argument("--repeats", type=int, default=5, help="interleaved timing rounds (default 5)")
    p.add_argument("--seconds", type=float, default=2.0, help="file to file: seconds of the clip (default 2)")
    p.add_argument("--out", type=Path, default=REPO / "benchmarks" / "out" / "reconet")
    p.add_argument("--arm", help=argparse.SUPPRESS)  # internal: train this arm in this process
    args = p.parse_args(argv)
    if args.quick:
        args.steps, args.warmup, args.crop, args.frames, args.eval_size = 3, 2, 64, 4, "96x54"
        args.small, args.small_frames, args.gatys_iters, args.speed_size, args.repeats = "64x36", 3, 6, "160x90", 2
        args.seconds = 0.5
        args.out = REPO / "benchmarks" / "out" / "quick" / "reconet"
    args.work = args.out / "work"
    if isinstance(args.lambdas, str):
        args.lambdas = _lambdas(args.lambdas)
    return args


def _size(text: str) -> tuple[int, int]:
    w, h = (int(v) for v in text.lower().split("x"))
    return h, w


def _style():
    return load_style(vdata.resolve(STYLE, "style"))


def pairs_for(args):
    from vstlib.training import FramePairs

    if args.quick:  # a handful of pairs, fast flow: the smoke path only
        return FramePairs(max_pairs=2, pair_every=8, flow="farneback", sintel=False)
    return FramePairs()


# ------------------------------------------------------------------------------------------
# Training
# ------------------------------------------------------------------------------------------


def arm_config(arm: str, args) -> ReconetTrainConfig:
    """The training settings of an arm (all: same data, seed, crops, batch, steps, learning rate)."""
    common = dict(width=args.width, crop=args.crop, batch=args.batch, steps=args.steps, warmup_steps=0,
                  style_scale=2.0, checkpoint_every=25, seed=0, flow="farneback" if args.quick else "deepflow")
    if arm == "warmup":  # one step more than the warm-up, stopped at the warm-up's checkpoint (see train_warmup)
        return ReconetTrainConfig(**(common | dict(steps=args.warmup + 1, warmup_steps=args.warmup,
                                                   checkpoint_every=args.warmup, feature_temporal_weight=0.0,
                                                   output_temporal_weight=0.0)))
    init = str(args.work / "warmup" / "checkpoint.pt")
    if arm == "A":
        return ReconetTrainConfig(**(common | dict(feature_temporal_weight=0.0, output_temporal_weight=0.0, init=init)))
    lambda_f, lambda_o = arm_lambdas(arm)
    temporal = dict(feature_temporal_weight=lambda_f, output_temporal_weight=lambda_o)
    if arm[0] == "B":
        return ReconetTrainConfig(**(common | temporal | dict(init=init)))
    # C: the Johnson network's own perceptual loss (layers, weights, style scale) plus the temporal losses
    jcfg = johnson.model_train_config(JOHNSON)
    own = {k: getattr(jcfg, k) for k in ("content_layers", "style_layers", "content_weight", "style_weight",
                                         "style_loss", "tv_weight", "style_scale", "weights")}
    return ReconetTrainConfig(**(common | own | temporal | dict(init=JOHNSON, width=jcfg.width)))


def train_warmup(args, pairs) -> float:
    """The shared pixel warm-up: ``args.warmup`` steps, kept as work/warmup/checkpoint.pt."""
    folder = args.work / "warmup"
    ckpt = folder / "checkpoint.pt"
    if ckpt.is_file() and torch.load(ckpt, map_location="cpu", weights_only=True)["step"] == args.warmup:
        return json.loads((folder / "seconds.json").read_text())["seconds"]
    cfg = arm_config("warmup", args)
    # max_seconds=0 stops the loop at its first checkpoint, the warm-up's last step: no perceptual step is taken
    res = reconet.train(_style(), cfg, pairs, folder, device="cpu", progress=False, max_seconds=0)
    assert res.steps == args.warmup, res.steps
    (folder / "seconds.json").write_text(json.dumps({"seconds": res.seconds}))
    return res.seconds


def train_arm(arm: str, args) -> None:
    """Train one arm (in its own process, one thread) and export its model to --out/arm_<arm>.pth."""
    torch.set_num_threads(1)
    folder = args.work / arm
    cfg = arm_config(arm, args)
    pairs = pairs_for(args)
    t0 = time.perf_counter()
    res = reconet.train(_style(), cfg, pairs, folder, device="cpu", progress=False,
                        on_step=lambda s, v: print(f"{arm} step {s}: " + ", ".join(f"{k} {x:.4g}" for k, x in v.items()
                                                                                if x), flush=True)
                        if s % 10 == 0 or s <= 3 else None)
    seconds = json.loads((folder / "seconds.json").read_text())["seconds"] if (folder / "seconds.json").is_file() else 0.0
    seconds += res.seconds
    (folder / "seconds.json").write_text(json.dumps({"seconds": seconds, "steps": res.steps,
                                                     "threads": torch.get_num_threads()}))
    losses = {k: [float(f"{v:.4g}") for v in values] for k, values in res.losses.items()}
    reconet.export_model(res.model, args.out / f"arm_{arm}.pth", cfg,
                         {"style": STYLE, "data": pairs.described, "steps": res.steps, "device": "cpu",
                          "losses": losses, "seconds": round(seconds, 1), "threads": 1,
                          "recipe": f"benchmarks/bench_reconet.py arm {arm}"})
    print(f"{arm}: {res.steps} steps, {seconds:.0f} s in all, {time.perf_counter() - t0:.0f} s this run", flush=True)


def loss_magnitudes(args, pairs) -> dict:
    """The unweighted loss terms of the shipped Johnson network and of the warm-up on a few batches:
    what the temporal weights are set against."""
    out = {}
    style = _style()
    for label, arm, model in (("Johnson w16 (stylized)", "C_1_1", johnson.load_model(JOHNSON)),
                              ("ReCoNet warm-up", "B_1_1", reconet.initial_network(args.work / "warmup" / "checkpoint.pt"))):
        cfg = arm_config(arm, args)  # weights 1: the unweighted terms
        step = reconet.make_step(cfg, style, "cpu")
        vals: dict[str, list[float]] = {}
        with torch.no_grad():
            for s in range(3):
                parts = step(model, pairs.batch(np.random.default_rng([cfg.seed, 10_000 + s]), cfg.batch, cfg.crop), 10**6)
                for k, v in parts.items():
                    vals.setdefault(k, []).append(float(v))
        out[label] = {k: float(np.mean(v)) for k, v in vals.items()}
        print(f"unweighted losses, {label}: " + ", ".join(f"{k} {v:.4g}" for k, v in out[label].items()), flush=True)
    return out


def _trained(arm: str, args) -> bool:
    """Whether --out/arm_<arm>.pth holds this arm trained with these settings (else it is trained or resumed)."""
    path = args.out / f"arm_{arm}.pth"
    if not path.is_file():
        return False
    stored = torch.load(path, map_location="cpu", weights_only=True)["train_config"]
    return json.dumps(stored, sort_keys=True) == json.dumps(arm_config(arm, args).to_dict(), sort_keys=True)


def train_all(args) -> dict:
    args.work.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(2)
    pairs = pairs_for(args)
    print(f"training data: {'; '.join(pairs.described)}", flush=True)
    warm = train_warmup(args, pairs)
    print(f"warm-up: {args.warmup} steps, {warm:.0f} s", flush=True)
    magnitudes = loss_magnitudes(args, pairs)
    del pairs
    todo = [a for a in arm_ids(args) if not _trained(a, args)]
    cmd = [sys.executable, str(Path(__file__).resolve()), "--steps", str(args.steps), "--warmup", str(args.warmup),
           "--width", str(args.width), "--crop", str(args.crop), "--batch", str(args.batch),
           "--out", str(args.out)]
    cmd += ["--quick"] if args.quick else []
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    t0 = time.perf_counter()
    running: list[tuple[str, subprocess.Popen]] = []
    while todo or running:
        while todo and len(running) < max(1, args.jobs):
            arm = todo.pop(0)
            log = (args.work / f"{arm}.log").open("w")
            running.append((arm, subprocess.Popen(cmd + ["--arm", arm], stdout=log, stderr=subprocess.STDOUT, env=env)))
            print(f"training arm {arm_text(arm)}, log {args.work / f'{arm}.log'}", flush=True)
        time.sleep(2)
        for arm, proc in list(running):
            if proc.poll() is not None:
                running.remove((arm, proc))
                if proc.returncode:
                    raise SystemExit(f"arm {arm} failed (exit {proc.returncode}); see {args.work / f'{arm}.log'}")
                print(f"arm {arm} done after {time.perf_counter() - t0:.0f} s", flush=True)
    seconds = {a: json.loads((args.work / a / "seconds.json").read_text()) for a in arm_ids(args)}
    return {"warmup_seconds": warm, "arms": seconds, "magnitudes": magnitudes}


# ------------------------------------------------------------------------------------------
# Evaluation
# ------------------------------------------------------------------------------------------

def _to_tensor(frame: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(frame).permute(2, 0, 1)[None].float() / 255


def held_aside(clip_name: str, n: int, size: tuple[int, int]) -> tuple[list[np.ndarray], int, float]:
    """``n`` frames from the start of the clip's held-aside end (never drawn in training), their
    first index and the clip's frame rate."""
    from vstlib.io import probe_video, read_frames
    from vstlib.johnson_train import HOLDOUT_SECONDS

    path = vdata.fetch(clip_name)
    info = probe_video(path)
    first = info.n_frames - int(round(HOLDOUT_SECONDS * info.fps))
    return list(read_frames(path, size=size, start=first, end=first + n)), first, info.fps


def run_model(model, frames: list[np.ndarray], batch: int = 4) -> list[np.ndarray]:
    outs = []
    with torch.inference_mode():
        for i in range(0, len(frames), batch):
            x = torch.from_numpy(np.stack(frames[i:i + batch])).permute(0, 3, 1, 2).float() / 255
            y = model(x).clamp(0, 1)
            outs += list((y.permute(0, 2, 3, 1).numpy() * 255).round().astype(np.uint8))
    return outs


def load_models(args) -> dict:
    models = {}
    for arm in arm_ids(args):
        load = johnson.load_model if arm[0] == "C" else reconet.load_model
        models[arm] = load(args.out / f"arm_{arm}.pth", "cpu")
    return models | {"C0": johnson.load_model(JOHNSON, "cpu")}


def judges(args) -> dict:
    """The fixed style judges: the ReCoNet arms' training loss and the Johnson network's."""
    return {"reconet": arm_config("A", args), "johnson": johnson.model_train_config(JOHNSON)}


def score(inputs, outputs, flows, style, judge_cfgs, every: int = 4) -> dict:
    from vstlib.metrics import temporal_errors

    row = temporal_errors(inputs, outputs, flows=flows).summary()
    picked = [_to_tensor(o) for o in outputs[::every]]
    for name, cfg in judge_cfgs.items():
        row[f"style_{name}"] = float(np.mean(johnson.gram_style_loss(picked, style, cfg, device="cpu")))
    return row


def optimization_methods(args, clip_name: str, size, n: int) -> dict:
    """Per-frame Gatys and Ruder on the first ``n`` held-aside frames at ``size`` (exact outputs)."""
    from vstlib.gatys import GatysConfig
    from vstlib.methods.ruder import RuderConfig
    from vstlib.runner import KeepOutputs, stylize_video

    _, first, fps = held_aside(clip_name, 1, size)
    gatys = GatysConfig(iters=args.gatys_iters)
    configs = {"Gatys": ("gatys", gatys),
               "Ruder": ("ruder", RuderConfig(gatys=gatys, frame_iters=max(1, args.gatys_iters // 3)))}
    out = {}
    for label, (method, cfg) in configs.items():
        cap = KeepOutputs()
        t0 = time.perf_counter()
        res = stylize_video(vdata.fetch(clip_name), vdata.resolve(STYLE, "style"),
                            args.out / f"{Path(clip_name).stem}_{method}.mp4", method, cfg, size=size,
                            start=(first + 0.25) / fps, duration=n / fps, device="cpu", progress=False,
                            post_steps=[cap], keep_cache=False)
        out[label] = {"frames": cap.frames, "range": (res.first_frame, res.end_frame),
                      "seconds_per_frame": (time.perf_counter() - t0) / max(1, len(cap.frames))}
    return out


def quality(args, models: dict) -> dict:
    from vstlib.flow import clip_pairs, compute_flows
    from vstlib.io import read_frames

    style = _style()
    judge_cfgs = judges(args)
    big, small = _size(args.eval_size), _size(args.small)
    result = {"main": {}, "small": {}}
    for clip_name in EVAL_CLIPS:
        key = Path(clip_name).stem
        frames, first, _ = held_aside(clip_name, args.frames, big)
        flows = compute_flows(frames, clip_pairs(len(frames), (1,)), method="farneback", progress=False)
        rows = {}
        for label, model in models.items():
            rows[label] = score(frames, run_model(model, frames), flows, style, judge_cfgs)
            print(f"  {key} {label}: " + ", ".join(f"{k} {v:.5g}" for k, v in rows[label].items()), flush=True)
        result["main"][key] = {"first_frame": first, "frames": len(frames), "rows": rows}
        # Gatys and Ruder, and the networks, on the same small frames
        opt = optimization_methods(args, clip_name, small, args.small_frames)
        lo, hi = opt["Gatys"]["range"]
        assert opt["Ruder"]["range"] == (lo, hi)
        sframes = list(read_frames(vdata.fetch(clip_name), size=small, start=lo, end=hi))
        sflows = compute_flows(sframes, clip_pairs(len(sframes), (1,)), method="farneback", progress=False)
        srows = {}
        for label, model in models.items():
            srows[label] = score(sframes, run_model(model, sframes), sflows, style, judge_cfgs, every=1)
        for label, o in opt.items():
            srows[label] = score(sframes, o["frames"], sflows, style, judge_cfgs, every=1)
            srows[label]["seconds_per_frame"] = o["seconds_per_frame"]
        for label, r in srows.items():
            print(f"  {key} small {label}: " + ", ".join(f"{k} {v:.5g}" for k, v in r.items()), flush=True)
        result["small"][key] = {"first_frame": lo, "frames": len(sframes), "rows": srows}
    return result


def speed(args, models: dict) -> dict:
    """Model-only frames per second at --speed-size (batch 4, vstlib's inference preparation),
    interleaved, 2 threads; and file to file with audio for reconet and the Johnson network."""
    from bench_arbitrary import clip_with_audio
    from bench_johnson import time_interleaved

    from vstlib.io import probe_video
    from vstlib.methods.johnson import JohnsonConfig
    from vstlib.runner import stylize_video
    from vstlib.transformer_net import flops_per_frame

    torch.set_num_threads(2)
    dev = torch.device("cpu")
    h, w = _size(args.speed_size)
    x = torch.rand(4, 3, h, w)
    shipped = arm_ids(args)[1]  # B with the first pair of --lambdas
    nets = {f"ReCoNet (arm {shipped})": models[shipped], f"Johnson {JOHNSON}": models["C0"],
            "Johnson starry_night_vangogh (width 32)": johnson.load_model("starry_night_vangogh", "cpu")}
    variants = {}
    for label, net in nets.items():
        prepared = johnson.prepare_model(net, JohnsonConfig(), dev)
        variants[label] = (lambda inp, m=prepared: johnson.stylize_batch(m, inp), x)
    seconds = time_interleaved(variants, dev, args.repeats)
    rows = {label: {"fps": 4 / s, "ms_per_frame": 1000 * s / 4, "gflop": flops_per_frame(nets[label], h, w) / 1e9,
                    "parameters": sum(p.numel() for p in nets[label].parameters())} for label, s in seconds.items()}
    for label, r in rows.items():
        print(f"  model only {label}: {r['fps']:.1f} frames/s, {r['gflop']:.1f} GFLOP", flush=True)
    clip = clip_with_audio(args.out)
    files = {"reconet": ("reconet", str(args.out / f"arm_{shipped}.pth")), "johnson": ("johnson", JOHNSON)}
    walls = {k: [] for k in files}
    audio = {}
    for label, (method, model) in files.items():  # warm-up, untimed
        stylize_video(clip, None, args.out / f"file_{label}_warmup.mp4", method, model, duration=0.25, device="cpu",
                      progress=False)
    for _ in range(2):
        for label, (method, model) in files.items():
            out = args.out / f"file_{label}.mp4"
            for leftover in out.parent.glob(f".{out.name}.vst-*"):
                shutil.rmtree(leftover)
            t0 = time.perf_counter()
            res = stylize_video(clip, None, out, method, model, duration=args.seconds, device="cpu", progress=False)
            walls[label].append((time.perf_counter() - t0) / res.n_frames)
            info = probe_video(out)
            audio[label] = bool(info.has_audio)
            size = f"{info.width}x{info.height}"
    files_rows = {label: {"ms_per_frame": 1000 * statistics.median(v), "fps": 1 / statistics.median(v),
                          "audio_kept": audio[label], "size": size} for label, v in walls.items()}
    for label, r in files_rows.items():
        print(f"  file to file {label}: {r['fps']:.1f} frames/s, audio kept {r['audio_kept']}", flush=True)
    return {"size": args.speed_size, "threads": torch.get_num_threads(), "model_only": rows, "file": files_rows,
            "clip": clip.name, "seconds": args.seconds}


def markdown(args, training: dict, q: dict, s: dict) -> str:
    cmd = "python benchmarks/bench_reconet.py" + (" --quick" if args.quick else "")
    arms = training["arms"]
    lines = [f"`{cmd}` (CPU, {os.cpu_count()} cores, torch {torch.__version__}). **Budget**: a shared pixel warm-up "
             f"of {args.warmup} steps ({training['warmup_seconds']:.0f} s), then {args.steps} perceptual steps per arm "
             f"of {args.batch} frame pairs ({2 * args.batch} images) at {args.crop} px, width {args.width}, "
             f"Adam 1e-3, seed 0, the same pairs and crops for every arm. Wall time of each arm's perceptual "
             "steps, one thread each, with other arms on the same 2 cores (A and the first pair's B and C ran "
             "together, then the second pair's two): " + ", ".join(f"{a} {arms[a]['seconds'] / 60:.1f} min" for a in arm_ids(args))
             + ". Temporal weights (lambda_f, lambda_o): " + ", ".join(f"({f:g}, {o:g})" for f, o in args.lambdas)
             + " (luminance term on).",
             "", "Unweighted loss terms that set them (means of 3 training batches):", "",
             "| network | " + " | ".join(next(iter(training["magnitudes"].values()))) + " |",
             "|---|" + "---|" * len(next(iter(training["magnitudes"].values())))]
    for label, m in training["magnitudes"].items():
        lines.append(f"| {label} | " + " | ".join(f"{v:.3g}" for v in m.values()) + " |")
    h, w = _size(args.eval_size)
    lines += ["", f"**Held-aside frames** ({args.frames} consecutive frames per clip from the start of the last 2 s, "
              f"which no training step drew; {w}x{h}); flicker along Farneback flow (training used DeepFlow); style: "
              "the Gram style loss of every 4th frame by two fixed judges (the ReCoNet arms' training loss, "
              "VGG19 relu1_2, relu2_2, relu3_3, relu4_3; the Johnson network's, relu1_1 ... relu5_1; both at "
              "style scale 2, weight 0.5). Lower is better everywhere.", "",
              "| clip | model | E_warp | masked MSE (Ruder) | luminance error (ReCoNet) | style loss, ReCoNet judge "
              "| style loss, Johnson judge |", "|---|---|---|---|---|---|---|"]
    for clip, entry in q["main"].items():
        for label, r in entry["rows"].items():
            lines.append(f"| {clip} | {arm_text(label)} | {r['warping_error']:.5f} | {r['masked_mse']:.5f} "
                         f"| {r['luminance_error']:.5f} | {r['style_reconet']:.4g} | {r['style_johnson']:.4g} |")
    # targets
    labels = next(iter(q["main"].values()))["rows"]
    mean = {label: {k: float(np.mean([e["rows"][label][k] for e in q["main"].values()]))
                    for k in ("warping_error", "style_reconet", "style_johnson")} for label in labels}
    lines += ["", "**Target** E_warp(B) <= 0.5 E_warp(A) at style loss(B) <= 1.25 style loss(A) (means over both "
              "clips, the ReCoNet judge); and the Johnson network fine-tuned (C) against itself as shipped (C0), "
              "its own judge:", ""]
    for f, o in args.lambdas:
        b, c = f"B_{f:g}_{o:g}", f"C_{f:g}_{o:g}"
        ew = mean[b]["warping_error"] / mean["A"]["warping_error"]
        st = mean[b]["style_reconet"] / mean["A"]["style_reconet"]
        ewc = mean[c]["warping_error"] / mean["C0"]["warping_error"]
        stc = mean[c]["style_johnson"] / mean["C0"]["style_johnson"]
        met = "met" if ew <= 0.5 and st <= 1.25 else "**not met**"
        lines.append(f"* lambda_f {f:g}, lambda_o {o:g}: E_warp B / A = **{ew:.2f}**, style B / A = **{st:.2f}**: "
                     f"{met}; C / C0: E_warp {ewc:.2f}x, style {stc:.2f}x.")
    lines += [
              "", f"**Next to Gatys and Ruder** on the same frames, smaller ({args.small}, the first "
              f"{args.small_frames} held-aside frames of each clip; Gatys {args.gatys_iters} iterations per frame "
              f"(GatysConfig defaults otherwise), Ruder {args.gatys_iters} then {max(1, args.gatys_iters // 3)} "
              "per frame from the warped previous output, DeepFlow; networks run at that size; style of every frame):",
              "", "| clip | method | E_warp | masked MSE | luminance error | style, ReCoNet judge | style, Johnson judge |",
              "|---|---|---|---|---|---|---|"]
    for clip, entry in q["small"].items():
        for label, r in entry["rows"].items():
            lines.append(f"| {clip} | {label} | {r['warping_error']:.5f} | {r['masked_mse']:.5f} | "
                         f"{r['luminance_error']:.5f} | {r['style_reconet']:.4g} | {r['style_johnson']:.4g} |")
    mo = s["model_only"]
    rec = next(v for k, v in mo.items() if k.startswith("ReCoNet"))
    jw16 = mo[f"Johnson {JOHNSON}"]
    met_speed = "met" if rec["fps"] >= jw16["fps"] else "**not met**"
    lines += ["", f"**Speed**, model only at {s['size']} (batch 4, vstlib's inference preparation: folded "
              f"upsampling; {s['threads']} threads, {args.repeats} interleaved rounds, median):", "",
              "| network | parameters | GFLOP/frame | frames/s | ms/frame |", "|---|---|---|---|---|"]
    for label, r in mo.items():
        lines.append(f"| {label} | {r['parameters']:,} | {r['gflop']:.1f} | {r['fps']:.1f} | {r['ms_per_frame']:.1f} |")
    lines += ["", f"Target ReCoNet >= Johnson at the same width: {rec['fps']:.1f} against {jw16['fps']:.1f} "
              f"frames/s: {met_speed}.", "",
              f"File to file ({s['clip']}, {s['seconds']:g} s, {next(iter(s['file'].values()))['size']}, H.264 with "
              "the input's audio, median of 2 interleaved runs):", "",
              "| method | frames/s | ms/frame | audio kept |", "|---|---|---|---|"]
    for label, r in s["file"].items():
        lines.append(f"| `--method {label}` | {r['fps']:.1f} | {r['ms_per_frame']:.0f} | {'yes' if r['audio_kept'] else 'NO'} |")
    return "\n".join(lines) + "\n"


def evaluate_and_write(args, training: dict) -> int:
    torch.set_num_threads(2)
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    models = load_models(args)
    print("\n== quality on held-aside frames", flush=True)
    q = quality(args, models)
    print("\n== speed", flush=True)
    s = speed(args, models)
    (args.out / "results.json").write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()},
                                                       "training": training, "quality": q, "speed": s,
                                                       "load_average": os.getloadavg()}, indent=1, default=str))
    md = markdown(args, training, q, s)
    print("\n" + md)
    from run_all import write_fragment

    write_fragment("reconet", md, quick=args.quick)
    return 0


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.arm:
        train_arm(args.arm, args)
        return 0
    args.out.mkdir(parents=True, exist_ok=True)
    if args.render_only:
        saved = json.loads((args.out / "results.json").read_text())
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from run_all import write_fragment

        cmd = "python benchmarks/bench_reconet.py" + (" --quick" if args.quick else "")
        write_fragment("reconet", markdown(args, saved["training"], saved["quality"], saved["speed"]),
                       command=f"{cmd}` (its results.json, re-rendered by `{cmd} --render-only", quick=args.quick)
        return 0
    print(f"bench_reconet: {'quick (smoke)' if args.quick else 'full'} mode; {os.cpu_count()} cores, torch "
          f"{torch.__version__}; {args.steps} perceptual steps per arm at {args.crop} px, batch {args.batch} pairs, "
          "(lambda_f, lambda_o) " + ", ".join(f"({f:g}, {o:g})" for f, o in args.lambdas), flush=True)
    training = train_all(args)
    (args.out / "training.json").write_text(json.dumps(training, indent=1))
    if args.train_only:
        return 0
    return evaluate_and_write(args, training)


if __name__ == "__main__":
    sys.exit(main())
