"""Tests for vstlib.stabilize: the temporal stabilization post step and its place in the runner.

Synthetic scenes with known answers: a static scene with a noisy "method" (the flicker falls as
derived in the module docstring), a translating texture (the warped blend aligns: no ghosting),
a square moving over a background (disoccluded pixels keep the method's output), a shot cut; then
the runner: an interrupted, resumed run equals an uninterrupted one, and bad strengths are one line.
"""

from __future__ import annotations

import math

import numpy as np
from conftest import smooth_texture
import pytest
import torch

from vstlib import cli, runner
from vstlib.errors import VstError
from vstlib.flow import occlusion_mask
from vstlib.io import to_array
from vstlib.methods.base import FrameItem
from vstlib.stabilize import (CUT_THRESHOLD, Stabilizer, check_strength, expected_flicker, reliability_mask,
                              stabilize_blend)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def as_tensor(frame: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(frame.astype(np.float32) / 255).permute(2, 0, 1)[None]


def run(stab: Stabilizer, frames, outputs) -> list[torch.Tensor]:
    return [stab(out, FrameItem(index=i, frame=f, content=None)) for i, (f, out) in enumerate(zip(frames, outputs))]


# --------------------------------------------------------------------------------------------
# The blend and the strength
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [-0.1, 1.5, float("nan"), "strong"])
def test_bad_strength_is_one_line(bad):
    for call in (lambda: check_strength(bad), lambda: Stabilizer(bad),
                 lambda: stabilize_blend(torch.zeros(1, 3, 2, 2), torch.zeros(1, 3, 2, 2), torch.ones(1, 1, 2, 2), bad)):
        with pytest.raises(VstError) as err:
            call()
        assert len(str(err.value).splitlines()) == 1 and "--stabilize" in str(err.value)


def test_blend_is_the_formula():
    g = torch.Generator().manual_seed(0)
    cur, prev = torch.rand(2, 3, 5, 7, generator=g), torch.rand(2, 3, 5, 7, generator=g)
    c = torch.rand(2, 1, 5, 7, generator=g)
    for s in (0.0, 0.3, 1.0):
        torch.testing.assert_close(stabilize_blend(cur, prev, c, s), (1 - s * c) * cur + s * c * prev)


def test_reliability_mask_is_occlusion_mask(bbb_path):
    """The stabilizer's numpy/OpenCV check computes vstlib.flow.occlusion_mask's criteria."""
    from vstlib.flow import estimate_flow
    from vstlib.io import read_frames

    a, b = list(read_frames(bbb_path, max_side=160, start=60, end=62))
    fab, fba = estimate_flow(a, b, "dis"), estimate_flow(b, a, "dis")
    ours, ref = reliability_mask(fab, fba), occlusion_mask(fab, fba)
    assert 0.05 < ref.mean() < 0.995  # a mask with both kinds of pixels
    assert (ours == ref).mean() > 0.999  # float rounding may flip a pixel at a threshold
    fab[3, 4] = np.nan
    assert reliability_mask(fab, fba)[3, 4] == 0


# --------------------------------------------------------------------------------------------
# Static scene, flickering method: the derived flicker reduction
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("strength", [0.5, 0.8])
def test_static_scene_flicker_falls_as_derived(strength):
    """Identical input frames (real DIS flow: zero, every pixel reliable); the 'method' returns
    0.5 + independent noise each frame. The RMS frame difference of the stabilized output,
    relative to the method's, follows (1 - s) sqrt((1 + V_{t-1}) / 2) (module docstring): each
    step's change is scaled by 1 - s, the steady state by (1 - s) / sqrt(1 + s)."""
    h, w, n, sigma = 64, 64, 14, 0.05
    frame = smooth_texture(h, w)
    g = torch.Generator().manual_seed(1)
    outs = [0.5 + sigma * torch.randn(1, 3, h, w, generator=g) for _ in range(n)]
    stab = Stabilizer(strength)
    res = run(stab, [frame] * n, outs)
    assert stab.reliable == [1.0] * (n - 1) and stab.cuts == []
    torch.testing.assert_close(res[0], outs[0])  # the first frame has nothing to follow
    raw = [float(((outs[t] - outs[t - 1]) ** 2).mean()) for t in range(1, n)]
    stabilized = [float(((res[t] - res[t - 1]) ** 2).mean()) for t in range(1, n)]
    ratios = [math.sqrt(a / b) for a, b in zip(stabilized, raw)]
    expected = [expected_flicker(strength, frames=t) for t in range(1, n)]
    # 12288 samples per frame: the measured RMS is within ~1 % (sampling), allow 6 %.
    np.testing.assert_allclose(ratios, expected, rtol=0.06)
    assert ratios[-1] < 1 - strength + 0.02  # well below the method's own flicker
    # the steady state: the last differences agree with (1 - s) / sqrt(1 + s)
    assert np.mean(ratios[-4:]) == pytest.approx(expected_flicker(strength), rel=0.06)


