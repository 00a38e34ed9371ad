"""Regression tests for faults found in review (written before the fixes: most fail on the code
they were written against; see each test's docstring for what it guards).

Every case drives the ``vst`` command line, in-process through ``vstlib.cli.main`` or as a real
subprocess, on tiny inputs made here (a 128x72 clip of 1 s cut from a sample, or built with
PyAV), with ``--iters 1`` or ``--method johnson`` and a shipped model. The wanted behaviour of a
mistake or a fault: exit status 2, ONE line on stderr saying what is wrong (no traceback), and
nothing written or touched. Media are checked with PyAV (decoded frames, stream durations), not
with vstlib's own probing.
"""

from __future__ import annotations

import errno
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import zlib
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vstlib import cli

pytestmark = pytest.mark.usefixtures("one_torch_thread")

STYLE = "udnie_picabia"
MODEL = "starry_night_vangogh_w16"  # the smallest shipped network: fastest on a CPU
SOURCE = "video/bbb_adain_640x360_10s.mp4"


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def run_main(capsys, *argv) -> tuple[int, str, str]:
    """(exit status, stdout, stderr) of ``vst ARGV`` run in-process."""
    try:
        code = cli.main([str(a) for a in argv])
    except SystemExit as exc:  # argparse
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def vst_cmd(*argv) -> list[str]:
    return [sys.executable, "-m", "vstlib", *[str(a) for a in argv]]


