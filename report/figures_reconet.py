"""The report's section "ReCoNet" (``make_figures.py --only reconet``): the shipped ReCoNet against the
shipped Johnson network on held-aside frames, the luminance term on a synthetic lighting change (as
notebooks/05_reconet.ipynb section 3), and the shipped model's training curves. No training here:
the ablation that trains is benchmarks/bench_reconet.py (its numbers are in benchmarks/RESULTS.md).

    reconet_frames.png    held-aside frames (the last 2 s of a sample clip, which training never
                          drew) stylized by the shipped ReCoNet and the shipped Johnson network
    reconet_luminance.png a frame pair with a spotlight switched on in frame t: the lit frame, the
                          'follow' candidate and the per-pixel cost of L_temp,o of 'hold' and
                          'follow' with and without the luminance term (one colour scale)
    reconet_loss.pdf      the shipped ReCoNet's weighted loss terms per training step, from the
                          losses stored in its model file
    reconet_numbers.tex   the \\Reco... macros quoted in the text, including the measured ablation of
                          benchmarks/bench_reconet.py as recorded in benchmarks/RESULTS.md (\\RecoAbl...)

Full: 12 held-aside frames at 384x216, the luminance pair at 256 px (about a minute on a 2-core
CPU); smoke: 4 frames at 64 px (seconds). The helpers (number formatting, atomic writes, device
description) are make_figures.py's.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

RECONET_FILES = ("reconet_frames.png", "reconet_luminance.png", "reconet_loss.pdf", "reconet_numbers.tex")


@dataclass(frozen=True)
class ReconetSettings:
    """Everything that defines the section's figures."""

    smoke: bool
    model: str = "starry_night_vangogh"  # shipped ReCoNet (vstlib/models/reconet)
    johnson_model: str = "starry_night_vangogh_w16"  # shipped Johnson network of a similar size
    eval_clip: str = "video/tears_of_steel_640x360_10s.mp4"  # its last 2 s are never drawn in training
    eval_frames: int = 12  # consecutive frames from the start of the held-aside last 2 s
    eval_side: int = 384  # 384x216, as benchmarks/bench_reconet.py
    score_flow: str = "farneback"  # independent of the training flow (DeepFlow)
    pair_clip: str = "video/sintel_640x360_10s.mp4"  # vstlib.course.CLIP
    pair_start: int = 10  # vstlib.course.CLIP_START
    pair_every: int = 2  # vstlib.course.CLIP_EVERY
    pair_side: int = 256  # vstlib.course.frame_size(False)
    pair_flow: str = "deepflow"  # as notebook 05 section 3
    spotlight: float = 0.35  # added to R, G and B at the centre of the light (notebook 05)
    seed: int = 0


RESULTS_MD = Path(__file__).resolve().parents[1] / "benchmarks" / "RESULTS.md"

RECO_FULL = ReconetSettings(smoke=False)
RECO_SMOKE = ReconetSettings(smoke=True, eval_frames=4, eval_side=64, pair_side=64)


def _mf():
    import make_figures  # the helpers; make_figures puts this folder on sys.path

    return make_figures


# ------------------------------------------------------------------------------------------
# Computations
# ------------------------------------------------------------------------------------------


