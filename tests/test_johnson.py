"""Johnson et al.'s feed-forward network: architecture, training (checkpoints, resume after kill -9),
model files, shipped models, and streaming video inference."""

from __future__ import annotations

import copy
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from vstlib import johnson
from vstlib.errors import VstError
from vstlib.johnson import JohnsonInference, TrainConfig, export_model, load_model
from vstlib.johnson_train import TrainingImages, train
from vstlib.transformer_net import PhaseUpsampleConv, TransformerNet, count_parameters, flops_per_frame, fold_upsampling

pytestmark = pytest.mark.usefixtures("one_torch_thread")

TINY = TrainConfig(width=8, crop=32, batch=2, steps=6, checkpoint_every=3, content_layers=("relu2_2",),
                   style_layers=("relu1_1", "relu2_1"))


def _conv(cin, cout, k):
    return cin * cout * k * k + cout


def test_parameter_count_and_flops_follow_the_architecture():
    w = 32
    convs = [(3, w, 9), (w, 2 * w, 3), (2 * w, 4 * w, 3)] + [(4 * w, 4 * w, 3)] * 10 + [(4 * w, 2 * w, 3), (2 * w, w, 3), (w, 3, 9)]
    norms = 2 * (w + 2 * w + 4 * w + 10 * 4 * w + 2 * w + w)  # instance norm: scale and shift per channel
    model = TransformerNet("instance", w)
    assert count_parameters(model) == sum(_conv(*c) for c in convs) + norms
    # 2 x multiply-adds at 1280x720: resolutions full, 1/2, 1/4 (encoder, residuals), 1/2, full (decoder)
    h, wd = 720, 1280
    size = {1: h * wd, 2: h * wd / 4, 4: h * wd / 16}
    at = [1, 2, 4] + [4] * 10 + [2, 1, 1]
    expected = sum(2 * cin * cout * k * k * size[s] for (cin, cout, k), s in zip(convs, at))
    assert flops_per_frame(model, h, wd) == pytest.approx(expected, rel=1e-9)
    assert 280e9 < expected < 290e9  # the "about 283 GFLOP per frame"
    half = TransformerNet("instance", 16)
    assert flops_per_frame(half, h, wd) < 0.3 * expected


@pytest.mark.parametrize("norm", ["instance", "none"])
def test_folded_upsampling_is_the_same_function_at_fewer_flops(norm):
    torch.manual_seed(0)
    model = TransformerNet(norm, 8).eval()
    for layer in model.modules():  # random biases and affine parameters too, not just the init
        if isinstance(layer, (torch.nn.Conv2d, torch.nn.InstanceNorm2d)):
            torch.nn.init.normal_(layer.bias, 0.0, 0.1)
    folded = fold_upsampling(copy.deepcopy(model))
    assert sum(isinstance(m, PhaseUpsampleConv) for m in folded.modules()) == 2
    for hw in ((36, 64), (29, 47)):  # sizes padded inside, and a non-square one
        x = torch.rand(2, 3, *hw)
        with torch.no_grad():
            expected, got = model(x), folded(x)
        assert (expected - got).abs().max() < 1e-5 and (expected - 0.5).abs().mean() > 1e-3
    # each resize-convolution costs 16/36 of before: decoder 3x3 convs at 1/2 and full resolution
    h, w = 720, 1280
    saved = 2 * (4 * 8 * 2 * 8 * 9 * h * w / 4 + 2 * 8 * 8 * 9 * h * w) * (1 - 16 / 36)
    assert flops_per_frame(model, h, w) - flops_per_frame(folded, h, w) == pytest.approx(saved, rel=0.02)  # +1 row and column of phase outputs


