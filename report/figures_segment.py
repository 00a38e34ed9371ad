"""The report's section "Foreground/background segmentation" (``make_figures.py --only segmentation``):
the computations of notebooks/07_segmentation.ipynb written as figures and macros, all through vstlib.

    segment_masks.png      three Tears of Steel frames (a man on a bridge, two people, a robot and
                           nobody) and the masks of ``person`` (the landscape network), ``person:general``
                           and, when its weights are cached, ``voc:person`` (vstlib.plotting.plot_masks)
    segment_flicker.png    mask flicker along the flow of a close-up, raw and through the mask
                           stabilizer at two strengths (vstlib.plotting.plot_mask_flicker)
    segment_variants.png   the four ``--edges`` variants on the close-up, a zoom on the seam, the seam
                           energy of each (vstlib.plotting.plot_variants, vstlib.composite.seam_energy)
    segment_resize.png     the same on a course-clip frame where the subject is small (resize differs)
    segment_regions.png    a style per region: people painted, background painted, two paintings
    segment_inpaint.png    the background's painting without and with the hidden pixels filled
                           (vstlib.composite.fill_hidden), and the outputs with the people kept
    segment_ewarp.pdf      the background's E_warp per frame pair: whole-frame, blur, background kept
    segment_synthetic.png  a static-camera clip with a moving blob of known alpha: exact alpha and the
                           masks of ``motion`` and ``motion:mog2``
    segment_iou.pdf        their IoU with the exact alpha per frame
    segment_numbers.tex    the \\Seg... macros quoted in the text (also the selfie port's conversion
                           check, read from tools/convert_mediapipe_selfie.report.json, and the IoU of
                           ``person`` on a real person's cut-out: benchmarks/out/segment/results.json
                           when it exists, else measured here on a smaller clip)

Full: stills at 384 px, clips at 256 px (24 close-up frames, 12 course-clip frames, 48 synthetic
frames); about two minutes on a busy 2-core CPU. Smoke: 64 px and a few frames (under 30 s).
The helpers (number formatting, atomic writes, device description) are make_figures.py's.
"""

from __future__ import annotations

import json
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

SEGMENT_FILES = ("segment_masks.png", "segment_flicker.png", "segment_variants.png", "segment_resize.png",
                 "segment_regions.png", "segment_inpaint.png", "segment_ewarp.pdf", "segment_synthetic.png",
                 "segment_iou.pdf", "segment_numbers.tex")
REPO_ROOT = Path(__file__).resolve().parents[1]
CONVERSION_REPORT = REPO_ROOT / "tools" / "convert_mediapipe_selfie.report.json"
BENCH_RESULTS = REPO_ROOT / "benchmarks" / "out" / "segment" / "results.json"
BENCH_SCRIPT = REPO_ROOT / "benchmarks" / "bench_segment.py"
# The report's page: \linewidth and 0.45 \textheight (\genfigure's height cap) of main.tex, inches
# (A4, 2.5 cm margins). Figures are drawn near the size they are printed at, and their text is
# enlarged where it would print below MIN_FONT_PT.
LINE_WIDTH_IN = 6.30
MAX_HEIGHT_IN = 0.45 * 9.72
MIN_FONT_PT = 8.0
# A pixel counts as background for the E_warp of section 5 where the feathered alpha is below this
# (beyond the crossfade of the feathered cut).
BACKGROUND_BELOW = 0.01


@dataclass(frozen=True)
class SegmentSettings:
    """Everything that defines the section's figures (as notebook 07)."""

    smoke: bool
    people: str = "video/tears_of_steel_640x360_10s.mp4"  # live action with people (CC-BY)
    shown: tuple[int, ...] = (48, 120, 216)  # a man on a bridge, two people, a robot and nobody
    closeup: int = 120  # the two people: variants, regions, inpainting
    still_side: int = 384  # longer side of the single frames
    flicker_start: int = 96  # the close-up, every 2nd frame (12 fps)
    flicker_every: int = 2
    flicker_frames: int = 24  # 2 s
    strengths: tuple[float, ...] = (0.5, 0.8)  # mask stabilizer strengths measured
    clip: str = "video/sintel_640x360_10s.mp4"  # vstlib.course.CLIP
    clip_start: int = 10  # vstlib.course.CLIP_START
    clip_every: int = 2  # vstlib.course.CLIP_EVERY
    clip_frames: int = 12  # vstlib.course.clip_frames(False)
    clip_side: int = 256  # vstlib.course.frame_size(False)
    small_subject: int = 52  # course-clip frame where Sintel is small in the frame (resize)
    style_fg: str = "starry_night_vangogh"  # vstlib.course.STYLE
    style_bg: str = "the_scream_munch"  # the background's painting where the regions differ
    blurs: tuple[float, ...] = (4.0, 8.0)  # --blur values scored (the default and a stronger one)
    score_flow: str = "farneback"  # E_warp's flow: not the DIS flow the mask stabilizer follows
    synth_frames: int = 48  # the static-camera clip with a moving blob
    person_frames: int = 24  # own measurement of person on the astronaut cut-out (no benchmark run)
    seed: int = 0


SEG_FULL = SegmentSettings(smoke=False)
SEG_SMOKE = SegmentSettings(smoke=True, still_side=64, flicker_frames=6, clip_frames=4, clip_side=64,
                            synth_frames=8, person_frames=4)


def _mf():
    import make_figures  # the helpers; make_figures puts this folder on sys.path

    return make_figures


def pct(share: float) -> str:
    r"""A share of [0, 1] as a LaTeX percentage with 2 significant digits; tiny ones as a bound.

    >>> pct(0.0934), pct(0.5), pct(2e-11)
    ('9.3\\%', '50\\%', 'less than 0.01\\%')
    """
    value = 100 * share
    return "less than 0.01\\%" if value < 0.01 else _mf().num(value, 2) + "\\%"


def _frame_at(video, index: int, max_side: int) -> np.ndarray:
    """One frame, uint8 [H, W, 3]."""
    from vstlib import read_frames

    return next(read_frames(video, max_side=max_side, start=index, end=index + 1))


