"""Video stylization: stream frames in, stylize each, write an H.264 mp4 with the source's audio.

Finished frames are cached as PNGs in a folder keyed by everything that defines the result
(input file, style, method, settings, frame range), so an interrupted run started again with the
same arguments resumes at the first missing frame. The folder is removed after the video has
been written (unless ``keep_cache``).
"""

from __future__ import annotations

import hashlib
import json
import math
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image
from torch import Tensor

from . import __version__, color
from .color import PRESERVE_COLOR_MODES
from .errors import VstError
from .gatys import GatysConfig, GatysStylizer, load_style
from .io import VideoWriter, _check_writable, probe_video, read_frames, save_image, to_array, to_tensor
from .utils import pick_device, progress_bar

METHODS = ("gatys", "ruder", "johnson")


@dataclass
class VideoResult:
    output: Path
    n_frames: int
    fps: float
    resumed_frames: int  # frames found in the cache instead of computed
    seconds_per_frame: list[float] = field(default_factory=list)  # for computed frames
    final_losses: list[float] = field(default_factory=list)
    first_frame: int = 0  # the input's frame range used: range(first_frame, end_frame, every)
    end_frame: int = 0
    cuts: list[int] = field(default_factory=list)  # ruder: output frames that started a new shot


def _file_fingerprint(path: Path) -> dict:
    st = path.stat()
    return {"path": str(path.resolve()), "bytes": st.st_size, "mtime_ns": st.st_mtime_ns}


def _style_fingerprint(style: Path | Tensor) -> str:
    if isinstance(style, Tensor):
        return hashlib.sha256(style.detach().cpu().numpy().tobytes()).hexdigest()
    return hashlib.sha256(Path(style).read_bytes()).hexdigest()


def frame_cache_dir(output: Path, key: dict) -> Path:
    digest = hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:12]
    return output.parent / f".{output.name}.frames-{digest}"