def test_prepare_model_does_not_change_the_callers_model():
    model = TransformerNet("instance", 8).eval()
    fast = johnson.prepare_model(model, johnson.JohnsonInference(), "cpu")
    assert not any(isinstance(m, PhaseUpsampleConv) for m in model.modules())
    assert any(isinstance(m, PhaseUpsampleConv) for m in fast.modules())
    x = torch.rand(1, 3, 32, 48)
    with torch.no_grad():
        assert torch.allclose(model(x), johnson.stylize_batch(fast, x.contiguous(memory_format=torch.channels_last)),
                              atol=1e-5)


@pytest.mark.parametrize("norm", ["instance", "batch", "none"])
def test_any_size_in_any_size_out_in_unit_range(norm):
    model = TransformerNet(norm, width=8).eval()
    x = torch.rand(2, 3, 37, 50)
    with torch.no_grad():
        y = model(x)
    assert y.shape == x.shape and float(y.min()) >= 0 and float(y.max()) <= 1


def test_instance_norm_ignores_the_inputs_contrast_and_brightness():
    """IN after the first convolution removes any per-image affine change of the input's
    intensities (reflection padding keeps a constant image constant): the stated reason why it
    lets the network impose the style's contrast. Batch norm (in eval) and no norm do not."""
    torch.manual_seed(0)
    x = torch.rand(1, 3, 32, 32)
    dimmer = 0.5 * x + 0.2
    outputs = {}
    for norm in ("instance", "batch", "none"):
        model = TransformerNet(norm, width=8).eval()
        with torch.no_grad():
            outputs[norm] = (model(x) - model(dimmer)).abs().max().item()
    assert outputs["instance"] < 2e-3
    assert outputs["batch"] > 20 * outputs["instance"] and outputs["none"] > 20 * outputs["instance"]


def test_bad_settings_are_one_line_errors():
    with pytest.raises(VstError, match="--norm"):
        TransformerNet("group")
    with pytest.raises(VstError, match="crop"):
        TrainConfig(crop=30)
    with pytest.raises(VstError, match="gram, wasserstein"):
        TrainConfig(style_loss="lab")
    with pytest.raises(VstError, match="--amp"):
        JohnsonInference(amp="fp8")


@pytest.fixture(scope="module")
def images():
    rng = np.random.default_rng(0)
    return TrainingImages([rng.integers(0, 256, (40 + 4 * i, 56, 3), dtype=np.uint8) for i in range(4)])


