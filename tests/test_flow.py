"""Tests for vstlib.flow: the flow convention, warping, backends, .flo files, occlusion masks and
the clip flow cache.

Synthetic images with a known translation check the backends and the sign convention exactly;
MPI-Sintel ground truth (sample-data mirror, half resolution to stay fast) checks the convention
and the estimators against real data.
"""

from __future__ import annotations

import urllib.error

import cv2
import numpy as np
import pytest
import torch

from vstlib import flow as fl
from vstlib.errors import VstError

rng = np.random.default_rng(0)
SHIFT = (3.0, -2.0)  # (dx, dy) of the synthetic translation


def smooth_texture(h: int, w: int, seed: int = 0) -> np.ndarray:
    """uint8 RGB [h, w, 3] random texture, blurred so that it has gradients everywhere but no aliasing."""
    noise = np.random.default_rng(seed).random((h, w, 3)).astype(np.float32)
    blurred = cv2.GaussianBlur(noise, (0, 0), 2.0)
    blurred = (blurred - blurred.min()) / (blurred.max() - blurred.min())
    return np.round(blurred * 255).astype(np.uint8)


@pytest.fixture(scope="module")
def shifted_pair():
    """Frames A and B where every pixel (x, y) of A is at (x + 3, y - 2) in B: flow A->B = (3, -2)."""
    big = smooth_texture(120, 150)
    a = big[10:106, 10:138]
    b = big[12:108, 7:135]  # b[y', x'] = big[12 + y', 7 + x'] = a[y' + 2, x' - 3]
    return a, b


