#!/usr/bin/env python
"""Foreground/background segmentation and per-region compositing (issue 13): accuracy, flicker, cost, seams.

    python benchmarks/bench_segment.py                 # all six parts at 640x360 (~7 min on 2 quiet cores, 15-30 min busy)
    python benchmarks/bench_segment.py --quick         # smoke run: 160x90, one round, 1 thread (~15-30 s): not results
    python benchmarks/bench_segment.py --parts 4       # rerun part 4; the others keep their results.json entries
    python benchmarks/bench_segment.py --render-only   # rewrite the fragment from --out/results.json

Six parts (``--parts``):

1. **Selfie port vs TFLite.** The mask differences of ``vstlib.selfie_net`` against the LiteRT
   interpreter are read from ``tools/convert_mediapipe_selfie.report.json`` (written by
   ``python tools/convert_mediapipe_selfie.py --check-only``, which needs the ``convert`` extra; not
   rerun here); target: worst mean absolute difference <= 1e-3. Speed: masks per second of
   :func:`vstlib.selfie_net.person_masks` on 640x360 Tears of Steel frames (resize, network, resize
   back), general and landscape networks, batch 1 and 4, ``--threads`` torch threads, the contenders
   taking turns (``--rounds``), median; target >= 30 masks/s.
2. **IoU against synthetic ground truth.** (a) A static camera
   (:func:`vstlib.segment.static_camera`: sensor noise, brightness drift, 8-bit) looking at a still of
   each 640x360 sample clip, with a textured blob moving across (:func:`synthetic_composite`):
   ``motion`` (temporal median) against ``motion:mog2`` (target: ``motion`` IoU >= 0.9). (b) A real
   person: scikit-image's ``astronaut()`` photo (public domain, bundled), cut out with OpenCV GrabCut
   (seeded with a rectangle and five foreground strokes, independent of the selfie network; the cut-out
   and a check image are saved in ``--out``), moving over a real moving-camera shot (Tears of Steel's
   opening robot shot, no people) and over the static camera: ``person`` (and ``motion`` on the
   static one). Pooled IoU over all pixels of all frames, and the per-frame minimum and median.
3. **Mask flicker** (:func:`vstlib.segment.mask_flicker` with the frames, i.e. along the motion) of
   ``person`` on two Tears of Steel shots with people, at mask stabilization 0, 0.5 (the default) and
   0.8, measured along an independent flow (Farneback) and along DIS (the flow the stabilizer
   follows); and on the astronaut composites, where the IoU with the truth shows what stabilization
   costs in accuracy (the mask lags the moving person).
4. **Compositing overhead.** ``johnson`` per frame at 640x360 with the shipped width-32
   ``starry_night_vangogh`` and the width-16 ``starry_night_vangogh_w16``: the plain session against
   the region session (:func:`vstlib.composite.region_session`: mask inference, mask stabilization,
   inpainting where on, one stylization, the blend) for each ``--edges`` variant, in process on the
   same decoded frames (a Tears of Steel close-up), every frame through every contender in turn,
   ``--rounds`` rounds with fresh sessions; median seconds per frame and its ratio to plain (target
   for ``--segment person --fg-style none --edges feather``: <= 1.10x). Also one file-to-file
   ``stylize_video`` each way per model, for context.
5. **Seams.** The astronaut over the moving shot, foreground in one style (``udnie_picabia``) and
   background in another (``starry_night_vangogh_w16``), joined by each variant with the true alpha
   and with ``person``'s estimated (stabilized) mask: :func:`vstlib.composite.seam_energy` measured on
   the true boundary (1 = as busy as the rest of the picture).
6. **Background flicker**: Lai et al.'s E_warp (:func:`vstlib.metrics.warping_error`) along
   Farneback flow, counted only where the flow is reliable *and* the pixel is background in both
   frames (away from the person by ``BAND`` px): on the astronaut composite with the true mask, and
   on the part-4 close-up with the estimated mask; ``johnson`` plain against each variant. Does
   segmenting or defocusing (``blur``) calm the background?

Writes ``--out/results.json``, images in ``--out`` and the fragment ``benchmarks/out/segment.md``.
"""

from __future__ import annotations

import argparse
import json
import math
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

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run_all import cpu_snapshot, git_state, other_cores, write_fragment  # noqa: E402
from vstlib import data as vdata  # noqa: E402
from vstlib import methods as vmethods  # noqa: E402
from vstlib.composite import region_session, seam_energy  # noqa: E402
from vstlib.flow import clip_pairs, compute_flows, estimate_flow, occlusion_mask, warp  # noqa: E402
from vstlib.io import read_frames, save_image, to_array, to_arrays, to_tensor, to_tensors  # noqa: E402
from vstlib.methods.base import FrameItem  # noqa: E402
from vstlib.metrics import warping_error  # noqa: E402
from vstlib.runner import RegionOptions, stylize_video  # noqa: E402
from vstlib.segment import (MOTION_SAMPLES, MaskStabilizer, Segmenter, make_segmenter, mask_flicker,  # noqa: E402
                            mask_iou, static_camera, synthetic_composite)
from vstlib.selfie_net import person_masks, pick_variant  # noqa: E402

