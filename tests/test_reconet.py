"""ReCoNet: the network, the temporal losses, frame pairs with flow, training through the shared
loop (checkpoint, resume), model files, the ``reconet`` method and ``vst train --arch reconet``."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

from vstlib import reconet
from vstlib.choices import LAYER_NAMES
from vstlib.errors import VstError
from vstlib.flow import warp
from vstlib.methods.reconet import ReconetConfig, ReconetTrainConfig
from vstlib.reconet import (FeatureTemporalLoss, OutputTemporalLoss, ReCoNet, feature_temporal_loss,
                            output_temporal_loss, relative_luminance)
from vstlib.training import FramePairs, PairBatch

pytestmark = pytest.mark.usefixtures("one_torch_thread")

TINY = ReconetTrainConfig(width=8, crop=32, batch=2, steps=3, checkpoint_every=2, warmup_steps=1,
                          content_layers=("relu2_2",), style_layers=("relu1_2", "relu2_2"), flow="farneback")


# --------------------------------------------------------------------------------------------
# Network
# --------------------------------------------------------------------------------------------


def _conv(cin, cout, k):
    return cin * cout * k * k + cout


def test_architecture_follows_the_paper():
    w = 48
    convs = [(3, w, 9), (w, 2 * w, 3), (2 * w, 4 * w, 3)] + [(4 * w, 4 * w, 3)] * 8 + [(4 * w, 2 * w, 3), (2 * w, w, 3),
                                                                                      (w, 3, 9)]
    norms = 2 * (w + 2 * w + 4 * w + 8 * 4 * w + 2 * w + w)  # instance norm after every convolution but the last
    model = ReCoNet()
    assert sum(p.numel() for p in model.parameters()) == sum(_conv(*c) for c in convs) + norms
    assert sum(isinstance(m, torch.nn.InstanceNorm2d) for m in model.modules()) == 3 + 8 + 2
    assert sum(isinstance(m, torch.nn.ReflectionPad2d) for m in model.modules()) == len(convs)
    assert model.config() == {"width": 48, "norm": "instance", "residual_blocks": 4}


@pytest.mark.parametrize("hw", [(17, 23), (32, 32), (29, 40)])
def test_any_size_in_the_same_size_out_and_the_feature_map(hw):
    torch.manual_seed(0)
    model = ReCoNet(width=8).eval()
    x = torch.rand(2, 3, *hw)
    with torch.no_grad():
        out, feats = model.forward_with_features(x)
        assert torch.equal(out, model(x))
        assert torch.equal(out, model.decode(model.encode(x), hw))
    assert out.shape == x.shape and 0 <= out.min() and out.max() <= 1
    assert feats.shape == (2, 32, -(-hw[0] // 4), -(-hw[1] // 4))


def test_vgg19_layers_for_the_papers_vgg16_layers():
    assert set(reconet.VGG16_TO_VGG19.values()) <= set(LAYER_NAMES)
    config = ReconetTrainConfig()
    assert config.content_layers == tuple(reconet.VGG16_TO_VGG19[n] for n in ("relu3_3",))
    assert config.style_layers == tuple(reconet.VGG16_TO_VGG19[n] for n in ("relu1_2", "relu2_2", "relu3_3", "relu4_3"))
    for vgg16, vgg19 in reconet.VGG16_TO_VGG19.items():  # the nearest receptive field within the same block
        block = vgg19.split("_")[0]
        candidates = [n for n in LAYER_NAMES if n.startswith(block + "_")]
        gap = abs(reconet.receptive_field(vgg19) - reconet.receptive_field(vgg16, "vgg16"))
        assert gap == min(abs(reconet.receptive_field(n) - reconet.receptive_field(vgg16, "vgg16")) for n in candidates)


# --------------------------------------------------------------------------------------------
# Temporal losses
# --------------------------------------------------------------------------------------------


def _translate(image, dx):
    """Content moved right by dx pixels (the left columns repeat the edge)."""
    out = image.roll(dx, dims=-1)
    out[..., :dx] = image[..., :1]
    return out


def test_zero_flow_and_identical_frames_cost_nothing():
    torch.manual_seed(0)
    f, o, i = torch.rand(2, 8, 6, 7), torch.rand(2, 3, 24, 28), torch.rand(2, 3, 24, 28)
    zero, one = torch.zeros(2, 2, 24, 28), torch.ones(2, 1, 24, 28)
    assert float(FeatureTemporalLoss(5.0)(f, f, zero, one)) < 1e-12
    assert float(OutputTemporalLoss(5.0)(o, o, i, i, zero, one)) < 1e-12
    assert float(FeatureTemporalLoss(5.0)(f + 0.1, f, zero, one)) == pytest.approx(5.0 * 0.01, rel=1e-5)
    # at the feature map's size: the mean over C h w of the masked squared difference
    half = torch.ones(2, 1, 6, 7)
    half[..., :3, :] = 0
    small_zero = torch.zeros(2, 2, 6, 7)
    assert float(feature_temporal_loss(f + 0.1, f, small_zero, half)) == pytest.approx(0.01 * 3 / 6, rel=1e-5)


def test_a_known_translation_warps_the_previous_output_onto_the_current():
    torch.manual_seed(0)
    prev_in, prev_out = torch.rand(1, 3, 20, 32), torch.rand(1, 3, 20, 32)
    cur_in, cur_out = _translate(prev_in, 3), _translate(prev_out, 3)  # everything moved 3 px right
    flow = torch.zeros(1, 2, 20, 32)
    flow[:, 0] = -3.0  # from t to t-1: pixel x of frame t was at x - 3
    mask = torch.ones(1, 1, 20, 32)
    mask[..., :3] = 0  # newly visible on the left: no previous pixel
    assert float(output_temporal_loss(cur_out, prev_out, cur_in, prev_in, flow, mask)) < 1e-10
    assert float(output_temporal_loss(cur_out, prev_out, cur_in, prev_in, flow * 0, mask)) > 1e-2  # no flow: a change
    # on the feature map (a quarter of the size), 4 px of input are one feature pixel
    f_prev = torch.rand(1, 8, 5, 8)
    f_cur = _translate(f_prev, 1)
    flow4 = torch.zeros(1, 2, 20, 32)
    flow4[:, 0] = -4.0
    mask4 = torch.ones(1, 1, 20, 32)
    mask4[..., :4] = 0
    small_flow, small_mask = reconet.feature_flow(flow4, mask4, (5, 8))
    assert torch.equal(small_flow[:, 0, :, 1:], torch.full((1, 5, 7), -1.0)) and small_mask[..., 0].sum() == 0
    assert small_mask.sum() == 5 * 7
    assert float(FeatureTemporalLoss()(f_cur, f_prev, flow4, mask4)) < 1e-10
    assert float(FeatureTemporalLoss()(f_cur, f_prev, flow4 * 0, mask4)) > 1e-2


def test_the_luminance_term_cancels_a_real_brightness_change_only():
    torch.manual_seed(0)
    i, o = 0.2 + 0.5 * torch.rand(1, 3, 8, 8), 0.2 + 0.5 * torch.rand(1, 3, 8, 8)
    zero, one = torch.zeros(1, 2, 8, 8), torch.ones(1, 1, 8, 8)
    d = 0.1
    brighter = i + d  # a global brightening: luminance +d
    assert float(output_temporal_loss(o + d, o, brighter, i, zero, one)) < 1e-12
    assert float(output_temporal_loss(o + d, o, brighter, i, zero, one, luminance=False)) == pytest.approx(3 * d**2)
    # the output changing in another way than the input's luminance is not excused
    red = o.clone()
    red[:, 0] += d
    assert float(output_temporal_loss(red, o, brighter, i, zero, one)) == pytest.approx(2 * d**2, rel=1e-5)
    # the input unchanged: any change of the output costs as without the term
    assert float(output_temporal_loss(o + d, o, i, i, zero, one)) == pytest.approx(3 * d**2, rel=1e-5)
    # a coloured change: only its luminance (0.2126 d for red) is excused
    red_in = i.clone()
    red_in[:, 0] += d
    assert float(output_temporal_loss(o + 0.2126 * d, o, red_in, i, zero, one)) < 1e-12
    assert float(relative_luminance(torch.tensor([1.0, 0.0, 0.0]).view(1, 3, 1, 1))) == pytest.approx(0.2126)


# --------------------------------------------------------------------------------------------
# Frame pairs and training
# --------------------------------------------------------------------------------------------


def _texture(h, w, shift):
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    x = x - shift
    return np.stack([128 + 90 * np.sin(x / 5.0 + k) * np.cos(y / 7.0 - k) for k in range(3)], -1).astype(np.uint8)


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    """A 12-frame clip, 96x64, whose texture moves 2 px right per frame."""
    from vstlib.io import VideoWriter

    path = tmp_path_factory.mktemp("clip") / "moving.mp4"
    with VideoWriter(path, fps=12, quality=10) as writer:
        for t in range(12):
            writer.write(_texture(64, 96, 2 * t))
    return path


@pytest.fixture(scope="module")
def pairs(clip, tmp_path_factory):
    return FramePairs([clip.parent], flow="farneback", pair_every=3, cache_dir=tmp_path_factory.mktemp("flows"))


def test_frame_pairs_from_a_folder_of_videos(pairs, clip):
    assert len(pairs) == 4 and "moving.mp4: 4 pairs" in pairs.described[0]  # t = 1, 4, 7, 10
    p = pairs.pairs[0]
    inner = p.mask[8:-8, 8:-8] > 0
    assert inner.mean() > 0.9
    assert np.median(p.flow[8:-8, 8:-8, 0]) == pytest.approx(-2.0, abs=0.25)  # t -> t-1: 2 px to the left
    batch = pairs.batch(np.random.default_rng(0), 3, 32)
    assert isinstance(batch, PairBatch)
    assert batch.previous.shape == batch.current.shape == (3, 3, 32, 32)
    assert batch.flow.shape == (3, 2, 32, 32) and batch.mask.shape == (3, 1, 32, 32)
    # the crops keep frames and flow aligned (also when flipped): the warped previous frame matches
    aligned = (warp(batch.previous, batch.flow) - batch.current).abs() * batch.mask
    unaligned = (batch.previous - batch.current).abs() * batch.mask
    assert float(aligned.sum()) < 0.5 * float(unaligned.sum())
    with pytest.raises(VstError, match="not a video"):
        FramePairs([_png(clip.parent)])
    with pytest.raises(VstError, match="not found"):
        FramePairs([clip.parent / "nope.mp4"])


def _png(folder):
    from PIL import Image

    path = folder.parent / "still.png"
    Image.fromarray(_texture(16, 16, 0)).save(path)
    return path


def test_flows_are_computed_once(clip, tmp_path, monkeypatch):
    cache = tmp_path / "flows"
    FramePairs([clip], flow="farneback", pair_every=5, cache_dir=cache)
    files = sorted(cache.rglob("*.flo"))
    assert len(files) == 2 * 3  # t = 1, 6, 11: both directions

    def fail(*args, **kwargs):
        raise AssertionError("recomputed a cached flow")

    monkeypatch.setattr("vstlib.flow.estimate_flow", fail)
    again = FramePairs([clip], flow="farneback", pair_every=5, cache_dir=cache)
    assert len(again) == 3


def test_sintel_pairs_have_ground_truth_flow(clip, tmp_path, data_dir):
    both = FramePairs([clip], flow="farneback", pair_every=20, sintel=True, max_side=256, cache_dir=tmp_path)
    sintel = both.pairs[1:]
    assert len(sintel) >= 2 and any("Sintel" in d for d in both.described)
    for p in sintel:
        assert p.current.shape[:2] == p.flow.shape[:2] == p.mask.shape[:2] and max(p.current.shape) == 256
        prev, cur = (torch.from_numpy(a).permute(2, 0, 1)[None].float() / 255 for a in (p.previous, p.current))
        m = torch.from_numpy(p.mask)[None, None]
        err = float(((warp(prev, p.flow) - cur).abs() * m).sum() / m.sum())
        still = float(((prev - cur).abs() * m).sum() / m.sum())
        assert err < 0.5 * still  # the ground truth aligns frame f+1 onto frame f


def test_training_on_pairs_checkpoints_and_resumes(style, pairs, tmp_path):
    whole = reconet.train(style, TINY, pairs, tmp_path / "whole", progress=False)
    assert whole.steps == 3 and (tmp_path / "whole" / "checkpoint.pt").is_file()
    losses = whole.losses
    assert losses["pixel"][0] > 0 and losses["style"][0] == 0  # the warm-up step
    assert all(v > 0 for k in ("content", "style", "temporal_f", "temporal_o") for v in losses[k][1:])
    rows = (tmp_path / "whole" / "losses.csv").read_text().splitlines()
    assert rows[0] == "step,total,content,style,tv,temporal_f,temporal_o,pixel" and len(rows) == 4
    assert (tmp_path / "whole" / "loss_curve.png").stat().st_size > 1000

    first = reconet.train(style, TINY.replace(steps=2), pairs, tmp_path / "split", progress=False)
    assert first.steps == 2
    rest = reconet.train(style, TINY, pairs, tmp_path / "split", progress=False)
    assert rest.resumed_from == 2 and rest.steps == 3
    np.testing.assert_allclose(rest.losses["total"], whole.losses["total"], rtol=1e-5)
    with pytest.raises(VstError, match="other settings"):
        reconet.train(style, TINY.replace(output_temporal_weight=1.0), pairs, tmp_path / "split", progress=False)


def test_temporal_losses_off_is_a_johnson_style_training(style, pairs, tmp_path):
    off = TINY.replace(feature_temporal_weight=0.0, output_temporal_weight=0.0, steps=2)
    result = reconet.train(style, off, pairs, tmp_path, progress=False)
    assert result.losses["temporal_f"] == [0.0, 0.0] and result.losses["temporal_o"] == [0.0, 0.0]
    from vstlib.johnson_train import TrainingImages

    images = TrainingImages([np.full((40, 40, 3), 100, np.uint8)])
    with pytest.raises(VstError, match="frame pairs"):
        reconet.train(style, TINY, images, tmp_path / "x", progress=False)


def test_a_johnson_folder_is_not_resumed_as_reconet(style, tmp_path):
    from vstlib.johnson import TrainConfig
    from vstlib.johnson_train import TrainingImages, train

    images = TrainingImages([np.full((40, 40, 3), 100, np.uint8)])
    train(style, TrainConfig(width=8, crop=32, batch=1, steps=1, content_layers=("relu1_2",),
                             style_layers=("relu1_1",)), images, tmp_path, progress=False)
    with pytest.raises(VstError, match="other settings"):
        reconet.train(style, TINY.replace(feature_temporal_weight=0.0, output_temporal_weight=0.0), images, tmp_path,
                      progress=False)


# --------------------------------------------------------------------------------------------
# Model files, the method, the command line
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_model(style, pairs, tmp_path_factory):
    folder = tmp_path_factory.mktemp("reconet_model")
    result = reconet.train(style, TINY.replace(steps=2), pairs, folder / "work", progress=False)
    return reconet.export_model(result.model, folder / "tiny.pth", TINY, {"style": "stripes"}), result.model


def test_export_and_load_round_trip(tiny_model, tmp_path):
    from vstlib import johnson

    path, model = tiny_model
    blob = torch.load(path, weights_only=True)
    assert blob["format"] == reconet.FORMAT
    assert all(v.dtype == torch.float16 for v in blob["state_dict"].values() if v.is_floating_point())
    loaded = reconet.load_model(path, "cpu")
    x = torch.rand(1, 3, 30, 42)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), model.eval()(x), atol=5e-3, rtol=0)
    assert isinstance(reconet.load_model(path.parent / "work" / "checkpoint.pt", "cpu"), ReCoNet)
    with pytest.raises(VstError, match="not a vstlib Johnson model"):
        johnson.load_model(path)
    with pytest.raises(VstError, match=r"not a vstlib ReCoNet model \(train one with `vst train --arch reconet`\)"):
        reconet.load_model(johnson.model_path(johnson.shipped_models()[0]))


def test_a_missing_model_names_the_training_command():
    with pytest.raises(VstError, match="vst train --arch reconet") as err:
        reconet.model_path("no_such_style")
    assert "\n" not in str(err.value)
    from vstlib import methods

    with pytest.raises(VstError, match="vst train --arch reconet"):
        methods.get("reconet").resolve_styles(ReconetConfig(), [])


def test_the_method_stylizes_a_clip_through_the_runner(tiny_model, bbb_path, tmp_path):
    from vstlib.io import probe_video, read_frames
    from vstlib.runner import stylize_video

    path, _ = tiny_model
    out = tmp_path / "reconet.mp4"
    res = stylize_video(bbb_path, None, out, "reconet", str(path), duration=0.25, progress=False)
    info = probe_video(out)
    assert res.n_frames == 6 and info.n_frames == 6 and info.has_audio
    written = next(iter(read_frames(out)))
    source = next(iter(read_frames(bbb_path, end=1)))
    assert written.shape == source.shape == (360, 640, 3)  # the input's resolution
    assert np.abs(written.astype(float) - source.astype(float)).mean() > 5  # stylized, not a copy


def _vst(*args):
    return subprocess.run([sys.executable, "-m", "vstlib", *map(str, args)], capture_output=True, text=True,
                          timeout=120)


def test_vst_train_arch_reconet_help_and_foreign_options(tmp_path, workdir):
    proc = _vst("train", "--arch", "reconet", "--help")
    assert proc.returncode == 0
    for flag in ("--feature-temporal-weight", "--output-temporal-weight", "--luminance", "--flow",
                 "--content-layers relu3_3"):
        assert flag in proc.stdout
    proc = _vst("train", "--arch", "johnson", "--flow", "dis", "--style", "udnie_picabia", "-o", tmp_path / "m.pth")
    assert proc.returncode == 2 and "--flow is not an option of --arch johnson" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and not (tmp_path / "m.pth").exists()


def test_vst_train_arch_reconet_writes_a_model_the_method_runs(clip, tmp_path, workdir):
    out = tmp_path / "r.pth"
    proc = _vst("train", "--arch", "reconet", "--style", "udnie_picabia", "--data", clip.parent, "--flow", "farneback",
                "--width", "8", "--crop", "32", "--batch", "1", "--steps", "2", "--content-layers", "relu1_2",
                "--style-layers", "relu1_2", "-o", out, "-q", "--device", "cpu")
    assert proc.returncode == 0, proc.stderr
    assert "wrote" in proc.stdout and (tmp_path / "r.train" / "checkpoint.pt").is_file()
    from vstlib.methods.reconet import ReconetTrainConfig as Config

    info = reconet.load_model(out)
    assert isinstance(info, ReCoNet) and info.width == 8
    stored = torch.load(out, weights_only=True)["train_config"]
    assert stored["flow"] == "farneback" and stored["output_temporal_weight"] == Config().output_temporal_weight


# --------------------------------------------------------------------------------------------
# Fine-tuning from existing weights (--init), the shipped model
# --------------------------------------------------------------------------------------------


def test_johnson_network_exposes_its_feature_map():
    from vstlib.transformer_net import TransformerNet

    net = TransformerNet("instance", 8).eval()
    x = torch.rand(2, 3, 30, 42)
    with torch.no_grad():
        out, feats = net.forward_with_features(x)
        expected = net.residuals(net.encoder(torch.nn.functional.pad(x, (0, 2, 0, 2), mode="reflect")))
    torch.testing.assert_close(out, net(x))
    torch.testing.assert_close(feats, expected)
    assert feats.shape == (2, 32, 8, 11)


def _barely(config):
    """Settings whose Adam steps hardly move the weights: the trained network stays its init."""
    return config.replace(lr=1e-9, warmup_steps=0, steps=1)


def test_init_from_a_reconet_model_starts_from_its_weights(style, pairs, tiny_model, tmp_path):
    path, model = tiny_model
    res = reconet.train(style, _barely(TINY).replace(init=str(path)), pairs, tmp_path / "ft", progress=False)
    assert isinstance(res.model, ReCoNet) and res.steps == 1
    fresh = reconet.train(style, _barely(TINY), pairs, tmp_path / "fresh", progress=False).model.eval()
    x = torch.rand(1, 3, 32, 40)
    with torch.no_grad():
        torch.testing.assert_close(res.model.eval()(x), reconet.load_model(path, "cpu")(x), atol=1e-4, rtol=0)
        assert float((fresh(x) - res.model(x)).abs().mean()) > 1e-3  # without init: other weights
    assert torch.load(tmp_path / "ft" / "checkpoint.pt", weights_only=True)["train_config"]["init"] == str(path)


def test_init_from_a_johnson_model_fine_tunes_it_as_a_johnson_network(style, pairs, tmp_path):
    from vstlib import johnson
    from vstlib.transformer_net import TransformerNet

    torch.manual_seed(1)
    source = johnson.export_model(TransformerNet("instance", 8), tmp_path / "j.pth")
    cfg = _barely(TINY).replace(init=str(source))
    res = reconet.train(style, cfg, pairs, tmp_path / "ft", progress=False)
    assert isinstance(res.model, TransformerNet)
    assert res.losses["temporal_f"][0] > 0 and res.losses["temporal_o"][0] > 0  # the temporal losses on its features
    assert torch.load(tmp_path / "ft" / "checkpoint.pt", weights_only=True)["format"] == johnson.FORMAT
    out = reconet.export_model(res.model, tmp_path / "ft.pth", cfg)
    loaded = johnson.load_model(out, "cpu")  # still a Johnson model file: --method johnson
    x = torch.rand(1, 3, 32, 40)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), johnson.load_model(source, "cpu")(x), atol=5e-3, rtol=0)
    assert johnson.model_train_config(out).width == cfg.width  # its stored ReCoNet settings still read
    with pytest.raises(VstError, match="neither a model file nor a shipped model"):
        reconet.train(style, cfg.replace(init=str(tmp_path / "nope.pth")), pairs, tmp_path / "x", progress=False)


def test_vst_train_init_option(tmp_path, workdir):
    proc = _vst("train", "--arch", "reconet", "--help")
    assert "--init MODEL" in proc.stdout
    proc = _vst("train", "--arch", "johnson", "--init", "starry_night_vangogh_w16", "--style", "udnie_picabia",
                "-o", tmp_path / "m.pth")
    assert proc.returncode == 2 and "--init is not an option of --arch johnson" in proc.stderr
    start = tmp_path / "start.pth"  # fine-tuning must not write over the model it starts from
    start.write_bytes(reconet.model_path("starry_night_vangogh").read_bytes())
    before = start.read_bytes()
    proc = _vst("train", "--arch", "reconet", "--init", start, "--style", "udnie_picabia", "-o", start)
    assert proc.returncode == 2 and "is the input file" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert start.read_bytes() == before


def test_the_shipped_model_loads_and_runs_as_the_method(clip, tmp_path):
    from vstlib.io import probe_video, read_frames
    from vstlib.runner import stylize_video

    assert "starry_night_vangogh" in reconet.shipped_models()
    blob = torch.load(reconet.model_path("starry_night_vangogh"), weights_only=True)
    assert blob["format"] == reconet.FORMAT
    assert all(v.dtype == torch.float16 for v in blob["state_dict"].values() if v.is_floating_point())
    model = reconet.load_model("starry_night_vangogh", "cpu")
    assert isinstance(model, ReCoNet)
    out = tmp_path / "shipped.mp4"
    res = stylize_video(clip, None, out, "reconet", "starry_night_vangogh", duration=0.5, progress=False, device="cpu")
    assert res.n_frames == 6 and probe_video(out).n_frames == 6
    written = next(iter(read_frames(out)))
    source = next(iter(read_frames(clip, end=1)))
    assert written.shape == source.shape and np.abs(written.astype(float) - source.astype(float)).mean() > 5


def test_vst_stylize_method_reconet_shipped_model_and_vst_models(clip, tmp_path, workdir):
    out = tmp_path / "cli.mp4"
    proc = _vst("stylize", clip, "--method", "reconet", "--model", "starry_night_vangogh", "-o", out, "-q",
                "--device", "cpu")
    assert proc.returncode == 0, proc.stderr
    assert out.is_file()
    proc = _vst("models")
    assert proc.returncode == 0
    listed = proc.stdout.split("ReCoNet networks")[1].split("Pretrained by")[0]  # the ReCoNet block
    assert "--method reconet" in listed and "starry_night_vangogh" in listed
