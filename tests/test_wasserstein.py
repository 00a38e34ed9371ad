"""Closed-form checks of the Gaussian 2-Wasserstein style loss (tiny tensors, float64 where exact)."""

from __future__ import annotations

import math

import pytest
import torch

from vstlib import wasserstein as w2
from vstlib.wasserstein import (
    WassersteinStyleLoss,
    gaussian_stats,
    sqrtm_psd,
    trace_sqrtm,
    wasserstein2_gaussian,
)

D = torch.float64


def rand_psd(c, gen, rank=None):
    a = torch.randn(c, rank or c, generator=gen, dtype=D)
    return a @ a.T / (rank or c) + (0 if rank else 0.1 * torch.eye(c, dtype=D))


def rotation(c, gen):
    q, _ = torch.linalg.qr(torch.randn(c, c, generator=gen, dtype=D))
    return q


@pytest.fixture
def gen():
    return torch.Generator().manual_seed(0)


def test_gaussian_stats_matches_definition(gen):
    f = torch.randn(2, 3, 4, 5, generator=gen)
    mu, cov = gaussian_stats(f)
    flat = f.reshape(2, 3, 20).double()
    assert mu.dtype == D and torch.allclose(mu, flat.mean(2))
    for b in range(2):  # population covariance: divided by H*W
        assert torch.allclose(cov[b], torch.cov(flat[b], correction=0), atol=1e-12)


def test_identical_distributions_give_zero(gen):
    f = torch.randn(1, 4, 6, 6, generator=gen) + 3.0
    mu, cov = gaussian_stats(f)
    assert float(wasserstein2_gaussian(mu, cov, mu, cov)) == pytest.approx(0.0, abs=1e-10)


def test_1d_case(gen):
    mu_a, mu_b, sa, sb = 0.3, -1.2, 2.0, 0.5
    d = wasserstein2_gaussian(torch.tensor([mu_a], dtype=D), torch.tensor([[sa**2]], dtype=D),
                              torch.tensor([mu_b], dtype=D), torch.tensor([[sb**2]], dtype=D))
    assert float(d) == pytest.approx((mu_a - mu_b) ** 2 + (sa - sb) ** 2, rel=1e-12)


def test_diagonal_covariances(gen):
    a, b = torch.rand(5, generator=gen, dtype=D) + 0.1, torch.rand(5, generator=gen, dtype=D)
    mu_a, mu_b = torch.randn(5, generator=gen, dtype=D), torch.randn(5, generator=gen, dtype=D)
    expected = (mu_a - mu_b).pow(2).sum() + (a.sqrt() - b.sqrt()).pow(2).sum()
    got = wasserstein2_gaussian(mu_a, torch.diag(a), mu_b, torch.diag(b))
    assert float(got) == pytest.approx(float(expected), rel=1e-10)


def test_commuting_covariances(gen):
    q = rotation(6, gen)
    la, lb = torch.rand(6, generator=gen, dtype=D) * 3, torch.rand(6, generator=gen, dtype=D)
    cov_a, cov_b = q @ torch.diag(la) @ q.T, q @ torch.diag(lb) @ q.T
    mu = torch.zeros(6, dtype=D)
    got = wasserstein2_gaussian(mu, cov_a, mu + 1, cov_b)
    expected = 6 + (la.sqrt() - lb.sqrt()).pow(2).sum()
    assert float(got) == pytest.approx(float(expected), rel=1e-9)


def test_symmetric_nonnegative_and_triangle(gen):
    gs = [(torch.randn(5, generator=gen, dtype=D), rand_psd(5, gen)) for _ in range(4)]
    dist = [[float(wasserstein2_gaussian(*a, *b)) for b in gs] for a in gs]
    for i in range(4):
        for j in range(4):
            assert dist[i][j] >= 0
            assert dist[i][j] == pytest.approx(dist[j][i], rel=1e-9, abs=1e-12)
            for k in range(4):
                assert math.sqrt(dist[i][k]) <= math.sqrt(dist[i][j]) + math.sqrt(dist[j][k]) + 1e-9


def test_batch_broadcast_against_one_target(gen):
    mu_a, cov_a = torch.randn(1, 4, generator=gen, dtype=D), rand_psd(4, gen)[None]
    mu_b = torch.randn(3, 4, generator=gen, dtype=D)
    cov_b = torch.stack([rand_psd(4, gen) for _ in range(3)])
    batched = wasserstein2_gaussian(mu_a, cov_a, mu_b, cov_b)
    assert batched.shape == (3,)
    for i in range(3):
        assert float(batched[i]) == pytest.approx(float(wasserstein2_gaussian(mu_a[0], cov_a[0], mu_b[i], cov_b[i])))


@pytest.mark.parametrize("case", ["few_positions", "dead_channel", "constant_image"])
def test_gradients_finite_for_rank_deficient_covariance(gen, case):
    c = 8
    if case == "few_positions":  # H*W = 4 < C: rank <= 3
        f = torch.randn(1, c, 2, 2, generator=gen)
    elif case == "dead_channel":  # a ReLU channel that is zero everywhere
        f = torch.rand(1, c, 5, 5, generator=gen)
        f[:, 2] = 0
    else:  # zero covariance
        f = torch.ones(1, c, 3, 3)
    f.requires_grad_(True)
    style = torch.rand(1, c, 6, 6, generator=gen)
    mu_s, cov_s = gaussian_stats(style)
    mu, cov = gaussian_stats(f)
    d = wasserstein2_gaussian(mu_s, cov_s, mu, cov)
    d.sum().backward()
    assert torch.isfinite(d).all() and torch.isfinite(f.grad).all()
    # the value still matches a reference from the (clamped) explicit square roots
    r, cov_x = sqrtm_psd(cov_s[0]), cov.detach()[0]
    ref = (mu_s - mu.detach()).pow(2).sum() + cov_s[0].trace() + cov_x.trace() \
        - 2 * torch.linalg.eigvalsh(r @ cov_x @ r).clamp(min=0).sqrt().sum()
    assert float(d.detach()) == pytest.approx(float(ref), rel=1e-6, abs=1e-9)


