"""Library pieces that notebook 02 uses to score E_warp independently of the flow Ruder optimizes
(issue 10): ``flow.downscale_flow`` (MPI-Sintel's ground truth for shrunk frames) and
``metrics.warping_errors`` (E_warp along given forward flows and masks)."""

import numpy as np
import pytest

from vstlib import flow as fl
from vstlib import metrics
from vstlib.errors import VstError
from vstlib.io import resize_frame

rng = np.random.default_rng(2)


# ------------------------------------------------------------------ downscale_flow


def test_downscale_flow_scales_vectors_to_the_small_frame():
    f = np.zeros((8, 16, 2), np.float32)
    f[..., 0], f[..., 1] = 6.0, -2.0  # one rigid motion
    small, reliable = fl.downscale_flow(f, (4, 4))  # x shrinks 4x, y 2x
    np.testing.assert_allclose(small[..., 0], 1.5)
    np.testing.assert_allclose(small[..., 1], -1.0)
    assert reliable.dtype == np.float32 and reliable.min() == 1.0


def test_downscale_flow_drops_unknown_invalid_and_boundary_pixels():
    f = np.full((8, 8, 2), 2.0, np.float32)
    f[0, 0] = 1e10  # unknown in the .flo file: the small pixel covering it is unreliable
    valid = np.ones((8, 8), bool)
    valid[7, 7] = False  # e.g. occluded
    f[:, 5:, 0] = 10.0  # a motion boundary inside small column 2 (source columns 4 and 5: 2 and 10 px)
    small, reliable = fl.downscale_flow(f, (4, 4), valid=valid)
    assert reliable[0, 0] == 0 and reliable[3, 3] == 0
    assert np.all(reliable[:, 2] == 0)  # vectors 1 and 5 small px: spread 2 > 0.5
    assert reliable[1, 0] == 1 and reliable[1, 1] == 1 and reliable[1, 3] == 1  # one motion each
    np.testing.assert_allclose(small[1, 2, 0], (1.0 + 5.0) / 2)  # the mean, in small pixels
    np.testing.assert_allclose(small[1, 3, 0], 5.0)


def test_downscale_flow_rejects_enlarging_and_bad_masks():
    f = np.zeros((4, 4, 2), np.float32)
    with pytest.raises(VstError):
        fl.downscale_flow(f, (8, 8))
    with pytest.raises(VstError):
        fl.downscale_flow(f, (2, 2), valid=np.ones((3, 3), bool))


@pytest.mark.parametrize("scene", ["alley_1", "cave_2"])
def test_downscaled_sintel_ground_truth_still_aligns_the_frames(data_dir, scene):
    """Shrunk to 128 px, Sintel's true flow 2 -> 3 (with its occlusion and invalid maps) warps
    frame 3 onto frame 2 far better than no motion compensation does (measured: E_warp 0.36x and
    0.10x of the unaligned pair)."""
    f2, f3, gt = fl.sintel_pair(scene, 2)
    a, b = resize_frame(f2, max_side=128), resize_frame(f3, max_side=128)
    trusted = ~fl.sintel_occlusions(scene, 2) & ~fl.sintel_invalid(scene, 2)
    small, mask = fl.downscale_flow(gt, a.shape[:2], valid=trusted)
    assert 0.5 < mask.mean() < 1.0  # occlusions and boundaries removed, most pixels kept
    along_truth = metrics.warping_errors([a, b], [small], [mask])[0]
    unaligned = metrics.warping_errors([a, b], [np.zeros_like(small)], [mask])[0]
    assert along_truth < 0.5 * unaligned


# ------------------------------------------------------------------ warping_errors


def test_warping_errors_matches_temporal_errors_on_the_same_flows():
    frames = [rng.uniform(0, 1, (6, 9, 3)) for _ in range(3)]
    flows = {}
    for t in range(2):
        flows[(t, t + 1)] = rng.normal(0, 1, (6, 9, 2)).astype(np.float32)
        flows[(t + 1, t)] = -flows[(t, t + 1)]
    masks = [fl.occlusion_mask(flows[(t, t + 1)], flows[(t + 1, t)]) for t in range(2)]
    given = metrics.warping_errors(frames, [flows[(0, 1)], flows[(1, 2)]], masks)
    np.testing.assert_allclose(given, metrics.temporal_errors(frames, frames, flows=flows).warping_error)


def test_warping_errors_tells_motion_from_flicker():
    """A texture that moves with its flow scores 0; the same motion plus flicker does not."""
    a = rng.uniform(0.2, 0.8, (6, 10, 3))
    right = np.zeros((6, 10, 2), np.float32)
    right[..., 0] = 2  # every pixel of frame 0 is 2 px to the right in frame 1
    b = np.roll(a, 2, axis=1)
    inside = np.ones((6, 10))
    inside[:, 8:] = 0  # those leave the frame
    assert metrics.warping_errors([a, b], [right], [inside])[0] == pytest.approx(0.0, abs=1e-12)
    flicker = b + rng.normal(0, 0.05, b.shape)
    assert metrics.warping_errors([a, flicker], [right], [inside])[0] > 1e-3


def test_warping_errors_needs_one_flow_and_mask_per_pair():
    frames = [np.zeros((4, 4, 3))] * 3
    with pytest.raises(ValueError):
        metrics.warping_errors(frames, [np.zeros((4, 4, 2), np.float32)], [np.ones((4, 4))])