TOS = "video/tears_of_steel_640x360_10s.mp4"
CLIPS = {"sintel": "video/sintel_640x360_10s.mp4", "tears_of_steel": TOS, "bbb": "video/bbb_adain_640x360_10s.mp4"}
# Tears of Steel's shots (cuts found by the mean frame difference: after frames 20, 64 and 184).
ROBOT_SHOT = (0, 21)  # the robot, camera moving ~3 px a frame, no people: background of the astronaut
PEOPLE_SHOTS = {"bridge (man standing, 1.0-2.7 s)": (24, 64), "close-up (two people, 3.0-6.0 s)": (72, 144)}
CLOSE_UP = 72  # part 4 and 6: frames from here (3 s)
# The still of each clip for the static camera: (frame number); Sintel's has its letterbox bars.
STILLS = {"sintel": 10, "tears_of_steel": 0, "bbb": 0}
MODELS = ("starry_night_vangogh", "starry_night_vangogh_w16")
SEAM_FG, SEAM_BG = "udnie_picabia", "starry_night_vangogh_w16"
STRENGTHS = (0.0, 0.5, 0.8)
# px around the (true or estimated) foreground left out of the background scores: beyond the feather's
# crossfade (3 sigma = 9 px) and the inpainted hole's growth (1.5 % of 640 px = 10 px), so what is
# left differs between variants only through what the network makes of its whole input.
BAND = 16
# The variants (all with --segment person and the default mask stabilization 0.5): what the CLI
# flags are, and the RegionOptions they make. resize keeps the background: with --fg-style none
# the foreground has no session and resize would equal feather, so it stylizes the person's box.
VARIANTS = {
    "feather": ("--fg-style none --edges feather (inpaint auto = on here)", dict(fg_style="none", edges="feather")),
    "feather, no inpaint": ("--fg-style none --edges feather --inpaint off",
                            dict(fg_style="none", edges="feather", inpaint="off")),
    "strict": ("--fg-style none --edges strict (inpaint on)", dict(fg_style="none", edges="strict")),
    "blur": ("--fg-style none --edges blur (no inpaint)", dict(fg_style="none", edges="blur")),
    "resize": ("--bg-style none --edges resize (the person's box stylized; background kept)",
               dict(bg_style="none", edges="resize")),
}
SEAM_VARIANTS = {"strict": dict(edges="strict"), "feather": dict(edges="feather"),
                 "feather, no inpaint": dict(edges="feather", inpaint="off"), "blur": dict(edges="blur"),
                 "resize": dict(edges="resize")}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="smoke run: 160x90, few frames, one round (about 1 min)")
    p.add_argument("--parts", default="1,2,3,4,5,6",
                   help="comma-separated parts to run (default all); the other parts keep their results from "
                        "--out/results.json, if there")
    p.add_argument("--rounds", type=int, default=None, help="timing rounds (default: part 1 9, part 4 2)")
    p.add_argument("--threads", type=int, default=None,
                   help="torch threads (default 2; --quick: 1, which a busy machine slows far less)")
    p.add_argument("--out", type=Path, default=REPO / "benchmarks" / "out" / "segment")
    p.add_argument("--render-only", action="store_true", help="rewrite the fragment from --out/results.json (no run)")
    args = p.parse_args(argv)
    args.parts = sorted({int(x) for x in args.parts.split(",") if x.strip()})
    if not set(args.parts) <= {1, 2, 3, 4, 5, 6}:
        p.error("--parts: numbers 1 to 6")
    q = args.quick
    args.threads = args.threads or (1 if q else 2)
    args.speed_frames = 4 if q else 8
    args.size = (90, 160) if q else (360, 640)  # (H, W) of everything but part 1's speed (always 640x360)
    args.static_frames = 10 if q else 48
    args.shot_frames = 6 if q else ROBOT_SHOT[1] - ROBOT_SHOT[0]
    args.people = 6 if q else None  # frames per people shot (None: the whole stretch)
    args.speed_rounds = args.rounds or (1 if q else 9)
    args.overhead_rounds = args.rounds or (1 if q else 3)
    args.overhead_frames = {"starry_night_vangogh": 2 if q else 6, "starry_night_vangogh_w16": 3 if q else 12}
    args.seam_frames = 2 if q else 6
    args.e2e_seconds = 0.25 if q else 1.0
    if q:
        args.out = REPO / "benchmarks" / "out" / "quick" / "segment"
    return args


# ------------------------------------------------------------------------------------------------
# Data: frames, the astronaut cut-out, composites
# ------------------------------------------------------------------------------------------------


def clip_frames(name: str, start: int, end: int, size) -> np.ndarray:
    """uint8 [T, H, W, 3] frames start..end-1 of a sample clip at ``size`` (H, W)."""
    return np.stack(list(read_frames(vdata.fetch(name), size=tuple(size), start=start, end=end)))


def astronaut_cutout(out_dir: Path) -> np.ndarray:
    """The astronaut cut out of scikit-image's photo by GrabCut: straight RGBA float32 [h, w, 4] in
    [0, 1], cropped to the person. Seeds: a rectangle around her (it leaves out the helmet she holds
    and the flag, the shuttle model and the backdrop), then five strokes of certain foreground where
    the rectangle alone lost dark or thin parts of her (the black collar inside the suit ring, the
    ring's upper left, the strap, the name badge, the wrist ring). The largest component, holes filled.
    Saves the cut-out and a check image (background dimmed green, seeds drawn) in ``out_dir``."""
    import cv2
    from scipy import ndimage

    photo = vdata.content_photo("astronaut")  # 512x512, public domain (NASA), bundled with scikit-image
    bgr = cv2.cvtColor(photo, cv2.COLOR_RGB2BGR)
    rect = (12, 6, 358, 506)  # x, y, w, h
    label = np.zeros(photo.shape[:2], np.uint8)
    bgd, fgd = np.zeros((1, 65)), np.zeros((1, 65))
    cv2.grabCut(bgr, label, rect, bgd, fgd, 5, cv2.GC_INIT_WITH_RECT)
    strokes = np.zeros(photo.shape[:2], np.uint8)
    strokes[175:245, 170:270] = 1  # collar
    strokes[300:500, 240:268] = 1  # strap
    cv2.polylines(strokes, [np.array([(128, 215), (140, 180), (165, 160), (200, 152)], np.int32)], False, 1, 8)  # ring
    strokes[344:370, 284:324] = 1  # name badge
    cv2.line(strokes, (165, 470), (185, 500), 1, 10)  # wrist ring
    label[strokes > 0] = cv2.GC_FGD
    cv2.grabCut(bgr, label, None, bgd, fgd, 5, cv2.GC_INIT_WITH_MASK)
    fg = (label == cv2.GC_FGD) | (label == cv2.GC_PR_FGD)
    parts, n = ndimage.label(fg)
    fg = ndimage.binary_fill_holes(parts == 1 + int(np.argmax(ndimage.sum(fg, parts, range(1, n + 1)))))
    check = photo.copy()
    check[~fg] = (check[~fg] * 0.3).astype(np.uint8) + np.array([0, 90, 0], np.uint8)
    cv2.rectangle(check, rect[:2], (rect[0] + rect[2], rect[1] + rect[3]), (255, 255, 0), 2)
    check[strokes > 0] = (0.5 * check[strokes > 0] + [0, 0, 127]).astype(np.uint8)
    ys, xs = np.nonzero(fg)
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    rgba = np.concatenate([photo[y0:y1, x0:x1], (fg[y0:y1, x0:x1] * 255).astype(np.uint8)[..., None]], axis=2)
    out_dir.mkdir(parents=True, exist_ok=True)
    from PIL import Image

    Image.fromarray(rgba, "RGBA").save(out_dir / "astronaut_cutout.png")
    save_image(check, out_dir / "astronaut_grabcut_check.png")
    return rgba.astype(np.float32) / 255


