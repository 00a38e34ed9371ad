"""The runner's work on a Ray cluster: chunks of a video, the flow of a clip, cells of an evaluation.

There is no second code path: each Ray task runs the runner's own :func:`vstlib.runner._run_parts`
on a range of output frames (a :class:`Chunk`), writing its parts into the same resume folder a
single-machine run uses, and the driver joins them with the audio as that run does. So:

* **Per-frame methods** (``Method.chunking(config) == "frames"``): chunks are independent and
  write the frames a single-machine run writes (the parts are cut at other frames, so the H.264
  encoder's own rounding differs; benchmarks/RESULTS.md measures both).
* **Sequential methods** (``"shots"``, Ruder): the clip is split at its shot cuts (the same
  criterion as the method's: fewer reliable flow pixels than ``cut_threshold``, on the flow of
  every consecutive pair, computed as Ray tasks into the flow cache the method then reads), and
  a shot longer than a chunk into chunks that overlap by ``overlap`` frames: the later chunk
  starts that many frames early, and across the overlap the two results are cross-faded
  (weights (i + 1) / (overlap + 1)), so the jump between two independent optimizations is spread
  over the overlap instead of landing on one frame.
* **Resume**: a chunk whose parts exist is not submitted, and a retried chunk continues after
  its last finished part (with the method's state saved beside it); Ray retries a chunk whose
  worker died (``max_retries``). Progress counts the frames of the finished parts on disk.

**Shared folder.** Workers write into the resume folder and read the input by its path, so the
input, the output's folder and the flow cache (``VSTLIB_CACHE_DIR``) must be on a filesystem
every node mounts at the same path (NFS, a cluster's shared home). On a single machine, as in
the tests, that holds by itself.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .config import option, validate
from .errors import VstError

RETRIES = 3  # a chunk whose worker died runs again this many times


@dataclass(frozen=True)
class ClusterOptions:
    """How a video is split over a Ray cluster."""

    workers: int | None = option(None, "chunks of a video run at once", kind=int, low=1, high=100000,
                                 flag="cluster-workers", default_text="one per GPU of the cluster, else one per CPU")
    overlap: int = option(8, "sequential methods (ruder): frames two chunks of one long shot share, cross-faded "
                             "(0: none)", low=0, high=1000, flag="chunk-overlap", metavar="N")

    def __post_init__(self):
        validate(self)


@dataclass(frozen=True)
class Chunk:
    """Output frames ``[start, end)`` computed by one task, in order. ``warmup`` frames before
    ``start`` are computed first and kept (not encoded) for the blend with the chunk before; the
    last ``tail`` frames are kept instead of encoded, for the blend with the chunk after."""

    start: int
    end: int
    warmup: int = 0
    tail: int = 0


def plan_chunks(n_frames: int, workers: int, part_frames: int = 1, cuts: Sequence[int] = (), overlap: int = 0,
                split: str = "frames") -> list[Chunk]:
    """Chunks covering ``n_frames`` output frames for ``workers`` workers.

    ``split="frames"``: equal chunks, their lengths multiples of the runner's ``part_frames``.
    ``split="shots"``: every shot (between ``cuts``) on its own; a shot longer than
    ``ceil(n_frames / workers)`` in several chunks that overlap by ``overlap`` frames.

    >>> plan_chunks(10, 2, part_frames=3)
    [Chunk(start=0, end=6, warmup=0, tail=0), Chunk(start=6, end=10, warmup=0, tail=0)]
    >>> plan_chunks(20, 2, cuts=[4], overlap=2, split="shots")  # doctest: +NORMALIZE_WHITESPACE
    [Chunk(start=0, end=4, warmup=0, tail=0), Chunk(start=4, end=12, warmup=0, tail=2),
     Chunk(start=12, end=20, warmup=2, tail=0)]
    """
    if n_frames < 1 or workers < 1:
        raise VstError(f"cannot plan chunks of {n_frames} frames for {workers} workers")
    length = math.ceil(n_frames / workers)
    if split == "frames":
        aligned = math.ceil(length / part_frames) * part_frames  # at the parts of a single-machine run
        if math.ceil(n_frames / aligned) == math.ceil(n_frames / length):
            length = aligned
        return [Chunk(a, min(a + length, n_frames)) for a in range(0, n_frames, length)]
    if split != "shots":
        raise VstError(f"unknown chunking '{split}'")
    bounds = [0] + sorted({int(c) for c in cuts if 0 < c < n_frames}) + [n_frames]
    chunks = []
    for a, b in zip(bounds, bounds[1:]):
        pieces = max(1, min(math.ceil((b - a) / length), (b - a) // (overlap + 1)))
        edges = [a + round(k * (b - a) / pieces) for k in range(pieces + 1)]
        for k in range(pieces):
            chunks.append(Chunk(edges[k], edges[k + 1], warmup=overlap if k > 0 else 0,
                                tail=overlap if k < pieces - 1 else 0))
    return chunks


# ------------------------------------------------------------------------------------------
# Ray
# ------------------------------------------------------------------------------------------


def connect(cluster: str, num_cpus: int | None = None):
    """Ray, joined to ``cluster``: ``"ray"`` starts a local instance (unless this process joined
    one already), anything else is a cluster's address (``ray://host:10001``, ``host:6379``, ``auto``)."""
    try:
        import ray
    except ImportError:
        raise VstError("--cluster needs Ray: pip install 'vstlib[ray]'") from None
    if not ray.is_initialized():
        import logging

        for attempt in range(2):
            try:
                if cluster == "ray":
                    ray.init(num_cpus=num_cpus, include_dashboard=False, logging_level=logging.ERROR)
                else:
                    ray.init(address=cluster, logging_level=logging.ERROR)
                break
            except (ConnectionError, RuntimeError, ValueError) as err:
                raise VstError(f"cannot join the Ray cluster '{cluster}': {str(err).splitlines()[0]}") from None
            except Exception as err:  # a local instance whose processes were slow to register (a busy machine)
                ray.shutdown()
                if attempt or "timed out during startup" not in str(err):
                    raise VstError(f"cannot start a local Ray instance: {str(err).splitlines()[0]}") from None
    return ray


