"""Tests for the ``vst`` command line (vstlib.cli).

Most cases call ``vstlib.cli.main([...])`` in-process (argparse's exits are caught as SystemExit);
a few go through a real subprocess (``python -m vstlib`` and the ``vst`` console script) to check
exit statuses and that a user mistake prints exactly one line on stderr and no traceback.
Every test runs in its own empty folder, so "nothing was written" means the folder holds only
what the test put there.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import vstlib
from vstlib import cli, data, gatys, runner
from vstlib.engine import OptimResult
from vstlib.io import probe_video

pytestmark = pytest.mark.usefixtures("one_torch_thread")

VIDEO = "video/bbb_adain_640x360_10s.mp4"  # a registry name: resolved through VSTLIB_DATA_DIR
STYLE = "udnie_picabia"


def run_main(capsys, *argv: str) -> tuple[int, str, str]:
    """(exit status, stdout, stderr) of ``vst ARGV`` run in-process."""
    try:
        code = cli.main([str(a) for a in argv])
    except SystemExit as exc:  # argparse: --help, --version, usage errors
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_error_line(err: str, *needles: str) -> None:
    assert "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("vst") and "error" in lines[0], err
    for needle in needles:
        assert needle in lines[0], (needle, err)


def folder_names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


@pytest.fixture(scope="session")
def chelsea_png(tmp_path_factory) -> Path:
    """skimage's chelsea (300x451) resized to 64 px wide: 64x43."""
    path = tmp_path_factory.mktemp("inputs") / "chelsea.png"
    Image.fromarray(data.content_photo("chelsea")).resize((64, 43), Image.LANCZOS).save(path)
    return path


@pytest.fixture
def fake_stylizer(monkeypatch):
    """Replace the optimization by 'return the content' and count the calls."""
    calls = []

    def call(stylizer, content, init=None, callback=None, progress=None):
        calls.append(tuple(content.shape))
        if progress is not None:
            progress.update(stylizer.config.iters)
        return OptimResult(image=content.clone(), losses=[1.0], times=[0.01], iterations=stylizer.config.iters)

    monkeypatch.setattr(gatys.GatysStylizer, "__call__", call)
    return calls


# --------------------------------------------------------------------------------------------
# Help and version
# --------------------------------------------------------------------------------------------


def test_help(capsys):
    code, out, _ = run_main(capsys, "--help")
    assert code == 0
    for word in ("stylize", "demo", "data", "examples:", "starry_night_vangogh", "--version"):
        assert word in out


def test_stylize_help(capsys):
    code, out, _ = run_main(capsys, "stylize", "--help")
    assert code == 0
    for option in ("--style", "--method", "--output", "--max-side", "--size", "--start", "--duration", "--every",
                   "--iters", "--content-weight", "--style-weight", "--device", "--cache-dir", "--keep-cache",
                   "--quiet", "resumes", "--style-loss", "wasserstein", "--preserve-color", "luminance", "histogram"):
        assert option in out, option


def test_demo_help(capsys):
    code, out, _ = run_main(capsys, "demo", "--help")
    assert code == 0
    for text in ("--output", "vst_demo.mp4", "--model", "starry_night_vangogh_w16", "--duration", "(default 3)",
                 "own resolution"):
        assert text in out, text


def test_no_command_prints_help(capsys):
    code, out, _ = run_main(capsys)
    assert code == 2 and "stylize" in out


def test_data_without_action(capsys, workdir):
    code, _, err = run_main(capsys, "data")
    assert code == 2
    assert_one_error_line(err, "vst data list")


# --------------------------------------------------------------------------------------------
# User mistakes: one line, exit status 2, nothing written
# --------------------------------------------------------------------------------------------


def _text_file(name: str, content: bytes = b"this is not what the name says\n"):
    def make(folder: Path) -> Path:
        path = folder / name
        path.write_bytes(content)
        return path

    return make