def run_heldaside(s: ReconetSettings, device) -> dict:
    """Both shipped networks on held-aside frames: E_warp along an independent flow, the Gram style
    loss at one judge (the ReCoNet's training loss), time per frame."""
    import torch
    from vstlib import data, io, johnson, probe_video, read_frames, reconet
    from vstlib.flow import clip_pairs, compute_flows
    from vstlib.gatys import load_style
    from vstlib.johnson_train import HOLDOUT_SECONDS
    from vstlib.metrics import temporal_errors
    from vstlib.transformer_net import count_parameters

    mf = _mf()
    clip = data.fetch(s.eval_clip)
    info = probe_video(clip)
    first = int(round(info.n_frames - HOLDOUT_SECONDS * info.fps))  # the start of the held-aside last 2 s
    if first < 0 or first + s.eval_frames > info.n_frames or s.eval_frames < 2:
        raise SystemExit(f"error: '{s.eval_clip}' has {info.n_frames} frames; {s.eval_frames} held-aside frames "
                         f"from frame {first} do not fit (and at least 2 are needed)")
    frames_u8 = list(read_frames(clip, max_side=s.eval_side, start=first, end=first + s.eval_frames))
    frames = io.to_tensors(frames_u8)
    flows = compute_flows(frames_u8, clip_pairs(len(frames_u8), (1,)), method=s.score_flow, progress=False)
    model_info = johnson.model_info(reconet.model_path(s.model))
    judge = johnson.model_train_config(reconet.model_path(s.model))  # the ReCoNet's training loss (VGG19 layers)
    style = load_style(data.resolve(model_info["info"].get("style", s.model), "style"))
    nets = {"ReCoNet": reconet.load_model(s.model, device), "Johnson": johnson.load_model(s.johnson_model, device)}
    res = {"input": {"ewarp": float(temporal_errors(frames_u8, frames_u8, flows=flows).summary()["warping_error"])}}
    for name, net in nets.items():
        with torch.inference_mode():
            net(frames[:1].to(device))  # warm-up
            t0 = time.perf_counter()
            out = torch.cat([net(f.to(device)).clamp(0, 1).cpu() for f in frames.split(1)])
            seconds = (time.perf_counter() - t0) / len(frames)
        errors = temporal_errors(frames_u8, list(out.split(1)), flows=flows).summary()
        style_loss = float(np.mean(johnson.gram_style_loss(list(out.split(1)), style, judge, device)))
        res[name] = {"out": out, "ewarp": float(errors["warping_error"]), "masked_mse": float(errors["masked_mse"]),
                     "style": style_loss, "ms": 1e3 * seconds, "params": count_parameters(net)}
        mf.log(f"      {name:8} E_warp {res[name]['ewarp']:.5f}, style loss {style_loss:.4g}, "
               f"{res[name]['ms']:.0f} ms/frame, {res[name]['params']:,d} parameters")
    h, w = frames.shape[-2:]
    mf.log(f"[reconet 1/3] {len(frames)} held-aside frames {w}x{h} of {Path(s.eval_clip).name} from frame {first}; "
           f"input E_warp {res['input']['ewarp']:.5f}; ReCoNet / Johnson E_warp "
           f"{res['ReCoNet']['ewarp'] / res['Johnson']['ewarp']:.2f}x, style loss "
           f"{res['ReCoNet']['style'] / res['Johnson']['style']:.2f}x")
    return {"frames": frames, "first": first, "hw": (h, w), "res": res, "info": model_info,
            "judge_layers": judge.style_layers}


def run_luminance(s: ReconetSettings, device) -> dict:
    """Notebook 05 section 3: a frame pair, a spotlight switched on in frame t, and the output
    temporal loss of 'hold' (the unlit stylization) and 'follow' (the same plus the light) with
    and without the luminance term; the network's own output on the lit frame for reference."""
    import torch
    from vstlib import data, io, read_frames, reconet
    from vstlib import flow as vflow

    mf = _mf()
    clip = data.fetch(s.pair_clip)
    prev_u8, cur_u8 = read_frames(clip, max_side=s.pair_side, start=s.pair_start, end=s.pair_start + s.pair_every + 1,
                                  step=s.pair_every)
    flows = vflow.compute_flows([prev_u8, cur_u8], [(1, 0), (0, 1)], method=s.pair_flow, progress=False)
    back = torch.from_numpy(flows[(1, 0)]).permute(2, 0, 1)[None]  # w_{t -> t-1}
    mask = torch.from_numpy(vflow.occlusion_mask(flows[(1, 0)], flows[(0, 1)]))[None, None].float()
    prev, cur = io.to_tensor(prev_u8), io.to_tensor(cur_u8)
    h, w = cur.shape[-2:]
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, h), torch.linspace(-1, 1, w), indexing="ij")
    spotlight = s.spotlight * torch.exp(-((xx - 0.2) ** 2 + (yy + 0.1) ** 2) / (2 * 0.6**2))[None, None]
    lit = (cur + spotlight).clamp(0, 1)  # frame t with a light switched on
    net = reconet.load_model(s.model, device)
    with torch.inference_mode():
        s_prev, s_cur, s_lit = (net(x.to(device)).clamp(0, 1).cpu() for x in (prev, cur, lit))
    candidates = {"hold": s_cur, "follow": (s_cur + spotlight).clamp(0, 1), "network": s_lit}
    cost = {name: {lum: float(reconet.output_temporal_loss(o, s_prev, lit, prev, back, mask, luminance=lum))
                   for lum in (True, False)} for name, o in candidates.items()}

    def penalty_map(output, luminance):
        change = output - vflow.warp(s_prev, back)
        if luminance:
            change = change - reconet.relative_luminance(lit - vflow.warp(prev, back))
        return (mask * change.pow(2)).sum(dim=1)[0].numpy()

    maps = {(name, lum): penalty_map(candidates[name], lum) for lum in (True, False) for name in ("hold", "follow")}
    for name, c in cost.items():
        mf.log(f"      {name:8} L_temp,o with the luminance term {c[True]:.4f}, without {c[False]:.4f}")
    mf.log(f"[reconet 2/3] luminance term: frames {s.pair_start} and {s.pair_start + s.pair_every} of "
           f"{Path(s.pair_clip).name}, {w}x{h}, {s.pair_flow} flow, {100 * float(mask.mean()):.0f} % reliable")
    return {"lit": lit, "follow": candidates["follow"], "maps": maps, "cost": cost, "hw": (h, w),
            "reliable": float(mask.mean())}


