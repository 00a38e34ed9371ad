"""vstlib.evaluate: the metrics on synthetic data, the ground-truth flow at the evaluation size, the
cache (what reruns), "not available" cells and the table's spread."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from vstlib import methods
from vstlib.errors import VstError
from vstlib.evaluate import (Cell, Judge, NotAvailable, Protocol, Results, Variant, colour_distance, default_variants,
                             evaluate, even_size, luminance_ssim, resize_gt_flow, sintel_ground_truth)
from vstlib.io import resize_frame
from vstlib.methods.gatys import GatysConfig
from vstlib.metrics import warping_error

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _texture(h: int, w: int, seed: int = 0) -> np.ndarray:
    """A smooth random colour texture, uint8 [h, w, 3]."""
    rng = np.random.default_rng(seed)
    coarse = rng.random((h // 8, w // 8, 3)).astype(np.float32)
    return (resize_frame(coarse, size=(h, w)) * 255).round().astype(np.uint8)


# ------------------------------------------------------------------------------------------
# Metrics
# ------------------------------------------------------------------------------------------


def test_e_warp_of_a_translated_image_along_its_resized_true_flow_is_zero_and_along_wrong_flows_positive():
    a = _texture(64, 128)
    b = np.roll(a, (4, 8), axis=(0, 1))  # 8 px right, 4 px down at full size
    flow = np.zeros((64, 128, 2), np.float32)
    flow[..., 0], flow[..., 1] = 8.0, 4.0
    size = (32, 32)  # x shrinks 4x, y 2x: the vectors must shrink with them, each axis by its own factor
    a_s, b_s = resize_frame(a, size=size), resize_frame(b, size=size)
    small, mask = resize_gt_flow(flow, size, a_s, b_s)
    assert np.all(small[..., 0] == 2.0) and np.all(small[..., 1] == 2.0)
    # targets outside the frame (the last two rows and columns) are unreliable, the rest is reliable
    assert mask[:30, :30].min() == 1.0 and mask[30:].max() == 0.0 and mask[:, 30:].max() == 0.0
    assert warping_error(a_s, b_s, small, mask) < 1e-10
    unscaled = np.broadcast_to(np.array([8.0, 4.0], np.float32), small.shape)  # full-size vectors: wrong here
    assert warping_error(a_s, b_s, unscaled, mask) > 1e-3
    assert warping_error(a_s, b_s, np.zeros_like(small), mask) > 1e-3


def test_photometric_check_and_occlusion_masks_mark_pixels_unreliable():
    a = _texture(32, 32)
    b = a.copy()
    b[8:12, 8:12] = 255 - b[8:12, 8:12]  # something appears in frame t+1 (not explained by the zero flow)
    zero = np.zeros((32, 32, 2), np.float32)
    _, mask = resize_gt_flow(zero, (32, 32), a, b)
    assert mask[8:12, 8:12].max() == 0.0 and mask.sum() == 32 * 32 - 16
    occluded = np.zeros((32, 32), bool)
    occluded[0:4, 0:8] = True  # at half size: rows 0-1, columns 0-3
    _, mask = resize_gt_flow(zero, (16, 16), occluded=occluded)
    assert mask[:2, :4].max() == 0.0 and mask.sum() == 16 * 16 - 8


def test_sintel_ground_truth_at_the_evaluation_size_explains_the_frames(data_dir):
    from vstlib import data
    from vstlib.io import load_image, to_array

    size = even_size(436, 1024, 128)
    assert size == (54, 128)
    frames = [to_array(load_image(data._sintel_file("alley_1", "clean", k, "png"), size=size)) for k in (2, 3)]
    gt = sintel_ground_truth("alley_1", frames, first=2)
    assert list(gt) == [0]
    flow, mask = gt[0]
    assert flow.shape == (54, 128, 2) and 0.5 < mask.mean() < 1.0
    along_gt = warping_error(frames[0], frames[1], flow, mask)
    along_zero = warping_error(frames[0], frames[1], np.zeros_like(flow), mask)
    full_size_vectors = flow * np.array([1024 / 128, 436 / 54], np.float32)  # the same flow, not scaled down
    assert along_gt < 0.5 * along_zero  # 0.0007 against 0.0021 (measured)
    assert along_gt < 0.2 * warping_error(frames[0], frames[1], full_size_vectors, mask)


def test_judge_scores_the_painting_against_itself_as_zero():
    g = torch.Generator().manual_seed(0)
    painting = torch.rand(1, 3, 40, 48, generator=g)
    judge = Judge(painting)
    own = judge(painting, content=painting)
    assert own["style_gram"] == 0.0 and own["content"] == 0.0
    other = judge(torch.rand(1, 3, 40, 48, generator=g) ** 2, content=painting)
    assert other["style_gram"] > 0 and other["content"] > 0
    assert own["style_w2"] < 1e-6 * other["style_w2"]
    assert set(judge(painting, w2=False)) == {"style_gram"}
    with pytest.raises(VstError, match="differ in size"):
        judge(painting, content=painting[..., :32])
    with pytest.raises(VstError, match="too small"):
        judge(painting[..., :14, :])


def test_luminance_ssim_and_colour_distance_exact_cases():
    rng = np.random.default_rng(1)
    a = (rng.random((24, 32, 3)) * 200).astype(np.uint8)
    assert luminance_ssim(a, a) == 1.0
    assert luminance_ssim(a, 255 - a) < 0
    same_luminance = a.astype(np.float64) / 255
    assert luminance_ssim(same_luminance[..., ::-1].copy(), a) < 1.0  # a channel swap changes the luminance
    assert colour_distance(a, a) < 1e-6
    assert colour_distance(a, a[::-1, ::-1].copy()) < 1e-6  # colour statistics ignore the layout
    grey = np.full((4, 4, 3), 0.2)
    assert colour_distance(grey, grey + 0.3) == pytest.approx(np.sqrt(3) * 0.3, abs=1e-7)
    red, blue = np.zeros((4, 4, 3)), np.zeros((4, 4, 3))
    red[..., 0], blue[..., 2] = 1.0, 1.0
    assert colour_distance(red, blue) == pytest.approx(np.sqrt(2), abs=1e-7)


def test_even_size_keeps_the_aspect_with_even_sides():
    assert even_size(360, 640, 384) == (216, 384)
    assert even_size(436, 1024, 384) == (164, 384)
    assert even_size(640, 360, 100) == (100, 56)


# ------------------------------------------------------------------------------------------
# Protocol and variants
# ------------------------------------------------------------------------------------------


def test_protocol_checks_its_settings():
    assert Protocol(clips=["a"], seeds=3).clips == ("a",)
    assert Protocol(seeds=3).seeds == (3,)
    with pytest.raises(VstError, match="max_side must be at least 32"):
        Protocol(max_side=16)
    with pytest.raises(VstError, match="styles is empty"):
        Protocol(styles=())


def test_default_variants_cover_every_registered_method_and_option():
    variants = default_variants(smoke=True)
    assert {v.method for v in variants} == set(methods.names())
    labels = [v.label for v in variants]
    assert len(set(labels)) == len(labels)
    by = {v.label: v for v in variants}
    assert by["gatys+colour"].preserve_color == "luminance"
    assert by["gatys+w2"].config.style_loss == "wasserstein"
    assert by["johnson+stabilize"].stabilize > 0 and by["johnson+segment"].regions.active
    assert by["gatys"].config.iters < default_variants(smoke=False)[1].config.iters


def test_not_available_is_a_reason_not_a_crash(data_dir):
    reconet = Variant("reconet", "reconet")
    assert reconet.resolve("starry_night_vangogh")[1] == "starry_night_vangogh"
    with pytest.raises(NotAvailable, match="udnie_picabia"):
        reconet.resolve("udnie_picabia")
    multistyle = next(v for v in default_variants(smoke=True) if v.method == "multistyle")
    assert multistyle.resolve("starry_night_vangogh")[1] is None  # a built-in style: no painting passed
    with pytest.raises(NotAvailable, match="no setting for the_scream_munch"):
        multistyle.resolve("the_scream_munch")


# ------------------------------------------------------------------------------------------
# Running with the cache
# ------------------------------------------------------------------------------------------


def test_evaluate_caches_cells_and_reruns_only_what_changed(data_dir, tmp_path):
    protocol = Protocol.smoke(clips=("sintel-gt/alley_1",), styles=("udnie_picabia",), n_frames=2, max_side=48)
    variants = [Variant("none", "none"), Variant("gatys", "gatys", GatysConfig(iters=1)),
                Variant("reconet", "reconet"),  # no shipped ReCoNet of Udnie
                Variant("multistyle", "multistyle", per_style={"starry_night_vangogh": None})]
    first = evaluate(protocol, variants, tmp_path, device="cpu", progress=False, memory=False)
    assert len(first.computed) == 2
    table = {r["label"]: r for r in first.table()}
    assert table["reconet"]["status"] == "not available" and "udnie_picabia" in table["reconet"]["reason"]
    assert table["multistyle"]["status"] == "not available" and table["multistyle"]["n"] == 0
    none, gatys = table["none"], table["gatys"]
    assert none["ssim"] == 1.0 and none["content"] == 0.0 and none["seconds_per_frame"] is None
    assert gatys["n"] == 1 and gatys["ssim"] < 1.0 and gatys["seconds_per_frame"] > 0
    assert none["e_warp_gt"] is not None and none["e_warp_farneback_gt_pairs"] is not None
    assert gatys["style_gram"] < none["style_gram"]  # even one iteration moves towards the painting
    shots = first.frames("gatys", "sintel-gt/alley_1")
    assert shots["indices"] == [0, 1] and shots["output"].shape == (2, 20, 48, 3) == shots["input"].shape
    np.testing.assert_array_equal(first.frames("none", "sintel-gt/alley_1")["output"], shots["input"])
    with pytest.raises(VstError, match="not available"):
        first.frames("reconet", "sintel-gt/alley_1")

    again = evaluate(protocol, variants, tmp_path, device="cpu", progress=False, memory=False)
    assert again.computed == []
    assert again.table() == first.table()

    renamed = [dataclasses.replace(variants[0], label="input")] + variants[1:]
    assert evaluate(protocol, renamed, tmp_path, device="cpu", progress=False, memory=False).computed == []

    changed = variants[:1] + [Variant("gatys", "gatys", GatysConfig(iters=2))]
    third = evaluate(protocol, changed, tmp_path, device="cpu", progress=False, memory=False)
    assert [c.label for c in third.cells if c.key in third.computed] == ["gatys"]


def test_memory_is_measured_in_a_child_process(data_dir, tmp_path):
    protocol = Protocol.smoke(clips=("sintel-gt/cave_2",), styles=("udnie_picabia",), n_frames=2, max_side=48)
    variants = [Variant("none", "none")]
    plain = evaluate(protocol, variants, tmp_path, device="cpu", progress=False)
    assert len(plain.computed) == 1 and plain.table()[0]["peak_rss_mb"] is None
    result = evaluate(protocol, variants, tmp_path, device="cpu", progress=False, memory=True)
    assert len(result.computed) == 1  # stored without its memory: run again, in a child process
    (row,) = result.table()
    assert row["peak_rss_mb"] > 50  # at least the interpreter and torch
    assert evaluate(protocol, variants, tmp_path, device="cpu", progress=False).computed == []
    assert row["e_warp_gt"] is None  # cave_2's only ground-truth pair is 2 -> 3: not among frames 1-2


# ------------------------------------------------------------------------------------------
# The table
# ------------------------------------------------------------------------------------------


def _cell(label, clip, value, status="ok", seed=None):
    return Cell(label, "gatys", "starry_night_vangogh", clip, seed, status,
                metrics={"ssim": value} if status == "ok" else {})


def test_table_gives_mean_and_spread_over_clips_and_seeds():
    cells = [_cell("a", "c1", 0.5, seed=0), _cell("a", "c1", 0.7, seed=1), _cell("a", "c2", 0.9, seed=0),
             Cell("b", "reconet", "starry_night_vangogh", None, None, "not available", "no model")]
    results = Results(Protocol(), (Variant("a", "gatys", note="A"),), cells, [])
    rows = results.table(metrics=["ssim"])
    a, b = rows
    assert (a["label"], a["n"], a["status"], a["note"]) == ("a", 3, "ok", "A")
    assert a["ssim"] == pytest.approx(0.7) and a["ssim_std"] == pytest.approx(np.std([0.5, 0.7, 0.9]))
    assert (a["ssim_min"], a["ssim_max"]) == (0.5, 0.9)
    assert b["status"] == "not available" and b["reason"] == "no model" and b["ssim"] is None
    per_clip = results.table(by=("label", "clip"), metrics=["ssim"])
    assert [(r["clip"], r["n"], r["ssim"]) for r in per_clip[:2]] == [("c1", 2, pytest.approx(0.6)), ("c2", 1, 0.9)]
    text = results.markdown(["ssim"])
    assert "| a | starry_night_vangogh | 0.7 ± 0.16 |" in text and "not available: no model" in text
    with pytest.raises(VstError, match="table"):
        results.table(by=("style",))


# ------------------------------------------------------------------------------------------
# The course evaluation (notebook 09, the report and benchmarks/bench_evaluate.py)
# ------------------------------------------------------------------------------------------

# Registered methods the course evaluation leaves out on purpose, each with the reason. None is: every
# method has a variant (a method added later must get one in default_variants() or an entry here).
LEFT_OUT: dict[str, str] = {}


def test_course_evaluation_lists_every_registered_method_on_the_same_protocol(data_dir, monkeypatch, tmp_path):
    from vstlib.evaluate import DEFAULT_CACHE, course_cache_dir, course_evaluation

    assert all(len(reason) > 10 for reason in LEFT_OUT.values())  # a reason, not a placeholder
    for smoke in (True, False):
        protocol, variants = course_evaluation(smoke=smoke)
        assert {v.method for v in variants} == set(methods.names()) - set(LEFT_OUT)
        for method in {v.method for v in variants}:  # each runs with at least one of the protocol's paintings
            ok = []
            for v in (v for v in variants if v.method == method):
                for style in protocol.styles:
                    try:
                        v.resolve(style)
                        ok.append(style)
                    except NotAvailable:
                        pass
            assert ok, method
    smoke_protocol, smoke_variants = course_evaluation(smoke=True)
    full_protocol, full_variants = course_evaluation(smoke=False)
    assert smoke_protocol == Protocol.smoke()
    assert [v.label for v in smoke_variants] == [v.label for v in full_variants]
    assert set(full_protocol.clips) == set(Protocol().clips) - {"sintel-gt/cave_2"}  # the networks trained on it
    assert full_protocol.styles == Protocol().styles
    # the full course evaluation is cut to fit a 2-core CPU, and the cut Gatys variants say so
    full_iters = GatysConfig().iters
    gatys_like = [v for v in full_variants if v.method in ("gatys", "ruder")]
    assert len(gatys_like) == 4
    for v in gatys_like:
        config = v.resolve("starry_night_vangogh")[0]
        config = config.gatys if v.method == "ruder" else config
        assert config.iters < full_iters and f"reduced from the default {full_iters}" in v.note
    monkeypatch.setenv("VSTLIB_SMOKE", "1")
    assert course_evaluation()[0] == Protocol.smoke()
    monkeypatch.setenv("VSTLIB_EVALUATE_CACHE", str(tmp_path))
    assert course_cache_dir() == tmp_path
    monkeypatch.delenv("VSTLIB_EVALUATE_CACHE")
    assert course_cache_dir() == DEFAULT_CACHE