def cutout_sprite(rgba: np.ndarray, height: int) -> torch.Tensor:
    """The cut-out scaled to ``height`` px, straight RGBA [4, h, w]: premultiplied for the resize (so
    the photo's background does not bleed into the edge), the alpha's area average anti-aliases it."""
    import cv2

    h = int(height)
    w = max(1, round(rgba.shape[1] * h / rgba.shape[0]))
    pre = np.concatenate([rgba[..., :3] * rgba[..., 3:], rgba[..., 3:]], axis=2)
    small = cv2.resize(pre, (w, h), interpolation=cv2.INTER_AREA)
    alpha = small[..., 3:]
    rgb = np.where(alpha > 1e-6, small[..., :3] / np.maximum(alpha, 1e-6), 0.0)
    return torch.from_numpy(np.concatenate([rgb, alpha], axis=2).clip(0, 1)).permute(2, 0, 1).float()


def person_path(n: int, size, sprite_hw, x_from: float, x_to: float):
    """Centres: left to right, the cut-out's bottom on the frame's bottom edge (it is cut there), bobbing 3 px."""
    h, w = size
    sh = sprite_hw[0]
    out = []
    for t in range(n):
        u = t / max(n - 1, 1)
        out.append(((x_from + (x_to - x_from) * u) * w, h - sh / 2 + 3 + 3 * math.sin(2 * math.pi * u)))
    return out


def astronaut_over(background: torch.Tensor, cutout: np.ndarray, x_from: float, x_to: float, height: float = 0.75):
    """(frames, alpha) of the astronaut (``height`` of the frame) walking over ``background`` [T, 3, H, W]."""
    n, _, h, w = background.shape
    sprite = cutout_sprite(cutout, round(height * h))
    return synthetic_composite(background, kind="cutout", foreground=sprite,
                               path=person_path(n, (h, w), sprite.shape[-2:], x_from, x_to))


def composites(args, cutout) -> dict:
    """The synthetic clips with known alpha: name -> (frames [T, 3, H, W], alpha [T, 1, H, W], kind)."""
    out = {}
    for k, (name, index) in enumerate(STILLS.items()):
        still = to_tensor(clip_frames(CLIPS[name], index, index + 1, args.size)[0])[0]
        background = static_camera(still, args.static_frames, seed=k)
        frames, alpha = synthetic_composite(background, kind="shape", seed=k)
        out[f"blob, static {name}"] = (frames, alpha, "static")
    still = to_tensor(clip_frames(TOS, ROBOT_SHOT[0], ROBOT_SHOT[0] + 1, args.size)[0])[0]
    frames, alpha = astronaut_over(static_camera(still, args.static_frames, seed=7), cutout, 0.12, 0.88)
    out["astronaut, static tears_of_steel"] = (frames, alpha, "static")
    moving = to_tensors(clip_frames(TOS, ROBOT_SHOT[0], ROBOT_SHOT[0] + args.shot_frames, args.size))
    frames, alpha = astronaut_over(moving, cutout, 0.3, 0.65)
    out["astronaut, moving tears_of_steel"] = (frames, alpha, "moving")
    return out


def save_preview(path: Path, frames: torch.Tensor, alpha: torch.Tensor, est: torch.Tensor | None, t: int) -> None:
    """One frame, its true mask and (if given) the estimated one, side by side."""
    row = [to_array(frames[t:t + 1]), to_array(alpha[t:t + 1].expand(1, 3, -1, -1))]
    if est is not None:
        row.append(to_array(est[t:t + 1].expand(1, 3, -1, -1)))
    save_image(np.concatenate(row, axis=1), path)


# ------------------------------------------------------------------------------------------------
# Small helpers
# ------------------------------------------------------------------------------------------------


def timed(fn, *a, **k):
    t0 = time.perf_counter()
    out = fn(*a, **k)
    return out, time.perf_counter() - t0


def per_frame_iou(pred, truth) -> list[float]:
    return [mask_iou(pred[t], truth[t]) for t in range(len(truth))]


def iou_row(pred, truth) -> dict:
    per = per_frame_iou(pred, truth)
    return {"iou": mask_iou(pred, truth), "min": float(min(per)), "median": float(statistics.median(per)),
            "frames": len(per)}


def batched_masks(segmenter: Segmenter, frames: torch.Tensor, batch: int = 8) -> torch.Tensor:
    return torch.cat([segmenter.masks(frames[i:i + batch], range(i, min(i + batch, len(frames))))
                      for i in range(0, len(frames), batch)])


def stabilized(masks: torch.Tensor, frames_u8: np.ndarray, strength: float) -> torch.Tensor:
    if strength <= 0:
        return masks
    stab = MaskStabilizer(strength)
    return torch.cat([stab(masks[t:t + 1], frames_u8[t]) for t in range(len(masks))])


