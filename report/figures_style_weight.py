"""The report's style-weight figure (``make_figures.py --only style_weight``): the sweep of
``benchmarks/bench_style_weight.py`` as a grid.

    style_weight.jpg   rows = content x style, columns = content | style | Gram weights | W2 weights,
                       vstlib's default weights (GRAM_DEFAULT_WEIGHT, wasserstein.DEFAULT_WEIGHT) framed
                       in red; under each result its SSIM to the content and the Gram style loss left

The runs are the benchmark's own, cached in ``benchmarks/out/style_weight/`` (``--quick``:
``benchmarks/out/quick/style_weight/``): with a cache this only redraws the grid from the runs there
(seconds; missing combinations show as "not run"); without one it runs the benchmark's default sweep
(about 20 min on a quiet 2-core CPU; the smoke version, 64 px and 5 iterations, well under a minute).
"""

from __future__ import annotations

import sys
from pathlib import Path

STYLE_WEIGHT_FILES = ("style_weight.jpg",)
JPEG_QUALITY = 92  # 28 painterly panels at ~256 px each: a PNG of them alone was 3.4 MB of the 20 MB budget
_BENCH = Path(__file__).resolve().parents[1] / "benchmarks"


def make_style_weight(smoke: bool, device, out: Path) -> list[Path]:
    """Write ``out/style_weight.jpg`` (``device`` is accepted for symmetry with the other sections;
    the sweep runs where the benchmark runs, the CPU unless a GPU is the default device)."""
    if str(_BENCH) not in sys.path:
        sys.path.insert(0, str(_BENCH))
    import bench_style_weight as bsw

    args = bsw.parse_args(["--quick"] if smoke else [])
    records, contents, styles, cache = bsw.collect(args, run=False)  # the benchmark's cached runs, as they are
    if not records:  # no cache: run the sweep (cached runs are read, not rerun)
        records, contents, styles, cache = bsw.collect(args, run=True)
    gram, w2 = bsw.default_weights()
    path = Path(out) / STYLE_WEIGHT_FILES[0]
    png = path.with_name(".tmp_" + path.stem + ".png")
    bsw.figure(records, cache, png, {"gram": gram, "wasserstein": w2}, contents, styles)
    save_jpeg(png, path)
    png.unlink()
    return [path]


def save_jpeg(png: Path, path: Path, quality: int = JPEG_QUALITY) -> None:
    """``png`` as a JPEG at ``path``, written atomically (pdflatex includes JPEG as it is)."""
    from PIL import Image

    tmp = path.with_name(".tmp_" + path.name)
    with Image.open(png) as im:
        im.convert("RGB").save(tmp, format="JPEG", quality=quality, optimize=True)
    tmp.replace(path)
