"""The one video runner: decode -> per-frame steps -> method -> post steps -> encode, for every method.

Three threads overlap the work: a decoder fills a bounded queue with frames (seeking to the
start), the calling thread runs the method (:mod:`vstlib.methods`) and the post steps, and an
encoder drains a bounded queue into H.264. Memory stays a few frames for every method: the
runner holds nothing else, and sequential methods keep only what they need.

**Resuming: finished parts.** The output is encoded in parts of at most ``PART_SECONDS`` of video
or ``PART_WALL_SECONDS`` of computing, into a hidden folder beside the output named after it and
a hash of everything that defines the result; at the end the parts are joined without
re-encoding and the audio is added. An interrupted run started again with the same arguments
continues after the last finished part (seeking there), with the method's carried state saved
beside each part (e.g. Ruder's previous results, exactly). This replaced a folder of PNG frames:
parts are encoded while the method runs (no final encoding pass over every frame), take a
fraction of the disk (a PNG frame is about as large as a second of H.264), and hold a sequential
method's state exactly, while the wall-time limit keeps the work lost to an interruption as
small as the PNG cache did for slow methods (at most ``PART_WALL_SECONDS``).

**Styles per frame.** ``schedule(i)`` gives output frame ``i`` its style: one of the styles, or a
weighted mix ``((index, weight), ...)``; keyframes and transitions need no other signature.

**Post steps** are a list of ``step(image [1, 3, H, W], item) -> image``; colour preservation's
finishing step is the first when asked for, segmentation compositing can be another.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import hashlib
import json
import math
import os
import queue
import shutil
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from . import __version__, methods
from .choices import PRESERVE_COLOR_MODES
from .config import option, validate
from .errors import VstError
from .methods.base import FrameItem, StyleMix

PART_SECONDS = 5.0  # video seconds per part at most
PART_WALL_SECONDS = 30.0  # seconds of computing per part at most: what an interruption can cost
VIDEO_SUFFIXES = (".mp4", ".mov", ".mkv", ".m4v")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")
DEFAULT_MAX_SIDE = {"video": 256, "image": 384}  # optimization methods; networks keep the input's size

Schedule = Callable[[int], StyleMix]
PostStep = Callable[[object, FrameItem], object]


@dataclass(frozen=True)
class RunOptions:
    """The runner's own options (what every method shares); validated here, once."""

    max_side: int | None = option(None, "resize so the longer side is N pixels", kind=int, low=16, high=8192,
                                  default_text="the input's size for feed-forward methods, 256 for videos and 384 "
                                               "for images otherwise")
    start: float = option(0.0, "video: first second to stylize", low=0, metavar="SEC")
    duration: float | None = option(None, "video: seconds to stylize", kind=float, low=0, low_open=True,
                                    metavar="SEC", default_text="to the end")
    every: int = option(1, "video: keep every N-th frame (fps / N; the duration is kept)", low=1)
    preserve_color: str = option("none", "keep the input's colours: luminance (stylize brightness only) or "
                                         "histogram (recolour the style to the input's colours first); for videos, "
                                         "over the whole clip", choices=PRESERVE_COLOR_MODES)
    device: str = option("auto", "cpu, cuda, cuda:N, mps or auto", metavar="DEVICE")
    keep_cache: bool = option(False, "video: keep the resume folder after writing the video")
    # Temporal stabilization (vstlib.stabilize), a post step after any method.
    stabilize: float = option(0.0, "video: blend the previous output, warped along the input's optical flow, into "
                                   "each frame where the flow is reliable, with this strength (0 = off, 0.5-0.8 "
                                   "typical; less flicker, some lag)", low=0, high=1, metavar="S")
    stabilize_flow: str = option("dis", "video: the flow --stabilize follows (dis: fast)",
                                 choices=("dis", "farneback", "deepflow"))

    def __post_init__(self):
        validate(self)


# Foreground/background compositing (vstlib.composite): how the regions are joined, and inpainting.
EDGES = ("strict", "feather", "blur", "resize")
INPAINT_MODES = ("auto", "on", "off")