# (argv with {png}/{mp4}/{file} placeholders, files to create, words the error line must contain)
BAD_INPUTS = {
    "missing input": (["stylize", "nope.mp4", "--style", STYLE, "-o", "out.mp4"], [], ["nope.mp4"]),
    "missing image input": (["stylize", "nope.png", "--style", STYLE, "-o", "out.png"], [], ["nope.png", "not found"]),
    "text file named .mp4": (["stylize", "{file}", "--style", STYLE, "-o", "out.mp4"],
                             [_text_file("fake.mp4")], ["cannot read video", "fake.mp4"]),
    "empty .mp4": (["stylize", "{file}", "--style", STYLE, "-o", "out.mp4"],
                   [_text_file("empty.mp4", b"")], ["cannot read video", "empty.mp4"]),
    "text file named .jpg as style (image)": (["stylize", "{png}", "--style", "{file}", "-o", "out.png"],
                                               [_text_file("style.jpg")], ["cannot read image", "style.jpg"]),
    "text file named .jpg as style (video)": (["stylize", VIDEO, "--style", "{file}", "-o", "out.mp4",
                                               "--duration", "0.1"],
                                               [_text_file("style.jpg")], ["cannot read image", "style.jpg"]),
    "text file named .png as input": (["stylize", "{file}", "--style", STYLE, "-o", "out.png"],
                                      [_text_file("photo.png")], ["cannot read image", "photo.png"]),
    "unknown style name": (["stylize", "{png}", "--style", "mona_lisa", "-o", "out.png"], [],
                           ["mona_lisa", "starry_night_vangogh"]),
    "unknown method": (["stylize", "{png}", "--style", STYLE, "--method", "nosuchmethod", "-o", "out.png"], [],
                       ["unknown method 'nosuchmethod'", "gatys, ruder, johnson"]),
    "johnson without a model": (["stylize", "{png}", "--method", "johnson", "-o", "out.png"], [],
                                ["--model", "shipped"]),
    "johnson with a missing model": (["stylize", "{png}", "--method", "johnson", "--model", "nope.pth", "-o", "out.png"],
                                     [], ["no model 'nope.pth'"]),
    "gatys without a style": (["stylize", "{png}", "-o", "out.png"], [], ["--style"]),
    "train output not .pth": (["train", "--style", STYLE, "-o", "model.pt"], [], ["must end in .pth"]),
    "train unknown content layer": (["train", "--style", STYLE, "-o", "m.pth", "--content-layers", "relu9_9"], [],
                                    ["relu9_9"]),
    "train missing data": (["train", "--style", STYLE, "-o", "m.pth", "--data", "no_such_folder"], [],
                           ["no_such_folder", "not found"]),
    "ruder on an image": (["stylize", "{png}", "--style", STYLE, "--method", "ruder", "-o", "out.png"], [],
                          ["--method ruder needs a video"]),
    "bad long-term offsets": (["stylize", "{png}", "--style", STYLE, "--long-term", "2,4", "-o", "out.png"], [],
                              ["offsets must increase and start at 1"]),
    "iters 0": (["stylize", "{png}", "--style", STYLE, "--iters", "0"], [], ["--iters", "out of range"]),
    "negative content weight": (["stylize", "{png}", "--style", STYLE, "--content-weight", "-1"], [],
                                ["--content-weight", "out of range"]),
    "nan style weight": (["stylize", "{png}", "--style", STYLE, "--style-weight", "nan"], [], ["--style-weight"]),
    "style scale 100": (["stylize", "{png}", "--style", STYLE, "--style-scale", "100"], [],
                        ["--style-scale", "out of range"]),
    "max side 3": (["stylize", "{png}", "--style", STYLE, "--max-side", "3"], [], ["--max-side", "out of range"]),
    "size 10x10": (["stylize", "{png}", "--style", STYLE, "--size", "10x10"], [], ["--size", "between 16 and 8192"]),
    "size abc": (["stylize", "{png}", "--style", STYLE, "--size", "abc"], [], ["--size", "WIDTHxHEIGHT"]),
    "size and max side": (["stylize", "{png}", "--style", STYLE, "--size", "64x48", "--max-side", "32"], [],
                          ["not allowed with"]),
    "every 0": (["stylize", VIDEO, "--style", STYLE, "--every", "0"], [], ["--every"]),
    "duration 0": (["stylize", VIDEO, "--style", STYLE, "--duration", "0"], [], ["--duration"]),
    "bad scales": (["stylize", "{png}", "--style", STYLE, "--scales", "1,0.5"], [], ["--scales"]),
    "start past the end": (["stylize", VIDEO, "--style", STYLE, "--start", "60", "-o", "out.mp4"], [],
                           ["past its end"]),
    "output folder missing": (["stylize", "{png}", "--style", STYLE, "-o", "missing/out.png"], [],
                              ["missing", "does not exist"]),
    "output folder missing (video)": (["stylize", VIDEO, "--style", STYLE, "-o", "missing/out.mp4"], [],
                                      ["missing", "does not exist"]),
    "output is a folder": (["stylize", "{png}", "--style", STYLE, "-o", "taken.png"],
                           [lambda folder: (folder / "taken.png").mkdir()], ["taken.png", "folder"]),
    "video output is a folder": (["stylize", VIDEO, "--style", STYLE, "-o", "taken.mp4"],
                                 [lambda folder: (folder / "taken.mp4").mkdir()], ["taken.mp4", "folder"]),
    "video input, image output": (["stylize", VIDEO, "--style", STYLE, "-o", "out.png"], [], ["out.png", ".mp4"]),
    "image input, video output": (["stylize", "{png}", "--style", STYLE, "-o", "out.mp4"], [], ["out.mp4", ".png"]),
    "image input, unknown extension": (["stylize", "{png}", "--style", STYLE, "-o", "out.xyz"], [], ["out.xyz"]),
    "unknown device": (["stylize", "{png}", "--style", STYLE, "--device", "tpu", "-o", "out.png"], [], ["tpu"]),
    "cache dir is a file": (["stylize", VIDEO, "--style", STYLE, "--cache-dir", "{file}", "-o", "out.mp4",
                             "--duration", "0.1"], [_text_file("cache")], ["cache", "resume folder"]),
    "unknown option": (["stylize", "{png}", "--style", STYLE, "--itres", "3"], [], ["--itres"]),
    "unknown style loss": (["stylize", "{png}", "--style", STYLE, "--style-loss", "histogram"], [],
                           ["--style-loss", "gram", "wasserstein"]),
    "unknown colour mode": (["stylize", "{png}", "--style", STYLE, "--preserve-color", "lab"], [],
                            ["--preserve-color", "luminance", "histogram"]),
    "unknown data file": (["data", "fetch", "style/mona_lisa.jpg"], [], ["mona_lisa", "vst data list"]),
}
if not torch.cuda.is_available():
    BAD_INPUTS["cuda without a GPU"] = (["stylize", "{png}", "--style", STYLE, "--device", "cuda", "-o", "out.png"],
                                        [], ["cuda", "--device cpu"])


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_is_one_line(case, capsys, workdir, chelsea_png, fake_stylizer):
    argv, makers, needles = BAD_INPUTS[case]
    made = [make(workdir) for make in makers]
    file = next((m for m in made if isinstance(m, Path)), None)
    argv = [a.format(png=chelsea_png, file=file) for a in argv]
    before = folder_names(workdir)

    code, out, err = run_main(capsys, *argv)

    assert code == 2
    assert_one_error_line(err, *needles)
    assert out == ""
    assert folder_names(workdir) == before  # no output, no temp file, no frame cache
    assert fake_stylizer == []  # failed before any stylization


