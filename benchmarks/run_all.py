"""Run every benchmark script and regenerate benchmarks/RESULTS.md from their markdown fragments.

    .venv/bin/python benchmarks/run_all.py            # full mode (hours on 2 CPU cores; see --help)
    .venv/bin/python benchmarks/run_all.py --quick    # smoke run of every script, a few minutes
    .venv/bin/python benchmarks/run_all.py --only bench_flow,bench_johnson
    .venv/bin/python benchmarks/run_all.py --render-only   # rebuild RESULTS.md from existing fragments

Each script writes its markdown fragment to ``benchmarks/out/<name>.md`` (a script that does not
write one has its stdout captured instead, between ``BEGIN FRAGMENT``/``END FRAGMENT`` markers if it
prints them, else whole, in a code block). ``RESULTS.template.md`` holds the hand-written text; every
``{{name}}`` placeholder in it is replaced by that script's fragment and ``{{machine}}`` by the
machine/commit header, so every number in RESULTS.md comes from a script run.

The helpers :func:`machine_info`, :func:`git_state`, :func:`provenance` and
:func:`write_fragment` are imported by the benchmark scripts themselves (they run with
``benchmarks/`` on ``sys.path``).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import os
import platform
import re
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
OUT = HERE / "out"
TEMPLATE = HERE / "RESULTS.template.md"
RESULTS = HERE / "RESULTS.md"


# ------------------------------------------------------------------------------------------------
# Provenance helpers (shared with the benchmark scripts)
# ------------------------------------------------------------------------------------------------


def _run(cmd, **kw) -> str:
    try:
        return subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, timeout=30, **kw).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def git_state() -> dict:
    """``{"commit": short hash, "dirty": bool, "dirty_files": [...]}`` of the repository."""
    commit = _run(["git", "rev-parse", "--short", "HEAD"]) or "unknown"
    try:
        status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True,
                                cwd=REPO, timeout=30).stdout  # not stripped: each line starts with its 2-column code
    except (OSError, subprocess.SubprocessError):
        status = ""
    files = [line[3:] for line in status.splitlines() if line.strip()]
    return {"commit": commit, "dirty": bool(files), "dirty_files": files}


def machine_info() -> dict:
    """CPU model, cores, memory, torch version and threads, GPU (if any), Python, OS."""
    cpu = ""
    for line in _run(["lscpu"]).splitlines():
        if line.startswith("Model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem_gb = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem_gb = int(line.split()[1]) / 1024**2
                break
    except OSError:
        pass
    info = {"cpu": cpu or platform.processor() or platform.machine(), "cores": os.cpu_count(),
            "memory_gb": round(mem_gb, 1) if mem_gb else None, "python": platform.python_version(),
            "platform": platform.platform(), "torch": None, "torch_threads": None, "gpu": None}
    try:
        import torch

        info["torch"] = torch.__version__
        info["torch_threads"] = torch.get_num_threads()
        if torch.cuda.is_available():
            info["gpu"] = torch.cuda.get_device_name(0)
    except ImportError:
        pass
    return info


def cpu_snapshot() -> tuple[float, float, float]:
    """(wall clock, CPU seconds the machine was busy, CPU seconds of this process and its children)."""
    try:
        with open("/proc/stat") as fh:
            jiffies = [int(v) for v in fh.readline().split()[1:9]]
        busy = (sum(jiffies) - jiffies[3] - jiffies[4]) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError):
        busy = float("nan")
    t = os.times()
    return time.perf_counter(), busy, t.user + t.system + t.children_user + t.children_system


def other_cores(before, after) -> float:
    """Cores other processes kept busy on average between two snapshots (0 = the machine was ours)."""
    wall = after[0] - before[0]
    return max(0.0, ((after[1] - before[1]) - (after[2] - before[2])) / wall) if wall > 0 else float("nan")


def machine_line(info: dict | None = None) -> str:
    info = info or machine_info()
    mem = f", {info['memory_gb']:g} GB" if info.get("memory_gb") else ""
    gpu = f", GPU {info['gpu']}" if info.get("gpu") else ", no GPU"
    return (f"{info['cpu']}, {info['cores']} cores{mem}{gpu}, Python {info['python']}, "
            f"torch {info['torch']} ({info['torch_threads']} threads)")


def provenance(command: str | None = None) -> str:
    """One markdown line: machine, commit (``+dirty`` when the tree has uncommitted changes), date, command."""
    g = git_state()
    commit = g["commit"] + (" + uncommitted changes" if g["dirty"] else "")
    cmd = command if command is not None else "python " + " ".join([_rel(sys.argv[0])] + sys.argv[1:])
    when = _dt.datetime.now().strftime("%Y-%m-%d %H:%M")
    return f"*Machine: {machine_line()}. vstlib commit {commit}. {when}. Command: `{cmd}`.*"


def print_provenance() -> None:
    g = git_state()
    print(f"machine: {machine_line()}")
    print(f"commit: {g['commit']}{' (dirty: ' + ', '.join(g['dirty_files']) + ')' if g['dirty'] else ''}")


def fragment_dir(quick: bool) -> Path:
    """Where a script writes its fragment: benchmarks/out/, or benchmarks/out/quick/ for a smoke run
    (so a --quick run never overwrites the fragment of a full run)."""
    return OUT / "quick" if quick else OUT


def write_fragment(name: str, body: str, command: str | None = None, out_dir: Path | None = None,
                   quick: bool = False) -> Path:
    """Write ``<out_dir or benchmarks/out>/<name>.md`` (``quick``: ``benchmarks/out/quick/``, so a smoke
    run never overwrites a full run's fragment): a provenance line, then ``body``."""
    out_dir = Path(out_dir) if out_dir is not None else fragment_dir(quick)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{name}.md"
    tmp = path.with_suffix(".md.tmp")
    tmp.write_text(provenance(command) + "\n\n" + body.strip() + "\n")
    os.replace(tmp, path)
    print(f"wrote {path}")
    return path


def _rel(path) -> str:
    try:
        return str(Path(path).resolve().relative_to(REPO))
    except ValueError:
        return str(path)


# ------------------------------------------------------------------------------------------------
# The benchmarks
# ------------------------------------------------------------------------------------------------

# name -> (script, full-mode args, quick-mode args, estimated full-mode minutes on the 2-core CPU)
# Estimates: the scripts' own docstrings / benchmarks/README.md and the timings in RESULTS.md.
BENCHMARKS = {
    "bench_gatys_vs_pastiche": ("bench_gatys_vs_pastiche.py", [], ["--quick", "--out", "benchmarks/out/quick/gatys_vs_pastiche"], 10),
    "bench_flow": ("bench_flow.py", [], ["--quick"], 2),
    "bench_temporal": ("bench_temporal.py", [], ["--quick"], 40),
    "bench_style_color": ("bench_style_color.py", [], ["--quick"], 40),
    "bench_johnson": ("bench_johnson.py", ["--compile", "--memory"], ["--quick"], 30),
    "bench_style_weight": ("bench_style_weight.py", [], ["--quick"], 20),
    "bench_io": ("bench_io.py", [], [], 2),  # always writes benchmarks/out/io.md, so quick = full (seconds)
    "bench_runner": ("bench_runner.py", [], ["--quick"], 10),
    "bench_stabilize": ("bench_stabilize.py", [], ["--quick"], 11),  # johnson and arbitrary
    "bench_arbitrary": ("bench_arbitrary.py", [], ["--quick"], 4),
    "bench_reconet": ("bench_reconet.py", [], ["--quick"], 45),  # trains 3 arms (~30 min), then evaluates
    "bench_segment": ("bench_segment.py", [], ["--quick"], 8),  # issue 13: masks, flicker, compositing cost, seams
    "bench_evaluate": ("bench_evaluate.py", [], ["--quick"], 30),  # issue 14: every method, one table (cached)
    "bench_cluster": ("bench_cluster.py", [], ["--quick"], 20),  # issue 15: Ray: equality, overhead, seams, scaling
}
# Any other benchmarks/bench_*.py runs too (with --quick in quick mode if its source mentions it), and
# its fragment lands in an "Other benchmarks" section until the template gives it a place.
for _script in sorted(HERE.glob("bench_*.py")):
    if _script.stem not in BENCHMARKS:
        BENCHMARKS[_script.stem] = (_script.name, [], ["--quick"] if "--quick" in _script.read_text() else [], 10)
# Fragment file each script writes into benchmarks/out/ (default: <name>.md).
FRAGMENT_FILES = {"bench_gatys_vs_pastiche": "gatys_vs_pastiche.md", "bench_style_weight": "style_weight.md"}


def fragment_file(name: str) -> str:
    return FRAGMENT_FILES.get(name, f"{name.removeprefix('bench_')}.md")


def find_fragment(name: str, quick: bool, newer_than: float | None = None) -> Path | None:
    """The script's fragment: <out or out/quick>/<file>, else the newest one anywhere under that folder
    (a script with its own --out folder), optionally only if written after ``newer_than``."""
    base = fragment_dir(quick)
    first = base / fragment_file(name)
    if newer_than is not None and base != OUT:
        first_cands = [first, OUT / fragment_file(name)]  # a script that always writes to benchmarks/out/
    else:
        first_cands = [first]
    cands = first_cands + sorted((p for p in base.rglob(fragment_file(name)) if p != first and (quick or "quick" not in p.parts)),
                             key=lambda p: -p.stat().st_mtime)
    for p in cands:
        if p.exists() and (newer_than is None or p.stat().st_mtime > newer_than):
            return p
    return None


def run_one(name: str, quick: bool, python: str, log_dir: Path) -> dict:
    script, full_args, quick_args, _ = BENCHMARKS[name]
    args = quick_args if quick else full_args
    cmd = [python, str(HERE / script), *args]
    start = time.time()
    print(f"\n=== {name}: {' '.join([_rel(c) if c.endswith('.py') else c for c in cmd])}", flush=True)
    t0 = time.perf_counter()
    log = log_dir / f"{name}.log"
    with log.open("w") as fh:
        proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                env={**os.environ, "MPLBACKEND": "Agg", "PYTHONUNBUFFERED": "1"})
        lines = []
        for line in proc.stdout:
            fh.write(line)
            lines.append(line)
            sys.stdout.write("    " + line)
            sys.stdout.flush()
        rc = proc.wait()
    wall = time.perf_counter() - t0
    frag = find_fragment(name, quick, newer_than=start)
    fresh = frag is not None
    if fresh:
        fragment = frag.read_text()
    else:  # no fragment written: capture the stdout tables
        text = "".join(lines)
        m = re.search(r"BEGIN FRAGMENT\n(.*?)END FRAGMENT", text, re.S)
        fragment = m.group(1) if m else "```\n" + text.strip() + "\n```\n"
        fragment = provenance(" ".join([_rel(cmd[1])] + args)) + "\n\n" + fragment
    status = "ok" if rc == 0 else f"FAILED (exit {rc}; log {_rel(log)})"
    print(f"=== {name}: {status}, {wall:.0f} s{'' if fresh else ' (stdout captured: no fragment file)'}", flush=True)
    return {"name": name, "rc": rc, "wall": wall, "fragment": fragment, "fresh": fresh, "command": cmd}