def stylize_video(
    input: str | Path,
    style: str | Path | Tensor,
    output: str | Path,
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
) -> VideoResult:
    """Stylize a video file frame by frame and write ``output`` (.mp4) with the input's audio.

    Args:
        input: video file.
        style: style image path or tensor [1, 3, h, w] in [0, 1].
        method: ``"gatys"``: optimize each frame independently from its content (the
            flickering baseline that temporal methods are measured against); ``"ruder"``:
            Ruder et al.'s temporally consistent optimization (optical flow, warped
            initialization, temporal loss; all frames of the range are held in memory).
        config: method settings: :class:`GatysConfig` (default) or, for ``"ruder"``, a
            :class:`~vstlib.ruder.RuderConfig` (a GatysConfig is wrapped in the default one).
        flow_workers: ruder: frame pairs whose flow is computed at once (default: one per CPU core).
        size / max_side: frame size (H, W), or the length of the longer side.
        start / duration: the part of the video to stylize, in seconds.
        every: keep every n-th frame (the output fps is divided by n).
        device: ``"cpu"``, ``"cuda"``, ... (default: the best available).
        cache_dir: where finished frames are kept for resuming (default: a hidden folder
            beside the output, named after it and a hash of the settings).
        preserve_color: ``"none"``, ``"luminance"`` (stylize the luminance, keep each frame's
            colours) or ``"histogram"`` (recolour the style to the clip's colours first); see
            :mod:`vstlib.color`. The colour statistics are pooled over the whole frame range (one
            extra decoding pass), so the style image is the same for every frame and the colour
            handling adds no flicker of its own.
    """
    if method not in METHODS:
        raise VstError(f"unknown method '{method}'; choose one of {', '.join(METHODS)}")
    if method == "johnson":
        from .johnson import JohnsonInference

        if isinstance(config, (str, Path)):
            config = JohnsonInference(model=str(config))
        elif config is None:
            config = JohnsonInference()
        elif not isinstance(config, JohnsonInference):
            raise VstError(f"method johnson takes a JohnsonInference or a model name/path, not a {type(config).__name__}")
    config = config or GatysConfig()
    if method == "ruder":
        from .ruder import RuderConfig

        if isinstance(config, GatysConfig):
            config = RuderConfig(gatys=config)
    input, output = Path(input), Path(output)
    if output.suffix.lower() not in (".mp4", ".mov", ".mkv", ".m4v"):
        raise VstError(f"cannot write '{output}': a video output needs a .mp4, .mov, .mkv or .m4v name")
    _check_writable(output)  # before any work: missing folder, or output is a folder
    if every < 1:
        raise VstError(f"--every must be 1 or more, got {every}")
    if preserve_color not in PRESERVE_COLOR_MODES:
        raise VstError(f"unknown colour preservation '{preserve_color}'; choose {', '.join(PRESERVE_COLOR_MODES)}")
    if start < 0 or (duration is not None and duration <= 0):
        raise VstError(f"start must be >= 0 and duration > 0 seconds, got start={start}, duration={duration}")
    info = probe_video(input)
    first = int(round(start * info.fps))
    end = info.n_frames if duration is None else min(info.n_frames, first + int(math.ceil(duration * info.fps)))
    if first >= info.n_frames or end <= first:
        raise VstError(f"'{input}' has {info.n_frames} frames ({info.duration:.1f} s); start={start} s is past its end")
    n_out = len(range(first, end, every))
    fps = info.fps / every
    dev = pick_device(device)

    if method == "johnson":
        # One forward pass per frame: streamed straight into the writer, no frame cache.
        return _stylize_johnson(input, output, config, info, first, end, every, size, max_side, fps, dev,
                                progress, preserve_color, cache_dir, keep_cache)
    style_tensor = style if isinstance(style, Tensor) else load_style(style)
    key = {"version": __version__, "method": method, "config": config.to_dict(), "input": _file_fingerprint(input),
           "style": _style_fingerprint(style), "size": size, "max_side": max_side, "first": first, "end": end,
           "every": every, "preserve_color": preserve_color}
    cache = Path(cache_dir) if cache_dir is not None else frame_cache_dir(output, key)
    settings = json.dumps(key, indent=1, sort_keys=True, default=str)
    old_settings = cache / "settings.json"
    if old_settings.is_file() and any(cache.glob("frame_*.png")) and old_settings.read_text() != settings:
        # only possible with an explicit cache_dir (the default folder's name is a hash of the settings)
        raise VstError(f"the frame cache '{cache}' holds frames made with other settings; delete it or "
                       f"choose another cache folder")
    try:
        cache.mkdir(parents=True, exist_ok=True)
        old_settings.write_text(settings)
    except OSError as err:
        raise VstError(f"cannot use '{cache}' as the frame cache folder: {err.strerror}; "
                       f"choose another cache folder (--cache-dir)") from None

    result = VideoResult(output=output, n_frames=n_out, fps=fps, resumed_frames=0, first_frame=first, end_frame=end)

    def frames():
        return read_frames(input, size=size, max_side=max_side, start=first, end=end, step=every)

    # Colour preservation: statistics of the whole range (one decoding pass, nothing held), so one
    # style image serves every frame. The cache holds the stylizer's own outputs (grey ones in
    # luminance mode); the content's colours are put back when the video is written.
    plan = color.prepare(style_tensor, color.color_stats(frames()) if preserve_color != "none" else None,
                         preserve_color)
    try:
        if method == "ruder":
            _stylize_ruder(list(frames()), plan, config, dev, cache, result, progress, flow_workers)
        else:
            _stylize_gatys(frames(), plan, config, dev, cache, result, progress, f"{method} {input.name}")
    except VstError:
        # A mistake found before any frame was finished (frames too small for VGG, flow backend
        # unavailable): leave nothing behind. Finished frames are kept for resuming.
        if cache_dir is None and not any(cache.glob("*frame_*.png")):
            shutil.rmtree(cache, ignore_errors=True)
        raise

    n_cached = len(list(cache.glob("frame_*.png")))
    if n_cached < n_out:
        raise VstError(f"only {n_cached} of {n_out} frames could be decoded from '{input}'; the file may be truncated")
    contents = frames() if preserve_color == "luminance" else None
    with VideoWriter(output, fps=fps, audio_from=input, audio_start=first / info.fps, audio_duration=n_out / fps) as writer:
        for i in range(n_out):
            stylized = _read_png(cache / f"frame_{i:05d}.png")
            if contents is not None:
                stylized = to_array(plan.finish(to_tensor(stylized), to_tensor(next(contents))))
            writer.write(stylized)
    if not keep_cache:
        shutil.rmtree(cache, ignore_errors=True)
    return result


def _stylize_gatys(frames, plan: color.ColorPlan, config: GatysConfig, dev, cache: Path, result: VideoResult,
                   progress: bool, desc: str):
    """Per-frame Gatys, streaming: each frame is independent, so only one is in memory."""
    stylizer = GatysStylizer(plan.style, config, device=dev)
    bar = progress_bar(total=result.n_frames, desc=desc, unit="frame", disable=not progress)
    try:
        for i, frame in enumerate(frames):
            path = cache / f"frame_{i:05d}.png"
            if path.is_file():
                result.resumed_frames += 1
            else:
                res = stylizer(plan.content(to_tensor(frame).to(dev)))
                result.seconds_per_frame.append(res.times[-1] if res.times else 0.0)
                result.final_losses.append(res.losses[-1] if res.losses else math.nan)
                save_image(res.image, path)  # atomic: a killed run never leaves a half-written frame
            bar.update(1)
    finally:
        bar.close()


