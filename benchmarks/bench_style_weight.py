"""The default Gatys style weight: a sweep of Gram (and Wasserstein) weights at content weight 1.

    .venv/bin/python benchmarks/bench_style_weight.py            # 256 px, 100 it., 2 contents x 2 styles x 6 weights
    .venv/bin/python benchmarks/bench_style_weight.py --quick    # smoke run: 64 px, 5 it., < 1 min
    .venv/bin/python benchmarks/bench_style_weight.py --report-only   # tables + figure from the cache

For every content x style x weight: ``GatysStylizer(style, GatysConfig(style_weight=w, iters=N))``
from the content image (vstlib's defaults otherwise: content relu4_2 weight 1, style
relu1_1..relu5_1, L-BFGS), then on the result:

* content loss at content weight 1 (``loss_parts``' content term);
* style loss at weight 1 (the style term divided by the weight), and, for both style losses, the
  *Gram* style loss at weight 1 as a fraction of the content image's own Gram style loss ("Gram
  left": 100 % = no style at all; the one style measure shared by Gram and W2 runs);
* recognizability of the content: SSIM of the grayscale result against the grayscale content
  (``skimage.metrics.structural_similarity``, data range 1) and the edge correlation (Pearson
  correlation of the Sobel gradient magnitudes of the two grayscale images).

Runs are cached (``<out>/style_weight/<key>.json`` + ``.png``), so a sweep can be extended or
resumed; the key includes size, iterations and the engine (whether per-step projection exists).
Writes ``<out>/style_weight.md`` (tables) and ``<out>/style_weight.png`` (rows = content x style,
columns = weights, Gram then W2, the current defaults ``vstlib.losses.GRAM_DEFAULT_WEIGHT`` and
``vstlib.wasserstein.DEFAULT_WEIGHT`` marked).
"""

from __future__ import annotations

import argparse
import inspect
import json
import math
import sys
import time
from pathlib import Path

import os

# Idle OpenMP threads sleep instead of spinning: on a shared, busy machine the spinning cost this
# sweep most of its CPU time (measured: ~60 % system time, several times slower per iteration).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
import torch  # noqa: E402

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))

from run_all import print_provenance, write_fragment  # noqa: E402

import vstlib  # noqa: E402
from vstlib import GatysConfig, GatysStylizer  # noqa: E402
from vstlib import data as vdata  # noqa: E402
from vstlib.io import load_image, read_frames  # noqa: E402

CONTENTS = ("chelsea", "bbb", "astronaut")  # the figure's row order; the default sweep runs the first two
STYLES = ("starry_night_vangogh", "the_scream_munch")
GRAM_WEIGHTS = (3, 1e1, 3e1, 1e3)
W2_WEIGHTS = (1, 1.5, 2)
# 100 L-BFGS iterations, not vstlib's 300: the sweep had to fit a shared 2-core machine (the
# convergence table, at 50 and 100 iterations, shows which way more iterations move the measures).
ITERS = 100
BBB_FRAME = 96  # Big Buck Bunny clip (video/bbb_adain_640x360_10s.mp4), frame 96 = 4 s at 24 fps


def engine_name() -> str:
    from vstlib import engine

    params = inspect.signature(engine.optimize_image).parameters
    fields = getattr(GatysConfig, "__dataclass_fields__", {})
    projected = any("project" in p for p in params) or any("project" in f or f == "clamp" for f in fields)
    return "projected" if projected else "unconstrained"


def default_weights() -> tuple[float, float]:
    from vstlib.losses import default_style_weight

    return default_style_weight("gram"), default_style_weight("wasserstein")


def load_content(name: str, size: int) -> torch.Tensor:
    if name == "bbb":
        path = vdata.fetch("video/bbb_adain_640x360_10s.mp4")
        frame = next(iter(read_frames(path, max_side=size, start=BBB_FRAME, end=BBB_FRAME + 1)))
        return torch.from_numpy(np.ascontiguousarray(frame)).permute(2, 0, 1)[None].float() / 255
    if name in vdata.CONTENT_PHOTOS:
        from PIL import Image

        import tempfile

        # Through load_image, so the resize is vstlib's own (the brief: load_image(..., max_side=size)).
        with tempfile.TemporaryDirectory() as tmp:
            p = Path(tmp) / f"{name}.png"
            Image.fromarray(vdata.content_photo(name)).save(p)
            return load_image(p, max_side=size)
    return load_image(name, max_side=size)


def load_style(name: str) -> torch.Tensor:
    return vstlib.gatys.load_style(vdata.resolve(name, "style"))


