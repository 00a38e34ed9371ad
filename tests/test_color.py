"""Colour preservation (Gatys et al. 2016, arXiv:1606.05897): closed-form checks on small images."""

import numpy as np
import pytest
import torch

from vstlib import color
from vstlib.errors import VstError


def _rand(seed, shape=(1, 3, 24, 32)):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(shape, generator=g)


def _tinted(seed, shape=(1, 3, 24, 32)):
    """A random image with correlated, unequal channels (a non-trivial covariance), in [0, 1]."""
    x = _rand(seed, shape)
    mix = torch.tensor([[0.6, 0.3, 0.1], [0.2, 0.5, 0.1], [0.1, 0.2, 0.3]])
    return (torch.einsum("ij,bjhw->bihw", mix, x) + 0.05).clamp(0, 1)


# --- YIQ ---------------------------------------------------------------------------------------


def test_yiq_round_trip_is_exact():
    x = _rand(0, (2, 3, 8, 9))
    torch.testing.assert_close(color.yiq_to_rgb(color.rgb_to_yiq(x)), x, atol=1e-6, rtol=0)
    y = torch.randn(2, 3, 5, 5)
    torch.testing.assert_close(color.rgb_to_yiq(color.yiq_to_rgb(y)), y, atol=1e-6, rtol=0)


def test_yiq_of_greys():
    g = torch.tensor([0.0, 0.25, 0.5, 1.0]).view(1, 1, 1, 4).expand(1, 3, 1, 4)
    yiq = color.rgb_to_yiq(g)
    torch.testing.assert_close(yiq[:, 0], g[:, 0], atol=1e-6, rtol=0)  # white -> 1, grey g -> g
    torch.testing.assert_close(yiq[:, 1:], torch.zeros_like(yiq[:, 1:]), atol=1e-6, rtol=0)
    assert color.rgb_to_yiq(torch.ones(1, 3, 1, 1))[0, 0].item() == pytest.approx(1.0, abs=1e-6)


def test_to_luminance_image_is_grey_with_same_luminance():
    x = _rand(1)
    grey = color.to_luminance_image(x)
    assert grey.shape == x.shape
    assert torch.equal(grey[:, 0], grey[:, 1]) and torch.equal(grey[:, 0], grey[:, 2])
    torch.testing.assert_close(color.luminance(grey), color.luminance(x), atol=1e-6, rtol=0)


# --- luminance-only transfer -------------------------------------------------------------------


def test_luminance_only_takes_y_from_stylized_and_iq_from_content():
    # Mid-range images so nothing is clamped.
    stylized = 0.3 + 0.4 * _rand(2)
    content = 0.4 + 0.2 * _rand(3)
    out = color.luminance_only(stylized, content)
    assert out.min() > 0 and out.max() < 1  # not clamped, so the identities are exact
    out_yiq, sty_yiq, con_yiq = (color.rgb_to_yiq(t) for t in (out, stylized, content))
    torch.testing.assert_close(out_yiq[:, 0], sty_yiq[:, 0], atol=1e-5, rtol=0)
    torch.testing.assert_close(out_yiq[:, 1:], con_yiq[:, 1:], atol=1e-5, rtol=0)


def test_luminance_only_keeps_grey_content_grey_and_clamps():
    stylized = _rand(4)
    content = _rand(5)[:, :1].expand(1, 3, -1, -1)
    out = color.luminance_only(stylized, content)
    torch.testing.assert_close(out[:, 0], out[:, 1], atol=1e-6, rtol=0)
    torch.testing.assert_close(out[:, 0], out[:, 2], atol=1e-6, rtol=0)
    # Extreme chroma must be clamped into the RGB cube.
    saturated = torch.zeros(1, 3, 4, 4)
    saturated[:, 0] = 1
    out = color.luminance_only(torch.ones(1, 3, 4, 4), saturated)
    assert out.min() >= 0 and out.max() <= 1


def test_match_luminance_gives_content_mean_and_std():
    style_y = color.luminance(_rand(6, (1, 3, 20, 30)))
    content_y = 0.2 + 0.5 * color.luminance(_rand(7, (1, 3, 16, 16))) ** 2
    out = color.match_luminance(style_y, content_y)
    assert out.shape == style_y.shape
    assert out.mean().item() == pytest.approx(content_y.mean().item(), abs=1e-5)
    assert out.std(unbiased=False).item() == pytest.approx(content_y.std(unbiased=False).item(), abs=1e-5)
    flat = color.match_luminance(torch.full_like(style_y, 0.3), content_y)  # no 0/0
    torch.testing.assert_close(flat, torch.full_like(flat, content_y.mean().item()), atol=1e-6, rtol=0)


