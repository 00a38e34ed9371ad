"""Tests for vstlib.video.stylize_video (the runner, vstlib.runner): frame selection, fps, audio,
resuming from finished parts, input checks, and the flicker of the per-frame baseline.

Only one test runs the real Gatys optimization (tiny: 48 px, 2 iterations, 6 frames); the
others swap the stylizer's ``__call__`` for a stand-in that returns the content unchanged (or
counts calls, or raises KeyboardInterrupt), which keeps them fast and exact.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from vstlib import gatys
from vstlib.engine import OptimResult
from vstlib.errors import VstError
from vstlib.gatys import GatysConfig
from vstlib.io import probe_video, read_frames, to_array, to_tensor
from vstlib.metrics import frame_difference
from vstlib import runner
from vstlib.video import stylize_video

pytestmark = pytest.mark.usefixtures("one_torch_thread")

TINY = GatysConfig(iters=2)
MAX_SIDE = 48  # 640x360 -> 48x27, padded to 48x28 for H.264


@pytest.fixture(scope="session")
def style_path(data_dir: Path) -> Path:
    return data_dir / "style" / "udnie_picabia.jpg"


class FakeStylizer:
    """Stands in for GatysStylizer.__call__: returns the content, counts calls, and can raise
    KeyboardInterrupt on a given call (1-based) to simulate Ctrl-C in the middle of a run."""

    def __init__(self, interrupt_at: int | None = None):
        self.calls = 0
        self.interrupt_at = interrupt_at

    def install(self, monkeypatch) -> FakeStylizer:
        fake = self

        def call(stylizer, content, init=None, callback=None, progress=None):
            fake.calls += 1
            if fake.interrupt_at is not None and fake.calls >= fake.interrupt_at:
                raise KeyboardInterrupt
            return OptimResult(image=content.clone(), losses=[1.0], times=[0.01], iterations=1)

        monkeypatch.setattr(gatys.GatysStylizer, "__call__", call)
        return self


def _cache_dirs(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and ".vst-" in p.name)


def _parts(cache: Path) -> list[str]:
    return sorted(p.name for p in cache.glob("part_*.mp4"))


@pytest.fixture
def two_frame_parts(monkeypatch):
    """Parts of 2 frames (at 24 fps), so a few frames show the resume mechanism."""
    monkeypatch.setattr(runner, "PART_SECONDS", 2 / 24)


# --------------------------------------------------------------------------------------------
# The real thing, tiny
# --------------------------------------------------------------------------------------------


def test_stylize_video_writes_mp4_with_audio_and_flickers(bbb_path, style_path, tmp_path):
    out = tmp_path / "out.mp4"
    n = 6  # 0.25 s at 24 fps
    capture = runner.KeepOutputs()
    result = stylize_video(bbb_path, style_path, out, "gatys", TINY, max_side=MAX_SIDE, start=3.0, duration=0.25,
                           device="cpu", keep_cache=True, progress=False, post_steps=[capture])
    assert result.output == out and result.n_frames == n and result.fps == 24 and result.resumed_frames == 0
    assert len(result.seconds_per_frame) == n and len(result.final_losses) == n
    assert all(np.isfinite(result.final_losses))

    info = probe_video(out)
    assert info.n_frames == n
    assert info.fps == pytest.approx(24, abs=0.01)
    assert info.has_audio
    assert (info.width, info.height) == (48, 28)
    assert info.duration == pytest.approx(n / 24, abs=0.1)

    # keep_cache=True keeps the finished parts (and the settings that keyed them)
    (cache,) = _cache_dirs(tmp_path)
    assert _parts(cache) == ["part_000000_000006.mp4"]
    settings = json.loads((cache / "settings.json").read_text())
    assert settings["first"] == 72 and settings["end"] == 78 and settings["config"]["iters"] == 2

    # The per-frame baseline flickers: stylized frames change more from one frame to the next
    # than the input does (measured on the exact outputs, not the H.264 output).
    inputs = list(read_frames(bbb_path, max_side=MAX_SIDE, start=72, end=78))
    outputs = capture.frames
    assert outputs[0].shape == inputs[0].shape == (27, 48, 3)
    assert not np.array_equal(outputs[0], inputs[0])  # it was stylized
    d_in, d_out = frame_difference(inputs), frame_difference(outputs)
    assert d_out.mean() > 1.5 * d_in.mean(), (d_in, d_out)


# --------------------------------------------------------------------------------------------
# Frame selection (stand-in stylizer: output frames are the input frames, exactly)
# --------------------------------------------------------------------------------------------


def test_start_and_every(bbb_path, style_path, tmp_path, monkeypatch):
    fake = FakeStylizer().install(monkeypatch)
    out = tmp_path / "every2.mp4"
    capture = runner.KeepOutputs()
    result = stylize_video(bbb_path, style_path, out, config=TINY, max_side=MAX_SIDE, start=1.0, duration=0.25,
                           every=2, device="cpu", progress=False, post_steps=[capture])
    # frames 24, 26, 28 of the source; fps halved
    assert result.n_frames == 3 and fake.calls == 3 and result.fps == 12
    info = probe_video(out)
    assert info.n_frames == 3
    assert info.fps == pytest.approx(12, abs=0.01)
    assert info.has_audio
    assert info.duration == pytest.approx(0.25, abs=0.1)

    expected = list(read_frames(bbb_path, max_side=MAX_SIDE, start=24, end=30, step=2))
    got = capture.frames
    assert len(got) == len(expected) == 3
    for a, b in zip(got, expected):
        np.testing.assert_array_equal(a, b)
    # and not frames 0, 2, 4 (the start offset was applied)
    assert not np.array_equal(got[0], next(read_frames(bbb_path, max_side=MAX_SIDE, end=1)))


def test_output_fps_follows_every(bbb_path, style_path, tmp_path, monkeypatch):
    FakeStylizer().install(monkeypatch)
    r1 = stylize_video(bbb_path, style_path, tmp_path / "a.mp4", config=TINY, max_side=32, duration=0.25,
                       device="cpu", progress=False)
    r2 = stylize_video(bbb_path, style_path, tmp_path / "b.mp4", config=TINY, max_side=32, duration=0.25, every=2,
                       device="cpu", progress=False)
    assert (r1.n_frames, r1.fps) == (6, 24) and (r2.n_frames, r2.fps) == (3, 12)
    assert probe_video(tmp_path / "b.mp4").fps == pytest.approx(probe_video(tmp_path / "a.mp4").fps / 2, abs=0.01)
    assert _cache_dirs(tmp_path) == []  # caches removed by default


def test_tensor_style_is_accepted(bbb_path, style_path, tmp_path, monkeypatch):
    from vstlib.io import load_image

    FakeStylizer().install(monkeypatch)
    style = load_image(style_path, max_side=64)
    result = stylize_video(bbb_path, style, tmp_path / "t.mp4", config=TINY, size=(24, 32), duration=2 / 24,
                           device="cpu", progress=False)
    assert result.n_frames == 2
    info = probe_video(tmp_path / "t.mp4")
    assert (info.width, info.height, info.n_frames) == (32, 24, 2)


# --------------------------------------------------------------------------------------------
# Resuming
# --------------------------------------------------------------------------------------------


def test_interrupted_run_resumes(bbb_path, style_path, tmp_path, monkeypatch, two_frame_parts):
    out = tmp_path / "resume.mp4"
    kwargs = dict(config=TINY, max_side=MAX_SIDE, duration=0.25, device="cpu", progress=False)

    first = FakeStylizer(interrupt_at=4).install(monkeypatch)  # Ctrl-C while frame 4 is optimized
    with pytest.raises(KeyboardInterrupt):
        stylize_video(bbb_path, style_path, out, **kwargs)
    assert first.calls == 4
    assert not out.exists()
    (cache,) = _cache_dirs(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [cache.name]  # no temp files or lock either
    assert _parts(cache) == ["part_000000_000002.mp4"]  # frames 0-1; frame 2's part was not finished
    assert sorted(p.name for p in cache.iterdir()) == ["part_000000_000002.mp4", "settings.json"]

    second = FakeStylizer().install(monkeypatch)
    result = stylize_video(bbb_path, style_path, out, **kwargs)
    assert result.resumed_frames == 2
    assert second.calls == 4  # only the 4 missing frames were computed
    assert len(result.seconds_per_frame) == 4
    assert probe_video(out).n_frames == 6
    assert not cache.exists()  # removed once the video is written
    assert sorted(p.name for p in tmp_path.iterdir()) == [out.name]


def test_resumed_video_equals_an_uninterrupted_one(bbb_path, style_path, tmp_path, monkeypatch, two_frame_parts):
    kwargs = dict(config=TINY, max_side=32, duration=0.25, device="cpu", progress=False)
    FakeStylizer().install(monkeypatch)
    stylize_video(bbb_path, style_path, tmp_path / "whole.mp4", **kwargs)
    FakeStylizer(interrupt_at=5).install(monkeypatch)
    with pytest.raises(KeyboardInterrupt):
        stylize_video(bbb_path, style_path, tmp_path / "resumed.mp4", **kwargs)
    FakeStylizer().install(monkeypatch)
    assert stylize_video(bbb_path, style_path, tmp_path / "resumed.mp4", **kwargs).resumed_frames == 4
    whole, resumed = (np.stack(list(read_frames(tmp_path / n))) for n in ("whole.mp4", "resumed.mp4"))
    np.testing.assert_array_equal(whole, resumed)
    assert probe_video(tmp_path / "resumed.mp4").has_audio


def test_resume_keep_cache(bbb_path, style_path, tmp_path, monkeypatch, two_frame_parts):
    out = tmp_path / "keep.mp4"
    kwargs = dict(config=TINY, max_side=32, duration=3 / 24, device="cpu", progress=False)
    FakeStylizer(interrupt_at=3).install(monkeypatch)
    with pytest.raises(KeyboardInterrupt):
        stylize_video(bbb_path, style_path, out, **kwargs)
    fake = FakeStylizer().install(monkeypatch)
    result = stylize_video(bbb_path, style_path, out, keep_cache=True, **kwargs)
    assert (result.resumed_frames, fake.calls) == (2, 1)
    (cache,) = _cache_dirs(tmp_path)
    assert _parts(cache) == ["part_000000_000002.mp4", "part_000002_000003.mp4"]
    # a third run finds every part and computes nothing
    third = FakeStylizer().install(monkeypatch)
    result = stylize_video(bbb_path, style_path, out, **kwargs)
    assert (result.resumed_frames, third.calls) == (3, 0)
    assert not cache.exists()


def test_cache_folder_is_keyed_by_the_settings(bbb_path, style_path, data_dir, tmp_path, monkeypatch):
    """Settings that change the result give a different resume folder, so a resumed run never
    mixes parts made with other settings; the same settings give the same folder."""
    out = tmp_path / "key.mp4"

    def interrupted_cache(style=style_path, **changes) -> Path:
        FakeStylizer(interrupt_at=1).install(monkeypatch)
        monkeypatch.setattr(runner, "PART_SECONDS", 1 / 24)
        kwargs = dict(config=TINY, max_side=32, duration=0.25, device="cpu", progress=False) | changes
        before = set(_cache_dirs(tmp_path))
        FakeStylizer(interrupt_at=2).install(monkeypatch)  # one finished part, then Ctrl-C
        with pytest.raises(KeyboardInterrupt):
            stylize_video(bbb_path, style, out, **kwargs)
        (folder,) = set(_cache_dirs(tmp_path)) - before
        return folder

    base = interrupted_cache()
    variants = [
        interrupted_cache(config=GatysConfig(iters=3)),
        interrupted_cache(config=GatysConfig(iters=2, style_weight=1e4)),
        interrupted_cache(max_side=40),
        interrupted_cache(start=1.0),
        interrupted_cache(every=2),
        interrupted_cache(style=data_dir / "style" / "the_scream_munch.jpg"),
        interrupted_cache(preserve_color="luminance"),
    ]
    folders = [base, *variants]
    assert len(set(folders)) == len(folders)
    assert all(f.parent == tmp_path and f.name.startswith(".key.mp4.vst-") for f in folders)
    # the same settings again: no new folder
    FakeStylizer(interrupt_at=1).install(monkeypatch)
    with pytest.raises(KeyboardInterrupt):
        stylize_video(bbb_path, style_path, out, config=GatysConfig(iters=2), max_side=32, duration=0.25,
                      device="cpu", progress=False)
    assert len(_cache_dirs(tmp_path)) == len(folders)
    # a finished run writing that output removes every resume folder it left
    FakeStylizer().install(monkeypatch)
    stylize_video(bbb_path, style_path, out, config=TINY, max_side=32, duration=0.25, device="cpu", progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == [out.name]


def test_explicit_cache_dir(bbb_path, style_path, tmp_path, monkeypatch, two_frame_parts):
    cache = tmp_path / "my_cache"
    FakeStylizer(interrupt_at=3).install(monkeypatch)
    kwargs = dict(config=TINY, max_side=32, duration=3 / 24, device="cpu", cache_dir=cache, progress=False)
    with pytest.raises(KeyboardInterrupt):
        stylize_video(bbb_path, style_path, tmp_path / "c.mp4", **kwargs)
    assert _parts(cache) == ["part_000000_000002.mp4"]
    fake = FakeStylizer().install(monkeypatch)
    result = stylize_video(bbb_path, style_path, tmp_path / "c.mp4", **kwargs)
    assert (result.resumed_frames, fake.calls) == (2, 1)
    assert cache.is_dir()  # an explicit folder is the user's: kept


def test_explicit_cache_dir_with_other_settings_is_refused(bbb_path, style_path, tmp_path, monkeypatch,
                                                           two_frame_parts):
    """An explicit resume folder is not keyed by the settings: parts made with other settings
    must not be mixed into the new video."""
    cache = tmp_path / "my_cache"
    kwargs = dict(max_side=32, duration=3 / 24, device="cpu", cache_dir=cache, progress=False)
    FakeStylizer(interrupt_at=3).install(monkeypatch)
    with pytest.raises(KeyboardInterrupt):
        stylize_video(bbb_path, style_path, tmp_path / "c.mp4", config=GatysConfig(iters=2), **kwargs)
    fake = FakeStylizer().install(monkeypatch)
    with pytest.raises(VstError, match="other settings"):
        stylize_video(bbb_path, style_path, tmp_path / "c.mp4", config=GatysConfig(iters=3), **kwargs)
    assert fake.calls == 0
    assert _parts(cache) == ["part_000000_000002.mp4"]
    assert json.loads((cache / "settings.json").read_text())["config"]["iters"] == 2


# --------------------------------------------------------------------------------------------
# Bad inputs: VstError, and nothing written
# --------------------------------------------------------------------------------------------


def _assert_nothing_written(folder: Path, allowed=()) -> None:
    assert sorted(p.name for p in folder.iterdir()) == sorted(allowed)


def test_unknown_method(bbb_path, style_path, tmp_path):
    with pytest.raises(VstError, match="unknown method 'nosuchmethod'.*gatys.*ruder.*johnson"):
        stylize_video(bbb_path, style_path, tmp_path / "o.mp4", "nosuchmethod", TINY, max_side=32, duration=0.1)
    with pytest.raises(VstError, match="johnson.*JohnsonConfig"):  # a Gatys config for the network
        stylize_video(bbb_path, style_path, tmp_path / "o.mp4", "johnson", TINY, max_side=32, duration=0.1)
    _assert_nothing_written(tmp_path)


@pytest.mark.parametrize("name", ["o.png", "o.gif", "o.webm", "o"])
def test_output_must_be_a_writable_video_name(bbb_path, style_path, tmp_path, name):
    with pytest.raises(VstError, match=r"\.mp4"):
        stylize_video(bbb_path, style_path, tmp_path / name, config=TINY, max_side=32, duration=0.1)
    _assert_nothing_written(tmp_path)


def test_start_past_the_end(bbb_path, style_path, tmp_path):
    with pytest.raises(VstError, match="past its end.*240 frames"):
        stylize_video(bbb_path, style_path, tmp_path / "o.mp4", config=TINY, max_side=32, start=10.0)
    with pytest.raises(VstError, match="past its end"):
        stylize_video(bbb_path, style_path, tmp_path / "o.mp4", config=TINY, max_side=32, start=60.0, duration=1)
    _assert_nothing_written(tmp_path)


@pytest.mark.parametrize("kwargs, match", [
    (dict(every=0), "every"),
    (dict(start=-1.0), "start"),
    (dict(duration=0.0), "duration"),
])
def test_bad_range(bbb_path, style_path, tmp_path, kwargs, match):
    with pytest.raises(VstError, match=match):
        stylize_video(bbb_path, style_path, tmp_path / "o.mp4", config=TINY, max_side=32, **kwargs)
    _assert_nothing_written(tmp_path)


def test_missing_input(style_path, tmp_path):
    with pytest.raises(VstError, match="nope.mp4.*not found"):
        stylize_video(tmp_path / "nope.mp4", style_path, tmp_path / "o.mp4", config=TINY, max_side=32)
    _assert_nothing_written(tmp_path)


@pytest.mark.parametrize("content", [b"", b"this is not a video\n"])
def test_input_that_is_not_a_video(style_path, tmp_path, content):
    fake = tmp_path / "fake.mp4"
    fake.write_bytes(content)
    with pytest.raises(VstError, match="cannot read video .*fake.mp4"):
        stylize_video(fake, style_path, tmp_path / "o.mp4", config=TINY, max_side=32)
    _assert_nothing_written(tmp_path, ["fake.mp4"])


def test_style_that_is_not_an_image(bbb_path, tmp_path):
    style = tmp_path / "style.jpg"
    style.write_text("not an image")
    with pytest.raises(VstError, match="cannot read image .*style.jpg"):
        stylize_video(bbb_path, style, tmp_path / "o.mp4", config=TINY, max_side=32, duration=0.1)
    _assert_nothing_written(tmp_path, ["style.jpg"])


def test_output_folder_missing(bbb_path, style_path, tmp_path, monkeypatch):
    """Checked before any frame is stylized (the resume folder must not be created)."""
    fake = FakeStylizer().install(monkeypatch)
    with pytest.raises(VstError, match="does not exist"):
        stylize_video(bbb_path, style_path, tmp_path / "missing" / "o.mp4", config=TINY, max_side=32,
                      duration=1 / 24, progress=False)
    assert fake.calls == 0
    _assert_nothing_written(tmp_path)


def test_output_is_a_folder(bbb_path, style_path, tmp_path, monkeypatch):
    """Checked before any frame is stylized, not after all the work."""
    fake = FakeStylizer().install(monkeypatch)
    (tmp_path / "o.mp4").mkdir()
    with pytest.raises(VstError, match="it is a folder"):
        stylize_video(bbb_path, style_path, tmp_path / "o.mp4", config=TINY, max_side=32, duration=1 / 24,
                      progress=False)
    assert fake.calls == 0
    _assert_nothing_written(tmp_path, ["o.mp4"])


def test_cache_dir_that_is_a_file(bbb_path, style_path, tmp_path, monkeypatch):
    FakeStylizer().install(monkeypatch)
    (tmp_path / "cache").write_text("x")
    with pytest.raises(VstError, match="resume folder"):
        stylize_video(bbb_path, style_path, tmp_path / "o.mp4", config=TINY, max_side=32, duration=1 / 24,
                      cache_dir=tmp_path / "cache", progress=False)
    _assert_nothing_written(tmp_path, ["cache"])


def test_identity_stand_in_round_trips(bbb_path):
    """Sanity check of the stand-in used above: to_tensor -> to_array is exact for uint8."""
    from vstlib.io import to_tensor

    frame = next(read_frames(bbb_path, max_side=32, end=1))
    np.testing.assert_array_equal(to_array(to_tensor(frame)), frame)


@pytest.mark.parametrize("method", ["gatys", "ruder"])
def test_error_before_any_frame_leaves_nothing_behind(bbb_path, style_path, tmp_path, method):
    """Frames too small for VGG19 fail on the first frame: one clear error and no cache folder."""
    with pytest.raises(VstError, match="too small"):
        stylize_video(bbb_path, style_path, tmp_path / "o.mp4", method, TINY, size=(10, 18), duration=0.1,
                      device="cpu", progress=False, flow_workers=1)
    _assert_nothing_written(tmp_path)


# --------------------------------------------------------------------------------------------
# Colour preservation
# --------------------------------------------------------------------------------------------


class RecordingStylizer:
    """Stands in for GatysStylizer.__call__: returns a fixed grey image and records the content
    frames it was given and the style image the stylizer was built with."""

    def __init__(self, monkeypatch):
        self.contents, self.styles = [], []
        rec = self
        real_init = gatys.GatysStylizer.__init__

        def init(stylizer, style, *args, **kwargs):
            rec.styles.append(style.clone())
            real_init(stylizer, style, *args, **kwargs)

        def call(stylizer, content, init=None, callback=None, progress=None):
            rec.contents.append(content.clone())
            return OptimResult(image=torch.full_like(content, 0.5), losses=[1.0], times=[0.01], iterations=1)

        monkeypatch.setattr(gatys.GatysStylizer, "__init__", init)
        monkeypatch.setattr(gatys.GatysStylizer, "__call__", call)


def _decode(path):
    return [f.astype(np.float64) / 255 for f in read_frames(path)]


def test_preserve_color_luminance_keeps_each_frames_chroma(bbb_path, style_path, tmp_path, monkeypatch):
    from vstlib import color

    rec = RecordingStylizer(monkeypatch)
    out = tmp_path / "lum.mp4"
    stylize_video(bbb_path, style_path, out, config=TINY, max_side=64, duration=0.25, progress=False,
                  preserve_color="luminance")
    assert len(rec.contents) == 6 and all(torch.equal(c[:, 0], c[:, 1]) for c in rec.contents)  # grey inputs
    assert torch.equal(rec.styles[0][:, 0], rec.styles[0][:, 2])  # a grey style
    inputs = list(read_frames(bbb_path, max_side=64, end=6))
    written = list(read_frames(out))
    assert len(written) == 6 and probe_video(out).has_audio
    for src, got in zip(inputs, written):
        # stylized luminance is flat grey 0.5; the chroma is the frame's own (H.264 adds a little error)
        yiq_src = color.rgb_to_yiq(torch.from_numpy(src / 255.0).permute(2, 0, 1)[None])
        yiq_got = color.rgb_to_yiq(torch.from_numpy(got[:, :, :] / 255.0).permute(2, 0, 1)[None])
        h, w = yiq_src.shape[-2:]
        assert (yiq_got[:, 0, :h, :w] - 0.5).abs().mean() < 0.03
        assert (yiq_got[:, 1:, :h, :w] - yiq_src[:, 1:]).abs().mean() < 0.02
        assert yiq_src[:, 1:].abs().mean() > 0.03  # the clip has colour to keep


def test_preserve_color_histogram_uses_one_recoloured_style(bbb_path, style_path, tmp_path, monkeypatch):
    from vstlib import color
    from vstlib.gatys import load_style

    rec = RecordingStylizer(monkeypatch)
    stylize_video(bbb_path, style_path, tmp_path / "hist.mp4", config=TINY, max_side=64, duration=0.25,
                  progress=False, preserve_color="histogram")
    assert len(rec.styles) == 1 and len(rec.contents) == 6  # one style image for the whole clip
    clip = color.color_stats(read_frames(bbb_path, max_side=64, end=6))
    got = color.color_stats(rec.styles[0])
    original = color.color_stats(load_style(style_path))
    assert (got.mean - clip.mean).abs().max() < 0.05  # clamping to [0, 1] is the only deviation
    assert (got.mean - clip.mean).abs().max() < 0.2 * (original.mean - clip.mean).abs().max()
    assert all(torch.equal(c, t) for c, t in zip(rec.contents, [to_tensor(f) for f in read_frames(bbb_path, max_side=64, end=6)]))


def test_preserve_color_rejects_unknown_modes(bbb_path, style_path, tmp_path, monkeypatch):
    """(The mode keys the resume folder: test_cache_folder_is_keyed_by_the_settings.)"""
    with pytest.raises(VstError, match="none, luminance, histogram"):
        stylize_video(bbb_path, style_path, tmp_path / "x.mp4", preserve_color="lab")
    assert not (tmp_path / "x.mp4").exists()
