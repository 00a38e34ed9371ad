"""Tests for vstlib.segment: the mask backends, the mask stabilizer, the measurements, writing masks.

Everything runs on synthetic data with known answers (small frames, a few seconds in all): a
static camera with sensor noise and lighting drift plus a moving blob of known alpha
(:func:`synthetic_composite`), hand-made masks for the metrics, stub networks for the VOC
plumbing (random weights, never a download).
"""

from __future__ import annotations

import functools
import io
import itertools
import math
import urllib.error
from pathlib import Path

import numpy as np
from conftest import smooth_texture
import pytest
import torch
import torch.nn.functional as F

from vstlib import segment
from vstlib.errors import VstError
from vstlib.io import VideoWriter, probe_video, read_frames, save_image, to_tensors
from vstlib.segment import (
    VOC_CLASSES,
    FileMasks,
    MaskStabilizer,
    Mog2Segmenter,
    MotionSegmenter,
    Segmenter,
    VocSegmenter,
    make_segmenter,
    mask_flicker,
    mask_iou,
    segment_video,
    static_camera,
    synthetic_composite,
)
from vstlib.stabilize import expected_flicker

pytestmark = pytest.mark.usefixtures("one_torch_thread")

H, W = 72, 128  # small 16:9 frames


def still(h: int = H, w: int = W, seed: int = 0) -> torch.Tensor:
    return torch.from_numpy(smooth_texture(h, w, seed).astype(np.float32) / 255).permute(2, 0, 1)


@functools.cache
def make_scene(n_frames: int):
    """A static camera (noise, 3 % drift) with the blob crossing it once: (frames, alpha)."""
    return synthetic_composite(static_camera(still(), n_frames, seed=1), seed=0)


@pytest.fixture
def scene():
    return make_scene(40)


def write_video(path: Path, frames: torch.Tensor, fps: float = 10.0) -> Path:
    with VideoWriter(path, fps=fps, quality=10) as writer:
        for f in frames:
            writer.write(f)
    return path


def one_line(call) -> str:
    with pytest.raises(VstError) as err:
        call()
    text = str(err.value)
    assert len(text.splitlines()) == 1, text
    return text


# --------------------------------------------------------------------------------------------
# Specs
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("spec, says", [
    ("", "unknown --segment"), ("grabcut", "unknown --segment 'grabcut'"), ("voc", "name the VOC classes"),
    ("voc:person,unicorn", "unknown class 'unicorn'"), ("motion:knn", "unknown motion backend"),
    ("masks:", "needs a path"), ("masks:/no/such/folder", "not found"), ("person:portrait", "unknown variant"),
])
def test_bad_specs_are_one_line(spec, says):
    text = one_line(lambda: make_segmenter(spec))
    assert says in text
    if "class" in says:
        assert "person" in text and "tvmonitor" in text  # lists the valid classes


def test_specs_make_their_backends(tmp_path):
    save_image(np.zeros((4, 4, 3), np.uint8), tmp_path / "m0.png")
    assert isinstance(make_segmenter("motion"), MotionSegmenter)
    assert isinstance(make_segmenter(" Motion:MOG2 "), Mog2Segmenter)
    files = make_segmenter(f"masks:{tmp_path}")
    assert isinstance(files, FileMasks) and files.count == 1 and files.spec == f"masks:{tmp_path}"
    assert make_segmenter(files) is files  # a ready backend passes through


# --------------------------------------------------------------------------------------------
# masks:PATH
# --------------------------------------------------------------------------------------------


