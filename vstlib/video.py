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
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image
from torch import Tensor

from . import __version__
from .errors import VstError
from .gatys import GatysConfig, GatysStylizer, load_style
from .io import VideoWriter, _check_writable, probe_video, read_frames, save_image, to_tensor
from .utils import pick_device, progress_bar

METHODS = ("gatys", "ruder")


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
    """
    if method not in METHODS:
        raise VstError(f"unknown method '{method}'; choose one of {', '.join(METHODS)}")
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

    style_tensor = style if isinstance(style, Tensor) else load_style(style)
    key = {"version": __version__, "method": method, "config": config.to_dict(), "input": _file_fingerprint(input),
           "style": _style_fingerprint(style), "size": size, "max_side": max_side, "first": first, "end": end,
           "every": every}
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
    frames = read_frames(input, size=size, max_side=max_side, start=first, end=end, step=every)
    try:
        if method == "ruder":
            _stylize_ruder(list(frames), style_tensor, config, dev, cache, result, progress, flow_workers)
        else:
            _stylize_gatys(frames, style_tensor, config, dev, cache, result, progress, f"{method} {input.name}")
    except VstError:
        # A mistake found before any frame was finished (frames too small for VGG, flow backend
        # unavailable): leave nothing behind. Finished frames are kept for resuming.
        if cache_dir is None and not any(cache.glob("*frame_*.png")):
            shutil.rmtree(cache, ignore_errors=True)
        raise

    n_cached = len(list(cache.glob("frame_*.png")))
    if n_cached < n_out:
        raise VstError(f"only {n_cached} of {n_out} frames could be decoded from '{input}'; the file may be truncated")
    with VideoWriter(output, fps=fps, audio_from=input, audio_start=first / info.fps, audio_duration=n_out / fps) as writer:
        for i in range(n_out):
            writer.write(_read_png(cache / f"frame_{i:05d}.png"))
    if not keep_cache:
        shutil.rmtree(cache, ignore_errors=True)
    return result


def _stylize_gatys(frames, style, config: GatysConfig, dev, cache: Path, result: VideoResult, progress: bool, desc: str):
    """Per-frame Gatys, streaming: each frame is independent, so only one is in memory."""
    stylizer = GatysStylizer(style, config, device=dev)
    bar = progress_bar(total=result.n_frames, desc=desc, unit="frame", disable=not progress)
    try:
        for i, frame in enumerate(frames):
            path = cache / f"frame_{i:05d}.png"
            if path.is_file():
                result.resumed_frames += 1
            else:
                res = stylizer(to_tensor(frame).to(dev))
                result.seconds_per_frame.append(res.times[-1] if res.times else 0.0)
                result.final_losses.append(res.losses[-1] if res.losses else math.nan)
                save_image(res.image, path)  # atomic: a killed run never leaves a half-written frame
            bar.update(1)
    finally:
        bar.close()


def _stylize_ruder(frames: list, style, config, dev, cache: Path, result: VideoResult, progress: bool,
                   flow_workers: int | None):
    """Ruder et al.: flows for the whole range first (in parallel, cached), then frames in order."""
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
    stylizer = RuderStylizer(style, config, device=dev)
    total = len(frames) * config.passes
    bar = progress_bar(total=total, desc=f"ruder ({config.passes} pass{'es' if config.passes > 1 else ''})",
                       unit="frame", disable=not progress)
    try:
        clip = stylize_clip([to_tensor(f) for f in frames], stylizer, flows, cache=cache, progress=bar)
    finally:
        bar.close()
    result.resumed_frames = clip.resumed
    result.seconds_per_frame = clip.seconds_per_frame
    result.final_losses = clip.final_losses
    result.cuts = clip.cuts


def _read_png(path: Path) -> np.ndarray:
    """A cached frame back as uint8 [H, W, 3] (exactly the bytes that were saved)."""
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))
