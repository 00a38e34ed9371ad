"""The pretrained conditional-instance-norm networks: 26-style (Dumoulin) and arbitrary (Ghiasi)."""

import pytest
import torch

from vstlib.arbitrary_net import (STYLE_DIM, StylePredictor, StyleTransformer, fake_quant, load_predictor,
                                  load_transformer)
from vstlib.errors import VstError
from vstlib.multistyle_net import NUM_STYLES, MultiStyleNet, load_multistyle, parse_styles


@pytest.fixture(scope="module")
def multi():
    return load_multistyle()


@pytest.fixture(scope="module")
def predictor():
    return load_predictor()


@pytest.fixture(scope="module")
def transformer():
    return load_transformer()


def _image(b=1, h=48, w=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.linspace(0, 1, h), torch.linspace(0, 1, w), indexing="ij")
    base = torch.stack([xx, yy, (xx + yy) / 2])[None].repeat(b, 1, 1, 1)
    return (0.8 * base + 0.2 * torch.rand(b, 3, h, w, generator=g)).clamp(0, 1)


@pytest.mark.parametrize("size", [(32, 32), (37, 50), (61, 43)])
def test_multistyle_any_size(multi, size):
    x = _image(2, *size)
    y = multi(x, parse_styles("3"))
    assert y.shape == x.shape
    assert 0 <= y.min() and y.max() <= 1


def test_multistyle_batch_consistency_and_per_image_weights(multi):
    x = _image(2, 40, 40)
    w = torch.stack([parse_styles(3), parse_styles(12)])
    both = multi(x, w)
    one = multi(x[1:], parse_styles(12))
    torch.testing.assert_close(both[1:], one, atol=1e-5, rtol=0)
    assert (both[0] - multi(x[:1], parse_styles(12))[0]).abs().mean() > 0.01  # the weights were per image


def test_multistyle_styles_differ_and_mix_is_between(multi):
    x = _image(1, 64, 64)
    a, b = multi(x, parse_styles(3)), multi(x, parse_styles(12))
    mix = multi(x, parse_styles("3:0.5,12:0.5"))
    assert (a - b).abs().mean() > 0.02
    assert (mix - a).abs().mean() < (a - b).abs().mean()
    assert (mix - b).abs().mean() < (a - b).abs().mean()


@pytest.mark.parametrize("spec", ["26", "x", "3:-1", "", "3:0"])
def test_parse_styles_rejects(spec):
    with pytest.raises(VstError):
        parse_styles(spec)


def test_parse_styles_normalizes():
    w = parse_styles("1:2,5:6")
    assert w.shape == (NUM_STYLES,)
    assert w.sum().item() == pytest.approx(1)
    assert w[5].item() == pytest.approx(0.75)


def test_multistyle_rejects_bad_weights(multi):
    with pytest.raises(VstError):
        multi(_image(2, 32, 32), torch.rand(3, NUM_STYLES))


def test_fake_quant_rounds_half_to_even_and_saturates():
    x = torch.tensor([0.05, 0.15, -1.0, 100.0])
    y = fake_quant(x, 0.1, 0)
    torch.testing.assert_close(y, torch.tensor([0.0, 0.2, -1.0, 12.7]))


def test_predictor_shapes_and_batch(predictor):
    s = _image(2, 96, 80)
    v = predictor(s)
    assert v.shape == (2, STYLE_DIM)
    torch.testing.assert_close(v[1:], predictor(s[1:]), atol=1e-4, rtol=0)
    assert (v[0] - v[1]).abs().mean() > 1e-3  # different paintings, different vectors


@pytest.mark.parametrize("size", [(40, 40), (45, 70)])
def test_transformer_any_size(transformer, predictor, size):
    x = _image(2, *size)
    y = transformer(x, predictor(_image(1, 64, 64, seed=3))[0])
    assert y.shape == x.shape
    assert 0 <= y.min() and y.max() <= 1


def test_transformer_batch_and_style_dependence(transformer):
    x = _image(2, 48, 48)
    g = torch.Generator().manual_seed(0)
    s = torch.randn(2, STYLE_DIM, generator=g) * 0.5
    y = transformer(x, s)
    torch.testing.assert_close(y[1:], transformer(x[1:], s[1:]), atol=1e-4, rtol=0)
    assert (transformer(x[:1], s[1]) - y[:1]).abs().mean() > 0.01  # the style vector matters


def test_transformer_stylizes_with_a_predicted_style(transformer, predictor):
    x = _image(1, 64, 64)
    own = transformer(x, predictor(x))
    other = transformer(x, predictor(torch.rand(1, 3, 96, 96, generator=torch.Generator().manual_seed(5))))
    assert (other - x).abs().mean() > 0.05
    assert (other - own).abs().mean() > 0.01


def test_quantized_activations_close_to_float(transformer, predictor):
    x, s = _image(1, 64, 64), predictor(_image(1, 64, 64, seed=4))
    transformer.quantize_activations = True
    try:
        yq = transformer(x, s)
    finally:
        transformer.quantize_activations = False
    y = transformer(x, s)
    assert 0 < (yq - y).abs().mean() < 0.1


