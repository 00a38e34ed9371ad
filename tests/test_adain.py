"""AdaIN: the moments it matches, its link to Gaussian W2 transport, the decoder-free demonstration."""

from __future__ import annotations

import pytest
import torch

from vstlib import adain as A
from vstlib.errors import VstError
from vstlib.wasserstein import gaussian_stats, sqrtm_psd, wasserstein2_gaussian

D = torch.float64


@pytest.fixture
def gen():
    return torch.Generator().manual_seed(0)


def correlated(gen, b=1, c=6, h=12, w=10, mix=0.9):
    """Features whose channels are strongly correlated (all follow one shared signal)."""
    shared = torch.randn(b, 1, h, w, generator=gen, dtype=D)
    own = torch.randn(b, c, h, w, generator=gen, dtype=D)
    scale = torch.linspace(0.5, 3.0, c, dtype=D).view(1, c, 1, 1)
    return 2.0 + scale * (mix * shared + (1 - mix) * own)


def test_output_has_the_styles_channel_moments(gen):
    content = torch.randn(2, 3, 5, 7, 9, generator=gen, dtype=D) * 4 - 1  # two leading dims
    style = torch.rand(1, 1, 5, 4, 6, generator=gen, dtype=D) * 3 + 2  # broadcast, other size
    out = A.adain(content, style, eps=1e-12)
    assert out.shape == content.shape
    mu_o, sd_o = A.channel_stats(out, eps=0.0)
    mu_s, sd_s = A.channel_stats(style, eps=0.0)
    assert torch.allclose(mu_o, mu_s.expand_as(mu_o), atol=1e-9)
    assert torch.allclose(sd_o, sd_s.expand_as(sd_o), atol=1e-9)
    # the content's own statistics were different, so something was actually changed
    assert (A.channel_stats(content, eps=0.0)[0] - mu_s).abs().min() > 0.1


def test_default_eps_changes_the_std_only_by_about_eps(gen):
    content, style = torch.randn(1, 4, 8, 8, generator=gen), 0.5 * torch.randn(1, 4, 8, 8, generator=gen)
    out = A.adain(content, style)
    sd_o, sd_s = A.channel_stats(out, eps=0.0)[1], A.channel_stats(style, eps=0.0)[1]
    assert (sd_o - sd_s).abs().max() < 1e-4
    assert (sd_o - sd_s).abs().max() > 0  # eps does enter


def test_constant_content_channel_stays_constant_at_the_style_mean(gen):
    content = torch.randn(1, 2, 6, 6, generator=gen)
    content[:, 1] = 0.0  # a dead ReLU channel
    style = torch.randn(1, 2, 6, 6, generator=gen) + 3
    out = A.adain(content, style)
    assert torch.isfinite(out).all()
    assert torch.allclose(out[:, 1], style[:, 1].mean().expand(6, 6), atol=1e-5)


def test_adain_is_the_w2_transport_map_between_diagonal_gaussians(gen):
    """The Gaussian optimal transport map x -> mu_s + A (x - mu_c) with
    A = Sc^-1/2 (Sc^1/2 Ss Sc^1/2)^1/2 Sc^-1/2, evaluated with the diagonal fits, is AdaIN."""
    content, style = correlated(gen), correlated(gen, mix=0.5, h=9, w=11)
    mu_c, cov_c = gaussian_stats(content)
    mu_s, cov_s = gaussian_stats(style)
    diag_c, diag_s = torch.diag_embed(cov_c.diagonal(dim1=-2, dim2=-1)), torch.diag_embed(cov_s.diagonal(dim1=-2, dim2=-1))

    def transport(cov_a, cov_b):
        root_a = sqrtm_psd(cov_a)
        inv_root_a = torch.linalg.inv(root_a)
        return inv_root_a @ sqrtm_psd(root_a @ cov_b @ root_a) @ inv_root_a

    def apply(matrix):
        x = content.flatten(-2) - mu_c.unsqueeze(-1)  # [B, C, N]
        return (matrix @ x + mu_s.unsqueeze(-1)).reshape(content.shape)

    out = A.adain(content, style, eps=0.0)
    assert torch.allclose(apply(transport(diag_c, diag_s)), out, atol=1e-9)
    # With the full covariances the optimal map mixes channels and is not AdaIN.
    assert (apply(transport(cov_c, cov_s)) - out).abs().max() > 0.1


def test_diagonal_w2_is_the_closed_form_for_diagonal_covariances(gen):
    a, b = correlated(gen), correlated(gen, mix=0.3)
    eps = 1e-3
    (mu_a, sd_a), (mu_b, sd_b) = A.channel_stats(a, eps), A.channel_stats(b, eps)
    closed = wasserstein2_gaussian(mu_a, torch.diag_embed(sd_a**2), mu_b, torch.diag_embed(sd_b**2))
    assert torch.allclose(A.diagonal_w2(a, b, eps), closed, rtol=1e-9)


def test_after_adain_diagonal_w2_is_zero_but_full_w2_is_not(gen):
    content, style = correlated(gen, mix=0.0), correlated(gen, mix=0.9)  # independent vs correlated channels
    out = A.adain(content, style, eps=0.0)
    before = float(A.diagonal_w2(content, style, eps=0.0))
    assert float(A.diagonal_w2(out, style, eps=0.0)) < 1e-9 * before
    full_before = float(wasserstein2_gaussian(*gaussian_stats(style), *gaussian_stats(content)))
    full_after = float(wasserstein2_gaussian(*gaussian_stats(style), *gaussian_stats(out)))
    # what is left is the cross-channel covariance that AdaIN does not touch
    assert full_after > 0.1 * full_before > 0