def test_strength_zero_changes_nothing():
    frame = smooth_texture(32, 32)
    outs = [torch.rand(1, 3, 32, 32) for _ in range(3)]
    res = run(Stabilizer(0.0), [frame] * 3, outs)
    for a, b in zip(res, outs):
        assert torch.equal(a, b)


# --------------------------------------------------------------------------------------------
# Moving scenes: alignment (no ghosting) and disocclusions
# --------------------------------------------------------------------------------------------


def translating(n: int, h: int = 80, w: int = 96, d: int = 3) -> list[np.ndarray]:
    """Frames of a texture moving ``d`` pixels to the right per frame."""
    big = smooth_texture(h, w + d * n, seed=2)
    return [np.ascontiguousarray(big[:, d * (n - t):d * (n - t) + w]) for t in range(n)]


def constant_flow(h, w, dx) -> np.ndarray:
    flow = np.zeros((h, w, 2), np.float32)
    flow[..., 0] = dx
    return flow


def test_translation_known_flow_aligns_exactly():
    """With the true flow, the identity 'method' stabilized at s = 0.8 still returns every frame
    (warp(previous) lands exactly on the current frame): no ghost anywhere; the same blend
    without warping (zero flow) visibly ghosts."""
    n, d = 6, 3
    frames = translating(n, d=d)
    h, w = frames[0].shape[:2]
    current = [None]

    def known(a, b):  # the flow a -> b between consecutive frames: content moves +d from t-1 to t
        return constant_flow(h, w, -d if a is current[0] else d)

    stab = Stabilizer(0.8, flow_fn=known)
    outs = [as_tensor(f) for f in frames]
    res = []
    for i, f in enumerate(frames):
        current[0] = f
        res.append(stab(outs[i], FrameItem(index=i, frame=f, content=None)))
    assert stab.reliable[0] == pytest.approx(1 - d / w)  # the pixels entering at the left edge: c = 0
    for t in range(1, n):
        torch.testing.assert_close(res[t], outs[t], atol=1e-5, rtol=0)
    # the control: the same blend with a zero flow mixes in the previous, unaligned frame
    still = Stabilizer(0.8, flow_fn=lambda a, b: np.zeros((h, w, 2), np.float32))
    ghosted = run(still, frames, outs)
    assert float((ghosted[-1] - outs[-1]).abs().mean()) > 0.02


def test_translation_estimated_flow_has_little_ghosting():
    """With DIS's own flow the aligned blend stays close to the frames where the mask trusts it:
    the error is a small fraction of the unwarped blend's."""
    n = 6
    frames = translating(n, h=96, w=128, d=3)
    outs = [as_tensor(f) for f in frames]
    res = run(Stabilizer(0.8), frames, outs)
    still = run(Stabilizer(0.8, flow_fn=lambda a, b: np.zeros(a.shape[:2] + (2,), np.float32)), frames, outs)
    aligned_err = float((res[-1] - outs[-1]).abs().mean())
    ghost_err = float((still[-1] - outs[-1]).abs().mean())
    assert aligned_err < 0.2 * ghost_err, (aligned_err, ghost_err)


