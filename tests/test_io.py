"""Tests for vstlib.io: image loading/saving, tensor conversion, video probe/read/write.

Videos come from the sample-data mirror (env VSTLIB_DATA_DIR, default ../shared/data next to
the repository); tests that need it are skipped when it is absent. Everything else uses
synthetic images written into pytest's tmp_path.
"""

from __future__ import annotations

import contextlib
import errno
import os
import subprocess
import zlib
import struct
from fractions import Fraction
import time
from pathlib import Path

import av
import cv2
import imageio_ffmpeg
import numpy as np
import pytest
import torch
from PIL import Image, ImageOps

from vstlib import io
from vstlib.errors import VstError

REPO_ROOT = Path(__file__).resolve().parents[1]


# --------------------------------------------------------------------------------------------
# Fixtures and helpers
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def data_dir() -> Path:
    root = Path(os.environ.get("VSTLIB_DATA_DIR", REPO_ROOT.parent / "shared" / "data"))
    if not (root / "video").is_dir():
        pytest.skip(f"sample data not found at {root}; set VSTLIB_DATA_DIR")
    return root


@pytest.fixture(scope="session")
def bbb(data_dir: Path) -> Path:
    """640x360, 24 fps, 10 s, with an AAC audio track."""
    return data_dir / "video" / "bbb_adain_640x360_10s.mp4"


@pytest.fixture(scope="session")
def sintel(data_dir: Path) -> Path:
    """640x360, 24 fps, 10 s, no audio."""
    return data_dir / "video" / "sintel_640x360_10s.mp4"


@pytest.fixture(scope="session")
def cave(data_dir: Path) -> Path:
    """1024x436, 10 fps, 50 frames, no audio."""
    return data_dir / "video" / "mpi_sintel_cave_2_clean_1024x436_10fps.mp4"


def synthetic_frames(n: int, height: int = 48, width: int = 64) -> list:
    """Smooth, moving colour gradients (H.264-friendly, so round trips are close)."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    frames = []
    for i in range(n):
        r = 40 + 170 * xx / max(width - 1, 1)
        g = 40 + 170 * yy / max(height - 1, 1)
        b = np.full_like(xx, 60 + 12 * i)
        frames.append(np.stack([r, g, b], axis=-1).round().astype(np.uint8))
    return frames


def child_cmdlines() -> list:
    """Command lines of this process's live child processes (Linux /proc only)."""
    me = str(os.getpid())
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            # Fields after the ')' that ends the command name: state, ppid, ...
            state, ppid = stat.rsplit(")", 1)[1].split()[:2]
            if ppid == me and state != "Z":
                out.append((entry / "cmdline").read_bytes().replace(b"\0", b" ").decode())
        except (OSError, IndexError):
            continue
    return out


def audio_samples(path: Path, start: float = 0.0, duration: float | None = None) -> np.ndarray:
    """Decode (part of) an audio track to mono float32 at 8 kHz with the bundled ffmpeg."""
    cmd = [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-ss", str(start)]
    if duration is not None:
        cmd += ["-t", str(duration)]
    cmd += ["-i", str(path), "-vn", "-ac", "1", "-ar", "8000", "-f", "s16le", "-"]
    raw = subprocess.run(cmd, capture_output=True, check=True).stdout
    return np.frombuffer(raw, dtype=np.int16).astype(np.float32) / 32768.0


def listing(folder: Path) -> list:
    return sorted(p.name for p in folder.iterdir())


# --------------------------------------------------------------------------------------------
# to_tensor / to_array
# --------------------------------------------------------------------------------------------


def test_to_tensor_and_back_is_exact_for_uint8():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, size=(5, 7, 3), dtype=np.uint8)
    t = io.to_tensor(a)
    assert t.shape == (1, 3, 5, 7) and t.dtype == torch.float32
    assert float(t.min()) >= 0.0 and float(t.max()) <= 1.0
    assert torch.allclose(t[0, :, 2, 3], torch.tensor(a[2, 3], dtype=torch.float32) / 255)
    np.testing.assert_array_equal(io.to_array(t), a)
    np.testing.assert_array_equal(io.to_array(t[0]), a)  # [3,H,W] accepted too


def test_to_tensor_accepts_float_arrays():
    a = np.linspace(0, 1, 2 * 3 * 3, dtype=np.float64).reshape(2, 3, 3)
    t = io.to_tensor(a)
    assert t.dtype == torch.float32
    assert torch.allclose(t[0].permute(1, 2, 0), torch.from_numpy(a).float())


def test_to_array_clamps_and_rounds():
    t = torch.tensor([-0.5, 1.7, 0.4 / 255, 0.6 / 255, 127.5 / 255, 1.0]).view(1, 3, 1, 2)
    a = io.to_array(t.requires_grad_())
    assert a.dtype == np.uint8 and a.shape == (1, 2, 3)
    # channel c of pixel x is t[0, c, 0, x]
    assert a[0, :, 0].tolist() == [0, 255]  # clamped
    assert a[0, :, 1].tolist() == [0, 1]  # rounded, not truncated
    assert a[0, :, 2].tolist() == [128, 255]


@pytest.mark.parametrize("shape", [(2, 3, 4, 4), (4, 4), (1, 4, 4, 4), (4, 4, 3)])
def test_to_array_rejects_bad_shapes(shape):
    with pytest.raises(ValueError):
        io.to_array(torch.zeros(shape))


# --------------------------------------------------------------------------------------------
# load_image
# --------------------------------------------------------------------------------------------


