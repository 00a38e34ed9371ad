"""The video runner: peak memory against clip length for every method, and what `--start` costs.

    .venv/bin/python benchmarks/bench_runner.py            # about 6 minutes on 2 CPU cores
    .venv/bin/python benchmarks/bench_runner.py --quick    # a smoke run, under 2 minutes

* **Memory.** Each run is a fresh process (``vst stylize``) whose peak resident memory comes from
  ``os.wait4``. Clips of growing length are made by joining the 10 s sample clip to itself; the
  runner should hold a few frames whatever the length (before issue 9, Ruder read every
  selected frame into a list and kept every result: a minute of 720p was ~16 GB).
* **Seeking.** ``--start 8 --duration 1`` against ``--start 0 --duration 1`` on the 10 s clip,
  end to end with the ``none`` method (decode, encode, audio: nothing hides the I/O), the two
  variants taking turns, medians.

Writes ``benchmarks/out/runner.md`` (or ``out/quick/``) with the machine and commit.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from run_all import print_provenance, write_fragment  # noqa: E402

CLIP = "video/bbb_adain_640x360_10s.mp4"
VST = [sys.executable, "-m", "vstlib"]
METHODS = {  # method -> options that keep it quick (its own defaults otherwise)
    "none": [],
    "johnson": ["--model", "starry_night_vangogh_w16", "--max-side", "320"],
    "gatys": ["--style", "udnie_picabia", "--iters", "1", "--max-side", "96"],
    "ruder": ["--style", "udnie_picabia", "--iters", "1", "--frame-iters", "1", "--flow", "dis", "--max-side", "96"],
}


def long_clip(source: Path, seconds: int, folder: Path) -> Path:
    """``source`` joined to itself until ``seconds`` long (stream copy: no re-encoding)."""
    import imageio_ffmpeg

    out = folder / f"clip_{seconds}s.mp4"
    if out.exists():
        return out
    listing = folder / f"list_{seconds}.txt"
    repeats = -(-seconds // 10)
    listing.write_text("".join(f"file '{source}'\n" for _ in range(repeats)))
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-f", "concat", "-safe", "0", "-i", str(listing),
                    "-t", str(seconds), "-c", "copy", str(out)], check=True)
    return out


def peak_rss_mb(argv: list[str], env: dict | None = None) -> tuple[float, float]:
    """(peak resident MB, seconds) of a child process."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            env=None if env is None else {**os.environ, **env})
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{' '.join(argv)} failed: {proc.stderr.read().decode()[-500:]}")
    return usage.ru_maxrss / 1024, seconds


def memory_table(lengths: dict[str, list[int]], folder: Path, source: Path) -> str:
    rows = ["| method (options) | clip length | frames | peak RSS | wall time |", "|---|---|---|---|---|"]
    runs = [(m, s, None) for m, seconds_list in lengths.items() for s in seconds_list]
    # glibc gives each thread its own malloc arena; freed frames fragment them, so RSS creeps up by
    # up to a few hundred MB before it levels off. Two arenas show what the runner itself holds.
    runs.append(("none", max(lengths["none"]), {"MALLOC_ARENA_MAX": "2"}))
    for method, seconds, env in runs:
        clip = long_clip(source, seconds, folder)
        out = folder / f"{method}_{seconds}.mp4"
        rss, wall = peak_rss_mb(VST + ["stylize", str(clip), "--method", method, *METHODS[method], "-q",
                                       "-o", str(out)], env)
        frames = seconds * 24
        opts = " ".join(METHODS[method]).replace("starry_night_vangogh_w16", "w16").replace("udnie_picabia", "udnie")
        label = f"{method} (`{opts}`)" + (", `MALLOC_ARENA_MAX=2`" if env else "")
        rows.append(f"| {label} | {seconds} s | {frames} | {rss:.0f} MB | {wall:.1f} s |")
        print(rows[-1], flush=True)
        out.unlink(missing_ok=True)
    return "\n".join(rows)


def seek_table(source: Path, folder: Path, reps: int) -> str:
    times: dict[int, list[float]] = {0: [], 8: []}
    for _ in range(reps):
        for start in (0, 8):  # interleaved: the machine's speed drifts by several percent
            out = folder / f"seek_{start}.mp4"
            _, wall = peak_rss_mb(VST + ["stylize", str(source), "--method", "none", "--start", str(start),
                                         "--duration", "1", "-q", "-o", str(out)])
            times[start].append(wall)
    t0, t8 = statistics.median(times[0]), statistics.median(times[8])
    return ("| `vst stylize clip.mp4 --method none --duration 1` | median of "
            f"{reps} (process start included) |\n|---|---|\n| `--start 0` | {t0:.2f} s |\n| `--start 8` | {t8:.2f} s |\n"
            f"| ratio | **{t8 / t0:.2f}x** |")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="short clips, few repetitions")
    args = parser.parse_args(argv)
    from vstlib import data

    print_provenance()
    source = data.fetch(CLIP)
    if args.quick:
        lengths = {"none": [2, 4], "johnson": [1, 2], "ruder": [1, 2]}
        reps = 2
    else:
        lengths = {"none": [10, 30, 60], "johnson": [5, 10, 20], "gatys": [2, 8, 30], "ruder": [2, 8, 30]}
        reps = 5
    with tempfile.TemporaryDirectory(prefix="vst-bench-runner-") as tmp:
        folder = Path(tmp)
        memory = memory_table(lengths, folder, source)
        seek = seek_table(source, folder, reps)
    body = ("### Peak memory against clip length (`vst stylize`, one process per run)\n\n" + memory +
            "\n\n### `--start`: seeking instead of decoding the frames before it\n\n" + seek + "\n")
    path = write_fragment("runner", body, command="python benchmarks/bench_runner.py" + (" --quick" if args.quick else ""),
                          quick=args.quick)
    print(body)
    print(f"fragment: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
