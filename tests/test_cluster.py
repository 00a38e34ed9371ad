"""vstlib.cluster: a video's chunks and an evaluation's cells as Ray tasks, on a local Ray instance
of two CPUs started once for this module (and shut down after it). Tiny clips: the shipped
16-filter Johnson network at 64 px, Ruder at 64 px with a few iterations and DIS flow."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from vstlib.cluster import Chunk, ClusterOptions, plan_chunks
from vstlib.errors import VstError

MODEL = "starry_night_vangogh_w16"


# ------------------------------------------------------------------------------------------
# Planning (no Ray)
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("n, workers, part", [(1, 4, 1), (10, 3, 1), (100, 7, 12), (240, 2, 120), (5, 16, 3)])
def test_frame_chunks_cover_the_clip_once(n, workers, part):
    chunks = plan_chunks(n, workers, part)
    assert chunks[0].start == 0 and chunks[-1].end == n
    assert all(a.end == b.start for a, b in zip(chunks, chunks[1:]))
    assert all(c.end > c.start and c.warmup == c.tail == 0 for c in chunks)
    assert len(chunks) <= workers


def test_shot_chunks_start_at_cuts_and_overlap_within_shots():
    chunks = plan_chunks(100, 4, cuts=[10, 60, 0, 100], overlap=5, split="shots")
    assert [c.start for c in chunks if c.warmup == 0] == [0, 10, 60]  # every shot starts fresh
    assert chunks[-1].end == 100 and all(a.end == b.start for a, b in zip(chunks, chunks[1:]))
    for a, b in zip(chunks, chunks[1:]):
        assert a.tail == b.warmup  # the overlap is blended from both sides
        assert b.warmup in (0, 5) and (b.warmup == 0) == (b.start in (10, 60))
        assert b.start - b.warmup >= max(c for c in (0, 10, 60) if c <= b.start)  # never across a cut
    assert all(c.end - c.start > c.tail for c in chunks)
    assert plan_chunks(100, 4, cuts=[50], overlap=0, split="shots")[1] == Chunk(25, 50)


def test_planning_refuses_nonsense():
    with pytest.raises(VstError):
        plan_chunks(0, 2)
    with pytest.raises(VstError):
        plan_chunks(10, 2, split="bogus")
    with pytest.raises(VstError, match="chunk-overlap"):
        ClusterOptions(overlap=-1)


# ------------------------------------------------------------------------------------------
# On a local Ray instance
# ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ray_local(_vstlib_env):
    """A local Ray instance with two CPUs; its workers inherit this session's VSTLIB_* folders."""
    pytest.importorskip("ray")
    import sys

    from vstlib.cluster import connect

    ray = connect("ray", num_cpus=2)  # (one retry if a busy machine was too slow to start it)
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the post steps below, for the workers
    yield ray
    ray.shutdown()


class SaveFrames:
    """A post step writing each output exactly (before H.264) to ``folder/<index>.npy``, from any process."""

    def __init__(self, folder):
        self.folder = Path(folder)

    def __call__(self, image, item):
        from vstlib.io import to_array

        np.save(self.folder / f"{item.index:06d}.npy", to_array(image))
        return image

    def __repr__(self):
        return "SaveFrames()"


class ExitOnce:
    """A post step that kills its worker process at output frame ``at`` the first time, after
    recording the finished parts of ``folder`` (name -> inode) in ``marker``."""

    def __init__(self, marker, folder, at: int):
        self.marker, self.folder, self.at = Path(marker), Path(folder), at

    def __call__(self, image, item):
        if item.index == self.at and not self.marker.exists():
            parts = {p.name: p.stat().st_ino for p in self.folder.glob("part_*_*.mp4") if "X" not in p.name}
            self.marker.write_text(json.dumps(parts))
            os._exit(1)
        return image

    def __repr__(self):
        return "ExitOnce()"


def _decoded(path):
    from vstlib.io import read_frames

    return np.stack(list(read_frames(path))).astype(np.int16)