def test_rgb_png_round_trip_is_exact(tmp_path):
    rng = np.random.default_rng(1)
    a = rng.integers(0, 256, size=(9, 13, 3), dtype=np.uint8)
    Image.fromarray(a).save(tmp_path / "rgb.png")
    t = io.load_image(tmp_path / "rgb.png")
    assert t.shape == (1, 3, 9, 13) and t.dtype == torch.float32
    np.testing.assert_array_equal(io.to_array(t), a)  # channel order RGB, not BGR


def test_grayscale_is_replicated_to_three_channels(tmp_path):
    g = np.arange(0, 240, 2, dtype=np.uint8).reshape(8, 15)
    Image.fromarray(g, mode="L").save(tmp_path / "gray.png")
    a = io.to_array(io.load_image(tmp_path / "gray.png"))
    assert a.shape == (8, 15, 3)
    for c in range(3):
        np.testing.assert_array_equal(a[:, :, c], g)


def test_rgba_is_composited_onto_white(tmp_path):
    rgba = np.array(
        [[[200, 100, 50, 255], [200, 100, 50, 0], [0, 0, 0, 128], [10, 20, 30, 51]]], dtype=np.uint8
    )
    Image.fromarray(rgba, mode="RGBA").save(tmp_path / "rgba.png")
    t = io.load_image(tmp_path / "rgba.png")[0].permute(1, 2, 0).numpy()  # H, W, 3
    rgb = rgba[..., :3].astype(np.float32) / 255
    alpha = rgba[..., 3:].astype(np.float32) / 255
    np.testing.assert_allclose(t, rgb * alpha + (1 - alpha), atol=1e-6)
    np.testing.assert_allclose(t[0, 1], [1, 1, 1])  # fully transparent -> white


def test_palette_png(tmp_path):
    im = Image.new("P", (4, 2))
    im.putpalette([255, 0, 0, 0, 255, 0, 0, 0, 255] + [0] * (256 * 3 - 9))
    im.putdata([0, 1, 2, 0, 2, 2, 1, 0])
    im.save(tmp_path / "pal.png")
    a = io.to_array(io.load_image(tmp_path / "pal.png"))
    assert a[0, 0].tolist() == [255, 0, 0]
    assert a[0, 1].tolist() == [0, 255, 0]
    assert a[1, 0].tolist() == [0, 0, 255]


def test_16bit_png_keeps_full_precision(tmp_path):
    # Values whose low byte matters: squashing to 8 bits would move them by up to 1/255.
    rgb16 = np.array(
        [[[1000, 65535, 0], [12345, 40000, 257]], [[65534, 1, 30000], [7, 8, 9]]], dtype=np.uint16
    )
    cv2.imwrite(str(tmp_path / "rgb16.png"), rgb16[..., ::-1])  # OpenCV writes BGR
    t = io.load_image(tmp_path / "rgb16.png")[0].permute(1, 2, 0).numpy()
    np.testing.assert_allclose(t, rgb16.astype(np.float32) / 65535, atol=1e-7)

    gray16 = np.array([[0, 1, 300], [65535, 32768, 65000]], dtype=np.uint16)
    cv2.imwrite(str(tmp_path / "gray16.png"), gray16)
    t = io.load_image(tmp_path / "gray16.png")[0].numpy()
    for c in range(3):
        np.testing.assert_allclose(t[c], gray16.astype(np.float32) / 65535, atol=1e-7)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_matches_pillow(tmp_path, orientation):
    rng = np.random.default_rng(orientation)
    a = rng.integers(0, 256, size=(4, 6, 3), dtype=np.uint8)
    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.fromarray(a).save(tmp_path / "o.png", exif=exif)  # PNG: lossless, so exact compare
    with Image.open(tmp_path / "o.png") as im:
        expected = np.asarray(ImageOps.exif_transpose(im).convert("RGB"))
    np.testing.assert_array_equal(io.to_array(io.load_image(tmp_path / "o.png")), expected)


def test_resize_shapes(tmp_path):
    Image.fromarray(np.zeros((60, 40, 3), np.uint8)).save(tmp_path / "tall.png")
    Image.fromarray(np.zeros((30, 90, 3), np.uint8)).save(tmp_path / "wide.png")
    assert io.load_image(tmp_path / "tall.png", max_side=30).shape == (1, 3, 30, 20)
    assert io.load_image(tmp_path / "wide.png", max_side=45).shape == (1, 3, 15, 45)
    assert io.load_image(tmp_path / "wide.png", max_side=180).shape == (1, 3, 60, 180)  # upscales
    assert io.load_image(tmp_path / "tall.png", size=(10, 17)).shape == (1, 3, 10, 17)
    with pytest.raises(VstError):
        io.load_image(tmp_path / "tall.png", size=(10, 10), max_side=10)
    with pytest.raises(VstError):
        io.load_image(tmp_path / "tall.png", max_side=0)


def test_downscaling_is_antialiased():
    # A one-pixel checkerboard shrunk 4x must average to mid-gray; point sampling
    # (no antialiasing) would give pure black or white.
    board = ((np.indices((64, 64)).sum(axis=0) % 2) * 255).astype(np.uint8)
    small = io.resize_frame(np.repeat(board[:, :, None], 3, axis=2), size=(16, 16))
    assert small.shape == (16, 16, 3) and small.dtype == np.uint8
    assert np.abs(small.astype(int) - 128).max() <= 1