def test_flow_analysed_at_reduced_size_is_scaled_back_to_full_size_pixels():
    """The flow and mask come from frames shrunk to ``analysis_side``; the vectors returned are in
    the full frame's pixels (a 6-pixel shift reads as about 6, not 3), and the blend aligns as well
    as with the full-size analysis."""
    frames = translating(2, h=96, w=192, d=6)
    small = Stabilizer(0.8, analysis_side=96)
    back, mask = small.reliability(frames[1], frames[0])
    assert back.shape == (96, 192, 2) and mask.shape == (96, 192)
    inner = mask > 0.99
    assert inner.mean() > 0.5
    assert float(np.median(back[..., 0][inner])) == pytest.approx(-6.0, abs=0.75)
    outs = [as_tensor(f) for f in frames]
    errs = [float((run(st, frames, outs)[-1] - outs[-1]).abs().mean())
            for st in (Stabilizer(0.8, analysis_side=96), Stabilizer(0.8, analysis_side=None))]
    assert errs[0] < 2 * errs[1] + 0.005, errs


def test_disoccluded_pixels_keep_the_method_output():
    """A square moves 4 px right over a static background. With the true flows the pixels it
    uncovers (and the frame-t motion boundaries) have c = 0 and keep the method's output
    exactly; reliable static background (c = 1, zero flow) is the exact blend with the previous output,
    and the square itself (c = 1) the blend with the previous output shifted along with it."""
    h, w, d, s = 48, 64, 4, 0.6
    bg = smooth_texture(h, w, seed=3)
    square = smooth_texture(16, 16, seed=4)
    x0 = [10, 10 + d]  # the square's left edge at t-1 and t
    frames = []
    for x in x0:
        f = bg.copy()
        f[16:32, x:x + 16] = square
        frames.append(f)
    back = np.zeros((h, w, 2), np.float32)  # frame t -> t-1: the square's pixels came from 4 px left
    back[16:32, x0[1]:x0[1] + 16, 0] = -d
    fwd = np.zeros((h, w, 2), np.float32)  # frame t-1 -> t
    fwd[16:32, x0[0]:x0[0] + 16, 0] = d
    flows = {0: back, 1: fwd}

    def known(a, b):
        return flows[0] if a is frames[1] else flows[1]

    g = torch.Generator().manual_seed(5)
    outs = [torch.rand(1, 3, h, w, generator=g) for _ in range(2)]
    res = run(Stabilizer(s, flow_fn=known), frames, outs)
    c = occlusion_mask(back, fwd)
    uncovered = np.zeros((h, w), bool)
    uncovered[16:32, x0[0]:x0[1]] = True  # covered at t-1, background at t
    assert (c[uncovered] == 0).all()  # the premise: the check finds the disocclusion
    keep = torch.from_numpy(c == 0)
    assert torch.equal(res[1][0][:, keep], outs[1][0][:, keep])
    far = torch.from_numpy((c == 1) & (back[..., 0] == 0))  # reliable static background
    assert far.sum() > 0.5 * h * w
    torch.testing.assert_close(res[1][0][:, far], ((1 - s) * outs[1] + s * outs[0])[0][:, far])
    inside = np.zeros((h, w), bool)
    inside[16:32, x0[1]:x0[1] + 16] = True
    inside &= c == 1
    assert inside.sum() > 50
    shifted = torch.roll(outs[0], d, dims=-1)  # the previous output, moved with the square
    moving = torch.from_numpy(inside)
    torch.testing.assert_close(res[1][0][:, moving], ((1 - s) * outs[1] + s * shifted)[0][:, moving])


def test_shot_cut_starts_afresh():
    """Two unrelated images: almost nothing is reliable, the frame is left unchanged and
    counted as a cut; the next frame of the new shot is stabilized again."""
    a, b = smooth_texture(64, 64, seed=6), smooth_texture(64, 64, seed=7)
    outs = [torch.rand(1, 3, 64, 64) for _ in range(3)]
    stab = Stabilizer(0.7)
    res = run(stab, [a, b, b], outs)
    assert stab.reliable[0] < CUT_THRESHOLD and stab.cuts == [1]
    assert torch.equal(res[1], outs[1])
    assert not torch.equal(res[2], outs[2])