def _stylize(bbb_path, out, **kwargs):
    from vstlib.johnson import JohnsonInference
    from vstlib.runner import stylize_video

    return stylize_video(bbb_path, None, out, "johnson", JohnsonInference(model=MODEL), max_side=64, progress=False,
                         **kwargs)


def test_per_frame_chunks_write_the_single_machine_frames(ray_local, bbb_path, tmp_path):
    from vstlib.io import probe_video

    single, cluster = tmp_path / "single", tmp_path / "cluster"
    single.mkdir(), cluster.mkdir()
    a = _stylize(bbb_path, tmp_path / "a.mp4", duration=2, post_steps=[SaveFrames(single)])
    b = _stylize(bbb_path, tmp_path / "b.mp4", duration=2, post_steps=[SaveFrames(cluster)], cluster="ray",
                 cluster_options=ClusterOptions(workers=3))
    names = sorted(p.name for p in single.iterdir())
    assert len(names) == a.n_frames == b.n_frames == 48
    assert sorted(p.name for p in cluster.iterdir()) == names  # every frame computed once, in some chunk
    for name in names:  # the method's outputs: the same
        assert np.array_equal(np.load(single / name), np.load(cluster / name)), name
    exact = np.stack([np.load(single / n) for n in names]).astype(np.int16)
    dec_a, dec_b = _decoded(tmp_path / "a.mp4"), _decoded(tmp_path / "b.mp4")
    assert dec_a.shape == dec_b.shape == exact.shape
    # What differs is the encoder's rounding (parts cut at other frames): no more than it errs by itself.
    assert np.abs(dec_b - dec_a).max() <= 2 * max(np.abs(dec_a - exact).max(), np.abs(dec_b - exact).max())
    ia, ib = probe_video(tmp_path / "a.mp4"), probe_video(tmp_path / "b.mp4")
    assert ib.has_audio and ia.has_audio and ib.n_frames == ia.n_frames
    assert ib.duration == pytest.approx(ia.duration, abs=0.05) and ib.fps == pytest.approx(ia.fps)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.mp4", "b.mp4", "cluster", "single"]  # no leftovers


def test_killed_worker_is_retried_and_finished_parts_are_kept(ray_local, bbb_path, tmp_path):
    # every 4th frame of 10 s: 60 frames at 6 fps, parts of 30 frames (5 s); one chunk, killed in its second part
    folder, marker = tmp_path / "resume", tmp_path / "killed.json"
    result = _stylize(bbb_path, tmp_path / "out.mp4", every=4, cache_dir=folder, cluster="ray",
                      cluster_options=ClusterOptions(workers=1), post_steps=[ExitOnce(marker, folder, at=40)])
    assert marker.is_file(), "the worker was not killed"
    before = json.loads(marker.read_text())
    assert "part_000000_000030.mp4" in before
    after = {p.name: p.stat().st_ino for p in folder.glob("part_*.mp4")}
    assert all(after.get(name) == ino for name, ino in before.items())  # not recomputed by the retry
    assert set(after) == {"part_000000_000030.mp4", "part_000030_000060.mp4"}
    assert result.n_frames == 60 and len(_decoded(tmp_path / "out.mp4")) == 60


def test_finished_chunks_are_not_submitted_again(ray_local, bbb_path, tmp_path):
    folder, out = tmp_path / "resume", tmp_path / "out.mp4"
    options = ClusterOptions(workers=2)
    _stylize(bbb_path, out, every=4, cache_dir=folder, cluster="ray", cluster_options=options)
    first = _decoded(out)
    kept, lost = folder / "part_000000_000030.mp4", folder / "part_000030_000060.mp4"
    inode = kept.stat().st_ino
    lost.unlink()  # as if the second chunk's worker had died with its node
    out.unlink()
    again = _stylize(bbb_path, out, every=4, cache_dir=folder, cluster="ray", cluster_options=options)
    assert again.resumed_frames == 30 and kept.stat().st_ino == inode and lost.is_file()
    assert np.array_equal(_decoded(out), first)


