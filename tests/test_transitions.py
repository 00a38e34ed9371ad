"""vstlib.transitions: fades rendered in pixel vs embedding space, and the statistics comparing them."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vstlib.errors import VstError
from vstlib.methods.arbitrary import ArbitraryConfig, ArbitraryFrames
from vstlib.methods.base import FrameItem
from vstlib.transitions import (compare_transition, consecutive_change, energy_ratio, fade_weights, pca_2d,
                                style_vectors, texture_energy)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def fade():
    g = torch.Generator().manual_seed(0)
    frames = torch.rand(6, 3, 24, 32, generator=g)
    a, b = torch.rand(1, 3, 40, 40, generator=g), torch.rand(1, 3, 30, 50, generator=g) ** 3
    return frames, a, b, compare_transition(frames, a, b, [0.0, 0.0, 0.25, 0.5, 1.0, 1.0])


def test_pixel_fade_is_what_the_method_renders_in_pixel_space(fade):
    frames, a, b, tr = fade
    session = ArbitraryFrames([a, b], ArbitraryConfig(mix_space="pixel"), torch.device("cpu"))
    out = session.stylize([FrameItem(3, None, frames[3:4], ((0, 0.5), (1, 0.5)))])
    torch.testing.assert_close(out[0], tr.pixel[3], atol=1e-5, rtol=0)


def test_embedding_fade_equals_the_pure_styles_at_the_ends_and_differs_from_the_pixel_mix_inside(fade):
    _, _, _, tr = fade
    torch.testing.assert_close(tr.embedding[:2], tr.style_a[:2], atol=1e-5, rtol=0)
    torch.testing.assert_close(tr.embedding[4:], tr.style_b[4:], atol=1e-5, rtol=0)
    assert float((tr.embedding[3] - tr.pixel[3]).abs().mean()) > 1e-3
    assert tr.inside().tolist() == [False, False, True, True, False, False]


def test_energy_ratio_is_one_outside_the_fade(fade):
    tr = fade[3]
    for space in ("pixel", "embedding"):
        r = energy_ratio(tr, space)
        np.testing.assert_allclose(r[[0, 1, 4, 5]], 1.0, rtol=1e-5)
    with pytest.raises(VstError):
        energy_ratio(tr, "colour")


def test_texture_energy_of_a_blend_of_unrelated_textures_drops_to_sqrt_half():
    g = torch.Generator().manual_seed(1)
    a, b = torch.rand(2, 3, 128, 128, generator=g)
    ratio = float(texture_energy(0.5 * a + 0.5 * b) / texture_energy(a))
    assert ratio == pytest.approx(0.5**0.5, abs=0.02)
    assert float(texture_energy(a + 0.1)) == pytest.approx(float(texture_energy(a)), rel=1e-5)  # offsets do not count


def test_consecutive_change_is_zero_for_a_still_output_and_grows_with_flicker():
    g = torch.Generator().manual_seed(2)
    scene = torch.rand(1, 3, 32, 32, generator=g).expand(4, -1, -1, -1).contiguous()
    still = consecutive_change(scene, scene)
    noisy = consecutive_change(scene, (scene + 0.1 * torch.randn(4, 3, 32, 32, generator=g)).clamp(0, 1))
    assert still.shape == (3,) and float(still.max()) < 1e-4  # rounding to 8 bits for the flow
    assert float(noisy.min()) > 1e-3


def test_pca_2d_finds_the_main_axis_and_projects_new_points():
    g = torch.Generator().manual_seed(3)
    v = torch.randn(20, 1, generator=g) * torch.tensor([[5.0, 0.0, 0.0]]) + 0.01 * torch.randn(20, 3, generator=g)
    p = pca_2d(v)
    assert float(p.explained[0]) > 0.99 and abs(float(p.axes[0, 0])) > 0.99
    np.testing.assert_allclose(p.project(v[:3]).numpy(), p.coords[:3].numpy(), atol=1e-5)
    with pytest.raises(VstError):
        pca_2d(torch.zeros(1, 3))


def test_style_vectors_of_one_painting_do_not_depend_on_how_it_is_passed():
    img = torch.rand(1, 3, 50, 70, generator=torch.Generator().manual_seed(4))
    torch.testing.assert_close(style_vectors([img]), style_vectors(img))
    assert float((style_vectors(img) - style_vectors(img.flip(-1) ** 2)).abs().mean()) > 1e-3


def test_fade_weights_match_the_runner_schedule_and_bad_fades_are_refused():
    assert fade_weights(5, 1.0, 2) == [0.0, 0.0, 0.25, 0.75, 1.0]  # change at 2.5 s
    with pytest.raises(VstError):
        fade_weights(4, 1.0, 10)
