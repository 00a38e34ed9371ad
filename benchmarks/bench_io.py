"""Seeking with ``vstlib.io.read_frames``: is reading 1 s from the 8th second as cheap as from the start?

Reads 1 s of ``video/bbb_adain_640x360_10s.mp4`` (24 fps, 640x360) from start 8 s and from
start 0 s with ``read_frames`` (PyAV, seeking), and the same two ranges with the old path (an
ffmpeg subprocess piping every frame from the beginning, frames before ``start`` converted and
thrown away), interleaved, ``--reps`` times each; prints medians and the 8 s / 0 s ratio
(target: <= 1.3x), and writes a markdown fragment to ``benchmarks/out/io.md``.

Note: that clip has keyframes at 0 s and 9.79 s only, so any seek to 8 s must decode from 0 s;
the ratio then measures how cheaply the frames before ``start`` are decoded and dropped.
A second file with a keyframe every second (written here with PyAV) shows a seekable case.

    .venv/bin/python benchmarks/bench_io.py [--reps 7]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import av
import imageio_ffmpeg
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from vstlib import data as vdata  # noqa: E402
from vstlib.io import read_frames  # noqa: E402

FPS = 24


def old_read(path: Path, start: int, end: int) -> int:
    """The former read_frames: ffmpeg decodes from frame 0, every frame is piped and converted."""
    frames = imageio_ffmpeg.read_frames(str(path), pix_fmt="rgb24", output_params=["-frames:v", str(end)])
    try:
        meta = next(frames)
        w, h = meta["size"]
        n = 0
        for index, raw in enumerate(frames):
            if index >= end:
                break
            if index >= start:
                np.frombuffer(raw, np.uint8).reshape(h, w, 3).copy()
                n += 1
        return n
    finally:
        frames.close()


def new_read(path: Path, start: int, end: int) -> int:
    return sum(1 for _ in read_frames(path, start=start, end=end))


def keyframe_every_second(path: Path, like: Path) -> Path:
    """``like``'s first 10 s re-encoded with a keyframe every 24 frames (x264, CRF 18)."""
    with av.open(str(path), "w") as out:
        s = out.add_stream("libx264", rate=FPS)
        s.width, s.height, s.pix_fmt = 640, 360, "yuv420p"
        s.codec_context.gop_size = FPS
        s.options = {"crf": "18", "keyint_min": str(FPS), "sc_threshold": "0"}
        for i, frame in enumerate(read_frames(like)):
            vf = av.VideoFrame.from_ndarray(frame, format="rgb24")
            vf.pts, vf.time_base = i, Fraction(1, FPS)
            for p in s.encode(vf):
                out.mux(p)
        for p in s.encode():
            out.mux(p)
    return path


def machine() -> str:
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
        model = next((ln.split(":", 1)[1].strip() for ln in lscpu.splitlines() if ln.startswith("Model name")), "?")
    except OSError:
        model = platform.processor() or "?"
    return f"{model}, {os.cpu_count()} cores"


def commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--reps", type=int, default=7)
    args = p.parse_args()
    clip = vdata.fetch("video/bbb_adain_640x360_10s.mp4")
    with tempfile.TemporaryDirectory() as tmp:
        gop1 = keyframe_every_second(Path(tmp) / "gop1s.mp4", clip)
        cases = [("bbb (keyframes at 0 and 9.79 s)", clip), ("same frames, keyframe every 1 s", gop1)]
        ranges = {"start 0 s": (0, FPS), "start 8 s": (8 * FPS, 9 * FPS)}
        readers = {"read_frames (PyAV, seek)": new_read, "old: ffmpeg pipe, discard": old_read}
        times: dict = {}
        for _ in range(args.reps):  # interleaved: a busy machine slows every variant alike
            for cname, path in cases:
                for rname, fn in readers.items():
                    for gname, (a, b) in ranges.items():
                        t0 = time.perf_counter()
                        n = fn(path, a, b)
                        times.setdefault((cname, rname, gname), []).append(time.perf_counter() - t0)
                        assert n == FPS, (cname, rname, gname, n)
    lines = [f"Machine: {machine()}; commit {commit()}; median of {args.reps} interleaved runs; "
             f"1 s = {FPS} frames of 640x360 RGB.", "",
             "| file | reader | start 0 s | start 8 s | ratio 8 s / 0 s |", "|---|---|---|---|---|"]
    for cname, _ in cases:
        for rname in readers:
            t0 = statistics.median(times[(cname, rname, "start 0 s")])
            t8 = statistics.median(times[(cname, rname, "start 8 s")])
            lines.append(f"| {cname} | {rname} | {t0 * 1000:.0f} ms | {t8 * 1000:.0f} ms | {t8 / t0:.2f}x |")
    text = "\n".join(lines) + "\n"
    print(text)
    out = ROOT / "benchmarks" / "out"
    out.mkdir(parents=True, exist_ok=True)
    (out / "io.md").write_text("## Seeking in read_frames\n\n" + text)
    print(f"wrote {out / 'io.md'}")


if __name__ == "__main__":
    main()