@dataclass(frozen=True)
class RegionOptions:
    """How a video is split into foreground and background, and what each region gets.

    A region's style and method default to the run's (``--style``, ``--method``); ``none`` keeps
    the region unstylized. With a region method other than the run's, its style must be given
    and its settings are that method's defaults."""

    segment: str | None = option(None, "split each frame into foreground and background: person (MediaPipe "
                                       "selfie segmentation, offline), voc:CLASS[,CLASS] (torchvision, e.g. "
                                       "voc:dog,cat; downloads its weights once), masks:PATH (a mask video or "
                                       "folder, 255 = foreground, e.g. from `vst segment`), motion or motion:mog2 "
                                       "(static camera)", kind=str, metavar="BACKEND", default_text="off")
    edges: str = option("feather", "how the regions are joined: strict (hard cut), feather (blurred mask), blur "
                                   "(background stylized from a defocused frame), resize (the foreground's box is "
                                   "stylized at the frame's size)", choices=EDGES)
    feather: float = option(3.0, "feather/blur/resize: width of the soft edge (Gaussian sigma, pixels)", low=0,
                            high=100, metavar="PX")
    blur: float = option(4.0, "--edges blur: how much the background is defocused (Gaussian sigma, pixels)",
                         low=0, high=100, metavar="PX")
    fg_style: str | None = option(None, "the foreground's style (none: keep it as it is)", kind=str,
                                  metavar="STYLE", default_text="--style")
    bg_style: str | None = option(None, "the background's style (none: keep it as it is)", kind=str,
                                  metavar="STYLE", default_text="--style")
    fg_method: str | None = option(None, "the foreground's method", kind=str, metavar="METHOD",
                                   default_text="--method")
    bg_method: str | None = option(None, "the background's method", kind=str, metavar="METHOD",
                                   default_text="--method")
    inpaint: str = option("auto", "fill what the foreground hides before the background is stylized (auto: when "
                                  "the two regions are stylized differently)", choices=INPAINT_MODES)
    mask_stability: float = option(0.5, "temporal smoothing of the masks along the optical flow (0 = off)", low=0,
                                   high=1, metavar="S")

    def __post_init__(self):
        validate(self)

    @property
    def active(self) -> bool:
        return self.segment is not None



@dataclass
class VideoResult:
    output: Path
    n_frames: int  # frames written
    fps: float
    resumed_frames: int  # frames found in finished parts instead of computed
    width: int = 0
    height: int = 0
    seconds_per_frame: list[float] = field(default_factory=list)  # computed frames
    final_losses: list[float] = field(default_factory=list)
    first_frame: int = 0  # the input's frame range used: range(first_frame, end_frame, every)
    end_frame: int = 0
    cuts: list[int] = field(default_factory=list)  # sequential methods: output frames that started a new shot


# ------------------------------------------------------------------------------------------
# Small pieces: fingerprints, schedules, output checks, locks
# ------------------------------------------------------------------------------------------


def fingerprint_file(path: Path) -> dict:
    st = Path(path).stat()
    return {"path": str(Path(path).resolve()), "bytes": st.st_size, "mtime_ns": st.st_mtime_ns}


def fingerprint_style(style) -> str:
    """A style image (path or tensor) by the sha256 of its bytes."""
    if hasattr(style, "detach"):
        return hashlib.sha256(style.detach().cpu().numpy().tobytes()).hexdigest()
    return hashlib.sha256(Path(style).read_bytes()).hexdigest()


def constant_style(index: int = 0) -> Schedule:
    """Every frame gets style ``index``."""

    def schedule(i: int) -> StyleMix:
        return ((index, 1.0),)

    schedule.key = f"constant({index})"
    return schedule


def _normalized_mix(mix, n_styles: int, i: int) -> StyleMix:
    if isinstance(mix, int):
        mix = ((mix, 1.0),)
    elif isinstance(mix, dict):
        mix = tuple(mix.items())
    mix = tuple((int(k), float(w)) for k, w in mix if w > 0)
    total = sum(w for _, w in mix)
    if not mix or any(not 0 <= k < n_styles for k, _ in mix) or not math.isfinite(total):
        raise VstError(f"the style schedule gave frame {i} the mix {mix}; give style indices 0..{n_styles - 1} "
                       f"with positive weights")
    return tuple((k, w / total) for k, w in mix)


def check_output_path(output: Path, inputs: Sequence[Path], suffixes: Sequence[str], kind: str) -> None:
    """Refuse an output that cannot be written, or that is one of the inputs (it would be destroyed)."""
    if output.suffix.lower() not in suffixes:
        raise VstError(f"cannot write '{output}': {kind} output needs a {', '.join(suffixes)} name")
    parent = output.parent if str(output.parent) else Path(".")
    if not parent.is_dir():
        raise VstError(f"cannot write '{output}': folder '{parent}' does not exist; create it or choose another -o")
    if output.is_dir():
        raise VstError(f"cannot write '{output}': it is a folder; give a file name with -o")
    if not os.access(parent, os.W_OK):
        raise VstError(f"cannot write '{output}': folder '{parent}' is not writable; choose another -o")
    if output.exists():
        for path in inputs:
            if path is not None and Path(path).exists() and os.path.samefile(output, path):
                raise VstError(f"the output '{output}' is the input file '{path}'; choose another -o "
                               f"(nothing was written)")


@contextlib.contextmanager
def output_lock(output: Path):
    """Hold ``.<name>.lock`` beside the output for the whole run: a second run writing the same
    file stops at once with one line instead of racing for the same parts."""
    lock = output.with_name(f".{output.name}.lock")
    try:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError as err:
        raise VstError(f"cannot write next to '{output}': {err.strerror}; choose another -o") from None
    try:
        try:
            import fcntl

            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except ImportError:  # pragma: no cover - Windows: a lock by exclusive creation is not worth it here
            pass
        except OSError:
            raise VstError(f"another run is writing '{output}' right now; wait for it to finish or choose "
                           f"another -o") from None
        try:
            yield
        finally:
            with contextlib.suppress(OSError):
                os.remove(lock)
    finally:
        os.close(fd)