LEGACY = OUT / "legacy"  # seed fragments cut from the hand-written RESULTS.md (used once, then kept in RESULTS.md)
_BLOCK = re.compile(r"<!-- fragment:([A-Za-z0-9_]+) -->\n(.*?)\n<!-- /fragment:\1 -->", re.S)


def previous_blocks(path: Path) -> dict[str, str]:
    """The fragments embedded in an earlier generated RESULTS.md (between fragment markers)."""
    return {m.group(1): m.group(2) for m in _BLOCK.finditer(path.read_text())} if path.exists() else {}


def render(template: str, fragments: dict[str, str], header: str, previous: dict[str, str] | None = None) -> str:
    """Fill ``{{machine}}`` and every ``{{name}}``: the fragment of this run or of benchmarks/out/, else the
    block the previous RESULTS.md had (so rerunning one script keeps the other sections), else a note."""
    previous = previous or {}

    def sub(m):
        key = m.group(1)
        if key == "machine":
            return header
        body = fragments.get(key) or previous.get(key)
        if body is None and (LEGACY / fragment_file(key)).exists():
            body = (LEGACY / fragment_file(key)).read_text()
        if body is None:
            body = f"*No fragment of `{key}` yet: run `python benchmarks/run_all.py --only {key}`.*"
        return f"<!-- fragment:{key} -->\n{body.strip()}\n<!-- /fragment:{key} -->"

    placed = set(re.findall(r"\{\{\s*([A-Za-z0-9_]+)\s*\}\}", template))
    others = [k for k in fragments if k not in placed]
    if others:  # fragments the template has no place for yet: before the History section
        extra = "# Other benchmarks\n\n" + "\n\n".join(f"## `{k}.py`\n\n{{{{{k}}}}}" for k in others) + "\n\n---\n\n"
        marker = "# History (not reproduced by the current scripts)"
        template = template.replace(marker, extra + marker) if marker in template else template + "\n" + extra
    return re.sub(r"\{\{\s*([A-Za-z0-9_]+)\s*\}\}", sub, template)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="smoke mode: every script with --quick (a few minutes)")
    p.add_argument("--only", help="comma-separated benchmark names (default: all): " + ", ".join(BENCHMARKS))
    p.add_argument("--skip", default="", help="comma-separated benchmark names to leave out (their existing fragments are used)")
    p.add_argument("--render-only", action="store_true", help="run nothing; rebuild RESULTS.md from benchmarks/out/*.md")
    p.add_argument("--output", type=Path, default=None,
                   help="where to write the results (default benchmarks/RESULTS.md; --quick: benchmarks/out/RESULTS.quick.md)")
    p.add_argument("--keep-going", action="store_true", default=True, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    sys.stdout.reconfigure(line_buffering=True)

    names = [n.strip() for n in args.only.split(",")] if args.only else list(BENCHMARKS)
    skip = {n.strip() for n in args.skip.split(",") if n.strip()}
    for n in names + list(skip):
        if n not in BENCHMARKS:
            p.error(f"unknown benchmark '{n}'; choose from {', '.join(BENCHMARKS)}")
    names = [n for n in names if n not in skip]
    output = args.output or (OUT / "RESULTS.quick.md" if args.quick else RESULTS)
    OUT.mkdir(parents=True, exist_ok=True)
    log_dir = OUT / "logs"
    log_dir.mkdir(exist_ok=True)

    info, g = machine_info(), git_state()
    print_provenance()
    if not args.render_only:
        est = sum(BENCHMARKS[n][3] for n in names)
        print(f"mode: {'quick' if args.quick else 'full'}; {len(names)} scripts"
              + ("" if args.quick else f"; full mode estimate ~{est} min on 2 CPU cores"))

    t0 = time.perf_counter()
    runs = []
    if not args.render_only:
        for name in names:
            runs.append(run_one(name, args.quick, sys.executable, log_dir))
    total = time.perf_counter() - t0

    fragments = {}
    for name in BENCHMARKS:
        f = find_fragment(name, args.quick)
        if f is not None:
            fragments[name] = f.read_text()
    for r in runs:
        fragments[r["name"]] = r["fragment"]

    mode = ("quick (smoke) mode: the numbers are NOT results" if args.quick
            else "no script rerun (--render-only): every section is the fragment of its last run" if args.render_only
            else "full mode")
    commit = g["commit"] + (" with uncommitted changes (" + ", ".join(g["dirty_files"]) + ")" if g["dirty"] else "")
    header_lines = [
        f"Generated by `python benchmarks/run_all.py{' --quick' if args.quick else ''}{' --render-only' if args.render_only else ''}` from "
        f"`benchmarks/RESULTS.template.md` on {_dt.datetime.now().strftime('%Y-%m-%d %H:%M')}, {mode}.",
        f"Machine that ran run_all.py: {machine_line(info)} ({platform.platform()}).",
        f"vstlib commit: {commit}.",
    ]
    est = sum(BENCHMARKS[n][3] for n in BENCHMARKS)
    header_lines.append(f"Full mode takes about {est // 60} h {est % 60} min on the 2-core CPU machine (estimate from the "
                        "scripts' documented run times: " + ", ".join(f"{n} {BENCHMARKS[n][3]} min" for n in BENCHMARKS) + ").")
    if runs:
        header_lines.append("Runs: " + "; ".join(f"{r['name']} {r['wall']:.0f} s{'' if r['rc'] == 0 else ' FAILED'}" for r in runs)
                            + f"; total {total:.0f} s.")
    header_lines.append("Each section's own first line gives the machine, commit and command of the run that produced it "
                        "(sections not rerun this time keep their earlier fragment).")
    header = "\n".join(header_lines)
    text = render(TEMPLATE.read_text(), fragments, header, previous_blocks(output if output.exists() else RESULTS))
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text)
    print(f"\nwrote {_rel(output)} ({total:.0f} s of benchmarks)")
    failed = [r["name"] for r in runs if r["rc"] != 0]
    if failed:
        print("FAILED: " + ", ".join(failed))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
