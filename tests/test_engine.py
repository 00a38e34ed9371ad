"""The optimization engine on problems with known answers."""

import math

import pytest
import torch

from vstlib.engine import optimize_image
from vstlib.errors import VstError
from vstlib.gatys import GatysConfig, GatysStylizer


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
    result = optimize_image(quadratic(target), torch.zeros_like(target), iters=20, project=False,
                            callback=lambda it, loss, img: seen.append((it, img.max().item())))
    assert [it for it, _ in seen] == list(range(1, 21))
    assert seen[-1][1] > 1.0  # unconstrained during optimization
    assert result.image.max().item() == 1.0


class RangeRecorder:
    """A quadratic pulling the pixels to a target partly outside [0, 1]; records every input's range."""

    def __init__(self, target):
        self.target, self.ranges = target, []

    def __call__(self, image):
        self.ranges.append((image.min().item(), image.max().item()))
        return ((image - self.target) ** 2).sum() * 1e4


@pytest.mark.parametrize("optimizer", ["lbfgs", "adam"])
def test_projection_keeps_every_evaluated_image_in_range(optimizer):
    g = torch.Generator().manual_seed(2)
    target = torch.rand(1, 3, 8, 8, generator=g) * 1.6 - 0.3  # about a third of it outside [0, 1]
    init = torch.rand(1, 3, 8, 8, generator=g)
    iters = 30 if optimizer == "lbfgs" else 100
    results = {}
    for project in (True, False):
        rec, seen = RangeRecorder(target), []
        results[project] = optimize_image(rec, init, optimizer=optimizer, iters=iters, project=project, lr=None,
                                          callback=lambda it, loss, img: seen.append((img.min().item(), img.max().item())))
        results[project].ranges = rec.ranges + seen
    lo, hi = min(r[0] for r in results[True].ranges), max(r[1] for r in results[True].ranges)
    assert 0.0 <= lo and hi <= 1.0
    lo, hi = min(r[0] for r in results[False].ranges), max(r[1] for r in results[False].ranges)
    assert lo < -0.1 and hi > 1.1  # the same problem, unprojected, leaves the range
    # projected, it converges to the target clamped into the range: the constrained optimum
    torch.testing.assert_close(results[True].image, target.clamp(0, 1), atol=2e-2 if optimizer == "adam" else 1e-3,
                               rtol=0)


def test_projection_clamps_an_out_of_range_init():
    rec = RangeRecorder(torch.full((1, 3, 4, 4), 0.5))
    optimize_image(rec, torch.full((1, 3, 4, 4), 2.0), iters=3)
    assert all(0.0 <= lo and hi <= 1.0 for lo, hi in rec.ranges)


def test_projection_is_a_no_op_away_from_the_bounds():
    # Same iterates up to float rounding (the step taken, x_new - x_old, replaces L-BFGS's d * t).
    target = torch.rand(1, 3, 8, 8, generator=torch.Generator().manual_seed(4)) * 0.6 + 0.2
    a = optimize_image(quadratic(target), torch.full_like(target, 0.5), iters=8, project=True)
    b = optimize_image(quadratic(target), torch.full_like(target, 0.5), iters=8, project=False)
    assert a.losses == pytest.approx(b.losses, rel=1e-3, abs=1e-6 * b.losses[0])


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


@pytest.fixture(scope="module")
def gatys_problem():
    g = torch.Generator().manual_seed(0)
    content = torch.rand(1, 3, 48, 64, generator=g)
    style = torch.zeros(1, 3, 64, 64)
    style[:, 0, :, ::4] = 1.0
    style[:, 2, ::3] = 0.8
    stylizer = GatysStylizer(style, GatysConfig())
    stylizer.set_content(content)
    return stylizer.objective, content


def test_bf16_autocast_runs_and_stays_close_to_float32(gatys_problem):
    objective, content = gatys_problem
    f32 = optimize_image(objective, content, iters=10)
    bf16 = optimize_image(objective, content, iters=10, autocast="bf16")
    assert bf16.losses[0] == pytest.approx(f32.losses[0], rel=0.05)  # same image, bf16 convolutions
    assert bf16.losses[-1] < 0.5 * bf16.losses[0]  # and it optimizes as well
    assert bf16.losses[-1] == pytest.approx(f32.losses[-1], rel=0.2)
    assert bf16.image.dtype == torch.float32
    assert all(isinstance(v, float) and math.isfinite(v) for v in bf16.losses)


def test_bf16_autocast_of_a_plain_callable():
    target = torch.rand(1, 3, 8, 8, generator=torch.Generator().manual_seed(3))
    f32 = optimize_image(quadratic(target), torch.zeros_like(target), iters=20)
    bf16 = optimize_image(quadratic(target), torch.zeros_like(target), iters=20, autocast="bf16")
    assert bf16.losses[-1] < 1e-3 * bf16.losses[0]
    assert bf16.losses[0] == pytest.approx(f32.losses[0], rel=1e-2)


@pytest.mark.parametrize("value", ["fp16", "bfloat16", torch.bfloat16, True])
def test_bad_autocast_is_refused(value):
    x = torch.zeros(1, 3, 2, 2)
    with pytest.raises(VstError, match="unknown autocast"):
        optimize_image(quadratic(x), x, iters=1, autocast=value)


def test_autocast_none_is_float32():
    target = torch.full((1, 3, 4, 4), 0.5)
    a = optimize_image(quadratic(target), torch.zeros_like(target), iters=5, autocast=None)
    b = optimize_image(quadratic(target), torch.zeros_like(target), iters=5, autocast="none")
    assert a.losses == b.losses