@contextlib.contextmanager
def disk_full_is_an_error(folder: Path):
    """A full disk (ENOSPC) becomes one clear line; what was finished stays for resuming."""
    try:
        yield
    except OSError as err:
        if err.errno in (errno.ENOSPC, errno.EDQUOT):
            raise VstError(f"the disk holding '{folder}' is full; free some space and run the same command again "
                           f"(finished parts are kept and resumed)") from None
        raise


def _remove_leftovers(output: Path, keep: Path | None = None) -> None:
    """Temporary files and resume folders of earlier runs that wrote ``output`` (called with the
    output's lock held, after a successful write, so none of them belongs to a running job)."""
    for path in output.parent.glob(f".{output.name}.*"):
        if path == keep or path.name.endswith(".lock"):
            continue
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                path.unlink()


def work_folder(output: Path, key: dict, cache_dir=None) -> Path:
    if cache_dir is not None:
        return Path(cache_dir)
    digest = hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:12]
    return output.parent / f".{output.name}.vst-{digest}"


# ------------------------------------------------------------------------------------------
# Colour preservation: the one place it happens
# ------------------------------------------------------------------------------------------


def colour_steps(mode: str, method, styles: list, stats):
    """(styles, pre, post) for colour preservation ``mode`` (:mod:`vstlib.color`).

    ``pre(frame tensor) -> content`` (grey in luminance mode); ``post(out, item) -> out``. Methods
    that take style images get a recoloured style image in histogram mode; methods whose style
    is a trained network (fixed palette) get their output recoloured instead."""
    from . import color

    if mode == "none":
        return styles, None, None
    if mode == "luminance":
        if method.style_kind == "image":
            styles = [color.prepare(s, stats, "luminance").style for s in styles]
        return styles, color.to_luminance_image, lambda out, item: color.luminance_only(out, _original(item))
    if method.style_kind == "image":
        return [color.prepare(s, stats, "histogram").style for s in styles], None, None
    return styles, None, lambda out, item: color.match_color_to_stats(out, stats.mean, stats.cov)


class KeepOutputs:
    """A post step that keeps every output as it leaves the method and the post steps before it,
    exactly (uint8 [H, W, 3], before H.264), in order in :attr:`frames`: for measuring what a run
    wrote without decoding it again (benchmarks, tests).

    >>> import torch
    >>> keep = KeepOutputs()
    >>> out = keep(torch.ones(1, 3, 2, 2), None)
    >>> keep.frames[0].shape, int(keep.frames[0].max())
    ((2, 2, 3), 255)
    """

    def __init__(self):
        self.frames: list = []

    def __call__(self, image, item):
        from .io import to_array

        self.frames.append(to_array(image))
        return image

    def __repr__(self) -> str:  # the resume key names the post steps: the same for every instance
        return "KeepOutputs()"


def _stabilizer(strength: float, flow: str) -> list:
    """The temporal stabilization post step (:mod:`vstlib.stabilize`), when asked for. Any method
    may use it: it only reads the outputs and the input frames (for a sequential method such as
    ``ruder``, already coherent, it is allowed but mostly redundant)."""
    if not strength:
        return []
    from .stabilize import Stabilizer

    return [Stabilizer(strength, flow)]


def _carried_state(session, posts) -> dict:
    """What a resumed run needs: the session's state, plus that of stateful post steps."""
    state = dict(session.state_dict())
    stateful = [p.state_dict() for p in posts if hasattr(p, "state_dict")]
    if stateful:
        state["post_steps"] = stateful
    return state


def _restore_state(session, posts, state: dict) -> None:
    state = dict(state)
    saved = state.pop("post_steps", [])
    session.load_state_dict(state)
    for step, step_state in zip([p for p in posts if hasattr(p, "load_state_dict")], saved):
        step.load_state_dict(step_state)


def _style_loader(preserve_color: str, stats):
    """``load(method, resolved styles)`` -> what the method's ``prepare`` takes (paintings loaded,
    recoloured for colour preservation like the run's own): for the regions' own styles."""

    def load(method, styles):
        if method.style_kind == "image":
            from .gatys import load_style

            styles = [s if hasattr(s, "detach") else load_style(s) for s in styles]
        return colour_steps(preserve_color, method, styles, stats)[0]

    return load


def _original(item: FrameItem):
    from .io import to_tensor

    return to_tensor(item.frame)


# ------------------------------------------------------------------------------------------
# Videos
# ------------------------------------------------------------------------------------------