def test_a_single_machine_runs_parts_are_resumed_where_they_fit_the_plan(ray_local, bbb_path, tmp_path):
    folder, out = tmp_path / "resume", tmp_path / "out.mp4"
    _stylize(bbb_path, out, every=4, cache_dir=folder)  # parts [0, 30) and [30, 60)
    inodes = {p.name: p.stat().st_ino for p in folder.glob("part_*.mp4")}
    assert sorted(inodes) == ["part_000000_000030.mp4", "part_000030_000060.mp4"]
    reference = _decoded(out)
    out.unlink()
    same_cuts = _stylize(bbb_path, out, every=4, cache_dir=folder, cluster="ray",
                         cluster_options=ClusterOptions(workers=2))
    assert same_cuts.resumed_frames == 60 and {p.name: p.stat().st_ino for p in folder.glob("part_*.mp4")} == inodes
    assert np.array_equal(_decoded(out), reference)
    out.unlink()
    other_cuts = _stylize(bbb_path, out, every=4, cache_dir=folder, cluster="ray",
                          cluster_options=ClusterOptions(workers=3))  # chunks of 20: the old parts do not fit
    assert other_cuts.resumed_frames == 0
    assert sorted(p.name for p in folder.glob("part_*.mp4")) == [
        "part_000000_000020.mp4", "part_000020_000040.mp4", "part_000040_000060.mp4"]
    assert len(_decoded(out)) == 60


def test_ruder_runs_by_shot_with_blended_overlaps(ray_local, data_dir, tmp_path):
    from vstlib.gatys import GatysConfig
    from vstlib.io import read_frames
    from vstlib.methods.ruder import RuderConfig
    from vstlib.runner import stylize_video

    clip = data_dir / "video" / "tears_of_steel_640x360_10s.mp4"  # a shot cut at frame 21
    config = RuderConfig(gatys=GatysConfig(iters=2), frame_iters=1, flow="dis")
    folder, out = tmp_path / "resume", tmp_path / "ruder.mp4"
    result = stylize_video(clip, "starry_night_vangogh", out, "ruder", config, max_side=64, duration=1.25,
                           cache_dir=folder, progress=False, cluster="ray",
                           cluster_options=ClusterOptions(workers=2, overlap=3))
    assert result.n_frames == 30 and result.cuts == [21]
    assert len(list(read_frames(out))) == 30
    # the first shot (21 frames) in two chunks of about 10 frames, overlapping by 3; the second alone
    seams = sorted(folder.glob("lead_*_3.pt"))
    assert len(seams) == 1
    s = int(seams[0].stem.split("_")[1])
    assert 3 < s < 21 and (folder / f"tail_{s:06d}_3.pt").is_file()
    blended = folder / f"part_{s - 3:06d}_{s:06d}.mp4"
    assert blended.is_file()
    import torch

    before = torch.load(folder / f"tail_{s:06d}_3.pt", weights_only=True)["frames"].numpy().astype(float)
    after = torch.load(seams[0], weights_only=True)["frames"].numpy().astype(float)
    seam = np.stack(list(read_frames(blended))).astype(float)
    mix = 0.5 * before[1] + 0.5 * after[1]  # the middle of the three: weights 2/4 and 2/4
    assert np.abs(seam[1] - mix).mean() < np.abs(seam[1] - before[1]).mean()
    assert len(list((Path(os.environ["VSTLIB_CACHE_DIR"]) / "flow").glob("dis-*.flo"))) >= 2 * 29  # flow cached


