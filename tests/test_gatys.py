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