def stylize_video(
    input: str | Path,
    style=None,
    output: str | Path = "out.mp4",
    method: str = "gatys",
    config=None,
    *,
    size: tuple[int, int] | None = None,
    max_side: int | None = None,
    start: float = 0.0,
    duration: float | None = None,
    every: int = 1,
    device: str | None = None,
    cache_dir: str | Path | None = None,
    keep_cache: bool = False,
    progress: bool = True,
    flow_workers: int | None = None,
    preserve_color: str = "none",
    schedule: Schedule | None = None,
    post_steps: Sequence[PostStep] = (),
    stabilize: float = 0.0,
    stabilize_flow: str = "dis",
    regions=None,
    cluster: str | None = None,
    cluster_options=None,
) -> VideoResult:
    """Stylize a video file with any registered method and write ``output`` with the input's audio.

    Args:
        input: video file.
        style: the style: an image path or tensor [1, 3, h, w] in [0, 1] (optimization methods),
            a model name or path (``johnson``), or a list of them for ``schedule``.
        method: a name from :func:`vstlib.methods.names` (``gatys``, ``ruder``, ``johnson``, ``none``).
        config: the method's settings (its ``Config``; None: the defaults). ``ruder`` also takes a
            :class:`~vstlib.GatysConfig`, ``johnson`` a model name.
        size / max_side: frame size (H, W), or the length of the longer side. Default: the
            input's size for feed-forward methods, 256 px for optimization methods.
        start / duration: the part of the video to stylize, in seconds (seeks to ``start``).
        every: keep every n-th frame (the output keeps the clip's duration).
        device: ``"cpu"``, ``"cuda"``, ... (default: the best available).
        cache_dir: the resume folder (default: hidden, beside the output, named after it and a
            hash of the settings).
        keep_cache: keep the resume folder after the video is written.
        flow_workers: ``ruder``: frame pairs whose flow is computed at once (its config's ``flow_workers``).
        preserve_color: ``"none"``, ``"luminance"`` or ``"histogram"`` (:mod:`vstlib.color`), with
            colour statistics pooled over the whole range (one extra decoding pass), so it adds
            no flicker of its own.
        schedule: ``schedule(i)`` -> the style of output frame ``i``: an index into ``style``
            (a list) or a mix ``((index, weight), ...)``. Default: style 0 throughout.
        post_steps: more ``step(image [1, 3, H, W], item) -> image`` after the method. A step with
            ``state_dict``/``load_state_dict`` has its state saved with every finished part.
        stabilize / stabilize_flow: temporal stabilization strength in [0, 1] (0: off) and the
            flow it follows (:class:`vstlib.stabilize.Stabilizer`): a post step after colour
            preservation, before ``post_steps``; any method.
        regions: a :class:`vstlib.composite.RegionOptions`: split every frame into foreground and
            background (a mask backend), give each region its own style, method or none, and join
            them (``edges``); any method that stylizes frame by frame.
        cluster: run the chunks of the video as Ray tasks (:mod:`vstlib.cluster`): ``"ray"`` for a
            local Ray instance (or the one this process already joined), or a cluster's address.
            The same resume folder and the same parts; per-frame methods write the same frames.
        cluster_options: a :class:`vstlib.cluster.ClusterOptions` (workers, Ruder's chunk overlap).
    """
    from .io import probe_video
    from .utils import pick_device

    m = methods.get(method)
    config = m.coerce_config(config)
    if flow_workers is not None and hasattr(config, "flow_workers"):
        config = config.replace(flow_workers=flow_workers)
    input, output = Path(input), Path(output)
    style_list = list(style) if isinstance(style, (list, tuple)) else ([] if style is None else [style])
    styles = m.resolve_styles(config, style_list)
    check_output_path(output, [input] + [s for s in style_list if isinstance(s, (str, Path))], VIDEO_SUFFIXES,
                      "a video")
    RunOptions(max_side=max_side, start=float(start), duration=None if duration is None else float(duration),
               every=every, preserve_color=preserve_color, device=str(device or "auto"), keep_cache=keep_cache,
               stabilize=stabilize, stabilize_flow=stabilize_flow)
    if input.is_dir():
        raise VstError(f"input '{input}' is a folder; give a video file")
    info = probe_video(input)
    first, end, n_out, fps = frame_range(info, start, duration, every)
    if size is None and max_side is None and not m.native_resolution:
        max_side = DEFAULT_MAX_SIDE["video"]
    height, width = _output_size(info.height, info.width, size, max_side)
    dev = pick_device(device)
    encoded = (height + height % 2, width + width % 2)  # H.264 (yuv420p) pads odd sizes by a pixel

    n_styles = max(1, len(styles))
    schedule = schedule or constant_style(0)
    mixes_key = [_normalized_mix(schedule(i), n_styles, i) for i in range(n_out)] if n_styles > 1 or \
        not hasattr(schedule, "key") else getattr(schedule, "key")
    key = {"version": __version__, "method": m.name, "config": dataclasses.asdict(config), "styles": m.style_key(config, styles),
           "input": fingerprint_file(input), "size": (height, width), "first": first, "end": end, "every": every,
           "preserve_color": preserve_color, "schedule": mixes_key,
           "post_steps": [getattr(s, "__qualname__", repr(s)) for s in post_steps],
           **({"stabilize": [float(stabilize), stabilize_flow]} if stabilize else {}),
           **({"regions": dataclasses.asdict(regions)} if regions is not None and regions.active else {}),
           "part_seconds": PART_SECONDS}
    for volatile in ("flow_workers", "batch", "compile"):  # change how fast, not what comes out
        key["config"].pop(volatile, None)
    folder = work_folder(output, key, cache_dir)
    result = VideoResult(output=output, n_frames=n_out, fps=fps, resumed_frames=0, width=encoded[1], height=encoded[0],
                         first_frame=first, end_frame=end)

    with output_lock(output), disk_full_is_an_error(output.parent):
        settings = json.dumps(key, indent=1, sort_keys=True, default=str)
        old = folder / "settings.json"
        if old.is_file() and any(folder.glob("part_*.mp4")) and old.read_text() != settings:
            # only possible with an explicit cache_dir (the default folder's name is a hash of the settings)
            raise VstError(f"the resume folder '{folder}' holds parts made with other settings; delete it or "
                           f"choose another --cache-dir")
        try:
            folder.mkdir(parents=True, exist_ok=True)
            old.write_text(settings)
        except OSError as err:
            if err.errno in (errno.ENOSPC, errno.EDQUOT):
                raise
            raise VstError(f"cannot use '{folder}' as the resume folder: {err.strerror}; choose another "
                           f"--cache-dir") from None
        try:
            args = (input, output, folder, m, config, styles, info, first, end, every, n_out, fps, (height, width),
                    dev, progress, preserve_color, schedule, n_styles,
                    _stabilizer(stabilize, stabilize_flow) + list(post_steps), result,
                    regions if regions is not None and regions.active else None)
            if cluster is None:
                _run_parts(*args)
            else:
                from .cluster import run_video

                run_video(cluster, cluster_options, device, *args)
        except BaseException:
            # An error before anything was finished leaves nothing behind; finished parts stay.
            if cache_dir is None and not any(folder.glob("part_*.mp4")):
                shutil.rmtree(folder, ignore_errors=True)
            raise
        if not keep_cache and cache_dir is None:
            shutil.rmtree(folder, ignore_errors=True)
        _remove_leftovers(output, keep=folder if (keep_cache or cache_dir is not None) else None)
    return result