def _stylize_ruder(frames: list, plan: color.ColorPlan, config, dev, cache: Path, result: VideoResult, progress: bool,
                   flow_workers: int | None):
    """Ruder et al.: flows for the whole range first (in parallel, cached), then frames in order.
    The flow always comes from the colour frames, whatever the colour mode stylizes."""
    from .flow import compute_flows
    from .ruder import RuderStylizer, needed_pairs, stylize_clip

    if not frames:
        return
    if len(frames) < result.n_frames:
        raise VstError(f"only {len(frames)} of {result.n_frames} frames could be decoded; the file may be truncated")
    # Flows of frames whose results are all cached are not needed again (resuming a long clip).
    done = all((cache / f"frame_{i:05d}.png").is_file() for i in range(len(frames)))
    flows = {} if done else compute_flows(frames, needed_pairs(len(frames), config), method=config.flow,
                                          params=dict(config.flow_params), workers=flow_workers, progress=progress)
    stylizer = RuderStylizer(plan.style, config, device=dev)
    total = len(frames) * config.passes
    bar = progress_bar(total=total, desc=f"ruder ({config.passes} pass{'es' if config.passes > 1 else ''})",
                       unit="frame", disable=not progress)
    try:
        clip = stylize_clip([plan.content(to_tensor(f)) for f in frames], stylizer, flows, cache=cache, progress=bar)
    finally:
        bar.close()
    result.resumed_frames = clip.resumed
    result.seconds_per_frame = clip.seconds_per_frame
    result.final_losses = clip.final_losses
    result.cuts = clip.cuts


_END = object()  # end of a frame stream


PART_SECONDS = 5.0  # johnson: output is written in parts of this length; an interrupted run resumes at a part


def _stylize_johnson(input: Path, output: Path, config, info, first: int, end: int, every: int, size, max_side,
                     fps: float, dev, progress: bool, preserve_color: str, cache_dir=None,
                     keep_cache: bool = False) -> VideoResult:
    """A trained network over a video: decoding, inference and encoding run at the same time.

    A decoding thread fills a bounded queue with frames, the calling thread stylizes them in
    batches, and an encoding thread drains a bounded queue of finished frames into the writer
    (ffmpeg releases the GIL while it works): the model waits for ffmpeg only when ffmpeg is
    the slower part, and host memory stays a few batches whatever the length of the video.

    The output is encoded in parts of ``PART_SECONDS`` into a folder beside it (named by a hash
    of the settings, like the optimization methods' frame cache), then joined without
    re-encoding and given the audio. An interrupted run (Ctrl-C, a crash) keeps its finished
    parts and resumes after the last one when started again; any error leaves no output file.
    """
    from .io import concat_videos
    from .johnson import load_model, model_path, prepare_model

    n_out = len(range(first, end, every))
    per_part = max(config.batch, int(round(PART_SECONDS * fps)))
    n_parts = math.ceil(n_out / per_part)
    key = {"version": __version__, "method": "johnson", "config": config.to_dict(),
           "model": _file_fingerprint(model_path(config.model)), "input": _file_fingerprint(input), "size": size,
           "max_side": max_side, "first": first, "end": end, "every": every, "preserve_color": preserve_color,
           "per_part": per_part}
    parts_dir = Path(cache_dir) if cache_dir is not None else frame_cache_dir(output, key)
    try:
        parts_dir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise VstError(f"cannot use '{parts_dir}' for the video parts: {err.strerror}; choose another --cache-dir") from None
    parts = [parts_dir / f"part_{k:05d}.mp4" for k in range(n_parts)]
    done = 0
    while done < n_parts and parts[done].is_file():
        done += 1
    skip = done * per_part  # output frames already encoded
    result = VideoResult(output=output, n_frames=n_out, fps=fps, resumed_frames=min(skip, n_out), first_frame=first,
                         end_frame=end)

    if done < n_parts:
        model = prepare_model(load_model(config.model, dev), config, dev)
        amp = config.resolved_amp(dev)
        stats = None
        if preserve_color == "histogram":  # the network's palette is fixed: recolour its output to the clip's
            stats = color.color_stats(read_frames(input, size=size, max_side=max_side, start=first, end=end,
                                                  step=every))
        try:
            _johnson_pipeline(input, parts[done:], per_part, first + skip * every, end, every, size, max_side, fps,
                              dev, progress, preserve_color, model, amp, stats, config, result, n_out - skip)
        except BaseException:
            # finished parts are kept for resuming; a folder with none is removed
            if cache_dir is None and not any(parts_dir.glob("part_*.mp4")):
                shutil.rmtree(parts_dir, ignore_errors=True)
            raise
    missing = [p for p in parts if not p.is_file()]
    if missing:  # the decoder ran out of frames early
        written = sum(probe_video(p).n_frames for p in parts if p.is_file())
        if cache_dir is None:
            shutil.rmtree(parts_dir, ignore_errors=True)
        raise VstError(f"only {written} of {n_out} frames could be decoded from '{input}'; the file may be truncated")
    concat_videos(parts, output, audio_from=input, audio_start=first / info.fps, audio_duration=n_out / fps)
    if not keep_cache:
        shutil.rmtree(parts_dir, ignore_errors=True)
    return result


