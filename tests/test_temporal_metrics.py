"""Exact tests of the temporal metrics (E_warp, Ruder's masked MSE, ReCoNet's luminance error).

Synthetic clips with known flow give values derived by hand; the Sintel ground truth checks that
motion compensation with true flow removes what frame differences count.
"""

import numpy as np
import pytest
import torch

from vstlib import metrics
from vstlib.flow import read_flo

rng = np.random.default_rng(0)


def zero_flow(h=6, w=8):
    return np.zeros((h, w, 2), np.float32)


def texture(h=6, w=8):
    return rng.uniform(0.2, 0.8, (h, w, 3))


def test_unchanged_clip_scores_zero():
    a = texture()
    ones = np.ones(a.shape[:2])
    assert metrics.warping_error(a, a.copy(), zero_flow(), ones) == 0.0
    assert metrics.masked_mse(a, a.copy(), zero_flow(), ones) == 0.0
    assert metrics.luminance_warping_error(a, a.copy(), a, a.copy(), zero_flow(), ones) == 0.0
    errs = metrics.temporal_errors([a, a, a], [a, a, a], flows={(0, 1): zero_flow(), (1, 0): zero_flow(),
                                                                 (1, 2): zero_flow(), (2, 1): zero_flow()})
    assert errs.summary() == {"warping_error": 0.0, "masked_mse": 0.0, "luminance_error": 0.0, "reliable": 1.0}


def test_constant_change_by_hand():
    """Every pixel of frame t+1 brighter by d in every channel, zero flow.

    E_warp: squared RGB norm 3 d^2 at every reliable pixel, normalized by the mask -> 3 d^2 whatever
    the mask. Ruder: (1/D) sum c d^2 -> d^2 * (fraction of reliable pixels).
    """
    d = 0.1
    a = texture()
    b = a + d
    half = np.zeros(a.shape[:2])
    half[:, :4] = 1  # half the pixels reliable
    assert metrics.warping_error(a, b, zero_flow(), np.ones(a.shape[:2])) == pytest.approx(3 * d * d, rel=1e-6)
    assert metrics.warping_error(a, b, zero_flow(), half) == pytest.approx(3 * d * d, rel=1e-6)
    assert metrics.masked_mse(b, a, zero_flow(), np.ones(a.shape[:2])) == pytest.approx(d * d, rel=1e-6)
    assert metrics.masked_mse(b, a, zero_flow(), half) == pytest.approx(d * d / 2, rel=1e-6)
    assert metrics.warping_error(a, b, zero_flow(), np.zeros(a.shape[:2])) == 0.0  # nothing reliable


def test_luminance_compensation_by_hand():
    """ReCoNet: an output that follows a lighting change of the input scores 0; a colour change the
    input does not have scores (sum over channels of the change^2) per pixel."""
    d = 0.1
    i0 = texture()
    i1 = i0 + d  # input brightened: its luminance change is d (the weights sum to 1)
    o0 = texture()
    ones = np.ones(i0.shape[:2])
    assert metrics.LUMINANCE_WEIGHTS.sum() == pytest.approx(1.0)
    assert metrics.luminance_warping_error(o0 + d, o0, i1, i0, zero_flow(), ones) == pytest.approx(0.0, abs=1e-12)
    assert metrics.masked_mse(o0 + d, o0, zero_flow(), ones) == pytest.approx(d * d, rel=1e-6)  # Ruder counts it
    red = o0.copy()
    red[..., 0] += d  # only the red channel changes, the input is static
    assert metrics.luminance_warping_error(red, o0, i0, i0.copy(), zero_flow(), ones) == pytest.approx(d * d, rel=1e-6)
    # input brightened but output static: each channel is off by the luminance change d -> 3 d^2
    assert metrics.luminance_warping_error(o0, o0.copy(), i1, i0, zero_flow(), ones) == pytest.approx(3 * d * d, rel=1e-6)


def test_translation_with_known_flow_is_compensated():
    """Frame t+1 is frame t moved right by 2 and down by 1 pixel; with that flow, E_warp over the
    pixels that stay inside the frame is 0, while frame differences are large."""
    h, w = 12, 16
    big = rng.uniform(0, 1, (h + 4, w + 4, 3))
    a = big[2:2 + h, 2:2 + w]
    b = big[1:1 + h, 0:w]  # b(x + 2, y + 1) = a(x, y)
    flow_ab = np.zeros((h, w, 2), np.float32)
    flow_ab[..., 0], flow_ab[..., 1] = 2, 1
    inside = np.zeros((h, w))
    inside[: h - 1, : w - 2] = 1
    assert metrics.warping_error(a, b, flow_ab, inside) == pytest.approx(0.0, abs=1e-10)
    assert metrics.warping_error(a, b, zero_flow(h, w), inside) > 0.05
    # Ruder's direction: frame t+1 = b, previous a warped with flow b -> a = (-2, -1)
    inside_b = np.zeros((h, w))
    inside_b[1:, 2:] = 1
    assert metrics.masked_mse(b, a, -flow_ab, inside_b) == pytest.approx(0.0, abs=1e-10)


def test_inputs_tensors_and_uint8_agree():
    a = texture()
    b = np.clip(a + 0.05, 0, 1)
    a8, b8 = (np.round(x * 255).astype(np.uint8) for x in (a, b))
    ta, tb = (torch.from_numpy(x / 255.0).permute(2, 0, 1)[None].float() for x in (a8, b8))
    ones = np.ones(a.shape[:2])
    v8 = metrics.warping_error(a8, b8, zero_flow(), ones)
    vt = metrics.warping_error(ta, tb, zero_flow(), torch.ones(1, 1, *a.shape[:2]))
    assert v8 == pytest.approx(vt, rel=1e-5)


def test_shape_mismatches_raise():
    a = texture()
    with pytest.raises(ValueError):
        metrics.warping_error(a, a, np.zeros((3, 3, 2), np.float32), np.ones(a.shape[:2]))
    with pytest.raises(ValueError):
        metrics.masked_mse(a, a, zero_flow(), np.ones((2, 2)))
    with pytest.raises(ValueError):
        metrics.temporal_errors([a, a], [a])
    with pytest.raises(ValueError):
        metrics.temporal_errors([a], [a])


def test_sintel_ground_truth_flow_compensates_motion(data_dir):
    """alley_1 frames 2 -> 3 with MPI-Sintel's true flow: on pixels Sintel marks visible and valid,
    warping frame 3 back removes nearly all of the difference (E_warp of the input itself ~ 0)."""
    from vstlib.io import load_image

    root = data_dir / "sintel" / "alley_1"
    f2 = load_image(root / "clean" / "frame_0002.png")
    f3 = load_image(root / "clean" / "frame_0003.png")
    flow = read_flo(root / "flow" / "frame_0002.flo")
    occluded = load_image(root / "occlusions" / "frame_0002.png")[0, 0].numpy() > 0.5
    invalid = load_image(root / "invalid" / "frame_0002.png")[0, 0].numpy() > 0.5
    visible = (~occluded & ~invalid).astype(np.float64)
    with_flow = metrics.warping_error(f2, f3, flow, visible)
    without = metrics.warping_error(f2, f3, np.zeros_like(flow), visible)
    assert without > 0.01
    assert with_flow < 0.05 * without