def sub_env() -> dict:
    """The environment for ``vst`` subprocesses: one torch thread each (two runs at once on two
    cores otherwise spin-wait for each other; see conftest.one_torch_thread)."""
    return {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def run_vst(cwd: Path, *argv, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(vst_cmd(*argv), cwd=cwd, capture_output=True, text=True, timeout=timeout, env=sub_env())


def assert_one_error_line(err: str, *needles: str) -> str:
    assert "Traceback" not in err, err
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("vst") and "error" in lines[0], err
    for needle in needles:
        assert needle in lines[0], (needle, err)
    return lines[0]


def names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def snapshot(path: Path) -> tuple:
    st = path.stat()
    return path.read_bytes(), st.st_mtime_ns, st.st_ino


def ffmpeg() -> str:
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def run_ffmpeg(*args) -> None:
    subprocess.run([ffmpeg(), "-hide_banner", "-nostdin", "-y", "-loglevel", "error", *map(str, args)], check=True,
                   timeout=120)


def media(path: Path) -> dict:
    """What a media file holds, from PyAV: decoded video frames, size, video duration (stream
    duration, else last frame's end), audio streams and each one's decoded duration."""
    import av

    with av.open(str(path)) as c:
        vs = c.streams.video[0]
        frames = list(c.decode(vs))
        width, height = frames[0].width, frames[0].height
        if vs.duration is not None:
            vdur = float(vs.duration * vs.time_base)
        else:
            last = frames[-1]
            vdur = float(last.pts * last.time_base) + (1 / float(vs.average_rate) if vs.average_rate else 0)
    audio = []
    with av.open(str(path)) as c:
        n_audio = len(c.streams.audio)
    for k in range(n_audio):
        with av.open(str(path)) as c:
            stream = c.streams.audio[k]
            audio.append(sum(f.samples for f in c.decode(stream)) / stream.rate)
    return {"frames": len(frames), "width": width, "height": height, "duration": vdur, "audio": audio}


def reported_frames(out: str) -> int:
    match = re.search(r"(\d+) frames", out)
    assert match, out
    return int(match.group(1))


# --------------------------------------------------------------------------------------------
# Inputs (session-wide, small)
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def inputs(tmp_path_factory, data_dir) -> Path:
    return tmp_path_factory.mktemp("fault_inputs")


@pytest.fixture(scope="session")
def clip(inputs, data_dir) -> Path:
    """1.0 s of the sample clip at 128x72, 24 fps (24 frames), with its AAC audio."""
    path = inputs / "clip.mp4"
    run_ffmpeg("-i", data_dir / SOURCE, "-t", "1", "-vf", "scale=128:72", "-c:v", "libx264", "-c:a", "aac", path)
    return path


@pytest.fixture(scope="session")
def clip_640(inputs, data_dir) -> Path:
    """0.25 s of the sample clip at its own 640x360 (6 frames), with audio."""
    path = inputs / "clip_640.mp4"
    run_ffmpeg("-i", data_dir / SOURCE, "-t", "0.25", "-c:v", "libx264", "-c:a", "aac", path)
    return path


@pytest.fixture(scope="session")
def photo(inputs) -> Path:
    """skimage's chelsea resized to 64x43."""
    from vstlib import data

    path = inputs / "photo.png"
    Image.fromarray(data.content_photo("chelsea")).resize((64, 43), Image.LANCZOS).save(path)
    return path


# --------------------------------------------------------------------------------------------
# 1. -o naming an input must be refused (the input, the style, through a symlink or ../)
# --------------------------------------------------------------------------------------------


def _overwrite_case(kind: str, workdir: Path, photo: Path, clip: Path) -> tuple[list, Path]:
    """(argv, the file that must stay untouched) for one way of naming an input as -o."""
    shutil.copy(photo, workdir / "photo.png")
    shutil.copy(clip, workdir / "clip.mp4")
    fast = ["--iters", "1", "--max-side", "32", "-q"]
    if kind == "image gatys":
        return ["stylize", "photo.png", "--style", STYLE, *fast, "-o", "photo.png"], workdir / "photo.png"
    if kind == "image johnson":
        return ["stylize", "photo.png", "--method", "johnson", "--model", MODEL, "--max-side", "32", "-q", "-o", "photo.png"], \
            workdir / "photo.png"
    if kind == "image through a symlink":
        (workdir / "link.png").symlink_to(workdir / "photo.png")
        return ["stylize", "link.png", "--style", STYLE, *fast, "-o", "photo.png"], workdir / "photo.png"
    if kind == "image spelled ./sub/../":
        (workdir / "sub").mkdir()
        return ["stylize", "photo.png", "--style", STYLE, *fast, "-o", "./sub/../photo.png"], workdir / "photo.png"
    if kind == "image absolute path":
        return ["stylize", "photo.png", "--style", STYLE, *fast, "-o", workdir / "photo.png"], workdir / "photo.png"
    if kind == "style file":
        shutil.copy(photo, workdir / "style.png")
        return ["stylize", "photo.png", "--style", "style.png", *fast, "-o", "style.png"], workdir / "style.png"
    if kind == "video gatys":
        return ["stylize", "clip.mp4", "--style", STYLE, "--duration", "0.125", *fast, "-o", "clip.mp4"], \
            workdir / "clip.mp4"
    if kind == "video johnson":
        return ["stylize", "clip.mp4", "--method", "johnson", "--model", MODEL, "--max-side", "32", "-q", "-o", "clip.mp4"], \
            workdir / "clip.mp4"
    if kind == "video johnson through a symlink":
        (workdir / "link.mp4").symlink_to(workdir / "clip.mp4")
        return ["stylize", "link.mp4", "--method", "johnson", "--model", MODEL, "--max-side", "32", "-q", "-o", "clip.mp4"], \
            workdir / "clip.mp4"
    raise AssertionError(kind)


@pytest.mark.parametrize("kind", ["image gatys", "image johnson", "image through a symlink", "image spelled ./sub/../",
                                  "image absolute path", "style file", "video gatys", "video johnson",
                                  "video johnson through a symlink"])
def test_output_that_is_an_input_is_refused(kind, capsys, workdir, photo, clip):
    argv, victim = _overwrite_case(kind, workdir, photo, clip)
    before, listing = snapshot(victim), names(workdir)
    code, out, err = run_main(capsys, *argv)
    assert code == 2, (out, err)
    assert_one_error_line(err)
    assert snapshot(victim) == before  # same bytes, same mtime, same inode
    assert names(workdir) == listing  # nothing written, no cache folder, no temp file


# --------------------------------------------------------------------------------------------
# 2. A full disk: one line, exit 2, finished work kept, a rerun after freeing space resumes
# --------------------------------------------------------------------------------------------


def _no_space(monkeypatch, after: int = 0) -> list:
    """PIL's Image.save raises ENOSPC from its (after+1)-th call on; returns the call list."""
    calls = []
    real = Image.Image.save

    def save(self, fp, *args, **kwargs):
        calls.append(str(fp))
        if len(calls) > after:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(fp))
        return real(self, fp, *args, **kwargs)

    monkeypatch.setattr(Image.Image, "save", save)
    return calls


def method_args(method: str) -> list[str]:
    """The quickest options of each method (an option of another method is refused)."""
    return {"gatys": ["--style", STYLE, "--iters", "1"],
            "ruder": ["--style", STYLE, "--iters", "1", "--frame-iters", "1", "--flow", "dis"],
            "johnson": ["--model", MODEL]}[method]


def _says_disk_full(line: str) -> bool:
    return bool(re.search(r"disk.*full|no space|space left|free (some )?space", line, re.I))


@pytest.mark.parametrize("method", ["gatys", "johnson"])
def test_disk_full_saving_an_image(method, capsys, workdir, photo, monkeypatch):
    argv = ["stylize", photo, "--method", method, *method_args(method), "--max-side", "32", "-q", "-o", "out.png"]
    with monkeypatch.context() as mp:
        _no_space(mp)
        code, out, err = run_main(capsys, *argv)
    assert code == 2, (out, err)
    line = assert_one_error_line(err)
    assert _says_disk_full(line), line
    assert names(workdir) == []  # no output, no temp file
    code, out, err = run_main(capsys, *argv)  # "space freed"
    assert code == 0, err
    assert names(workdir) == ["out.png"]


def test_disk_full_caching_video_frames_then_resume(capsys, workdir, clip, monkeypatch):
    """ENOSPC while encoding the 3rd finished frame (a part per frame): one line, and the 2
    finished parts are reused by the rerun."""
    from vstlib import runner
    from vstlib.io import VideoWriter

    monkeypatch.setattr(runner, "PART_SECONDS", 1 / 24)
    argv = ["stylize", clip, "--style", STYLE, "--iters", "1", "--max-side", "32", "--duration", "0.25", "-q",
            "-o", "out.mp4"]
    with monkeypatch.context() as mp:
        calls, real = [], VideoWriter.write

        def write(self, frame, *args, **kwargs):
            calls.append(1)
            if len(calls) > 2:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(self.path))
            return real(self, frame, *args, **kwargs)

        mp.setattr(VideoWriter, "write", write)
        code, out, err = run_main(capsys, *argv)
    assert code == 2, (out, err)
    line = assert_one_error_line(err)
    assert _says_disk_full(line), line
    assert "out.mp4" not in names(workdir)
    code, out, err = run_main(capsys, *argv)  # "space freed"
    assert code == 0, err
    assert re.search(r"\b2\b[^,)]*resumed|resumed[^,)]*\b2\b", out), out  # the finished work was kept
    assert media(workdir / "out.mp4")["frames"] == 6
    assert names(workdir) == ["out.mp4"]