def half(image: np.ndarray) -> np.ndarray:
    return cv2.resize(image, (image.shape[1] // 2, image.shape[0] // 2), interpolation=cv2.INTER_AREA)


@pytest.fixture(scope="module")
def sintel_half(data_dir):
    """alley_1 frames 1, 2, 3 at half resolution, GT flows 1->2 and 2->3 subsampled (values halved),
    occlusion and invalid masks of frame 2."""
    f1, f2, gt12 = fl.sintel_pair("alley_1", 1)
    _, f3, gt23 = fl.sintel_pair("alley_1", 2)
    return {
        "frames": [half(f) for f in (f1, f2, f3)],
        "gt12": gt12[::2, ::2] / 2,
        "gt23": gt23[::2, ::2] / 2,
        "occ2": fl.sintel_occlusions("alley_1", 2)[::2, ::2],
        "invalid2": fl.sintel_invalid("alley_1", 2)[::2, ::2],
    }


# --------------------------------------------------------------------------------------------
# warp
# --------------------------------------------------------------------------------------------


def test_integer_translation_warps_exactly():
    image = rng.random((12, 16, 3)).astype(np.float32)
    flow = np.zeros((12, 16, 2), np.float32)
    flow[..., 0], flow[..., 1] = 2, -1  # sample at (x + 2, y - 1)
    expected = image[0:11, 2:16]  # rows y - 1 >= 0 -> y >= 1, columns x + 2 < 16 -> x < 14
    out = fl.warp(image, flow)
    np.testing.assert_array_equal(out[1:12, 0:14], expected)
    # grid_sample gets normalized coordinates, 2x/(W-1) - 1, and scales them back internally:
    # in float32 that round trip is off by ~1e-7 px, so exact up to float32 rounding; float64 is exact.
    t = torch.from_numpy(image).permute(2, 0, 1)[None]
    out_t = fl.warp(t, flow)[0].permute(1, 2, 0).numpy()
    np.testing.assert_allclose(out_t[1:12, 0:14], expected, atol=1e-5)
    out_64 = fl.warp(t.double(), flow)[0].permute(1, 2, 0).numpy()
    np.testing.assert_allclose(out_64[1:12, 0:14], expected, atol=1e-12)


def test_zero_flow_is_identity():
    image = rng.integers(0, 256, (9, 11, 3), dtype=np.uint8)
    zero = np.zeros((9, 11, 2), np.float32)
    np.testing.assert_array_equal(fl.warp(image, zero), image)
    np.testing.assert_array_equal(fl.warp(image[..., 0], zero), image[..., 0])  # [H, W] too
    t = torch.rand(2, 3, 9, 11)
    torch.testing.assert_close(fl.warp(t, torch.zeros(2, 2, 9, 11)), t, atol=1e-6, rtol=0)


@pytest.mark.parametrize("padding", fl.PADDINGS)
@pytest.mark.parametrize("remap_exact", [True, False], ids=["cv2", "numpy-fallback"])
def test_torch_and_numpy_warps_agree(padding, remap_exact, monkeypatch):
    monkeypatch.setattr(fl, "_REMAP_IS_EXACT", remap_exact and fl._REMAP_IS_EXACT)
    image = rng.random((20, 30, 3)).astype(np.float32)
    flow = (rng.standard_normal((20, 30, 2)) * 4).astype(np.float32)  # many samples leave the frame
    out_np = fl.warp(image, flow, padding)
    out_t = fl.warp(torch.from_numpy(image).permute(2, 0, 1)[None], flow, padding)
    assert out_np.shape == image.shape and out_np.dtype == np.float32
    np.testing.assert_allclose(out_np, out_t[0].permute(1, 2, 0).numpy(), atol=1e-5)
    if padding == "zeros":  # far outside the frame reads 0
        far = np.full_like(flow, 100.0)
        assert np.all(fl.warp(image, far, padding) == 0)


def test_warp_uint8_rounds_and_keeps_dtype():
    image = rng.integers(0, 256, (10, 12, 3), dtype=np.uint8)
    flow = np.full((10, 12, 2), 0.5, np.float32)
    out = fl.warp(image, flow)
    assert out.dtype == np.uint8
    ref = fl.warp(image.astype(np.float32), flow)
    assert np.abs(out.astype(np.float32) - ref).max() <= 0.5 + 1e-3


def test_warp_is_differentiable_and_batched():
    image = torch.rand(2, 3, 8, 10, requires_grad=True)
    flow = torch.randn(1, 2, 8, 10)  # one flow for the whole batch
    out = fl.warp(image, flow)
    assert out.shape == image.shape and out.device.type == "cpu"
    out.sum().backward()
    assert image.grad is not None and image.grad.abs().sum() > 0
    with pytest.raises(VstError, match="does not fit"):
        fl.warp(image, torch.zeros(1, 2, 8, 9))
    with pytest.raises(VstError, match="padding"):
        fl.warp(image, flow, padding="reflect")


# --------------------------------------------------------------------------------------------
# estimate_flow
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["deepflow", "dis", "farneback"])
def test_backends_recover_a_translation(method, shifted_pair):
    a, b = shifted_pair
    flow = fl.estimate_flow(a, b, method)
    assert flow.shape == a.shape[:2] + (2,) and flow.dtype == np.float32
    interior = flow[16:-16, 16:-16]
    median = np.median(interior.reshape(-1, 2), axis=0)
    np.testing.assert_allclose(median, SHIFT, atol=0.15)
    assert np.mean(np.abs(interior - np.array(SHIFT))) < 0.3
    # The convention: warping B with the flow A->B gives back A.
    inner = (slice(16, -16), slice(16, -16))
    warped = fl.warp(b.astype(np.float32), flow)
    err_warped = np.abs(warped - a)[inner].mean()
    err_unwarped = np.abs(b.astype(np.float32) - a)[inner].mean()
    assert err_warped < 0.2 * err_unwarped


def test_estimate_flow_accepts_tensors_and_floats(shifted_pair):
    a, b = shifted_pair
    ref = fl.estimate_flow(a, b, "dis")
    ta = torch.from_numpy(a).permute(2, 0, 1).float() / 255  # [3, H, W]
    tb = (torch.from_numpy(b).permute(2, 0, 1).float() / 255)[None]  # [1, 3, H, W]
    np.testing.assert_array_equal(fl.estimate_flow(ta, tb, "dis"), ref)
    np.testing.assert_array_equal(fl.estimate_flow(a / 255.0, b / 255.0, "dis"), ref)


def test_bad_inputs_raise_vst_error(shifted_pair):
    a, b = shifted_pair
    with pytest.raises(VstError, match="unknown flow method 'lucas'.*deepflow, dis, farneback, raft"):
        fl.estimate_flow(a, b, "lucas")
    with pytest.raises(VstError, match="differ in size"):
        fl.estimate_flow(a, b[:-1], "dis")
    with pytest.raises(VstError, match="unknown dis preset 'slow'.*ultrafast, fast, medium"):
        fl.estimate_flow(a, b, "dis", preset="slow")
    with pytest.raises(VstError, match="unknown farneback parameter.*winsiz.*pyr_scale"):
        fl.estimate_flow(a, b, "farneback", winsiz=9)
    with pytest.raises(VstError, match="unknown deepflow parameter.*takes: none"):
        fl.flow_params("deepflow", alpha=1)
    with pytest.raises(VstError, match="poly_n"):
        fl.flow_params("farneback", poly_n=6)
    with pytest.raises(VstError, match="levels must be a int"):
        fl.flow_params("farneback", levels="many")
    with pytest.raises(VstError, match="RGB array"):
        fl.estimate_flow(a[..., 0], b[..., 0], "dis")


def test_flow_params_are_complete_and_normalized():
    assert fl.flow_params("deepflow") == {}
    assert fl.flow_params("dis") == {"preset": "medium"}
    fb = fl.flow_params("farneback", levels=3.0)
    assert fb == {"pyr_scale": 0.5, "levels": 3, "winsize": 15, "iterations": 3, "poly_n": 5,
                  "poly_sigma": 1.2, "flags": 0}
    assert isinstance(fb["levels"], int)
    assert fl.flow_params("raft", model="large")["model"] == "large"


def test_farneback_params_are_used(shifted_pair):
    a, b = shifted_pair
    default = fl.estimate_flow(a, b, "farneback")
    coarse = fl.estimate_flow(a, b, "farneback", levels=1, winsize=5, iterations=1)
    assert np.abs(default - coarse).max() > 0.01


def test_raft_offline_gives_one_line_vst_error(shifted_pair, monkeypatch):
    """No download is attempted: the weights loader is replaced by one that fails like urllib does."""
    pytest.importorskip("torchvision.models.optical_flow")
    from torchvision.models import _api

    def offline(*args, **kwargs):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(_api.WeightsEnum, "get_state_dict", offline)
    fl._raft_model.cache_clear()
    a, b = shifted_pair
    with pytest.raises(VstError) as info:
        fl.estimate_flow(a, b, "raft", device="cpu")
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith("RAFT weights could not be downloaded (")
    assert "name resolution" in message and "deepflow" in message and "internet" in message
    fl._raft_model.cache_clear()


def test_raft_pads_and_crops(monkeypatch):
    """The RAFT path (transforms, padding to multiples of 8 and at least 128 px, cropping, last
    prediction) with an untrained network, since real weights would need a download."""
    of = pytest.importorskip("torchvision.models.optical_flow")
    torch.manual_seed(0)
    net = of.raft_small(weights=None).eval()
    monkeypatch.setattr(fl, "_raft_model", lambda model, device: (net, of.Raft_Small_Weights.DEFAULT.transforms()))
    a = smooth_texture(60, 75)
    flow = fl.estimate_flow(a, a, "raft", device="cpu", iters=1)
    assert flow.shape == (60, 75, 2) and flow.dtype == np.float32 and np.isfinite(flow).all()


# --------------------------------------------------------------------------------------------
# .flo files
# --------------------------------------------------------------------------------------------


def test_flo_round_trip(tmp_path):
    flow = (rng.standard_normal((7, 5, 2)) * 10).astype(np.float32)
    flow[0, 0] = 1e10  # "unknown", as in Middlebury files
    path = tmp_path / "f.flo"
    fl.write_flo(path, flow)
    assert path.stat().st_size == 12 + 7 * 5 * 8
    np.testing.assert_array_equal(fl.read_flo(path), flow)
    assert [p.name for p in tmp_path.iterdir()] == ["f.flo"]  # no temp file left behind


def test_bad_flo_files_raise(tmp_path):
    bad = tmp_path / "bad.flo"
    bad.write_bytes(b"PIEX" + bytes(8))
    with pytest.raises(VstError, match="bad magic"):
        fl.read_flo(bad)
    good = tmp_path / "good.flo"
    fl.write_flo(good, np.zeros((4, 4, 2), np.float32))
    truncated = tmp_path / "truncated.flo"
    truncated.write_bytes(good.read_bytes()[:-5])
    with pytest.raises(VstError, match="truncated"):
        fl.read_flo(truncated)
    with pytest.raises(VstError, match="not found"):
        fl.read_flo(tmp_path / "missing.flo")


def test_sintel_ground_truth_reads(data_dir):
    gt = fl.read_flo(data_dir / "sintel/alley_1/flow/frame_0001.flo")
    assert gt.shape == (436, 1024, 2) and gt.dtype == np.float32
    assert np.isfinite(gt).all() and 0.1 < np.abs(gt).mean() < 50
    with pytest.raises(VstError, match="frames with flow: 1, 2, 3"):
        fl.sintel_pair("alley_1", 4)


def test_warping_with_sintel_ground_truth_reproduces_the_frame(sintel_half):
    """The convention against ground truth: frame 3 warped by GT flow 2->3 matches frame 2 where
    frame 2's pixels are visible in frame 3, far better than frame 3 as it is."""
    _, f2, f3 = sintel_half["frames"]
    ok = ~sintel_half["occ2"] & ~sintel_half["invalid2"]
    warped = fl.warp(f3.astype(np.float32), sintel_half["gt23"])
    err_warped = np.abs(warped - f2).mean(axis=-1)[ok].mean()
    err_unwarped = np.abs(f3.astype(np.float32) - f2).mean(axis=-1)[ok].mean()
    assert err_warped < 0.4 * err_unwarped
    # the opposite sign convention would be worse than not warping at all
    assert np.abs(fl.warp(f3.astype(np.float32), -sintel_half["gt23"]) - f2).mean(axis=-1)[ok].mean() > err_warped * 2


# --------------------------------------------------------------------------------------------
# EPE and colour coding
# --------------------------------------------------------------------------------------------


def test_endpoint_error_by_hand():
    gt = np.zeros((2, 2, 2), np.float32)
    flow = np.zeros_like(gt)
    flow[0, 0] = (3, 4)  # error 5
    flow[1, 1] = (1, 0)  # error 1
    assert fl.endpoint_error(flow, gt) == pytest.approx(6 / 4)
    mask = np.array([[True, False], [False, False]])
    assert fl.endpoint_error(flow, gt, mask) == pytest.approx(5.0)
    gt[1, 1] = 1e10  # unknown ground truth is ignored
    assert fl.endpoint_error(flow, gt) == pytest.approx(5 / 3)
    with pytest.raises(VstError, match="differ in size"):
        fl.endpoint_error(flow, gt[:1])


def test_sintel_epe_ranks_the_backends(sintel_half):
    f1, f2, _ = sintel_half["frames"]
    gt = sintel_half["gt12"]
    epe = {m: fl.endpoint_error(fl.estimate_flow(f1, f2, m), gt) for m in ("deepflow", "farneback")}
    zero = fl.endpoint_error(np.zeros_like(gt), gt)
    assert epe["deepflow"] < epe["farneback"] < zero
    assert epe["deepflow"] < 0.5 * zero


def test_flow_to_color_follows_the_middlebury_wheel():
    flow = np.zeros((1, 6, 2), np.float32)
    flow[0, 1] = (1, 0)  # right
    flow[0, 2] = (-1, 0)  # left
    flow[0, 3] = (0, 1)  # down (image y grows downwards)
    flow[0, 4] = (0, -1)  # up
    flow[0, 5] = (1e10, 0)  # unknown
    color = fl.flow_to_color(flow).astype(int)
    assert color.dtype == int and tuple(color[0, 0]) == (255, 255, 255)  # no motion: white
    assert tuple(color[0, 1]) == (255, 0, 0)  # right: wheel colour 0, pure red
    r, g, b = color[0, 2]
    assert r == 0 and g > 200 and b == 255  # left: cyan
    r, g, b = color[0, 3]
    assert r == 255 and 100 < g < 255 and b == 0  # down: orange-yellow
    r, g, b = color[0, 4]
    assert b == 255 and r < 200 and g == 0  # up: blue-violet
    assert tuple(color[0, 5]) == (0, 0, 0)
    # half the maximum magnitude: half saturated
    assert tuple(fl.flow_to_color(flow[:, 1:2] / 2, max_magnitude=1)[0, 0]) == (255, 127, 127)
    assert fl.flow_to_color(flow, max_magnitude=0.5)[0, 1].max() < 255  # beyond the range: darkened


def test_color_wheel_legend():
    wheel = fl.color_wheel(31)
    assert wheel.shape == (31, 31, 3) and wheel.dtype == np.uint8
    assert tuple(wheel[15, 15]) == (255, 255, 255)
    assert tuple(wheel[0, 0]) == (255, 255, 255)  # outside the disc
    assert wheel[15, 30, 0] == 255 and wheel[15, 30, 1] == 0  # right edge: red
    assert len(np.unique(wheel.reshape(-1, 3), axis=0)) > 100


# --------------------------------------------------------------------------------------------
# Occlusion masks and long-term weights
# --------------------------------------------------------------------------------------------


def test_zero_flows_are_reliable_everywhere():
    zero = np.zeros((8, 9, 2), np.float32)
    mask = fl.occlusion_mask(zero, zero)
    assert mask.shape == (8, 9) and mask.dtype == np.float32 and np.all(mask == 1)


def test_inconsistent_region_is_flagged_exactly():
    """Constant forward flow (1, 0); the backward flow agrees except in one block where it is
    (5, 0). Pixels x whose target x + (1, 0) lands in or next to the block (bilinear taps, here
    exactly on integer positions so only the block itself) are flagged, plus the last column,
    whose target leaves the frame. Constant flow has no motion boundaries."""
    h, w = 10, 12
    fwd = np.zeros((h, w, 2), np.float32)
    fwd[..., 0] = 1
    bwd = -fwd.copy()
    bwd[3:6, 5:8] = (5, 0)
    mask = fl.occlusion_mask(fwd, bwd)
    expected = np.ones((h, w), np.float32)
    expected[3:6, 4:7] = 0  # x + 1 in columns 5..7
    expected[:, w - 1] = 0  # x + 1 = w: outside
    np.testing.assert_array_equal(mask, expected)
    inside_only = fl.occlusion_mask(fwd, bwd, out_of_frame=False)
    assert inside_only[:, w - 1].all()
    assert fl.occlusion_mask(fwd, bwd, consistency=False).sum() == h * (w - 1)


def test_motion_boundary_is_flagged():
    """A vertical step in the forward flow (0 left, 4 px right) with consistent backward flow:
    central differences flag the two columns on either side of the step."""
    h, w = 6, 10
    fwd = np.zeros((h, w, 2), np.float32)
    fwd[:, 5:, 1] = 4  # right half moves down by 4: stays inside for y + 4 <= h - 1
    bwd = np.zeros_like(fwd)
    bwd[..., 1] = -fwd[..., 1]
    mask = fl.occlusion_mask(fwd, bwd, consistency=False, out_of_frame=False)
    expected = np.ones((h, w), np.float32)
    expected[:, 4:6] = 0
    np.testing.assert_array_equal(mask, expected)


def test_occlusion_mask_numpy_and_torch_agree():
    h, w = 24, 32
    base = cv2.GaussianBlur(rng.standard_normal((h, w, 2)).astype(np.float32), (0, 0), 3) * 6
    fwd = base.copy()
    bwd = -base + rng.standard_normal((h, w, 2)).astype(np.float32) * 0.5
    mask = fl.occlusion_mask(fwd, bwd)
    assert 0 < mask.mean() < 1  # a mix, so the comparison means something
    t = fl.occlusion_mask(torch.from_numpy(fwd).permute(2, 0, 1)[None], torch.from_numpy(bwd).permute(2, 0, 1)[None])
    assert t.shape == (1, 1, h, w) and t.dtype == torch.float32
    np.testing.assert_array_equal(t[0, 0].numpy(), mask)


def test_occlusion_mask_finds_sintel_occlusions(sintel_half):
    """alley_1 frame 2: GT forward flow 2->3 with a DeepFlow backward flow 3->2. The flagged set
    catches occluded pixels far more often than a random set of the same size would."""
    _, f2, f3 = sintel_half["frames"]
    occluded = sintel_half["occ2"]
    backward = fl.estimate_flow(f3, f2, "deepflow")
    flagged = fl.occlusion_mask(sintel_half["gt23"], backward) == 0
    recall = (flagged & occluded).sum() / occluded.sum()
    precision = (flagged & occluded).sum() / flagged.sum()
    assert flagged.mean() < 0.2
    assert recall > 3 * flagged.mean()  # random flagging would give recall == flagged fraction
    assert precision > 3 * occluded.mean()


def test_long_term_weights_exact():
    c1 = np.array([[1, 0], [0, 1]], np.float32)
    c2 = np.array([[1, 1], [0, 0]], np.float32)
    c4 = np.array([[1, 1], [1, 0.5]], np.float32)
    w1, w2, w4 = fl.long_term_weights([c1, c2, c4])
    np.testing.assert_array_equal(w1, c1)
    np.testing.assert_array_equal(w2, [[0, 1], [0, 0]])  # max(c2 - c1, 0)
    np.testing.assert_array_equal(w4, [[0, 0], [1, 0]])  # max(c4 - c1 - c2, 0)
    tw = fl.long_term_weights([torch.from_numpy(c) for c in (c1, c2, c4)])
    assert all(isinstance(t, torch.Tensor) for t in tw)
    np.testing.assert_array_equal(tw[2].numpy(), w4)


# --------------------------------------------------------------------------------------------
# compute_flows and clip_pairs
# --------------------------------------------------------------------------------------------


def test_clip_pairs():
    assert fl.clip_pairs(3) == [(1, 0), (0, 1), (2, 1), (1, 2)]
    assert fl.clip_pairs(5, offsets=(1, 2, 4), directions=("backward",)) == [
        (1, 0), (2, 1), (2, 0), (3, 2), (3, 1), (4, 3), (4, 2), (4, 0)]
    assert len(fl.clip_pairs(8)) == 14
    with pytest.raises(VstError, match="direction"):
        fl.clip_pairs(3, directions=("sideways",))


@pytest.fixture(scope="module")
def tiny_clip():
    big = smooth_texture(60, 70, seed=1)
    return [big[i:i + 40, 2 * i:2 * i + 48].copy() for i in range(3)]


def test_compute_flows_caches_and_skips_cached_pairs(tiny_clip, tmp_path, monkeypatch):
    pairs = fl.clip_pairs(3)
    first = fl.compute_flows(tiny_clip, pairs, "dis", workers=1, cache_dir=tmp_path, progress=False)
    assert list(first) == pairs
    files = sorted(tmp_path.glob("*.flo"))
    assert len(files) == 4
    for pair in pairs:
        np.testing.assert_array_equal(first[pair], fl.estimate_flow(tiny_clip[pair[0]], tiny_clip[pair[1]], "dis"))

    calls = []
    monkeypatch.setattr(fl, "estimate_flow", lambda *a, **k: calls.append(a) or np.zeros((40, 48, 2), np.float32))
    again = fl.compute_flows(tiny_clip, pairs, "dis", workers=1, cache_dir=tmp_path, progress=False)
    assert calls == []  # all from the cache
    for pair in pairs:
        np.testing.assert_array_equal(again[pair], first[pair])

    # Other parameters, or other frame content, are other cache entries.
    fl.compute_flows(tiny_clip, pairs[:1], "dis", params={"preset": "fast"}, workers=1, cache_dir=tmp_path,
                     progress=False)
    assert len(calls) == 1 and len(list(tmp_path.glob("*.flo"))) == 5
    changed = [tiny_clip[0], tiny_clip[1] // 2 + 1, tiny_clip[2]]
    fl.compute_flows(changed, [(0, 1)], "dis", workers=1, cache_dir=tmp_path, progress=False)
    assert len(calls) == 2 and len(list(tmp_path.glob("*.flo"))) == 6


def test_cache_key_depends_on_content_pair_method_and_params():
    d1, d2 = fl._frame_digest(np.zeros((2, 2, 3), np.uint8)), fl._frame_digest(np.ones((2, 2, 3), np.uint8))
    assert d1 != fl._frame_digest(np.zeros((2, 3, 3), np.uint8))  # shape counts, not only bytes
    base = fl._cache_key(d1, d2, "dis", fl.flow_params("dis"))
    assert base == fl._cache_key(d1, d2, "dis", fl.flow_params("dis", preset="medium"))
    assert base != fl._cache_key(d2, d1, "dis", fl.flow_params("dis"))
    assert base != fl._cache_key(d1, d2, "dis", fl.flow_params("dis", preset="fast"))
    assert base != fl._cache_key(d1, d2, "farneback", fl.flow_params("farneback"))
    raft_cpu = fl._cache_key(d1, d2, "raft", fl.flow_params("raft", device="cpu"))
    assert raft_cpu == fl._cache_key(d1, d2, "raft", fl.flow_params("raft", device="cuda"))  # same result


def test_compute_flows_parallel_matches_serial(tiny_clip, tmp_path):
    """workers=2 runs the thread pool (one OpenCV thread each), which must give the serial results
    and leave OpenCV's thread count as it found it."""
    import cv2

    before = cv2.getNumThreads()
    pairs = fl.clip_pairs(3)
    serial = fl.compute_flows(tiny_clip, pairs, "dis", workers=1, cache_dir=False, progress=False)
    parallel = fl.compute_flows(tiny_clip, pairs, "dis", workers=2, cache_dir=tmp_path, progress=False)
    assert len(list(tmp_path.glob("*.flo"))) == 4  # the workers wrote the cache
    assert cv2.getNumThreads() == before
    for pair in pairs:
        np.testing.assert_array_equal(parallel[pair], serial[pair])


def test_worker_errors_reach_the_caller(tmp_path):
    """DIS refuses frames smaller than its patches; raised in a worker, the VstError arrives intact."""
    frames = [np.full((6, 6, 3), i * 40, np.uint8) for i in range(3)]
    with pytest.raises(VstError, match="dis flow failed on 6x6 frames: .*12"):
        fl.compute_flows(frames, fl.clip_pairs(3), "dis", workers=2, cache_dir=tmp_path, progress=False)
    assert list(tmp_path.glob("*.flo")) == []


def test_compute_flows_bad_inputs(tiny_clip, tmp_path):
    with pytest.raises(VstError, match="out of range"):
        fl.compute_flows(tiny_clip, [(0, 3)], "dis", cache_dir=tmp_path, progress=False)
    with pytest.raises(VstError, match="differ in size"):
        fl.compute_flows([tiny_clip[0], tiny_clip[1][:-2]], [(0, 1)], "dis", cache_dir=tmp_path, progress=False)
    with pytest.raises(VstError, match="workers"):
        fl.compute_flows(tiny_clip, [(0, 1)], "dis", workers=0, cache_dir=tmp_path, progress=False)
    with pytest.raises(VstError, match="unknown flow method"):
        fl.compute_flows(tiny_clip, [(0, 1)], "pwc", cache_dir=tmp_path, progress=False)


def test_flow_to_color_matches_torchvision_where_both_apply():
    """Same colour wheel as torchvision.utils.flow_to_image (kept ours for max_magnitude and unknown values)."""
    from torchvision.utils import flow_to_image

    flow = np.random.default_rng(0).normal(size=(40, 50, 2)).astype(np.float32) * 5
    ours = fl.flow_to_color(flow).astype(int)
    theirs = flow_to_image(torch.from_numpy(flow).permute(2, 0, 1)).permute(1, 2, 0).numpy().astype(int)
    assert np.abs(ours - theirs).max() <= 1


def test_sintel_loaders_live_in_data_and_stay_in_flow():
    from vstlib import data

    for name in ("sintel_pair", "sintel_occlusions", "sintel_invalid", "_sintel_file", "_read_rgb", "_read_binary_png"):
        assert getattr(fl, name) is getattr(data, name)