def test_mask_folder_round_trip_in_name_order_resized_bilinearly(tmp_path):
    rng = np.random.default_rng(0)
    truth = [rng.integers(0, 256, (H // 2, W // 2), dtype=np.uint8) for _ in range(12)]
    for k, m in enumerate(truth):  # frame_2 must come before frame_10 (numbers sorted as numbers)
        save_image(np.repeat(m[..., None], 3, 2), tmp_path / f"frame_{k}.png")
    seg = make_segmenter(f"masks:{tmp_path}")
    seg.fit(Path("unused.mp4"), 0, 12, 1, (H, W))
    frames = torch.rand(3, 3, H, W)
    got = seg.masks(frames, [10, 2, 3])
    expected = F.interpolate(torch.from_numpy(np.stack([truth[i] for i in (10, 2, 3)])[:, None] / 255.0).float(),
                             size=(H, W), mode="bilinear", align_corners=False)
    assert got.shape == (3, 1, H, W)
    assert torch.allclose(got, expected, atol=1e-5)
    same_size = seg.masks(torch.rand(1, 3, H // 2, W // 2), [7])
    assert torch.equal(same_size[0, 0], torch.from_numpy(truth[7]).float() / 255)


def test_mask_folder_too_short_says_how_many(tmp_path):
    for k in range(3):
        save_image(np.zeros((4, 4, 3), np.uint8), tmp_path / f"{k:03d}.png")
    seg = make_segmenter(f"masks:{tmp_path}")
    text = one_line(lambda: seg.fit(Path("in.mp4"), 0, 5, 1, (4, 4)))
    assert "3 masks found" in text and "need 5" in text
    assert "need 5" in one_line(lambda: seg.fit(Path("in.mp4"), 0, 5, 2, (4, 4)))  # frames 0, 2, 4
    seg.fit(Path("in.mp4"), 0, 4, 2, (4, 4))  # frames 0 and 2: enough
    assert "need 4" in one_line(lambda: seg.masks(torch.rand(1, 3, 4, 4), [3]))


# --------------------------------------------------------------------------------------------
# motion (temporal median) and motion:mog2
# --------------------------------------------------------------------------------------------


def test_motion_median_finds_the_moving_blob(scene):
    frames, alpha = scene
    seg = MotionSegmenter(samples=20)
    seg.fit_frames(frames)
    masks = seg.masks(frames, list(range(len(frames))))
    assert masks.shape == alpha.shape and float(masks.min()) >= 0 and float(masks.max()) <= 1
    assert mask_iou(masks, alpha) >= 0.9
    # The background alone (same noise and drift, no blob) gives (almost) no foreground.
    empty = seg.masks(static_camera(still(), 40, seed=7)[:8], list(range(8)))
    assert float((empty > 0.5).float().mean()) < 0.002


def test_motion_fit_reads_evenly_spaced_frames_of_the_range(scene, tmp_path):
    frames, alpha = scene
    video = write_video(tmp_path / "clip.mp4", frames)
    seg = make_segmenter("motion")
    seg.fit(video, 0, len(frames), 1, (H, W))
    decoded = to_tensors(list(read_frames(video)))
    assert mask_iou(seg.masks(decoded, range(len(frames))), alpha) >= 0.9
    with pytest.raises(RuntimeError):
        MotionSegmenter().masks(decoded[:1], [0])


def test_mog2_runs_online_and_is_measured(scene):
    frames, alpha = scene
    seg = make_segmenter("motion:mog2")
    masks = torch.cat([seg.masks(frames[i:i + 8], list(range(i, i + 8))) for i in range(0, len(frames), 8)])
    assert masks.shape == alpha.shape and float(masks.min()) >= 0 and float(masks.max()) <= 1
    # Online: the blob present from frame 0 is learned as background at first; later it is found.
    late = mask_iou(masks[20:], alpha[20:])
    assert late >= 0.5, late
    assert float(masks[0].mean()) < 0.01  # the first frame is all background to a fresh model


def test_mog2_resumed_mid_clip_replays_to_the_same_masks(scene, tmp_path):
    frames, _ = scene
    video = write_video(tmp_path / "clip.mp4", frames[:16])
    decoded = to_tensors(list(read_frames(video)))
    whole = make_segmenter("motion:mog2")
    whole.fit(video, 0, 16, 1, (H, W))
    expected = torch.cat([whole.masks(decoded[i:i + 4], range(i, i + 4)) for i in range(0, 16, 4)])
    resumed = make_segmenter("motion:mog2")
    resumed.fit(video, 0, 16, 1, (H, W))
    got = resumed.masks(decoded[10:], range(10, 16))  # frames 0-9 replayed from the video
    assert torch.equal(got, expected[10:])
    assert torch.equal(resumed.masks(decoded[4:6], [4, 5]), expected[4:6])  # backwards: restarts and replays


# --------------------------------------------------------------------------------------------
# voc: torchvision networks, with stubs and random weights
# --------------------------------------------------------------------------------------------


class StubNet(torch.nn.Module):
    """Records its input; returns fixed logits [B, 21, h, w] (class k has logit k * x-ramp)."""

    def forward(self, x):
        self.seen = x
        b, _, h, w = x.shape
        ramp = torch.linspace(-1, 1, w).view(1, 1, 1, w).expand(b, 1, h, w)
        return {"out": torch.arange(21.0).view(1, 21, 1, 1) * ramp * 0.3}


def test_voc_classes_are_torchvision_order():
    from torchvision.models.segmentation import (
        DeepLabV3_MobileNet_V3_Large_Weights,
        LRASPP_MobileNet_V3_Large_Weights,
    )

    for weights in (DeepLabV3_MobileNet_V3_Large_Weights.DEFAULT, LRASPP_MobileNet_V3_Large_Weights.DEFAULT):
        assert tuple(weights.meta["categories"]) == VOC_CLASSES


def test_voc_mask_is_the_chosen_classes_probability_normalized_and_resized():
    net = StubNet()
    seg = VocSegmenter(["dog", "Cat", "dog"], net=net, short_side=24)
    assert seg.spec == "voc:dog,cat" and seg.channels == [12, 8]
    frames = torch.tensor(segment.IMAGENET_MEAN).view(1, 3, 1, 1).expand(2, 3, 36, 60).clone()
    masks = seg.masks(frames, [0, 1])
    assert net.seen.shape == (2, 3, 24, 40)  # shorter side 24, aspect kept
    assert float(net.seen.abs().max()) < 1e-5  # the ImageNet mean maps to 0
    probs = net(torch.zeros(2, 3, 24, 40))["out"].softmax(1)
    expected = F.interpolate(probs[:, [8]] + probs[:, [12]], size=(36, 60), mode="bilinear", align_corners=False,
                             antialias=False)
    assert masks.shape == (2, 1, 36, 60)
    assert torch.allclose(masks, expected, atol=1e-6)


@pytest.mark.parametrize("model", ["lraspp", "deeplabv3"])
def test_voc_random_weights_give_masks_of_frame_size(model):
    seg = VocSegmenter(["person"], model=model, weights=None, short_side=64)
    masks = seg.masks(torch.rand(2, 3, 40, 70), [0, 1])
    assert masks.shape == (2, 1, 40, 70)
    assert float(masks.min()) >= 0 and float(masks.max()) <= 1 and float(masks.std()) > 0
    everything = VocSegmenter(list(VOC_CLASSES[1:]), net=seg.net, short_side=64).masks(torch.rand(1, 3, 40, 70), [0])
    nothing_but_background = 1 - everything  # the 20 classes and the background sum to 1
    assert float(nothing_but_background.min()) >= -1e-5


def test_voc_offline_without_cached_weights_is_one_clear_line(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setattr(torch.hub, "_hub_dir", None)

    def no_network(*args, **kwargs):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", no_network)
    text = one_line(lambda: make_segmenter("voc:person"))
    assert "could not be downloaded" in text and "--segment person" in text and "masks:PATH" in text
    assert "not cached" in one_line(lambda: segment.voc_state_dict("lraspp", download=False))
    # With the file in the hub cache the network is never asked.
    cached = segment.voc_weights_file("lraspp")
    assert cached.parent == tmp_path / "hub" / "checkpoints"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"not a checkpoint")
    assert "delete the file" in one_line(lambda: segment.voc_network("lraspp"))
    state = segment.voc_network("lraspp", weights=None).state_dict()
    torch.save(state, cached)
    net = segment.voc_network("lraspp")
    assert all(torch.equal(v, state[k]) for k, v in net.state_dict().items())


# --------------------------------------------------------------------------------------------
# person (vstlib.selfie_net)
# --------------------------------------------------------------------------------------------


def test_person_masks_through_selfie_net():
    selfie = pytest.importorskip("vstlib.selfie_net")
    if not selfie.weights_path("landscape").is_file():
        pytest.skip("selfie segmentation weights not installed")
    seg = make_segmenter("person:landscape")
    masks = seg.masks(torch.rand(2, 3, H, W), [0, 1])
    assert seg.spec == "person:landscape" and masks.shape == (2, 1, H, W)
    assert float(masks.min()) >= 0 and float(masks.max()) <= 1


# --------------------------------------------------------------------------------------------
# Measurements
# --------------------------------------------------------------------------------------------


def test_mask_iou_exact():
    pred = torch.zeros(2, 1, 4, 4)
    truth = torch.zeros(2, 1, 4, 4)
    pred[0, 0, :2] = 0.7  # 8 pixels
    truth[0, 0, 1:3] = 1.0  # 8 pixels, 4 shared
    pred[1, 0, 0, 0] = 0.4  # below 0.5: not foreground
    assert mask_iou(pred, truth) == pytest.approx(4 / 12)
    assert mask_iou(pred, truth, threshold=0.3) == pytest.approx(4 / 13)
    assert mask_iou(torch.zeros(3, 3), np.zeros((3, 3))) == 1.0
    assert mask_iou(truth, truth) == 1.0
    one_line(lambda: mask_iou(torch.zeros(2, 2), torch.zeros(3, 3)))


def shifting(frames: int, shift: int = 1):
    """A texture moving ``shift`` px right per frame, a 3-px bar moving with it, and the exact flow
    as a ``flow_fn(a, b)`` (-shift px from a frame to the one before, +shift to the one after)."""
    tex = smooth_texture(24, 40)
    frames_u8 = np.stack([np.roll(tex, shift * t, axis=1) for t in range(frames)])
    masks = np.zeros((frames, 1, 24, 40), np.float32)
    for t in range(frames):
        masks[t, 0, :, 10 + shift * t:13 + shift * t] = 1

    def flow_fn(a, b):
        flow = np.zeros((24, 40, 2), np.float32)
        flow[..., 0] = -shift if np.array_equal(np.roll(a, -shift, axis=1), b) else shift
        return flow

    return frames_u8, masks, flow_fn


def test_mask_flicker_exact_on_hand_made_streams():
    frames, masks, flow_fn = shifting(5)
    # Static definition: each step, 2 columns of 40 change.
    assert mask_flicker(masks) == pytest.approx(2 / 40)
    # Along the (exact) motion: the bar is where the flow carries it: no flicker.
    assert mask_flicker(masks, frames, flow_fn=flow_fn) == pytest.approx(0.0, abs=1e-7)
    # A bar that stays put while the scene moves: 2 columns differ after warping, among the
    # reliable pixels (the first column's flow leaves the frame: 39 reliable columns).
    static = np.repeat(masks[:1], 5, axis=0)
    assert mask_flicker(static) == 0.0
    assert mask_flicker(static, frames, flow_fn=flow_fn) == pytest.approx(2 / 39)


# --------------------------------------------------------------------------------------------
# MaskStabilizer
# --------------------------------------------------------------------------------------------


def noisy_masks(frames: int, sigma: float = 0.05, seed: int = 0) -> torch.Tensor:
    """A two-level mask (0.3 / 0.7) with independent Gaussian noise per frame (stays in [0, 1])."""
    g = torch.Generator().manual_seed(seed)
    base = torch.full((1, 1, 48, 64), 0.3)
    base[..., 12:36, 16:48] = 0.7
    return base + sigma * torch.randn((frames, 1, 48, 64), generator=g)


def test_mask_stabilizer_reduces_flicker_as_derived():
    frame = smooth_texture(48, 64)
    raw = noisy_masks(30)
    stab = MaskStabilizer(0.5)
    out = torch.cat([stab(raw[t:t + 1], frame) for t in range(len(raw))])
    ratio = mask_flicker(out[10:]) / mask_flicker(raw[10:])  # steady state
    assert ratio == pytest.approx(expected_flicker(0.5), abs=0.04)
    assert stab.cuts == []
    # Masks far from the edges of [0, 1]: the clamp never acts, so the mean is kept.
    assert float(out[10:].mean()) == pytest.approx(float(raw[10:].mean()), abs=0.01)
    # The morphological clean-up runs first (radius 1 leaves a 2-level mask's big regions).
    cleaned = MaskStabilizer(0.5, clean=1)(raw[:1], frame)
    assert cleaned.shape == (1, 1, 48, 64)


def test_mask_stabilizer_follows_the_motion_and_resumes_exactly():
    frames, masks, _ = shifting(12, shift=2)
    masks = torch.from_numpy(masks) * 0.8 + 0.1 * noisy_masks(12, seed=3)[..., :24, :40]
    whole = MaskStabilizer(0.6)
    expected = [whole(masks[t:t + 1], frames[t]) for t in range(12)]
    first = MaskStabilizer(0.6)
    for t in range(6):
        assert torch.equal(first(masks[t:t + 1], frames[t]), expected[t])
    buffer = io.BytesIO()
    torch.save(first.state_dict(), buffer)
    buffer.seek(0)
    second = MaskStabilizer(0.6)
    second.load_state_dict(torch.load(buffer, weights_only=True))
    for t in range(6, 12):
        assert torch.equal(second(masks[t:t + 1], frames[t]), expected[t])
    # Along the motion the stabilized bar stays sharp where it is (little ghosting at its old place).
    late = expected[-1][0, 0]
    assert float(late[6:18, 32:35].mean()) > 0.7 and float(late[6:18, 20:26].mean()) < 0.2


def test_mask_stabilizer_takes_frames_of_another_size():
    stab = MaskStabilizer(0.5)
    frame = smooth_texture(96, 128)
    m = torch.rand(1, 1, 48, 64)
    assert stab(m, frame).shape == (1, 1, 48, 64)
    assert stab(m, frame).shape == (1, 1, 48, 64)
    one_line(lambda: stab(torch.rand(48, 64), frame))


# --------------------------------------------------------------------------------------------
# segment_video
# --------------------------------------------------------------------------------------------


def test_segment_video_writes_masks_that_read_back(tmp_path):
    frames, alpha = make_scene(24)
    video = write_video(tmp_path / "clip.mp4", frames)
    out = segment_video(video, tmp_path / "masks.mp4", "motion", stabilize=0.0, progress=False)
    info = probe_video(out)
    assert (info.n_frames, info.width, info.height) == (24, W, H)
    # What the backend gives on the decoded frames, read back through masks:PATH.
    seg = make_segmenter("motion")
    seg.fit(video, 0, 24, 1, (H, W))
    decoded = to_tensors(list(read_frames(video)))
    direct = seg.masks(decoded, range(24))
    back = make_segmenter(f"masks:{out}")
    back.fit(video, 0, 24, 1, (H, W))
    read = back.masks(decoded, range(24))
    assert float((read - direct).abs().mean()) < 2 / 255  # codec error (CRF 5)
    assert mask_iou(read, direct) > 0.98
    assert mask_iou(read, alpha) >= 0.9
    # A PNG folder is lossless: exactly the 8-bit masks.
    folder = segment_video(video, tmp_path / "pngs", "motion", stabilize=0.0, start=1.0, duration=0.5,
                           progress=False)
    names = sorted(p.name for p in folder.iterdir())
    assert names == [f"mask_{k:06d}.png" for k in range(10, 15)]
    seg.fit(video, 10, 15, 1, (H, W))  # the background of that range
    pngs = FileMasks(folder).masks(decoded[10:15], range(10, 15))  # by frame number
    assert torch.equal(pngs, (seg.masks(decoded[10:15], range(10, 15)) * 255).round() / 255)


def test_segment_video_stabilized_has_the_frame_count(tmp_path):
    frames, _ = make_scene(12)
    video = write_video(tmp_path / "clip.mp4", frames)
    out = segment_video(video, tmp_path / "masks.mp4", "motion:mog2", stabilize=0.7, progress=False)
    assert probe_video(out).n_frames == 12


class FailsLater(Segmenter):
    spec = "fails"

    def masks(self, frames, indices):
        if indices[0] > 0:
            raise VstError("out of masks")
        return torch.zeros(frames.shape[0], 1, *frames.shape[-2:])


@pytest.mark.parametrize("name", ["masks.mp4", "pngs"])
def test_segment_video_leaves_nothing_on_error(tmp_path, name):
    video = write_video(tmp_path / "clip.mp4", make_scene(12)[0])
    with pytest.raises(VstError, match="out of masks"):
        segment_video(video, tmp_path / name, FailsLater(), stabilize=0, progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4"]
    (tmp_path / "pngs").mkdir()
    (tmp_path / "pngs" / "keep.txt").write_text("x")
    assert "not an empty folder" in one_line(lambda: segment_video(video, tmp_path / "pngs", "motion"))


# --------------------------------------------------------------------------------------------
# Synthetic ground truth
# --------------------------------------------------------------------------------------------


def test_synthetic_composite_is_premultiplied_over_the_background():
    black, white = torch.zeros(6, 3, 36, 64), torch.ones(6, 3, 36, 64)
    f0, a0 = synthetic_composite(black, seed=3)
    f1, a1 = synthetic_composite(white, seed=3)
    assert torch.equal(a0, a1) and 0 < float(a0.mean()) < 0.5
    assert torch.allclose(f1 - f0, 1 - a0.expand_as(f0), atol=1e-6)
    centre_x = [float((a0[t, 0].sum(0) * torch.arange(64)).sum() / a0[t].sum()) for t in range(6)]
    assert all(b > a for a, b in itertools.pairwise(centre_x))  # moves left to right


def test_synthetic_cutout_follows_its_path():
    rgba = torch.zeros(4, 5, 5)
    rgba[0] = 1  # red
    rgba[3, 1:4, 1:4] = 1  # a 3x3 opaque square in a transparent border
    frames, alpha = synthetic_composite(torch.zeros(2, 3, 20, 30), kind="cutout", foreground=rgba,
                                        path=[(10.0, 5.0), (20.0, 12.0)])
    expected = torch.zeros(2, 1, 20, 30)
    expected[0, 0, 4:7, 9:12] = 1
    expected[1, 0, 11:14, 19:22] = 1
    assert torch.allclose(alpha, expected, atol=1e-6)
    assert torch.allclose(frames[:, 0:1], expected, atol=1e-6) and float(frames[:, 1:].abs().max()) < 1e-6
    one_line(lambda: synthetic_composite(torch.zeros(2, 3, 20, 30), kind="cutout"))
    one_line(lambda: synthetic_composite(torch.zeros(2, 3, 20, 30), path=[(1.0, 1.0)]))


def test_static_camera_noise_and_drift():
    frames = static_camera(torch.full((3, 32, 32), 0.5), 40, noise=0.01, drift=0.04, seed=0)
    means = frames.mean(dim=(1, 2, 3))
    t = torch.arange(40.0)
    assert torch.allclose(means, 0.5 * (1 + 0.04 * torch.sin(2 * math.pi * t / 40)), atol=0.002)
    residual = frames - means.view(-1, 1, 1, 1)
    assert float(residual.std()) == pytest.approx(math.sqrt(0.01**2 + 1 / 12 / 255**2), rel=0.05)
