"""The method registry (vstlib.methods) and the runner's method-independent parts: style mixes
per frame, post steps, the `none` method, resuming a sequential method exactly."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest
import torch

import vstlib
from vstlib import methods
from vstlib.errors import VstError
from vstlib.io import probe_video, read_frames
from vstlib.methods.base import Method, Session, register

pytestmark = pytest.mark.usefixtures("one_torch_thread")
ROOT = Path(__file__).resolve().parents[1]


def test_registry_lists_every_method_once():
    assert methods.names()[:4] == ["none", "gatys", "ruder", "johnson"]
    for m in methods.methods():
        assert m.summary and m.Config is not None and m.style_kind in ("image", "model", "none")
    with pytest.raises(ValueError, match="registered twice"):
        register(type("Again", (Method,), {"name": "gatys"}))


def test_no_code_outside_the_registry_branches_on_a_method_name():
    """Comparisons like `method == "ruder"` belong nowhere but the method modules."""
    offenders = []
    names = set(methods.names())
    for path in (ROOT / "vstlib").rglob("*.py"):
        if path.parent.name == "methods":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Compare):
                consts = [c.value for c in [node.left, *node.comparators] if isinstance(c, ast.Constant)]
                names_used = [n for n in ast.walk(node) if isinstance(n, ast.Name) and "method" in n.id.lower()]
                attrs = [n for n in ast.walk(node) if isinstance(n, ast.Attribute) and "method" in n.attr.lower()]
                if names & set(c for c in consts if isinstance(c, str)) and (names_used or attrs):
                    offenders.append(f"{path.name}:{node.lineno}")
    assert offenders == []


@pytest.fixture(scope="module")
def clip(tmp_path_factory, bbb_path) -> Path:
    """12 frames of the sample clip at 64x36, with its audio (a quick input for every runner test)."""
    out = tmp_path_factory.mktemp("clip") / "clip.mp4"
    vstlib.stylize_video(bbb_path, None, out, "none", max_side=64, duration=0.5, progress=False)
    return out


def test_none_passes_frames_through(clip, tmp_path):
    out = tmp_path / "same.mp4"
    result = vstlib.stylize_video(clip, None, out, "none", progress=False)
    assert (result.width, result.height, result.n_frames) == (64, 36, 12)
    a = np.stack(list(read_frames(clip))).astype(float)
    b = np.stack(list(read_frames(out))).astype(float)
    assert np.abs(a - b).mean() < 3.0  # one more H.264 generation, nothing else
    assert probe_video(out).has_audio


class Tint(Session):
    """A per-frame method whose output shows which style mix it got: style k paints channel k."""

    batch_size = 3

    def stylize(self, items):
        out = []
        for item in items:
            colour = torch.zeros(3)
            for k, w in item.mix:
                colour[k] += w
            out.append(colour.view(1, 3, 1, 1).expand_as(item.content).clone())
        return torch.cat(out)


class TintMethod(Method):
    name = "test-tint"
    summary = "test only"
    Config = methods.get("none").Config
    style_kind = "none"
    native_resolution = True

    def prepare(self, config, styles, device, workdir=None):
        return Tint()


@pytest.fixture
def tint():
    """The Tint method, registered for one test (a method added from outside the library)."""
    from vstlib.methods import base

    register(TintMethod)
    yield TintMethod.name
    del base._REGISTRY[TintMethod.name]


def test_per_frame_style_schedule_and_post_steps(clip, tmp_path, tint):
    """Frame i gets the schedule's mix (a transition from style 0 to 1 here); post steps run in order."""
    seen = []

    def schedule(i):
        t = i / 11
        return ((0, 1 - t), (1, t)) if 0 < t < 1 else (0 if t == 0 else 1)

    def record(image, item):
        seen.append(item.index)
        return image

    out = tmp_path / "tint.mp4"
    vstlib.stylize_video(clip, ["first", "second"], out, "test-tint", schedule=schedule, post_steps=[record],
                         progress=False)
    frames = np.stack(list(read_frames(out))).astype(float) / 255
    red, green = frames[..., 0].mean(axis=(1, 2)), frames[..., 1].mean(axis=(1, 2))
    assert seen == list(range(12))
    assert red[0] > 0.9 and green[0] < 0.1 and red[-1] < 0.1 and green[-1] > 0.9
    assert np.all(np.diff(red) < 0.02) and np.all(np.diff(green) > -0.02)  # a monotone cross-fade


def test_schedule_with_a_bad_index_is_one_error(clip, tmp_path, tint):
    with pytest.raises(VstError, match="style indices 0..0"):
        vstlib.stylize_video(clip, None, tmp_path / "x.mp4", "test-tint", schedule=lambda i: 3, progress=False)
    assert list(tmp_path.iterdir()) == []


def test_gatys_mix_of_two_gram_targets_is_their_weighted_mean():
    """Mixing Gram targets gives the gradient of the weighted sum of the two style losses."""
    from vstlib.gatys import GatysStylizer

    gen = torch.Generator().manual_seed(0)
    s0, s1 = torch.rand(1, 3, 32, 32, generator=gen), torch.rand(1, 3, 32, 32, generator=gen)
    image = torch.rand(1, 3, 32, 32, generator=gen, requires_grad=True)
    config = vstlib.GatysConfig(content_weight=0.0, style_layers=("relu1_1", "relu2_1"))
    mixed = GatysStylizer(s0, config, styles=[s0, s1], device="cpu")
    mixed.set_style_mix(((0, 0.25), (1, 0.75)))
    mixed.set_content(image.detach())
    (g_mix,) = torch.autograd.grad(mixed.objective(image), image)
    grads = []
    for s in (s0, s1):
        single = GatysStylizer(s, config, device="cpu")
        single.set_content(image.detach())
        grads.append(torch.autograd.grad(single.objective(image), image)[0])
    expected = 0.25 * grads[0] + 0.75 * grads[1]
    torch.testing.assert_close(g_mix, expected, rtol=1e-3, atol=1e-4 * float(expected.abs().max()))


def test_johnson_keeps_the_input_resolution(clip, tmp_path):
    result = vstlib.stylize_video(clip, "starry_night_vangogh_w16", tmp_path / "j.mp4", "johnson", progress=False)
    assert (result.width, result.height) == (64, 36)
    assert (probe_video(tmp_path / "j.mp4").width, probe_video(tmp_path / "j.mp4").height) == (64, 36)