# ------------------------------------------------------------------------------------------
# Print size: fonts at least MIN_FONT_PT and images at their own resolution where printed
# ------------------------------------------------------------------------------------------


def print_scale(fig, width_in: float) -> float:
    """How much the figure is scaled when printed at ``width_in`` inches wide (its tight bounding
    box, as saved), or less when \\genfigure's height cap binds."""
    fig.canvas.draw()
    box = fig.get_tightbbox(fig.canvas.get_renderer())
    return float(min(width_in / box.width, MAX_HEIGHT_IN / box.height))


def readable(fig, width_in: float, min_pt: float = MIN_FONT_PT):
    """Enlarge every text of ``fig`` that would print below ``min_pt`` at ``width_in`` inches wide
    (titles, labels, ticks, legends), then lay the figure out again; returns the figure.

    >>> import matplotlib; matplotlib.use("Agg"); import matplotlib.pyplot as plt
    >>> fig, ax = plt.subplots(figsize=(12, 4)); _ = ax.set_title("tiny", fontsize=6)
    >>> fig = readable(fig, 6.0)
    >>> ax.title.get_fontsize() * print_scale(fig, 6.0) >= 7.9
    True
    >>> plt.close(fig)
    """
    from matplotlib.text import Text

    for _ in range(3):  # larger text grows the bounding box, which shrinks the print scale again
        scale = print_scale(fig, width_in)
        small = [t for t in fig.findobj(Text) if t.get_text() and t.get_visible() and t.get_fontsize() * scale < min_pt]
        if not small:
            break
        for text in small:
            text.set_fontsize(min_pt / scale * 1.02)
        fig.tight_layout()
    return fig


def native_dpi(fig, floor: int = 200, cap: int = 600) -> int:
    """The dpi at which the widest image of ``fig`` is drawn with at least one figure pixel per
    image pixel (zoomed crops excepted: they are meant to be enlarged), within [floor, cap]."""
    fig.canvas.draw()
    need = floor
    for ax in fig.axes:
        for im in ax.get_images():
            width_px = im.get_array().shape[1]
            width_in = ax.get_window_extent().width / fig.dpi
            if width_px >= 96 and width_in > 0:  # a zoom shows a few dozen pixels: no need
                need = max(need, int(np.ceil(width_px / width_in)))
    return int(min(cap, need))


def save(fig, path: Path, width_in: float) -> None:
    mf = _mf()
    readable(fig, width_in)
    mf.save_figure(fig, path, dpi=native_dpi(fig) if path.suffix == ".png" else 200)


# ------------------------------------------------------------------------------------------
# The selfie port and the benchmark's person IoU (read from files)
# ------------------------------------------------------------------------------------------


def conversion_numbers(report: Path = CONVERSION_REPORT) -> dict:
    """The conversion check of the selfie networks: the worst mean and max |PyTorch - LiteRT| of
    each network's masks over all its comparisons, their count, the tolerance and the versions.

    >>> c = conversion_numbers()
    >>> sorted(c["variants"]) == ["general", "landscape"] and c["tolerance"] > 0
    True
    """
    rep = json.loads(report.read_text(encoding="utf-8"))
    variants = {}
    for name, check in rep["checks"].items():
        comparisons = [c for runs in check["comparisons"].values() for c in runs]
        variants[name] = {"mean": max(c["mean"] for c in comparisons), "max": max(c["max"] for c in comparisons),
                          "count": len(comparisons), "sets": len(check["comparisons"]), "passed": check["passed"],
                          "input": tuple(check["input_size_hw"])}
    return {"variants": variants, "tolerance": rep["tolerance_mean_abs_diff"], "litert": rep["ai_edge_litert"],
            "source": rep["source"].split(" ")[0], "layers": rep["layers"]}


def benchmark_person_iou(path: Path = BENCH_RESULTS) -> dict | None:
    """The IoU of ``person`` and ``motion`` on the astronaut cut-out crossing a static shot, as
    benchmarks/bench_segment.py recorded it (its part 2), or None when there is no such record.

    >>> import tempfile; p = Path(tempfile.mkdtemp()) / "results.json"
    >>> rows = [{"composite": "astronaut, static tears_of_steel", "backend": b, "iou": v, "min": v - 0.1,
    ...          "frames": 48} for b, v in (("person", 0.9), ("motion", 0.95))]
    >>> _ = p.write_text(json.dumps({"part2": {"rows": rows}, "part1": {"size": "640x360"}}))
    >>> benchmark_person_iou(p)["person"]
    (0.9, 0.8, 48)
    >>> benchmark_person_iou(p.with_name("missing.json")) is None
    True
    """
    if not path.is_file():
        return None
    try:
        rows = json.loads(path.read_text(encoding="utf-8"))["part2"]["rows"]
        size = json.loads(path.read_text(encoding="utf-8")).get("part1", {}).get("size", "640x360")
    except (KeyError, ValueError, TypeError):
        return None
    found = {r["backend"]: (float(r["iou"]), float(r["min"]), int(r["frames"])) for r in rows
             if r.get("composite", "").startswith("astronaut, static") and r.get("backend") in ("person", "motion")}
    if "person" not in found:
        return None
    return {**found, "size": size.replace("x", "$\\times$"), "source": "benchmark"}


def measure_person_iou(s: SegmentSettings, device) -> dict:
    """The same measurement, smaller: the benchmark's astronaut cut-out (scikit-image's photo, cut
    out by GrabCut: benchmarks/bench_segment.py) crossing a static camera's view of Tears of Steel's
    robot shot, ``s.person_frames`` frames at ``s.clip_side`` px; ``person`` and ``motion``."""
    import importlib.util
    import sys

    import torch
    from vstlib import data, io, segment

    spec = importlib.util.spec_from_file_location("bench_segment", BENCH_SCRIPT)
    bench = importlib.util.module_from_spec(spec)
    sys.modules.setdefault(spec.name, bench)  # dataclasses and pickling look their module up there
    spec.loader.exec_module(bench)
    with tempfile.TemporaryDirectory() as tmp:
        cutout = bench.astronaut_cutout(Path(tmp))  # also writes its check images: thrown away
    still = io.to_tensor(_frame_at(data.fetch(bench.TOS), bench.ROBOT_SHOT[0], s.clip_side))[0]
    frames, alpha = bench.astronaut_over(segment.static_camera(still, s.person_frames, seed=7), cutout, 0.12, 0.88)
    out = {}
    for spec_name in ("person", "motion"):
        seg = segment.make_segmenter(spec_name, device=device)
        if spec_name == "motion":
            seg.fit_frames(frames)
        with torch.no_grad():
            masks = seg.masks(frames, range(len(frames))).cpu()
        per_frame = [segment.mask_iou(masks[t], alpha[t]) for t in range(len(frames))]
        out[spec_name] = (segment.mask_iou(masks, alpha), min(per_frame), len(frames))
    h, w = frames.shape[-2:]
    return {**out, "size": f"{w}$\\times${h}", "source": "own"}