def _johnson_pipeline(input: Path, parts: list[Path], per_part: int, start: int, end: int, every: int, size,
                      max_side, fps: float, dev, progress: bool, preserve_color: str, model, amp, stats, config,
                      result: VideoResult, n_todo: int) -> None:
    """Decode frames start..end (every ``every``), stylize, and encode them into ``parts``."""
    import queue
    import threading

    import torch

    from .johnson import stylize_batch

    # On a CPU the network already uses every core: x264's own thread pool would take turns with
    # torch's threads (measured on 2 cores: 0.82 against 0.78 frames/s file to file).
    encoder_threads = 1 if torch.device(dev).type == "cpu" else None
    channels_last = config.resolved_channels_last(dev)  # the layout prepare_model gave the network
    frames_in: queue.Queue = queue.Queue(maxsize=2 * config.batch)
    frames_out: queue.Queue = queue.Queue(maxsize=2 * config.batch)
    stop = threading.Event()  # set on any error: every thread quits at its next queue operation
    errors: list[BaseException] = []

    def put(q, item) -> bool:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.1)
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
        frames = read_frames(input, size=size, max_side=max_side, start=start, end=end, step=every)
        try:
            for frame in frames:
                if not put(frames_in, frame):
                    return
            put(frames_in, _END)
        except BaseException as err:  # noqa: BLE001 - handed to the calling thread
            errors.append(err)
            stop.set()
        finally:
            frames.close()

    def encode():
        try:
            for part in parts:
                item = get(frames_out)
                if item is None or item is _END:  # stopped, or nothing left for this part
                    break
                # each part is renamed into place only when complete: a killed run keeps whole parts
                with VideoWriter(part, fps=fps, threads=encoder_threads) as writer:
                    writer.write(item)
                    while writer.n_frames < per_part:
                        item = get(frames_out)
                        if item is None:  # stopped: raise inside the writer so it deletes its temp files
                            raise InterruptedError
                        if item is _END:
                            break
                        writer.write(item)
                if item is _END:
                    break
        except InterruptedError:
            pass
        except BaseException as err:  # noqa: BLE001
            errors.append(err)
            stop.set()

    threads = [threading.Thread(target=decode, daemon=True), threading.Thread(target=encode, daemon=True)]
    for t in threads:
        t.start()
    bar = progress_bar(total=n_todo, desc=f"johnson {input.name}", unit="frame", disable=not progress)
    try:
        finished = False
        while not finished:
            batch = []
            while len(batch) < config.batch:
                item = get(frames_in)
                if item is None:
                    raise errors[0] if errors else InterruptedError("stopped")
                if item is _END:
                    finished = True
                    break
                batch.append(item)
            if not batch:
                break
            t0 = time.perf_counter()
            x = torch.from_numpy(np.stack(batch)).to(dev, non_blocking=True).permute(0, 3, 1, 2).float().div_(255)
            content = x
            if preserve_color == "luminance":
                x = color.to_luminance_image(x)
            if channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            n = x.shape[0]
            if config.compile and n < config.batch:  # a short last batch: pad it rather than compile again
                x = torch.cat([x, x[-1:].expand(config.batch - n, -1, -1, -1)])
            y = stylize_batch(model, x, amp)[:n]
            if preserve_color == "luminance":
                y = color.luminance_only(y, content)
            elif stats is not None:
                y = torch.cat([color.match_color_to_stats(f[None], stats.mean, stats.cov) for f in y])
            out = (y.clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).contiguous().cpu().numpy()
            seconds = (time.perf_counter() - t0) / len(batch)
            for frame in out:
                if not put(frames_out, frame):
                    raise errors[0] if errors else InterruptedError("stopped")
            result.seconds_per_frame += [seconds] * len(batch)
            bar.update(len(batch))
        put(frames_out, _END)
    except BaseException:
        stop.set()
        raise
    finally:
        bar.close()
        for t in threads:
            t.join()
    if errors:
        raise errors[0]


def _read_png(path: Path) -> np.ndarray:
    """A cached frame back as uint8 [H, W, 3] (exactly the bytes that were saved)."""
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))
