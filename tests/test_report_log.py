"""report/check_log.py on synthetic LaTeX logs: what fails the report build in CI and what does not."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "report" / "check_log.py"


@pytest.fixture(scope="module")
def check_log():
    spec = importlib.util.spec_from_file_location("check_log", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


CLEAN = """This is pdfTeX, Version 3.141592653-2.6-1.40.24 (TeX Live 2022/Debian) (preloaded format=pdflatex)
(./main.tex
LaTeX2e <2022-11-01> patch level 1
Underfull \\hbox (badness 1552) in paragraph at lines 12--12
[]\\OT1/cmr/m/n/10.95 Figure 14: Top
 []

[1] [2] (./build/main.bbl) [3]
Output written on build/main.pdf (3 pages, 404575 bytes).
"""


def _run(check_log, tmp_path, log_text, *args, blg_text=None):
    log = tmp_path / "main.log"
    log.write_text(log_text)
    if blg_text is not None:
        log.with_suffix(".blg").write_text(blg_text)
    return check_log.main([str(log), *args])


def test_clean_log_passes_and_underfull_boxes_do_not_count(check_log, tmp_path, capsys):
    assert _run(check_log, tmp_path, CLEAN) == 0
    out = capsys.readouterr().out
    assert "0 undefined citation(s), 0 undefined reference(s), 0 overfull box(es)" in out
    assert check_log.check_log(CLEAN).failures == []


def test_undefined_citations_in_both_forms(check_log, tmp_path, capsys):
    log = CLEAN + ("LaTeX Warning: Citation `huang2017real' on page 4 undefined on input line 480.\n"
                   "Package natbib Warning: Citation `chen2017coherent' on page 4 undefined on input line 482.\n"
                   "LaTeX Warning: Citation `huang2017real' on page 5 undefined on input line 900.\n")
    report = check_log.check_log(log)
    assert report.undefined_citations == ["huang2017real", "chen2017coherent"]  # each key once
    assert _run(check_log, tmp_path, log) == 1
    assert "FAIL: undefined citation: chen2017coherent" in capsys.readouterr().err


def test_reference_key_cut_by_the_log_line_length_is_joined(check_log):
    line = "LaTeX Warning: Reference `sec:segmentation-foreground-background' on page 3 undefined on input line 12."
    wrapped = "\n".join([line[:79], line[79:]])  # TeX breaks log lines after 79 characters
    assert len(wrapped.splitlines()[0]) == 79
    report = check_log.check_log(CLEAN + wrapped + "\n")
    assert report.undefined_references == ["sec:segmentation-foreground-background"]


def test_closing_undefined_references_warning_alone_fails(check_log):
    report = check_log.check_log(CLEAN + "LaTeX Warning: There were undefined references.\n")
    assert len(report.failures) == 1 and "undefined reference" in report.failures[0]


def test_overfull_boxes_fail_with_their_line_numbers(check_log, tmp_path, capsys):
    log = CLEAN + ("Overfull \\hbox (29.9375pt too wide) in paragraph at lines 1070--1088\n"
                   "\\OT1/cmtt/m/n/10.95 vstlib/models/MODEL[]CARD.md\n []\n\n"
                   "Overfull \\vbox (3.0pt too high) has occurred while \\output is active []\n")
    report = check_log.check_log(log)
    assert report.overfull == ["Overfull \\hbox (29.9375pt too wide) in paragraph at lines 1070--1088",
                               "Overfull \\vbox (3.0pt too high) has occurred while \\output is active []"]
    assert _run(check_log, tmp_path, log) == 1
    assert "lines 1070--1088" in capsys.readouterr().err


def test_duplicate_labels_and_tex_errors_fail(check_log):
    log = CLEAN + ("LaTeX Warning: Label `sec:eval' multiply defined.\n"
                   "! Undefined control sequence.\nl.42 \\RecoAblVerdictt\n")
    report = check_log.check_log(log)
    assert report.multiply_defined == ["sec:eval"]
    assert report.tex_errors == ["! Undefined control sequence."]
    assert len(report.failures) == 2


def test_missing_generated_files_are_counted_not_fatal_unless_asked(check_log, tmp_path, capsys):
    log = CLEAN + ("No file figures/ruder_numbers.tex.\n"
                   "No file figures/ruder_flow.pdf.\nNo file figures/ruder_flow.png.\n"
                   "No file figures/ruder_table.tex.\n")
    report = check_log.check_log(log)
    assert report.missing_generated == ["figures/ruder_numbers.tex", "figures/ruder_flow", "figures/ruder_table.tex"]
    assert report.failures == []
    assert _run(check_log, tmp_path, log) == 0
    assert "3 generated file(s) missing" in capsys.readouterr().out
    assert _run(check_log, tmp_path, log, "--fail-on-placeholders") == 1
    assert "generated file missing: figures/ruder_flow" in capsys.readouterr().err


def test_bibtex_errors_fail_and_warnings_are_printed(check_log, tmp_path, capsys):
    warn = "Warning--empty booktitle in huang2017real\n(There was 1 warning)\n"
    assert _run(check_log, tmp_path, CLEAN, blg_text=warn) == 0
    assert "BibTeX Warning--empty booktitle in huang2017real" in capsys.readouterr().out
    error = "I was expecting a `,' or a `}'---line 12 of file references.bib\n(There were 2 error messages)\n"
    assert _run(check_log, tmp_path, CLEAN, blg_text=error) == 1
    assert "BibTeX: 2 error message(s)" in capsys.readouterr().err


def test_missing_log_is_a_usage_error(check_log, tmp_path, capsys):
    assert check_log.main([str(tmp_path / "nope.log")]) == 2
    assert "build the report first" in capsys.readouterr().err