def test_loss_overflow_is_one_line(capsys, workdir, chelsea_png):
    """Absurd weights make the loss overflow: an error line, not a FloatingPointError traceback."""
    code, out, err = run_main(capsys, "stylize", chelsea_png, "--style", STYLE, "--style-weight", "1e38",
                              "--iters", "1", "--max-side", "32", "-q", "-o", "out.png")
    assert code == 2
    assert_one_error_line(err, "loss became inf", "weights")
    assert folder_names(workdir) == []


def test_too_small_for_vgg_is_one_line(capsys, workdir, chelsea_png):
    """--max-side 16 is accepted, but a 64x43 photo then becomes 16x11, too small for VGG19's four
    poolings before relu5_1: that must be an error line, not a RuntimeError traceback."""
    code, out, err = run_main(capsys, "stylize", chelsea_png, "--style", STYLE, "--max-side", "16", "--iters", "1",
                              "-q", "-o", "out.png")
    assert code == 2
    assert_one_error_line(err, "16")
    assert folder_names(workdir) == []


# --------------------------------------------------------------------------------------------
# Real subprocesses (started together: each pays for importing torch)
# --------------------------------------------------------------------------------------------

VST_SCRIPT = Path(sys.executable).with_name("vst")  # the console script installed with vstlib
SUBPROCESS_CASES = {
    "version": ([sys.executable, "-m", "vstlib", "--version"], None),
    "missing input": ([sys.executable, "-m", "vstlib", "stylize", "nope.mp4", "--style", STYLE], None),
    "not a video": ([str(VST_SCRIPT), "stylize", "fake.mp4", "--style", STYLE, "-o", "out.mp4"], "fake.mp4"),
}