def test_bfloat16(transformer, predictor):
    x = _image(1, 40, 40)
    s = predictor(x)
    ref = transformer(x, s)
    t16 = load_transformer().to(torch.bfloat16)
    y = t16(x.to(torch.bfloat16), s.to(torch.bfloat16))
    assert y.dtype == torch.bfloat16
    assert (y.float() - ref).abs().mean() < 0.05


def test_untrained_modules_run():
    assert MultiStyleNet()(torch.rand(1, 3, 33, 35), torch.ones(NUM_STYLES) / NUM_STYLES).shape == (1, 3, 33, 35)
    assert StyleTransformer()(torch.rand(1, 3, 33, 35), torch.zeros(STYLE_DIM)).shape == (1, 3, 33, 35)
    assert StylePredictor()(torch.rand(1, 3, 33, 35)).shape == (1, STYLE_DIM)


def test_loading_rejects_foreign_files(tmp_path):
    bad = tmp_path / "x.pt"
    torch.save({"format": "something else"}, bad)
    with pytest.raises(VstError):
        load_transformer(bad)
    with pytest.raises(VstError):
        load_multistyle(bad)


# -- the registered methods -------------------------------------------------------------------

def _items(x, mixes):
    from vstlib.methods import FrameItem

    return [FrameItem(index=i, frame=None, content=x[i:i + 1], mix=m) for i, m in enumerate(mixes)]


def test_methods_registered_and_configs_validate():
    from vstlib import methods

    assert {"arbitrary", "multistyle"} <= set(methods.names())
    with pytest.raises(VstError):
        methods.get("arbitrary").Config(style_strength=1.5)
    with pytest.raises(VstError):
        methods.get("multistyle").Config(styles="30")
    assert methods.get("multistyle").Config(styles="3:0.5,12:0.5").styles == "3:0.5,12:0.5"


def test_arbitrary_session_mixes_in_embedding_space(predictor, transformer):
    from vstlib import methods
    from vstlib.methods.arbitrary import center_square

    m = methods.get("arbitrary")
    styles = [_image(1, 80, 120, seed=7), torch.rand(1, 3, 90, 90, generator=torch.Generator().manual_seed(8))]
    session = m.prepare(m.Config(batch=2), styles, torch.device("cpu"))
    x = _image(2, 40, 56, seed=9)
    y = session.stylize(_items(x, [((0, 1.0),), ((0, 0.5), (1, 0.5))]))
    v = predictor(torch.cat([center_square(s, 256) for s in styles]))
    torch.testing.assert_close(y[:1], transformer(x[:1], v[0]), atol=1e-4, rtol=0)
    torch.testing.assert_close(y[1:], transformer(x[1:], v.mean(0)), atol=1e-4, rtol=0)
    pixel_mix = (transformer(x[1:], v[0]) + transformer(x[1:], v[1])) / 2
    assert (y[1:] - pixel_mix).abs().mean() > 1e-3  # not a blend of pictures


def test_arbitrary_style_strength_zero_is_the_frames_own_style(predictor, transformer):
    from vstlib import methods
    from vstlib.methods.arbitrary import center_square

    m = methods.get("arbitrary")
    session = m.prepare(m.Config(style_strength=0.0), [_image(1, 64, 64, seed=1)], torch.device("cpu"))
    x = _image(1, 48, 64, seed=2)
    y = session.stylize(_items(x, [((0, 1.0),)]))
    torch.testing.assert_close(y, transformer(x, predictor(center_square(x, 256))), atol=1e-4, rtol=0)


def test_multistyle_session(multi):
    from vstlib import methods

    m = methods.get("multistyle")
    session = m.prepare(m.Config(styles="3:0.5,12:0.5"), [], torch.device("cpu"))
    x = _image(2, 36, 44)
    y = session.stylize(_items(x, [((0, 1.0),), ((0, 1.0),)]))
    torch.testing.assert_close(y, multi(x, parse_styles("3:0.5,12:0.5")), atol=1e-5, rtol=0)


def test_arbitrary_pixel_mix_space_blends_pictures(predictor, transformer):
    from vstlib import methods
    from vstlib.methods.arbitrary import center_square

    m = methods.get("arbitrary")
    styles = [_image(1, 64, 64, seed=11), torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(12))]
    session = m.prepare(m.Config(mix_space="pixel"), styles, torch.device("cpu"))
    x = _image(1, 40, 40, seed=13)
    y = session.stylize(_items(x, [((0, 0.25), (1, 0.75))]))
    v = predictor(torch.cat([center_square(s, 256) for s in styles]))
    expected = (0.25 * transformer(x, v[0]) + 0.75 * transformer(x, v[1])).clamp(0, 1)
    torch.testing.assert_close(y, expected, atol=1e-4, rtol=0)
