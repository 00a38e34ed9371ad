"""Tests for vstlib.plotting: every helper returns a figure with the expected axes and artists."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from vstlib import plotting  # noqa: E402
from vstlib.engine import OptimResult  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def test_as_image_accepts_every_vstlib_form():
    t = torch.rand(1, 3, 8, 10)
    a = plotting.as_image(t)
    assert a.shape == (8, 10, 3) and a.min() >= 0 and a.max() <= 1
    assert plotting.as_image(t[0]).shape == (8, 10, 3)
    u8 = np.full((8, 10, 3), 255, np.uint8)
    assert plotting.as_image(u8).max() == pytest.approx(1.0)
    assert plotting.as_image(np.full((8, 10, 3), 2.0)).max() == 1.0  # clamped
    assert plotting.as_image(np.zeros((4, 5))).shape == (4, 5)  # 2-D stays 2-D
    assert plotting.as_image(torch.zeros(1, 4, 5)).shape == (4, 5)
    with pytest.raises(ValueError):
        plotting.as_image(torch.rand(2, 3, 8, 8))
    with pytest.raises(ValueError):
        plotting.as_image(np.zeros((8, 8, 4)))


def test_show_images_one_axis_per_image_with_titles():
    images = [torch.rand(1, 3, 16, 24), np.zeros((16, 24, 3), np.uint8), np.random.rand(5, 5)]
    fig = plotting.show_images(images, titles=["a", "b", "c"])
    assert isinstance(fig, matplotlib.figure.Figure)
    assert len(fig.axes) == 3
    assert [ax.get_title() for ax in fig.axes] == ["a", "b", "c"]
    assert all(len(ax.images) == 1 for ax in fig.axes)


def test_show_images_grid_removes_unused_cells():
    fig = plotting.show_images([torch.rand(1, 3, 8, 8)] * 5, ncols=3)
    assert len(fig.axes) == 5
    assert fig.axes[0].get_subplotspec().get_gridspec().get_geometry() == (2, 3)


def test_show_images_checks_titles():
    with pytest.raises(ValueError):
        plotting.show_images([torch.rand(1, 3, 8, 8)], titles=["a", "b"])
    with pytest.raises(ValueError):
        plotting.show_images([])


def test_show_feature_maps_rows_are_layers_and_picks_most_varying_channels():
    f1 = torch.zeros(1, 6, 8, 8)
    f1[0, 4, 2:4, 2:4] = 5.0  # strongest pattern inside the image
    f1[0, 2, 4:6, 3:5] = 3.0
    f1[0, 5, 0, :] = 100.0  # lights up only along the border (padding artefact): not chosen
    f1[0, 1] = 7.0  # large but constant: not chosen
    features = {"relu1_1": f1, "relu4_2": torch.rand(1, 10, 2, 2)}
    fig = plotting.show_feature_maps(features, n=3)
    assert len(fig.axes) == 2 * 3
    assert fig.axes[0].get_title() == "ch 4" and fig.axes[1].get_title() == "ch 2"
    assert fig.axes[0].get_ylabel().startswith("relu1_1")
    assert fig.axes[3].get_ylabel().startswith("relu4_2")
    fig = plotting.show_feature_maps(features, layers=["relu4_2"], n=2)
    assert len(fig.axes) == 2


def test_plot_losses_single_result_log_scale():
    result = OptimResult(image=torch.zeros(1, 3, 2, 2), losses=[100.0, 10.0, 1.0], scale_iters=[3])
    fig = plotting.plot_losses(result)
    (ax,) = fig.axes
    assert len(ax.lines) == 1
    assert ax.get_yscale() == "log"
    np.testing.assert_array_equal(ax.lines[0].get_ydata(), [100.0, 10.0, 1.0])
    np.testing.assert_array_equal(ax.lines[0].get_xdata(), [1, 2, 3])


def test_plot_losses_dict_marks_scale_boundaries():
    single = OptimResult(image=torch.zeros(1), losses=[5.0, 4.0, 3.0, 2.0], scale_iters=[4])
    multi = OptimResult(image=torch.zeros(1), losses=[9.0, 8.0, 7.0, 6.0], scale_iters=[2, 2])
    fig = plotting.plot_losses({"single": single, "coarse to fine": multi}, logy=False)
    (ax,) = fig.axes
    # two loss curves plus one vertical line where the fine scale starts
    assert len(ax.lines) == 3
    assert ax.get_yscale() == "linear"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["single", "coarse to fine"]


def test_plot_losses_accepts_plain_lists_and_an_existing_axis():
    fig, ax = plt.subplots()
    out = plotting.plot_losses([[3.0, 2.0], [4.0, 1.0]], labels=["a", "b"], ax=ax)
    assert out is fig and len(ax.lines) == 2
    out = plotting.plot_losses([3.0, 2.0, 1.0])
    assert len(out.axes[0].lines) == 1
    with pytest.raises(ValueError):
        plotting.plot_losses([[1.0], [2.0]], labels=["only one"])


def test_plot_frame_differences_one_line_per_curve_in_seconds():
    curves = {"input": np.array([0.01, 0.02, 0.01]), "output": np.array([0.1, 0.2, 0.15])}
    fig = plotting.plot_frame_differences(curves, fps=10.0, logy=True)
    (ax,) = fig.axes
    assert len(ax.lines) == 2
    assert ax.get_xlabel() == "time (s)"
    np.testing.assert_allclose(ax.lines[0].get_xdata(), [0.1, 0.2, 0.3])
    assert ax.get_yscale() == "log"
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels[0].startswith("input") and "0.0133" in labels[0]
    fig = plotting.plot_frame_differences({"x": [0.1, 0.2]})
    assert fig.axes[0].get_xlabel() == "frame"
    with pytest.raises(ValueError):
        plotting.plot_frame_differences({})


def test_figures_save_under_agg(tmp_path):
    fig = plotting.show_images([torch.rand(1, 3, 8, 8)], titles=["x"])
    fig.savefig(tmp_path / "x.png")
    assert (tmp_path / "x.png").stat().st_size > 0


def test_show_images_columns_follow_each_images_aspect_ratio():
    wide, tall = torch.rand(1, 3, 10, 40), torch.rand(1, 3, 40, 10)
    fig = plotting.show_images([wide, tall])
    a, b = (ax.get_position() for ax in fig.axes)  # figure fractions, after the images' aspect
    assert a.width == pytest.approx(4 * 4 * b.width, rel=0.05)  # 4:1 next to 1:4, same height
    # no letterboxing: the images fill most of the figure's width (not two 4:1 cells)
    assert a.width + b.width > 0.8


def test_plot_stabilizer_ghosting_crops_to_the_disoccluded_area():
    h, w = 60, 120
    frame = np.zeros((h, w, 3), np.uint8)
    network = np.full((h, w, 3), 100, np.uint8)
    stabilized = network.copy()
    stabilized[:, 90:] = 140  # the stabilizer changed the right part
    mask_indep = np.ones((h, w))
    mask_indep[10:40, 80:110] = 0  # disoccluded there
    mask_stab = np.linspace(0, 1, w)[None].repeat(h, 0)
    fig = plotting.plot_stabilizer_ghosting(frame, network, stabilized, mask_stab, mask_indep, title="t")
    assert len(fig.axes) == 6 and fig._suptitle.get_text() == "t"
    side = 48  # max(48, min(h, w) // 2), within the frame
    crops = [ax.images[0].get_array() for ax in fig.axes]
    assert all(c.shape[:2] == (side, side) for c in crops)
    assert (np.asarray(crops[5]) == 0).sum() == 30 * 30  # the whole hole is inside the crop
    diff = np.asarray(crops[3])[..., 0]
    assert diff.max() == pytest.approx(min(1.0, 4 * 40 / 255), abs=1e-3) and diff.min() == 0
    assert fig.axes[4].images[0].get_clim() == (0, 1)
    with pytest.raises(ValueError):
        plotting.plot_stabilizer_ghosting(frame, network, stabilized, mask_stab, mask_indep[:10])