# ------------------------------------------------------------------------------------------
# Figures
# ------------------------------------------------------------------------------------------


def figure_frames(hd: dict, s: ReconetSettings):
    """Two held-aside frames (first and last) and both networks' outputs."""
    from vstlib.plotting import show_images

    frames, res = hd["frames"], hd["res"]
    idx = (0, len(frames) - 1)
    images, titles = [], []
    for i in idx:
        images += [frames[i:i + 1], res["ReCoNet"]["out"][i:i + 1], res["Johnson"]["out"][i:i + 1]]
        titles += [f"held-aside frame {hd['first'] + i}", f"ReCoNet {s.model}", f"Johnson {s.johnson_model}"]
    fig = show_images(images, titles, ncols=3, size=2.4)
    _mf()._titles(fig, 12)
    return fig


def figure_luminance(lu: dict):
    import matplotlib.pyplot as plt
    from vstlib.plotting import as_image

    maps = lu["maps"]
    vmax = max(float(m.max()) for m in maps.values()) or 1.0
    # rows: 'hold' and 'follow'; columns: the image, its cost with the luminance term, without
    panels = [(as_image(lu["lit"]), "lit frame t"), (maps["hold", True], "hold, with term"),
              (maps["hold", False], "hold, without term"), (as_image(lu["follow"]), "'follow' candidate"),
              (maps["follow", True], "follow, with term"), (maps["follow", False], "follow, without term")]
    fig, axes = plt.subplots(2, 3, figsize=(7.5, 3.0))
    for ax, (image, title) in zip(axes.flat, panels):
        if image.ndim == 2:
            ax.imshow(image, cmap="magma", vmin=0, vmax=vmax)
        else:
            ax.imshow(image)
        ax.set_title(title, fontsize=9)
        ax.set_axis_off()
    fig.tight_layout()
    return fig


LOSS_LABELS = {"content": "content", "style": "style", "temporal_f": r"$\lambda_f\,\mathcal{L}_{temp,f}$",
               "temporal_o": r"$\lambda_o\,\mathcal{L}_{temp,o}$", "tv": "total variation", "total": "total"}


def figure_loss(info: dict):
    """The shipped model's stored per-step losses (vstlib.training.plot_training_losses)."""
    from vstlib.training import plot_training_losses

    losses = info["info"].get("losses", {})
    fig = plot_training_losses({LOSS_LABELS.get(k, k): v for k, v in losses.items() if k != "pixel"})
    ax = fig.axes[0]
    ax.set_xlabel("perceptual training step (after the pixel warm-up)")
    ax.set_ylabel("weighted loss")
    ax.legend(fontsize=7, frameon=False, ncol=3, loc="upper center", bbox_to_anchor=(0.5, -0.2))
    fig.set_size_inches(5.0, 3.4)
    fig.tight_layout()
    return fig