def gray(image: torch.Tensor) -> np.ndarray:
    from skimage.color import rgb2gray

    return rgb2gray(image[0].clamp(0, 1).permute(1, 2, 0).cpu().numpy().astype(np.float64))


def structure(out: torch.Tensor, content: torch.Tensor) -> tuple[float, float]:
    from skimage.filters import sobel
    from skimage.metrics import structural_similarity

    a, b = gray(out), gray(content)
    ssim = structural_similarity(a, b, data_range=1.0)
    ea, eb = sobel(a).ravel(), sobel(b).ravel()
    edge = float(np.corrcoef(ea, eb)[0, 1])
    return float(ssim), edge


class Evaluator:
    """Content loss (weight 1), Gram and W2 style losses (weight 1) of images for one content/style."""

    def __init__(self, content: torch.Tensor, style: torch.Tensor):
        self.gram = GatysStylizer(style, GatysConfig(style_weight=1.0, style_loss="gram"))
        self.w2 = GatysStylizer(style, GatysConfig(style_weight=1.0, style_loss="wasserstein"))
        for s in (self.gram, self.w2):
            s.set_content(content)
        self.content = content
        self.at_content = self(content)

    def __call__(self, image: torch.Tensor, w2: bool = True) -> dict:
        g = self.gram.loss_parts(image.clamp(0, 1))
        out = {"content_loss": g["content"], "gram": g["style"]}
        if w2:
            out["w2"] = self.w2.loss_parts(image.clamp(0, 1))["style"]
        return out

    def measures(self, image: torch.Tensor, w2: bool = True) -> dict:
        """Losses and structure measures; ``w2=False`` (checkpoints) skips the W2 loss, the costly one."""
        losses = self(image, w2)
        ssim, edge = structure(image, self.content)
        out = {**losses, "gram_left": losses["gram"] / self.at_content["gram"], "ssim": ssim, "edge": edge}
        if w2:
            out["w2_left"] = losses["w2"] / self.at_content["w2"]
        return out


def run_key(content, style, loss, weight, iters, size, engine) -> str:
    return f"{content}__{style}__{loss}__{weight:g}__{iters}it__{size}px__{engine}"


def run_one(cache: Path, content_name, style_name, content, style, evaluator, loss, weight, iters, size, engine,
            checkpoints) -> dict:
    key = run_key(content_name, style_name, loss, weight, iters, size, engine)
    jpath, ppath = cache / f"{key}.json", cache / f"{key}.png"
    if jpath.exists() and ppath.exists():
        return json.loads(jpath.read_text())
    cfg = GatysConfig(style_weight=weight, style_loss=loss, iters=iters)
    stylizer = GatysStylizer(style, cfg)
    trace = {}

    def callback(it, value, image):
        if it in checkpoints and it != iters:
            trace[it] = evaluator.measures(image, w2=False)

    t0 = time.perf_counter()
    result = stylizer(content, callback=callback)
    wall = time.perf_counter() - t0
    parts = stylizer.loss_parts(result.image)
    rec = {"key": key, "content": content_name, "style": style_name, "loss": loss, "weight": weight, "iters": iters,
           "size": size, "engine": engine, "hw": list(content.shape[-2:]), "seconds": wall,
           "own_parts": parts, **evaluator.measures(result.image),
           "at_content": evaluator.at_content, "checkpoints": {str(k): v for k, v in trace.items()}}
    vstlib.save_image(result.image, ppath)
    jpath.write_text(json.dumps(rec, indent=1))
    print(f"  {key}: {wall:.0f} s, content {rec['content_loss']:.4g}, Gram {rec['gram']:.4g} "
          f"({100 * rec['gram_left']:.2f} % left), SSIM {rec['ssim']:.3f}, edges {rec['edge']:.3f}", flush=True)
    return rec


# ------------------------------------------------------------------------------------------------
# Report
# ------------------------------------------------------------------------------------------------


def pair_order(pair):
    c, s = pair
    return ((CONTENTS + (c,)).index(c), (STYLES + (s,)).index(s), c, s)


def short_style(name: str) -> str:
    words = [w for w in name.split("_") if w != "the"]
    return " ".join(words[:-1]) if len(words) > 1 else name


def wnum(w: float) -> str:
    """1000 -> 1e3, 1500 -> 1.5e3, 30 -> 3e1."""
    if w == 0:
        return "0"
    e = math.floor(math.log10(w))
    m = round(w / 10**e, 2)
    return f"{m:g}e{e}"


