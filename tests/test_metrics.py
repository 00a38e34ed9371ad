import numpy as np
import pytest
import torch

from vstlib import metrics


def test_frame_difference_exact_values():
    frames = [np.full((4, 5, 3), v, dtype=np.float64) for v in (0.0, 0.1, 0.4, 0.4)]
    np.testing.assert_allclose(metrics.frame_difference(frames), [0.1, 0.3, 0.0])


def test_frame_difference_accepts_uint8_and_tensors():
    u8 = [np.zeros((2, 2, 3), np.uint8), np.full((2, 2, 3), 51, np.uint8)]
    np.testing.assert_allclose(metrics.frame_difference(u8), [0.2])
    t = [torch.zeros(1, 3, 2, 2), torch.full((1, 3, 2, 2), 0.5)]
    np.testing.assert_allclose(metrics.frame_difference(t), [0.5])


def test_flicker_ratio_and_size_mismatch():
    calm = [np.full((2, 2, 3), v) for v in (0.0, 0.1, 0.2)]
    jumpy = [np.full((2, 2, 3), v) for v in (0.0, 0.3, 0.0)]
    assert metrics.flicker_ratio(calm, jumpy) == pytest.approx(3.0)
    with pytest.raises(ValueError):
        metrics.frame_difference([np.zeros((2, 2, 3)), np.zeros((3, 2, 3))])
