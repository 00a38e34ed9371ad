"""vstlib.selfie_net: MediaPipe's selfie segmentation networks in PyTorch (shipped weights, offline)."""

import numpy as np
import pytest
import torch

from vstlib.errors import VstError
from vstlib.selfie_net import (
    FORMAT,
    INPUT_SIZES,
    MODELS_DIR,
    WEIGHT_FILES,
    SameConv2d,
    SelfieSegmenter,
    load_selfie,
    person_masks,
    pick_variant,
)


@pytest.mark.parametrize("variant", ["general", "landscape"])
def test_shipped_weights_load_with_weights_only(variant):
    blob = torch.load(MODELS_DIR / WEIGHT_FILES[variant], map_location="cpu", weights_only=True)
    assert blob["format"] == FORMAT
    assert len(blob["source_sha256"]) == 64 and blob["license"].startswith("Apache-2.0")
    expected = SelfieSegmenter().state_dict()
    assert blob["state_dict"].keys() == expected.keys()
    for key, value in blob["state_dict"].items():
        assert value.dtype == torch.float16 and value.shape == expected[key].shape, key
        assert torch.isfinite(value).all(), key
    net = load_selfie(variant)
    assert net is load_selfie(variant)  # cached per process
    assert not net.training and not any(p.requires_grad for p in net.parameters())
    # float16 widened to float32 exactly: the loaded weights are the stored values
    assert torch.equal(net.stem.weight, blob["state_dict"]["stem.weight"].float())


@pytest.mark.parametrize("variant", ["general", "landscape"])
def test_output_shape_and_range(variant):
    h, w = INPUT_SIZES[variant]
    x = torch.rand(2, 3, h, w, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        y = load_selfie(variant)(x)
    assert y.shape == (2, 1, h, w)
    assert torch.isfinite(y).all() and y.min() >= 0 and y.max() <= 1


def test_person_masks_resizes_back_and_is_per_frame():
    g = torch.Generator().manual_seed(1)
    frames = torch.rand(3, 3, 90, 160, generator=g)
    masks = person_masks(frames)
    assert masks.shape == (3, 1, 90, 160) and masks.dtype == torch.float32
    assert masks.min() >= 0 and masks.max() <= 1
    # a batch is the same as frame by frame
    torch.testing.assert_close(masks[1:2], person_masks(frames[1:2]), atol=1e-5, rtol=0)
    # one frame [3, H, W] -> [1, H, W]; odd and portrait sizes; upscaling small frames
    assert person_masks(frames[0]).shape == (1, 90, 160)
    assert person_masks(torch.rand(1, 3, 37, 53), "general").shape == (1, 1, 37, 53)
    assert person_masks(torch.rand(1, 3, 400, 300)).shape == (1, 1, 400, 300)


def test_pick_variant_by_aspect_ratio():
    assert pick_variant(360, 640) == "landscape"  # 16:9
    assert pick_variant(436, 1024) == "landscape"  # 2.35:1
    assert pick_variant(480, 640) == "general"  # 4:3 is the boundary, stays general
    assert pick_variant(256, 256) == "general"
    assert pick_variant(640, 360) == "general"  # portrait


def test_user_mistakes_raise_one_clear_error():
    with pytest.raises(VstError, match="multiples of 16"):
        SelfieSegmenter()(torch.rand(1, 3, 100, 100))
    with pytest.raises(VstError, match=r"\[B, 3, H, W\]"):
        person_masks(torch.rand(1, 1, 64, 64))
    with pytest.raises(VstError, match="general, landscape"):
        person_masks(torch.rand(1, 3, 64, 64), variant="portrait")
    with pytest.raises(VstError, match="divide uint8 frames by 255"):
        person_masks(torch.zeros(1, 3, 64, 64, dtype=torch.uint8))
    with pytest.raises(VstError, match="general, landscape"):
        load_selfie("portrait")


def test_same_padding_puts_the_extra_pixel_after_like_tensorflow():
    """Stride 2, 3x3, even size: TensorFlow pads 0 before and 1 after, so a kernel that picks
    its top-left tap reads x[2i, 2j]; PyTorch's symmetric padding would read x[2i - 1, 2j - 1]."""
    conv = SameConv2d(1, 1, 3, stride=2)
    with torch.no_grad():
        conv.weight.zero_()
        conv.weight[0, 0, 0, 0] = 1
        conv.bias.zero_()
        x = torch.arange(64.0).reshape(1, 1, 8, 8)
        torch.testing.assert_close(conv(x), x[:, :, ::2, ::2], atol=0, rtol=0)
        # 5x5 stride 2 on 8: total padding 3 -> 1 before, 2 after; the top-left tap reads x[2i - 1]
        conv5 = SameConv2d(1, 1, 5, stride=2)
        conv5.weight.zero_()
        conv5.weight[0, 0, 1, 1] = 1
        conv5.bias.zero_()
        torch.testing.assert_close(conv5(x), x[:, :, ::2, ::2], atol=0, rtol=0)
        # stride 1 keeps the size, symmetric
        assert SameConv2d(1, 1, 5)(x).shape == x.shape


def _tears_of_steel_frame(index: int) -> torch.Tensor:
    from vstlib.data import fetch
    from vstlib.io import read_frames

    frame = next(read_frames(fetch("video/tears_of_steel_640x360_10s.mp4"), start=index, end=index + 1))
    return torch.from_numpy(np.ascontiguousarray(frame)).permute(2, 0, 1)[None].float() / 255


@pytest.mark.parametrize("variant", ["general", "landscape"])
def test_real_frame_mask_covers_the_person_and_not_the_background(data_dir, variant):
    """Tears of Steel frame 48: a man standing on a bridge, full height, in columns ~160-250 of
    640 (checked by eye); the rest is trees, railings and a robot. Frame 0: only the robot."""
    man = person_masks(_tears_of_steel_frame(48), variant)[0, 0]
    assert man.shape == (360, 640)
    assert man[:, 150:260].mean() > 0.3  # the man's column band (measured about 0.5)
    assert man[:, :120].mean() < 0.02 and man[:, 300:].mean() < 0.02  # background on both sides
    assert man[100:300, 185:230].mean() > 0.7  # his torso and legs
    robot = person_masks(_tears_of_steel_frame(0), variant)[0, 0]
    assert robot.mean() < 0.01


def test_real_close_up_is_mostly_person_on_the_right(data_dir):
    """Frame 120: a close-up of a man (right half) with a second person half hidden at left."""
    mask = person_masks(_tears_of_steel_frame(120))[0, 0]  # 16:9 -> landscape
    assert 0.25 < mask.mean() < 0.75
    assert mask[:, 420:600].mean() > 0.6
    assert mask[:, 420:600].mean() > 3 * mask[:60, :100].mean()