# ------------------------------------------------------------------------------------------
# Computations
# ------------------------------------------------------------------------------------------


class Painter:
    """The regions' sessions (the ``arbitrary`` network with one painting each, loaded once) and
    how `vst stylize --segment person` joins them (notebook 07's ``regions`` and ``render``)."""

    def __init__(self, s: SegmentSettings, device):
        from vstlib import data
        from vstlib.gatys import load_style
        from vstlib.methods.arbitrary import ArbitraryConfig, ArbitraryFrames

        self.device = device
        self.fg = ArbitraryFrames([load_style(data.resolve(s.style_fg, "style"))], ArbitraryConfig(), device)
        self.bg = ArbitraryFrames([load_style(data.resolve(s.style_bg, "style"))], ArbitraryConfig(), device)

    def regions(self, fg, bg, edges: str = "feather", **options):
        """The RegionSession ``--segment person --edges EDGES`` builds; fg / bg a session or None (kept)."""
        from vstlib import segment
        from vstlib.composite import RegionPlan, RegionSession
        from vstlib.runner import RegionOptions

        opts = RegionOptions(segment="person", edges=edges, **options)
        stabilizer = segment.MaskStabilizer(opts.mask_stability) if opts.mask_stability > 0 else None
        return RegionSession(RegionPlan(fg, False, "fg"), RegionPlan(bg, False, "bg"),
                             segment.make_segmenter(opts.segment, device=self.device), opts, stabilizer=stabilizer)

    @staticmethod
    def render(session, frames, batch: int = 4):
        """A session over uint8 frames in order, as the runner runs it: outputs [T, 3, H, W] and the
        masks a RegionSession used (an empty tensor for a plain session)."""
        import torch
        from vstlib import io
        from vstlib.composite import RegionSession
        from vstlib.methods.base import FrameItem

        items = [FrameItem(i, f, io.to_tensor(f)) for i, f in enumerate(frames)]
        outs, masks = [], []
        for i in range(0, len(items), batch):
            outs.append(session.stylize(items[i:i + batch]).float().cpu())
            masks.append(session.last_masks if isinstance(session, RegionSession) else torch.zeros(0))
        return torch.cat(outs), torch.cat(masks)


def stabilized(masks, frames, strength: float):
    """Masks [T, 1, H, W] through a MaskStabilizer of ``strength``, in order, as a run does."""
    import torch
    from vstlib import segment

    stabilizer = segment.MaskStabilizer(strength)
    return torch.cat([stabilizer(masks[i:i + 1], frames[i]) for i in range(len(frames))])


