"""The one optimization engine: optimize an image's pixels against any objective.

Gatys (per frame), Ruder (with temporal terms) and every later optimization-based method call
:func:`optimize_image` with a different objective; the loop, stopping rule, progress reporting
and bookkeeping live only here.

One *iteration* is one objective evaluation with its gradient. For L-BFGS this is
``torch.optim.LBFGS(max_iter=1)`` stepped once per iteration: no line search, so cost per
iteration is fixed and iteration counts compare directly with other implementations (pastiche
steps its L-BFGS the same way).

By default the pixels are projected back into [0, 255] gray levels after every step (a projected
L-BFGS), so the image the optimizer scores is the image that gets written; ``autocast="bf16"``
runs the feature extractor in bfloat16. Numbers behind both: benchmarks/RESULTS.md.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import Tensor

from .errors import VstError

OPTIMIZERS = ("lbfgs", "adam")
# The optimized variable is the image in gray levels (0..255), not [0, 1]. Without a line search,
# L-BFGS's first step is lr * min(1, 1/|g|_1) times the gradient, so its length depends on the
# variable's units; in gray levels it is a small, safe first move and the iterations that follow
# are invariant to the loss scale (any content/style weights). In [0, 1] units the same first
# step is 255x longer and the curvature pairs it produces are dominated by float32 rounding:
# measured on a 256 px Gatys problem the loss diverged to inf by iteration 3.
PIXEL_SCALE = 255.0
# Adam's step size in gray levels per iteration.
DEFAULT_ADAM_LR = 5.0
# L-BFGS's own first step moves the image by lr/|g|_1 * g: about one gray level summed over
# all pixels, so the first iterations barely move, and the curvature pair from that tiny step
# makes the second step overshoot (loss spikes of 1e17 at 256 px). Scaling the first step so the
# pixel with the largest gradient moves FIRST_STEP gray levels fixes both. Measured on a 256 px
# Gatys problem (chelsea / Starry Night, 100 iterations): loss after 10 iterations 1.0e17 -> 9.6e7,
# after 100 iterations 6.5e6 -> 4.9e6 (first step 32: 5.1e6; 64: 5.2e6; 128: 4.9e6).
DEFAULT_FIRST_STEP = 128.0
# Reduced-precision evaluation of the objective (None: float32). "bf16": the VGG19 convolutions
# under torch.autocast(bfloat16), features cast back to float32 before the losses (Gram matrices
# and sums in bfloat16 would lose the small late-optimization differences). Measured by
# benchmarks/bench_gatys_vs_pastiche.py (RESULTS.md): per step 1.6x faster on a 2-core AVX512-BF16
# EPYC at 256 px and about 1.7x on a 2-core AMX Xeon at 128 px, with a few percent more iterations
# to a given loss; opt-in, as CPUs without bf16 units run it slower than float32.
AUTOCASTS = (None, "bf16")  # "none" is accepted for None (GatysConfig's spelling)


@dataclass
class OptimResult:
    image: Tensor  # [B, 3, H, W], clamped to [0, 1], detached
    losses: list[float] = field(default_factory=list)  # objective at the point each iteration started from
    times: list[float] = field(default_factory=list)  # seconds since start, after each iteration
    iterations: int = 0
    stopped: str = "iterations"  # "iterations" or "converged"
    scale_iters: list[int] = field(default_factory=list)  # iterations run at each scale (coarse to fine)


def optimize_image(
    objective: Callable[[Tensor], Tensor],
    init: Tensor,
    *,
    optimizer: str = "lbfgs",
    iters: int = 300,
    lr: float | None = None,
    tol: float = 0.0,
    patience: int = 5,
    history_size: int = 100,
    first_step: float | None = DEFAULT_FIRST_STEP,
    callback: Callable[[int, float, Tensor], None] | None = None,
    progress=None,
    project: bool = True,
    autocast: str | None = None,
) -> OptimResult:
    """Minimize ``objective(image)`` over the pixels of ``image``, starting at ``init``.

    Args:
        objective: image [B, 3, H, W] -> scalar loss (e.g. a :class:`~vstlib.losses.PerceptualLoss`).
        init: starting image in [0, 1]; not modified.
        optimizer: ``"lbfgs"`` (default; far fewer iterations for this smooth problem) or ``"adam"``.
        iters: maximum number of iterations.
        lr: step size (L-BFGS: multiplier, default 1.0; Adam: gray levels per step, default 5).
        tol: stop when the relative loss change stays below ``tol`` for ``patience`` iterations
            (0 disables; then exactly ``iters`` iterations run).
        first_step: L-BFGS only: the largest pixel change of the first step, in gray levels
            (None: torch's default first step, 1/|g|_1, which is what pastiche does).
        callback: ``callback(iteration, loss, image)`` after each iteration (e.g. a live preview).
        progress: a tqdm-like object with ``update()`` and ``set_postfix()``, or None.
        project: clamp the pixels back into [0, 1] after every step (and ``init`` before the first),
            so every image the objective sees, and the result, is the optimized image as it will be
            written. False: optimize unconstrained and clamp only the result (what pastiche does).
        autocast: None (float32) or ``"bf16"``: evaluate the objective's feature extractor under
            ``torch.autocast(bfloat16)``, losses in float32 (see :data:`AUTOCASTS`).
    """
    if optimizer not in OPTIMIZERS:
        raise VstError(f"unknown optimizer '{optimizer}'; choose lbfgs or adam")
    if iters < 0:
        raise VstError(f"iterations must be >= 0, got {iters}")
    objective = _with_autocast(objective, autocast, init.device.type)
    # Why project: unconstrained, 2-4 % of the pixels end up outside [0, 255] after 300 steps at
    # 256 px (by up to ~120 gray levels), and clamping them when saving multiplied the written
    # image's loss by 3-3.7x (chelsea / Starry Night, astronaut / The Scream). Projected, the
    # written image scores what the optimizer reports.
    start_image = init.detach().clamp(0.0, 1.0) if project else init.detach()
    pixels = (start_image * PIXEL_SCALE).contiguous().requires_grad_(True)  # L-BFGS views the grad flat
    if optimizer == "lbfgs":
        opt = torch.optim.LBFGS([pixels], lr=lr or 1.0, max_iter=1, history_size=history_size,
                                tolerance_grad=0.0, tolerance_change=0.0)
    else:
        opt = torch.optim.Adam([pixels], lr=lr or DEFAULT_ADAM_LR)

    result = OptimResult(image=init)
    last = {"loss": math.nan}
    start = time.perf_counter()
    probe = None  # (loss, gradient) at init, computed to size the first step and reused by it
    if optimizer == "lbfgs" and first_step and iters > 0:
        loss0 = objective(pixels / PIXEL_SCALE)
        (grad0,) = torch.autograd.grad(loss0, pixels)
        g_max, g_sum = grad0.abs().max().item(), grad0.abs().sum().item()
        if g_max > 0 and math.isfinite(g_sum):
            # torch's first step is t * g with t = lr * min(1, 1/|g|_1); pick lr so max|t g| = first_step.
            opt.param_groups[0]["lr"] = first_step / (g_max * min(1.0, 1.0 / g_sum))
        probe = (loss0.detach(), grad0)

    def closure() -> Tensor:
        nonlocal probe
        opt.zero_grad(set_to_none=True)
        if probe is not None:  # same point as the probe: reuse instead of evaluating twice
            loss, pixels.grad = probe
            probe = None
        else:
            loss = objective(pixels / PIXEL_SCALE)
            loss.backward()
        last["loss"] = loss.item()
        return loss

    calm = 0
    for it in range(1, iters + 1):
        before = pixels.detach().clone() if project and optimizer == "lbfgs" else None
        opt.step(closure)
        if it == 1 and optimizer == "lbfgs":
            opt.param_groups[0]["lr"] = lr or 1.0  # the probe-sized lr was for the first step only
        if project:
            with torch.no_grad():
                pixels.clamp_(0.0, PIXEL_SCALE)
            if before is not None:
                _lbfgs_step_taken(opt, pixels, before)
        loss = last["loss"]
        if not math.isfinite(loss):
            raise FloatingPointError(f"loss became {loss} at iteration {it}; lower the loss weights "
                                     f"(--style-weight, --content-weight) or the step size (--lr)")
        result.losses.append(loss)
        result.times.append(time.perf_counter() - start)
        result.iterations = it
        if progress is not None:
            progress.update(1)
            progress.set_postfix(loss=f"{loss:.4g}", refresh=False)
        if callback is not None:
            callback(it, loss, pixels.detach() / PIXEL_SCALE)
        if tol > 0 and it > 1:
            prev = result.losses[-2]
            calm = calm + 1 if abs(prev - loss) <= tol * max(abs(prev), 1e-12) else 0
            if calm >= patience:
                result.stopped = "converged"
                break
    result.image = (pixels.detach() / PIXEL_SCALE).clamp_(0.0, 1.0)
    return result


def _lbfgs_step_taken(opt: torch.optim.LBFGS, pixels: Tensor, before: Tensor) -> None:
    """Tell L-BFGS the step it actually took, after the projection.

    torch's L-BFGS forms its next curvature pair from ``s = d * t``, the step it proposed. Pixels
    that the clamp stopped did not move, yet that ``s`` says they did while their gradient did not
    change: the pair claims almost no curvature along them and the next directions overshoot
    further. Measured on a quadratic whose optimum lies partly outside the range, the projected
    iteration stalled at 7x the constrained optimum's loss; with ``d`` replaced by the step taken
    divided by ``t`` (so ``s`` is exact) it reaches the constrained optimum (tests/test_engine.py).
    """
    state = opt.state[pixels]
    t = state.get("t")
    if state.get("d") is not None and t:
        state["d"] = (pixels.detach() - before).flatten() / t


def _with_autocast(objective: Callable[[Tensor], Tensor], autocast: str | None, device_type: str):
    """``objective`` evaluated under ``autocast`` (see :data:`AUTOCASTS`)."""
    if autocast not in AUTOCASTS + ("none",):
        raise VstError(f"unknown autocast '{autocast}'; choose none (float32) or bf16")
    if autocast in (None, "none"):
        return objective
    from .losses import PerceptualLoss

    if not isinstance(objective, PerceptualLoss):
        def run(image: Tensor) -> Tensor:  # any other callable: all of it under autocast
            with torch.autocast(device_type, dtype=torch.bfloat16):
                loss = objective(image)
            return loss.float()

        return run

    def run_perceptual(image: Tensor) -> Tensor:
        # PerceptualLoss.forward with only the encoder in bfloat16: the losses see float32 features.
        with torch.autocast(device_type, dtype=torch.bfloat16):
            features = objective.features(image)
        features = {name: f.float() for name, f in features.items()}
        parts = [loss(features, image) for loss in objective.losses.values() if loss.weight != 0]
        return sum(parts, (image * 0).sum())

    return run_perceptual


def objective_value(objective: Callable[[Tensor], Tensor], image: Tensor) -> float:
    """Evaluate an objective without building a graph (for reporting a final loss)."""
    with torch.no_grad():
        return float(objective(image))
