"""The optimization engine on problems with known answers."""

import math

import pytest
import torch

from vstlib.engine import optimize_image
from vstlib.errors import VstError


def quadratic(target):
    return lambda x: ((x - target) ** 2).sum() * 1e4  # large scale, like perceptual losses


def test_lbfgs_solves_a_quadratic():
    target = torch.rand(1, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    init = torch.zeros_like(target)
    result = optimize_image(quadratic(target), init, iters=30)
    torch.testing.assert_close(result.image, target, atol=1e-3, rtol=0)
    assert torch.equal(init, torch.zeros_like(target))  # init untouched
    assert result.losses[0] > result.losses[-1]
    assert len(result.losses) == len(result.times) == result.iterations == 30


def test_adam_decreases_the_loss():
    target = torch.full((1, 3, 4, 4), 0.7)
    result = optimize_image(quadratic(target), torch.zeros_like(target), optimizer="adam", iters=50)
    assert result.losses[-1] < 0.1 * result.losses[0]


def test_relative_tolerance_stops_early():
    target = torch.full((1, 3, 4, 4), 0.25)
    result = optimize_image(quadratic(target), torch.zeros_like(target), iters=500, tol=1e-3, patience=3)
    assert result.stopped == "converged" and result.iterations < 500


def test_callback_sees_every_iteration_and_result_is_clamped():
    target = torch.full((1, 3, 4, 4), 1.5)  # outside [0, 1]
    seen = []
    result = optimize_image(quadratic(target), torch.zeros_like(target), iters=20,
                            callback=lambda it, loss, img: seen.append((it, img.max().item())))
    assert [it for it, _ in seen] == list(range(1, 21))
    assert seen[-1][1] > 1.0  # unconstrained during optimization
    assert result.image.max().item() == 1.0


def test_bad_optimizer_and_diverging_objective():
    x = torch.zeros(1, 3, 2, 2)
    with pytest.raises(VstError):
        optimize_image(quadratic(x), x, optimizer="sgd")
    with pytest.raises(FloatingPointError):
        optimize_image(lambda img: (img * math.nan).sum(), x, iters=3)


def test_first_step_moves_the_steepest_pixel_by_first_step_gray_levels():
    target = torch.rand(1, 3, 8, 8, generator=torch.Generator().manual_seed(1))
    init = torch.zeros_like(target)
    seen = []
    optimize_image(quadratic(target), init, iters=2, first_step=16.0,
                   callback=lambda it, loss, img: seen.append(img.clone()))
    assert (seen[0] - init).abs().max().item() * 255 == pytest.approx(16.0, rel=1e-4)
    # torch's default first step (first_step=None) moves about 1 gray level summed over all pixels
    seen.clear()
    optimize_image(quadratic(target), init, iters=1, first_step=None, callback=lambda it, loss, img: seen.append(img))
    assert (seen[0] - init).abs().sum().item() * 255 == pytest.approx(1.0, rel=1e-3)
