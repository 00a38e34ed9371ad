"""The evaluation figures of vstlib.plotting (notebook 09 and the report's Evaluation section) and the
per-pixel warping error maps of vstlib.metrics they draw."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402

from vstlib import metrics, plotting  # noqa: E402
from vstlib.evaluate import Cell, Protocol, Results, Variant  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def _row(label, style="starry_night_vangogh", status="ok", **values):
    return {"label": label, "style": style, "status": status, **values}


def _front_line(ax):
    (line,) = [ln for ln in ax.get_lines() if ln.get_label() == "Pareto front"]
    return line


# ------------------------------------------------------------------ pareto_front


def test_pareto_front_keeps_exactly_the_unbeaten_points():
    points = [(1, 9), (2, 5), (3, 6), (4, 2), (5, 2), (6, 1), (2, 5)]
    # (3, 6) is beaten by (2, 5); (5, 2) by (4, 2); the two (2, 5) tie and both stay
    assert plotting.pareto_front(points) == [0, 1, 6, 3, 5]
    # higher is better on the second coordinate: now (1, 9) beats everything but nothing beats it
    assert plotting.pareto_front(points, better=("lower", "higher")) == [0]
    assert plotting.pareto_front(points, better=("higher", "higher")) == [0, 2, 4, 5]


def test_pareto_front_refuses_an_unknown_direction():
    with pytest.raises(ValueError, match="lower' or 'higher"):
        plotting.pareto_front([(1, 2)], better=("lower", "smaller"))


# ------------------------------------------------------------------ plot_pareto


def test_plot_pareto_draws_the_measured_rows_and_the_front_as_a_staircase():
    rows = [_row("none", e_warp_farneback=0.001, style_gram=9.0),
            _row("slow", e_warp_farneback=0.010, style_gram=1.0),
            _row("beaten", e_warp_farneback=0.020, style_gram=5.0),
            _row("middle", e_warp_farneback=0.005, style_gram=3.0),
            _row("missing", status="not available", e_warp_farneback=None, style_gram=None),
            _row("no style", e_warp_farneback=0.002, style_gram=None)]
    fig = plotting.plot_pareto(rows)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.texts] == ["none", "slow", "beaten", "middle"]
    line = _front_line(ax)
    assert line.get_xdata().tolist() == [0.001, 0.005, 0.010]  # none, middle, slow; "beaten" is not on it
    assert line.get_ydata().tolist() == [9.0, 3.0, 1.0]
    assert line.get_drawstyle() == "steps-post"  # lower x is better: along x first, then down
    assert ax.get_xscale() == ax.get_yscale() == "log"
    assert "lower is better" in ax.get_xlabel() and "lower is better" in ax.get_ylabel()
    # every point is drawn: front points in one scatter, the others in another
    offsets = np.concatenate([c.get_offsets() for c in ax.collections])
    assert sorted(offsets[:, 0].tolist()) == [0.001, 0.005, 0.010, 0.020]


def test_plot_pareto_follows_a_metric_that_is_better_higher():
    rows = [_row("a", ssim=0.9, style_gram=4.0), _row("b", ssim=0.5, style_gram=1.0),
            _row("c", ssim=0.4, style_gram=2.0)]
    ax = plotting.plot_pareto(rows, x="ssim", y="style_gram", logx=False).axes[0]
    line = _front_line(ax)
    assert line.get_xdata().tolist() == [0.5, 0.9]  # c has less SSIM and more style loss than b
    assert line.get_drawstyle() == "steps-pre"
    assert "higher is better" in ax.get_xlabel()


def test_plot_pareto_names_the_painting_when_rows_hold_several():
    rows = [_row("gatys", e_warp_farneback=0.01, style_gram=1.0),
            _row("gatys", style="udnie_picabia", e_warp_farneback=0.02, style_gram=2.0)]
    ax = plotting.plot_pareto(rows).axes[0]
    assert [t.get_text() for t in ax.texts] == ["gatys (starry)", "gatys (udnie)"]


def test_plot_pareto_needs_a_measured_row():
    with pytest.raises(ValueError, match="no measured row"):
        plotting.plot_pareto([_row("x", status="not available", e_warp_farneback=None, style_gram=None)])


def test_plot_pareto_spread_draws_min_max_bars():
    rows = [_row("a", e_warp_farneback=0.01, e_warp_farneback_min=0.005, e_warp_farneback_max=0.02,
                 style_gram=2.0, style_gram_min=1.0, style_gram_max=3.0)]
    ax = plotting.plot_pareto(rows, spread=True).axes[0]
    segments = [seg for c in ax.collections for seg in getattr(c, "get_segments", lambda: [])()]
    ends = sorted(tuple(np.round(np.asarray(seg)[:, i], 6).tolist()) for seg in segments for i in (0, 1))
    assert (0.005, 0.02) in ends and (1.0, 3.0) in ends


def test_plot_pareto_takes_the_rows_of_a_results_table():
    protocol = Protocol.smoke(styles=("starry_night_vangogh", "udnie_picabia"))
    variants = (Variant("none", "none"), Variant("johnson", "johnson"))
    cells = [Cell("none", "none", "starry_night_vangogh", "clip", None, "ok",
                  metrics={"e_warp_farneback": 0.002, "style_gram": 8.0, "seconds_per_frame": None}),
             Cell("johnson", "johnson", "starry_night_vangogh", "clip", None, "ok",
                  metrics={"e_warp_farneback": 0.02, "style_gram": 3.0, "seconds_per_frame": 0.01}),
             Cell("johnson", "johnson", "starry_night_vangogh", "clip2", None, "ok",
                  metrics={"e_warp_farneback": 0.04, "style_gram": 5.0, "seconds_per_frame": 0.03}),
             Cell("johnson", "johnson", "udnie_picabia", None, None, "not available", "no model")]
    rows = Results(protocol, variants, cells, []).table()
    ax = plotting.plot_pareto(rows).axes[0]
    # the Udnie row is not available, so the points are all Starry Night's: no painting in the labels
    assert [t.get_text() for t in ax.texts] == ["none", "johnson"]
    assert _front_line(ax).get_xdata().tolist() == pytest.approx([0.002, 0.03])  # johnson: the mean of its clips
    fig = plotting.plot_speed_quality(rows)
    assert [t.get_text() for t in fig.axes[0].texts] == ["johnson"]  # none has no time


# ------------------------------------------------------------------ plot_speed_quality


def test_plot_speed_quality_one_panel_per_metric_without_untimed_rows():
    rows = [_row("none", seconds_per_frame=None, style_gram=9.0, ssim=1.0),
            _row("gatys", seconds_per_frame=2.0, style_gram=1.0, ssim=0.6),
            _row("johnson", seconds_per_frame=0.01, style_gram=3.0, ssim=0.4),
            _row("slow and bad", seconds_per_frame=5.0, style_gram=4.0, ssim=0.3)]
    fig = plotting.plot_speed_quality(rows, ("style_gram", "ssim"))
    assert len(fig.axes) == 2
    for ax in fig.axes:
        assert ax.get_xscale() == "log"
        assert [t.get_text() for t in ax.texts] == ["gatys", "johnson", "slow and bad"]
        assert _front_line(ax).get_xdata().tolist() == [0.01, 2.0]
    assert "higher is better" in fig.axes[1].get_ylabel()


# ------------------------------------------------------------------ plot_method_grid


def _frames(k=3, h=30, w=48, seed=0):
    return (np.random.default_rng(seed).random((k, h, w, 3)) * 255).astype(np.uint8)


def test_plot_method_grid_rows_columns_and_zoom():
    inputs, a, b = _frames(seed=0), _frames(seed=1), _frames(seed=2)
    fig = plotting.plot_method_grid({"a": a, "b": b}, inputs=inputs, crop=(4, 10, 12), zoom=[0, 2],
                                    frame_titles=["t0", "t1", "t2"])
    axes = np.asarray(fig.axes).reshape(3, 5)  # input, a, b x (3 frames + 2 zooms)
    assert [ax.get_ylabel() for ax in axes[:, 0]] == ["input", "a", "b"]
    assert [ax.get_title() for ax in axes[0]] == ["t0", "t1", "t2", "zoom of t0", "zoom of t2"]
    for r, frames in enumerate((inputs, a, b)):
        for c in range(3):
            assert np.array_equal(axes[r, c].get_images()[0].get_array(), frames[c] / np.float32(255))
        for c, z in ((3, 0), (4, 2)):  # the zoom columns show exactly the crop
            assert np.array_equal(axes[r, c].get_images()[0].get_array(), frames[z][4:16, 10:22] / np.float32(255))
    # the crop is outlined on the zoomed frames only
    outlined = [[p.get_xy() for p in ax.patches if isinstance(p, Rectangle)] for ax in axes[1, :3]]
    assert outlined == [[(9.5, 3.5)], [], [(9.5, 3.5)]]


def test_plot_method_grid_default_zoom_is_the_middle_frame_centre():
    fig = plotting.plot_method_grid({"a": _frames(k=5)})
    assert len(fig.axes) == 6 and fig.axes[-1].get_title() == "zoom of frame 2"
    assert fig.axes[2].patches[0].get_xy() == (24 - 5 - 0.5, 15 - 5 - 0.5)  # side 10 = 30 // 3, centred


def test_plot_method_grid_refuses_mismatched_input():
    with pytest.raises(ValueError, match="has 2 frames"):
        plotting.plot_method_grid({"a": _frames(k=3), "b": _frames(k=2)})
    with pytest.raises(ValueError, match="does not fit"):
        plotting.plot_method_grid({"a": _frames()}, crop=(25, 0, 10))
    with pytest.raises(ValueError, match="outside"):
        plotting.plot_method_grid({"a": _frames()}, zoom=[3])


# ------------------------------------------------------------------ plot_warping_error_maps


def test_plot_warping_error_maps_share_one_scale_and_keep_the_holes():
    rng = np.random.default_rng(0)
    a = rng.random((20, 30)) * 0.1
    a[0, :5] = np.nan
    b = a * 3
    fig = plotting.plot_warping_error_maps({"a": a, "b": b}, frame=_frames(k=1, h=20, w=30)[0])
    panels = [ax for ax in fig.axes if ax.get_images()]
    assert [ax.get_title() for ax in panels[:3]] == ["input", f"a\nE_warp = {np.nanmean(a):.4f}",
                                                     f"b\nE_warp = {np.nanmean(b):.4f}"]
    heat_a, heat_b = panels[1].get_images()[0], panels[2].get_images()[0]
    both = np.concatenate([a[np.isfinite(a)], b[np.isfinite(b)]])
    assert heat_a.get_clim() == heat_b.get_clim() == (0.0, pytest.approx(np.percentile(both, 99)))
    assert heat_a.get_array().mask[0, :5].all() and not heat_a.get_array().mask[1:].any()
    fixed = plotting.plot_warping_error_maps({"a": a}, vmax=0.5)
    assert fixed.axes[0].get_images()[0].get_clim() == (0.0, 0.5)


def test_plot_warping_error_maps_refuses_maps_of_different_sizes():
    with pytest.raises(ValueError, match="one size"):
        plotting.plot_warping_error_maps({"a": np.zeros((4, 5)), "b": np.zeros((4, 6))})


# ------------------------------------------------------------------ metrics.warping_error_map(s)


def _pattern(h=48, w=64, shift=0.0):
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    x = x - shift
    return np.stack([np.sin(x / 6), np.cos(y / 5), np.sin((x + y) / 9)], axis=2) * 0.4 + 0.5


def test_warping_error_map_is_what_warping_error_averages():
    rng = np.random.default_rng(1)
    out_t, out_next = rng.random((10, 12, 3)), rng.random((10, 12, 3))
    flow = rng.normal(0, 1.5, (10, 12, 2)).astype(np.float32)
    mask = (rng.random((10, 12)) > 0.3).astype(np.float32)
    m = metrics.warping_error_map(out_t, out_next, flow, mask)
    assert np.array_equal(np.isnan(m), mask == 0)
    assert np.nanmean(m) == pytest.approx(metrics.warping_error(out_t, out_next, flow, mask), rel=1e-12)
    full = metrics.warping_error_map(out_t, out_next, flow)  # no mask: every pixel compared
    assert not np.isnan(full).any() and np.allclose(full[mask > 0], m[mask > 0])


def test_warping_error_maps_match_temporal_errors_along_farneback():
    inputs = [np.round(_pattern() * 255).astype(np.uint8), np.round(_pattern(shift=2.0) * 255).astype(np.uint8)]
    steady = inputs  # an output that follows the scene exactly
    rng = np.random.default_rng(2)
    flicker = [np.clip(f / 255 + rng.normal(0, 0.08, f.shape), 0, 1) for f in inputs]  # new noise every frame
    maps, mask = metrics.warping_error_maps(inputs, {"steady": steady, "flicker": flicker}, cache_dir=False)
    for label, outs in (("steady", steady), ("flicker", flicker)):
        expected = metrics.temporal_errors(inputs, outs, flow="farneback").warping_error[0]
        assert np.nanmean(maps[label]) == pytest.approx(expected, rel=1e-9)
    assert np.array_equal(np.isnan(maps["steady"]), mask == 0) and 0.5 < mask.mean() < 1.0
    # independent noise of std 0.08 in both frames: about 2 x 3 x 0.08^2 = 0.038 per pixel
    assert np.nanmean(maps["steady"]) < 0.005 < 0.02 < np.nanmean(maps["flicker"])


def test_warping_error_maps_need_pairs():
    frame = np.zeros((8, 8, 3))
    with pytest.raises(ValueError, match="two frames"):
        metrics.warping_error_maps([frame], {"a": (frame, frame)}, cache_dir=False)
    with pytest.raises(ValueError, match="output_pairs"):
        metrics.warping_error_maps([frame, frame], {"a": (frame,)}, cache_dir=False)