def frame_range(info, start: float = 0.0, duration: float | None = None, every: int = 1) -> tuple[int, int, int, float]:
    """The input frames a run uses, ``range(first, end, every)``, the number of output frames and
    their rate: ``(first, end, n_out, fps)`` (e.g. to build a schedule before the run)."""
    first = int(math.floor(start * info.fps + 1e-6))  # the frame shown at `start`
    if first >= info.n_frames:
        raise VstError(f"--start {start:g} s is past its end: '{info.path}' has {info.n_frames} frames "
                       f"({info.n_frames / info.fps:.2f} s); choose an earlier start")
    end = info.n_frames if duration is None else min(info.n_frames, first + max(1, math.ceil(duration * info.fps - 1e-6)))
    n_out = len(range(first, end, every))
    # Keep the duration of the range: the last output frame lasts until the range ends.
    span = (end - first) / info.fps
    fps = info.fps / every if every <= end - first else 1 / span  # a single frame shows for the whole range
    return first, end, n_out, fps


def _output_size(height: int, width: int, size, max_side) -> tuple[int, int]:
    from .io import _target_size

    return _target_size(height, width, size, max_side)


_END = object()  # end of a stream
_ABORT = object()  # the calling thread stopped (error or Ctrl-C)


def _part_files(folder: Path) -> Iterator[tuple[int, int, Path]]:
    """Every finished part in ``folder`` as (first output frame, end frame, path), in no order."""
    for p in folder.glob("part_*.mp4"):
        try:
            a, b = (int(v) for v in p.stem.split("_")[1:3])
        except ValueError:
            continue
        yield a, b, p


def _finished_parts(folder: Path, start: int = 0) -> list[tuple[int, int, Path]]:
    """Finished parts (first output frame, end frame, path), contiguous from frame ``start``."""
    found = {a: (a, b, p) for a, b, p in _part_files(folder)}
    parts, at = [], start
    while at in found:
        parts.append(found[at])
        at = found[at][1]
    return parts


def _time_range(input: Path, info, first: int, end: int) -> tuple[float, float]:
    """When the range starts and ends in the source, seconds. The output keeps the source's timing:
    every frame keeps its timestamp (a variable frame rate stays variable), and the last one lasts
    until the range ends (also with --every)."""
    t_first = _frame_time(input, first)
    if not info.variable_frame_rate:
        return t_first, t_first + (end - first) / info.fps
    return t_first, info.duration if end >= info.n_frames else _frame_time(input, end)