def _workers(ray, options: ClusterOptions, use_gpus: bool) -> tuple[int, float]:
    """(workers, GPUs per task)."""
    resources = ray.cluster_resources()
    gpus = int(resources.get("GPU", 0)) if use_gpus else 0
    if options.workers is not None:
        return options.workers, 1.0 if gpus else 0.0
    return (gpus, 1.0) if gpus else (max(1, int(resources.get("CPU", 1))), 0.0)


def _get(ray, refs):
    """``ray.get`` with a user's mistake in a task (VstError) raised again as that one line, and a
    task whose workers kept dying as one line too."""
    try:
        return ray.get(refs)
    except ray.exceptions.RayTaskError as err:
        if isinstance(err.cause, VstError):
            raise VstError(str(err.cause)) from None
        raise
    except (ray.exceptions.WorkerCrashedError, ray.exceptions.NodeDiedError, ray.exceptions.OutOfMemoryError) as err:
        raise VstError(f"a task failed {RETRIES + 1} times on the cluster ({type(err).__name__}); what finished "
                       f"is kept: run the same command again to resume") from None


def _run_chunk(chunk: Chunk, device, args: tuple) -> dict:
    """One chunk, in a Ray worker: the runner's own code on its frame range."""
    from .runner import VideoResult, _run_parts
    from .utils import pick_device

    args = list(args)
    args[13] = pick_device(device)  # this worker's device (Ray sets the GPU it was given)
    args[14] = False  # no progress bar per worker: the driver shows the whole run
    result = VideoResult(output=args[1], n_frames=0, fps=args[11], resumed_frames=0)
    args[19] = result
    _run_parts(*args, chunk=chunk)
    return {"start": chunk.start, "seconds_per_frame": result.seconds_per_frame,
            "final_losses": result.final_losses, "cuts": result.cuts}


def _reliable_fractions(input: Path, size, first: int, a: int, b: int, every: int, flow: str, params: dict,
                        end: int) -> list[float]:
    """For output frames ``a..b-1`` (a >= 1): the fraction of pixels the flow to the frame before
    finds reliably (:func:`vstlib.flow.occlusion_mask`, as Ruder's neighbour mask)."""
    from .flow import compute_flows, occlusion_mask
    from .io import read_frames

    frames = [f for f in read_frames(input, size=size, start=first + (a - 1) * every,
                                     end=min(end, first + b * every), step=every)]
    pairs = [p for i in range(1, len(frames)) for p in ((i, i - 1), (i - 1, i))]
    flows = compute_flows(frames, pairs, method=flow, params=params, workers=1, progress=False)
    return [float(occlusion_mask(flows[(i, i - 1)], flows[(i - 1, i)]).mean()) for i in range(1, len(frames))]


