"""vstlib.plotting's figures for notebook 08 and the report: style vectors in 2-D, fades in pixel vs embedding space."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.offsetbox import AnnotationBbox  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402

from vstlib import plotting  # noqa: E402
from vstlib.transitions import Transition, pca_2d  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def _fade(n=8, h=24, w=32):
    g = torch.Generator().manual_seed(0)
    a, b = torch.rand(n, 3, h, w, generator=g), torch.rand(n, 3, h, w, generator=g)
    weights = [0.0, 0.0, 0.25, 0.5, 0.75, 1.0, 1.0, 1.0][:n]
    t = torch.tensor(weights)[:, None, None, None]
    return Transition(weights, a, b, (1 - t) * a + t * b, (a + b) / 2)


def _images(ax):
    return [im.get_array() for im in ax.get_images()]


def test_plot_style_space_labels_points_thumbnails_and_extra_series():
    vectors = torch.tensor([[0.0, 0.0, 1.0], [2.0, 0.0, 0.0], [4.0, 1.0, 0.0], [1.0, 3.0, 0.0]])
    p = pca_2d(vectors)
    thumbs = [torch.rand(1, 3, 10, 10) for _ in range(4)]
    keys = p.project(torch.tensor([[1.0, 1.0, 1.0], [2.0, 2.0, 0.0]]))
    fig = plotting.plot_style_space(p, ["a", "b", "c", "d"], thumbnails=thumbs, extra={"keyframes": keys})
    ax = fig.axes[0]
    scatter = ax.collections[0].get_offsets()
    assert np.allclose(np.asarray(scatter), p.coords.numpy())
    texts = [t.get_text() for t in ax.texts]
    assert texts[:4] == ["a", "b", "c", "d"] and texts[4:] == ["1", "2"]  # keyframes numbered in order
    assert sum(isinstance(a, AnnotationBbox) for a in ax.artists) == 4
    (line,) = ax.get_lines()
    assert np.allclose(np.stack(line.get_data(), 1), keys.numpy())
    assert f"{float(p.explained[0]):.0%}" in ax.get_xlabel()


def test_plot_style_space_draws_into_a_given_axis_and_checks_lengths():
    p = pca_2d(torch.eye(3))
    fig, ax = plt.subplots()
    assert plotting.plot_style_space(p, ["a", "b", "c"], ax=ax) is fig
    with pytest.raises(ValueError, match="labels"):
        plotting.plot_style_space(p, ["a", "b"])
    with pytest.raises(ValueError, match="thumbnails"):
        plotting.plot_style_space(p, ["a", "b", "c"], thumbnails=[torch.rand(3, 4, 4)])


def test_plot_transition_rows_columns_crop_and_curves():
    fade = _fade()
    fig = plotting.plot_transition(fade, show=[1, 3, 6], crop=(2, 4, 10))
    # 2 rows x (3 frames + zoom) + the energy panel
    assert len(fig.axes) == 9
    frames = fig.axes[:8]
    assert [ax.get_title().split(",")[0] for ax in frames] == ["pixel"] * 4 + ["embedding"] * 4
    # frame columns show the renderings; the zoom column the crop of mid-fade (frame 3, w = 0.5)
    assert np.allclose(_images(frames[1])[0], fade.pixel[3].permute(1, 2, 0).numpy(), atol=1e-6)
    assert np.allclose(_images(frames[3])[0], fade.pixel[3, :, 2:12, 4:14].permute(1, 2, 0).numpy(), atol=1e-6)
    assert np.allclose(_images(frames[7])[0], fade.embedding[3, :, 2:12, 4:14].permute(1, 2, 0).numpy(), atol=1e-6)
    assert "w = 0.50" in frames[1].get_title()
    assert any(isinstance(p, Rectangle) and p.get_width() == 10 for p in frames[1].patches)  # the crop outlined
    energy = fig.axes[8]
    lines = {line.get_label(): line.get_ydata() for line in energy.get_lines()}
    assert set(lines) == {"pixel", "embedding"}
    assert np.allclose(lines["pixel"][[0, 1, 5, 6, 7]], 1.0)  # 1 outside the fade by construction
    assert lines["pixel"][3] < 0.9  # two unrelated noise images mixed half and half lose contrast
    span = [p for p in energy.patches if p.get_label() == "fade"]
    (lo, _), (hi, _) = energy.transData.inverted().transform(span[0].get_window_extent().get_points())
    assert len(span) == 1 and np.allclose([lo, hi], [1.5, 4.5], atol=1e-6)  # frames 2..4 are inside the fade


def test_plot_transition_default_frames_and_consecutive_change_panel():
    fade = _fade()
    inputs = fade.style_a.clone()
    fig = plotting.plot_transition(fade, inputs=inputs)
    titles = [ax.get_title() for ax in fig.axes[:3]]
    assert titles == ["pixel, frame 1, w = 0.00", "pixel, frame 3, w = 0.50", "pixel, frame 5, w = 1.00"]
    assert len(fig.axes) == 2 * 4 + 2
    change = fig.axes[-1]
    labels = [line.get_label() for line in change.get_lines()]
    assert labels == ["pixel", "embedding", "style a", "style b"]
    x = change.get_lines()[0].get_xdata()
    assert np.allclose(x, np.arange(7) + 0.5)  # one value per consecutive pair, between its frames


def test_plot_transition_rejects_bad_frames_and_crops():
    fade = _fade()
    with pytest.raises(ValueError, match="show"):
        plotting.plot_transition(fade, show=[0, 8])
    with pytest.raises(ValueError, match="crop"):
        plotting.plot_transition(fade, crop=(20, 0, 10))
    with pytest.raises(ValueError, match="inputs"):
        plotting.plot_transition(fade, inputs=torch.rand(8, 3, 10, 10))
