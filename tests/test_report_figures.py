"""report/make_figures.py in SMOKE mode: every file report/main.tex includes is written and sane.

One smoke run (about 30 s on a 2-core CPU) writes into a temporary folder; the tests below
check each file. Needs the sample-data mirror (env VSTLIB_DATA_DIR, default ../shared/data
next to the repository); skipped without it.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

REPO_ROOT = Path(__file__).resolve().parents[1]
SCRIPT = REPO_ROOT / "report" / "make_figures.py"
EXPECTED = ("gatys_image.png", "gatys_loss.pdf", "gatys_flicker.png", "gatys_table.tex", "gatys_numbers.tex")
MACROS = ("GatysFlickerIn", "GatysFlickerOut", "GatysFlickerRatio", "GatysSecondsPerFrame", "GatysDevice")


def _load_script():
    spec = importlib.util.spec_from_file_location("make_figures", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def figures(tmp_path_factory) -> Path:
    root = Path(os.environ.get("VSTLIB_DATA_DIR", REPO_ROOT.parent / "shared" / "data"))
    if not (root / "video" / "bbb_adain_640x360_10s.mp4").is_file():
        pytest.skip(f"sample data not found at {root}; set VSTLIB_DATA_DIR")
    out = tmp_path_factory.mktemp("figures")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("VSTLIB_DATA_DIR", str(root))
        rc = _load_script().main(["--smoke", "--device", "cpu", "--out", str(out)])
    assert rc == 0
    return out


def _numbers(figures: Path) -> dict[str, str]:
    text = (figures / "gatys_numbers.tex").read_text()
    return dict(re.findall(r"\\newcommand\{\\(\w+)\}\{([^}]*)\}", text))


def test_help_runs_quickly():
    proc = subprocess.run([sys.executable, str(SCRIPT), "--help"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0
    assert "--smoke" in proc.stdout and "--out" in proc.stdout


@pytest.mark.slow
def test_writes_exactly_the_expected_files(figures):
    names = sorted(p.name for p in figures.iterdir())
    assert names == sorted(EXPECTED)  # nothing else: no temporary files, no stray video
    for name in EXPECTED:
        assert (figures / name).stat().st_size > 100, name


@pytest.mark.slow
def test_image_panel_decodes_with_three_panels(figures):
    with Image.open(figures / "gatys_image.png") as im:
        im.load()
        w, h = im.size
    assert w >= 400 and h >= 100
    assert 2.0 < w / h < 8.0  # content | style | result side by side


@pytest.mark.slow
def test_flicker_png_decodes(figures):
    with Image.open(figures / "gatys_flicker.png") as im:
        im.load()
        w, h = im.size
    assert w >= 300 and h >= 200 and 0.8 < w / h < 2.5


@pytest.mark.slow
def test_loss_pdf_is_a_pdf(figures):
    data = (figures / "gatys_loss.pdf").read_bytes()
    assert data.startswith(b"%PDF") and len(data) > 1000 and b"%%EOF" in data[-64:]


@pytest.mark.slow
def test_table_is_a_bare_booktabs_tabular(figures):
    text = (figures / "gatys_table.tex").read_text()
    assert r"\begin{tabular}" in text and r"\toprule" in text and r"\bottomrule" in text
    assert text.rstrip().endswith(r"\end{tabular}")
    assert r"\begin{table}" not in text and r"\caption" not in text
    body = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("%"))
    outside_math = re.sub(r"\$[^$]*\$", "", body)
    assert not re.search(r"(?<!\\)_", outside_math), "unescaped underscore in the table"
    assert not re.search(r"(?<!\\)[%#]", outside_math), "unescaped % or # in the table"
    assert body.count("$") % 2 == 0
    for needle in ("relu4\\_2", "L-BFGS", "PyTorch", "Seconds per iteration", "Seconds per frame", "Flicker"):
        assert needle in text, needle


@pytest.mark.slow
def test_numbers_file_defines_the_five_macros(figures):
    values = _numbers(figures)
    assert set(values) == set(MACROS)
    numeric = {name: float(values[name]) for name in MACROS[:4]}  # plain decimal text
    assert all(v >= 0 for v in numeric.values())
    assert numeric["GatysFlickerRatio"] > 0
    assert numeric["GatysFlickerOut"] > 0 and numeric["GatysSecondsPerFrame"] > 0
    assert values["GatysDevice"].strip() and "_" not in values["GatysDevice"].replace(r"\_", "")