@pytest.fixture(scope="module")
def subprocess_runs(tmp_path_factory, data_dir) -> dict:
    """{case: (CompletedProcess-like (returncode, stdout, stderr), folder it ran in)}."""
    procs = {}
    for case, (cmd, fake) in SUBPROCESS_CASES.items():
        folder = tmp_path_factory.mktemp("sub")
        if fake:
            (folder / fake).write_text("not a video")
        if not Path(cmd[0]).is_file():
            continue
        procs[case] = (subprocess.Popen(cmd, cwd=folder, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                        env=os.environ.copy()), folder)
    results = {}
    for case, (proc, folder) in procs.items():
        out, err = proc.communicate(timeout=180)
        results[case] = (subprocess.CompletedProcess(proc.args, proc.returncode, out, err), folder)
    return results


def _subprocess_result(subprocess_runs, case):
    if case not in subprocess_runs:
        pytest.skip(f"{SUBPROCESS_CASES[case][0][0]} not found")
    return subprocess_runs[case]


def test_version_subprocess(subprocess_runs):
    proc, _ = _subprocess_result(subprocess_runs, "version")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"vstlib {vstlib.__version__}"


def test_missing_input_subprocess(subprocess_runs):
    proc, folder = _subprocess_result(subprocess_runs, "missing input")
    assert proc.returncode == 2, proc.stderr
    assert_one_error_line(proc.stderr, "nope.mp4")
    assert proc.stdout == "" and folder_names(folder) == []


def test_not_a_video_console_script(subprocess_runs):
    """Through the installed ``vst`` entry point: its exit status is main()'s."""
    proc, folder = _subprocess_result(subprocess_runs, "not a video")
    assert proc.returncode == 2, proc.stderr
    assert_one_error_line(proc.stderr, "cannot read video", "fake.mp4")
    assert proc.stdout == "" and folder_names(folder) == ["fake.mp4"]


def test_interrupt_then_resume(capsys, workdir, monkeypatch):
    """Ctrl-C: exit status 130, one line saying how to resume, no output; the same command resumes."""
    calls = []

    def interrupted(stylizer, content, init=None, callback=None, progress=None):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return OptimResult(image=content.clone(), losses=[1.0], times=[0.01], iterations=1)

    monkeypatch.setattr(gatys.GatysStylizer, "__call__", interrupted)
    monkeypatch.setattr(runner, "PART_SECONDS", 1 / 24)  # a finished part per frame
    argv = ["stylize", VIDEO, "--style", STYLE, "--max-side", "32", "--duration", "0.125", "--iters", "1", "-q",
            "-o", "out.mp4"]
    code, out, err = run_main(capsys, *argv)
    assert code == 130
    assert "Traceback" not in err and len(err.splitlines()) == 1 and "resume" in err
    assert not (workdir / "out.mp4").exists()
    (cache,) = [p for p in workdir.iterdir() if ".vst-" in p.name]
    assert len(list(cache.glob("part_*.mp4"))) == 1

    code, out, err = run_main(capsys, *argv)  # second call: the fake passes the other 2 frames
    assert code == 0, err
    assert "wrote out.mp4 (32x18, 3 frames at 24 fps, 1 resumed)" in out
    assert folder_names(workdir) == ["out.mp4"]


def test_interrupted_image_run(capsys, workdir, chelsea_png, monkeypatch):
    def interrupted(stylizer, content, init=None, callback=None, progress=None):
        raise KeyboardInterrupt

    monkeypatch.setattr(gatys.GatysStylizer, "__call__", interrupted)
    code, out, err = run_main(capsys, "stylize", chelsea_png, "--style", STYLE, "--max-side", "32", "-o", "out.png",
                              "-q")
    assert code == 130
    assert err == "vst: interrupted\n"  # no talk of resuming: only videos resume
    assert folder_names(workdir) == []


# --------------------------------------------------------------------------------------------
# Successful runs
# --------------------------------------------------------------------------------------------


