#!/usr/bin/env python3
"""Check a LaTeX build log of the report: fail on what a reader would see as broken.

    python report/check_log.py report/build/main.log            # after `make report`
    python report/check_log.py report/build/main.log --fail-on-placeholders

Fails (exit status 1) on

* undefined citations and references (``Citation `x' on page 3 undefined``, natbib's form too,
  and LaTeX's closing ``There were undefined references``),
* labels defined twice,
* overfull boxes (``Overfull \\hbox (3.2pt too wide)``: text running into the margin),
* TeX errors (lines starting with ``! ``),
* BibTeX errors in the ``.blg`` file beside the log (its warnings are printed, not fatal),

and prints how many generated files are missing. main.tex writes ``No file figures/NAME.`` to the
log for each generated file it looked for and did not find (a figure is looked for as ``.pdf``,
``.png`` and ``.jpg``). By default a missing one is counted, not fatal; ``--fail-on-placeholders``
makes it fatal, as CI runs it (the full-quality figures are committed).

TeX wraps log lines at 79 characters (``max_print_line``), which can cut a label or a citation
key in two; lines of exactly that length are joined with the next before matching.

Standard library only, so it runs without the project's virtual environment.
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

MAX_PRINT_LINE = 79  # TeX Live's default log line length

_UNDEFINED_CITATION = re.compile(r"Citation `([^']*)' (?:on page \S+ )?undefined")
_UNDEFINED_REFERENCE = re.compile(r"Reference `([^']*)' on page \S+ undefined")
_MULTIPLY_DEFINED = re.compile(r"Label `([^']*)' multiply defined")
_OVERFULL = re.compile(r"^(Overfull \\[hv]box \([\d.]+pt too (?:wide|high)\).*)$", re.M)
_TEX_ERROR = re.compile(r"^(! .*)$", re.M)
_MISSING_FILE = re.compile(r"^No file (figures/[^\s]+)\.$", re.M)
_BLG_ERRORS = re.compile(r"\(There (?:was|were) (\d+) error messages?\)")
_BLG_WARNING = re.compile(r"^(Warning--.*)$", re.M)


@dataclass
class LogReport:
    """What :func:`check_log` found; ``failures`` lists everything that makes the build bad."""

    undefined_citations: list[str] = field(default_factory=list)
    undefined_references: list[str] = field(default_factory=list)
    multiply_defined: list[str] = field(default_factory=list)
    overfull: list[str] = field(default_factory=list)
    tex_errors: list[str] = field(default_factory=list)
    bibtex_errors: int = 0
    bibtex_warnings: list[str] = field(default_factory=list)
    missing_generated: list[str] = field(default_factory=list)  # figures/NAME without extension

    @property
    def failures(self) -> list[str]:
        out = [f"undefined citation: {k}" for k in self.undefined_citations]
        out += [f"undefined reference: {k}" for k in self.undefined_references]
        out += [f"label defined twice: {k}" for k in self.multiply_defined]
        out += self.overfull + [f"TeX error: {e}" for e in self.tex_errors]
        if self.bibtex_errors:
            out.append(f"BibTeX: {self.bibtex_errors} error message(s), see the .blg file")
        return out


def unwrap(text: str, width: int = MAX_PRINT_LINE) -> str:
    """Join the log lines TeX broke at ``width`` characters with the line that follows them.

    >>> unwrap("a" * 79 + "\\nbc\\nd")
    'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaabc\\nd'
    """
    out: list[str] = []
    carry = ""
    for line in text.split("\n"):
        if len(line) == width:
            carry += line
            continue
        out.append(carry + line)
        carry = ""
    if carry:
        out.append(carry)
    return "\n".join(out)


def _unique(items) -> list[str]:
    return list(dict.fromkeys(items))


def check_log(log_text: str, blg_text: str = "") -> LogReport:
    """Scan a LaTeX log (and optionally its BibTeX ``.blg``) for the problems listed above.

    >>> r = check_log("LaTeX Warning: Citation `gatys2016image' on page 1 undefined on input line 4.")
    >>> r.undefined_citations, len(r.failures)
    (['gatys2016image'], 1)
    >>> check_log("No file figures/ruder_flow.pdf.\\nNo file figures/ruder_flow.png.").missing_generated
    ['figures/ruder_flow']
    """
    text = unwrap(log_text.replace("\r\n", "\n"))
    report = LogReport()
    report.undefined_citations = _unique(_UNDEFINED_CITATION.findall(text))
    report.undefined_references = _unique(_UNDEFINED_REFERENCE.findall(text))
    if "There were undefined references" in text and not (report.undefined_citations
                                                         or report.undefined_references):
        report.undefined_references = ["(LaTeX: 'There were undefined references')"]
    if "There were undefined citations" in text and not report.undefined_citations:
        report.undefined_citations = ["(natbib: 'There were undefined citations')"]
    report.multiply_defined = _unique(_MULTIPLY_DEFINED.findall(text))
    report.overfull = _OVERFULL.findall(text)
    report.tex_errors = _TEX_ERROR.findall(text)
    report.missing_generated = _unique(re.sub(r"\.(pdf|png|jpg)$", "", name) for name in _MISSING_FILE.findall(text))
    report.bibtex_errors = sum(int(n) for n in _BLG_ERRORS.findall(blg_text))
    report.bibtex_warnings = _BLG_WARNING.findall(blg_text)
    return report


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python report/check_log.py", description=__doc__.split("\n\n")[0])
    p.add_argument("log", type=Path, help="the LaTeX log, e.g. report/build/main.log")
    p.add_argument("--fail-on-placeholders", action="store_true",
                   help="also fail when a generated file (figure, table, numbers) is missing")
    args = p.parse_args(argv)
    if not args.log.is_file():
        print(f"check_log: error: no log at {args.log}; build the report first (make report)", file=sys.stderr)
        return 2
    blg = args.log.with_suffix(".blg")
    report = check_log(args.log.read_text(encoding="utf-8", errors="replace"),
                       blg.read_text(encoding="utf-8", errors="replace") if blg.is_file() else "")
    for warning in report.bibtex_warnings:
        print(f"check_log: BibTeX {warning}")
    failures = report.failures
    missing = report.missing_generated
    print(f"check_log: {args.log}: {len(report.undefined_citations)} undefined citation(s), "
          f"{len(report.undefined_references)} undefined reference(s), {len(report.overfull)} overfull box(es), "
          f"{len(report.tex_errors)} TeX error(s); {len(missing)} generated file(s) missing (placeholder boxes "
          f"and notes in the PDF{'; run `make figures`' if missing else ''})")
    if missing:
        print("check_log: missing: " + ", ".join(m.removeprefix("figures/") for m in missing))
    if args.fail_on_placeholders and missing:
        failures = failures + [f"generated file missing: {m}" for m in missing]
    for failure in failures:
        print(f"check_log: FAIL: {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