# ------------------------------------------------------------------------------------------
# Numbers
# ------------------------------------------------------------------------------------------


def _window_mean(values, first: bool, k: int = 50) -> float:
    v = np.asarray(values, dtype=float)
    v = v[v > 0]
    if v.size == 0:
        return float("nan")
    return float(v[:k].mean() if first else v[-k:].mean())


def ablation_numbers(lambda_f: float, lambda_o: float, results_md: Path = RESULTS_MD) -> dict[str, str]:
    """The measured ablation of benchmarks/bench_reconet.py (which trains; this script does not), read
    from its fragment in benchmarks/RESULTS.md: the target (E_warp of arm B at most ``e`` times arm A's
    at a style loss at most ``s`` times A's) and, for the temporal weights ``lambda_f, lambda_o`` (the
    shipped model's), B / A of E_warp and of the style loss and whether the target was met (1 or 0).
    The values are copied as the benchmark printed them, so the report quotes the recorded run.

    >>> text = ("<!-- fragment:bench_reconet -->\\n**Target** E_warp(B) <= 0.5 E_warp(A) at style loss(B) <= 1.25 "
    ...         "style loss(A) (means)\\n* lambda_f 50000, lambda_o 5e+06: E_warp B / A = **0.82**, style B / A = "
    ...         "**1.11**: **not met**; C / C0: E_warp 0.75x, style 1.19x.\\n<!-- /fragment:bench_reconet -->")
    >>> import tempfile; md = Path(tempfile.mkdtemp()) / "RESULTS.md"; _ = md.write_text(text)
    >>> ablation_numbers(5e4, 5e6, md)
    {'RecoAblTargetEwarp': '0.5', 'RecoAblTargetStyle': '1.25', 'RecoAblEwarp': '0.82', 'RecoAblStyle': '1.11', 'RecoAblMet': '0'}
    """
    text = results_md.read_text(encoding="utf-8") if results_md.is_file() else ""
    start, end = text.find("<!-- fragment:bench_reconet -->"), text.find("<!-- /fragment:bench_reconet -->")
    fragment = text[start:end] if 0 <= start < end else ""
    target = re.search(r"E_warp\(B\) <= ([\d.]+) E_warp\(A\) at style loss\(B\) <= ([\d.]+)", fragment)
    rows = re.findall(r"^\* lambda_f (\S+), lambda_o (\S+): E_warp B / A = \*\*([\d.]+)\*\*, "
                      r"style B / A = \*\*([\d.]+)\*\*: (met|\*\*not met\*\*)", fragment, flags=re.M)
    row = next((r for r in rows if float(r[0]) == float(lambda_f) and float(r[1]) == float(lambda_o)), None)
    if target is None or row is None:
        raise SystemExit(f"error: {results_md} has no bench_reconet result for lambda_f {lambda_f:g}, lambda_o "
                         f"{lambda_o:g} (the shipped ReCoNet's weights); rerun `python benchmarks/run_all.py "
                         "--only bench_reconet`, or `--render-only` if benchmarks/out/ holds its run")
    return {"RecoAblTargetEwarp": target[1], "RecoAblTargetStyle": target[2], "RecoAblEwarp": row[2],
            "RecoAblStyle": row[3], "RecoAblMet": "1" if row[4] == "met" else "0"}