class CachedFlow:
    """``flow_fn(a, b)`` for :func:`mask_flicker`: Farneback, each pair computed once per frames array
    (keyed by the frames' memory, so keep one array alive per instance)."""

    def __init__(self, method: str = "farneback"):
        self.method, self.cache = method, {}

    def __call__(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        key = (a.__array_interface__["data"][0], b.__array_interface__["data"][0])
        if key not in self.cache:
            self.cache[key] = estimate_flow(a, b, self.method)
        return self.cache[key]


class TruthMasks(Segmenter):
    """The known alpha as a mask backend (frames are looked up by their index)."""

    spec = "truth"

    def __init__(self, alpha: torch.Tensor):
        self.alpha = alpha

    def masks(self, frames, indices):
        return self.alpha[list(indices)].float()


def dilate(mask: np.ndarray, radius: int) -> np.ndarray:
    import cv2

    disk = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    return cv2.dilate(mask.astype(np.uint8), disk) > 0


def background_ewarp(outputs, flows, background) -> float:
    """Mean over pairs of E_warp (Lai et al.) counted where the flow t -> t+1 is reliable and the pixel is
    background in frame t and, followed along the flow, in frame t+1 (``background``: bool [T, H, W])."""
    vals = []
    for t in range(len(outputs) - 1):
        fwd, bwd = flows[(t, t + 1)], flows[(t + 1, t)]
        carried = warp(background[t + 1].astype(np.float32), fwd) > 0.999
        mask = occlusion_mask(fwd, bwd) * background[t] * carried
        if mask.sum() > 0:
            vals.append(warping_error(outputs[t], outputs[t + 1], fwd, mask))
    return float(np.mean(vals)) if vals else float("nan")


_JOHNSON: dict = {}


def johnson_session(model: str):
    """The plain ``johnson`` session of ``model`` (one per model, reused; it carries no state)."""
    if model not in _JOHNSON:
        m = vmethods.get("johnson")
        cfg = m.Config(model=model, batch=1)
        _JOHNSON[model] = (m, cfg, m.prepare(cfg, m.resolve_styles(cfg, []), "cpu"))
    return _JOHNSON[model]


def regions(model: str, **options):
    """A fresh region session around the plain session of ``model`` (what ``stylize_video`` builds)."""
    m, cfg, main = johnson_session(model)
    opts = RegionOptions(segment="person", **options)
    return region_session(opts, m, cfg, main, lambda method, styles: styles, "cpu")


def items_of(frames_u8: np.ndarray) -> list[FrameItem]:
    return [FrameItem(index=i, frame=f, content=to_tensor(f)) for i, f in enumerate(frames_u8)]


def run_session(session, items) -> np.ndarray:
    """Outputs (uint8 [T, H, W, 3]) of a session fed one frame at a time, in order."""
    return np.stack([to_array(session.stylize([it])) for it in items])


# ------------------------------------------------------------------------------------------------
# Parts
# ------------------------------------------------------------------------------------------------


def part1(args) -> dict:
    report = json.loads((REPO / "tools" / "convert_mediapipe_selfie.report.json").read_text())
    port = {"tolerance": report.get("tolerance_mean_abs_diff"), "source": report.get("source"),
            "litert": report.get("ai_edge_litert"), "variants": {}}
    for variant, check in report["checks"].items():
        port["variants"][variant] = {
            "worst_mean_abs_diff": check["worst_mean_abs_diff"], "worst_max_abs_diff": check["worst_max_abs_diff"],
            "passed": check["passed"], "comparisons": sum(len(v) for v in check["comparisons"].values()),
            "sets": sorted(check["comparisons"])}
    frames = to_tensors(clip_frames(TOS, CLOSE_UP, CLOSE_UP + args.speed_frames, (360, 640)))
    contenders = [(v, b) for v in ("general", "landscape") for b in (1, 4)]

    def call(variant, batch):
        for i in range(0, len(frames), batch):
            person_masks(frames[i:i + batch], variant=variant)

    for v, b in contenders:  # warm-up: weights, oneDNN kernels for each shape
        call(v, b)
    times = {c: [] for c in contenders}
    for r in range(args.speed_rounds):
        for c in contenders[r % 4:] + contenders[:r % 4]:
            times[c].append(timed(call, *c)[1])
    speed = {f"{v}, batch {b}": {"masks_per_s": len(frames) / statistics.median(times[(v, b)]),
                                 "all_s": times[(v, b)]} for v, b in contenders}
    print("part 1:", {k: round(e["masks_per_s"], 1) for k, e in speed.items()}, flush=True)
    return {"port": port, "speed": speed, "frames": len(frames), "size": "640x360", "rounds": args.speed_rounds,
            "auto_variant": pick_variant(360, 640)}


def part2(args, comps) -> dict:
    rows = []
    for name, (frames, alpha, kind) in comps.items():
        backends = ["motion", "motion:mog2"] if name.startswith("blob") else (
            ["person", "motion", "motion:mog2"] if kind == "static" else ["person"])
        for spec in backends:
            seg = make_segmenter(spec)
            if spec == "motion":  # what fit() does with a video: MOTION_SAMPLES evenly spaced frames
                seg.fit_frames(frames[::max(1, math.ceil(len(frames) / MOTION_SAMPLES))])
            masks, secs = timed(batched_masks, seg, frames)
            row = {"composite": name, "backend": spec, "ms_per_frame": 1000 * secs / len(frames), **iou_row(masks, alpha)}
            if spec == "motion:mog2":  # it learns online: its first frames are poor
                skip = len(frames) // 4
                row["iou_after_first_quarter"] = mask_iou(masks[skip:], alpha[skip:])
            rows.append(row)
            print(f"part 2: {name}, {spec}: IoU {row['iou']:.3f} (min {row['min']:.3f})", flush=True)
            if spec == "person" or (spec == "motion" and name.startswith("blob, static tears")):
                slug = name.replace(", ", "_").replace(" ", "_")
                save_preview(args.out / f"iou_{slug}_{spec}.png", frames, alpha, masks, len(frames) // 2)
    return {"rows": rows}


def part3(args, comps) -> dict:
    rows = []
    for shot, (a, b) in PEOPLE_SHOTS.items():
        end = b if args.people is None else a + args.people
        u8 = clip_frames(TOS, a, end, args.size)
        raw = batched_masks(make_segmenter("person"), to_tensors(u8))
        farneback = CachedFlow()
        for s in STRENGTHS:
            m = stabilized(raw, u8, s)
            rows.append({"clip": f"tears_of_steel {shot}", "frames": len(u8), "strength": s,
                         "flicker_farneback": mask_flicker(m, u8, flow_fn=farneback),
                         "flicker_dis": mask_flicker(m, u8), "coverage": float((m > 0.5).float().mean())})
            print(f"part 3: {shot} s={s:g}: flicker {rows[-1]['flicker_farneback']:.4f}", flush=True)
    for name in ("astronaut, moving tears_of_steel", "astronaut, static tears_of_steel"):
        frames, alpha, _ = comps[name]
        u8 = to_arrays(frames)
        raw = batched_masks(make_segmenter("person"), frames)
        farneback = CachedFlow()
        rows.append({"clip": name, "frames": len(u8), "strength": "truth",
                     "flicker_farneback": mask_flicker(alpha, u8, flow_fn=farneback), "flicker_dis": mask_flicker(alpha, u8),
                     "coverage": float((alpha > 0.5).float().mean())})
        for s in STRENGTHS:
            m = stabilized(raw, u8, s)
            rows.append({"clip": name, "frames": len(u8), "strength": s,
                         "flicker_farneback": mask_flicker(m, u8, flow_fn=farneback), "flicker_dis": mask_flicker(m, u8),
                         "coverage": float((m > 0.5).float().mean()), **iou_row(m, alpha)})
            print(f"part 3: {name} s={s:g}: flicker {rows[-1]['flicker_farneback']:.4f}, IoU {rows[-1]['iou']:.3f}",
                  flush=True)
    return {"rows": rows}


def part4(args) -> tuple[dict, dict]:
    results = {}
    for model in MODELS:
        n = args.overhead_frames[model]
        u8 = clip_frames(TOS, CLOSE_UP, CLOSE_UP + n, args.size)
        items = items_of(u8)
        _, _, main = johnson_session(model)
        main.stylize(items[:1])  # warm-up: oneDNN kernels, the selfie network, DIS
        for opts in VARIANTS.values():
            warm = regions(model, **opts[1])
            warm.stylize(items[:1])
            warm.stylize(items[1:2])
        names = ["plain", *VARIANTS] + (["masks only"] if model.endswith("w16") else [])
        times = {k: [] for k in names}
        for r in range(args.overhead_rounds):
            sessions = {k: regions(model, **VARIANTS[k][1]) for k in VARIANTS}
            if "masks only" in names:
                sessions["masks only"] = regions(model, **VARIANTS["feather"][1])
            for i, it in enumerate(items):
                order = names[i % len(names):] + names[:i % len(names)]  # each contender first in turn
                for k in order:
                    fn = main.stylize if k == "plain" else sessions[k].masks if k == "masks only" else \
                        sessions[k].stylize
                    out, secs = timed(fn, [it])
                    times[k].append(secs)
            print(f"part 4: {model} round {r + 1}: " + ", ".join(
                f"{k} {1000 * statistics.median(v[-n:]):.0f} ms" for k, v in times.items()), flush=True)
        base = statistics.median(times["plain"])
        rows = {}
        for k in names:
            med = statistics.median(times[k])
            paired = [t / p for t, p in zip(times[k], times["plain"])] if k != "plain" else [1.0]
            rows[k] = {"s_per_frame": med, "ratio": med / base, "paired_ratio": statistics.median(paired),
                       "min_s": min(times[k]), "min_ratio": min(times[k]) / min(times["plain"]),
                       "all_s": times[k], "flags": VARIANTS[k][0] if k in VARIANTS else ""}
        results[model] = {"frames": n, "rounds": args.overhead_rounds, "rows": rows}
    # file to file, each model, plain then segmented (context only: one run each)
    e2e = []
    clip = vdata.fetch(TOS)
    for model in MODELS:
        for label, reg in (("plain", None), ("--segment person --fg-style none", RegionOptions(segment="person",
                                                                                               fg_style="none"))):
            out = args.out / f"e2e_{model}_{'plain' if reg is None else 'segment'}.mp4"
            for leftover in out.parent.glob(f".{out.name}.vst-*"):  # an interrupted earlier run would be resumed
                shutil.rmtree(leftover)
            res, secs = timed(stylize_video, clip, [model], out, "johnson", start=CLOSE_UP / 24,
                              duration=args.e2e_seconds, max_side=max(args.size), device="cpu", progress=False,
                              regions=reg)
            assert res.resumed_frames == 0
            e2e.append({"model": model, "run": label, "frames": res.n_frames, "wall_s": secs,
                        "s_per_frame": secs / res.n_frames})
            print(f"part 4: file to file {model} {label}: {secs:.1f} s", flush=True)
    return {"models": results, "e2e": e2e, "size": f"{args.size[1]}x{args.size[0]}"}


def part5(args, comps) -> dict:
    frames, alpha, _ = comps["astronaut, moving tears_of_steel"]
    n = args.seam_frames
    u8 = to_arrays(frames[:n])
    items = items_of(u8)
    truth = alpha[:n]

    def seams(outs) -> dict:
        vals = [seam_energy(to_tensor(o), truth[t:t + 1]) for t, o in enumerate(outs)]
        return {"seam": float(np.mean(vals)), "min": float(min(vals)), "max": float(max(vals))}

    refs = {"input composite (its real edge)": seams(u8)}
    for model in (SEAM_BG, SEAM_FG):
        refs[f"whole frame {model}"] = seams(run_session(johnson_session(model)[2], items))
    rows = []
    for variant, opts in SEAM_VARIANTS.items():
        for mask_kind in ("truth", "person"):
            session = regions(SEAM_BG, fg_style=SEAM_FG, **opts)
            if mask_kind == "truth":
                session.segmenter, session.stabilizer = TruthMasks(truth), None
            outs = run_session(session, items)
            rows.append({"variant": variant, "masks": mask_kind, "inpaint": session.inpaint, **seams(outs)})
            if variant == "feather" and mask_kind == "person":
                save_image(np.concatenate([u8[n // 2], outs[n // 2]], axis=1), args.out / "seam_feather_person.png")
            print(f"part 5: {variant}, {mask_kind}: seam {rows[-1]['seam']:.2f}", flush=True)
    return {"frames": n, "fg": SEAM_FG, "bg": SEAM_BG, "refs": refs, "rows": rows}


def part6(args, comps) -> dict:
    model = "starry_night_vangogh_w16"
    sets = []
    # (i) the astronaut over the moving shot: the true background
    frames, alpha, _ = comps["astronaut, moving tears_of_steel"]
    u8 = to_arrays(frames)
    items = items_of(u8)
    outs = {"input (no stylization)": u8, "plain": run_session(johnson_session(model)[2], items)}
    for k, (_, opts) in VARIANTS.items():
        outs[k] = run_session(regions(model, **opts), items)
    truth_bg = ~np.stack([dilate(a[0].numpy() > 0.5, BAND) for a in alpha])
    sets.append(("astronaut over the moving robot shot, true mask", u8, outs, truth_bg))
    # (ii) part 4's close-up: the background by the estimated mask (person, stabilized, as feather uses it)
    u8 = clip_frames(TOS, CLOSE_UP, CLOSE_UP + args.overhead_frames[model], args.size)
    items = items_of(u8)
    outs = {"input (no stylization)": u8, "plain": run_session(johnson_session(model)[2], items)}
    est = []
    for k, (_, opts) in VARIANTS.items():
        session, frames_out = regions(model, **opts), []
        for it in items:
            frames_out.append(to_array(session.stylize([it])))
            if k == "feather":
                est.append(session.last_masks[0, 0].numpy() > 0.5)
        outs[k] = np.stack(frames_out)
    est_bg = ~np.stack([dilate(m, BAND) for m in est])
    sets.append(("tears_of_steel close-up (3 s), estimated mask (person, stabilized)", u8, outs, est_bg))
    result = []
    for label, inputs, outputs, bg in sets:
        flows = compute_flows(list(inputs), clip_pairs(len(inputs), (1,)), method="farneback", progress=False)
        row = {"set": label, "frames": len(inputs), "background_fraction": float(bg.mean()), "e_warp": {}}
        for k, o in outputs.items():
            row["e_warp"][k] = background_ewarp(list(o), flows, bg)
        result.append(row)
        print(f"part 6: {label}: " + ", ".join(f"{k} {v:.4f}" for k, v in row["e_warp"].items()), flush=True)
    return {"model": model, "band": BAND, "sets": result}


# ------------------------------------------------------------------------------------------------
# The fragment
# ------------------------------------------------------------------------------------------------


def span(values, fmt: str = "{:+.0f}", unit: str = " %") -> str:
    """``values`` as one number or a range, e.g. "+3 %" or "-18 to -7 %"."""
    lo, hi = fmt.format(min(values)), fmt.format(max(values))
    return f"{lo}{unit}" if lo == hi else f"{lo} to {hi}{unit}"


def verdict(ok: bool) -> str:
    return "**met**" if ok else "**not met**"


def markdown(res: dict, quick: bool) -> str:
    cmd = "python benchmarks/bench_segment.py" + (" --quick" if quick else "")
    L = [f"`{cmd}`" + (" (smoke run: 160x90, one round; the numbers are not results)" if quick else "")
         + f"; torch {res.get('threads', 2)} threads, CPU. Targets: "]
    targets = []
    p1, p2, p4 = res.get("part1"), res.get("part2"), res.get("part4")
    if p1:
        worst = max(v["worst_mean_abs_diff"] for v in p1["port"]["variants"].values())
        speed = p1["speed"][f"{p1['auto_variant']}, batch 1"]["masks_per_s"]
        targets.append(f"selfie port vs TFLite, worst mean |diff| {worst:.1e} <= 1e-3: {verdict(worst <= 1e-3)}")
        targets.append(f"masks/s at 640x360 (`{p1['auto_variant']}`, the network `person` uses there; batch 1) "
                       f"{speed:.0f} >= 30: {verdict(speed >= 30)}")
    if p2:
        motion = [r for r in p2["rows"] if r["backend"] == "motion" and r["composite"].startswith("blob")]
        if motion:
            low = min(r["iou"] for r in motion)
            targets.append(f"`motion` IoU on the static composites >= 0.9 (lowest {low:.3f}): {verdict(low >= 0.9)}")
    if p4:
        for model, m in p4["models"].items():
            r, f = m["rows"]["feather"]["ratio"], m["rows"]["feather"]["min_ratio"]
            busy = res.get("phases", {}).get("4", {}).get("other_cores")
            load = f"; other processes kept {busy:.1f} cores busy meanwhile" if busy is not None else ""
            targets.append(f"time per frame of `--segment person --fg-style none --edges feather` over plain, `{model}`, "
                           f"{r:.2f}x <= 1.10x: {verdict(r <= 1.10)} (fastest frames: {f:.2f}x{load})")
    L[0] += "; ".join(targets) + "." if targets else "none measured in this run."

    if p1:
        port = p1["port"]
        L += ["", "**1. Selfie segmentation port.** From `tools/convert_mediapipe_selfie.report.json`, written by "
              "`python tools/convert_mediapipe_selfie.py --check-only` (LiteRT "
              f"{port['litert']}; not rerun by this script): masks of `vstlib.selfie_net` against the LiteRT "
              "interpreter on the same inputs (random noise, smooth synthetic images, Tears of Steel frames; XNNPACK "
              "and reference kernels), at the networks' own input sizes.", "",
              "| network | comparisons | worst mean abs diff (target <= 1e-3) | worst max abs diff | check |",
              "|---|---|---|---|---|"]
        for v, e in port["variants"].items():
            L.append(f"| {v} | {e['comparisons']} | {e['worst_mean_abs_diff']:.1e} | {e['worst_max_abs_diff']:.1e} "
                     f"| {'passed' if e['passed'] else 'FAILED'} |")
        L += ["", f"Speed: `person_masks` on {p1['frames']} Tears of Steel frames at {p1['size']} (stretch to the "
              f"network's input with antialiasing, network, bilinear back to 640x360), {p1['rounds']} rounds with the "
              f"contenders taking turns, median. 640x360 is wider than 4:3, so `person` picks `{p1['auto_variant']}`.",
              "", "| network, batch | masks/s (target >= 30) |", "|---|---|"]
        for k, e in p1["speed"].items():
            L.append(f"| {k} | **{e['masks_per_s']:.0f}** |")

    if p2:
        L += ["", "**2. IoU against synthetic ground truth** (mask >= 0.5 against alpha >= 0.5; pooled over every "
              "pixel of every frame, and the per-frame minimum and median). *blob, static CLIP*: a textured blob "
              "crossing a still of the clip seen by `static_camera` (noise 2/255, 3 % brightness drift, 8-bit). "
              "*astronaut*: the GrabCut cut-out (`out/segment/astronaut_cutout.png`, check image "
              "`astronaut_grabcut_check.png`), 75 % of the frame's height, cut by the bottom edge, crossing the "
              "static camera or Tears of Steel's moving robot shot (no people). `motion` is fitted on "
              f"{MOTION_SAMPLES} evenly spaced frames, as `fit()` does; `motion:mog2` learns online from frame 0.", "",
              "| composite | frames | backend | IoU (pooled) | per-frame min / median |",
              "|---|---|---|---|---|"]
        for r in p2["rows"]:
            extra = (f" (after the first quarter: {r['iou_after_first_quarter']:.3f})"
                     if "iou_after_first_quarter" in r else "")
            L.append(f"| {r['composite']} | {r['frames']} | `{r['backend']}` | **{r['iou']:.3f}**{extra} "
                     f"| {r['min']:.3f} / {r['median']:.3f} |")

    p3 = res.get("part3")
    if p3:
        L += ["", "**3. Mask flicker** (`mask_flicker` with the frames: mean |m_t - warp(m_{t-1})| where the flow "
              "is reliable; mask units) of `person` at `--mask-stability` 0, 0.5 (default) and 0.8, along Farneback "
              "(independent of the stabilizer) and along DIS (the stabilizer's own flow). *coverage*: fraction of "
              "pixels >= 0.5. On the composites, the true mask's own flicker is the floor the flow error leaves, "
              "and the IoU shows the accuracy stabilization costs.", "",
              "| clip | frames | stabilization | flicker, Farneback | flicker, DIS | coverage | IoU (min) |",
              "|---|---|---|---|---|---|---|"]
        for r in p3["rows"]:
            s = r["strength"] if isinstance(r["strength"], str) else f"{r['strength']:g}"
            iou = f"{r['iou']:.3f} ({r['min']:.3f})" if "iou" in r else "-"
            L.append(f"| {r['clip']} | {r['frames']} | {s} | {r['flicker_farneback']:.4f} | {r['flicker_dis']:.4f} "
                     f"| {r['coverage']:.3f} | {iou} |")
        by = {(r["clip"], r["strength"]): r for r in p3["rows"]}
        real = [c for c in dict.fromkeys(r["clip"] for r in p3["rows"]) if c.startswith("tears_of_steel")]
        synth = [c for c in dict.fromkeys(r["clip"] for r in p3["rows"]) if c.startswith("astronaut")]
        if real and synth and all((c, s) in by for c in real + synth for s in (0.0, 0.5, 0.8)):
            def rel(clips, strength, key="flicker_farneback"):
                return [100 * (by[(c, strength)][key] / by[(c, 0.0)][key] - 1) for c in clips]

            drop = [by[(c, 0.8)]["iou"] - by[(c, 0.0)]["iou"] for c in synth]
            L += ["", "Reading: against no stabilization, the flicker along the independent flow changes by "
                  f"{span(rel(real, 0.5))} at 0.5 and {span(rel(real, 0.8))} at 0.8 on the real shots; on the "
                  f"composites by {span(rel(synth, 0.5))} and {span(rel(synth, 0.8))} (along DIS, the flow the "
                  f"stabilizer follows: {span(rel(synth, 0.5, 'flicker_dis'))} and {span(rel(synth, 0.8, 'flicker_dis'))}), "
                  f"while the IoU with the truth changes by {span(drop, '{:+.3f}', '')} at 0.8."]

    if p4:
        L += ["", f"**4. Compositing overhead**, `johnson` at {p4['size']} on a Tears of Steel close-up (two people, "
              "from 3 s), in process on the same decoded frames: each frame through every contender in turn, fresh "
              "sessions each round, one stylization per frame; the region session's time includes the `person` "
              "masks, their stabilization (0.5, DIS), inpainting where on, and the blend. Ratio = median / plain's "
              "median (paired: median of the per-frame ratios). *fastest*: the shortest time of each contender and its "
              "ratio, the least disturbed by other processes on a shared machine. *masks only*: `RegionSession.masks` "
              "alone.", "",
              "| model | contender | flags (all with `--segment person`) | s/frame | ratio (target <= 1.10x "
              "for feather) | paired | fastest s/frame | fastest ratio |", "|---|---|---|---|---|---|---|---|"]
        for model, m in p4["models"].items():
            first = True
            for k, r in m["rows"].items():
                label = f"`{model}` ({m['frames']} frames x {m['rounds']} rounds)" if first else ""
                first = False
                ratio = "-" if k == "plain" else f"**{r['ratio']:.2f}x**" if k == "feather" else f"{r['ratio']:.2f}x"
                paired = "-" if k == "plain" else f"{r['paired_ratio']:.2f}x"
                fastest = "-" if k == "plain" else f"{r['min_ratio']:.2f}x"
                L.append(f"| {label} | {k} | {r['flags']} | {r['s_per_frame']:.3f} | {ratio} | {paired} "
                         f"| {r['min_s']:.3f} | {fastest} |")
        L += ["", "File to file (`stylize_video`, H.264 and audio, one run each, for context):", "",
              "| model | run | frames | wall | s/frame |", "|---|---|---|---|---|"]
        for e in p4["e2e"]:
            L.append(f"| `{e['model']}` | {e['run']} | {e['frames']} | {e['wall_s']:.1f} s | {e['s_per_frame']:.3f} |")

    p5 = res.get("part5")
    if p5:
        L += ["", f"**5. Seams**: the astronaut over the moving robot shot ({p5['frames']} frames), foreground "
              f"`{p5['fg']}`, background `{p5['bg']}` (`--model {p5['bg']} --fg-style {p5['fg']}`), joined by each "
              "variant with the true alpha (*truth*) or `person`'s stabilized mask; `seam_energy` on the true "
              "boundary (2 px each side), mean over frames (min-max). References: the input's own edge, and each "
              "style over the whole frame (no seam of its own).", "",
              "| variant | masks | inpaint | seam energy | min-max |", "|---|---|---|---|---|"]
        for k, r in p5["refs"].items():
            L.append(f"| {k} | - | - | {r['seam']:.2f} | {r['min']:.2f}-{r['max']:.2f} |")
        for r in p5["rows"]:
            L.append(f"| {r['variant']} | {r['masks']} | {'on' if r['inpaint'] else 'off'} | **{r['seam']:.2f}** "
                     f"| {r['min']:.2f}-{r['max']:.2f} |")
        seam = {(r["variant"], r["masks"]): r["seam"] for r in p5["rows"]}
        if all((v, "truth") in seam for v in ("strict", "feather", "feather, no inpaint")):
            gap = [seam[(v, "person")] - seam[(v, m)] for v, m in seam if m == "truth" and (v, "person") in seam]
            L += ["", f"Reading (true masks): hard cut {seam[('strict', 'truth')]:.2f}, feathered without inpainting "
                  f"{seam[('feather, no inpaint', 'truth')]:.2f}, feathered with inpainting {seam[('feather', 'truth')]:.2f} "
                  "(inpainting takes away the person's outline, which the background's style otherwise paints into "
                  f"the background along the seam). The estimated masks differ from the true ones by {span(gap, '{:+.2f}', '')}."]

    p6 = res.get("part6")
    if p6:
        keys = list(p6["sets"][0]["e_warp"])
        L += ["", f"**6. Background flicker**: E_warp (Lai et al., [0, 1] RGB squared) along Farneback, counted "
              f"where the flow is reliable and the pixel is background in both frames, at least {p6['band']} px "
              f"from the foreground; `johnson` `{p6['model']}`. *input*: the frames themselves (what flow error and "
              "real change leave).", "",
              "| set | frames | background counted | " + " | ".join(keys) + " |",
              "|---|---|---|" + "---|" * len(keys)]
        for s in p6["sets"]:
            L.append(f"| {s['set']} | {s['frames']} | {s['background_fraction']:.2f} | "
                     + " | ".join(f"{s['e_warp'].get(k, float('nan')):.4f}" for k in keys) + " |")
        if all(k in keys for k in ("plain", "blur", "feather", "feather, no inpaint")):
            def pct(k):
                return [100 * (s["e_warp"][k] / s["e_warp"]["plain"] - 1) for s in p6["sets"]]

            L += ["", f"Reading: against plain `johnson`, the background's E_warp changes by {span(pct('blur'))} with "
                  f"`blur`, {span(pct('feather, no inpaint'))} with `feather` without inpainting and "
                  f"{span(pct('feather'))} with it (the inpainted hole is filled anew every frame, and the network's "
                  f"view reaches past the {p6['band']} px left out)."]
    if res.get("note"):
        L += ["", f"Note: {res['note']}."]
    phases = res.get("phases")
    if phases:
        L += ["", "Each part's run: when, its wall time, and the cores *other* processes kept busy meanwhile (from "
              "`/proc/stat`; 0 = the machine was ours): " + ", ".join(
                  f"part {k} {v.get('date', '')} {v['wall_s']:.0f} s ({v['other_cores']:.2f})" for k, v in phases.items())
              + "."]
        commits: dict = {}
        for k, v in phases.items():
            if v.get("commit"):
                commits.setdefault(v["commit"], []).append(k)
        if commits:
            L[-1] += " vstlib commit of the runs: " + "; ".join(
                f"{c} (part{'s' if len(ks) > 1 else ''} {', '.join(ks)})" for c, ks in commits.items()) + "."
    return "\n".join(L) + "\n"


def write(res: dict, args, command: str | None = None) -> None:
    md = markdown(res, args.quick)
    print("\n" + md)

    write_fragment("segment", md, command=command, quick=args.quick)


def main(argv=None) -> int:
    args = parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    if args.render_only:
        res = json.loads((args.out / "results.json").read_text())
        cmd = "python benchmarks/bench_segment.py" + (" --quick" if args.quick else "")
        write(res, args, command=f"{cmd}`; its results.json re-rendered by `{cmd} --render-only")
        return 0
    torch.set_num_threads(args.threads)

    g = git_state()
    commit = g["commit"] + (" + uncommitted changes" if g["dirty"] else "")
    print(f"bench_segment: parts {args.parts}, {'quick (smoke)' if args.quick else 'full'} mode, "
          f"{args.threads} torch threads", flush=True)
    t0 = time.perf_counter()
    res = {}
    saved = args.out / "results.json"
    if len(args.parts) < 6 and saved.is_file():  # rerun some parts, keep the others' results
        res = {k: v for k, v in json.loads(saved.read_text()).items()
               if not (k.startswith("part") and k[4:].isdigit() and int(k[4:]) in args.parts)}
    res.update({"threads": args.threads, "load_average": os.getloadavg(), "parts_run": args.parts})
    comps = None
    if any(p in args.parts for p in (2, 3, 5, 6)):
        cutout = astronaut_cutout(args.out)
        comps = composites(args, cutout)
        for name, (frames, alpha, _) in comps.items():
            if name.startswith("astronaut"):
                save_preview(args.out / f"composite_{name.split(', ')[1].split()[0]}.png", frames, alpha, None,
                             len(frames) // 2)
    res.setdefault("phases", {})
    for part in args.parts:
        before = cpu_snapshot()
        if part == 1:
            res["part1"] = part1(args)
        elif part == 2:
            res["part2"] = part2(args, comps)
        elif part == 3:
            res["part3"] = part3(args, comps)
        elif part == 4:
            res["part4"] = part4(args)
        elif part == 5:
            res["part5"] = part5(args, comps)
        elif part == 6:
            res["part6"] = part6(args, comps)
        after = cpu_snapshot()
        res["phases"][str(part)] = {"wall_s": after[0] - before[0], "other_cores": other_cores(before, after),
                                    "date": time.strftime("%Y-%m-%d %H:%M"), "commit": commit}
    res["phases"] = dict(sorted(res["phases"].items()))
    res["wall_s"] = time.perf_counter() - t0
    res["load_average_end"] = os.getloadavg()
    print(f"bench_segment: {res['wall_s']:.0f} s", flush=True)
    (args.out / "results.json").write_text(json.dumps(res, indent=1, default=float))
    write(res, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