def _run_parts(input, output, folder, m, config, styles, info, first, end, every, n_out, fps, hw, dev, progress,
               preserve_color, schedule, n_styles, post_steps, result, regions=None, chunk=None) -> None:
    """Stylize the range into parts and join them. With ``chunk`` (a :class:`vstlib.cluster.Chunk`,
    a worker of :mod:`vstlib.cluster`): only its output frames, into parts of the same folder (its
    overlaps with the neighbouring chunks kept unencoded for blending), nothing joined."""
    import numpy as np
    import torch

    from .color import color_stats
    from .io import read_frames

    def frames(start_frame: int, with_times: bool = False, stop: int = end):
        return read_frames(input, size=hw, start=start_frame, end=min(stop, end), step=every, with_times=with_times)

    t_first, t_end = _time_range(input, info, first, end)
    stats = color_stats(frames(first)) if preserve_color != "none" else None
    if m.style_kind == "image":
        from .gatys import load_style

        styles = [s if hasattr(s, "detach") else load_style(s) for s in styles]
    styles, pre, colour_post = colour_steps(preserve_color, m, styles, stats)
    posts = ([colour_post] if colour_post else []) + post_steps

    session = m.prepare(config, styles, dev, folder)
    if regions is not None:
        from .composite import region_session

        session = region_session(regions, m, config, session, _style_loader(preserve_color, stats), dev, video=input,
                                 first=first, end=end, every=every, size=hw, workdir=folder)
    lo, hi = (0, n_out) if chunk is None else (chunk.start, chunk.end)
    encode_end = hi - (chunk.tail if chunk is not None else 0)  # the tail is blended with the next chunk
    parts = _finished_parts(folder, lo) if session.resumes_mid_clip else []
    if not session.resumes_mid_clip:
        for p in folder.glob("part_*"):
            p.unlink()
    parts = [p for p in parts if p[1] <= encode_end]
    skip = parts[-1][1] if parts else lo

    def restore(state_file: Path) -> None:
        if state_file.is_file():
            _restore_state(session, posts, torch.load(state_file, map_location="cpu", weights_only=True))

    def unencoded(a: int, b: int) -> list:
        return _outputs(session, pre, posts, frames(first + a * every, with_times=True, stop=first + b * every), a,
                        schedule, n_styles)

    if skip > lo:
        restore(folder / f"state_{skip:06d}.pt")
    elif chunk is not None and chunk.warmup:  # the frames before the chunk, for blending with the previous one
        lead = folder / f"lead_{lo:06d}_{chunk.warmup}.pt"
        if lead.is_file():
            _restore_state(session, posts, torch.load(lead, map_location="cpu", weights_only=True)["state"])
        else:
            outs = unencoded(lo - chunk.warmup, lo)
            _save_state(lead, {"frames": torch.from_numpy(np.stack(outs)), "state": _carried_state(session, posts)})
    result.resumed_frames = min(skip, n_out) - lo

    if skip < encode_end:
        t_stop = t_end if encode_end == n_out else _frame_time(input, first + encode_end * every)
        decoded = _pipeline(frames(first + skip * every, with_times=True, stop=first + encode_end * every), skip,
                            session, pre, posts, schedule, n_styles, folder, fps, t_stop, dev, progress, encode_end,
                            f"{m.name} {input.name}", final_state=encode_end < hi)
        if skip + decoded < encode_end:
            raise VstError(f"only {skip + decoded} of {n_out} frames could be decoded from '{input}'; the file may be "
                           f"truncated (stylize the readable part with --duration)")
    tail = folder / f"tail_{hi:06d}_{hi - encode_end}.pt"
    if encode_end < hi and not tail.is_file():
        if skip == encode_end:
            restore(folder / f"state_{encode_end:06d}.pt")
        _save_state(tail, {"frames": torch.from_numpy(np.stack(unencoded(encode_end, hi)))})
    result.seconds_per_frame = session.stats.seconds_per_frame
    result.final_losses = session.stats.final_losses
    result.cuts = session.stats.cuts
    if chunk is None:
        _join_parts(input, output, folder, info, t_first, t_end)


def _join_parts(input: Path, output: Path, folder: Path, info, t_first: float, t_end: float) -> None:
    """Join the finished parts without re-encoding and add the range's audio."""
    from .io import concat_videos

    all_parts = [p for _, _, p in _finished_parts(folder)]
    try:
        concat_videos(all_parts, output, audio_from=input, audio_start=t_first, audio_duration=t_end - t_first)
    except VstError as err:
        if "full" in str(err) or not info.has_audio:
            raise
        # The video was readable to the end but its audio is not (a truncated file): the same
        # command would fail again, so nothing is kept for resuming.
        shutil.rmtree(folder, ignore_errors=True)
        raise VstError(f"cannot copy the audio of '{input}': ffmpeg failed to decode it; the file may be truncated "
                       f"(stylize the readable part with --duration)") from None


