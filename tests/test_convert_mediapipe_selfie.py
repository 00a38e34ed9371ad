"""The shipped selfie segmentation weights against LiteRT running MediaPipe's .tflite files.

Needs the ``convert`` extra (``pip install "vstlib[convert]"``: ai-edge-litert); skipped
otherwise. The .tflite files come from the ``mediapipe==0.10.21`` wheel: already extracted and
sha256-verified files in ``~/.cache/vstlib/mediapipe-0.10.21`` are read (never written) when
present, else the wheel is downloaded with pip into the session's temporary cache (35 MB);
without network the tests are skipped.
"""

import importlib.util
import os
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("ai_edge_litert", reason="ai-edge-litert is not installed (pip install 'vstlib[convert]')")

ROOT = Path(__file__).resolve().parents[1]


def _tool():
    spec = importlib.util.spec_from_file_location("convert_mediapipe_selfie", ROOT / "tools" / "convert_mediapipe_selfie.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("convert_mediapipe_selfie", mod)
    spec.loader.exec_module(mod)
    return mod


C = _tool()


@pytest.fixture(scope="module")
def tflite():
    user_cache = Path.home() / ".cache" / "vstlib" / "mediapipe-0.10.21"
    ready = {v: user_cache / f for v, f in C.TFLITE_FILES.items()}
    if all(p.is_file() and C.sha256(p) == C.TFLITE_SHA256[p.name] for p in ready.values()):
        return ready
    try:
        return C.fetch_tflite(Path(os.environ["VSTLIB_CACHE_DIR"]) / "mediapipe-0.10.21")
    except C.FetchError as e:
        pytest.skip(f"cannot get the mediapipe==0.10.21 wheel's .tflite files: {e}")


@pytest.mark.parametrize("variant", ["general", "landscape"])
def test_shipped_weights_are_the_tflite_weights(tflite, variant):
    _, info = C.convert_file(tflite[variant])
    shipped = torch.load(C.OUT_DIR / C.WEIGHT_FILES[variant], map_location="cpu", weights_only=True)
    assert shipped["source_sha256"] == C.TFLITE_SHA256[tflite[variant].name]
    fresh = info["blob"]["state_dict"]
    assert fresh.keys() == shipped["state_dict"].keys()
    for k in fresh:
        assert torch.equal(fresh[k], shipped["state_dict"][k]), k
    assert len(info["mapping"]) == 55 and info["op_counts"]["CUSTOM:Convolution2DTransposeBias"] == 1


@pytest.mark.parametrize("variant", ["general", "landscape"])
def test_shipped_module_matches_litert(tflite, variant, data_dir):
    from vstlib.selfie_net import load_selfie

    size = C.INPUT_SIZES[variant]
    images = np.concatenate([C.synthetic_images(2, size, seed=5), C.real_frames(size, (48,))])
    rows = C.compare(load_selfie(variant), tflite[variant], images)
    assert max(r["mean"] for r in rows) <= C.TOLERANCE
    assert max(r["max"] for r in rows) < 0.01
    # the logits, where saturated masks hide differences: relative error like float rounding
    assert max(r["logits_mean_abs_diff"] / r["reference_logits_mean_abs"] for r in rows) < 1e-3
    assert rows[-1]["reference_mask_mean"] > 0.05  # the real frame has a person: not a trivial all-zero mask


def test_reference_graph_changes_only_the_custom_op(tflite):
    """The LiteRT reference is the shipped graph with one op swapped: same ops, same inputs."""
    original = C.read_model(tflite["general"])
    s = C._schema()
    rewritten = s.ModelT.InitFromObj(s.Model.GetRootAsModel(C.reference_model(tflite["general"]), 0))
    ops_a, ops_b = original.subgraphs[0].operators, rewritten.subgraphs[0].operators
    assert len(ops_a) == len(ops_b) == 246
    changed = [i for i, (a, b) in enumerate(zip(ops_a, ops_b))
               if C._op_name(original, a) != C._op_name(rewritten, b) or list(a.inputs) != list(b.inputs)]
    assert changed == [len(ops_a) - 2]  # the transposed convolution, before the final LOGISTIC
    a, b = ops_a[changed[0]], ops_b[changed[0]]
    assert C._op_name(original, a) == "CUSTOM:Convolution2DTransposeBias" and C._op_name(rewritten, b) == "TRANSPOSE_CONV"
    assert list(b.inputs[1:]) == [a.inputs[1], a.inputs[0], a.inputs[2]]  # weights, data, bias
    assert (b.builtinOptions.strideH, b.builtinOptions.strideW, b.builtinOptions.padding) == (2, 2, s.Padding.SAME)
    assert original.buffers[5].data.tobytes() == rewritten.buffers[5].data.tobytes()


def test_a_wrong_architecture_is_refused(tflite):
    layers, _ = C.read_layers(tflite["landscape"])
    with pytest.raises(SystemExit, match="weighted layers"):
        C.state_from_layers(layers[:-1])
    swapped = [layers[0], layers[2], layers[1]] + layers[3:]  # depthwise before the 1x1 expansion
    with pytest.raises(SystemExit, match="does not fit"):
        C.state_from_layers(swapped)