def shot_cuts(ray, input: Path, size, first: int, end: int, every: int, n_frames: int, config, workers: int) -> list[int]:
    """Output frames that start a new shot, by the method's criterion (``config.flow``,
    ``config.flow_params``, ``config.cut_threshold``), the flow computed as Ray tasks into the cache."""
    if n_frames < 2:
        return []
    task = ray.remote(max_retries=RETRIES, num_cpus=1)(_reliable_fractions)
    step = math.ceil((n_frames - 1) / workers)
    ranges = [(a, min(a + step, n_frames)) for a in range(1, n_frames, step)]
    refs = [task.remote(input, size, first, a, b, every, config.flow, dict(config.flow_params), end) for a, b in ranges]
    fractions = [f for part in _get(ray, refs) for f in part]
    return [i for i, f in enumerate(fractions, start=1) if f < config.cut_threshold]


def _chunk_done(folder: Path, chunk: Chunk) -> bool:
    from .runner import _finished_parts

    parts = _finished_parts(folder, chunk.start)
    encoded = chunk.end - chunk.tail
    done = chunk.start == encoded or any(b == encoded for _, b, _ in parts)
    if chunk.tail:
        done = done and (folder / f"tail_{chunk.end:06d}_{chunk.tail}.pt").is_file()
    if chunk.warmup:
        seam = folder / f"part_{chunk.start - chunk.warmup:06d}_{chunk.start:06d}.mp4"
        done = done and (seam.is_file() or (folder / f"lead_{chunk.start:06d}_{chunk.warmup}.pt").is_file())
    return done


def _remove_parts_off_plan(folder: Path, chunks: Sequence[Chunk]) -> None:
    """Parts of an earlier run cut elsewhere (another plan, or a single-machine run) that do not fit
    this plan's chunks: removed, so every chunk's parts form one chain and the join finds them all."""
    from .runner import _finished_parts

    keep = set()
    for c in chunks:
        for _, b, path in _finished_parts(folder, c.start):
            if b > c.end - c.tail:
                break
            keep.add(path)
        if c.warmup:
            keep.add(folder / f"part_{c.start - c.warmup:06d}_{c.start:06d}.mp4")
    for path in folder.glob("part_*.mp4"):
        if path not in keep:
            path.unlink()


def _frames_done(folder: Path) -> int:
    from .runner import _part_files

    return sum(b - a for a, b, _ in _part_files(folder))


def _blend_seams(folder: Path, chunks: Sequence[Chunk], input: Path, first: int, every: int, fps: float,
                 device) -> None:
    """The overlap of two chunks of one shot: both results cross-faded, encoded as its own part."""
    import numpy as np
    import torch

    from .io import VideoWriter, read_frames
    from .runner import _frame_time

    for c in chunks:
        if not c.warmup:
            continue
        a, s = c.start - c.warmup, c.start
        part = folder / f"part_{a:06d}_{s:06d}.mp4"
        if part.is_file():
            continue
        before = torch.load(folder / f"tail_{s:06d}_{c.warmup}.pt", weights_only=True)["frames"].numpy()
        after = torch.load(folder / f"lead_{s:06d}_{c.warmup}.pt", weights_only=True)["frames"].numpy()
        w = (np.arange(1, c.warmup + 1, dtype=np.float32) / (c.warmup + 1))[:, None, None, None]
        blended = np.rint((1 - w) * before.astype(np.float32) + w * after).clip(0, 255).astype(np.uint8)
        times = [t for t, _ in read_frames(input, size=(16, 16), start=first + a * every, end=first + s * every,
                                           step=every, with_times=True)]
        temp = folder / f"part_{a:06d}_XXXXXX.mp4"
        threads = 1 if torch.device(device).type == "cpu" else None
        with VideoWriter(temp, fps=fps, threads=threads) as writer:
            for frame, t in zip(blended, times):
                writer.write(frame, time=float(t))
            writer.end_time = _frame_time(input, first + s * every)
        os.replace(temp, part)