def run_masks(s: SegmentSettings, device) -> dict:
    """Notebook 07 section 1: each person backend on three Tears of Steel frames."""
    import torch
    from vstlib import data, io, probe_video, segment
    from vstlib.selfie_net import pick_variant

    mf = _mf()
    people = data.fetch(s.people)
    fps = probe_video(people).fps
    stills = io.to_tensors([_frame_at(people, k, s.still_side) for k in s.shown])
    h, w = stills.shape[-2:]
    with torch.no_grad():
        person = {spec: segment.make_segmenter(spec, device=device).masks(stills, s.shown).cpu()
                  for spec in ("person", "person:general")}
        voc = None
        if segment.voc_weights_file().is_file():  # never downloaded here: offline runs stay offline
            voc = segment.VocSegmenter(["person"], device=device).masks(stills, s.shown).cpu()
    land, general = person["person"], person["person:general"]
    res = {"stills": stills, "fps": fps, "hw": (h, w), "variant": pick_variant(h, w), "person": land,
           "general": general, "voc": voc,
           "robot_side": float(land[0, 0, :, w // 2:].mean()), "cover": [float(m.mean()) for m in land],
           "cover_general": [float(m.mean()) for m in general]}
    mf.log(f"[segmentation 1/6] person on frames {s.shown} of {Path(s.people).name} at {w}x{h} ({res['variant']}): "
           f"cover {', '.join(f'{c:.3f}' for c in res['cover'])}; general {res['cover_general'][-1]:.3f} on the last; "
           f"voc:person {'shown' if voc is not None else 'not cached, left out'}")
    return res


def run_flicker(s: SegmentSettings, device) -> dict:
    """Notebook 07 section 2: the mask flicker of a close-up, raw and stabilized."""
    import torch
    from vstlib import data, io, read_frames, segment
    from vstlib.stabilize import expected_flicker

    mf = _mf()
    people = data.fetch(s.people)
    end = s.flicker_start + s.flicker_every * s.flicker_frames
    closeup = list(read_frames(people, max_side=s.clip_side, start=s.flicker_start, end=end, step=s.flicker_every))
    frames = io.to_tensors(closeup)
    with torch.no_grad():
        raw = segment.make_segmenter("person", device=device).masks(frames, range(s.flicker_start, end,
                                                                                    s.flicker_every)).cpu()
    streams = {"raw": raw} | {f"rho_m = {rho:g}": stabilized(raw, closeup, rho) for rho in s.strengths}
    flicker = {name: {flow: segment.mask_flicker(m, frames, flow=flow) for flow in ("dis", "farneback")}
               for name, m in streams.items()}
    iou = {name: segment.mask_iou(m, raw) for name, m in streams.items()}
    noise = {rho: 1 / expected_flicker(rho) for rho in s.strengths}
    for name in streams:
        mf.log(f"      {name:10} mask flicker {flicker[name]['dis']:.4f} (DIS), {flicker[name]['farneback']:.4f} "
               f"(Farneback); IoU with raw {iou[name]:.3f}")
    mf.log(f"[segmentation 2/6] mask flicker of {len(closeup)} close-up frames from {s.flicker_start}")
    return {"frames": frames, "streams": streams, "flicker": flicker, "iou": iou, "noise": noise,
            "fps": None, "hw": tuple(frames.shape[-2:])}


def profile(frame) -> tuple[int, int, int]:
    """(top, left, side) of a square on the man's profile in Tears of Steel's frame 120 (notebook 07)."""
    h, w = frame.shape[:2]
    return h // 12, int(0.56 * w), h // 3


def run_variants(s: SegmentSettings, painter: Painter) -> dict:
    """Notebook 07 section 3: the four --edges variants on the close-up and on a course-clip frame
    where the subject is small, with the seam energy of each."""
    from vstlib import composite, data
    from vstlib.runner import EDGES

    mf = _mf()
    frames = {"closeup": _frame_at(data.fetch(s.people), s.closeup, s.still_side),
              "small": _frame_at(data.fetch(s.clip), s.small_subject, s.still_side)}
    res = {}
    for name, frame in frames.items():
        outs, seams = {}, {}
        for edges in EDGES:
            out, mask = painter.render(painter.regions(painter.fg, painter.bg, edges), [frame])
            outs[edges], seams[edges] = out, composite.seam_energy(out, mask)
        h, w = frame.shape[:2]
        box = composite.region_box(mask[0, 0], w / h)
        fg = (mask > 0.5).expand_as(outs["resize"])
        diff = (outs["resize"] - outs["feather"]).abs()
        res[name] = {"frame": frame, "outs": outs, "seams": seams, "mask": mask, "box": box,
                     "box_width": (box[2] - box[0]) / w if box is not None else 1.0,
                     "resize_change": float(diff[fg].mean()) if bool(fg.any()) else 0.0,
                     "resize_max": float(diff.max())}
        mf.log(f"      {name}: E_seam " + ", ".join(f"{k} {v:.2f}" for k, v in seams.items())
               + f"; box {100 * res[name]['box_width']:.0f} % of the width, mean |resize - feather| over the "
               f"foreground {res[name]['resize_change']:.4f}")
    mf.log("[segmentation 3/6] the four variants")
    return res


def run_regions(s: SegmentSettings, painter: Painter, closeup: np.ndarray) -> dict:
    """Notebook 07 section 4: a style per region on the close-up, and filling the hole."""
    from vstlib import composite, io
    from vstlib.runner import RegionOptions

    mf = _mf()
    choices = {"people painted": (painter.fg, None), "background painted": (None, painter.bg),
               "two paintings": (painter.fg, painter.bg)}
    styled = {}
    for name, (fg, bg) in choices.items():
        styled[name], mask = painter.render(painter.regions(fg, bg), [closeup])
    alpha = composite.edge_alpha(mask, "feather", RegionOptions().feather)
    frame = io.to_tensor(closeup)
    inside, outside = (alpha > 1 - 1e-6).expand_as(frame), (alpha < 1e-6).expand_as(frame)
    kept_gap = max(float((styled["people painted"] - frame).abs()[outside].max()),
                   float((styled["background painted"] - frame).abs()[inside].max()))
    painted = float((styled["background painted"] - frame).abs()[outside].mean())

    hole = (mask[0, 0] > 0.5).numpy()
    filled = composite.fill_hidden(closeup, hole)
    panels = {"filled p": io.to_tensor(filled),
              "x_bg(p)": painter.render(painter.bg, [closeup])[0],
              "x_bg(filled p)": painter.render(painter.bg, [filled])[0]}
    for mode in ("off", "on"):  # the outputs with the people kept: --fg-style none --inpaint off / on
        panels[f"fill {mode}"] = painter.render(painter.regions(None, painter.bg, inpaint=mode), [closeup])[0]
    halo = {name: composite.seam_energy(x, mask) for name, x in panels.items()}
    mf.log(f"[segmentation 4/6] regions: largest |x - p| where kept {kept_gap:.1e}, painted mean {painted:.3f}; "
           "E_seam " + ", ".join(f"{k} {v:.2f}" for k, v in halo.items()))
    return {"styled": styled, "mask": mask, "kept_gap": kept_gap, "painted": painted, "panels": panels,
            "halo": halo, "hole_share": float(hole.mean())}


def run_ewarp(s: SegmentSettings, painter: Painter, device) -> dict:
    """Notebook 07 section 5: the background's E_warp along an independent flow, counted where the
    flow is reliable and the pixel is background in frame t and, followed along the flow, in t+1."""
    import torch
    from vstlib import composite, data, io, methods, metrics, probe_video, read_frames, segment
    from vstlib.flow import clip_pairs, compute_flows, occlusion_mask, warp
    from vstlib.runner import RegionOptions

    mf = _mf()
    clip = data.fetch(s.clip)
    fps = probe_video(clip).fps / s.clip_every
    frames = list(read_frames(clip, max_side=s.clip_side, start=s.clip_start,
                              end=s.clip_start + s.clip_frames * s.clip_every, step=s.clip_every))
    frames_t = io.to_tensors(frames)
    johnson_method = methods.get("johnson")
    johnson = johnson_method.prepare(johnson_method.coerce_config(s.style_fg), [s.style_fg], device)
    runs = {"input": frames_t}
    t0 = time.perf_counter()
    for label, session in (("johnson", johnson), ("arbitrary", painter.fg)):
        runs[label] = painter.render(session, frames)[0]
        for blur in s.blurs:
            runs[f"{label}, blur {blur:g}"] = painter.render(painter.regions(session, session, "blur", blur=blur),
                                                             frames)[0]
    runs["arbitrary, background kept"] = painter.render(painter.regions(painter.fg, None), frames)[0]
    runs["arbitrary, people kept"] = painter.render(painter.regions(None, painter.fg), frames)[0]  # inpainted
    seconds = time.perf_counter() - t0
    with torch.no_grad():
        raw = segment.make_segmenter("person", device=device).masks(frames_t, range(len(frames))).cpu()
    masks = stabilized(raw, frames, RegionOptions().mask_stability)
    alpha = composite.edge_alpha(masks, "feather", RegionOptions().feather)
    background = (alpha < BACKGROUND_BELOW)[:, 0].numpy()
    flows = compute_flows(frames, clip_pairs(len(frames), (1,)), method=s.score_flow, progress=False)
    forward, weights = [], []
    for t in range(len(frames) - 1):
        fwd, bwd = flows[(t, t + 1)], flows[(t + 1, t)]
        carried = warp(background[t + 1].astype(np.float32), fwd) > 0.999
        forward.append(fwd)
        weights.append(occlusion_mask(fwd, bwd) * background[t] * carried)
    e_bg = {label: metrics.warping_errors(list(out), forward, weights) for label, out in runs.items()}
    for label, e in e_bg.items():
        mf.log(f"      {label:28} background E_warp {e.mean():.5f}")
    share = float(np.mean([w.mean() for w in weights]))
    h, w = frames_t.shape[-2:]
    mf.log(f"[segmentation 5/6] background E_warp on {len(frames)} frames of {Path(s.clip).name} at {w}x{h}, "
           f"{s.score_flow}; {100 * share:.0f} % of the pixels counted; {seconds:.0f} s of stylization")
    return {"e_bg": e_bg, "share": share, "fps": fps, "hw": (h, w), "frames": len(frames), "runs": runs}


def run_synthetic(s: SegmentSettings) -> dict:
    """Notebook 07 section 1 (motion backends): a static camera looking at a course-clip still, a
    textured blob moving across, motion (temporal median) and motion:mog2 against the exact alpha."""
    from vstlib import data, io, segment

    mf = _mf()
    still = io.to_tensor(_frame_at(data.fetch(s.clip), s.clip_start, s.clip_side))[0]
    frames, alpha = segment.synthetic_composite(segment.static_camera(still, s.synth_frames))
    median = segment.make_segmenter("motion")
    median.fit_frames(frames)  # what fit() does with the clip's frames
    moving = {"motion": median.masks(frames, range(len(frames))),
              "motion:mog2": segment.make_segmenter("motion:mog2").masks(frames, range(len(frames)))}
    per_frame = {name: [segment.mask_iou(m[t], alpha[t]) for t in range(len(frames))] for name, m in moving.items()}
    pooled = {name: segment.mask_iou(m, alpha) for name, m in moving.items()}
    quarter = len(frames) // 4
    late = {name: segment.mask_iou(m[quarter:], alpha[quarter:]) for name, m in moving.items()}
    for name in moving:
        mf.log(f"      {name:12} IoU {pooled[name]:.3f} (per frame min {min(per_frame[name]):.3f}; after the first "
               f"quarter {late[name]:.3f})")
    mf.log(f"[segmentation 6/6] synthetic static-camera clip, {len(frames)} frames")
    return {"frames": frames, "alpha": alpha, "masks": moving, "per_frame": per_frame, "pooled": pooled,
            "late": late, "quarter": quarter, "hw": tuple(frames.shape[-2:])}


# ------------------------------------------------------------------------------------------
# Figures
# ------------------------------------------------------------------------------------------


def figure_masks(ms: dict, s: SegmentSettings):
    from vstlib.plotting import plot_masks

    shown = {f"person ({ms['variant']})": ms["person"], "person:general": ms["general"]}
    if ms["voc"] is not None:
        shown["voc:person"] = ms["voc"]
    h, w = ms["hw"]
    size = (LINE_WIDTH_IN - 0.4) / (len(s.shown) * w / h)
    fig = plot_masks(ms["stills"], shown, titles=[f"frame {k} ({k / ms['fps']:.1f} s)" for k in s.shown], size=size)
    fig.axes[0].set_ylabel("outlines: m = 0.5")
    return fig


def figure_flicker(fl: dict, fps: float):
    from vstlib.plotting import plot_mask_flicker

    h, w = fl["hw"]
    size = (LINE_WIDTH_IN - 1.0) / (len(fl["streams"]) * w / h)
    fig = plot_mask_flicker(fl["streams"], fl["frames"], fps=fps, size=size)
    fig.axes[0].set_ylabel("mask flicker\n(along DIS flow)")
    for ax, label in zip(fig.axes[1:], fl["streams"]):  # the caption says what the maps are
        ax.set_title(label)
    return fig


def figure_variants(v: dict, crop, title: str, scores_name: str = "E_seam"):
    from vstlib.plotting import plot_variants

    h, w = v["frame"].shape[:2]
    size = (LINE_WIDTH_IN - 0.4) / ((1 + len(v["outs"])) * w / h)
    return plot_variants(v["frame"], v["outs"], v["mask"], crop=crop, scores=v["seams"], score_name=scores_name,
                         size=size, title=title)


def figure_regions(rg: dict, closeup: np.ndarray):
    from vstlib.plotting import plot_variants

    h, w = closeup.shape[:2]
    size = (LINE_WIDTH_IN - 0.4) / ((1 + len(rg["styled"])) * w / h)
    return plot_variants(closeup, rg["styled"], rg["mask"], crop=profile(closeup), size=size)


def figure_inpaint(rg: dict, closeup: np.ndarray):
    from vstlib.plotting import plot_variants

    h, w = closeup.shape[:2]
    size = (LINE_WIDTH_IN - 0.4) / ((1 + len(rg["panels"])) * w / h)
    return plot_variants(closeup, rg["panels"], rg["mask"], crop=profile(closeup), scores=rg["halo"],
                         score_name="E_seam", size=size)


EWARP_STYLES = {  # label: (line style, marker); the background kept is the input itself, so it is drawn dotted
    "input": ("--", ""), "johnson": ("-", "o"), "johnson, blur {b}": ("-", "s"), "arbitrary": ("-", "^"),
    "arbitrary, blur {b}": ("-", "v"), "arbitrary, background kept": (":", "x"), "arbitrary, people kept": ("-", "D")}


def figure_ewarp(ew: dict, s: SegmentSettings):
    """The background's E_warp per frame pair (log scale), the legend beside the axes."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(LINE_WIDTH_IN, 2.5))
    for pattern, (style, marker) in EWARP_STYLES.items():
        label = pattern.format(b=f"{max(s.blurs):g}")
        values = np.asarray(ew["e_bg"][label])
        x = np.arange(1, len(values) + 1) / ew["fps"]
        ax.plot(x, values, linestyle=style, marker=marker, markersize=4, linewidth=1.6 if style == ":" else 1.2,
                color="black" if label == "input" else None, label=f"{label} (mean {values.mean():.4f})")
    ax.set_yscale("log")
    ax.set_xlabel("time (s)")
    ax.set_ylabel("E_warp, background only")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, frameon=False, loc="center left", bbox_to_anchor=(1.01, 0.5))
    fig.tight_layout()
    return fig


def figure_synthetic(sy: dict, s: SegmentSettings):
    from vstlib.plotting import plot_masks

    n = len(sy["frames"])
    picked = [1, n // 2, n - 1]
    h, w = sy["hw"]
    size = (LINE_WIDTH_IN - 0.4) / (len(picked) * w / h)
    shown = {"exact alpha": sy["alpha"][picked]} | {k: m[picked] for k, m in sy["masks"].items()}
    fig = plot_masks(sy["frames"][picked], shown, titles=[f"frame {t}" for t in picked], size=size)
    fig.axes[0].set_ylabel("outlines: m = 0.5")
    return fig


def figure_iou(sy: dict):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(0.6 * LINE_WIDTH_IN, 2.3))
    for (name, values), marker in zip(sy["per_frame"].items(), ("o", "s")):
        ax.plot(values, marker=marker, markersize=3, label=name)
    ax.set_xlabel("frame")
    ax.set_ylabel("IoU with the exact alpha")
    ax.set_ylim(-0.02, 1.02)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, frameon=False, loc="lower right")
    fig.tight_layout()
    return fig


# ------------------------------------------------------------------------------------------
# Numbers
# ------------------------------------------------------------------------------------------


def numbers_tex(s: SegmentSettings, ms: dict, fl: dict, va: dict, rg: dict, ew: dict, sy: dict, pi: dict,
                flicker_fps: float, device_short: str) -> str:
    import inspect

    from vstlib import composite, segment, selfie_net
    from vstlib.runner import RegionOptions
    from vstlib.transformer_net import count_parameters

    mf = _mf()
    conv = conversion_numbers()
    gen, land = conv["variants"]["general"], conv["variants"]["landscape"]
    opts = RegionOptions()
    low, high = s.strengths[0], s.strengths[-1]
    raw_fl = fl["flicker"]["raw"]
    fl_low, fl_high = fl["flicker"][f"rho_m = {low:g}"], fl["flicker"][f"rho_m = {high:g}"]
    close, small = va["closeup"], va["small"]
    e = {k: float(v.mean()) for k, v in ew["e_bg"].items()}
    b_low, b_high = (f"blur {b:g}" for b in (s.blurs[0], s.blurs[-1]))
    plain_min = min(e["johnson"], e["arbitrary"])
    sh, sw = ms["hw"]
    ch, cw = ew["hw"]
    yh, yw = sy["hw"]
    fh, fw = fl["hw"]
    gh, gw = selfie_net.INPUT_SIZES["general"]
    lh, lw = selfie_net.INPUT_SIZES["landscape"]
    params = count_parameters(selfie_net.load_selfie("landscape"))
    mog_first = max(sy["per_frame"]["motion:mog2"][:3])
    bench = pi["source"] == "benchmark"
    macros = {
        # the selfie port and its conversion check (tools/convert_mediapipe_selfie.report.json)
        "SegPortSource": mf.tex(conv["source"]),
        "SegPortLitert": mf.tex(conv["litert"]),
        "SegPortTolerance": f"{conv['tolerance']:g}",
        "SegPortMeanGeneral": mf.sci(gen["mean"], 2),
        "SegPortMeanLandscape": mf.sci(land["mean"], 2),
        "SegPortMaxGeneral": mf.sci(gen["max"], 2),
        "SegPortMaxLandscape": mf.sci(land["max"], 2),
        "SegPortComparisons": str(gen["count"] + land["count"]),
        "SegPortSets": str(gen["sets"]),
        "SegPortPassed": "passed" if gen["passed"] and land["passed"] else "failed",
        "SegPortLayers": str(conv["layers"]["general"]),
        "SegPortParams": f"{params:,d}".replace(",", "{,}"),
        "SegGeneralInput": f"{gw}$\\times${gh}",
        "SegLandscapeInput": f"{lw}$\\times${lh}",
        "SegLandscapeAbove": "4:3" if abs(selfie_net.LANDSCAPE_ABOVE - 4 / 3) < 1e-9 else mf.num(selfie_net.LANDSCAPE_ABOVE),
        "SegVocShortSide": str(segment.VOC_SHORT_SIDE),
        "SegVocClasses": str(len(segment.VOC_CLASSES) - 1),
        "SegMotionSamples": str(segment.MOTION_SAMPLES),
        "SegMotionK": f"{segment.MOTION_K:g}",
        "SegMotionFloor": f"{round(segment.MOTION_FLOOR * 255):d}/255",
        "SegMogHistory": str(segment.MOG2_HISTORY),
        "SegMogThreshold": f"{segment.MOG2_VAR_THRESHOLD:g}",
        # section 1: the masks
        "SegPeopleClip": mf.tex(Path(s.people).name),
        "SegStillSize": f"{sw}$\\times${sh}",
        "SegShownFrames": ", ".join(str(k) for k in s.shown),
        "SegShownTimes": ", ".join(f"{k / ms['fps']:.1f}" for k in s.shown),
        "SegAutoVariant": ms["variant"],
        "SegVocShown": "1" if ms["voc"] is not None else "0",
        "SegCoverBridge": pct(ms["cover"][0]),
        "SegRobotSide": pct(ms["robot_side"]),
        "SegCoverCloseup": pct(ms["cover"][1]),
        "SegRobotLandscape": pct(ms["cover"][-1]),
        "SegRobotGeneral": pct(ms["cover_general"][-1]),
        # section 2: flicker
        "SegFlickerFrames": str(len(fl["frames"])),
        "SegFlickerFirst": str(s.flicker_start),
        "SegFlickerFps": f"{flicker_fps:g}",
        "SegFlickerSize": f"{fw}$\\times${fh}",
        "SegStabDefault": f"{opts.mask_stability:g}",
        "SegStabLow": f"{low:g}",
        "SegStabHigh": f"{high:g}",
        "SegFlickerRaw": mf.num(raw_fl["dis"]),
        "SegFlickerLow": mf.num(fl_low["dis"]),
        "SegFlickerHigh": mf.num(fl_high["dis"]),
        "SegFlickerGainLow": mf.num(raw_fl["dis"] / max(fl_low["dis"], 1e-30)),
        "SegFlickerGainHigh": mf.num(raw_fl["dis"] / max(fl_high["dis"], 1e-30)),
        "SegFlickerRawFb": mf.num(raw_fl["farneback"]),
        "SegFlickerLowFb": mf.num(fl_low["farneback"]),
        "SegFlickerHighFb": mf.num(fl_high["farneback"]),
        "SegFlickerGainLowFb": mf.num(raw_fl["farneback"] / max(fl_low["farneback"], 1e-30)),
        "SegFlickerGainHighFb": mf.num(raw_fl["farneback"] / max(fl_high["farneback"], 1e-30)),
        "SegNoiseGainLow": mf.num(fl["noise"][low]),
        "SegNoiseGainHigh": mf.num(fl["noise"][high]),
        "SegFlickerIouLow": mf.num(fl["iou"][f"rho_m = {low:g}"]),
        "SegFlickerIouHigh": mf.num(fl["iou"][f"rho_m = {high:g}"]),
        # section 3: the variants
        "SegStyleFg": mf.tex(mf.style_label(f"style/{s.style_fg}.jpg")),
        "SegStyleBg": mf.tex(mf.style_label(f"style/{s.style_bg}.jpg")),
        "SegFeather": f"{opts.feather:g}",
        "SegBlur": f"{opts.blur:g}",
        "SegBlurHigh": f"{max(s.blurs):g}",
        "SegSeamWidth": str(inspect.signature(composite.seam_energy).parameters["width"].default),
        "SegBoxPad": pct(inspect.signature(composite.region_box).parameters["pad"].default),
        "SegInpaintSide": str(composite.INPAINT_SIDE),
        "SegCloseupFrame": str(s.closeup),
        "SegSmallFrame": str(s.small_subject),
        "SegClip": mf.tex(Path(s.clip).name),
        "SegSeamStrict": mf.num(close["seams"]["strict"]),
        "SegSeamFeather": mf.num(close["seams"]["feather"]),
        "SegSeamBlur": mf.num(close["seams"]["blur"]),
        "SegSeamResize": mf.num(close["seams"]["resize"]),
        "SegSeamRatio": mf.num(close["seams"]["strict"] / max(close["seams"]["feather"], 1e-30)),
        "SegSmallSeamStrict": mf.num(small["seams"]["strict"]),
        "SegSmallSeamFeather": mf.num(small["seams"]["feather"]),
        "SegSmallSeamRatio": mf.num(small["seams"]["strict"] / max(small["seams"]["feather"], 1e-30)),
        "SegCloseResizeMax": mf.sci(close["resize_max"], 2),
        "SegCloseBoxWidth": pct(close["box_width"]),
        "SegSmallBoxWidth": pct(small["box_width"]),
        "SegSmallResizeChange": mf.num(small["resize_change"]),
        # section 4: regions and inpainting
        "SegKeptGap": mf.sci(rg["kept_gap"], 2),
        "SegPaintedChange": mf.num(rg["painted"]),
        "SegHoleShare": pct(rg["hole_share"]),
        "SegHaloFrame": mf.num(rg["halo"]["x_bg(p)"]),
        "SegHaloFilled": mf.num(rg["halo"]["x_bg(filled p)"]),
        "SegHaloRatio": mf.num(rg["halo"]["x_bg(filled p)"] / max(rg["halo"]["x_bg(p)"], 1e-30)),
        "SegHaloOff": mf.num(rg["halo"]["fill off"]),
        "SegHaloOn": mf.num(rg["halo"]["fill on"]),
        # section 5: the background's E_warp
        "SegEwarpFrames": str(ew["frames"]),
        "SegEwarpSize": f"{cw}$\\times${ch}",
        "SegEwarpFps": f"{ew['fps']:g}",
        "SegEwarpFirst": str(s.clip_start),
        "SegEwarpFlow": {"dis": "DIS", "farneback": "Farneb\\\"ack", "deepflow": "DeepFlow"}[s.score_flow],
        "SegBackgroundBelow": f"{BACKGROUND_BELOW:g}",
        "SegEwarpShare": pct(ew["share"]),
        "SegEwarpInput": mf.num(e["input"]),
        "SegEwarpJohnson": mf.num(e["johnson"]),
        "SegEwarpJohnsonBlurLow": mf.num(e[f"johnson, {b_low}"]),
        "SegEwarpJohnsonBlurHigh": mf.num(e[f"johnson, {b_high}"]),
        "SegEwarpArbitrary": mf.num(e["arbitrary"]),
        "SegEwarpArbitraryBlurLow": mf.num(e[f"arbitrary, {b_low}"]),
        "SegEwarpArbitraryBlurHigh": mf.num(e[f"arbitrary, {b_high}"]),
        "SegEwarpKept": mf.num(e["arbitrary, background kept"]),
        "SegEwarpPeopleKept": mf.num(e["arbitrary, people kept"]),
        "SegEwarpKeptVsInput": mf.num(e["arbitrary, background kept"] / max(e["input"], 1e-30)),
        "SegEwarpKeptVsPlain": mf.num(e["arbitrary, background kept"] / max(plain_min, 1e-30)),
        "SegEwarpJohnsonBlurGain": mf.num(e["johnson"] / max(e[f"johnson, {b_high}"], 1e-30)),
        "SegEwarpArbitraryBlurGain": mf.num(e["arbitrary"] / max(e[f"arbitrary, {b_high}"], 1e-30)),
        "SegEwarpInpaintRatio": mf.num(e["arbitrary, people kept"] / max(e["arbitrary"], 1e-30)),
        # section 1 (motion backends): the synthetic static-camera clip
        "SegSynthFrames": str(len(sy["frames"])),
        "SegSynthSize": f"{yw}$\\times${yh}",
        "SegIouMotion": mf.num(sy["pooled"]["motion"]),
        "SegIouMotionMin": mf.num(min(sy["per_frame"]["motion"])),
        "SegIouMog": mf.num(sy["pooled"]["motion:mog2"]),
        "SegIouMogFirst": mf.num(mog_first, 2),
        "SegIouMogLate": mf.num(sy["late"]["motion:mog2"]),
        "SegIouQuarter": str(sy["quarter"]),
        # person on the astronaut cut-out (benchmark record, or this script's own smaller measurement)
        "SegPersonIou": mf.num(pi["person"][0]),
        "SegPersonIouMin": mf.num(pi["person"][1]),
        "SegPersonMotionIou": mf.num(pi["motion"][0]) if "motion" in pi else "n/a",
        "SegPersonFrames": str(pi["person"][2]),
        "SegPersonSize": pi["size"],
        "SegPersonSource": ("recorded by \\texttt{benchmarks/bench\\_segment.py} "
                            "(\\texttt{benchmarks/out/segment/results.json})" if bench else
                            "measured by \\texttt{report/figures\\_segment.py} on a smaller clip than "
                            "\\texttt{benchmarks/bench\\_segment.py} uses"),
        # words for the directions the text states (they follow the numbers, also in smoke runs)
        "SegStrictVsFeather": "higher" if all(v["seams"]["strict"] > v["seams"]["feather"] for v in va.values())
        else "not always higher",
        "SegResizeSame": "identical to" if close["resize_max"] < 1e-6 else "different from",
        "SegHaloEffect": "lower" if rg["halo"]["x_bg(filled p)"] < rg["halo"]["x_bg(p)"] else "higher",
        "SegFillEffect": "lower" if rg["halo"]["fill on"] < rg["halo"]["fill off"] else "higher",
        "SegBlurEffect": "lowers" if (e[f"johnson, {b_high}"] < e["johnson"] and e[f"arbitrary, {b_high}"] < e["arbitrary"])
        else "does not consistently lower",
        "SegBlurLowEffect": {(True, True): "for both networks", (True, False): "for Johnson's network only",
                             (False, True): "for the arbitrary network only", (False, False): "for neither network"}[
            (e[f"johnson, {b_low}"] < e["johnson"], e[f"arbitrary, {b_low}"] < e["arbitrary"])],
        "SegInpaintEffect": "raises" if e["arbitrary, people kept"] > e["arbitrary"] else "does not raise",
        "SegGainWhy": ("Both are smaller than that: the network's errors are correlated from one frame to the next, "
                       "and a blend with the past averages out only what varies."
                       if all(raw_fl["dis"] / max(fl["flicker"][f"rho_m = {r:g}"]["dis"], 1e-30) < fl["noise"][r]
                              for r in s.strengths) else
                       "They are not both smaller than that on this run."),
        "SegInpaintWhy": ("The fill is recomputed in every frame around a mask that moves, and the network turns its "
                          "changes into changing strokes: inpainting trades the halo for some flicker near the people."
                          if e["arbitrary, people kept"] > e["arbitrary"] else
                          "The fill, recomputed in every frame, did not make the background less steady here."),
        "SegMogVsMotion": "lower" if sy["pooled"]["motion:mog2"] < sy["pooled"]["motion"] else "higher",
        "SegDevice": mf.tex(device_short),
        "SegSmokeNote": r" \emph{(smoke settings: these numbers are not meaningful)}" if s.smoke else "",
    }
    return mf.macros_tex(macros)


def make_segment(s: SegmentSettings, device, out: Path) -> None:
    mf = _mf()
    short, _ = mf.describe_device(device)
    t0 = time.perf_counter()
    ms = run_masks(s, device)
    save(figure_masks(ms, s), out / "segment_masks.png", LINE_WIDTH_IN)
    fl = run_flicker(s, device)
    flicker_fps = ms["fps"] / s.flicker_every
    save(figure_flicker(fl, flicker_fps), out / "segment_flicker.png", LINE_WIDTH_IN)
    painter = Painter(s, device)
    va = run_variants(s, painter)
    close = va["closeup"]
    save(figure_variants(close, profile(close["frame"]), f"{Path(s.people).stem.split('_640')[0].replace('_', ' ')}, "
                         f"frame {s.closeup}"), out / "segment_variants.png", LINE_WIDTH_IN)
    save(figure_variants(va["small"], None, f"{Path(s.clip).stem.split('_640')[0]}, frame {s.small_subject}"),
         out / "segment_resize.png", LINE_WIDTH_IN)
    rg = run_regions(s, painter, close["frame"])
    save(figure_regions(rg, close["frame"]), out / "segment_regions.png", LINE_WIDTH_IN)
    save(figure_inpaint(rg, close["frame"]), out / "segment_inpaint.png", LINE_WIDTH_IN)
    ew = run_ewarp(s, painter, device)
    save(figure_ewarp(ew, s), out / "segment_ewarp.pdf", LINE_WIDTH_IN)
    sy = run_synthetic(s)
    save(figure_synthetic(sy, s), out / "segment_synthetic.png", LINE_WIDTH_IN)
    save(figure_iou(sy), out / "segment_iou.pdf", 0.6 * LINE_WIDTH_IN)
    pi = None if s.smoke else benchmark_person_iou()  # smoke: always the own (smaller) measurement
    if pi is None:
        pi = measure_person_iou(s, device)
    mf.log(f"      person on the astronaut cut-out: IoU {pi['person'][0]:.3f} (min {pi['person'][1]:.3f}), "
           f"{pi['person'][2]} frames at {pi['size']} ({pi['source']})")
    mf.write_text(out / "segment_numbers.tex", numbers_tex(s, ms, fl, va, rg, ew, sy, pi, flicker_fps, short))
    mf.log(f"wrote {', '.join(str(out / name) for name in SEGMENT_FILES)} in {time.perf_counter() - t0:.0f} s")