def test_resize_frame_preserves_float_range_and_dtype():
    x = np.zeros((8, 8, 3), np.float32)
    x[::2] = 1.0
    up = io.resize_frame(x, size=(32, 32))  # bicubic overshoots; must be clipped
    assert up.dtype == np.float32 and up.shape == (32, 32, 3)
    assert up.min() >= 0.0 and up.max() <= 1.0
    assert io.resize_frame(x) is x


def test_load_image_errors(tmp_path):
    with pytest.raises(VstError, match="cannot read image .*missing.png.*not found"):
        io.load_image(tmp_path / "missing.png")
    (tmp_path / "text.png").write_text("this is not an image\n")
    with pytest.raises(VstError, match="cannot read image .*text.png") as err:
        io.load_image(tmp_path / "text.png")
    assert "\n" not in str(err.value)
    (tmp_path / "empty.jpg").write_bytes(b"")
    with pytest.raises(VstError):
        io.load_image(tmp_path / "empty.jpg")
    with pytest.raises(VstError):
        io.load_image(tmp_path)  # a folder


def test_load_style_painting(data_dir):
    t = io.load_image(data_dir / "style" / "starry_night_vangogh.jpg", max_side=128)
    assert t.shape[:2] == (1, 3) and max(t.shape[2:]) == 128
    assert 0.0 <= float(t.min()) and float(t.max()) <= 1.0 and float(t.std()) > 0.05


# --------------------------------------------------------------------------------------------
# save_image / atomic_path
# --------------------------------------------------------------------------------------------


def test_save_image_png_exact_and_jpg_close(tmp_path):
    t = torch.rand(1, 3, 12, 10, generator=torch.Generator().manual_seed(0))
    io.save_image(t, tmp_path / "out.png")
    np.testing.assert_array_equal(io.to_array(io.load_image(tmp_path / "out.png")), io.to_array(t))

    smooth = synthetic_frames(1, 32, 32)[0]
    io.save_image(smooth, tmp_path / "out.jpg")
    with Image.open(tmp_path / "out.jpg") as im:
        assert im.format == "JPEG"
    back = io.to_array(io.load_image(tmp_path / "out.jpg"))
    assert np.abs(back.astype(int) - smooth).mean() < 3
    assert listing(tmp_path) == ["out.jpg", "out.png"]  # no temp files left


def test_save_image_errors(tmp_path):
    img = np.zeros((4, 4, 3), np.uint8)
    with pytest.raises(VstError, match="cannot write"):
        io.save_image(img, tmp_path / "no_such_dir" / "x.png")
    with pytest.raises(VstError, match="extension"):
        io.save_image(img, tmp_path / "x.notanimage")
    assert listing(tmp_path) == []


def test_atomic_path_replaces_on_success(tmp_path):
    target = tmp_path / "file.txt"
    target.write_text("old")
    with io.atomic_path(target) as temp:
        assert temp.parent == tmp_path and temp.suffix == ".txt" and temp.name.startswith(".")
        assert target.read_text() == "old"  # untouched until the block ends
        temp.write_text("new")
    assert target.read_text() == "new"
    assert listing(tmp_path) == ["file.txt"]
    # Permissions follow the umask like a normal file, not mkstemp's private 0600.
    umask = os.umask(0)
    os.umask(umask)
    assert (target.stat().st_mode & 0o777) == (0o666 & ~umask)


def test_atomic_path_keeps_old_file_on_error(tmp_path):
    target = tmp_path / "file.txt"
    target.write_text("old")
    with pytest.raises(KeyError):
        with io.atomic_path(target) as temp:
            temp.write_text("half-written")
            raise KeyError("boom")
    assert target.read_text() == "old"
    assert listing(tmp_path) == ["file.txt"]


