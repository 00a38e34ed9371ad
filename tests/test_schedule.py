"""Tests for style schedules (vstlib.schedule): crossfades, shot detection and keyframes, and
``vst stylize --style a,b --transition`` / ``--style-video``."""

from __future__ import annotations

import numpy as np
import pytest

import vstlib
from vstlib import cli
from vstlib.errors import VstError
from vstlib.io import VideoWriter, read_frames
from vstlib.schedule import (change_times, crossfade_schedule, explained_fraction, keyframes, merge_short,
                             parse_times, shot_starts)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


# --------------------------------------------------------------------------------------------
# Crossfades
# --------------------------------------------------------------------------------------------


def test_weights_sum_to_one_fade_monotonically_and_hold_exactly_elsewhere():
    fps, n, transition = 10.0, 90, 2.0
    s = crossfade_schedule(n, fps, 3, transition)  # changes at 3 s and 6 s
    assert s.changes == [3.0, 6.0] and "crossfade" in s.key
    mixes = [s(i) for i in range(n)]
    for mix in mixes:
        assert all(w > 0 for _, w in mix)
        assert sum(w for _, w in mix) == pytest.approx(1.0, abs=1e-12)
    for k, c in enumerate(s.changes, start=1):
        inside = [i for i in range(n) if abs(i / fps - c) < transition / 2]
        assert len(inside) == transition * fps - 1  # 2.1 .. 3.9 s
        grow = [dict(mixes[i]).get(k, 0.0) for i in inside]
        fall = [dict(mixes[i]).get(k - 1, 0.0) for i in inside]
        assert all(b > a for a, b in zip(grow, grow[1:])) and all(b < a for a, b in zip(fall, fall[1:]))
        assert all(set(dict(mixes[i])) == {k - 1, k} for i in inside)
        assert dict(mixes[round(c * fps)])[k] == pytest.approx(0.5)  # the change is the fade's middle
    for i in range(n):
        t = i / fps
        if all(abs(t - c) >= transition / 2 for c in s.changes):
            assert mixes[i] == ((sum(t >= c for c in s.changes), 1.0),)
    assert [mixes[i] for i in (0, 20, 45, 89)] == [((0, 1.0),), ((0, 1.0),), ((1, 1.0),), ((2, 1.0),)]


def test_given_start_times_and_hard_cuts():
    s = crossfade_schedule(50, 10.0, 3, transition=0, times=[0, 1, 4.5])
    styles = [s(i)[0][0] for i in range(50)]
    assert all(len(s(i)) == 1 for i in range(50))
    assert styles == [0] * 10 + [1] * 35 + [2] * 5


@pytest.mark.parametrize("n_styles, times, transition, needle", [
    (2, [0, 3, 5], 1.0, "3 start time(s) for 2 style(s)"),
    (3, [1, 2, 3], 1.0, "must start at 0"),
    (3, [0, 5, 4], 1.0, "must increase"),
    (3, [0, 2, 12], 1.0, "past the clip's end (10 s)"),
    (3, [0, 2, 2.5], 1.0, "longer than the 0.5 s"),
    (3, None, -1.0, "0 or more seconds"),
    (3, None, 7.0, "needs the first style to hold at least 3.5 s, it holds 3.33 s"),
    (3, None, 3.5, "longer than the 3.33 s"),
    (2, [0, 9.5], 1.5, "needs the last style to hold at least 0.75 s, it holds 0.5 s"),
])
def test_bad_times_are_one_line_errors(n_styles, times, transition, needle):
    with pytest.raises(VstError) as err:
        crossfade_schedule(100, 10.0, n_styles, transition, times)
    assert needle in str(err.value) and "\n" not in str(err.value)


def test_parse_times():
    assert parse_times("0,2.5,7") == [0.0, 2.5, 7.0]
    with pytest.raises(VstError, match="not a list of seconds"):
        parse_times("0,two")
    assert change_times(10.0, 1) == []


# --------------------------------------------------------------------------------------------
# Shots and keyframes
# --------------------------------------------------------------------------------------------

COLOURS = [(220, 60, 40), (40, 200, 90), (50, 80, 230), (240, 230, 60)]