def run_video(cluster: str, options: ClusterOptions | None, device, input, output, folder, m, config, styles, info,
              first, end, every, n_out, fps, hw, dev, progress, preserve_color, schedule, n_styles, post_steps, result,
              regions) -> None:
    """:func:`vstlib.runner.stylize_video`'s work on Ray (called by it, with the output's lock held):
    chunks as tasks, then the seams blended and the parts joined with the audio."""
    from .runner import PART_SECONDS, _join_parts, _time_range
    from .utils import progress_bar

    options = options or ClusterOptions()
    split = m.chunking(config)
    if split == "none":
        raise VstError(f"--method {m.name} with these settings needs the whole clip in one process; run it "
                       f"without --cluster")
    if regions is not None:
        raise VstError("--segment does not run on a cluster yet; run it without --cluster")
    if any(hasattr(step, "state_dict") for step in post_steps):
        raise VstError("--stabilize (a post step carried from frame to frame) does not run on a cluster yet; run it "
                       "without --cluster")
    ray = connect(cluster)
    workers, gpus = _workers(ray, options, str(device or "auto") != "cpu")
    part_frames = max(1, int(round(PART_SECONDS * fps)))
    cuts = shot_cuts(ray, input, hw, first, end, every, n_out, config, workers) if split == "shots" else []
    chunks = plan_chunks(n_out, workers, part_frames, cuts, options.overlap, split)

    task = ray.remote(max_retries=RETRIES, num_cpus=1, num_gpus=gpus)(_run_chunk)
    input, output, folder = Path(input).resolve(), Path(output).resolve(), Path(folder).resolve()  # workers' cwd
    styles = [type(s)(Path(s).resolve()) if isinstance(s, (str, Path)) and Path(s).is_file() else s for s in styles]
    args = (input, output, folder, m, config, styles, info, first, end, every, n_out, fps, hw, dev, False,
            preserve_color, schedule, n_styles, post_steps, None, regions)
    _remove_parts_off_plan(folder, chunks)
    todo = [c for c in chunks if not _chunk_done(folder, c)]
    result.resumed_frames = sum(c.end - c.start for c in chunks if c not in todo)
    pending = [task.remote(c, device, args) for c in todo]
    done = []
    with progress_bar(total=n_out, desc=f"{m.name} {input.name} on Ray, {len(chunks) - len(todo)}/{len(chunks)} "
                                        f"chunks", unit="frame", disable=not progress) as bar:
        try:
            while pending:
                ready, pending = ray.wait(pending, num_returns=1, timeout=1.0)
                done += _get(ray, ready)
                bar.set_description(f"{m.name} {input.name} on Ray, {len(chunks) - len(todo) + len(done)}/"
                                    f"{len(chunks)} chunks", refresh=False)
                bar.n = min(n_out, _frames_done(folder))
                bar.refresh()
        except BaseException:  # an error or Ctrl-C: the other chunks stop too (their finished parts stay)
            for ref in pending:
                ray.cancel(ref, force=True)
            raise
        _blend_seams(folder, chunks, input, first, every, fps, dev)
        bar.n = min(n_out, _frames_done(folder))
        bar.refresh()
    done.sort(key=lambda d: d["start"])
    result.seconds_per_frame = [s for d in done for s in d["seconds_per_frame"]]
    result.final_losses = [v for d in done for v in d["final_losses"]]
    result.cuts = sorted(set(cuts) | {c for d in done for c in d["cuts"]})
    t_first, t_end = _time_range(input, info, first, end)
    _join_parts(input, output, folder, info, t_first, t_end)


def run_cells(cluster: str, compute, cells: Sequence[tuple], device, memory: bool, progress: bool,
              labels: Sequence[str]) -> list:
    """``compute(*args, device, memory)`` for every ``args`` of ``cells`` as Ray tasks (the cells of
    :func:`vstlib.evaluate.evaluate`, each storing itself in the shared cache), results in order."""
    ray = connect(cluster)
    _, gpus = _workers(ray, ClusterOptions(), str(device or "auto") != "cpu")
    task = ray.remote(max_retries=RETRIES, num_cpus=1, num_gpus=gpus)(compute)
    refs = [task.remote(*args, device, memory) for args in cells]
    label = dict(zip(refs, labels))
    out, pending, t0 = {}, list(refs), time.perf_counter()
    while pending:
        ready, pending = ray.wait(pending, num_returns=1, timeout=1.0)
        for ref in ready:
            out[ref] = _get(ray, ref)
            if progress:
                print(f"{label[ref]}: computed on Ray ({len(out)}/{len(refs)} after {time.perf_counter() - t0:.1f} s)",
                      flush=True)
    return [out[r] for r in refs]