def test_atomic_path_unwritable_destinations(tmp_path):
    with pytest.raises(VstError, match="cannot write .*does not exist"):
        with io.atomic_path(tmp_path / "missing" / "x.png"):
            pass
    (tmp_path / "a_file").write_text("")
    with pytest.raises(VstError, match="cannot write"):
        with io.atomic_path(tmp_path / "a_file" / "x.png"):
            pass
    with pytest.raises(VstError, match="folder"):
        with io.atomic_path(tmp_path):
            pass


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root can write anywhere")
def test_atomic_path_read_only_folder(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        with pytest.raises(VstError, match="not writable"):
            io.save_image(np.zeros((2, 2, 3), np.uint8), ro / "x.png")
    finally:
        ro.chmod(0o700)


# --------------------------------------------------------------------------------------------
# Probing
# --------------------------------------------------------------------------------------------


def test_is_video_path():
    assert io.is_video_path("a/b/clip.MP4") and io.is_video_path(Path("x.mkv"))
    assert io.is_video_path("x.webm") and io.is_video_path("x.mov")
    assert not io.is_video_path("photo.jpg") and not io.is_video_path("noext")


def test_probe_bbb_has_audio(bbb):
    info = io.probe_video(bbb)
    assert (info.width, info.height) == (640, 360)
    assert info.fps == pytest.approx(24, abs=0.01)
    assert info.n_frames == 240
    assert info.duration == pytest.approx(10, abs=0.1)
    assert info.has_audio is True
    assert io.has_audio(bbb) is True


def test_probe_sintel_has_no_audio(sintel, cave):
    info = io.probe_video(sintel)
    assert (info.width, info.height, info.n_frames) == (640, 360, 240)
    assert info.has_audio is False and io.has_audio(sintel) is False
    info = io.probe_video(cave)
    assert (info.width, info.height, info.n_frames) == (1024, 436, 50)
    assert info.fps == pytest.approx(10, abs=0.01)


def test_probe_errors(tmp_path):
    with pytest.raises(VstError, match="cannot read video .*not found"):
        io.probe_video(tmp_path / "missing.mp4")
    (tmp_path / "fake.mp4").write_text("not a video\n")
    with pytest.raises(VstError, match="cannot read video .*fake.mp4") as err:
        io.probe_video(tmp_path / "fake.mp4")
    assert "\n" not in str(err.value)
    with pytest.raises(VstError):
        io.has_audio(tmp_path / "fake.mp4")
    with pytest.raises(VstError):
        io.has_audio(tmp_path / "missing.mp4")


# --------------------------------------------------------------------------------------------
# read_frames
# --------------------------------------------------------------------------------------------


def test_read_frames_range_and_step(cave):
    head = list(io.read_frames(cave, end=20))
    assert len(head) == 20 and head[0].shape == (436, 1024, 3) and head[0].dtype == np.uint8
    picked = list(io.read_frames(cave, start=5, end=20, step=3))
    assert len(picked) == 5  # frames 5, 8, 11, 14, 17
    for frame, index in zip(picked, [5, 8, 11, 14, 17]):
        np.testing.assert_array_equal(frame, head[index])
    assert not np.array_equal(head[5], head[8])  # the video actually moves
    head[0][0, 0] = 0  # frames are writable


def test_read_frames_resize_and_open_end(cave):
    frames = list(io.read_frames(cave, max_side=256, start=40, end=1000, step=4))
    assert len(frames) == 3  # 40, 44, 48 (the video has 50 frames)
    assert all(f.shape == (109, 256, 3) for f in frames)
    full = list(io.read_frames(cave, start=40, end=41))[0]
    np.testing.assert_array_equal(frames[0], io.resize_frame(full, max_side=256))
    sized = next(io.read_frames(cave, size=(50, 60)))
    assert sized.shape == (50, 60, 3)


def open_files() -> list:
    """Paths this process has open (Linux /proc only)."""
    out = []
    for fd in Path("/proc/self/fd").iterdir():
        with contextlib.suppress(OSError):
            out.append(os.readlink(fd))
    return out


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc")
def test_read_frames_is_lazy_and_closes_the_file(data_dir):
    path = data_dir / "video" / "tears_of_steel_640x360_10s.mp4"
    t0 = time.perf_counter()
    gen = io.read_frames(path)
    assert str(path) not in open_files()  # nothing opened before next()
    frames = [next(gen) for _ in range(3)]
    assert str(path) in open_files()  # the decoder is streaming
    gen.close()
    assert time.perf_counter() - t0 < 5.0
    assert len(frames) == 3 and frames[2].shape == (360, 640, 3)
    assert str(path) not in open_files()  # closed with the iterator
    assert not any(str(path) in c for c in child_cmdlines())  # and no subprocess is involved


def test_read_frames_errors(tmp_path, cave):
    with pytest.raises(VstError, match="not found"):
        io.read_frames(tmp_path / "missing.mp4")  # raised at call time
    with pytest.raises(VstError):
        io.read_frames(cave, start=5, end=5)
    with pytest.raises(VstError):
        io.read_frames(cave, step=0)
    with pytest.raises(VstError):
        io.read_frames(cave, start=-1)
    (tmp_path / "fake.mp4").write_text("not a video\n")
    with pytest.raises(VstError, match="cannot read video") as err:
        next(io.read_frames(tmp_path / "fake.mp4"))
    assert "\n" not in str(err.value)
    assert not child_cmdlines() or not any("fake.mp4" in c for c in child_cmdlines())


# --------------------------------------------------------------------------------------------
# VideoWriter
# --------------------------------------------------------------------------------------------


def test_video_writer_round_trip(tmp_path):
    frames = synthetic_frames(10)
    out = tmp_path / "out.mp4"
    with io.VideoWriter(out, fps=12) as writer:
        for i, f in enumerate(frames):
            writer.write(f if i % 2 else io.to_tensor(f))  # arrays and tensors both accepted
    assert listing(tmp_path) == ["out.mp4"]
    info = io.probe_video(out)
    assert (info.width, info.height) == (64, 48)
    assert info.n_frames == 10
    assert info.fps == pytest.approx(12, abs=0.01)
    assert info.duration == pytest.approx(10 / 12, abs=0.05)
    assert info.has_audio is False
    back = list(io.read_frames(out))
    assert len(back) == 10
    for a, b in zip(back, frames):
        assert np.abs(a.astype(int) - b).mean() < 3.0
    # Frames stay in order (the blue channel grows by 12 per frame).
    blues = [float(f[..., 2].mean()) for f in back]
    assert blues == sorted(blues)


def test_video_writer_pads_odd_sizes(tmp_path):
    # A gray checkerboard of 4-pixel squares: padding keeps every square where it was, while
    # rescaling 63x47 -> 64x48 would smear the edges (mean error ~35 instead of <1).
    yy, xx = np.mgrid[0:47, 0:63]
    gray = (((xx // 4 + yy // 4) % 2) * 160 + 48).astype(np.uint8)
    frame = np.repeat(gray[:, :, None], 3, axis=2)
    out = tmp_path / "odd.mp4"
    with io.VideoWriter(out, fps=10) as writer:
        for _ in range(3):
            writer.write(frame)
    info = io.probe_video(out)
    assert (info.width, info.height) == (64, 48)
    first = next(io.read_frames(out))
    assert np.abs(first[:47, :63].astype(int) - frame).mean() < 3.0


def test_video_writer_rejects_frame_size_change(tmp_path):
    out = tmp_path / "x.mp4"
    with pytest.raises(ValueError):
        with io.VideoWriter(out, fps=10) as writer:
            writer.write(np.zeros((16, 16, 3), np.uint8))
            writer.write(np.zeros((32, 16, 3), np.uint8))
    assert listing(tmp_path) == []


def test_video_writer_is_reproducible(tmp_path, bbb):
    """The same frames and times give the same bytes, also in a process that decodes videos
    between the encodes (a resumed video is compared with an uninterrupted one exactly).

    Before io.video._x264_params kept x264 off its AVX-512 code, this failed in 5 of 12 runs on
    the (AVX-512) development machine: x264 read heap bytes it never wrote."""
    frames = list(io.read_frames(bbb, max_side=32, end=3))

    def encode(name: str, n: int, gap: float) -> bytes:
        path = tmp_path / name
        with io.VideoWriter(path, fps=24, threads=1) as writer:
            for i in range(n):
                writer.write(frames[i], time=i * gap)
            writer.end_time = n * gap
        list(io.read_frames(path))  # decoding between the encodes is what exposed it
        return path.read_bytes()

    for n, gap in [(2, 1 / 24), (2, 2 / 24), (3, 1 / 24)]:
        first = encode("first.mp4", n, gap)
        for k in range(4):
            assert encode(f"again{k}.mp4", n, gap) == first, (n, gap, k)


def test_video_writer_copies_and_trims_audio(tmp_path, bbb, sintel):
    frames = synthetic_frames(10)
    out = tmp_path / "with_audio.mp4"
    with io.VideoWriter(out, fps=12, audio_from=bbb, audio_start=2.0) as writer:
        for f in frames:
            writer.write(f)
    assert listing(tmp_path) == ["with_audio.mp4"]
    info = io.probe_video(out)
    assert info.has_audio is True and info.n_frames == 10
    # The container duration is the longer of the streams: an untrimmed track would be 8 s.
    assert info.duration == pytest.approx(10 / 12, abs=0.15)
    # The audio is the excerpt starting at 2 s (compare waveforms; AAC is lossy).
    got = audio_samples(out)
    ref = audio_samples(bbb, start=2.0, duration=len(got) / 8000)
    n = min(len(got), len(ref))
    assert n > 0.7 * 8000 * 10 / 12
    assert np.corrcoef(got[:n], ref[:n])[0, 1] > 0.9
    wrong = audio_samples(bbb, start=0.0, duration=n / 8000)[:n]
    assert abs(np.corrcoef(got[:n], wrong)[0, 1]) < 0.5

    # A source without audio gives a silent video, not an error.
    silent = tmp_path / "silent.mp4"
    with io.VideoWriter(silent, fps=12, audio_from=sintel) as writer:
        writer.write(frames[0])
    assert io.has_audio(silent) is False


def test_video_writer_exception_keeps_previous_file(tmp_path):
    out = tmp_path / "out.mp4"
    out.write_bytes(b"previous content")
    with pytest.raises(RuntimeError, match="stylisation failed"):
        with io.VideoWriter(out, fps=12) as writer:
            for f in synthetic_frames(3):
                writer.write(f)
            raise RuntimeError("stylisation failed")
    assert out.read_bytes() == b"previous content"
    assert listing(tmp_path) == ["out.mp4"]


def test_video_writer_zero_frames_is_an_error(tmp_path):
    with pytest.raises(VstError, match="no frames"):
        with io.VideoWriter(tmp_path / "empty.mp4", fps=12):
            pass
    assert listing(tmp_path) == []


def test_video_writer_bad_arguments(tmp_path, sintel):
    with pytest.raises(VstError, match="cannot write"):
        with io.VideoWriter(tmp_path / "missing_dir" / "x.mp4", fps=12):
            pass
    with pytest.raises(VstError, match=r"\.mp4"):
        io.VideoWriter(tmp_path / "x.webm", fps=12)
    with pytest.raises(VstError):
        io.VideoWriter(tmp_path / "x.mp4", fps=0)
    with pytest.raises(VstError):
        io.VideoWriter(tmp_path / "x.mp4", fps=12, quality=11)
    with pytest.raises(VstError, match="not found"):
        io.VideoWriter(tmp_path / "x.mp4", fps=12, audio_from=tmp_path / "nope.mp4")
    assert listing(tmp_path) == []


# --------------------------------------------------------------------------------------------
# Batch conversions
# --------------------------------------------------------------------------------------------


def test_batch_conversions_round_trip():
    rng = np.random.default_rng(3)
    frames = rng.integers(0, 256, size=(4, 5, 7, 3), dtype=np.uint8)
    t = io.to_tensors(list(frames))
    assert t.shape == (4, 3, 5, 7) and t.dtype == torch.float32
    torch.testing.assert_close(t[2:3], io.to_tensor(frames[2]))
    np.testing.assert_array_equal(io.to_arrays(t), frames)
    np.testing.assert_array_equal(io.to_arrays(io.to_tensors(frames)), frames)  # one [N,H,W,3] array too
    assert io.as_uint8_frame(frames[0] / 255.0).tolist() == frames[0].tolist()  # float arrays are rounded


# --------------------------------------------------------------------------------------------
# Seeking, timestamps, variable frame rate, audio tracks
# --------------------------------------------------------------------------------------------


def make_media(path: Path, times, end: float, freqs=(440.0,), hw=(48, 64), gop=None, rotation=0) -> Path:
    """A video written with PyAV directly: frame i at ``times[i]`` s (ms precision), lasting
    until ``end`` s, plus one mono AAC track per frequency in ``freqs`` (sine tones, ``end`` s)."""
    h, w = hw
    c = av.open(str(path), "w")
    v = c.add_stream("libx264", rate=24)
    v.width, v.height, v.pix_fmt = w, h, "yuv420p"
    v.codec_context.time_base = Fraction(1, 1000)
    if gop:
        v.codec_context.gop_size = gop
    if rotation:
        v.set_display_rotation(rotation)
    tracks = [c.add_stream("aac", rate=44100, layout="mono") for _ in freqs]
    ticks = [int(round(t * 1000)) for t in times]
    durations = {p: q - p for p, q in zip(ticks, ticks[1:] + [int(round(end * 1000))])}
    yy, xx = np.mgrid[0:h, 0:w]
    for i, p in enumerate(ticks):
        a = np.stack([(xx * 3 + 7 * i) % 256, (yy * 4) % 256, np.full_like(xx, (11 * i) % 256)], -1).astype(np.uint8)
        a[: h // 4, : w // 4] = 255  # a white corner shows the orientation
        frame = av.VideoFrame.from_ndarray(a, format="rgb24")
        frame.pts, frame.time_base = p, Fraction(1, 1000)
        for packet in v.encode(frame):
            packet.duration = durations[packet.pts]
            c.mux(packet)
    for packet in v.encode():
        packet.duration = durations[packet.pts]
        c.mux(packet)
    n = int(44100 * end)
    for stream, freq in zip(tracks, freqs):
        x = (0.3 * np.sin(2 * np.pi * freq * np.arange(n) / 44100)).astype(np.float32)[None]
        for k in range(0, n, 1024):
            af = av.AudioFrame.from_ndarray(np.ascontiguousarray(x[:, k:k + 1024]), format="fltp", layout="mono")
            af.sample_rate, af.pts = 44100, k
            for packet in stream.encode(af):
                c.mux(packet)
        for packet in stream.encode():
            c.mux(packet)
    c.close()
    return path


def stream_seconds(path: Path) -> dict:
    """{'video': [s], 'audio': [s, ...]}: each stream's own duration."""
    out = {"video": [], "audio": []}
    with av.open(str(path)) as c:
        for s in c.streams:
            if s.type in out:
                out[s.type].append(float(s.duration * s.time_base))
    return out


VFR_TIMES = list(np.round(np.concatenate([[0], np.cumsum(np.random.default_rng(0).uniform(0.3, 1.7, 21))])
                          * (1.9 / np.sum(np.random.default_rng(0).uniform(0.3, 1.7, 21))), 3))


@pytest.fixture
def vfr(tmp_path) -> Path:
    """22 frames at irregular times over 2.00 s (the last at 1.9 s), with two audio tracks."""
    return make_media(tmp_path / "vfr.mp4", VFR_TIMES, 2.0, freqs=(440.0, 660.0))


@pytest.mark.parametrize("name,starts", [
    ("bbb_adain_640x360_10s.mp4", [1, 23, 100, 193, 235, 239]),  # keyframes at 0 and 9.79 s only
    ("mpi_sintel_cave_2_clean_1024x436_10fps.mp4", [1, 11, 12, 13, 37, 49]),  # MPEG-4, keyframe every 12
])
def test_seeking_gives_exactly_the_frames_of_decoding_from_the_start(data_dir, name, starts):
    path = data_dir / "video" / name
    everything = list(io.read_frames(path, max_side=160, with_times=True))
    for start in starts:
        got = list(io.read_frames(path, max_side=160, start=start, end=start + 7, step=2, with_times=True))
        want = everything[start:start + 7:2]
        assert [t for t, _ in got] == [t for t, _ in want], start
        for (_, a), (_, b) in zip(got, want):
            np.testing.assert_array_equal(a, b)
    fps = io.probe_video(path).fps
    assert [t for t, _ in everything[:5]] == pytest.approx([i / fps for i in range(5)], abs=1e-6)
    assert list(io.read_frames(path, start=len(everything))) == []  # past the end: nothing


def test_read_frames_seeks_instead_of_decoding_everything(tmp_path, monkeypatch):
    path = make_media(tmp_path / "gop.mp4", [i / 24 for i in range(120)], 5.0, freqs=(), gop=24)
    from vstlib.io import video as vmod

    decoded, original = [], vmod._decoded

    def spy(*args):
        for frame in original(*args):
            decoded.append(frame.time)
            yield frame

    monkeypatch.setattr(vmod, "_decoded", spy)
    frames = list(io.read_frames(path, start=100, end=103))
    assert len(frames) == 3
    with av.open(str(path)) as c:
        keys = [float(p.pts * p.time_base) for p in c.demux(c.streams.video[0]) if p.is_keyframe and p.pts is not None]
    key = max(k for k in keys if k <= 100 / 24 + 1e-6)
    assert len(keys) > 2 and key > 2.0
    assert min(decoded) == pytest.approx(key, abs=1e-3)  # decoding began at the keyframe before frame 100
    assert len(decoded) < 30  # not the 100 frames before it (a few more come out of the threaded decoder)
    np.testing.assert_array_equal(frames[0], list(io.read_frames(path, end=101))[100])


def test_rotation_metadata_is_applied(tmp_path):
    path = make_media(tmp_path / "rot.mp4", [i / 24 for i in range(30)], 1.25, freqs=(), hw=(48, 64), gop=10,
                      rotation=90)
    info = io.probe_video(path)
    assert (info.width, info.height) == (48, 64)
    frames = list(io.read_frames(path))
    assert frames[0].shape == (64, 48, 3)
    # 90 degrees counter-clockwise, as ffmpeg's autorotation shows it: the white corner goes bottom-left
    assert frames[0][-16:, :12].min() > 200 and frames[0][:16, :12].max() < 250
    ffmpeg = subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-i", str(path), "-frames:v", "1",
                             "-f", "rawvideo", "-pix_fmt", "rgb24", "-"], capture_output=True, check=True).stdout
    reference = np.frombuffer(ffmpeg, np.uint8).reshape(64, 48, 3)
    assert np.abs(reference.astype(int) - frames[0]).mean() < 2
    np.testing.assert_array_equal(next(io.read_frames(path, start=25)), frames[25])  # seeking too


def test_probe_reports_audio_tracks_and_frame_rate_regularity(vfr, bbb, sintel):
    info = io.probe_video(vfr)
    assert info.n_frames == 22 and info.variable_frame_rate is True
    assert info.audio_streams == 2 and info.has_audio is True
    assert info.duration == pytest.approx(2.0, abs=0.01)
    info = io.probe_video(bbb)
    assert info.audio_streams == 1 and info.variable_frame_rate is False
    assert io.probe_video(sintel).audio_streams == 0


def test_variable_frame_rate_keeps_its_timing_and_audio(vfr, tmp_path):
    times = [t for t, _ in io.read_frames(vfr, with_times=True)]
    assert times == pytest.approx(VFR_TIMES, abs=1e-3)
    out = tmp_path / "out.mp4"
    info = io.probe_video(vfr)
    with io.VideoWriter(out, fps=info.fps, audio_from=vfr, audio_duration=info.duration) as writer:
        for t, frame in io.read_frames(vfr, with_times=True):
            writer.write(frame, time=t)
    seconds = stream_seconds(out)
    assert seconds["video"][0] == pytest.approx(2.0, abs=0.01)  # was 1.75 s at a constant 22/2 fps... cut
    assert seconds["audio"] == pytest.approx([2.0, 2.0], abs=0.05)  # both tracks, whole length
    assert [t for t, _ in io.read_frames(out, with_times=True)] == pytest.approx(VFR_TIMES, abs=2e-3)
    # The writer's own default end: the last frame lasts until end_time.
    out2 = tmp_path / "end.mp4"
    with io.VideoWriter(out2, fps=info.fps) as writer:
        for t, frame in io.read_frames(vfr, with_times=True, start=5):
            writer.write(frame, time=t)
        writer.end_time = 2.0
    assert stream_seconds(out2)["video"][0] == pytest.approx(2.0 - VFR_TIMES[5], abs=0.01)
    assert [t for t, _ in io.read_frames(out2, with_times=True)] == pytest.approx(
        [t - VFR_TIMES[5] for t in VFR_TIMES[5:]], abs=2e-3)


def test_video_writer_rejects_mixed_or_decreasing_times(tmp_path):
    frame = np.zeros((16, 16, 3), np.uint8)
    with pytest.raises(ValueError, match="every frame"):
        with io.VideoWriter(tmp_path / "a.mp4", fps=10) as writer:
            writer.write(frame, time=0.0)
            writer.write(frame)
    with pytest.raises(ValueError, match="increase"):
        with io.VideoWriter(tmp_path / "b.mp4", fps=10) as writer:
            writer.write(frame, time=0.5)
            writer.write(frame, time=0.5)
    assert listing(tmp_path) == []


def test_two_audio_tracks_are_both_kept(vfr, tmp_path):
    out = tmp_path / "two.mp4"
    with io.VideoWriter(out, fps=12, audio_from=vfr, audio_start=0.5) as writer:
        for f in synthetic_frames(12):
            writer.write(f)
    info = io.probe_video(out)
    assert info.audio_streams == 2
    assert stream_seconds(out)["audio"] == pytest.approx([1.0, 1.0], abs=0.05)
    # each track is its own tone (440 and 660 Hz): the dominant frequency tells them apart
    peaks = []
    for k in range(2):
        cmd = [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-i", str(out), "-map", f"0:a:{k}", "-ac", "1",
               "-ar", "8000", "-f", "s16le", "-"]
        x = np.frombuffer(subprocess.run(cmd, capture_output=True, check=True).stdout, np.int16).astype(float)
        peaks.append(np.argmax(np.abs(np.fft.rfft(x))) * 8000 / len(x))
    assert peaks == pytest.approx([440, 660], abs=15)


def test_concat_keeps_timestamps_and_audio_tracks(vfr, tmp_path):
    items = list(io.read_frames(vfr, with_times=True))
    parts = [tmp_path / "p0.mp4", tmp_path / "p1.mp4"]
    for part, chunk, end in ((parts[0], items[:11], items[11][0]), (parts[1], items[11:], 2.0)):
        with io.VideoWriter(part, fps=11) as writer:
            for t, frame in chunk:
                writer.write(frame, time=t)
            writer.end_time = end
    out = tmp_path / "joined.mp4"
    io.concat_videos(parts, out, audio_from=vfr)
    seconds = stream_seconds(out)
    assert seconds["video"][0] == pytest.approx(2.0, abs=0.01)
    assert seconds["audio"] == pytest.approx([2.0, 2.0], abs=0.05)
    assert [t for t, _ in io.read_frames(out, with_times=True)] == pytest.approx(VFR_TIMES, abs=2e-3)


# --------------------------------------------------------------------------------------------
# Broken, empty and truncated inputs; folders
# --------------------------------------------------------------------------------------------


def test_empty_and_truncated_videos_are_one_line_errors(tmp_path):
    good = tmp_path / "good.mp4"
    with io.VideoWriter(good, fps=12) as writer:
        for f in synthetic_frames(12):
            writer.write(f)
    data = good.read_bytes()
    (tmp_path / "empty.mp4").write_bytes(b"")
    (tmp_path / "half.mp4").write_bytes(data[: len(data) // 2])
    for name in ("empty.mp4", "half.mp4"):
        with pytest.raises(VstError, match=f"cannot read video .*{name}") as err:
            io.probe_video(tmp_path / name)
        assert "\n" not in str(err.value)
        with pytest.raises(VstError, match="cannot read video"):
            list(io.read_frames(tmp_path / name))


def test_a_folder_as_input_says_it_is_a_folder(tmp_path):
    folder = tmp_path / "clip.mp4"
    folder.mkdir()
    for call in (lambda: io.load_image(folder), lambda: io.probe_video(folder), lambda: io.read_frames(folder),
                 lambda: io.has_audio(folder), lambda: io.VideoWriter(tmp_path / "o.mp4", fps=5, audio_from=folder)):
        with pytest.raises(VstError, match="is a folder") as err:
            call()
        assert "not found" not in str(err.value)


# --------------------------------------------------------------------------------------------
# Full disk
# --------------------------------------------------------------------------------------------


def enospc(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


def test_full_disk_while_encoding(tmp_path, monkeypatch):
    from vstlib.io import video as vmod

    monkeypatch.setattr(vmod, "_mux", enospc)
    out = tmp_path / "out.mp4"
    with pytest.raises(VstError, match="disk is full") as err:
        with io.VideoWriter(out, fps=12) as writer:
            for f in synthetic_frames(30):
                writer.write(f)
    assert str(tmp_path) in str(err.value) and "\n" not in str(err.value)
    assert "Invalid data" not in str(err.value)
    assert listing(tmp_path) == []  # temp files removed


def test_full_disk_while_adding_audio(tmp_path, monkeypatch, vfr):
    from vstlib.io import video as vmod

    monkeypatch.setattr(vmod, "_run_ffmpeg", lambda cmd: f"{cmd[-1]}: No space left on device")
    out = tmp_path / "out.mp4"
    with pytest.raises(VstError, match="disk is full"):
        with io.VideoWriter(out, fps=12, audio_from=vfr) as writer:
            writer.write(synthetic_frames(1)[0])
    assert listing(tmp_path) == ["vfr.mp4"]


def test_full_disk_while_saving_an_image_or_in_atomic_path(tmp_path, monkeypatch):
    with pytest.raises(VstError, match=r"disk is full .*" + str(tmp_path.name)):
        with io.atomic_path(tmp_path / "x.bin") as temp:
            temp.write_bytes(b"partial")
            enospc()
    assert listing(tmp_path) == []
    monkeypatch.setattr(Image.Image, "save", enospc)
    with pytest.raises(VstError, match="disk is full"):
        io.save_image(np.zeros((4, 4, 3), np.uint8), tmp_path / "x.png")
    assert listing(tmp_path) == []


# --------------------------------------------------------------------------------------------
# Huge images
# --------------------------------------------------------------------------------------------


def write_solid_png(path: Path, width: int, height: int, rgb=(200, 30, 60)) -> Path:
    """A solid-colour 8-bit RGB PNG written row by row (never the whole image in memory)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    first = b"\x00" + bytes(rgb) * width  # filter 'none'
    rest = b"\x02" + bytes(3 * width)  # filter 'up': the same as the row above
    z = zlib.compressobj(9)
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)))
        f.write(chunk(b"IDAT", z.compress(first)))
        for _ in range(height - 1):
            data = z.compress(rest)
            if data:
                f.write(chunk(b"IDAT", data))
        f.write(chunk(b"IDAT", z.flush()) + chunk(b"IEND", b""))
    return path


def test_huge_png_is_refused_without_decoding_it(tmp_path):
    import resource

    path = write_solid_png(tmp_path / "huge.png", 20000, 20000)
    assert path.stat().st_size < 2_000_000
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    with pytest.raises(VstError, match=r"20000x20000 px .*400 megapixels.*shrink it") as err:
        io.load_image(path, max_side=512)
    assert "\n" not in str(err.value)
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert grown_mb < 200  # the old code peaked at 11.9 GB


def test_big_jpeg_is_decoded_reduced(tmp_path, monkeypatch):
    from vstlib.io import images

    yy, xx = np.mgrid[0:200, 0:300]
    a = np.stack([xx % 256, yy % 256, np.full_like(xx, 90)], -1).astype(np.uint8)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 clockwise on display
    Image.fromarray(a).save(tmp_path / "big.jpg", quality=95, exif=exif)
    full = io.load_image(tmp_path / "big.jpg")
    assert full.shape == (1, 3, 300, 200)
    monkeypatch.setattr(images, "MAX_PIXELS", 300 * 200 // 4)
    small = io.load_image(tmp_path / "big.jpg")
    assert small.shape == (1, 3, 150, 100)  # decoded at half size by libjpeg, EXIF turn applied
    reference = torch.nn.functional.interpolate(full, size=(150, 100), mode="area")
    assert (small - reference).abs().mean() < 0.02
    monkeypatch.setattr(images, "MAX_PIXELS", 100)  # even 1/8 is too big: refused
    with pytest.raises(VstError, match="megapixels"):
        io.load_image(tmp_path / "big.jpg")
