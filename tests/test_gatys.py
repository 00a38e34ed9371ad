"""Gatys stylization: configuration checks, determinism, loss decrease, multi-scale."""

import pytest
import torch

from vstlib import gatys
from vstlib.errors import VstError


@pytest.fixture(scope="module")
def images():
    g = torch.Generator().manual_seed(0)
    content = torch.rand(1, 3, 40, 56, generator=g)
    # a style with strong stripes, so style statistics differ from the content's
    style = torch.zeros(1, 3, 64, 64)
    style[:, 0, :, ::4] = 1.0
    style[:, 2, ::3] = 0.8
    return content, style


@pytest.mark.parametrize("kwargs", [dict(style_weight=-1.0), dict(content_weight=float("nan")), dict(iters=0),
                                    dict(scales=(1.0, 0.5)), dict(scales=(0.5,)), dict(init="photo"),
                                    dict(optimizer="sgd"), dict(style_layers=("relu6_1",)), dict(style_scale=100.0)])
def test_config_rejects_bad_values(kwargs):
    with pytest.raises(VstError):
        gatys.GatysConfig(**kwargs)


def test_style_size_keeps_pixel_count_and_aspect():
    h, w = gatys.style_size_for((600, 800), (180, 320))
    assert abs(h * w - 180 * 320) / (180 * 320) < 0.01
    assert abs(w / h - 800 / 600) < 0.02
    h2, w2 = gatys.style_size_for((600, 800), (180, 320), style_scale=2.0)
    assert abs(h2 * w2 - 4 * h * w) / (4 * h * w) < 0.02


def test_stylization_lowers_style_loss(images):
    content, style = images
    st = gatys.GatysStylizer(style, gatys.GatysConfig(iters=15))
    result = st(content)
    before, after = st.loss_parts(content), st.loss_parts(result.image)
    assert after["style"] < 0.5 * before["style"]
    assert result.image.shape == content.shape
    assert 0.0 <= result.image.min() and result.image.max() <= 1.0


def test_seeded_noise_init_is_deterministic(images):
    content, style = images
    cfg = gatys.GatysConfig(iters=5, init="noise", seed=3)
    a = gatys.stylize_image(content, style, cfg)
    b = gatys.stylize_image(content, style, cfg)
    c = gatys.stylize_image(content, style, cfg.replace(seed=4))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_explicit_init_is_used(images):
    content, style = images
    cfg = gatys.GatysConfig(iters=1, content_weight=0.0, style_weight=0.0, tv_weight=0.0)
    init = torch.full_like(content, 0.5)
    # with all weights 0 the gradient is 0, so the result is the init itself
    torch.testing.assert_close(gatys.stylize_image(content, style, cfg, init=init), init)


def test_multiscale_runs_each_scale(images):
    content, style = images
    cfg = gatys.GatysConfig(iters=4, coarse_iters=6, scales=(0.5, 1.0))
    result = gatys.GatysStylizer(style, cfg)(content)
    assert result.scale_iters == [6, 4]
    assert result.iterations == 10 and len(result.losses) == 10
    assert result.image.shape == content.shape


def test_load_style_never_enlarges(tmp_path):
    from vstlib.io import save_image

    small, big = tmp_path / "small.png", tmp_path / "big.png"
    save_image(torch.rand(1, 3, 40, 60), small)
    save_image(torch.rand(1, 3, 600, gatys.STYLE_MAX_SIDE + 200), big)
    assert gatys.load_style(small).shape[-2:] == (40, 60)
    assert max(gatys.load_style(big).shape[-2:]) == gatys.STYLE_MAX_SIDE


# --- style loss choice (Gram or Wasserstein) and colour preservation ----------------------------


def test_style_loss_choice_and_default_weights():
    from vstlib.losses import GRAM_DEFAULT_WEIGHT, GramStyleLoss
    from vstlib.wasserstein import DEFAULT_WEIGHT, WassersteinStyleLoss

    style = torch.rand(1, 3, 32, 32)
    gram = gatys.GatysStylizer(style, gatys.GatysConfig())
    w2 = gatys.GatysStylizer(style, gatys.GatysConfig(style_loss="wasserstein"))
    assert type(gram.style_loss) is GramStyleLoss and gram.style_loss.weight == GRAM_DEFAULT_WEIGHT
    assert type(w2.style_loss) is WassersteinStyleLoss and w2.style_loss.weight == DEFAULT_WEIGHT
    # an explicit weight wins, for either loss; replace() does not carry one loss's default to the other
    assert gatys.GatysConfig(style_loss="wasserstein", style_weight=7.0).effective_style_weight == 7.0
    assert gatys.GatysConfig().replace(style_loss="wasserstein").effective_style_weight == DEFAULT_WEIGHT
    with pytest.raises(VstError, match="gram, wasserstein"):
        gatys.GatysConfig(style_loss="histogram")
    # the choice keys the video cache
    assert gatys.GatysConfig().to_dict() != gatys.GatysConfig(style_loss="wasserstein").to_dict()


def test_wasserstein_stylization_lowers_the_w2_distance(images):
    content, style = images
    st = gatys.GatysStylizer(style, gatys.GatysConfig(iters=15, style_loss="wasserstein"))
    result = st(content)
    before, after = st.loss_parts(content), st.loss_parts(result.image)
    assert after["style"] < 0.5 * before["style"]
    assert torch.isfinite(result.image).all() and result.image.shape == content.shape


@pytest.mark.parametrize("mode", ["luminance", "histogram"])
def test_stylize_image_preserves_colour(images, mode):
    from vstlib import color

    _, style = images
    # a smooth green-blue photo stand-in, far from the red/blue stripes' colours
    yy, xx = torch.meshgrid(torch.linspace(0, 1, 40), torch.linspace(0, 1, 56), indexing="ij")
    content = torch.stack([0.2 + 0.3 * xx, 0.5 + 0.3 * yy, 0.4 + 0.2 * xx * yy])[None]
    cfg = gatys.GatysConfig(iters=10)
    plain = gatys.stylize_image(content, style, cfg)
    kept = gatys.stylize_image(content, style, cfg, preserve_color=mode)

    def colour_distance(x):  # of the colour mean and covariance to the content's
        a, b = color.color_stats(x), color.color_stats(content)
        return float((a.mean - b.mean).norm() + (a.cov - b.cov).norm())

    # the stripes' red/blue style pulls the plain result's colours away from the content's
    assert colour_distance(kept) < 0.3 * colour_distance(plain)
    if mode == "luminance":  # the content's own chroma per pixel, up to clamping of out-of-gamut pixels
        chroma = lambda x: color.rgb_to_yiq(x)[:, 1:]  # noqa: E731
        inside = ((kept > 0) & (kept < 1)).all(dim=1, keepdim=True).expand(-1, 2, -1, -1)
        torch.testing.assert_close(chroma(kept)[inside], chroma(content)[inside], atol=1e-5, rtol=0)
