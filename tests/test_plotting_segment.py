"""vstlib.plotting's figures for foreground/background segmentation (notebook 07 and the report):
masks with their outlines, variants with a zoomed seam, and mask flicker along time."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.colors import to_rgba  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402

from vstlib import plotting  # noqa: E402
from vstlib.segment import mask_flicker  # noqa: E402

H, W = 24, 40


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def _square(t=0, side=8, x0=6, y0=8, speed=0):
    m = torch.zeros(1, 1, H, W)
    x = x0 + speed * t
    m[..., y0:y0 + side, x:x + side] = 1
    return m


def _images(ax):
    return [np.asarray(im.get_array()) for im in ax.get_images()]


def test_plot_masks_rows_are_frames_then_one_row_per_backend():
    g = torch.Generator().manual_seed(0)
    frames = torch.rand(3, 3, H, W, generator=g)
    square = torch.cat([_square(t, speed=3) for t in range(3)])  # [3, 1, H, W] with an edge
    empty = [np.zeros((H, W)) for _ in range(3)]  # a list of [H, W]: no edge, no outline
    fig = plotting.plot_masks(frames, {"square": square, "empty": empty}, titles=["a", "b", "c"])
    assert len(fig.axes) == 9  # (1 + 2 backends) x 3 frames, in row order
    top, squares, empties = fig.axes[:3], fig.axes[3:6], fig.axes[6:]
    assert [ax.get_title() for ax in top] == ["a", "b", "c"]
    for j in range(3):
        assert np.allclose(_images(top[j])[0], frames[j].permute(1, 2, 0).numpy())
        assert np.array_equal(_images(squares[j])[0], square[j, 0].numpy())
        assert squares[j].get_images()[0].get_clim() == (0, 1)  # a fixed scale, not the mask's own range
        assert len(top[j].collections) == 1  # the square's outline; the empty mask has none
    assert squares[0].get_title() == f"mean {float(square[0].mean()):.2f}"
    assert empties[0].get_title() == "mean 0.00"
    # each row is labelled in the colour of its outline on the frames
    assert squares[0].get_ylabel() == "square" and empties[0].get_ylabel() == "empty"
    outline = top[0].collections[0].get_edgecolor()[0]
    assert np.allclose(to_rgba(squares[0].yaxis.label.get_color()), outline)
    assert not np.allclose(to_rgba(empties[0].yaxis.label.get_color()), outline)


def test_plot_masks_accepts_one_unlabelled_set_and_checks_its_inputs():
    frames = [np.zeros((H, W, 3), np.uint8), np.zeros((H, W, 3), np.uint8)]
    fig = plotting.plot_masks(frames, torch.zeros(2, H, W))
    assert len(fig.axes) == 4 and fig.axes[2].get_ylabel() == "mask"
    with pytest.raises(ValueError, match="2 frames"):
        plotting.plot_masks(frames, {"a": torch.zeros(3, 1, H, W)})
    with pytest.raises(ValueError, match="its frame"):
        plotting.plot_masks(frames, {"a": torch.zeros(2, 1, H, W + 1)})
    with pytest.raises(ValueError, match="titles"):
        plotting.plot_masks(frames, {"a": torch.zeros(2, 1, H, W)}, titles=["one"])


def test_seam_window_holds_the_boundary_or_is_centred():
    m = torch.zeros(30, 90)
    m[:, 60:] = 1  # a vertical edge between columns 59 and 60
    top, left, side = plotting.seam_window(m)
    assert side == 10 and left <= 59 and left + side >= 61
    m = torch.zeros(30, 90)
    m[:6, :6] = 1  # a corner: the window must reach it
    top, left, side = plotting.seam_window(m, side=12)
    assert (top, left, side) == (0, 0, 12)
    assert plotting.seam_window(torch.zeros(30, 90)) == (10, 40, 10)  # no boundary: centred
    assert plotting.seam_window(torch.ones(1, 1, 30, 90), side=6) == (12, 42, 6)
    with pytest.raises(ValueError, match="does not fit"):
        plotting.seam_window(m, side=31)


def test_plot_variants_shows_each_output_and_the_same_crop_enlarged():
    g = torch.Generator().manual_seed(1)
    frame = torch.rand(1, 3, H, W, generator=g)
    outs = {"strict": torch.rand(1, 3, H, W, generator=g), "feather": torch.rand(1, 3, H, W, generator=g)}
    mask = _square()
    fig = plotting.plot_variants(frame, outs, mask, crop=(4, 2, 10), scores={"strict": 1.25}, title="frame 7")
    assert fig._suptitle.get_text() == "frame 7"
    assert len(fig.axes) == 6  # input + 2 outputs, full and zoomed
    full, zoom = fig.axes[:3], fig.axes[3:]
    assert [ax.get_title() for ax in full] == ["input", "strict\nseam = 1.25", "feather"]
    for ax, image in zip(full, [frame] + list(outs.values())):
        assert np.allclose(_images(ax)[0], image[0].permute(1, 2, 0).numpy())
        (box,) = [p for p in ax.patches if isinstance(p, Rectangle)]
        assert (box.get_x(), box.get_y(), box.get_width()) == (1.5, 3.5, 10)  # the crop outlined
    for ax, image in zip(zoom, [frame] + list(outs.values())):
        assert np.allclose(_images(ax)[0], image[0, :, 4:14, 2:12].permute(1, 2, 0).numpy())
    assert len(full[0].collections) == 1 and len(full[1].collections) == 0  # the mask's outline on the input only
    # by default the crop is the seam window of the mask
    top, left, side = plotting.seam_window(mask)
    fig = plotting.plot_variants(frame, outs, mask)
    assert np.allclose(_images(fig.axes[4])[0], outs["strict"][0, :, top:top + side, left:left + side].permute(1, 2, 0).numpy())


def test_plot_variants_checks_sizes_and_crop():
    frame, mask = torch.rand(1, 3, H, W), _square()
    with pytest.raises(ValueError, match="output 'x'"):
        plotting.plot_variants(frame, {"x": torch.rand(1, 3, H, W + 2)}, mask)
    with pytest.raises(ValueError, match="the mask"):
        plotting.plot_variants(frame, {"x": frame}, torch.zeros(H + 1, W))
    with pytest.raises(ValueError, match="does not fit"):
        plotting.plot_variants(frame, {"x": frame}, mask, crop=(20, 0, 10))


def _moving_scene(n=4, speed=2):
    """A smooth texture panned right by ``speed`` px a frame, and a square mask moving with it."""
    g = torch.Generator().manual_seed(2)
    big = torch.nn.functional.interpolate(torch.rand(1, 3, 12, 20, generator=g), size=(48, 80 + speed * n),
                                          mode="bicubic", align_corners=False).clamp(0, 1)
    frames = torch.cat([big[..., :, speed * (n - t):speed * (n - t) + 80] for t in range(n)])
    masks = torch.zeros(n, 1, 48, 80)
    for t in range(n):
        masks[t, 0, 16:32, 20 + speed * t:36 + speed * t] = 1
    return frames, masks


def test_mask_flicker_curve_is_mask_flicker_of_each_pair():
    blink = torch.zeros(4, 1, H, W)
    blink[1, 0, :12] = 1
    blink[3, 0, :6] = 1
    curve = plotting.mask_flicker_curve(blink)
    assert curve.tolist() == [0.5, 0.5, 0.25]
    assert curve.mean() == pytest.approx(mask_flicker(blink))
    frames, masks = _moving_scene()
    along = plotting.mask_flicker_curve(masks, frames)
    static = plotting.mask_flicker_curve(masks)
    # a mask that moves with the picture is steady along the flow, not in place
    assert static.min() > 0.01 and along.max() < 0.3 * static.min()
    with pytest.raises(ValueError, match="frames"):
        plotting.mask_flicker_curve(masks, frames[:2])


def test_plot_mask_flicker_curves_legend_and_where_maps():
    blink = torch.zeros(3, 1, H, W)
    blink[1, 0, :, :10] = 1
    steady = _square().expand(3, -1, -1, -1)
    fig = plotting.plot_mask_flicker({"steady": steady, "blink": blink}, fps=12.0)
    assert len(fig.axes) == 3
    curves = fig.axes[0]
    lines = curves.get_lines()
    assert [line.get_label() for line in lines] == ["steady (mean 0.0000)", "blink (mean 0.2500)"]
    assert np.allclose(lines[1].get_xdata(), [1 / 12, 2 / 12]) and curves.get_xlabel() == "time (s)"
    assert np.allclose(lines[1].get_ydata(), [0.25, 0.25])
    steady_map, blink_map = (_images(ax)[0] for ax in fig.axes[1:])
    assert np.all(steady_map == 0) and np.allclose(blink_map[:, :10], 1) and np.all(blink_map[:, 10:] == 0)
    assert fig.axes[1].get_images()[0].get_clim() == fig.axes[2].get_images()[0].get_clim() == (0, 1)
    with pytest.raises(ValueError, match="at least two masks"):
        plotting.plot_mask_flicker({"one": torch.zeros(1, 1, H, W)})