# --- colour statistics matching ----------------------------------------------------------------


@pytest.mark.parametrize("mode", ["sym", "chol"])
def test_match_color_matches_mean_and_covariance(mode):
    style = 0.35 + 0.3 * _rand(8, (1, 3, 40, 50))  # mid-range: the transform needs no clamping
    content = 0.2 + 0.6 * _tinted(9, (1, 3, 30, 30))
    out = color.match_color(style, content, mode=mode)
    assert out.shape == style.shape and out.dtype == style.dtype
    assert out.min() > 0 and out.max() < 1  # not clamped, so the statistics must match
    got, want = color.color_stats(out), color.color_stats(content)
    torch.testing.assert_close(got.mean, want.mean, atol=1e-5, rtol=0)
    torch.testing.assert_close(got.cov, want.cov, atol=1e-4, rtol=0)
    assert (got.cov - want.cov).abs().max() < 1e-2 * want.cov.abs().max()


@pytest.mark.parametrize("mode", ["sym", "chol"])
def test_match_color_is_identity_when_stats_already_match(mode):
    style = _tinted(10)
    out = color.match_color(style, style, mode=mode)
    torch.testing.assert_close(out, style, atol=1e-4, rtol=0)


def test_modes_differ_but_sym_is_channel_order_equivariant():
    style, content = _rand(11), _tinted(12)
    perm = [2, 0, 1]
    sym = color.match_color(style, content, mode="sym")
    sym_perm = color.match_color(style[:, perm], content[:, perm], mode="sym")
    torch.testing.assert_close(sym_perm, sym[:, perm], atol=1e-5, rtol=0)
    chol = color.match_color(style, content, mode="chol")
    assert (chol - sym).abs().max() > 1e-3  # two different transforms, same statistics


@pytest.mark.parametrize("mode", ["sym", "chol"])
def test_match_color_with_grey_or_flat_images_stays_finite(mode):
    grey = _rand(13)[:, :1].expand(1, 3, -1, -1).contiguous()  # rank-1 covariance
    flat = torch.full((1, 3, 8, 8), 0.4)  # zero covariance
    content = _tinted(14)
    for style, target in [(grey, content), (content, grey), (flat, content), (grey, flat)]:
        out = color.match_color(style, target, mode=mode)
        assert torch.isfinite(out).all()
        assert out.min() >= 0 and out.max() <= 1
    # A grey style matched to a grey content stays grey.
    out = color.match_color(grey, 0.2 + 0.5 * grey.flip(-1), mode=mode)
    torch.testing.assert_close(out[:, 0], out[:, 1], atol=1e-5, rtol=0)
    torch.testing.assert_close(out[:, 0], out[:, 2], atol=1e-5, rtol=0)


def test_match_color_rejects_bad_mode():
    with pytest.raises(VstError, match="sym or chol"):
        color.match_color(_rand(0), _rand(1), mode="lab")


def test_color_stats_pooled_over_list_equals_concatenation():
    a, b = _rand(15, (1, 3, 10, 12)), _tinted(16, (2, 3, 7, 5))
    pooled = color.color_stats([a, b])
    pixels = torch.cat([a.permute(0, 2, 3, 1).reshape(-1, 3), b.permute(0, 2, 3, 1).reshape(-1, 3)]).double()
    torch.testing.assert_close(pooled.mean, pixels.mean(0))
    torch.testing.assert_close(pooled.cov, torch.cov(pixels.T, correction=0))
    mean, cov = pooled  # unpacks like a tuple
    assert mean.shape == (3,) and cov.shape == (3, 3)


def test_color_stats_streams_uint8_frames_from_a_generator():
    rng = np.random.default_rng(3)
    frames = [rng.integers(0, 256, (6 + i, 9, 3), dtype=np.uint8) for i in range(4)]
    consumed = []

    def gen():
        for f in frames:
            consumed.append(1)
            yield f

    pooled = color.color_stats(gen())
    assert len(consumed) == 4
    pixels = torch.from_numpy(np.concatenate([f.reshape(-1, 3) for f in frames]).astype(np.float64) / 255)
    torch.testing.assert_close(pooled.mean, pixels.mean(0))
    torch.testing.assert_close(pooled.cov, torch.cov(pixels.T, correction=0))
    # one [H, W, 3] array is one image, not three rows of pixels
    one = color.color_stats(frames[0])
    torch.testing.assert_close(one.mean, torch.from_numpy(frames[0].reshape(-1, 3) / 255.0).mean(0))


def test_color_stats_of_nothing_is_an_error():
    with pytest.raises(ValueError, match="at least one image"):
        color.color_stats(iter([]))