def wlabel(loss: str, w: float) -> str:
    return f"{'Gram' if loss == 'gram' else 'W2'} {wnum(w)}"


def mean(xs):
    return float(np.mean(xs)) if xs else math.nan


def tables(records: list[dict], chosen: dict[str, float], old: dict[str, float]) -> str:
    pairs = sorted({(r["content"], r["style"]) for r in records}, key=pair_order)
    cols = sorted({(r["loss"], r["weight"]) for r in records}, key=lambda c: (c[0] != "gram", c[1]))
    by = {(r["content"], r["style"], r["loss"], r["weight"]): r for r in records}
    any_r = records[0]

    def mark(loss, w):
        tags = []
        if chosen.get(loss) == w:
            tags.append("**chosen**")
        if old.get(loss) == w:
            tags.append("old default")
        return f" ({', '.join(tags)})" if tags else ""

    lines = [f"{len(pairs)} content/style pairs at {any_r['size']} px (longer side), {any_r['iters']} L-BFGS iterations "
             f"from the content image, content weight 1 at relu4_2, vstlib's default layers and layer weights, "
             f"engine: {any_r['engine']} L-BFGS. *Gram left* (*W2 left*) = Gram (W2) style loss of the result / that of "
             f"the content image itself (the style measure shared by both losses' runs); *SSIM* and *edges* compare the grayscale result with the grayscale content "
             f"(1 = identical structure). Means over the pairs:", ""]
    def summary(use_pairs):
        out = ["| style loss, weight | content loss (w=1) | own style loss (w=1) | Gram left | W2 left | SSIM | edges | min SSIM | min edges | s per run |",
               "|---|---|---|---|---|---|---|---|---|---|"]
        for loss, w in cols:
            rs = [by[(c, s, loss, w)] for c, s in use_pairs if (c, s, loss, w) in by]
            if not rs:
                continue
            own = [r["gram"] if loss == "gram" else r["w2"] for r in rs]
            geo = lambda xs: float(np.exp(np.mean(np.log(xs))))  # noqa: E731
            out.append(
                f"| {wlabel(loss, w)}{mark(loss, w)} | {geo([r['content_loss'] for r in rs]):.4g} | {geo(own):.4g} | "
                f"{100 * geo([r['gram_left'] for r in rs]):.2f} % | {100 * geo([r['w2_left'] for r in rs]):.1f} % | "
                f"{mean([r['ssim'] for r in rs]):.3f} | "
                f"{mean([r['edge'] for r in rs]):.3f} | {min(r['ssim'] for r in rs):.3f} | {min(r['edge'] for r in rs):.3f} | "
                f"{mean([r['seconds'] for r in rs]):.0f}" + ("" if len(rs) == len(use_pairs) else f" ({len(rs)} of {len(use_pairs)} pairs)") + " |")
        return out

    lines += summary(pairs)
    common = [p for p in pairs if all((p[0], p[1], loss, w) in by for loss, w in cols)]
    if common and len(common) < len(pairs):
        lines += ["", "The same over the pairs that have every weight (" + ", ".join(f"{c} / {s}" for c, s in common)
                  + "), so that the rows compare like with like:", ""] + summary(common)
    lines += ["", "(content and style losses: geometric means over the pairs; *own style loss* is the loss the run "
              "optimized, Gram or W2, at weight 1.)", ""]
    lines += ["Every run:", "",
              "| content / style | style loss, weight | content loss | Gram loss (w=1) | W2 loss (w=1) | Gram left | SSIM | edges | s |",
              "|---|---|---|---|---|---|---|---|---|"]
    for c, s in pairs:
        r0 = next(r for r in records if r["content"] == c and r["style"] == s)
        lines.append(f"| {c} / {s} | *content image itself* | 0 | {r0['at_content']['gram']:.4g} | "
                     f"{r0['at_content']['w2']:.4g} | 100 % | 1 | 1 | |")
        for loss, w in cols:
            r = by.get((c, s, loss, w))
            if r:
                lines.append(f"| {c} / {s} | {wlabel(loss, w)}{mark(loss, w)} | {r['content_loss']:.4g} | {r['gram']:.4g} | "
                             f"{r['w2']:.4g} | {100 * r['gram_left']:.2f} % | {r['ssim']:.3f} | {r['edge']:.3f} | "
                             f"{r['seconds']:.0f} |")
    ck = sorted({int(k) for r in records for k in r["checkpoints"]})
    if ck:
        lines += ["", f"Convergence: SSIM and Gram left (arithmetic means over the pairs; Gram runs) after {', '.join(map(str, ck))} and {any_r['iters']} iterations:", "",
                  "| weight | " + " | ".join(f"SSIM @{k} | Gram left @{k}" for k in ck + [any_r["iters"]]) + " |",
                  "|---|" + "---|---|" * (len(ck) + 1)]
        for loss, w in cols:
            if loss != "gram":
                continue
            rs = [by[(c, s, loss, w)] for c, s in pairs if (c, s, loss, w) in by]
            cells = []
            for k in ck:
                m = [r["checkpoints"][str(k)] for r in rs if str(k) in r["checkpoints"]]
                cells += [f"{mean([x['ssim'] for x in m]):.3f}", f"{100 * mean([x['gram_left'] for x in m]):.2f} %"]
            cells += [f"{mean([r['ssim'] for r in rs]):.3f}", f"{100 * mean([r['gram_left'] for r in rs]):.2f} %"]
            lines.append(f"| {wlabel(loss, w)} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def figure(records: list[dict], cache: Path, out_png: Path, chosen: dict[str, float], contents: dict, styles: dict) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from PIL import Image

    pairs = sorted({(r["content"], r["style"]) for r in records}, key=pair_order)
    cols = sorted({(r["loss"], r["weight"]) for r in records}, key=lambda c: (c[0] != "gram", c[1]))
    by = {(r["content"], r["style"], r["loss"], r["weight"]): r for r in records}
    ncols = len(cols) + 2
    h0, w0 = records[0]["hw"]
    fig, axes = plt.subplots(len(pairs), ncols, figsize=(1.9 * ncols, 1.9 * len(pairs) * min(1.0, h0 / w0) + 0.6),
                             squeeze=False)
    for i, (c, s) in enumerate(pairs):
        row = axes[i]
        if c in contents:
            row[0].imshow(contents[c][0].permute(1, 2, 0).numpy())
        if s in styles:
            row[1].imshow(styles[s][0].permute(1, 2, 0).numpy())
        row[0].set_ylabel(f"{c}\n{short_style(s)}", fontsize=7)
        if i == 0:
            row[0].set_title("content", fontsize=7)
            row[1].set_title("style", fontsize=7)
        for j, (loss, w) in enumerate(cols):
            ax = row[j + 2]
            r = by.get((c, s, loss, w))
            if r:
                ax.imshow(Image.open(cache / f"{r['key']}.png"))
                ax.set_xlabel(f"SSIM {r['ssim']:.2f}, Gram {100 * r['gram_left']:.1f} %", fontsize=5.5, labelpad=1)
            else:  # not run for this pair
                ax.text(0.5, 0.5, "not run", ha="center", va="center", fontsize=6, color="0.6", transform=ax.transAxes)
                for sp in ax.spines.values():
                    sp.set_visible(False)
            if i == 0:
                ax.set_title(wlabel(loss, w) + (" (chosen)" if chosen.get(loss) == w else ""), fontsize=7,
                             color="red" if chosen.get(loss) == w else "black",
                             fontweight="bold" if chosen.get(loss) == w else "normal")
            if chosen.get(loss) == w and r:
                for sp in ax.spines.values():
                    sp.set_edgecolor("red")
                    sp.set_linewidth(2.5)
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(f"Gatys at content weight 1: style weight sweep ({records[0]['size']} px, {records[0]['iters']} "
                 f"L-BFGS it.; under each: SSIM to the content, Gram loss left)", fontsize=8)
    fig.tight_layout(pad=0.3, w_pad=0.2, h_pad=0.4, rect=(0, 0, 1, 1 - 0.35 / fig.get_figheight()))
    out_png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_png, dpi=150)
    plt.close(fig)
    print(f"wrote {out_png}")
    return out_png