# --------------------------------------------------------------------------------------------
# In the runner: resume equality, the resume key, the command line
# --------------------------------------------------------------------------------------------


class Capture:
    """A post step that keeps the exact outputs (before H.264) by frame index."""

    def __init__(self, interrupt_at: int | None = None):
        self.frames: dict[int, np.ndarray] = {}
        self.interrupt_at = interrupt_at

    def __repr__(self) -> str:  # the runner's resume key names the post steps: the same for every instance
        return "Capture()"

    def __call__(self, image, item):
        if self.interrupt_at is not None and len(self.frames) + 1 >= self.interrupt_at:
            raise KeyboardInterrupt
        self.frames[item.index] = to_array(image)
        return image


def test_resumed_stabilized_video_equals_an_uninterrupted_one(bbb_path, tmp_path, monkeypatch):
    """Parts of 2 frames; Ctrl-C at frame 5: the resumed run restores the stabilizer's state
    (previous frame and output) saved with the parts and computes the same frames."""
    monkeypatch.setattr(runner, "PART_SECONDS", 2 / 24)
    kwargs = dict(method="none", max_side=96, start=2.0, duration=0.25, device="cpu", progress=False,
                  stabilize=0.7)
    whole = Capture()
    runner.stylize_video(bbb_path, None, tmp_path / "whole.mp4", post_steps=[whole], **kwargs)
    raw = Capture()
    runner.stylize_video(bbb_path, None, tmp_path / "raw.mp4", post_steps=[raw], **{**kwargs, "stabilize": 0.0})
    with pytest.raises(KeyboardInterrupt):
        runner.stylize_video(bbb_path, None, tmp_path / "resumed.mp4", post_steps=[Capture(interrupt_at=5)], **kwargs)
    (cache,) = [p for p in tmp_path.iterdir() if p.is_dir() and ".resumed.mp4.vst-" in p.name]
    state = torch.load(cache / "state_000004.pt", weights_only=True)
    assert state["post_steps"][0]["next_index"] == 4
    rest = Capture()
    result = runner.stylize_video(bbb_path, None, tmp_path / "resumed.mp4", post_steps=[rest], **kwargs)
    assert result.resumed_frames == 4 and sorted(rest.frames) == [4, 5]
    for i in (4, 5):
        np.testing.assert_array_equal(rest.frames[i], whole.frames[i])
        assert not np.array_equal(rest.frames[i], raw.frames[i])  # it was stabilized (and resumed, not restarted)
    # the stabilizer's settings key the resume folder
    settings = [(p / "settings.json").read_text() for p in tmp_path.iterdir() if p.is_dir()]
    assert settings == []  # finished runs removed their folders
    runner.stylize_video(bbb_path, None, tmp_path / "kept.mp4", keep_cache=True, **kwargs)
    (kept,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    assert '"stabilize": [\n  0.7,\n  "dis"\n ]' in (kept / "settings.json").read_text()


def test_bad_strength_in_the_runner_and_cli(bbb_path, tmp_path, capsys):
    with pytest.raises(VstError) as err:
        runner.stylize_video(bbb_path, None, tmp_path / "x.mp4", "none", stabilize=1.5, progress=False)
    assert "--stabilize" in str(err.value) and len(str(err.value).splitlines()) == 1
    for bad in ("1.5", "-0.5", "lots"):
        with pytest.raises(SystemExit) as exc:
            cli.main(["stylize", str(bbb_path), "--method", "none", "--stabilize", bad, "-o", str(tmp_path / "y.mp4")])
        assert exc.value.code == 2
        err_text = capsys.readouterr().err
        assert len(err_text.splitlines()) == 1 and "--stabilize" in err_text
    assert list(tmp_path.iterdir()) == []