def test_match_color_to_clip_stats_gives_one_style_for_all_frames():
    style = 0.25 + 0.5 * _rand(17)  # mid-range, so that the affine map barely clamps
    # a clip whose frames differ in colour: the pooled statistics are no single frame's
    frames = [_tinted(20), 0.6 * _tinted(21) + 0.3, _tinted(22).flip(1)]
    stats = color.color_stats(frames)
    matched = color.match_color_to_stats(style, stats.mean, stats.cov)
    # the one style image carries the whole clip's colour mean and covariance ...
    got = color.color_stats(matched)
    torch.testing.assert_close(got.mean, stats.mean, atol=2e-3, rtol=0)
    torch.testing.assert_close(got.cov, stats.cov, atol=2e-3, rtol=0)
    # ... the same as matching to all the clip's pixels at once, and not the first frame's
    torch.testing.assert_close(matched, color.match_color(style, torch.cat(frames)))
    first = color.color_stats(frames[0])
    assert (got.mean - first.mean).abs().max() > 0.05 and (got.cov - first.cov).abs().max() > 0.005
    # whereas per-frame matching changes the style target every frame
    assert (color.match_color(style, frames[0]) - color.match_color(style, frames[1])).abs().mean() > 0.05


# --- prepare / finish --------------------------------------------------------------------------


def test_prepare_none_is_identity():
    style, content = _rand(30), _rand(31)
    plan = color.prepare(style, content, "none")
    assert plan.style is style
    assert plan.content(content) is content
    assert plan.finish(style, content) is style


def test_prepare_histogram_recolours_style_only():
    style, content = _rand(32), _tinted(33)
    plan = color.prepare(style, content, "histogram")
    torch.testing.assert_close(plan.style, color.match_color(style, content))
    assert plan.content(content) is content
    out = _rand(34)
    assert plan.finish(out, content) is out
    # precomputed statistics (named or as a plain tuple) give the same style
    stats = color.color_stats(content)
    torch.testing.assert_close(color.prepare(style, stats, "histogram").style, plan.style)
    torch.testing.assert_close(color.prepare(style, (stats.mean, stats.cov), "histogram").style, plan.style)


def test_prepare_luminance_greys_and_recombines():
    style = 0.3 + 0.4 * _rand(35, (1, 3, 20, 20))
    content = 0.35 + 0.3 * _tinted(36)
    plan = color.prepare(style, content, "luminance")
    # grey, luminance-matched style
    s = plan.style
    assert torch.equal(s[:, 0], s[:, 1]) and torch.equal(s[:, 0], s[:, 2])
    expected = color.match_luminance(color.luminance(style), color.luminance(content))
    torch.testing.assert_close(color.luminance(s), expected, atol=1e-5, rtol=0)
    # grey content for the stylizer, content chroma in the output
    grey = plan.content(content)
    torch.testing.assert_close(grey, color.to_luminance_image(content))
    stylized = 0.4 + 0.2 * _rand(37, content.shape)
    torch.testing.assert_close(plan.finish(stylized, content), color.luminance_only(stylized, content))
    # clip statistics also work: same result as from the pixels
    from_stats = color.prepare(style, color.color_stats(content), "luminance").style
    torch.testing.assert_close(from_stats, s, atol=1e-5, rtol=0)


def test_prepare_bad_mode_lists_choices():
    with pytest.raises(VstError, match="none, luminance, histogram"):
        color.prepare(_rand(0), _rand(1), "colour")
    # every mode offered (the CLI's --preserve-color choices) is one that prepare implements,
    # and each has its own effect on the style image
    style, content = _rand(2), _tinted(3)
    styles = {mode: color.prepare(style, content, mode).style for mode in color.PRESERVE_COLOR_MODES}
    assert sorted(styles) == ["histogram", "luminance", "none"]
    assert styles["none"] is style
    assert not torch.allclose(styles["luminance"], style) and not torch.allclose(styles["histogram"], style)
    assert not torch.allclose(styles["luminance"], styles["histogram"])


def test_differentiable():
    x = _rand(40).requires_grad_()
    color.luminance_only(0.5 * x + 0.25, _rand(41)).sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda():
    style, content = _rand(42).cuda(), _tinted(43).cuda()
    for mode in color.PRESERVE_COLOR_MODES:
        plan = color.prepare(style, content, mode)
        out = plan.finish(plan.content(content), content)
        assert plan.style.device.type == "cuda" and out.device.type == "cuda"
    torch.testing.assert_close(color.match_color(style, content).cpu(), color.match_color(style.cpu(), content.cpu()), atol=1e-4, rtol=0)