def _rel(path: Path) -> str:
    try:
        return str(Path(path).resolve().relative_to(REPO))
    except ValueError:
        return str(path)


def parse_floats(text: str) -> tuple[float, ...]:
    return tuple(float(x) for x in text.split(",") if x.strip())


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size", type=int, default=256, help="content longer side, px (default 256)")
    p.add_argument("--iters", type=int, default=ITERS, help=f"L-BFGS iterations (default {ITERS}; vstlib's default is 300)")
    p.add_argument("--contents", default="chelsea,bbb", help="skimage photos (chelsea, astronaut, ...) and/or 'bbb' "
                   "(a Big Buck Bunny frame) (default %(default)s)")
    p.add_argument("--styles", default=",".join(STYLES))
    p.add_argument("--weights", default=",".join(f"{w:g}" for w in GRAM_WEIGHTS), help="Gram style weights")
    p.add_argument("--w2-weights", default=",".join(f"{w:g}" for w in W2_WEIGHTS),
                   help="Wasserstein style weights (default %(default)s; '' for none; 'default': vstlib's)")
    p.add_argument("--checkpoints", default="50", help="also measure at these iterations (default 50)")
    p.add_argument("--out", type=Path, default=None, help="output folder (default benchmarks/out; --quick: benchmarks/out/quick)")
    p.add_argument("--chosen-gram", type=float, default=None,
                   help="the Gram weight to mark as chosen (default: vstlib.losses.GRAM_DEFAULT_WEIGHT)")
    p.add_argument("--chosen-w2", type=float, default=None,
                   help="the Wasserstein weight to mark as chosen (default: vstlib.wasserstein.DEFAULT_WEIGHT)")
    p.add_argument("--report-only", action="store_true", help="run nothing new; tables and figure from the cache")
    p.add_argument("--quick", action="store_true", help="smoke run: 64 px, 5 it., chelsea/Starry Night, 2 weights")
    args = p.parse_args(argv)
    if args.out is None:
        args.out = HERE / "out" / ("quick" if args.quick else "")
    if args.quick:
        args.size, args.iters, args.checkpoints = 64, 5, "3"
        args.contents, args.styles, args.weights, args.w2_weights = "chelsea", "starry_night_vangogh", "1e1,1e3", "default"
    return args