def _frame_time(path: Path, index: int) -> float:
    """The presentation time of frame ``index`` (seconds, frame 0 at 0)."""
    from .io import read_frames

    frames = read_frames(path, size=(16, 16), start=index, end=index + 1, with_times=True)
    try:
        for t, _ in frames:
            return float(t)
    finally:
        frames.close()
    raise VstError(f"frame {index} of '{path}' could not be decoded; the file may be truncated")


def _outputs(session, pre, posts, frame_iter, start: int, schedule, n_styles: int) -> list:
    """The outputs (uint8 [H, W, 3]) of ``(time, frame)`` pairs run through the session and the post
    steps, not encoded (a chunk's overlap with its neighbour, :mod:`vstlib.cluster`)."""
    from .io import to_array, to_tensor

    pending: list[FrameItem] = []
    outputs = []

    def items() -> Iterator[FrameItem]:
        for i, (t, frame) in enumerate(frame_iter, start=start):
            content = to_tensor(frame)
            item = FrameItem(index=i, frame=frame, content=pre(content) if pre is not None else content,
                             time=float(t), mix=_normalized_mix(schedule(i), n_styles, i))
            pending.append(item)
            yield item

    for out in session.run(items()):
        item = pending.pop(0)
        if isinstance(out, tuple):
            out, item.frame = out
        for step in posts:
            out = step(out, item)
        outputs.append(to_array(out))
    return outputs


def _pipeline(frame_iter, skip, session, pre, posts, schedule, n_styles, folder, fps, t_end, dev, progress, n_out,
              desc, final_state: bool = False) -> int:
    """Decode (thread) -> method and post steps (this thread) -> encode into parts (thread).
    Returns the number of frames decoded. ``final_state``: save the carried state with the last
    part too (a cluster chunk continues past it)."""
    import torch

    from .io import VideoWriter, to_array, to_tensor
    from .utils import progress_bar

    frames_in: queue.Queue = queue.Queue(maxsize=8)
    frames_out: queue.Queue = queue.Queue(maxsize=8)
    stop = threading.Event()  # set on any error: every thread quits at its next queue operation
    errors: list[BaseException] = []
    decoded = [0]
    # On a CPU the method already uses every core: x264's own thread pool would take turns with
    # torch's threads (measured on 2 cores: 0.82 against 0.78 frames/s file to file).
    encoder_threads = 1 if torch.device(dev).type == "cpu" else None
    part_frames = max(1, int(round(PART_SECONDS * fps)))

    def put(q, item) -> bool:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                pass
        return False

    def put_out(item) -> bool:
        """To the encoder, as long as it is alive (it fails only by an error it reports)."""
        while threads[1].is_alive():
            try:
                frames_out.put(item, timeout=0.1)
                return True
            except queue.Full:
                pass
        return False

    def get(q):
        while not stop.is_set():
            try:
                return q.get(timeout=0.1)
            except queue.Empty:
                pass
        return None

    def decode():
        try:
            for i, (t, frame) in enumerate(frame_iter, start=skip):
                item = FrameItem(index=i, frame=frame, content=None, time=float(t),
                                 mix=_normalized_mix(schedule(i), n_styles, i))
                decoded[0] += 1
                if not put(frames_in, item):
                    return
            put(frames_in, _END)
        except BaseException as err:  # noqa: BLE001 - handed to the calling thread
            errors.append(err)
            stop.set()
        finally:
            close = getattr(frame_iter, "close", None)
            if close:
                close()

    def encode():
        # items: ("frame", uint8 array, time), ("cut", end index, state) after a part's last frame,
        # ("end", time) when the range ends, or _ABORT (the calling thread stopped). A part is
        # closed when the next frame's time is known (its last frame lasts until then), so the
        # joined parts keep every timestamp; on _ABORT a part whose last frame was sent is still
        # closed (last frame as long as the one before it): an interrupted run keeps its work.
        writer, part_start, closing = None, skip, None

        def close(end_time):
            nonlocal writer, part_start, closing
            end_index, state = closing
            if state:
                _save_state(folder / f"state_{end_index:06d}.pt", state)
            writer.end_time = end_time
            writer.__exit__(None, None, None)
            final = folder / f"part_{part_start:06d}_{end_index:06d}.mp4"
            os.replace(writer.path, final)  # a part counts only under its final name
            writer, part_start, closing = None, end_index, None

        try:
            while True:
                try:
                    item = frames_out.get(timeout=0.1)
                except queue.Empty:
                    continue
                if item is _ABORT:
                    if closing is not None:
                        close(None)
                    raise InterruptedError
                if item[0] == "end":
                    if closing is not None:
                        close(item[1])
                    break
                if item[0] == "frame":
                    if closing is not None:
                        close(item[2])
                    if writer is None:
                        path = folder / f"part_{part_start:06d}_XXXXXX.mp4"
                        writer = VideoWriter(path, fps=fps, threads=encoder_threads).__enter__()
                    writer.write(item[1], time=item[2])
                else:
                    closing = item[1:]
        except InterruptedError:
            if writer is not None:
                writer.__exit__(InterruptedError, InterruptedError(), None)
        except BaseException as err:  # noqa: BLE001
            if writer is not None:
                with contextlib.suppress(BaseException):
                    writer.__exit__(type(err), err, None)
            errors.append(err)
            stop.set()

    def items() -> Iterator[FrameItem]:
        while True:
            item = get(frames_in)
            if item is None:
                raise errors[0] if errors else InterruptedError("stopped")
            if item is _END:
                return
            content = to_tensor(item.frame)
            item.content = pre(content) if pre is not None else content
            pending.append(item)
            yield item

    pending: list[FrameItem] = []  # items handed to the method whose outputs have not come back
    threads = [threading.Thread(target=decode, daemon=True), threading.Thread(target=encode, daemon=True)]
    for t in threads:
        t.start()
    bar = progress_bar(total=n_out, initial=skip, desc=desc, unit="frame", disable=not progress)
    try:
        in_part, part_t0 = 0, time.perf_counter()
        for out in session.run(items()):
            item = pending.pop(0)
            if isinstance(out, tuple):  # the session kept the frame on disk (multi-pass)
                out, item.frame = out
            for step in posts:
                out = step(out, item)
            if not put_out(("frame", to_array(out), item.time)):
                raise errors[0] if errors else InterruptedError("stopped")
            in_part += 1
            bar.update(1)
            if in_part >= part_frames or time.perf_counter() - part_t0 >= PART_WALL_SECONDS:
                state = _carried_state(session, posts) if session.resumes_mid_clip else {}
                put_out(("cut", item.index + 1, state))
                in_part, part_t0 = 0, time.perf_counter()
        if in_part:
            state = _carried_state(session, posts) if final_state and session.resumes_mid_clip else {}
            put_out(("cut", item.index + 1, state))
        put_out(("end", t_end))
    except BaseException:
        stop.set()  # the decoder stops; the encoder finishes the parts already closed, then stops
        while threads[1].is_alive():
            try:
                frames_out.put(_ABORT, timeout=0.1)
                break
            except queue.Full:
                pass
        raise
    finally:
        bar.close()
        for t in threads:
            t.join()
    if errors:
        raise errors[0]
    return decoded[0]