def test_training_images_crops(images, tmp_path):
    rng = np.random.default_rng(1)
    batch = images.batch(rng, 3, 32)
    assert batch.shape == (3, 3, 32, 32) and 0 <= float(batch.min()) and float(batch.max()) <= 1
    again = images.batch(np.random.default_rng(1), 3, 32)
    assert torch.equal(batch, again)  # seeded: a resumed run draws the same crops
    with pytest.raises(VstError, match="not found"):
        TrainingImages([tmp_path / "nope"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(VstError, match="no images"):
        TrainingImages([tmp_path / "empty"])


def test_training_lowers_the_loss(style, images, tmp_path):
    result = train(style, TINY.replace(steps=40, checkpoint_every=40, lr=5e-3), images, tmp_path, progress=False)
    total = result.losses["total"]
    assert len(total) == 40 and result.steps == 40
    assert np.mean(total[-8:]) < 0.8 * np.mean(total[:8])
    assert (tmp_path / "checkpoint.pt").is_file() and (tmp_path / "loss_curve.png").stat().st_size > 1000
    rows = (tmp_path / "losses.csv").read_text().splitlines()
    assert rows[0] == "step,total,content,style,tv,pixel" and len(rows) == 41


def test_warmup_learns_the_identity_first(style, tmp_path):
    rng = np.random.default_rng(0)

    def smooth(h, w):  # reproducible in a few steps, unlike noise
        y, x = np.mgrid[0:h, 0:w] / 16.0
        return np.stack([128 + 100 * np.sin(x * rng.uniform(0.5, 2) + y * rng.uniform(0.5, 2) + k) for k in range(3)],
                        -1).astype(np.uint8)

    photos = TrainingImages([smooth(40 + 4 * i, 56) for i in range(4)])
    result = train(style, TINY.replace(steps=32, warmup_steps=30, lr=2e-3), photos, tmp_path, progress=False)
    pixel, style_loss = result.losses["pixel"], result.losses["style"]
    assert all(p > 0 for p in pixel[:30]) and all(p == 0 for p in pixel[30:])
    assert all(s == 0 for s in style_loss[:30]) and all(s > 0 for s in style_loss[30:])
    assert np.mean(pixel[25:30]) < 0.6 * np.mean(pixel[:5])  # it does learn to reproduce the input
    with pytest.raises(VstError, match="--warmup-steps"):
        TrainConfig(steps=5, warmup_steps=5)


def test_resumed_training_equals_an_uninterrupted_run(style, images, tmp_path):
    whole = train(style, TINY, images, tmp_path / "whole", progress=False)
    first = train(style, TINY.replace(steps=3), images, tmp_path / "split", progress=False)
    assert first.steps == 3
    rest = train(style, TINY, images, tmp_path / "split", progress=False)
    assert rest.resumed_from == 3 and rest.steps == 6
    np.testing.assert_allclose(rest.losses["total"], whole.losses["total"], rtol=1e-5)
    for a, b in zip(rest.model.state_dict().values(), whole.model.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)
    with pytest.raises(VstError, match="other settings"):
        train(style, TINY.replace(width=16), images, tmp_path / "split", progress=False)


def test_export_is_float16_and_loads_weights_only(style, images, tmp_path):
    result = train(style, TINY.replace(steps=2), images, tmp_path / "w", progress=False)
    path = export_model(result.model, tmp_path / "m.pth", TINY, {"style": "stripes"})
    blob = torch.load(path, weights_only=True)
    assert all(v.dtype == torch.float16 for v in blob["state_dict"].values() if v.is_floating_point())
    model = load_model(path, "cpu")
    x = torch.rand(1, 3, 32, 40)
    with torch.no_grad():
        torch.testing.assert_close(model(x), result.model.eval()(x), atol=5e-3, rtol=0)
    assert johnson.model_info(path)["info"]["style"] == "stripes"
    # a training checkpoint loads too
    assert isinstance(load_model(tmp_path / "w" / "checkpoint.pt", "cpu"), TransformerNet)
    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"not a model")
    with pytest.raises(VstError, match="cannot read model"):
        load_model(bad)
    with pytest.raises(VstError, match="shipped models"):
        load_model("no_such_model")


# --------------------------------------------------------------------------------------------
# Shipped models
# --------------------------------------------------------------------------------------------


def test_shipped_models_load_are_small_and_have_a_card():
    names = johnson.shipped_models()
    assert len(names) >= 2
    card = (Path(johnson.__file__).parent / "models" / "MODEL_CARD.md").read_text()
    for name in names:
        path = johnson.model_path(name)
        assert path.stat().st_size < 10e6
        assert name in card
        info = johnson.model_info(name)
        assert info["train_config"]["steps"] > 0 and info["info"]["steps"] > 0
        model = load_model(name, "cpu")
        x = torch.rand(1, 3, 36, 64)
        with torch.no_grad():
            y = model(x)
        assert y.shape == x.shape and (y - x).abs().mean() > 0.05  # it does change the image


@pytest.mark.parametrize("name", johnson.shipped_models())
def test_shipped_model_moves_a_frame_toward_its_style(name, data_dir):
    """Not just any change: the output's Gram style loss against the model's own painting, at the
    model's training layers, weights and style scale, is well below the input frame's."""
    from vstlib import data, io
    from vstlib.gatys import load_style

    info = johnson.model_info(name)
    config = TrainConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in info["train_config"].items()})
    style = load_style(data.resolve(info["info"]["style"], "style"))
    frame = io.to_tensor(johnson.holdout_frame(max_side=128))  # never seen in training
    out = johnson.stylize_image(frame, load_model(name, "cpu"))
    before, after = johnson.gram_style_loss([frame, out], style, config, "cpu")
    assert after < 0.5 * before, f"{name}: style loss {before:.4g} -> {after:.4g}"
    # and a frame stylized by another painting's model is not closer to this one than to its own
    other = [n for n in johnson.shipped_models() if johnson.model_info(n)["info"]["style"] != info["info"]["style"]]
    for foreign in other[:1]:
        foreign_out = johnson.stylize_image(frame, load_model(foreign, "cpu"))
        assert after < johnson.gram_style_loss([foreign_out], style, config, "cpu")[0], foreign