def _shot_frame(shot: int, i: int, h: int = 72, w: int = 128) -> np.ndarray:
    """A smooth random texture tinted with the shot's colour, moving 1 px per frame to the right."""
    rng = np.random.default_rng(shot)
    coarse = rng.random((h // 8 + 2, w // 8 + 2))
    texture = np.kron(coarse, np.ones((8, 8)))[:h, :w + 8]
    texture = np.roll(texture, i, axis=1)[:, :w]
    frame = np.asarray(COLOURS[shot], float) * (0.55 + 0.45 * texture[..., None])
    return frame.clip(0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def shots_video(tmp_path_factory):
    """24 fps: shot 0 for 12 frames, shot 1 for 20, a 2-frame flash of shot 3, shot 2 for 10."""
    lengths = [(0, 12), (1, 20), (3, 2), (2, 10)]
    path = tmp_path_factory.mktemp("shots") / "shots.mp4"
    with VideoWriter(path, fps=24) as writer:
        for shot, n in lengths:
            for i in range(n):
                writer.write(_shot_frame(shot, i))
    return path


def test_explained_fraction_within_and_across_shots():
    a, b, c = _shot_frame(0, 0), _shot_frame(0, 1), _shot_frame(1, 0)
    assert explained_fraction(a, b) > 0.8
    assert explained_fraction(b, c) < 0.05


def test_shot_starts_finds_the_cuts(shots_video):
    frames = list(read_frames(shots_video))
    assert shot_starts(frames) == [0, 12, 32, 34]


def test_merge_short_shots():
    assert merge_short([0, 12, 32, 34], 44, 6) == [(0, 12), (12, 34), (34, 44)]
    assert merge_short([0, 1, 10], 20, 3) == [(0, 10), (10, 20)]
    assert merge_short([0], 5, 10) == [(0, 5)]


def test_keyframes_one_per_shot(shots_video):
    found = keyframes(shots_video, min_shot=0.25)
    # shots (0, 12), (12, 34) (the flash merged into it), (34, 44): middle frames 5, 21 (of 12..31), 38
    assert [round(t * 24) for t, _ in found] == [5, 21, 38]
    for (_, frame), shot in zip(found, (0, 1, 2)):
        mean = frame.reshape(-1, 3).mean(0)
        assert int(np.argmax(mean)) == int(np.argmax(COLOURS[shot])), (shot, mean)
        assert frame.shape == (72, 128, 3) and frame.dtype == np.uint8
    sharpest = keyframes(shots_video, min_shot=0.25, pick="sharpest")
    assert [int(np.argmax(f.reshape(-1, 3).mean(0))) for _, f in sharpest] == [0, 1, 2]
    longest = keyframes(shots_video, max_keyframes=2, min_shot=0.25, max_side=64)
    assert [round(t * 24) for t, _ in longest] == [5, 21]  # the two longest shots (12 and 22 frames), in order
    assert longest[0][1].shape == (36, 64, 3)
    with pytest.raises(VstError, match="middle or sharpest"):
        keyframes(shots_video, pick="best")


# --------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------

A, B = "starry_night_vangogh_w16", "udnie_picabia"


@pytest.fixture(scope="module")
def clip(tmp_path_factory, bbb_path):
    """24 frames (1 s) of the sample clip at 64x36."""
    out = tmp_path_factory.mktemp("clip") / "clip.mp4"
    vstlib.stylize_video(bbb_path, None, out, "none", max_side=64, duration=1.0, progress=False)
    return out


def _run(capsys, *argv) -> tuple[int, str, str]:
    try:
        code = cli.main([str(a) for a in argv])
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_fades_from_one_network_to_the_other(capsys, workdir, clip):
    code, out, err = _run(capsys, "stylize", clip, "--method", "johnson", "--style", f"{A},{B}", "--transition", "0.5",
                          "-q")
    assert code == 0, err
    mixed = workdir / f"clip_{A}+{B}_johnson.mp4"
    assert str(mixed.name) in out
    singles = {}
    for name in (A, B):
        assert _run(capsys, "stylize", clip, "--method", "johnson", "--style", name, "-o", f"{name}.mp4", "-q")[0] == 0
        singles[name] = np.stack(list(read_frames(workdir / f"{name}.mp4"))).astype(float)
    m = np.stack(list(read_frames(mixed))).astype(float)
    da = np.abs(m - singles[A]).mean((1, 2, 3))
    db = np.abs(m - singles[B]).mean((1, 2, 3))
    gap = np.abs(singles[A] - singles[B]).mean()
    assert gap > 10  # the two styles look different
    # change at 0.5 s, fade over 0.25-0.75 s: frames 0-5 are A, 19-23 are B, 12 is half and half
    assert da[:6].max() < 0.25 * gap and db[:6].min() > 0.75 * gap
    assert db[19:].max() < 0.25 * gap and da[19:].min() > 0.75 * gap
    assert 0.25 * gap < da[12] < 0.75 * gap and 0.25 * gap < db[12] < 0.75 * gap
    assert np.all(np.diff(db[6:19]) < 1.0)  # moving towards B through the fade


@pytest.mark.parametrize("argv, needles", [
    (["--method", "none", "--style-video", "x.mp4"], ["--method none takes no style"]),
    (["--method", "johnson", "--style", A, "--transition", "1"], ["--transition needs several styles"]),
    (["--method", "johnson", "--style-video", "tears_of_steel_640x360_10s"], ["needs a method that takes style images",
                                                                             "gatys"]),
    (["--method", "johnson", "--style", f"{A},{B}", "--style-times", "0,5"], ["past the clip's end"]),
    (["--method", "johnson", "--style", f"{A},{B}", "--transition", "3"], ["--transition 3 s needs the first style"]),
    (["--method", "gatys", "--style", "udnie_picabia", "--style-video", "x.mp4"], ["not both"]),
    (["--method", "johnson", "--style", A, "--max-keyframes", "3"], ["--max-keyframes applies to --style-video"]),
])
def test_cli_refusals_are_one_line(capsys, workdir, clip, argv, needles):
    code, _, err = _run(capsys, "stylize", clip, *argv, "-q")
    assert code == 2
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    for needle in needles:
        assert needle in err, (needle, err)
    assert list(workdir.iterdir()) == []


def test_cli_several_styles_need_a_video(capsys, workdir, tmp_path):
    from PIL import Image

    photo = tmp_path / "photo.png"
    Image.fromarray(_shot_frame(0, 0)).save(photo)
    code, _, err = _run(capsys, "stylize", photo, "--method", "johnson", "--style", f"{A},{B}")
    assert code == 2 and "need a video input" in err


def test_cli_style_video_keyframes_become_the_styles(capsys, workdir, clip, shots_video):
    code, out, err = _run(capsys, "stylize", clip, "--method", "gatys", "--style-video", shots_video, "--transition",
                          "0.2", "--iters", "1", "--max-side", "32", "--max-keyframes", "2")
    assert code == 0, err
    assert "shots.mp4: 2 keyframe(s) at 0.21, 0.88 s" in out  # the two longest shots
    assert (workdir / "clip_shots-keyframes_gatys.mp4").is_file()
