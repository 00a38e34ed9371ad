"""Library helpers behind notebook 03's checks (issue 10): the output change of a network under an
input change (instance-norm invariance, noise amplification), the loss settings table, and the
FLOP count on the meta device."""

from __future__ import annotations

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from vstlib import johnson
from vstlib.gatys import GatysConfig
from vstlib.johnson import TrainConfig, loss_settings, output_change
from vstlib.transformer_net import TransformerNet, flops_per_frame

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _net(norm: str) -> TransformerNet:
    torch.manual_seed(0)
    return TransformerNet(norm, width=8).eval()


def test_output_change_reports_rms_gain_and_a_map_consistent_with_it():
    net, x = _net("none"), torch.rand(1, 3, 24, 40)
    changed = (x + 0.05 * torch.randn_like(x)).clamp(0, 1)
    c = output_change(net, x, changed)
    assert c.map.shape == (24, 40) and c.before.shape == x.shape
    assert c.input_rms == pytest.approx(float((changed - x).pow(2).mean().sqrt()), rel=1e-5)
    assert float(c.map.pow(2).mean().sqrt()) == pytest.approx(c.output_rms, rel=1e-4)  # the map holds the change
    assert c.gain == pytest.approx(c.output_rms / c.input_rms)
    assert torch.allclose(c.after, johnson.stylize_image(changed, net))


@pytest.mark.parametrize("a, b", [(0.5, 0.2), (2.0, -0.3), (0.5, (0.1, 0.2, 0.3))])
def test_instance_norm_removes_one_positive_scale_and_any_offset(a, b):
    x = torch.rand(1, 3, 32, 32)
    changed = a * x + torch.tensor(b).reshape(1, -1, 1, 1)
    inorm, bnorm = output_change(_net("instance"), x, changed), output_change(_net("batch"), x, changed)
    assert inorm.gain < 1e-3 and bnorm.gain > 10 * inorm.gain


@pytest.mark.parametrize("scale", [(0.5, 0.8, 1.0), (-1.0, -1.0, -1.0)])
def test_instance_norm_keeps_a_colour_cast_and_a_negative(scale):
    x = torch.rand(1, 3, 32, 32)
    changed = x * torch.tensor(scale).reshape(1, 3, 1, 1)
    shared = output_change(_net("instance"), x, 0.5 * x + 0.2).gain
    assert output_change(_net("instance"), x, changed).gain > 100 * shared


def test_loss_settings_follow_the_configs_and_the_loss_modules():
    net, gatys = loss_settings(TrainConfig(style_weight=2.0, tv_weight=1e-5)), loss_settings(GatysConfig())
    assert (net["content layers"], net["beta"], net["lambda_tv"]) == ("relu2_2", "2", "1e-05")
    assert gatys["content layers"] == "relu4_2" and gatys["beta"] == f"{GatysConfig().effective_style_weight:g}"
    assert net["w_l"] == gatys["w_l"] and net["w_l"].startswith(f"{1 / 64**2:.3g}")  # 1/C_l^2, relu1_1 first
    custom = loss_settings(GatysConfig(style_layer_weights=(0.2,) * 5))
    assert custom["w_l"] == ", ".join(["0.2"] * 5)


def test_flops_on_the_meta_device_equal_a_real_count_and_leave_the_model_alone():
    net = TransformerNet("instance", 8)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        net(torch.zeros(1, 3, 36, 64))
    assert flops_per_frame(net, 36, 64) == counter.get_total_flops() > 0
    assert all(v.device.type == "cpu" and torch.equal(v, before[k]) for k, v in net.state_dict().items())
