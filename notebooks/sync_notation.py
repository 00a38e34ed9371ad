"""Copy the rows of NOTATION.md into every notebook's notation table (after NOTATION.md changed).

    python notebooks/sync_notation.py            # rewrite the notebooks whose rows differ
    python notebooks/sync_notation.py --check    # only list them; exit 1 if any

A row is matched by its symbol (the first column); rows whose symbol NOTATION.md lacks are left
alone (tests/test_course.py reports them). Only the notation rows of markdown cells change.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def cells_of(line: str) -> tuple[str, ...] | None:
    line = line.strip()
    if line.startswith("|") and line.endswith("|") and len(line) > 1:
        return tuple(c.strip() for c in line[1:-1].split("|"))
    return None


def canonical() -> dict[str, str]:
    """Symbol -> its NOTATION.md line, verbatim."""
    rows = {}
    for line in (HERE / "NOTATION.md").read_text(encoding="utf-8").splitlines():
        cells = cells_of(line)
        if cells and len(cells) == 3 and not set(cells[0]) <= set("-: ") and cells[0] != "Symbol":
            rows[cells[0]] = line.strip()
    return rows


def sync(path: Path, rows: dict[str, str], write: bool) -> int:
    nb = json.loads(path.read_text(encoding="utf-8"))
    changed = 0
    for cell in nb["cells"]:
        if cell["cell_type"] != "markdown":
            continue
        lines = "".join(cell["source"]).split("\n")
        for i, line in enumerate(lines):
            cells = cells_of(line)
            # compared cell by cell, as tests/test_course.py does: spacing alone is no difference
            if cells and len(cells) == 3 and cells[0] in rows and cells != cells_of(rows[cells[0]]):
                lines[i], changed = rows[cells[0]], changed + 1
        cell["source"] = "\n".join(lines).splitlines(keepends=True)
    if changed and write:
        path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return changed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report notebooks whose rows differ")
    args = parser.parse_args()
    rows, stale = canonical(), 0
    for path in sorted(HERE.glob("*.ipynb")):
        n = sync(path, rows, write=not args.check)
        if n:
            stale += 1
            print(f"{path.name}: {n} row(s) {'differ' if args.check else 'updated'}")
    return 1 if (args.check and stale) else 0


if __name__ == "__main__":
    sys.exit(main())