def test_loss_plot_for_a_file_leaves_pyplot_alone(tmp_path, monkeypatch):
    """Training writes loss_curve.png from inside notebooks: that must not switch the kernel's
    matplotlib backend (every later figure would vanish) nor leave a pyplot figure open."""
    import matplotlib
    import matplotlib.pyplot as plt

    def no_switch(*args, **kwargs):
        raise AssertionError(f"backend switched: {args}")

    plt.close(plt.figure())  # pyplot resolves its backend once, on first use
    monkeypatch.setattr(matplotlib, "use", no_switch)
    monkeypatch.setattr(plt, "switch_backend", no_switch)
    open_before = plt.get_fignums()
    losses = {"total": [3.0, 2.0, 1.5, 1.0], "content": [1.0, 1.0, 0.9, 0.8], "style": [2.0, 1.0, 0.6, 0.2]}
    fig = johnson.plot_training_losses(losses, tmp_path / "curve.png", smooth=2)
    assert plt.get_fignums() == open_before
    assert (tmp_path / "curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [line.get_label() for line in fig.axes[0].get_lines() if not line.get_label().startswith("_")] == \
        ["total", "content", "style"]
    # without a file it is a pyplot figure, for Jupyter to show
    shown = johnson.plot_training_losses(losses)
    assert plt.fignum_exists(shown.number)
    plt.close(shown)


# --------------------------------------------------------------------------------------------
# Video
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_model(style, images, tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny_model")
    result = train(style, TINY.replace(steps=2), images, folder / "work", progress=False)
    return export_model(result.model, folder / "tiny.pth", TINY)


def test_johnson_video_keeps_frames_fps_and_audio(bbb_path, tiny_model, tmp_path):
    from vstlib.io import probe_video, read_frames
    from vstlib.video import stylize_video

    out = tmp_path / "fast.mp4"
    res = stylize_video(bbb_path, None, out, "johnson", JohnsonInference(model=str(tiny_model), batch=4),
                        max_side=64, duration=0.5, progress=False)
    info = probe_video(out)
    assert res.n_frames == 12 and info.n_frames == 12 and info.has_audio
    assert info.fps == pytest.approx(24, abs=0.01)
    written = list(read_frames(out))
    source = list(read_frames(bbb_path, max_side=64, end=12))
    assert np.abs(written[0][:36].astype(float) - source[0].astype(float)).mean() > 5  # stylized, not a copy
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fast.mp4"]  # no cache, no temp files


def test_johnson_video_error_leaves_no_output(bbb_path, tiny_model, tmp_path, monkeypatch):
    from vstlib.video import stylize_video

    calls, original = [], johnson.stylize_batch

    def failing(model, frames, amp=None):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("CUDA out of memory (simulated)")
        return original(model, frames, amp)

    monkeypatch.setattr(johnson, "stylize_batch", failing)
    with pytest.raises(RuntimeError, match="simulated"):
        stylize_video(bbb_path, None, tmp_path / "x.mp4", "johnson", JohnsonInference(model=str(tiny_model), batch=2),
                      max_side=32, duration=0.5, progress=False)
    time.sleep(0.2)
    assert list(tmp_path.iterdir()) == []


def test_johnson_video_resumes_after_an_interrupt(bbb_path, tiny_model, tmp_path, monkeypatch):
    """Ctrl-C keeps the finished parts (PART_SECONDS of output each); the same call resumes."""
    from vstlib import runner
    from vstlib.io import probe_video
    from vstlib.video import stylize_video

    monkeypatch.setattr(runner, "PART_SECONDS", 0.25)  # 6 frames per part at 24 fps
    calls, original = [], johnson.stylize_batch

    def interrupting(model, frames, amp=None):
        calls.append(len(frames))
        if len(calls) == 5:  # after 8 frames: one whole part of 6
            raise KeyboardInterrupt
        return original(model, frames, amp)

    monkeypatch.setattr(johnson, "stylize_batch", interrupting)
    kwargs = dict(max_side=32, duration=1.0, progress=False)
    inference = JohnsonInference(model=str(tiny_model), batch=2)
    out = tmp_path / "o.mp4"
    with pytest.raises(KeyboardInterrupt):
        stylize_video(bbb_path, None, out, "johnson", inference, **kwargs)
    assert not out.exists()
    (parts,) = [p for p in tmp_path.iterdir() if p.name.startswith(".o.mp4.vst-")]
    assert sorted(p.name for p in parts.glob("part_*")) == ["part_000000_000006.mp4"]
    monkeypatch.setattr(johnson, "stylize_batch", original)
    res = stylize_video(bbb_path, None, out, "johnson", inference, **kwargs)
    assert res.resumed_frames == 6 and len(res.seconds_per_frame) == 18
    info = probe_video(out)
    assert info.n_frames == 24 and info.has_audio and info.duration == pytest.approx(1.0, abs=0.1)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o.mp4"]


def test_johnson_luminance_keeps_the_chroma(bbb_path, tiny_model, tmp_path):
    from vstlib import color
    from vstlib.io import read_frames, to_tensor
    from vstlib.video import stylize_video

    out = tmp_path / "lum.mp4"
    stylize_video(bbb_path, None, out, "johnson", JohnsonInference(model=str(tiny_model)), max_side=64,
                  duration=0.25, progress=False, preserve_color="luminance")
    got = to_tensor(next(iter(read_frames(out))))[..., :36, :]
    src = to_tensor(next(iter(read_frames(bbb_path, max_side=64))))
    assert (color.rgb_to_yiq(got)[:, 1:] - color.rgb_to_yiq(src)[:, 1:]).abs().mean() < 0.02


# --------------------------------------------------------------------------------------------
# Command line: train, resume after kill -9, stylize
# --------------------------------------------------------------------------------------------


def _vst(*args, **kwargs):
    return subprocess.Popen([sys.executable, "-m", "vstlib", *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kwargs)


@pytest.mark.slow
def test_train_is_resumed_after_kill_9(tmp_path, data_dir):
    from PIL import Image

    rng = np.random.default_rng(0)
    for i in range(3):
        Image.fromarray(rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)).save(tmp_path / f"img{i}.png")
    args = ["train", "--style", "udnie_picabia", "--data", tmp_path, "--crop", "32", "--batch", "1", "--width", "8",
            "--steps", "120", "--checkpoint-every", "5", "--content-layers", "relu1_2", "-o", tmp_path / "m.pth", "-q",
            "--device", "cpu"]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = _vst(*args, env=env)
    ckpt = tmp_path / "m.train" / "checkpoint.pt"
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if ckpt.is_file() and torch.load(ckpt, weights_only=True)["step"] >= 10:
            break
        time.sleep(0.2)
    assert proc.poll() is None, proc.communicate()
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    step = torch.load(ckpt, weights_only=True)["step"]
    assert 10 <= step < 120 and not (tmp_path / "m.pth").exists()
    proc = _vst(*args, env=env)
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err
    assert f"resumed at step {step - step % 5}" in out or f"resumed at step {step}" in out, out
    assert torch.load(ckpt, weights_only=True)["step"] == 120
    assert len((tmp_path / "m.train" / "losses.csv").read_text().splitlines()) == 121
    assert isinstance(load_model(tmp_path / "m.pth"), TransformerNet)