def _save_state(path: Path, state: dict) -> None:
    import torch

    from .io import atomic_path

    with atomic_path(path) as tmp:
        torch.save(state, tmp)


# ------------------------------------------------------------------------------------------
# Single images
# ------------------------------------------------------------------------------------------


@dataclass
class ImageResult:
    output: Path
    width: int
    height: int
    seconds: float
    final_loss: float | None = None
    iterations: int | None = None


def stylize_image_file(input: str | Path, style=None, output: str | Path = "out.png", method: str = "gatys",
                       config=None, *, size=None, max_side=None, device=None, preserve_color: str = "none",
                       progress: bool = True) -> ImageResult:
    """Stylize one image file with any method that works on single images; ``output`` is written
    atomically. Sizes default as for videos (384 px for optimization methods)."""
    from .io import load_image, save_image, to_array
    from .utils import pick_device, progress_bar

    m = methods.get(method)
    if m.video_only:
        raise VstError(f"--method {m.name} needs a video input (for a single image use --method gatys)")
    config = m.coerce_config(config)
    input, output = Path(input), Path(output)
    style_list = list(style) if isinstance(style, (list, tuple)) else ([] if style is None else [style])
    styles = m.resolve_styles(config, style_list)
    check_output_path(output, [input] + [s for s in style_list if isinstance(s, (str, Path))], IMAGE_SUFFIXES,
                      "an image")
    RunOptions(max_side=max_side, preserve_color=preserve_color, device=str(device or "auto"))
    if input.is_dir():
        raise VstError(f"input '{input}' is a folder; give an image file")
    if size is None and max_side is None and not m.native_resolution:
        max_side = DEFAULT_MAX_SIDE["image"]
    t0 = time.perf_counter()
    content = load_image(input, size=size, max_side=max_side)
    dev = pick_device(device)
    if m.style_kind == "image":
        from .gatys import load_style

        styles = [s if hasattr(s, "detach") else load_style(s) for s in styles]
    from .color import color_stats

    stats = color_stats(content) if preserve_color != "none" else None
    styles, pre, colour_post = colour_steps(preserve_color, m, styles, stats)
    session = m.prepare(config, styles, dev, None)
    item = FrameItem(index=0, frame=to_array(content), content=pre(content) if pre else content)
    total = getattr(config, "total_iters", None)
    with output_lock(output), disk_full_is_an_error(output.parent), \
            progress_bar(total=total, desc=m.name, unit="it", disable=not progress or total is None) as bar:
        session.progress = bar
        (out,) = list(session.run([item]))
        if colour_post is not None:
            out = colour_post(out, item)
        save_image(out, output)
    losses = session.stats.final_losses
    iterations = session.stats.iterations
    return ImageResult(output, content.shape[-1], content.shape[-2], time.perf_counter() - t0,
                       losses[-1] if losses else None, iterations[-1] if iterations else None)
