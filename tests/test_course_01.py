"""Library helpers behind notebook 01's demonstrations (issue 10): the paper's style layer
weighting, per-layer style losses, reconstructions from one representation, per-frame Gatys."""

from __future__ import annotations

import pytest
import torch

from vstlib import gatys
from vstlib.errors import VstError
from vstlib.losses import GramStyleLoss, gatys_layer_weights, gram_matrix

STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")


def _ramp(h: int = 32, w: int = 32) -> torch.Tensor:
    y, x = torch.meshgrid(torch.linspace(0, 1, h), torch.linspace(0, 1, w), indexing="ij")
    return torch.stack([y, x, 0.5 * (x + y)])[None]


def _stripes(size: int = 32) -> torch.Tensor:
    style = torch.zeros(1, 3, size, size)
    style[:, 0, :, ::4] = 1.0
    style[:, 2, ::3] = 0.8
    return style


def test_gatys_layer_weights_give_the_papers_style_loss():
    """sum_l w_l E_l with w_l = 1/L and E_l = 1/(4 N^2 M^2) sum (F F^T - A)^2 on raw Gram matrices."""
    g = torch.Generator().manual_seed(0)
    layers = ("relu1_1", "relu2_1")
    x = {"relu1_1": torch.rand(1, 6, 4, 5, generator=g), "relu2_1": torch.rand(1, 10, 2, 3, generator=g)}
    a = {"relu1_1": torch.rand(1, 6, 4, 5, generator=g), "relu2_1": torch.rand(1, 10, 2, 3, generator=g)}
    paper = 0.0
    for layer in layers:
        n, m = x[layer].shape[1], x[layer].shape[2] * x[layer].shape[3]
        diff = gram_matrix(x[layer], normalize=False) - gram_matrix(a[layer], normalize=False)
        paper += (1 / len(layers)) * float(diff.pow(2).sum()) / (4 * n**2 * m**2)
    loss = GramStyleLoss(layers, weight=1.0, layer_weights=gatys_layer_weights(layers))
    loss.set_target(a)
    assert float(loss(x, x["relu1_1"])) == pytest.approx(paper, rel=1e-5)


def test_default_layer_weights_downweight_relu5_1_64x_against_the_paper():
    vst = GramStyleLoss(STYLE_LAYERS).layer_weights
    paper = gatys_layer_weights(STYLE_LAYERS)
    relative = [v / p for v, p in zip(vst, paper)]
    assert relative[0] / relative[-1] == pytest.approx(64.0)


def test_layer_losses_sum_to_the_style_loss():
    g = torch.Generator().manual_seed(1)
    layers = ("relu1_1", "relu2_1")
    feats = {"relu1_1": torch.rand(1, 64, 8, 8, generator=g), "relu2_1": torch.rand(1, 128, 4, 4, generator=g)}
    target = {k: torch.rand(v.shape, generator=g) for k, v in feats.items()}
    loss = GramStyleLoss(layers, weight=3.0)
    loss.set_target(target)
    per = loss.layer_losses(feats)
    expected = 3.0 * sum(w * per[layer] for w, layer in zip(loss.layer_weights, layers))
    assert float(loss(feats, feats["relu1_1"])) == pytest.approx(float(expected), rel=1e-6)


def test_stylizer_reports_per_layer_style_losses():
    style, content = _stripes(), _ramp()
    stylizer = gatys.GatysStylizer(style, gatys.GatysConfig(iters=8))
    with pytest.raises(VstError):
        stylizer.style_layer_losses(content)  # no targets yet
    result = stylizer(content)
    before, after = stylizer.style_layer_losses(content), stylizer.style_layer_losses(result.image)
    assert list(before) == list(STYLE_LAYERS)
    weights = stylizer.style_loss.layer_weights
    beta = stylizer.config.effective_style_weight
    assert beta * sum(w * v for w, v in zip(weights, before.values())) == pytest.approx(stylizer.loss_parts(content)["style"], rel=1e-4)
    assert sum(w * v for w, v in zip(weights, after.values())) < sum(w * v for w, v in zip(weights, before.values()))


def test_content_reconstruction_is_closer_from_shallow_layers():
    photo = _ramp()
    shallow = gatys.reconstruct(photo, ["relu1_2"], "content", iters=15)
    deep = gatys.reconstruct(photo, ["relu4_2"], "content", iters=15)
    err = {name: float((r.image - photo).abs().mean()) for name, r in [("shallow", shallow), ("deep", deep)]}
    assert shallow.losses[-1] < 0.1 * shallow.losses[0]
    assert err["shallow"] < err["deep"]


def test_style_reconstruction_matches_the_gram_matrices_not_the_layout():
    style = _stripes()
    result = gatys.reconstruct(style, ["relu1_1", "relu2_1"], "style", iters=15,
                               layer_weights=gatys_layer_weights(["relu1_1", "relu2_1"]))
    assert result.losses[-1] < 0.5 * result.losses[0]
    # the same statistics need not sit in the same places
    assert float((result.image - style).abs().mean()) > 0.05


def test_reconstruct_rejects_unknown_kind_and_init():
    with pytest.raises(VstError):
        gatys.reconstruct(_ramp(), ["relu1_1"], "texture", iters=1)
    with pytest.raises(VstError):
        gatys.reconstruct(_ramp(), ["relu1_1"], "content", iters=1, init="zeros")


def test_reconstruct_noise_is_seeded():
    a = gatys.reconstruct(_ramp(), ["relu1_1"], "content", iters=2, seed=3)
    b = gatys.reconstruct(_ramp(), ["relu1_1"], "content", iters=2, seed=3)
    assert torch.equal(a.image, b.image)


def test_stylize_frames_fresh_noise_per_frame():
    stylizer = gatys.GatysStylizer(_stripes(), gatys.GatysConfig(iters=2, init="noise"))
    frames = [_ramp(), _ramp()]
    fresh = gatys.stylize_frames(stylizer, frames)
    same = gatys.stylize_frames(stylizer, frames, fresh_noise=False)
    assert torch.equal(same[0], same[1]) and not torch.equal(fresh[0], fresh[1])
    # content init: identical frames give identical outputs whatever fresh_noise says
    content_init = gatys.GatysStylizer(_stripes(), gatys.GatysConfig(iters=2))
    out = gatys.stylize_frames(content_init, frames)
    assert torch.equal(out[0], out[1])


def test_layout_correlation_sees_rearrangement_not_texture():
    from vstlib.probes import layout_correlation

    photo = _ramp(32, 48)
    g = torch.Generator().manual_seed(0)
    textured = (photo + 0.2 * torch.rand(photo.shape, generator=g)).clamp(0, 1)  # same layout, new fine texture
    swapped = torch.roll(photo, shifts=(16, 24), dims=(2, 3))
    assert layout_correlation(textured, photo) > 0.95
    assert layout_correlation(swapped, photo) < 0.5
    with pytest.raises(ValueError):
        layout_correlation(photo, _ramp(32, 32))