def collect(args, run: bool = True) -> tuple[list[dict], dict, dict, Path]:
    engine = engine_name()
    gram_default, w2_default = default_weights()
    weights = parse_floats(args.weights)
    w2_weights = (w2_default,) if args.w2_weights == "default" else parse_floats(args.w2_weights)
    checkpoints = set(int(x) for x in args.checkpoints.split(",") if x.strip())
    cache = args.out / "style_weight"
    cache.mkdir(parents=True, exist_ok=True)
    contents, styles, records = {}, {}, []
    for s in args.styles.split(","):
        styles[s] = load_style(s)
    for c in args.contents.split(","):
        contents[c] = load_content(c, args.size)
        for s in args.styles.split(","):
            jobs = [("gram", w) for w in weights] + [("wasserstein", w) for w in w2_weights]
            keys = [run_key(c, s, loss, w, args.iters, args.size, engine) for loss, w in jobs]
            if not run:
                for k in keys:
                    if (cache / f"{k}.json").exists():
                        records.append(json.loads((cache / f"{k}.json").read_text()))
                continue
            ev = Evaluator(contents[c], styles[s])
            for loss, w in jobs:
                records.append(run_one(cache, c, s, contents[c], styles[s], ev, loss, w, args.iters, args.size,
                                       engine, checkpoints))
    return records, contents, styles, cache


def main(argv=None) -> int:
    args = parse_args(argv)
    torch.set_grad_enabled(True)
    print_provenance()
    engine = engine_name()
    gram_default, w2_default = default_weights()
    print(f"engine: {engine} L-BFGS; defaults: Gram {gram_default:g}, Wasserstein {w2_default:g}; "
          f"{args.size} px, {args.iters} iterations")
    t0 = time.perf_counter()
    records, contents, styles, cache = collect(args, run=not args.report_only)
    if not records:
        print("no runs (cache empty)")
        return 1
    chosen = {"gram": args.chosen_gram or gram_default, "wasserstein": args.chosen_w2 or w2_default}
    body = (f"Marked *chosen*: Gram {chosen['gram']:g}, Wasserstein {chosen['wasserstein']:g} (vstlib's defaults in "
            f"this tree: Gram {gram_default:g}, Wasserstein {w2_default:g}).\n\n"
            + tables(records, chosen, {"gram": 1e3, "wasserstein": 1.5e3}))
    name = "style_weight"
    if args.report_only:
        body += ("\n(Tables from the cached runs in `" + _rel(cache) + "/`, one JSON per run with its settings; the runs "
                 "were made by the same script with the same size, iterations and engine.)\n")
    print("BEGIN FRAGMENT\n" + body + "END FRAGMENT")
    write_fragment(name, body + f"\nFigure (git-ignored, rebuilt by this script or `report/make_figures.py --only "
                         f"style_weight`): `{_rel(args.out / (name + '.png'))}`.\n", out_dir=args.out)
    figure(records, cache, args.out / f"{name}.png", chosen, contents, styles)
    print(f"done in {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