def test_methods_that_need_the_whole_clip_are_refused(ray_local, data_dir, tmp_path):
    from vstlib.gatys import GatysConfig
    from vstlib.methods.ruder import RuderConfig
    from vstlib.runner import stylize_video

    config = RuderConfig(gatys=GatysConfig(iters=1), frame_iters=1, flow="dis", passes=2)
    with pytest.raises(VstError, match="without --cluster"):
        stylize_video(data_dir / "video" / "bbb_adain_640x360_10s.mp4", "starry_night_vangogh", tmp_path / "x.mp4",
                      "ruder", config, max_side=32, duration=0.2, progress=False, cluster="ray")
    assert list(tmp_path.iterdir()) == []


def test_cli_cluster_writes_the_same_video(ray_local, bbb_path, workdir, capsys):
    from vstlib import cli

    common = ["stylize", str(bbb_path), "--method", "johnson", "--style", MODEL, "--max-side", "64", "--duration", "1", "--quiet"]
    assert cli.main(common + ["-o", "plain.mp4"]) == 0
    assert cli.main(common + ["-o", "ray.mp4", "--cluster", "ray", "--cluster-workers", "2"]) == 0
    assert "wrote ray.mp4" in capsys.readouterr().out
    plain, ray = _decoded(workdir / "plain.mp4"), _decoded(workdir / "ray.mp4")
    assert plain.shape == ray.shape and np.abs(plain - ray).mean() < 8  # the encoder's rounding of 64x36 frames


@pytest.mark.parametrize("extra, message", [
    (["--cluster-workers", "2"], "--cluster-workers needs --cluster"),
    (["--cluster", "ray", "--image"], "--cluster runs videos"),
])
def test_cli_cluster_mistakes_are_one_line(workdir, data_dir, capsys, extra, message):
    from vstlib import cli

    image = extra[-1] == "--image"
    source = data_dir / "video" / "bbb_adain_640x360_10s.mp4"
    if image:
        from vstlib.io import read_frames, save_image

        frame = next(iter(read_frames(source, max_side=32)))
        save_image(frame, workdir / "frame.png")
        source, extra = workdir / "frame.png", extra[:-1]
    assert cli.main(["stylize", str(source), "--method", "johnson", "--style", MODEL] + extra) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]


def test_without_ray_the_error_says_how_to_install(workdir, bbb_path, capsys, monkeypatch):
    import sys

    from vstlib import cli

    monkeypatch.setitem(sys.modules, "ray", None)  # import ray fails
    assert cli.main(["stylize", str(bbb_path), "--method", "johnson", "--style", MODEL, "--max-side", "32",
                     "--duration", "0.2", "--cluster", "ray", "-o", "x.mp4"]) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "pip install 'vstlib[ray]'" in err[0]
    assert not (workdir / "x.mp4").exists()


def test_evaluation_cells_on_ray_fill_the_same_cache(ray_local, data_dir, tmp_path):
    from vstlib.evaluate import Protocol, Variant, evaluate
    from vstlib.methods.gatys import GatysConfig

    protocol = Protocol.smoke(clips=("sintel-gt/alley_1",), styles=("udnie_picabia",), n_frames=2, max_side=48)
    variants = [Variant("none", "none"), Variant("gatys", "gatys", GatysConfig(iters=1)),
                Variant("reconet", "reconet")]  # no shipped ReCoNet of Udnie: not available, not a task
    here = evaluate(protocol, variants, tmp_path / "here", device="cpu", progress=False)
    there = evaluate(protocol, variants, tmp_path / "ray", device="cpu", progress=False, cluster="ray")
    assert sorted(there.computed) == sorted(here.computed) and len(there.computed) == 2
    assert [(c.label, c.status, c.key) for c in there.cells] == [(c.label, c.status, c.key) for c in here.cells]
    timings = {"seconds_per_frame", "wall_seconds_per_frame", "peak_rss_mb", "peak_cuda_mb"}
    for a, b in zip(here.cells, there.cells):
        for name, value in a.metrics.items():
            if name not in timings:
                assert b.metrics[name] == pytest.approx(value, rel=1e-3, abs=1e-5), (a.label, name)
    assert evaluate(protocol, variants, tmp_path / "ray", device="cpu", progress=False).computed == []  # stored
