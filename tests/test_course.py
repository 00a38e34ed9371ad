"""The course's conventions, checked on every notebook (issue 10).

Each notebook has a notation table whose rows are rows of ``notebooks/NOTATION.md`` (one set of
symbols for the whole course and the report), a "Deviations from the paper" box, two to four
exercises with hints, and asserts that test behaviour rather than only shapes or finiteness.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
NOTATION = ROOT / "notebooks" / "NOTATION.md"


def _cells(path: Path, kind: str) -> list[str]:
    nb = json.loads(path.read_text(encoding="utf-8"))
    return ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == kind]


def table_rows(markdown: str) -> list[tuple[str, ...]]:
    """The body rows of the markdown tables in ``markdown``, as tuples of stripped cells.

    >>> table_rows("| a | b |\\n|---|---|\\n| $x$ | an image |\\n")
    [('$x$', 'an image')]
    """
    rows = []
    for line in markdown.splitlines():
        line = line.strip()
        if not (line.startswith("|") and line.endswith("|")):
            continue
        cells = tuple(c.strip() for c in line[1:-1].split("|"))
        if all(set(c) <= set("-: ") for c in cells):  # the separator row
            continue
        rows.append(cells)
    # drop header rows: a header is the row just before a separator, found by re-scanning
    headers = set()
    lines = [ln.strip() for ln in markdown.splitlines()]
    for before, line in zip(lines, lines[1:]):
        if re.fullmatch(r"\|(\s*:?-+:?\s*\|)+", line):
            headers.add(tuple(c.strip() for c in before[1:-1].split("|")))
    return [r for r in rows if r not in headers]


def canonical_notation() -> dict[str, tuple[str, ...]]:
    return {row[0]: row for row in table_rows(NOTATION.read_text(encoding="utf-8"))}


def test_canonical_notation_has_one_row_per_symbol():
    rows = table_rows(NOTATION.read_text(encoding="utf-8"))
    symbols = [r[0] for r in rows]
    assert len(rows) > 15 and len(set(symbols)) == len(symbols)
    assert all(len(r) == 3 for r in rows)


def _notation_cell(path: Path) -> str:
    cells = [c for c in _cells(path, "markdown") if re.search(r"^#+ .*Notation", c, re.M | re.I)]
    assert cells, f"{path.name}: no markdown section titled 'Notation'"
    return cells[0]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notation_table_uses_the_course_symbols(path):
    canonical = canonical_notation()
    rows = table_rows(_notation_cell(path))
    assert len(rows) >= 4, f"{path.name}: the notation table has {len(rows)} rows"
    for row in rows:
        assert row[0] in canonical, f"{path.name}: symbol {row[0]} is not in notebooks/NOTATION.md; add it there"
        assert row == canonical[row[0]], f"{path.name}: row for {row[0]} differs from notebooks/NOTATION.md"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_no_retired_symbols(path):
    """The loss weights are alpha and beta everywhere (notebook 01 once wrote w_c and w_s)."""
    text = "\n".join(_cells(path, "markdown"))
    assert not re.search(r"\bw_[cs]\b", text), f"{path.name}: write \\alpha, \\beta for the loss weights"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_deviations_box(path):
    boxes = [c for c in _cells(path, "markdown") if "Deviations from the paper" in c]
    assert boxes, f"{path.name}: no 'Deviations from the paper' box"
    items = re.findall(r"^\s*(?:>\s*)?[-*] ", boxes[0], re.M)
    assert len(items) >= 3, f"{path.name}: the deviations box lists {len(items)} items"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_exercises_with_hints(path):
    cells = [c for c in _cells(path, "markdown") if re.search(r"^#+ .*Exercises", c, re.M)]
    assert cells, f"{path.name}: no 'Exercises' section"
    text = cells[-1]
    exercises = re.findall(r"^\d+\. ", text, re.M)
    assert 2 <= len(exercises) <= 4, f"{path.name}: {len(exercises)} exercises"
    assert text.count("Hint") >= len(exercises), f"{path.name}: every exercise needs a hint"
    assert _cells(path, "markdown")[-1] == text, f"{path.name}: the exercises end the notebook"


_WEAK = re.compile(r"\.shape\b|isfinite|\bisnan\b|\blen\(|\bisinstance\(|\.exists\(\)|is not None|\.ndim\b|\.dtype\b")


def weak_asserts(source: str) -> list[str]:
    """Asserts that only check shapes, lengths, types or finiteness.

    >>> weak_asserts("assert x.shape == y.shape\\nassert loss < 0.5 * start")
    ['x.shape == y.shape']
    """
    tree = ast.parse(source)
    return [ast.unparse(n.test) for n in ast.walk(tree) if isinstance(n, ast.Assert) and _WEAK.search(ast.unparse(n.test))]


def _code(source: str) -> str:
    # IPython magics and shell escapes are not Python
    return "\n".join("" if ln.lstrip().startswith(("%", "!")) else ln for ln in source.splitlines())


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_every_assert_cell_checks_behaviour(path):
    """A cell's asserts may include shape checks, but at least one must test a claim."""
    for source in _cells(path, "code"):
        code = _code(source)
        n_asserts = sum(isinstance(n, ast.Assert) for n in ast.walk(ast.parse(code)))
        if n_asserts:
            assert len(weak_asserts(code)) < n_asserts, f"{path.name}: a cell checks only shapes/finiteness:\n{source}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_course_samples_come_from_one_place(path):
    """The shared photo, painting and clip come from vstlib.course (a section may add others)."""
    setup = "\n".join(_cells(path, "code")[:3])
    assert "vstlib.course" in setup or "from vstlib import course" in setup, f"{path.name}: use vstlib.course"


def test_sync_notation_rewrites_a_stale_row(tmp_path, monkeypatch):
    """notebooks/sync_notation.py copies NOTATION.md's row over a notebook's outdated one."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("sync_notation", ROOT / "notebooks" / "sync_notation.py")
    sync_notation = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(sync_notation)
    rows = sync_notation.canonical()
    stale = "| $\\alpha$ | content weight | 1000 |"
    text = f"## Notation\n\n| Symbol | Meaning | Units |\n|---|---|---|\n{stale}\n{rows['$p$']}\n"
    nb = {"cells": [{"cell_type": "markdown", "id": "0", "metadata": {}, "source": text.splitlines(keepends=True)}],
          "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    path = tmp_path / "x.ipynb"
    path.write_text(json.dumps(nb), encoding="utf-8")
    assert sync_notation.sync(path, rows, write=True) == 1
    fixed = table_rows(_cells(path, "markdown")[0])
    assert fixed == [table_rows(rows["$\\alpha$"])[0], table_rows(rows["$p$"])[0]]
    assert sync_notation.sync(path, rows, write=True) == 0