# --------------------------------------------------------------------------------------------
# 3. A style image that decodes to gigabytes (20000x20000 px in a small PNG)
# --------------------------------------------------------------------------------------------


def _huge_solid_png(path: Path, side: int = 20000) -> None:
    """A side x side PNG of one colour (8-bit palette, about 390 KB), written row by row: cheap to
    make (2 s, a few MB of memory), but 1.2 GB as RGB bytes and 4.8 GB as float32 once decoded."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return len(body).to_bytes(4, "big") + kind + body + zlib.crc32(kind + body).to_bytes(4, "big")

    row = b"\x00" * (1 + side)  # filter byte + one palette index per pixel, all colour 0
    comp = zlib.compressobj(6)
    idat = b"".join(comp.compress(row) for _ in range(side)) + comp.flush()
    header = side.to_bytes(4, "big") * 2 + bytes([8, 3, 0, 0, 0])  # 8 bits, palette
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"PLTE", bytes([200, 60, 30, 0, 0, 0]))
                     + chunk(b"IDAT", idat) + chunk(b"IEND", b""))


def _run_watched(cmd: list, cwd: Path, limit_bytes: int, timeout: float = 300) -> tuple[int, str, str, int, bool]:
    """Run cmd; kill it if its resident memory passes limit_bytes. Returns (status, stdout,
    stderr, peak RSS in bytes from wait4's rusage, killed)."""
    import tempfile

    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(cmd, cwd=cwd, stdout=out, stderr=err, env=sub_env())
        killed, t0, status, usage = False, time.monotonic(), None, None
        while status is None:
            pid, st, ru = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                status, usage = st, ru
                break
            try:
                with open(f"/proc/{proc.pid}/status") as f:
                    rss = next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmRSS:"))
            except (OSError, StopIteration):
                rss = 0
            if (rss > limit_bytes or time.monotonic() - t0 > timeout) and not killed:
                os.kill(proc.pid, signal.SIGKILL)
                killed = True
            time.sleep(0.02)
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return (proc.returncode, out.read().decode(errors="replace"), err.read().decode(errors="replace"),
                usage.ru_maxrss * 1024, killed)


def test_huge_style_image_does_not_use_gigabytes(tmp_path, photo, data_dir):
    style = tmp_path / "huge.png"
    t0 = time.monotonic()
    _huge_solid_png(style)
    assert time.monotonic() - t0 < 10 and style.stat().st_size < 2_000_000  # the test's own input is cheap
    assert style.read_bytes()[16:24] == (20000).to_bytes(4, "big") * 2  # IHDR: 20000 x 20000
    work = tmp_path / "work"
    work.mkdir()
    limit = 3 * 1024**3
    code, out, err, peak, killed = _run_watched(
        vst_cmd("stylize", photo, "--style", style, "--iters", "1", "--max-side", "32", "-q", "-o", "out.png"),
        work, limit)
    assert not killed, f"killed at more than {limit / 1024**3:.0f} GB resident"
    assert peak < limit, peak
    if code == 0:  # loaded reduced
        assert names(work) == ["out.png"]
    else:  # refused, saying why
        assert code == 2, err
        assert_one_error_line(err, "huge.png")
        assert names(work) == []


# --------------------------------------------------------------------------------------------
# 4. A truncated video: one behaviour for every method
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def truncated(inputs, data_dir) -> dict:
    """Clips with their index first (faststart) cut to half their bytes: the index announces more
    frames than the file still holds."""
    made = {}
    for name, seconds in (("short", "0.25"), ("longer", "0.5")):
        whole = inputs / f"whole_{name}.mp4"
        run_ffmpeg("-i", data_dir / SOURCE, "-t", seconds, "-vf", "scale=128:72", "-c:v", "libx264", "-c:a", "aac",
                   "-movflags", "+faststart", whole)
        data = whole.read_bytes()
        made[name] = inputs / f"cut_{name}.mp4"
        made[name].write_bytes(data[:len(data) // 2])
    return made


@pytest.mark.parametrize("which", ["short", "longer"])
@pytest.mark.parametrize("method", ["gatys", "ruder", "johnson"])
def test_truncated_video_same_behaviour_for_every_method(method, which, capsys, workdir, truncated):
    """Either refused in one line naming the input (nothing left behind), or written with the
    printed frame count equal to the frames in the output."""
    source = truncated[which]
    code, out, err = run_main(capsys, "stylize", source, "--method", method, *method_args(method), "--max-side", "32",
                              "-q", "-o", "out.mp4")
    if code == 0:
        assert reported_frames(out) == media(workdir / "out.mp4")["frames"], out
        assert names(workdir) == ["out.mp4"]
    else:
        assert code == 2, err
        assert_one_error_line(err, source.name)
        assert names(workdir) == []  # no output, no frame cache


# --------------------------------------------------------------------------------------------
# 5. Two runs writing the same output at once
# --------------------------------------------------------------------------------------------


def _temp_file_beside(work: Path) -> bool:
    with os.scandir(work) as entries:
        return any("tmp" in e.name.lower() and e.is_file() for e in entries)


@pytest.mark.parametrize("when", ["first has started", "first is encoding"])
def test_two_runs_with_the_same_output(when, tmp_path, clip, data_dir):
    """The second run starts once the first has created its work folder, or once it writes the
    final video (a temp file beside the output). Either the second refuses in one line saying that
    another run writes out.mp4, or both succeed; the output is whole and nothing is left behind."""
    work = tmp_path / "work"
    work.mkdir()
    argv = ["stylize", clip, "--style", STYLE, "--iters", "2", "--max-side", "32", "-q", "-o", "out.mp4"]
    ready = (lambda: any(work.iterdir())) if when == "first has started" else (lambda: _temp_file_beside(work))
    first = subprocess.Popen(vst_cmd(*argv), cwd=work, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env=sub_env())
    try:
        deadline = time.monotonic() + 120
        while not ready() and first.poll() is None and time.monotonic() < deadline:
            time.sleep(0.001)
        assert first.poll() is None, f"the first run ended before the second could start: {first.stderr.read()}"
        second = run_vst(work, *argv)
        out1, err1 = first.communicate(timeout=300)
    finally:
        if first.poll() is None:
            first.kill()
    assert first.returncode == 0, err1
    if second.returncode != 0:
        assert second.returncode == 2, second.stderr
        line = assert_one_error_line(second.stderr, "out.mp4")
        assert re.search(r"another|already", line), line
    assert media(work / "out.mp4")["frames"] == 24
    assert names(work) == ["out.mp4"]


# --------------------------------------------------------------------------------------------
# 6. Messages that say the wrong thing
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("folder,output", [("photos", "out.png"), ("clip.mp4", "out.mp4")])
def test_folder_as_input_says_folder(folder, output, capsys, workdir):
    (workdir / folder).mkdir()
    code, out, err = run_main(capsys, "stylize", folder, "--style", STYLE, "-o", output)
    assert code == 2
    line = assert_one_error_line(err, folder)
    assert "folder" in line and "not found" not in line, line
    assert names(workdir) == [folder]


def test_start_inside_the_last_frame(capsys, workdir, clip):
    """The clip is 24 frames (1.0 s); the last frame shows from 0.958 s to 1.0 s, so --start 0.99 is
    inside the clip: one frame, not 'past its end'."""
    code, out, err = run_main(capsys, "stylize", clip, "--method", "johnson", "--model", MODEL, "--max-side", "32",
                              "--start", "0.99", "-q", "-o", "out.mp4")
    assert code == 0, err
    assert media(workdir / "out.mp4")["frames"] == 1


def test_overflow_message_names_only_existing_options(capsys, workdir, photo):
    code, out, err = run_main(capsys, "stylize", photo, "--style", STYLE, "--style-weight", "1e38", "--iters", "1",
                              "--max-side", "32", "-q", "-o", "out.png")
    assert code == 2
    line = assert_one_error_line(err)
    assert "learning rate" not in line, line  # stylize has no --lr
    code, help_text, _ = run_main(capsys, "stylize", "--help")
    for option in re.findall(r"--[a-z][a-z-]*", line):
        assert option in help_text, (option, line)
    assert names(workdir) == []


# --------------------------------------------------------------------------------------------
# 7. Leftovers after a kill, a second audio track, --every larger than the clip
# --------------------------------------------------------------------------------------------


def test_rerun_after_kill_during_final_encode_leaves_only_the_output(tmp_path, clip, data_dir):
    work = tmp_path / "work"
    work.mkdir()
    argv = ["stylize", clip, "--style", STYLE, "--iters", "1", "--max-side", "32", "-q", "-o", "out.mp4"]
    proc = subprocess.Popen(vst_cmd(*argv), cwd=work, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            env=sub_env())
    caught = False
    deadline = time.monotonic() + 240
    try:
        while proc.poll() is None and time.monotonic() < deadline:
            with os.scandir(work) as entries:  # a temp file beside the output: the final encode began
                if any("tmp" in e.name.lower() and e.is_file() for e in entries):
                    os.kill(proc.pid, signal.SIGKILL)
                    caught = True
                    break
            time.sleep(0.001)
    finally:
        if proc.poll() is None and not caught:
            proc.kill()
        proc.wait()
    assert caught, f"the final encode was not caught (exit {proc.returncode}): {proc.stderr.read()!r}"
    assert "out.mp4" not in names(work)
    rerun = run_vst(work, *argv)
    assert rerun.returncode == 0, rerun.stderr
    assert names(work) == ["out.mp4"]  # no hidden cache folder, no *.tmp* file
    assert media(work / "out.mp4")["frames"] == 24


@pytest.fixture(scope="session")
def two_audio_clip(inputs, clip) -> Path:
    path = inputs / "two_audio.mp4"
    run_ffmpeg("-i", clip, "-f", "lavfi", "-i", "sine=frequency=440:duration=1:sample_rate=44100",
               "-map", "0:v", "-map", "0:a", "-map", "1:a", "-c:v", "copy", "-c:a", "aac", "-shortest", path)
    assert len(media(path)["audio"]) == 2
    return path


def test_second_audio_track_kept_or_reported(capsys, workdir, two_audio_clip):
    code, out, err = run_main(capsys, "stylize", two_audio_clip, "--method", "johnson", "--model", MODEL,
                              "--max-side", "32", "-q", "-o", "out.mp4")
    assert code == 0, err
    tracks = media(workdir / "out.mp4")["audio"]
    if len(tracks) != 2:
        assert len(tracks) == 1
        said = (out + err).lower()
        assert "audio" in said and "track" in said, (out, err)  # says which one is kept


def test_every_larger_than_the_clip_keeps_its_duration(capsys, workdir, inputs, data_dir):
    short = inputs / "clip_1.2s.mp4"
    if not short.exists():
        run_ffmpeg("-i", data_dir / SOURCE, "-t", "1.2", "-vf", "scale=128:72", "-c:v", "libx264", "-c:a", "aac", short)
    source = media(short)
    assert source["frames"] in (28, 29) and abs(source["duration"] - 1.2) < 0.05
    code, out, err = run_main(capsys, "stylize", short, "--method", "johnson", "--model", MODEL, "--max-side", "32",
                              "--every", "1000", "-q", "-o", "out.mp4")
    assert code == 0, err
    result = media(workdir / "out.mp4")
    assert result["frames"] >= 1
    assert abs(result["duration"] - source["duration"]) <= 0.1, result


# --------------------------------------------------------------------------------------------
# 8. A variable-frame-rate input keeps its duration and its audio
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def vfr_clip(inputs) -> Path:
    """22 frames over 2.00 s at irregular times (40 and 140 ms alternately, the last 160 ms), and
    2.0 s of audio."""
    import av

    path = inputs / "vfr.mp4"
    durations = [40, 140] * 11
    durations[-1] = 160
    assert sum(durations) == 2000
    with av.open(str(path), "w") as c:
        v = c.add_stream("libx264", rate=25)
        v.width, v.height, v.pix_fmt = 128, 72, "yuv420p"
        v.codec_context.time_base = Fraction(1, 1000)
        v.time_base = Fraction(1, 1000)
        a = c.add_stream("aac", rate=44100)
        a.layout = "mono"
        pts = 0
        for i, d in enumerate(durations):
            image = np.zeros((72, 128, 3), np.uint8)
            image[:, :, 0] = 10 * i
            image[:, (5 * i) % 128:, 1] = 200
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts, frame.time_base = pts, Fraction(1, 1000)
            pts += d
            for packet in v.encode(frame):
                c.mux(packet)
        for packet in v.encode():
            c.mux(packet)
        t = np.arange(2 * 44100) / 44100
        wave = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
        for k in range(0, wave.size, 1024):
            frame = av.AudioFrame.from_ndarray(wave[None, k:k + 1024], format="fltp", layout="mono")
            frame.sample_rate, frame.pts, frame.time_base = 44100, k, Fraction(1, 44100)
            for packet in a.encode(frame):
                c.mux(packet)
        for packet in a.encode():
            c.mux(packet)
    return path


def test_variable_frame_rate_keeps_duration_and_audio(capsys, workdir, vfr_clip):
    source = media(vfr_clip)
    assert source["frames"] == 22 and abs(source["audio"][0] - 2.0) < 0.05, source
    code, out, err = run_main(capsys, "stylize", vfr_clip, "--method", "johnson", "--model", MODEL,
                              "--max-side", "32", "-q", "-o", "out.mp4")
    assert code == 0, err
    result = media(workdir / "out.mp4")
    frame = 1 / (result["frames"] / result["duration"])  # one output frame, in seconds
    assert abs(result["duration"] - 2.0) <= frame + 0.01, result
    assert len(result["audio"]) == 1 and abs(result["audio"][0] - 2.0) <= 0.05, result


# --------------------------------------------------------------------------------------------
# 9. Default output names carry the options that differ from the defaults
# --------------------------------------------------------------------------------------------


def test_default_names_differ_with_the_options(capsys, workdir, photo):
    common = ["stylize", photo, "--style", STYLE, "--iters", "1", "--max-side", "32", "-q"]
    for extra in ([], ["--style-loss", "wasserstein"], ["--preserve-color", "luminance"]):
        code, out, err = run_main(capsys, *common, *extra)
        assert code == 0, err
    written = names(workdir)
    assert len(written) == 3 and all(n.endswith(".png") for n in written), written


# --------------------------------------------------------------------------------------------
# 10-12. data list, --help without torch, johnson's default size and the printed size
# --------------------------------------------------------------------------------------------


def test_data_list_keeps_license_version(capsys, workdir):
    code, out, err = run_main(capsys, "data", "list")
    assert code == 0, err
    assert "CC-BY 3.0" in out
    assert not re.search(r"CC-BY 3(?!\.0)", out)


def test_help_does_not_import_torch(tmp_path):
    script = ("import sys\nfrom vstlib.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
              "print('TORCH' if 'torch' in sys.modules else 'NO-TORCH')\n")
    proc = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=120,
                          env=sub_env())
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "NO-TORCH"


def test_johnson_video_keeps_the_input_size_by_default(capsys, workdir, clip_640):
    code, out, err = run_main(capsys, "stylize", clip_640, "--method", "johnson", "--model", MODEL, "-q",
                              "-o", "out.mp4")
    assert code == 0, err
    result = media(workdir / "out.mp4")
    assert (result["width"], result["height"]) == (640, 360)
    assert "640x360" in out, out


@pytest.mark.parametrize("method", ["gatys", "johnson"])
def test_video_run_prints_the_size_it_writes(method, capsys, workdir, clip):
    code, out, err = run_main(capsys, "stylize", clip, "--method", method, *method_args(method), "--max-side", "32",
                              "--duration", "0.125", "-q", "-o", "out.mp4")
    assert code == 0, err
    assert "32x18" in out, out
    result = media(workdir / "out.mp4")
    assert (result["width"], result["height"]) == (32, 18)
