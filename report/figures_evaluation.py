"""The report's section "Evaluation" (``make_figures.py --only evaluation``): every registered method
and option under the one protocol of :mod:`vstlib.evaluate`, the same results notebook 09 reads.

    eval_table.tex        bare booktabs tabular: one row per variant, the mean and the spread
                          (population std over its clips and paintings) of E_warp along Farneback
                          and along the ground truth, the Gram and W2 style losses, the content
                          loss, SSIM, the colour distance and the method's seconds per frame
    eval_pareto.pdf       flicker (E_warp along Farneback) against style (Gram loss), one panel per
                          painting, with the Pareto front (vstlib.plotting.plot_pareto)
    eval_speed.pdf        seconds per frame against the Gram style loss and E_warp, with the front
                          of what no faster variant beats (plot_speed_quality's panels, stacked)
    eval_grid_a.png,      every variant on the same live-action frame with a zoomed crop, in two
    eval_grid_b.png       halves printed side by side (vstlib.plotting.plot_method_grid)
    eval_ewarp_maps.png   per-pixel E_warp along MPI-Sintel's ground-truth flow of one pair, for every
                          variant (vstlib.metrics.warping_error_map, plot_warping_error_maps)
    eval_agreement.pdf    E_warp along the ground truth against E_warp along Farneback on the same
                          Sintel pairs (Results.flow_agreement)
    eval_numbers.tex      the \\Eval... macros quoted in the text: the protocol, the comparisons
                          (ratios and the words "lower"/"higher" computed from them), the device

Where the numbers come from: full mode runs ``evaluate(*course_evaluation(False), course_cache_dir())``,
exactly what notebook 09 and ``benchmarks/bench_evaluate.py`` run. Every cell already in the shared
cache is read, not recomputed; a missing cell is computed (an empty cache costs the whole evaluation,
about 40 minutes on 2 CPU cores: run the benchmark or the notebook first). The figures need the kept
output frames, which only the cache holds, so the section never reads ``benchmarks/evaluation.json``
instead; when that summary exists, its means are checked against the cache's and a disagreement is
logged (a stale summary or cache). Smoke mode runs ``course_evaluation(True)`` (64 px, 3 frames) in a
temporary folder, or in ``$VSTLIB_EVALUATE_CACHE`` when that is set (the tests share one).

Comparisons between two variants are over the cells both have (same painting and clip, seeds
averaged), so a variant that exists for one painting only (ReCoNet) is compared on that painting.
The helpers (number formatting, atomic writes, print-size fonts) are make_figures.py's and
figures_segment.py's.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

EVALUATION_FILES = ("eval_table.tex", "eval_pareto.pdf", "eval_speed.pdf", "eval_grid_a.png", "eval_grid_b.png",
                    "eval_ewarp_maps.png", "eval_agreement.pdf", "eval_numbers.tex")
REPO_ROOT = Path(__file__).resolve().parents[1]
SUMMARY = REPO_ROOT / "benchmarks" / "evaluation.json"
LINE_WIDTH_IN = 6.30  # main.tex's \linewidth (A4, 2.5 cm margins)
GENFIGURE_HEIGHT_IN = 0.45 * 9.72  # \genfigure's height cap (0.45 \textheight), inches
PAGE_HEIGHT_IN = 0.8 * 9.72  # \genfigurepage's (0.8 \textheight)
# The table's columns: (metric, heading). Which way is better comes from vstlib.evaluate.METRICS.
TABLE_COLUMNS = (("e_warp_farneback", r"$E_{warp}$ FB"), ("e_warp_gt", r"$E_{warp}$ GT"),
                 ("style_gram", "Gram"), ("style_w2", "W2"), ("content", "content"), ("ssim", "SSIM"),
                 ("colour_w2", "colour"), ("seconds_per_frame", "s/frame"))
UNSCALED = ("seconds_per_frame",)  # read as they are: seconds
# The comparisons the text draws: (macro stem, variant, reference variant, metrics). Each gives
# \Eval<stem><Metric>Ratio (variant / reference over their common cells) and \Eval<stem><Metric>Word.
COMPARISONS = (
    ("Ruder", "ruder", "gatys", ("e_warp_farneback", "style_gram", "seconds_per_frame")),
    ("Reco", "reconet", "johnson", ("e_warp_farneback", "style_gram")),
    ("Stab", "johnson+stabilize", "johnson", ("e_warp_farneback", "style_gram", "wall_seconds_per_frame")),
    ("Colour", "gatys+colour", "gatys", ("colour_w2", "ssim", "style_gram")),
    ("Wtwo", "gatys+w2", "gatys", ("style_w2", "style_gram")),
    ("Seg", "johnson+segment", "johnson", ("e_warp_farneback", "content")),
    ("Johnson", "johnson", "gatys", ("seconds_per_frame", "style_gram", "e_warp_farneback")),
    ("Arb", "arbitrary", "johnson", ("style_gram", "e_warp_farneback")),
)
FLOW_NAMES = {"deepflow": "DeepFlow", "dis": "DIS", "farneback": 'Farneb\\"ack', "raft": "RAFT"}
METRIC_STEMS = {"e_warp_farneback": "Ewarp", "style_gram": "Style", "style_w2": "Wtwo", "content": "Content",
                "ssim": "Ssim", "colour_w2": "ColourDist", "seconds_per_frame": "Time",
                "wall_seconds_per_frame": "Wall"}


@dataclass(frozen=True)
class EvaluationSettings:
    """What defines the section (the protocol and variants themselves are vstlib.evaluate.course_evaluation's)."""

    smoke: bool
    grid_clip: str = "tears_of_steel_640x360_10s"  # live action with people: faces show what is lost
    grid_frame: int = 1  # which kept figure frame (0 first, 1 middle, 2 last)
    map_clip: str = "sintel-gt/alley_1"  # ground truth for every pair
    agree_threshold: float = 0.8  # Spearman rank correlation above which the two flows "agree"
    # torch threads while missing cells are computed on a CPU: what the recorded course evaluation
    # ran with (benchmarks/bench_evaluate.py --threads 1), so that a cell computed here is timed alike
    cpu_threads: int = 1
    # a Ray cluster for the missing cells ("ray": a local one; else an address): make_figures --cluster
    cluster: str | None = None


EVAL_FULL = EvaluationSettings(smoke=False)
EVAL_SMOKE = EvaluationSettings(smoke=True)


def _mf():
    import make_figures  # the helpers; make_figures puts this folder on sys.path

    return make_figures


def _short(name) -> str:
    return Path(str(name)).stem


def painting_title(name: str) -> str:
    """``starry_night_vangogh`` -> ``The Starry Night`` (the registry's title), else the words of the stem.

    >>> painting_title("starry_night_vangogh"), painting_title("udnie_picabia"), painting_title("my_photo")
    ('The Starry Night', 'Udnie', 'my photo')
    """
    from vstlib.data import registry

    stem = _short(name)
    for key, asset in registry().items():
        if key.startswith("style/") and _short(key) == stem and asset.what and ", " in asset.what:
            return asset.what.split(", ", 1)[1]
    return stem.replace("_", " ")


def clip_title(name: str) -> str:
    """A clip name for text: ``sintel_640x360_10s`` -> ``Sintel``, ``sintel-gt/alley_1`` -> ``alley_1``.

    >>> clip_title("sintel_640x360_10s"), clip_title("tears_of_steel_640x360_10s"), clip_title("sintel-gt/cave_2")
    ('Sintel', 'Tears of Steel', 'cave_2')
    """
    from vstlib.evaluate import SINTEL_GT

    if name.startswith(SINTEL_GT):
        return name[len(SINTEL_GT):]
    words = _short(name).split("_640")[0].split("_")
    return " ".join(w if i and w in ("of", "and", "the") else w.capitalize() for i, w in enumerate(words))


def word(ratio: float | None, tolerance: float = 0.005) -> str:
    """"lower" or "higher" for a ratio of two means (variant / reference), "equal" within
    ``tolerance`` (0.5 %), "n/a" without a ratio.

    >>> word(0.5), word(1.2), word(1.001), word(None), word(1.002, tolerance=1e-3)
    ('lower', 'higher', 'equal', 'n/a', 'higher')
    """
    if ratio is None or not math.isfinite(ratio):
        return "n/a"
    if abs(ratio - 1) < tolerance:
        return "equal"
    return "lower" if ratio < 1 else "higher"


def ordinal(n: int) -> str:
    """``2`` -> ``2nd``.

    >>> ordinal(2), ordinal(3), ordinal(4), ordinal(11), ordinal(21)
    ('2nd', '3rd', '4th', '11th', '21st')
    """
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def short_reason(reason: str) -> str:
    """The first clause of a "not available" reason (what is missing, not the advice after it).

    >>> short_reason("reconet: no model 'udnie': give a .pth file, one of ...")
    "reconet: no model 'udnie'"
    """
    for cut in (": give ", "; "):
        reason = reason.split(cut)[0]
    return reason


def scale_exponent(values) -> int:
    """The power of ten (a multiple of 3) a table column is divided by so that its median value has
    one to three digits before the point; 0 when the median lies in [0.1, 1000) already, or the
    column is empty. (The median, not the largest: one far larger row would shrink every other.)

    >>> scale_exponent([0.0123, 0.004]), scale_exponent([2.3e5, 9e4, 3e6]), scale_exponent([0.5, 12.0]), scale_exponent([])
    (-3, 3, 0, 0)
    """
    values = [abs(v) for v in values if v is not None and math.isfinite(v) and v != 0]
    if not values:
        return 0
    top = math.floor(math.log10(float(np.median(values))))
    return 0 if -1 <= top <= 2 else 3 * math.floor(top / 3)


# ------------------------------------------------------------------------------------------
# Results: the evaluation itself, and comparisons over common cells
# ------------------------------------------------------------------------------------------


def run_evaluation(s: EvaluationSettings, device, cache_dir: Path):
    from vstlib.evaluate import course_evaluation, evaluate

    import torch

    protocol, variants = course_evaluation(s.smoke)
    t0 = time.perf_counter()
    threads = torch.get_num_threads()
    if str(device).startswith("cpu") and s.cpu_threads:
        torch.set_num_threads(s.cpu_threads)
    try:
        results = evaluate(protocol, variants, cache_dir, device=device, progress=not s.smoke,  # full: a line per cell
                           cluster=s.cluster)
    finally:
        torch.set_num_threads(threads)
    cells = [c for c in results.cells if c.status == "ok"]
    _mf().log(f"[evaluation 1/3] {len(variants)} variants, {len(cells)} cells measured "
              f"({len(results.computed)} computed now, {len(cells) - len(results.computed)} from {cache_dir}) "
              f"in {time.perf_counter() - t0:.0f} s")
    return results


def cell_values(results, label: str, metric: str) -> dict[tuple[str, str], float]:
    """``{(painting, clip): value}`` of one variant's measured cells (seeds averaged)."""
    groups: dict[tuple[str, str], list[float]] = {}
    for c in results.cells:
        if c.label == label and c.status == "ok" and c.metrics.get(metric) is not None:
            groups.setdefault((c.style, c.clip), []).append(float(c.metrics[metric]))
    return {k: float(np.mean(v)) for k, v in groups.items()}


def compare(results, label: str, reference: str, metric: str) -> float | None:
    """The mean of ``metric`` over the cells both variants have, ``label``'s over ``reference``'s
    (None when they share no cell or the reference's mean is 0)."""
    a, b = cell_values(results, label, metric), cell_values(results, reference, metric)
    common = sorted(set(a) & set(b))
    if not common:
        return None
    den = float(np.mean([b[k] for k in common]))
    return float(np.mean([a[k] for k in common])) / den if den != 0 else None


def common_paintings(results) -> list[str]:
    """The paintings every variant was measured with (the rankings are made on these)."""
    styles = list(results.protocol.styles)
    for v in results.variants:
        done = {c.style for c in results.cells if c.label == v.label and c.status == "ok"}
        styles = [s for s in styles if s in done]
    return styles


def variant_means(results, metric: str, paintings) -> dict[str, float]:
    """Each variant's mean of ``metric`` over its cells with ``paintings`` (variants without a value left out)."""
    out = {}
    for v in results.variants:
        values = [float(c.metrics[metric]) for c in results.cells if c.label == v.label and c.status == "ok"
                  and c.style in paintings and c.metrics.get(metric) is not None]
        if values:
            out[v.label] = float(np.mean(values))
    return out


def pareto_labels(rows, x: str = "e_warp_farneback", y: str = "style_gram") -> list[str]:
    """The labels of the rows on the Pareto front of (x, y), as vstlib.plotting draws it."""
    from vstlib.evaluate import METRICS
    from vstlib.plotting import pareto_front

    rows = [r for r in rows if r["status"] == "ok" and r.get(x) is not None and r.get(y) is not None]
    front = pareto_front([(r[x], r[y]) for r in rows], (METRICS[x][1], METRICS[y][1]))
    return [rows[i]["label"] for i in front]


def check_summary(results, path: Path = SUMMARY) -> str:
    """Compare the means in the benchmark's summary with the cache's; one line saying what was found."""
    if not path.is_file():
        return f"{path.name} not found (nothing to check)"
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        return f"{path.name} unreadable ({err})"
    rows = data.get("rows") or data.get("table") or []
    mine = {(r["label"], _short(r["style"])): r for r in results.table()}
    checked, off = 0, []
    for r in rows if isinstance(rows, list) else []:
        key = (r.get("label"), _short(r.get("style", "")))
        if key not in mine:
            continue
        for metric in ("e_warp_farneback", "style_gram", "ssim"):
            a, b = r.get(metric), mine[key].get(metric)
            if isinstance(a, (int, float)) and b is not None:
                checked += 1
                if abs(a - b) > 1e-6 * max(abs(a), abs(b), 1e-12):
                    off.append(f"{key[0]}/{key[1]} {metric}")
    if off:
        return f"{path.name} DISAGREES with the cache on {len(off)} of {checked} means ({', '.join(off[:4])}...)"
    return f"{path.name} agrees with the cache on {checked} means"


# ------------------------------------------------------------------------------------------
# The table
# ------------------------------------------------------------------------------------------


def table_tex(results, device_text: str) -> str:
    """One row per variant (mean over its clips, paintings and seeds; the spread below in small type)."""
    from vstlib.evaluate import METRICS

    mf = _mf()
    rows = results.table(by=("label",))
    by_style = results.table(by=("label", "style"))
    exps = {m: scale_exponent([r[m] for r in rows]) if m not in UNSCALED else 0 for m, _ in TABLE_COLUMNS}
    heads, units = [], []  # two heading rows: the metric, then its scale and which way is better
    for m, head in TABLE_COLUMNS:
        arrow = r"$\downarrow$" if METRICS[m][1] == "lower" else r"$\uparrow$"
        heads.append(head)
        units.append((rf"$10^{{{exps[m]}}}$\," if exps[m] else "") + arrow)
    n_col = len(TABLE_COLUMNS) + 1
    lines = [mf.GENERATED, r"\begin{tabular*}{\linewidth}{@{\extracolsep{\fill}}l" + "r" * len(TABLE_COLUMNS) + "@{}}",
             r"\toprule", "variant & " + " & ".join(heads) + r" \\", " & " + " & ".join(units) + r" \\",
             r"\midrule"]
    partial = []
    for r in rows:
        name = rf"\texttt{{{mf.tex(r['label'])}}}"
        if r["status"] != "ok":
            lines.append(rf"{name} & \multicolumn{{{n_col - 1}}}{{l}}{{\footnotesize not available: "
                         rf"{mf.tex(r['reason'])}}} \\")
            continue
        missing = [rs for rs in by_style if rs["label"] == r["label"] and rs["status"] != "ok"]
        if missing:
            name += "$^\\dagger$"
            partial.append((r["label"], [painting_title(rs["style"]) for rs in missing], short_reason(missing[0]["reason"])))
        means, spreads = [], []
        for m, _ in TABLE_COLUMNS:
            v, sd = r[m], r[m + "_std"]
            if v is None:
                means.append("--")
                spreads.append("")
            else:
                means.append(mf.num(v / 10 ** exps[m], 3))
                spreads.append(r"{\scriptsize$\pm$" + mf.num(sd / 10 ** exps[m], 2) + "}")
        lines.append(f"{name} & " + " & ".join(means) + r" \\")
        lines.append(" & " + " & ".join(spreads) + r" \\[2pt]")
    lines += [r"\bottomrule", r"\end{tabular*}"]
    # the notes below the table, not in it: a spanning \linewidth cell would widen the last column
    notes = [rf"$^\dagger$\texttt{{{mf.tex(label)}}}: not measured with {mf.tex(', '.join(missing))} "
             rf"({mf.tex(reason)})." for label, missing, reason in partial]
    p = results.protocol
    notes.append(
        rf"Mean over {len(p.clips)} clips $\times$ {len(p.styles)} paintings (seeds: {len(p.seeds)}); "
        r"$\pm$: population standard deviation over them, so it mixes the clips' own differences. "
        r"FB: along Farneb\"ack flow on the input; GT: along MPI-Sintel's ground truth (Sintel frames only). "
        r"Gram, W2: style losses; content: relu4\_2 loss; colour: W2 distance of RGB Gaussians to the painting; "
        rf"s/frame: the method's own time on {mf.tex(device_text)}. $\downarrow$/$\uparrow$: lower/higher is better.")
    lines += [r"\par\smallskip", r"{\footnotesize\raggedright " + " \\\\\n".join(notes) + r"\par}", ""]
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------
# Figures (vstlib.plotting's, set for the report's page)
# ------------------------------------------------------------------------------------------

AXIS_NAMES = {"e_warp_farneback": r"$E_{warp}$ along Farnebäck", "style_gram": "Gram style loss",
              "seconds_per_frame": "seconds per frame", "e_warp_gt": r"$E_{warp}$ along ground truth"}


def tick_text(value: float, _=None) -> str:
    r"""A log-axis tick: plain for 0.001 <= |v| < 10000, else mathtext ``2x10^6``.

    >>> tick_text(0.005), tick_text(30.0), tick_text(2e6), tick_text(1e-4)
    ('0.005', '30', '$2\\times10^{6}$', '$10^{-4}$')
    """
    if value == 0 or 1e-3 <= abs(value) < 1e4:
        return f"{value:g}"
    exponent = math.floor(math.log10(abs(value)) + 1e-9)
    mantissa = value / 10**exponent
    return f"$10^{{{exponent}}}$" if abs(mantissa - 1) < 1e-9 else f"${mantissa:g}\\times10^{{{exponent}}}$"


def plain_log_ticks(ax) -> None:
    """Major ticks at 1, 2, 5 per decade (1 only over wide ranges), written plainly; no minor labels
    (matplotlib labels minor ticks of short log axes, and they collide)."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    for axis, (lo, hi) in ((ax.xaxis, ax.get_xlim()), (ax.yaxis, ax.get_ylim())):
        if axis.get_scale() != "log" or lo <= 0:
            continue
        decades = math.log10(hi / lo)
        subs = (1.0,) if decades > 2.5 else (1.0, 2.0, 5.0) if decades > 0.6 else (1.0, 1.5, 2.0, 3.0, 5.0, 7.0)
        axis.set_major_locator(LogLocator(base=10, subs=subs))
        axis.set_major_formatter(FuncFormatter(tick_text))
        axis.set_minor_formatter(NullFormatter())


def declutter(ax, steps: int = 8) -> int:
    """Move the point labels (annotations) of ``ax`` that overlap an earlier one to the other side
    of their point or up/down by a line, whichever first overlaps nothing; returns how many moved."""
    from matplotlib.text import Annotation
    from matplotlib.transforms import Bbox

    fig = ax.figure
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    labels = sorted((t for t in ax.texts if isinstance(t, Annotation) and t.get_text()),
                    key=lambda a: -ax.transData.transform(a.xy)[1])
    if not labels:
        return 0
    r = 3 * fig.dpi / 72  # a marker's radius, about 3 pt
    placed = [Bbox.from_extents(x - r, y - r, x + r, y + r) for x, y in (ax.transData.transform(a.xy) for a in labels)]
    if ax.get_legend() is not None:
        placed.append(ax.get_legend().get_window_extent(renderer))
    placed += [t.get_window_extent(renderer) for t in ax.get_xticklabels() + ax.get_yticklabels() if t.get_text()]
    frame = ax.get_window_extent(renderer)
    moved = 0
    for ann in labels:
        x0, y0 = ann.xyann
        line = ann.get_window_extent(renderer).height * 72 / fig.dpi  # points
        tries = [(x0, y0, "left")] + [(sx, y0 + dy * line, ha) for k in range(steps)
                                      for dy in ((k + 1) // 2 * (-1) ** k,) for sx, ha in ((x0, "left"), (-x0, "right"))]
        # first a place inside the axes, then anywhere free, else where it started
        for inside in (True, False, None):
            for sx, sy, ha in (tries if inside is not None else tries[:1]):
                ann.xyann = (sx, sy)
                ann.set_horizontalalignment(ha)
                box = ann.get_window_extent(renderer)
                within = frame.x0 <= box.x0 and box.x1 <= frame.x1 and frame.y0 <= box.y0 and box.y1 <= frame.y1
                if inside is None or ((within or not inside) and not any(box.overlaps(o) for o in placed)):
                    break
            else:
                continue
            break
        moved += (sx, sy) != (x0, y0)
        placed.append(box)
        if abs(sy - y0) > 0.5 * line:  # moved off its point: a thin line leads back to it
            ax.annotate("", ann.xy, xytext=(sx, sy + (0.3 * line if sy > y0 else 0.7 * line)),
                        textcoords="offset points", arrowprops={"arrowstyle": "-", "color": "0.55", "lw": 0.6,
                                                                "shrinkA": 0, "shrinkB": 3})
    return moved


def figure_pareto(results):
    import matplotlib.pyplot as plt
    from vstlib.plotting import plot_pareto

    styles = list(results.protocol.styles)
    rows = results.table(by=("label", "style"))
    fig, axes = plt.subplots(len(styles), 1, figsize=(LINE_WIDTH_IN, 3.4 * len(styles)), squeeze=False)
    for ax, style in zip(axes[:, 0], styles):
        plot_pareto([r for r in rows if r["style"] == style], ax=ax, title=painting_title(style))
        ax.set_xlabel(AXIS_NAMES["e_warp_farneback"] + " (lower is better)")
        ax.set_ylabel(AXIS_NAMES["style_gram"] + "\n(lower is better)")
        plain_log_ticks(ax)
    fig.tight_layout()
    return fig


def figure_speed(results, painting: str):
    """Seconds per frame against the Gram loss and E_warp, one panel above the other (the panels of
    vstlib.plotting.plot_speed_quality, stacked so that each gets the line width: the networks'
    points crowd within a decade of speed)."""
    import matplotlib.pyplot as plt
    from vstlib.plotting import plot_pareto

    rows = [r for r in results.table(by=("label", "style")) if r["style"] == painting]
    fig, axes = plt.subplots(2, 1, figsize=(LINE_WIDTH_IN, 6.4))
    for ax, metric in zip(axes, ("style_gram", "e_warp_farneback")):
        plot_pareto(rows, x="seconds_per_frame", y=metric, ax=ax)  # rows without a time are left out
        ax.set_ylabel(AXIS_NAMES[metric] + "\n(lower is better)")
        ax.set_xlabel("seconds per frame (log scale; lower is better)")
        plain_log_ticks(ax)
    fig.tight_layout()
    return fig


def detail_crop(frame: np.ndarray, side: int) -> tuple[int, int, int]:
    """(top, left, side) of the ``side``-pixel square of ``frame`` with the most detail (sum of
    absolute luminance gradients): where the methods' textures differ most visibly.

    >>> f = np.zeros((20, 30, 3), np.uint8); f[12:16, 22:26] = 255  # one bright square, all edges
    >>> top, left, side = detail_crop(f, 8)
    >>> top <= 12 and 16 <= top + side, left <= 22 and 26 <= left + side  # the window holds the whole square
    (True, True)
    """
    y = frame.astype(np.float64).mean(axis=2)
    energy = np.zeros_like(y)
    energy[:, 1:] += np.abs(np.diff(y, axis=1))
    energy[1:, :] += np.abs(np.diff(y, axis=0))
    s = np.pad(energy.cumsum(0).cumsum(1), ((1, 0), (1, 0)))  # summed-area table
    h, w = y.shape
    sums = s[side:, side:] - s[:-side, side:] - s[side:, :-side] + s[:-side, :-side]  # [h-side+1, w-side+1]
    top, left = np.unravel_index(int(np.argmax(sums)), sums.shape)
    return int(top), int(left), side


def grid_frames(results, s: EvaluationSettings) -> dict:
    """The grid's frame: the input and each variant's output (not ``none``: it is the input)."""
    from vstlib import VstError

    style = results.protocol.styles[0]
    first = results.frames(results.variants[0].label, s.grid_clip, style)
    j = min(s.grid_frame, len(first["indices"]) - 1)
    outputs = {}
    for v in results.variants:
        if v.method == "none":
            continue
        try:
            outputs[v.label] = results.frames(v.label, s.grid_clip, style)["output"][j:j + 1]
        except VstError:  # not available with this painting: left out of the grid
            continue
    frame = first["input"][j]
    h, w = frame.shape[:2]
    return {"input": first["input"][j:j + 1], "outputs": outputs, "index": first["indices"][j], "style": style,
            "crop": detail_crop(frame, max(8, min(h, w) // 3)), "hw": (h, w)}


def figure_grid(g: dict, labels: list[str]):
    from vstlib.plotting import plot_method_grid

    # a label on two lines after its "+": row labels run along the frame's short side
    outputs = {label.replace("+", "+\n"): g["outputs"][label] for label in labels}
    return plot_method_grid(outputs, inputs=g["input"], frame_titles=[f"frame {g['index']}"], crop=g["crop"],
                            size=1.5)


def map_pair(results, s: EvaluationSettings):
    """The consecutive pair among the kept frames of ``s.map_clip`` (the last one), its ground truth
    and each variant's per-pixel E_warp map along it."""
    from vstlib import VstError
    from vstlib.data import names
    from vstlib.evaluate import SINTEL_GT, SINTEL_RENDER, sintel_ground_truth
    from vstlib.metrics import warping_error_map

    style = results.protocol.styles[0]
    scene = s.map_clip[len(SINTEL_GT):]
    base = results.frames(results.variants[0].label, s.map_clip, style)
    idx = base["indices"]
    pairs = [j for j in range(len(idx) - 1) if idx[j + 1] == idx[j] + 1]
    if not pairs:
        raise VstError(f"the kept frames of {s.map_clip} ({idx}) hold no consecutive pair; raise Protocol figure_frames")
    j = pairs[-1]
    t = idx[j]
    numbers = sorted(int(Path(n).stem.split("_")[1]) for n in names(f"sintel/{scene}/{SINTEL_RENDER}/"))
    gt = sintel_ground_truth(scene, [base["input"][j], base["input"][j + 1]], first=numbers[0] + t)
    if 0 not in gt:
        raise VstError(f"no ground-truth flow for {scene} frames {numbers[0] + t}->{numbers[0] + t + 1}; "
                       f"choose another map clip")
    flow, mask = gt[0]
    maps, stored = {}, {}
    for v in results.variants:
        try:
            out = results.frames(v.label, s.map_clip, style)["output"]
        except VstError:  # not available with this painting
            continue
        maps[v.label] = warping_error_map(out[j], out[j + 1], flow, mask)
        cell = next(c for c in results.cells if (c.label, c.clip, c.style) == (v.label, s.map_clip, style)
                    and c.status == "ok")
        gt_pairs = cell.pairs.get("gt_pairs", [])
        if t in gt_pairs:
            stored[v.label] = float(cell.pairs["e_warp_gt"][gt_pairs.index(t)])
    return {"maps": maps, "stored": stored, "frame": base["input"][j], "t": t, "number": numbers[0] + t,
            "scene": scene, "style": style, "reliable": float(mask.mean())}


def figure_maps(mp: dict):
    from vstlib.plotting import plot_warping_error_maps

    # one colour scale; its top is the median of the maps' own 99th percentiles, so that one
    # variant far steadier or far less steady than the rest does not turn every other map black
    tops = [float(np.nanpercentile(m, 99)) for m in mp["maps"].values() if np.isfinite(m).any()]
    vmax = float(np.median(tops)) if tops and np.median(tops) > 0 else None
    return plot_warping_error_maps(mp["maps"], frame=mp["frame"], ncols=4, size=1.2, vmax=vmax)


CLIP_MARKERS = ("o", "s", "^", "D", "v", "P")


def figure_agreement(agreement: dict, clips):
    """E_warp along the ground truth (x) against Farneback (y) on the same pairs, one point per cell."""
    import matplotlib.pyplot as plt

    rows = agreement["rows"]
    fig, ax = plt.subplots(figsize=(5.0, 3.9))
    if rows:
        gt = np.array([r["e_warp_gt"] for r in rows])
        fb = np.array([r["e_warp_farneback"] for r in rows])
        labels = sorted({r["label"] for r in rows}, key=[r["label"] for r in rows].index)
        colours = dict(zip(labels, plt.get_cmap("tab20")(np.arange(len(labels)) % 20)))
        for k, clip in enumerate(c for c in clips if any(r["clip"] == c for r in rows)):
            sel = [i for i, r in enumerate(rows) if r["clip"] == clip]
            ax.scatter(gt[sel], fb[sel], c=[colours[rows[i]["label"]] for i in sel], marker=CLIP_MARKERS[k % 6],
                       edgecolors="0.3", s=34, label=clip_title(clip), zorder=3)
        positive = np.concatenate([gt[gt > 0], fb[fb > 0]])
        lo, hi = (positive.min() / 1.3, positive.max() * 1.3) if positive.size else (1e-4, 1)
        ax.plot([lo, hi], [lo, hi], color="0.5", linestyle=":", linewidth=1, label="equal")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlim(lo, hi)
        ax.set_ylim(lo, hi)
        for label in labels:  # the variant of each colour, as a legend of its own
            ax.scatter([], [], color=colours[label], s=20, label=label)
        ax.legend(fontsize=7, ncol=2, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    rho = agreement.get("spearman")
    ax.set_title("rank correlation " + (f"{rho:.2f}" if rho is not None else "n/a"), fontsize=10)
    ax.set_xlabel(AXIS_NAMES["e_warp_gt"])
    ax.set_ylabel(r"$E_{warp}$ along Farnebäck, same pairs")
    ax.grid(True, which="major", alpha=0.3)
    fig.tight_layout()
    return fig


# ------------------------------------------------------------------------------------------
# Numbers quoted in the text
# ------------------------------------------------------------------------------------------


def _list_text(items: list[str]) -> str:
    """``a``, ``a and b``, ``a, b and c`` (empty: ``none``)."""
    if not items:
        return "none"
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _labels_text(labels) -> str:
    mf = _mf()
    return _list_text([rf"\texttt{{{mf.tex(x)}}}" for x in labels])


def cell_devices(results) -> list[str]:
    """The devices the measured cells ran on (as their records say), in order of first appearance."""
    seen = []
    for c in results.cells:
        if c.status != "ok" or c.npz is None:
            continue
        try:
            dev = json.loads(Path(c.npz).with_suffix(".json").read_text()).get("device", "?")
        except (OSError, ValueError):
            dev = "?"
        if dev not in seen:
            seen.append(dev)
    return seen


def describe_devices(devices: list[str]) -> str:
    """``["cpu"]`` -> ``a CPU``; CUDA devices as ``a CUDA GPU``; several joined.

    >>> describe_devices(["cpu"]), describe_devices(["cuda:0", "cpu"])
    ('a CPU', 'a CUDA GPU and a CPU')
    """
    names = []
    for d in devices:
        name = "a CUDA GPU" if d.startswith("cuda") else "an Apple GPU" if d.startswith("mps") else \
            "a CPU" if d == "cpu" else d
        if name not in names:
            names.append(name)
    return _list_text(names) if names else "n/a"


def numbers(results, s: EvaluationSettings, mp: dict, grid: dict, cache_note: str, devices: list[str]) -> dict:
    from vstlib.evaluate import METRICS, SINTEL_GT

    mf = _mf()
    p = results.protocol
    variants = results.variants
    by_label = {v.label: v for v in variants}
    ok = [c for c in results.cells if c.status == "ok"]
    unavailable = [r for r in results.table(by=("label", "style")) if r["status"] != "ok"]
    mp4 = [c for c in p.clips if not c.startswith(SINTEL_GT)]
    sintel = [c for c in p.clips if c.startswith(SINTEL_GT)]
    sizes = {}
    for c in ok:  # the evaluation size of each clip, from the kept frames
        if c.clip not in sizes and c.npz is not None:
            with np.load(c.npz) as data:
                sizes[c.clip] = data["input"].shape[1:3]
    mp4_size = sizes.get(mp4[0]) if mp4 else None
    sintel_size = sizes.get(sintel[0]) if sintel else None
    paintings = common_paintings(results)
    ewarp = variant_means(results, "e_warp_farneback", paintings)
    style = variant_means(results, "style_gram", paintings)
    speed = variant_means(results, "seconds_per_frame", paintings)
    stylising = [v.label for v in variants if v.method != "none"]
    base = next((v.label for v in variants if v.method == "none"), None)
    steadiest = min((x for x in stylising if x in ewarp), key=ewarp.get, default=None)
    styled = min((x for x in stylising if x in style), key=style.get, default=None)
    fastest = min((x for x in stylising if x in speed), key=speed.get, default=None)
    slowest = max((x for x in stylising if x in speed), key=speed.get, default=None)
    above = [x for x in stylising if base in ewarp and x in ewarp and ewarp[x] > ewarp[base]]
    rows = results.table(by=("label", "style"))
    fronts = []
    for painting in p.styles:
        front = [x for x in pareto_labels([r for r in rows if r["style"] == painting]) if x != base]
        fronts.append(rf"{_labels_text(front)} for {mf.tex(painting_title(painting))}")
    on_all = [x for x in stylising
              if all(x in pareto_labels([r for r in rows if r["style"] == pt]) for pt in p.styles)]
    agreement = results.flow_agreement()
    rho = agreement["spearman"]
    ratio_fb = agreement["ratio"]
    # the ranking of the variants by E_warp along each flow (means over the Sintel cells)
    gt_means = variant_means(results, "e_warp_gt", paintings)
    fb_means = variant_means(results, "e_warp_farneback_gt_pairs", paintings)
    both = [x for x in gt_means if x in fb_means]
    if len(both) > 2:
        from scipy.stats import spearmanr

        rank_rho = float(spearmanr([gt_means[x] for x in both], [fb_means[x] for x in both]).statistic)
    else:
        rank_rho = None
    gatys = by_label.get("gatys")
    ruder = by_label.get("ruder")
    gatys_iters = getattr(gatys.config, "iters", None) if gatys is not None and gatys.config is not None else None
    ruder_later = getattr(ruder.config, "later_iters", None) if ruder is not None and ruder.config is not None else None
    macros = {
        # the protocol
        "EvalVariants": str(len(variants)),
        "EvalCells": str(len(ok)),
        "EvalUnavailable": _list_text([rf"\texttt{{{mf.tex(r['label'])}}} with {mf.tex(painting_title(r['style']))}"
                                       for r in unavailable]),
        "EvalClips": _list_text([mf.tex(clip_title(c)) for c in mp4]),
        "EvalSintelScenes": _list_text([rf"\texttt{{{mf.tex(clip_title(c))}}}" for c in sintel]),
        "EvalPaintings": _list_text([rf"\emph{{{mf.tex(painting_title(x))}}}" for x in p.styles]),
        "EvalSize": f"{mp4_size[1]}$\\times${mp4_size[0]}" if mp4_size is not None else "n/a",
        "EvalSintelSize": f"{sintel_size[1]}$\\times${sintel_size[0]}" if sintel_size is not None else "n/a",
        "EvalMaxSide": str(p.max_side),
        "EvalFrames": str(p.n_frames),
        "EvalSintelFrames": str(min(p.n_frames, 4)),
        "EvalStart": f"{p.start:g}",
        "EvalJudgeFrames": "every output frame" if p.judge_every == 1 else f"every {ordinal(p.judge_every)} output frame",
        "EvalSeeds": str(len(p.seeds)),
        "EvalGatysIters": str(gatys_iters) if gatys_iters is not None else "n/a",
        "EvalRuderLaterIters": str(ruder_later) if ruder_later is not None else "n/a",
        "EvalRuderFlow": FLOW_NAMES.get(str(getattr(ruder.config, "flow", "n/a")), "n/a") if ruder is not None else "n/a",
        "EvalDevice": mf.tex(describe_devices(devices)),
        "EvalCacheNote": mf.tex(cache_note),
        # rankings over the paintings every variant has
        "EvalRankPaintings": _list_text([rf"\emph{{{mf.tex(painting_title(x))}}}" for x in paintings]),
        "EvalSteadiest": _labels_text([steadiest] if steadiest else []),
        "EvalMostStyled": _labels_text([styled] if styled else []),
        "EvalFastest": _labels_text([fastest] if fastest else []),
        "EvalSlowest": _labels_text([slowest] if slowest else []),
        "EvalSpeedSpan": mf.num(speed[slowest] / speed[fastest], 2) if fastest and speed.get(fastest) else "n/a",
        "EvalAboveInput": (f"all {len(stylising)}" if len(above) == len(stylising) else
                           f"{len(above)} of the {len(stylising)}"),
        "EvalBelowInput": _labels_text([x for x in stylising if x in ewarp and x not in above]),
        "EvalFronts": "; ".join(fronts),
        "EvalFrontAll": _labels_text(on_all),
        # the ground truth against Farneback
        "EvalAgreeCells": str(len(agreement["rows"])),
        "EvalSpearman": mf.num(rho, 2) if rho is not None else "n/a",
        "EvalRankSpearman": mf.num(rank_rho, 2) if rank_rho is not None else "n/a",
        "EvalAgreeWord": ("n/a" if rho is None else "agree on" if rho >= s.agree_threshold else "disagree on"),
        "EvalAgreeThreshold": f"{s.agree_threshold:g}",
        "EvalAgreeConsequence": ("n/a" if rho is None else
                                 "can be read as a ranking of the variants" if rho >= s.agree_threshold else
                                 "is at best a rough ranking of the variants"),
        "EvalFbGtRatio": mf.num(ratio_fb, 2) if ratio_fb is not None else "n/a",
        "EvalFbGtWord": word(ratio_fb),
        # the figures
        "EvalGridClip": mf.tex(clip_title(s.grid_clip)),
        "EvalGridFrame": str(grid["index"]),
        "EvalFirstPainting": mf.tex(painting_title(p.styles[0])),
        "EvalMapScene": rf"\texttt{{{mf.tex(mp['scene'])}}}",
        "EvalMapPair": f"{mp['number']}$\\to${mp['number'] + 1}",
        "EvalMapReliable": mf.num(100 * mp["reliable"], 2) + "\\%",
        "EvalSmokeNote": (rf" \emph{{(Smoke run: {p.max_side}~px, {p.n_frames} frames, "
                          f"{gatys_iters} iterations: these numbers only show that the pipeline works.)}}"
                          if s.smoke else ""),
    }
    for stem, label, reference, metrics in COMPARISONS:
        for metric in metrics:
            r = compare(results, label, reference, metric) if label in by_label and reference in by_label else None
            key = f"Eval{stem}{METRIC_STEMS[metric]}"
            macros[key + "Ratio"] = mf.num(r, 3) if r is not None else "n/a"
            macros[key + "Word"] = word(r)
            macros[key + "Better"] = ("n/a" if word(r) in ("n/a", "equal") else
                                      "better" if (r < 1) == (METRICS[metric][1] == "lower") else "worse")
    return macros


def numbers_tex(macros: dict) -> str:
    return _mf().macros_tex(macros)


def print_scale(fig, width_in: float, max_height_in: float) -> float:
    """How much ``fig`` (its tight bounding box, as saved) is scaled when printed ``width_in`` wide,
    or less when the include's height cap ``max_height_in`` binds."""
    fig.canvas.draw()
    box = fig.get_tightbbox(fig.canvas.get_renderer())
    return float(min(width_in / box.width, max_height_in / box.height))


def save(fig, path: Path, width_in: float, max_height_in: float = GENFIGURE_HEIGHT_IN) -> None:
    """Save ``fig`` for printing ``width_in`` wide (at most ``max_height_in`` tall): every text
    enlarged to at least 8 pt in print (as figures_segment.readable, for any layout engine and
    height cap), point labels moved apart after that (:func:`declutter`), PNG images at their own
    resolution (figures_segment.native_dpi)."""
    from figures_segment import MIN_FONT_PT, native_dpi
    from matplotlib.layout_engine import ConstrainedLayoutEngine
    from matplotlib.text import Text

    constrained = isinstance(fig.get_layout_engine(), ConstrainedLayoutEngine)
    for _ in range(3):  # larger text grows the bounding box, which shrinks the print scale again
        scale = print_scale(fig, width_in, max_height_in)
        small = [t for t in fig.findobj(Text) if t.get_text() and t.get_visible() and t.get_fontsize() * scale < MIN_FONT_PT]
        if not small:
            break
        for text in small:
            text.set_fontsize(MIN_FONT_PT / scale * 1.02)
        if not constrained:
            fig.tight_layout()
    for ax in fig.axes:
        declutter(ax)
    _mf().save_figure(fig, path, dpi=native_dpi(fig) if path.suffix == ".png" else 200)


def make_evaluation(s: EvaluationSettings, device, out: Path) -> None:
    from vstlib.evaluate import course_cache_dir

    mf = _mf()
    t0 = time.perf_counter()
    if s.smoke and not os.environ.get("VSTLIB_EVALUATE_CACHE"):
        with tempfile.TemporaryDirectory(prefix="vst_eval_") as tmp:
            _make(s, device, out, Path(tmp))
    else:
        _make(s, device, out, course_cache_dir())
    mf.log(f"wrote {', '.join(str(out / name) for name in EVALUATION_FILES)} in {time.perf_counter() - t0:.0f} s")


def _make(s: EvaluationSettings, device, out: Path, cache: Path) -> None:
    mf = _mf()
    results = run_evaluation(s, device, cache)
    summary = check_summary(results) if not s.smoke else "smoke run: the summary is not checked"
    mf.log(f"      {summary}")
    devices = cell_devices(results)
    computed = len(results.computed)
    measured = sum(c.status == "ok" for c in results.cells)
    cache_note = (f"all {measured} cells computed by this run" if computed == measured else
                  f"{measured - computed} of the {measured} cells read from the evaluation cache")
    mf.write_text(out / "eval_table.tex", table_tex(results, describe_devices(devices)))
    save(figure_pareto(results), out / "eval_pareto.pdf", LINE_WIDTH_IN, PAGE_HEIGHT_IN)
    save(figure_speed(results, results.protocol.styles[0]), out / "eval_speed.pdf", LINE_WIDTH_IN, PAGE_HEIGHT_IN)
    mf.log("[evaluation 2/3] table, Pareto and speed figures written")
    grid = grid_frames(results, s)
    labels = list(grid["outputs"])
    half = (len(labels) + 1) // 2
    for name, part in (("eval_grid_a.png", labels[:half]), ("eval_grid_b.png", labels[half:])):
        save(figure_grid(grid, part), out / name, 0.49 * LINE_WIDTH_IN, PAGE_HEIGHT_IN)
    mp = map_pair(results, s)
    for label, value in mp["stored"].items():  # the map's mean is the stored per-pair E_warp
        mean = float(np.nanmean(mp["maps"][label]))
        if abs(mean - value) > 1e-6 + 1e-4 * value:
            mf.log(f"      warning: {label}'s E_warp map averages {mean:.6g}, the cell stored {value:.6g}")
    save(figure_maps(mp), out / "eval_ewarp_maps.png", LINE_WIDTH_IN)
    save(figure_agreement(results.flow_agreement(), results.protocol.clips), out / "eval_agreement.pdf",
         0.8 * LINE_WIDTH_IN)
    macros = numbers(results, s, mp, grid, cache_note, devices)
    mf.write_text(out / "eval_numbers.tex", numbers_tex(macros))
    mf.log("[evaluation 3/3] grid, E_warp maps, agreement and numbers written")
