"""Ruder et al.'s method: the temporal loss, the clip loop (warped init, long-term weights, shot cuts,
multi-pass, resume) and the video entry point.

Clips are synthetic (a texture translated by a known whole number of pixels, so the flows are
exact and no flow estimator runs) except for the end-to-end video test.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vstlib.errors import VstError
from vstlib.gatys import GatysConfig, GatysStylizer
from vstlib.metrics import temporal_errors
from vstlib.ruder import (ClipResult, RuderConfig, RuderStylizer, TemporalLoss, blend_start, needed_pairs,
                          stylize_clip, warp_neighbour)

pytestmark = pytest.mark.usefixtures("one_torch_thread")

H, W, SHIFT = 32, 40, 2  # each frame moves SHIFT pixels to the right


def moving_clip(n: int, seed: int = 0):
    """n frames [1, 3, H, W] of a smooth texture panning right, and exact flows for every pair."""
    rng = np.random.default_rng(seed)
    big = rng.uniform(0, 1, (H // 4 + 2, (W + SHIFT * n) // 4 + 2, 3)).astype(np.float32)
    import cv2

    big = cv2.resize(big, (big.shape[1] * 4, big.shape[0] * 4), interpolation=cv2.INTER_CUBIC).clip(0, 1)
    frames = []
    for t in range(n):
        x0 = SHIFT * (n - t)  # content moves right: frame t shows the strip starting further left
        frames.append(torch.from_numpy(np.ascontiguousarray(big[:H, x0:x0 + W])).permute(2, 0, 1)[None])
    flows = {}
    for a in range(n):
        for b in range(n):
            if a != b:
                f = np.zeros((H, W, 2), np.float32)
                f[..., 0] = SHIFT * (b - a)
                flows[(a, b)] = f
    return frames, flows


@pytest.fixture(scope="module")
def style():
    rng = np.random.default_rng(1)
    stripes = np.zeros((48, 48, 3), np.float32)
    stripes[:, ::6] = (0.9, 0.2, 0.1)
    stripes += rng.uniform(0, 0.2, stripes.shape).astype(np.float32)
    return torch.from_numpy(stripes.clip(0, 1)).permute(2, 0, 1)[None]


def test_temporal_loss_by_hand():
    x = torch.full((1, 3, 2, 2), 0.5)
    w = torch.full((1, 3, 2, 2), 0.5)
    w[..., 0, 0] = 0.5 + 2 / 255  # 2 gray levels off at one pixel, in all 3 channels
    c = torch.ones(1, 1, 2, 2)
    loss = TemporalLoss(weight=3.0)
    assert float(loss({}, x)) == 0.0  # no targets yet (first frame)
    loss.set_target([w], [c])
    # 3 channels x 2^2 gray levels^2 over D = 12 entries, times the weight 3
    assert float(loss({}, x)) == pytest.approx(3.0 * 3 * 4 / 12, rel=1e-5)
    c[..., 0, 0] = 0  # the mismatched pixel unreliable: nothing left
    loss.set_target([w], [c])
    assert float(loss({}, x)) == 0.0
    # two targets add up
    loss.set_target([w, w], [torch.ones(1, 1, 2, 2), torch.ones(1, 1, 2, 2)])
    assert float(loss({}, x)) == pytest.approx(2 * 3.0 * 3 * 4 / 12, rel=1e-5)


@pytest.mark.parametrize("kwargs, match", [
    ({"temporal_weight": -1}, "--temporal-weight"), ({"init": "random"}, "unknown --frame-init"),
    ({"flow": "lucas"}, "unknown --flow"), ({"long_term": (2, 4)}, "start at 1"), ({"long_term": (1, 1)}, "increase"),
    ({"passes": 0}, "passes"), ({"blend": 2.0}, "blend"), ({"frame_iters": 0}, "--frame-iters"),
])
def test_config_is_checked(kwargs, match):
    with pytest.raises(VstError, match=match):
        RuderConfig(**kwargs)


def test_later_frames_default_to_a_third_of_the_iterations():
    assert RuderConfig(gatys=GatysConfig(iters=300)).later_iters == 100
    assert RuderConfig(gatys=GatysConfig(iters=2)).later_iters == 1
    assert RuderConfig(gatys=GatysConfig(iters=300), frame_iters=7).later_iters == 7


def test_needed_pairs_cover_long_term_offsets():
    pairs = needed_pairs(5, RuderConfig(long_term=(1, 2, 4)))
    assert (4, 0) in pairs and (0, 4) in pairs and (3, 1) in pairs and (1, 0) in pairs
    assert (3, 0) not in pairs  # offset 3 is not in J
    assert len(pairs) == len(set(pairs)) == 2 * (4 + 3 + 1)


def test_without_temporal_terms_ruder_is_per_frame_gatys(style):
    """Temporal weight 0 and content init: every frame is exactly the per-frame Gatys result."""
    frames, flows = moving_clip(3)
    gcfg = GatysConfig(iters=3)
    gatys = GatysStylizer(style, gcfg)
    expected = [gatys(f).image for f in frames]
    cfg = RuderConfig(gatys=gcfg, temporal_weight=0, init="content", frame_iters=gcfg.iters)
    clip = stylize_clip(frames, RuderStylizer(style, cfg), flows)
    for got, want in zip(clip.frames, expected):
        torch.testing.assert_close(got, want, atol=1e-6, rtol=0)


def test_later_frames_start_from_the_warped_previous_output(style):
    frames, flows = moving_clip(2)
    stylizer = RuderStylizer(style, RuderConfig(gatys=GatysConfig(iters=2), frame_iters=1))
    first = stylizer.stylize_frame(frames[0], [])
    nb = warp_neighbour(first.image, flows[(1, 0)], flows[(0, 1)])
    # the frame moved right by SHIFT: column x of frame 1 is column x - SHIFT of frame 0
    torch.testing.assert_close(nb.warped[..., SHIFT:], first.image[..., :-SHIFT], atol=1e-5, rtol=0)
    assert float(nb.mask[..., :SHIFT].sum()) == 0  # entered the frame: nothing to warp from
    assert float(nb.mask[..., SHIFT + 1:-1].min()) == 1
    seen = []
    stylizer.stylize_frame(frames[1], [nb], callback=lambda it, loss, image: seen.append(loss))
    start = stylizer.start_image(frames[1], [nb])
    torch.testing.assert_close(start, nb.warped)
    # the first loss the engine reports is the objective at that start
    stylizer.temporal.set_target([nb.warped], [nb.mask])
    stylizer.gatys.set_content(frames[1])
    assert seen[0] == pytest.approx(float(stylizer.objective(start)), rel=1e-4)


@pytest.mark.parametrize("style_loss", ["gram", "wasserstein"])
def test_ruder_flickers_less_than_per_frame_gatys(style, style_loss):
    """The method's claim on a clip whose true flow is known: lower E_warp than per-frame,
    with either style loss (the temporal loss is one more module next to it)."""
    frames, flows = moving_clip(4)
    gcfg = GatysConfig(iters=8, init="noise", style_loss=style_loss)  # noise start: per-frame results differ a lot
    gatys = GatysStylizer(style, gcfg)
    per_frame = [gatys(f).image for f in frames]
    clip = stylize_clip(frames, RuderStylizer(style, RuderConfig(gatys=gcfg, frame_iters=8)), flows)
    e_gatys = temporal_errors(frames, per_frame, flows=flows).summary()["warping_error"]
    e_ruder = temporal_errors(frames, clip.frames, flows=flows).summary()["warping_error"]
    assert e_ruder < 0.5 * e_gatys


def test_long_term_weights_tie_each_pixel_to_its_nearest_reliable_frame(style):
    frames, flows = moving_clip(5)
    stylizer = RuderStylizer(style, RuderConfig(gatys=GatysConfig(iters=1), frame_iters=1, long_term=(1, 2, 4)))
    targets = []
    original = stylizer.temporal.set_target

    def spy(warped, weights):
        targets.append([w.clone() for w in weights])
        original(warped, weights)

    stylizer.temporal.set_target = spy
    stylize_clip(frames, stylizer, flows)
    last = targets[-1]  # frame 4: neighbours 3, 2 and 0
    assert len(last) == 3
    total = sum(last)
    assert float(total.max()) <= 1.0  # each pixel through one frame at most
    # columns SHIFT.. are visible in frame 3 and use it; columns [0, SHIFT) came into view in
    # frame 4 itself and are tied to nothing
    assert float(last[0][..., SHIFT + 1:-1].min()) == 1 and float(last[1].sum()) == 0 and float(last[2].sum()) == 0
    assert float(total[..., :SHIFT].sum()) == 0


def test_shot_cut_restarts_from_content(style):
    frames, flows = moving_clip(3)
    rng = np.random.default_rng(5)
    junk = {k: v.copy() for k, v in flows.items()}
    junk[(2, 1)] = rng.normal(0, 8, (H, W, 2)).astype(np.float32)  # flows that do not agree: a cut
    clip = stylize_clip(frames, RuderStylizer(style, RuderConfig(gatys=GatysConfig(iters=1), frame_iters=1)), junk)
    assert clip.cuts == [2]
    assert clip.iterations == [1, 1, 1]


def test_multi_pass_blends_and_alternates(style, tmp_path):
    frames, flows = moving_clip(3)
    cfg = RuderConfig(gatys=GatysConfig(iters=1), frame_iters=1, passes=3)
    order = []
    clip = stylize_clip(frames, RuderStylizer(style, cfg), flows, cache=tmp_path,
                        on_frame=lambda p, i, image: order.append((p, i)))
    assert order == [(1, 0), (1, 1), (1, 2), (2, 2), (2, 1), (2, 0), (3, 0), (3, 1), (3, 2)]
    assert clip.computed == 9 and len(clip.frames) == 3
    assert sorted(p.name for p in tmp_path.glob("frame_*.png")) == [f"frame_{i:05d}.png" for i in range(3)]
    assert len(list(tmp_path.glob("pass0*_frame_*.png"))) == 6  # passes 1 and 2
    # blend: delta c w + (1 - delta c) x
    own, warped = torch.zeros(1, 3, 2, 2), torch.ones(1, 3, 2, 2)
    mask = torch.tensor([[[[1.0, 0.0], [1.0, 1.0]]]])
    out = blend_start(own, type("N", (), {"warped": warped, "mask": mask})(), 0.25)
    assert out[0, 0, 0, 0] == 0.25 and out[0, 0, 0, 1] == 0.0


def test_interrupted_clip_resumes_from_the_cache(style, tmp_path):
    frames, flows = moving_clip(4)
    cfg = RuderConfig(gatys=GatysConfig(iters=2), frame_iters=2)
    whole = stylize_clip(frames, RuderStylizer(style, cfg), flows, cache=tmp_path / "a")

    class Stop(Exception):
        pass

    def stop_after_two(p, i, image):
        if i == 1:
            raise Stop

    with pytest.raises(Stop):
        stylize_clip(frames, RuderStylizer(style, cfg), flows, cache=tmp_path / "b", on_frame=stop_after_two)
    assert len(list((tmp_path / "b").glob("frame_*.png"))) == 2
    resumed = stylize_clip(frames, RuderStylizer(style, cfg), flows, cache=tmp_path / "b")
    assert isinstance(resumed, ClipResult) and resumed.resumed == 2 and resumed.computed == 2
    for a, b in zip(whole.frames, resumed.frames):
        torch.testing.assert_close(a, b, atol=0, rtol=0)  # the cache holds exactly what a run continues from


def test_stylize_video_ruder_end_to_end(bbb_path, data_dir, tmp_path):
    """A real clip through flow estimation (DIS, parallel and cached) and Ruder; audio is kept."""
    from vstlib.io import has_audio, probe_video
    from vstlib.video import stylize_video

    cfg = RuderConfig(gatys=GatysConfig(iters=2), frame_iters=1, flow="dis")
    out = tmp_path / "ruder.mp4"
    res = stylize_video(bbb_path, data_dir / "style" / "udnie_picabia.jpg", out, "ruder", cfg, max_side=48,
                        start=3.0, duration=4 / 24, device="cpu", progress=False, flow_workers=2)
    assert res.n_frames == 4 and res.resumed_frames == 0 and len(res.seconds_per_frame) == 4
    assert probe_video(out).n_frames == 4 and has_audio(out)
    assert not any(p.name.startswith(".") for p in tmp_path.iterdir())  # frame cache removed


def test_stylize_video_ruder_resumes_after_interrupt(bbb_path, data_dir, tmp_path, monkeypatch):
    """Ctrl-C in the middle of a Ruder video keeps the finished frames; the same call resumes."""
    from vstlib import ruder, runner
    from vstlib.video import stylize_video

    monkeypatch.setattr(runner, "PART_SECONDS", 1 / 24)  # a part per frame
    original = ruder.RuderStylizer.stylize_frame
    calls = []

    def interrupting(self, content, neighbours, *args, **kwargs):
        calls.append(len(neighbours))
        if len(calls) == 3:
            raise KeyboardInterrupt
        return original(self, content, neighbours, *args, **kwargs)

    monkeypatch.setattr(ruder.RuderStylizer, "stylize_frame", interrupting)
    cfg = RuderConfig(gatys=GatysConfig(iters=1), frame_iters=1, flow="dis")
    style = data_dir / "style" / "udnie_picabia.jpg"
    out = tmp_path / "o.mp4"
    kwargs = dict(max_side=32, start=3.0, duration=4 / 24, device="cpu", progress=False, flow_workers=1)
    with pytest.raises(KeyboardInterrupt):
        stylize_video(bbb_path, style, out, "ruder", cfg, **kwargs)
    assert not out.exists()
    (cache,) = [p for p in tmp_path.iterdir() if ".vst-" in p.name]
    assert len(list(cache.glob("part_*.mp4"))) == 2
    assert (cache / "state_000002.pt").is_file()  # the previous result, carried exactly
    res = stylize_video(bbb_path, style, out, "ruder", cfg, **kwargs)
    assert res.resumed_frames == 2 and len(res.seconds_per_frame) == 2
    assert calls == [0, 1, 1, 1, 1]  # frame 2 was interrupted once, then frames 2 and 3 ran with a neighbour
    assert out.is_file() and not cache.exists()