def numbers_tex(s: ReconetSettings, hd: dict, lu: dict, device_short: str) -> str:
    mf = _mf()
    res, cost = hd["res"], lu["cost"]
    cfg = hd["info"]["train_config"] or {}
    stored = hd["info"]["info"]
    losses = stored.get("losses", {})
    h, w = hd["hw"]
    ph, pw = lu["hw"]
    rec, joh = res["ReCoNet"], res["Johnson"]
    macros = {
        "RecoModel": mf.tex(s.model),
        "RecoJohnsonModel": mf.tex(s.johnson_model),
        "RecoClip": mf.tex(Path(s.eval_clip).name),
        "RecoFrames": str(len(hd["frames"])),
        "RecoFirstFrame": str(hd["first"]),
        "RecoSize": f"{w}$\\times${h}",
        "RecoEwarpInput": mf.num(res["input"]["ewarp"]),
        "RecoEwarpReconet": mf.num(rec["ewarp"]),
        "RecoEwarpJohnson": mf.num(joh["ewarp"]),
        "RecoEwarpRatio": mf.num(rec["ewarp"] / max(joh["ewarp"], 1e-30)),
        "RecoStyleReconet": mf.sci(rec["style"]),
        "RecoStyleJohnson": mf.sci(joh["style"]),
        "RecoStyleRatio": mf.num(rec["style"] / max(joh["style"], 1e-30)),
        "RecoSteadier": "steadier" if rec["ewarp"] < joh["ewarp"] else "less steady",
        "RecoFurther": "further from" if rec["style"] > joh["style"] else "closer to",
        "RecoMsReconet": mf.num(rec["ms"], 2),
        "RecoMsJohnson": mf.num(joh["ms"], 2),
        "RecoParamsReconet": f"{rec['params']:,d}".replace(",", "{,}"),
        "RecoParamsJohnson": f"{joh['params']:,d}".replace(",", "{,}"),
        "RecoJudgeLayers": mf.tex(", ".join(hd["judge_layers"])),
        "RecoPairSize": f"{pw}$\\times${ph}",
        "RecoSpotlight": f"{s.spotlight:g}",
        "RecoLumHoldWith": mf.num(cost["hold"][True]),
        "RecoLumFollowWith": mf.num(cost["follow"][True]),
        "RecoLumNetWith": mf.num(cost["network"][True]),
        "RecoLumHoldWithout": mf.num(cost["hold"][False]),
        "RecoLumFollowWithout": mf.num(cost["follow"][False]),
        "RecoLumNetWithout": mf.num(cost["network"][False]),
        "RecoWidth": str(hd["info"]["net_config"].get("width", "?")),
        "RecoSteps": str(stored.get("steps", cfg.get("steps", "?"))),
        "RecoCrop": str(cfg.get("crop", "?")),
        "RecoBatch": str(cfg.get("batch", "?")),
        "RecoLambdaF": mf.sci(float(cfg.get("feature_temporal_weight", float("nan")))),
        "RecoLambdaO": mf.sci(float(cfg.get("output_temporal_weight", float("nan")))),
        "RecoTrainMinutes": mf.num(float(stored.get("seconds", float("nan"))) / 60, 2),
        "RecoStyleFirst": mf.sci(_window_mean(losses.get("style", []), True)),
        "RecoStyleLast": mf.sci(_window_mean(losses.get("style", []), False)),
        "RecoTempOFirst": mf.sci(_window_mean(losses.get("temporal_o", []), True)),
        "RecoTempOLast": mf.sci(_window_mean(losses.get("temporal_o", []), False)),
        "RecoDevice": mf.tex(device_short),
        "RecoSmokeNote": r" \emph{(smoke settings: these numbers are not meaningful)}" if s.smoke else "",
    }
    # the recorded ablation at the shipped model's weights (benchmarks/RESULTS.md; no smoke version)
    macros.update(ablation_numbers(float(cfg.get("feature_temporal_weight", float("nan"))),
                                   float(cfg.get("output_temporal_weight", float("nan")))))
    return mf.macros_tex(macros)


def make_reconet(s: ReconetSettings, device, out: Path) -> None:
    mf = _mf()
    short, _ = mf.describe_device(device)
    hd = run_heldaside(s, device)
    mf.save_figure(figure_frames(hd, s), out / "reconet_frames.png", dpi=110)
    lu = run_luminance(s, device)
    mf.save_figure(figure_luminance(lu), out / "reconet_luminance.png", dpi=150)
    mf.save_figure(figure_loss(hd["info"]), out / "reconet_loss.pdf")
    mf.log(f"[reconet 3/3] training curves of {s.model}: {len(hd['info']['info'].get('losses', {}).get('total', []))} "
           "stored steps")
    mf.write_text(out / "reconet_numbers.tex", numbers_tex(s, hd, lu, short))
    mf.log(f"wrote {', '.join(str(out / name) for name in RECONET_FILES)}")