def test_mean_std_loss_is_diagonal_w2_per_channel_and_mixes_to_the_barycentre(gen):
    a, b = torch.rand(1, 5, 8, 8, generator=gen), torch.rand(1, 5, 6, 7, generator=gen) * 2
    loss = A.MeanStdStyleLoss(["relu1_1"], weight=3.0)
    loss.set_target({"relu1_1": b})
    value = loss({"relu1_1": a}, a)
    assert torch.allclose(value, 3.0 * A.diagonal_w2(a, b)[0] / 5, rtol=1e-5)
    # W2 barycentre of diagonal Gaussians: mean of the means and of the stds
    other = A.MeanStdStyleLoss(["relu1_1"])
    other.set_target({"relu1_1": a})
    mixed = loss.mix_targets([loss.targets, other.targets], [0.25, 0.75])
    (mu_a, sd_a), (mu_b, sd_b) = A.channel_stats(a), A.channel_stats(b)
    assert torch.allclose(mixed["relu1_1"][0], 0.25 * mu_b + 0.75 * mu_a)
    assert torch.allclose(mixed["relu1_1"][1], 0.25 * sd_b + 0.75 * sd_a)


def test_mean_std_loss_gradient_is_finite_on_a_constant_channel():
    loss = A.MeanStdStyleLoss(["relu1_1"])
    loss.set_target({"relu1_1": torch.rand(1, 3, 4, 4)})
    f = torch.zeros(1, 3, 4, 4, requires_grad=True)
    loss({"relu1_1": f}, f).backward()
    assert torch.isfinite(f.grad).all() and f.grad.abs().sum() > 0


@pytest.mark.parametrize("content, style", [(torch.rand(4, 5), torch.rand(4, 5)),  # no channel dim
                                            (torch.rand(1, 4, 5, 5), torch.rand(1, 3, 5, 5)),  # channels
                                            (torch.rand(2, 3, 5, 5), torch.rand(3, 3, 5, 5))])  # batch
def test_adain_rejects_bad_shapes(content, style):
    with pytest.raises(VstError):
        A.adain(content, style)


@pytest.mark.parametrize("kwargs", [{"init": "photo"}, {"alpha": 1.5}, {"style_weight": -1.0},
                                    {"layer": "relu9_1"}, {"style_layers": ("relu1_1", "relu9_9")}])
def test_adain_image_rejects_bad_options(kwargs):
    with pytest.raises(VstError):
        A.adain_image(torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 32), iters=1, **kwargs)


def test_adain_image_rejects_tiny_and_non_rgb_images():
    with pytest.raises(VstError):
        A.adain_image(torch.rand(1, 3, 8, 32), torch.rand(1, 3, 32, 32), iters=1)
    with pytest.raises(VstError):
        A.adain_image(torch.rand(1, 1, 32, 32), torch.rand(1, 3, 32, 32), iters=1)


@pytest.fixture(scope="module")
def photo_and_painting(data_dir):
    from vstlib import data
    from vstlib.gatys import resize
    from vstlib.io import load_image, to_tensor

    content = resize(to_tensor(data.content_photo("chelsea")), (40, 64))
    style = load_image(data.fetch("style/starry_night_vangogh.jpg"), max_side=64)
    return content, style


def relu4_1_distance(image, style):
    from vstlib.gatys import resize
    from vstlib.vgg import encoder

    enc = encoder(["relu4_1"])
    with torch.no_grad():
        target = enc(resize(style, tuple(image.shape[-2:])))["relu4_1"]
        return float(A.diagonal_w2(enc(image)["relu4_1"], target))


def test_adain_image_moves_relu4_1_statistics_toward_the_style(photo_and_painting, one_torch_thread):
    content, style = photo_and_painting
    result = A.adain_image(content, style, iters=20)
    assert result.losses[-1] < 0.5 * result.losses[0]
    assert relu4_1_distance(result.image, style) < 0.5 * relu4_1_distance(content, style)
    # the paper's style loss on top pushes the statistics further
    with_style = A.adain_image(content, style, iters=20, style_weight=1.0)
    assert relu4_1_distance(with_style.image, style) < relu4_1_distance(result.image, style)


def test_adain_image_keeps_the_content_layout_unlike_a_style_reconstruction(photo_and_painting, one_torch_thread):
    """From the same noise, matching AdaIN's relu4_1 target recovers where the photo is bright and
    dark; matching only the style's mean/std statistics does not."""
    from vstlib.engine import optimize_image
    from vstlib.gatys import noise_image, resize
    from vstlib.losses import PerceptualLoss
    from vstlib.probes import layout_correlation

    content, style = photo_and_painting
    adain_result = A.adain_image(content, style, iters=20, init="noise")
    loss = A.MeanStdStyleLoss()
    objective = PerceptualLoss({"style": loss})
    with torch.no_grad():
        loss.set_target(objective.features(resize(style, tuple(content.shape[-2:]))))
    style_only = optimize_image(objective, noise_image(content.shape), iters=20)
    kept, lost = layout_correlation(adain_result.image, content), layout_correlation(style_only.image, content)
    assert kept > 0.4
    assert kept > lost + 0.3