def test_stylize_image(capsys, workdir, chelsea_png):
    code, out, err = run_main(capsys, "stylize", chelsea_png, "--style", STYLE, "--iters", "3", "--max-side", "48",
                              "-o", "out.png")
    assert code == 0, err
    assert out.startswith("wrote out.png (48x32, 3 iterations")
    with Image.open(workdir / "out.png") as im:
        assert im.format == "PNG" and im.size == (48, 32) and im.mode == "RGB"
        result = np.asarray(im)
    with Image.open(chelsea_png) as im:
        small = np.asarray(im.resize((48, 32), Image.BILINEAR))
    assert not np.array_equal(result, small)
    assert folder_names(workdir) == ["out.png"]


def test_stylize_image_wasserstein_luminance_keeps_the_colours(capsys, workdir, chelsea_png):
    from vstlib import color
    from vstlib.io import load_image

    code, out, err = run_main(capsys, "stylize", chelsea_png, "--style", STYLE, "--iters", "3", "--max-side", "48",
                              "--style-loss", "wasserstein", "--preserve-color", "luminance", "-o", "out.png", "-q")
    assert code == 0, err
    result, content = load_image(workdir / "out.png"), load_image(chelsea_png, max_side=48)
    yiq_out, yiq_in = color.rgb_to_yiq(result), color.rgb_to_yiq(content)
    # chroma is the photo's (8-bit rounding and clamping aside); luminance is the stylizer's
    assert (yiq_out[:, 1:] - yiq_in[:, 1:]).abs().mean() < 0.01
    assert (yiq_out[:, 0] - yiq_in[:, 0]).abs().mean() > 0.02
    assert folder_names(workdir) == ["out.png"]


def test_stylize_image_default_output_name_and_size(capsys, workdir, chelsea_png, fake_stylizer):
    code, out, err = run_main(capsys, "stylize", chelsea_png, "--style", STYLE, "--size", "40x24", "-q")
    assert code == 0, err
    name = "chelsea_udnie_picabia_gatys.png"
    assert folder_names(workdir) == [name]
    with Image.open(workdir / name) as im:
        assert im.size == (40, 24)
    assert fake_stylizer == [(1, 3, 24, 40)]


def test_stylize_sample_frame_by_registry_name(capsys, workdir, fake_stylizer):
    code, out, err = run_main(capsys, "stylize", "sintel/alley_1/clean/frame_0001.png", "--style", STYLE,
                              "--max-side", "32", "-q", "-o", "out.png")
    assert code == 0, err
    with Image.open(workdir / "out.png") as im:
        assert im.size == (32, 14)  # 1024x436
    assert folder_names(workdir) == ["out.png"]


def test_stylize_video(capsys, workdir):
    code, out, err = run_main(capsys, "stylize", VIDEO, "--style", STYLE, "--max-side", "48", "--duration", "0.25",
                              "--iters", "2", "-o", "out.mp4", "-q")
    assert code == 0, err
    assert err == ""  # -q: no progress bar
    assert "wrote out.mp4 (48x28, 6 frames at 24 fps)" in out
    info = probe_video(workdir / "out.mp4")
    assert (info.n_frames, info.width, info.height, info.has_audio) == (6, 48, 28, True)
    assert info.fps == pytest.approx(24, abs=0.01)
    assert folder_names(workdir) == ["out.mp4"]  # frame cache removed


def test_stylize_video_ruder(capsys, workdir):
    code, out, err = run_main(capsys, "stylize", VIDEO, "--style", STYLE, "--method", "ruder", "--flow", "dis",
                              "--max-side", "32", "--duration", "0.125", "--iters", "2", "--frame-iters", "1",
                              "--long-term", "1,2", "--flow-workers", "2", "-o", "ruder.mp4", "-q")
    assert code == 0, err
    assert "wrote ruder.mp4 (32x18, 3 frames at 24 fps)" in out
    info = probe_video(workdir / "ruder.mp4")
    assert (info.n_frames, info.has_audio) == (3, True)
    assert folder_names(workdir) == ["ruder.mp4"]


def test_stylize_video_every_and_keep_cache(capsys, workdir, fake_stylizer):
    code, out, err = run_main(capsys, "stylize", VIDEO, "--style", STYLE, "--size", "32x18", "--start", "2",
                              "--duration", "0.25", "--every", "2", "--iters", "1", "--keep-cache", "-q")
    assert code == 0, err
    name = "bbb_adain_640x360_10s_udnie_picabia_gatys.mp4"
    assert f"wrote {name} (32x18, 3 frames at 12 fps)" in out
    info = probe_video(workdir / name)
    assert (info.n_frames, info.width, info.height, info.has_audio) == (3, 32, 18, True)
    assert info.fps == pytest.approx(12, abs=0.01)
    (cache,) = [p for p in workdir.iterdir() if ".vst-" in p.name]
    assert len(list(cache.glob("part_*.mp4"))) == 1
    assert len(fake_stylizer) == 3