def test_rank_deficient_style_side_also_finite(gen):
    style = torch.randn(1, 6, 1, 3, generator=gen)  # 3 positions, 6 channels
    f = torch.rand(1, 6, 4, 4, generator=gen, requires_grad=True)
    loss = wasserstein2_gaussian(*gaussian_stats(style), *gaussian_stats(f))
    loss.sum().backward()
    assert torch.isfinite(f.grad).all()


def test_gradcheck_custom_functions(gen):
    m = rand_psd(4, gen).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda x: trace_sqrtm(x), (m,))
    mu_a, cov_a = torch.randn(4, generator=gen, dtype=D), rand_psd(4, gen)
    mu_b = torch.randn(4, generator=gen, dtype=D).requires_grad_(True)
    cov_b = rand_psd(4, gen).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda u, s: wasserstein2_gaussian(mu_a, cov_a, u, s), (mu_b, cov_b))
    f = torch.randn(2, 3, 2, 3, generator=gen, dtype=D, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x: sum(t.sum() * (i + 1) for i, t in enumerate(gaussian_stats(x))), (f,))
    assert torch.autograd.gradcheck(lambda x: gaussian_stats(x)[1].pow(2).sum(), (f,))


def test_trace_sqrtm_gradient_is_half_inverse_sqrt(gen):
    m = rand_psd(5, gen).requires_grad_(True)
    trace_sqrtm(m).backward()
    expected = 0.5 * torch.linalg.inv(sqrtm_psd(m.detach()))
    assert torch.allclose(m.grad, expected, atol=1e-10)


def test_trace_sqrtm_repeated_eigenvalues(gen):
    m = torch.eye(4, dtype=D).requires_grad_(True)  # eigh's own backward would divide by 0
    value = trace_sqrtm(4 * m)
    value.backward()
    assert float(value.detach()) == pytest.approx(8.0)
    assert torch.allclose(m.grad, torch.eye(4, dtype=D))  # d/dm sum sqrt(4 m_ii) = 1


def test_sqrtm_psd(gen):
    a = rand_psd(6, gen)
    s = sqrtm_psd(a)
    assert torch.allclose(s @ s, a, atol=1e-10) and torch.allclose(s, s.T)
    q = rotation(4, gen)  # PSD with a -1e-15 eigenvalue from rounding
    b = q @ torch.diag(torch.tensor([2.0, 1.0, 0.0, -1e-15], dtype=D)) @ q.T
    sb = sqrtm_psd(b)
    assert torch.isfinite(sb).all() and torch.allclose(sb @ sb, b, atol=1e-10)


def test_loss_zero_for_own_features_and_style_terms_computed_once(gen, monkeypatch):
    layers = ("a", "b")
    monkeypatch.setattr(w2, "channels", lambda layer: 4)
    loss = WassersteinStyleLoss(layers, weight=2.0)
    assert loss.layer_weights == (0.25, 0.25) and loss.weight == 2.0
    feats = {"a": torch.rand(1, 4, 5, 5, generator=gen), "b": torch.rand(1, 4, 3, 3, generator=gen)}
    loss.set_target(feats)
    calls = []
    real = w2.sqrtm_psd
    monkeypatch.setattr(w2, "sqrtm_psd", lambda m: calls.append(m.shape) or real(m))
    image = torch.rand(1, 3, 8, 8)
    value = loss(feats, image)
    assert float(value) == pytest.approx(0.0, abs=1e-5)
    assert value.dtype == image.dtype and value.ndim == 0
    assert calls == []  # forward never takes a square root of the style covariance
    other = {k: v * 2 + 0.1 for k, v in feats.items()}
    assert float(loss(other, image)) > 0 and calls == []


def test_default_layer_weights_and_weight():
    loss = WassersteinStyleLoss()
    assert loss.layers == ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
    assert loss.layer_weights == (1 / 64, 1 / 128, 1 / 256, 1 / 512, 1 / 512)
    assert loss.weight == w2.DEFAULT_WEIGHT


def test_adam_steps_lower_the_loss():
    from vstlib.vgg import encoder

    layers = ("relu1_1", "relu2_1", "relu3_1")
    enc = encoder(layers)
    gen = torch.Generator().manual_seed(0)
    style = torch.rand(1, 3, 32, 32, generator=gen) * 0.5 + torch.tensor([0.5, 0.2, 0.0]).view(1, 3, 1, 1)
    loss_fn = WassersteinStyleLoss(layers, weight=1.0)
    with torch.no_grad():
        loss_fn.set_target(enc(style))
    x = torch.rand(1, 3, 32, 32, generator=gen).requires_grad_(True)
    opt = torch.optim.Adam([x], lr=0.02)
    values = []
    for _ in range(8):
        opt.zero_grad()
        value = loss_fn(enc(x), x)
        value.backward()
        assert torch.isfinite(x.grad).all()
        opt.step()
        values.append(float(value.detach()))
    assert values[-1] < 0.8 * values[0]
