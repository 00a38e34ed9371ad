"""Segmentation through the runner and the command line: `vst segment` writes masks that
`--segment masks:PATH` reads back, each region gets what it was asked for, and an interrupted
run resumes to the same video."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vstlib import runner
from vstlib.cli import main
from vstlib.io import VideoWriter, probe_video, read_frames, to_array
from vstlib.runner import RegionOptions, stylize_video
from vstlib.segment import make_segmenter, mask_iou, static_camera, synthetic_composite

N, H, W = 12, 64, 96
MODEL = "starry_night_vangogh_w16"


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    """A static camera (one textured still, sensor noise) with a shape moving across it, and its exact alpha."""
    g = torch.Generator().manual_seed(0)
    still = torch.nn.functional.interpolate(torch.rand(1, 3, 8, 12, generator=g), size=(H, W), mode="bilinear")[0]
    frames, alpha = synthetic_composite(static_camera(still, N), seed=1)
    path = tmp_path_factory.mktemp("seg") / "clip.mp4"
    with VideoWriter(path, fps=24, quality=9) as w:
        for f in frames:
            w.write(to_array(f))
    return path, alpha


def _read(path) -> np.ndarray:
    return np.stack(list(read_frames(path))).astype(np.float32) / 255


def test_vst_segment_writes_masks_that_masks_path_reads_back(clip, tmp_path, capsys):
    path, alpha = clip
    out = tmp_path / "masks.mp4"
    assert main(["segment", str(path), "--backend", "motion", "-o", str(out), "-q"]) == 0
    info = probe_video(out)
    assert (info.n_frames, info.height, info.width) == (N, H, W)
    back = make_segmenter(f"masks:{out}")
    back.fit(path, 0, N, 1, (H, W))
    masks = back.masks(torch.zeros(N, 3, H, W), range(N))
    assert mask_iou(masks, alpha) > 0.8
    assert "wrote" in capsys.readouterr().out


def test_vst_segment_refuses_to_overwrite_its_input(clip, capsys):
    path, _ = clip
    before = path.read_bytes()
    assert main(["segment", str(path), "--backend", "motion", "-o", str(path), "-q"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "input" in err
    assert path.read_bytes() == before


def test_each_region_gets_its_own_treatment(clip, tmp_path, one_torch_thread):
    """Foreground kept as it is, background stylized: inside the mask the output is the input,
    outside it is the plain stylization (both up to H.264's error; without inpainting, which
    changes what the background's network sees)."""
    path, alpha = clip
    masks = tmp_path / "masks"
    assert main(["segment", str(path), "--backend", "motion", "-o", str(masks), "-q"]) == 0
    plain, split = tmp_path / "plain.mp4", tmp_path / "split.mp4"
    common = ["--method", "johnson", "--model", MODEL, "--device", "cpu", "-q"]
    assert main(["stylize", str(path), *common, "-o", str(plain)]) == 0
    assert main(["stylize", str(path), *common, "--segment", f"masks:{masks}", "--fg-style", "none", "--edges",
                 "strict", "--mask-stability", "0", "--inpaint", "off", "-o", str(split)]) == 0
    source, plain, split = _read(path), _read(plain), _read(split)
    # the motion masks, not the exact alpha, decide; keep away from their edges
    fg = torch.nn.functional.max_pool2d(-alpha, 5, 1, 2).neg()[:, 0].numpy() > 0.5
    bg = torch.nn.functional.max_pool2d(alpha, 5, 1, 2)[:, 0].numpy() < 0.5
    diff = lambda a, b, where: float(np.abs(a - b).mean(-1)[where].mean())  # noqa: E731
    assert diff(split, source, fg) < 0.03 < diff(plain, source, fg)
    assert diff(split, plain, bg) < 0.03 < diff(split, source, bg)


class Interrupt:
    """A post step raising Ctrl-C at output frame ``at`` (while armed)."""

    armed_at: int | None = None

    def __call__(self, image, item):
        if Interrupt.armed_at is not None and item.index == Interrupt.armed_at:
            raise KeyboardInterrupt
        return image


def test_an_interrupted_segmented_run_resumes_to_the_same_video(clip, tmp_path, monkeypatch, one_torch_thread):
    path, _ = clip
    monkeypatch.setattr(runner, "PART_SECONDS", 3 / 24)
    regions = RegionOptions(segment="motion:mog2", edges="resize", bg_style="none", mask_stability=0.5)
    kwargs = dict(config=None, device="cpu", progress=False, regions=regions, post_steps=[Interrupt()])
    Interrupt.armed_at = None
    stylize_video(path, MODEL, tmp_path / "whole.mp4", "johnson", **kwargs)
    Interrupt.armed_at = 7
    with pytest.raises(KeyboardInterrupt):
        stylize_video(path, MODEL, tmp_path / "resumed.mp4", "johnson", **kwargs)
    Interrupt.armed_at = None
    result = stylize_video(path, MODEL, tmp_path / "resumed.mp4", "johnson", **kwargs)
    assert result.resumed_frames == 6
    np.testing.assert_array_equal(_read(tmp_path / "whole.mp4"), _read(tmp_path / "resumed.mp4"))


def test_a_region_method_without_its_style_is_one_line(clip, tmp_path, capsys):
    path, _ = clip
    rc = main(["stylize", str(path), "--method", "johnson", "--model", MODEL, "--segment", "motion", "--bg-method",
               "arbitrary", "-o", str(tmp_path / "o.mp4"), "-q"])
    err = capsys.readouterr().err
    assert rc == 2 and "--bg-method arbitrary needs its own style" in err and err.count("\n") == 1
    assert not (tmp_path / "o.mp4").exists()


def test_ruder_single_pass_works_with_regions_and_multi_pass_is_refused(clip, tmp_path, capsys, one_torch_thread):
    path, _ = clip
    common = ["--method", "ruder", "--style", "udnie_picabia", "--iters", "1", "--frame-iters", "1", "--flow", "dis",
              "--max-side", "48", "--duration", "0.2", "--segment", "motion", "--fg-style", "none", "-q"]
    assert main(["stylize", str(path), *common, "-o", str(tmp_path / "one.mp4")]) == 0
    assert probe_video(tmp_path / "one.mp4").n_frames == 5
    assert main(["stylize", str(path), *common, "--passes", "2", "-o", str(tmp_path / "two.mp4")]) == 2
    assert "use a single pass" in capsys.readouterr().err and not (tmp_path / "two.mp4").exists()


def test_png_masks_of_a_later_part_read_back_by_frame_number(clip, tmp_path):
    from vstlib.segment import segment_video

    path, _ = clip
    whole = segment_video(path, tmp_path / "whole", "motion", stabilize=0, progress=False)
    part = segment_video(path, tmp_path / "part", f"masks:{whole}", stabilize=0, start=4 / 24, progress=False)
    assert sorted(p.name for p in part.iterdir())[0] == "mask_000004.png"
    frames = torch.zeros(N - 4, 3, H, W)
    assert torch.equal(make_segmenter(f"masks:{part}").masks(frames, range(4, N)),
                       make_segmenter(f"masks:{whole}").masks(frames, range(4, N)))
    with pytest.raises(Exception, match="no mask_000001"):
        make_segmenter(f"masks:{part}").masks(torch.zeros(1, 3, H, W), [1])
    with pytest.raises(Exception, match="drop --start"):
        segment_video(path, tmp_path / "part.mp4", "motion", start=4 / 24, progress=False)