def test_demo_with_tiny_settings(capsys, workdir):
    """The demo runs a shipped network at the clip's own resolution and says where the file is."""
    code, out, err = run_main(capsys, "demo", "--duration", "0.125", "-q")
    assert code == 0, err
    assert f"wrote {workdir / 'vst_demo.mp4'} (640x360, 3 frames at 24 fps" in out
    assert probe_video(workdir / "vst_demo.mp4").has_audio


# --------------------------------------------------------------------------------------------
# vst data
# --------------------------------------------------------------------------------------------


def test_data_list(capsys, workdir):
    code, out, err = run_main(capsys, "data", "list")
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert len(lines) == len(data.registry())
    listed = [line.split()[0] for line in lines]
    assert listed == list(data.registry())


def test_data_fetch(capsys, data_dir, workdir):
    code, out, err = run_main(capsys, "data", "fetch", "style/udnie_picabia.jpg", VIDEO)
    assert code == 0, err
    paths = [Path(line) for line in out.splitlines()]
    assert paths == [data_dir / "style" / "udnie_picabia.jpg", data_dir / VIDEO]
    assert all(p.is_file() for p in paths)


def test_data_fetch_offline_is_one_line(capsys, workdir, tmp_path, monkeypatch):
    """A file that is nowhere and cannot be downloaded: one line naming it, its URL and
    VSTLIB_DATA_DIR (pooch's own 'Downloading data from ...' log line must not appear)."""
    import dataclasses

    import pooch

    name = "style/udnie_picabia.jpg"
    url = "http://127.0.0.1:9/vstlib-test/udnie_picabia.jpg"
    asset = dataclasses.replace(data.registry()[name], url=url)
    monkeypatch.setattr(data, "registry", lambda: {name: asset})
    monkeypatch.setenv(data.DATA_DIR_ENV, str(tmp_path / "empty_mirror"))
    monkeypatch.setenv(data.CACHE_DIR_ENV, str(tmp_path / "empty_cache"))
    # pooch's log handler keeps the stderr of the moment pooch was imported: point it at ours
    for handler in pooch.get_logger().handlers:
        if isinstance(handler, logging.StreamHandler):
            monkeypatch.setattr(handler, "stream", sys.stderr)

    code, out, err = run_main(capsys, "data", "fetch", name)
    assert code == 2 and out == ""
    assert_one_error_line(err, name, url, "VSTLIB_DATA_DIR")


def test_models_lists_every_shipped_network(capsys):
    from vstlib.johnson import shipped_models

    code, out, _ = run_main(capsys, "models")
    assert code == 0
    for name in [*shipped_models(), "arbitrary_predict", "multistyle26", "--method arbitrary", "--method multistyle"]:
        assert name in out, name


def test_demo_with_the_arbitrary_method(capsys, workdir):
    code, out, err = run_main(capsys, "demo", "--method", "arbitrary", "--duration", "0.125", "-q", "-o", "arb.mp4")
    assert code == 0, err
    assert f"wrote {workdir / 'arb.mp4'} (640x360, 3 frames at 24 fps" in out
    assert probe_video(workdir / "arb.mp4").has_audio


def test_demo_picks_a_model_the_network_method_ships(capsys, workdir):
    """ReCoNet ships no width-16 Starry Night: the demo takes its model of the demo painting."""
    from vstlib import methods

    assert cli._demo_model(methods.get("johnson"), None, "starry_night_vangogh") == cli.DEMO_MODEL
    assert cli._demo_model(methods.get("reconet"), None, "starry_night_vangogh") == "starry_night_vangogh"
    assert cli._demo_model(methods.get("reconet"), "mine.pth", "starry_night_vangogh") == "mine.pth"
    code, out, err = run_main(capsys, "demo", "--method", "reconet", "--duration", "0.125", "-q", "-o", "r.mp4")
    assert code == 0, err
    assert f"wrote {workdir / 'r.mp4'} (640x360, 3 frames at 24 fps" in out
