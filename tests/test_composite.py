"""Foreground/background compositing (vstlib.composite): the four edge variants, inpainting, one
stylization when both regions share it, the resize crop, resuming, and the command line's errors."""

import numpy as np
import pytest
import torch

from vstlib.composite import RegionPlan, RegionSession, edge_alpha, fill_hidden, region_box, seam_energy
from vstlib.io import to_array, to_tensor
from vstlib.methods.base import FrameItem, Session
from vstlib.runner import RegionOptions
from vstlib.segment import Segmenter

H, W = 36, 64


class SquareMask(Segmenter):
    """Foreground: a square at (x, y) of side s, moving right by ``speed`` pixels per source frame."""

    spec = "test:square"

    def __init__(self, x=24, y=10, s=12, speed=0):
        self.x, self.y, self.s, self.speed = x, y, s, speed
        self.indices = []

    def masks(self, frames, indices):
        self.indices += list(indices)
        out = torch.zeros(frames.shape[0], 1, *frames.shape[-2:])
        for i, k in enumerate(indices):
            x = self.x + self.speed * k
            out[i, 0, self.y:self.y + self.s, x:x + self.s] = 0.9
        return out


class Solid(Session):
    """A 'method' painting everything one grey level; remembers what it was given."""

    def __init__(self, level):
        super().__init__()
        self.level, self.seen, self.calls = level, [], 0
        self.batch_size = 4

    def stylize(self, items):
        self.calls += 1
        self.seen += [it.content.clone() for it in items]
        return torch.full((len(items), 3, H, W), self.level)


class Echo(Solid):
    """A 'method' returning its input: what the foreground saw shows in the output."""

    def stylize(self, items):
        super().stylize(items)
        return torch.cat([it.content for it in items])


def _frames(n=2):
    """A textured background (stripes) with a bright red square where SquareMask puts the foreground."""
    items = []
    for i in range(n):
        f = np.zeros((H, W, 3), np.uint8)
        f[..., 1] = (np.arange(W) % 4 < 2) * 120 + 40
        f[10:22, 24:36] = (250, 20, 20)
        items.append(FrameItem(index=i, frame=f, content=to_tensor(f)))
    return items


def _session(fg, bg, edges="strict", **kw):
    opts = RegionOptions(segment="person", edges=edges, mask_stability=0, **kw)
    fg_plan = RegionPlan(fg, False, "fg") if fg is not None else RegionPlan(None, False, "kept")
    bg_plan = RegionPlan(bg, False, "bg") if bg is not None else RegionPlan(None, False, "kept")
    return RegionSession(fg_plan, bg_plan, SquareMask(), opts)


def test_strict_keeps_the_foreground_and_paints_the_background_exactly():
    bg = Solid(0.25)
    out = _session(None, bg, "strict", inpaint="off").stylize(_frames())
    frame = _frames()[0].content
    inside = (slice(None), slice(None), slice(10, 22), slice(24, 36))
    assert torch.equal(out[inside], frame.expand(2, -1, -1, -1)[inside])
    outside = torch.ones(H, W, dtype=torch.bool)
    outside[10:22, 24:36] = False
    assert torch.all(out[:, :, outside] == 0.25)


def test_feather_makes_a_soft_seam_strict_a_hard_one():
    items = _frames(1)
    strict = _session(Solid(1.0), Solid(0.0), "strict", inpaint="off").stylize(items)
    feather = _session(Solid(1.0), Solid(0.0), "feather", feather=2.0, inpaint="off").stylize(items)
    assert sorted(strict.unique().tolist()) == [0.0, 1.0]
    row = feather[0, 0, 16]
    assert 0 < row[22] < row[24] < 1 and 0 < row[36] < 1  # a ramp across each vertical edge
    a = edge_alpha(SquareMask().masks(items[0].content, [0]), "strict", 0)
    assert seam_energy(strict, a) > seam_energy(feather, a)


def test_one_stylization_when_both_regions_share_the_run_style():
    main = Solid(0.5)
    opts = RegionOptions(segment="person", edges="feather", mask_stability=0)
    s = RegionSession(RegionPlan(main, True, "run"), RegionPlan(main, True, "run"), SquareMask(), opts, main=main)
    s.stylize(_frames(2))
    assert main.calls == 1 and len(main.seen) == 2
    assert not s.inpaint  # nothing differs between the regions: nothing to fill


def test_inpainting_removes_the_foreground_from_the_background_input():
    bg = Solid(0.0)
    s = _session(Solid(1.0), bg, "feather")  # inpaint auto: the regions differ
    assert s.inpaint
    s.stylize(_frames(1))
    seen = bg.seen[0][0]
    red = seen[0, 12:20, 26:34].mean() - seen[1, 12:20, 26:34].mean()
    assert red < 0.2  # the red square (red - green ~ 0.9) is gone from what the background method saw
    assert torch.equal(seen[:, :, :8], _frames(1)[0].content[0, :, :, :8])  # far from the hole: untouched


def test_blur_defocuses_only_the_background_input():
    fg, bg = Solid(1.0), Solid(0.0)
    _session(fg, bg, "blur", blur=2.0).stylize(_frames(1))
    frame = _frames(1)[0].content[0]
    assert torch.equal(fg.seen[0][0], frame)
    stripes = lambda t: float(t[1, 30, 2:20].std())  # noqa: E731
    assert stripes(bg.seen[0][0]) < 0.2 * stripes(frame)


def test_resize_stylizes_the_foreground_box_at_the_frame_size():
    fg, bg = Solid(1.0), Solid(0.0)
    out = _session(fg, bg, "resize", feather=0.0, inpaint="off").stylize(_frames(1))
    seen = fg.seen[0][0]
    red_share = float(((seen[0] - seen[1]) > 0.5).float().mean())
    assert red_share > 4 * (12 * 12) / (H * W)  # the foreground fills much more of what the method saw
    assert seen.shape[-2:] == (H, W)
    assert torch.allclose(out[0, :, 10:22, 24:36], torch.ones(1)) and torch.all(out[0, :, :, :10] == 0)


def test_region_box_keeps_the_aspect_and_contains_the_foreground():
    m = torch.zeros(H, W)
    m[30:36, 0:5] = 1  # in a corner: the box is clamped to the frame
    x0, y0, x1, y1 = region_box(m, W / H)
    assert x0 >= 0 and y0 >= 0 and x1 <= W and y1 <= H and x0 <= 0 and y1 >= 36
    assert abs((x1 - x0) / (y1 - y0) - W / H) < 1e-6
    assert region_box(torch.zeros(H, W), W / H) is None


def test_the_resize_box_follows_a_moving_foreground_and_resumes_exactly():
    frames = _frames(6)
    opts = RegionOptions(segment="person", edges="resize", feather=0, inpaint="off", mask_stability=0)

    def session():
        return RegionSession(RegionPlan(Echo(1.0), False, "fg"), RegionPlan(Solid(0.0), False, "bg"),
                             SquareMask(x=4, speed=6), opts)

    a = session()
    outs = []
    for i, f in enumerate(frames):  # the smoothed box lags the moving square but always contains it
        outs.append(a.stylize([f]))
        x0, y0, x1, y1 = a.box
        assert x0 <= 4 + 6 * i and x1 >= 4 + 6 * i + 12 and y0 <= 10 and y1 >= 22
    whole = torch.cat(outs)
    b = session()
    first = torch.cat([b.stylize([f]) for f in frames[:3]])
    state = b.state_dict()
    assert "box" in state
    c = session()
    c.load_state_dict(state)
    rest = torch.cat([c.stylize([f]) for f in frames[3:]])
    assert torch.equal(torch.cat([first, rest]), whole)
    d = session()  # without the carried box the crop differs: the state matters
    assert not torch.equal(torch.cat([d.stylize([f]) for f in frames[3:]]), rest)


def test_mask_backends_get_source_frame_numbers():
    seg = SquareMask()
    s = RegionSession(RegionPlan(None, False, "kept"), RegionPlan(Solid(0.0), False, "bg"), seg,
                      RegionOptions(segment="person", mask_stability=0), first=10, every=3)
    s.stylize(_frames(2))
    assert seg.indices == [10, 13]


def test_fill_hidden_leaves_everything_outside_the_grown_hole():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 255, (50, 80, 3), dtype=np.uint8)
    hole = np.zeros((50, 80), bool)
    hole[20:30, 30:40] = True
    out = fill_hidden(img, hole, grow=2)
    changed = (out != img).any(-1)
    assert changed[20:30, 30:40].any() and not changed[:17].any() and not changed[:, :27].any()


def test_a_session_that_needs_the_whole_clip_is_refused():
    class WholeClip(Session):
        resumes_mid_clip = False

        def run(self, items):
            yield from ()

    with pytest.raises(Exception, match="frame by frame"):
        RegionSession(RegionPlan(WholeClip(), True, "run"), RegionPlan(None, False, "kept"), SquareMask(),
                      RegionOptions(segment="person"))


@pytest.mark.parametrize("argv, message", [
    (["--edges", "strict"], "--edges needs --segment"),
    (["--fg-style", "none"], "--fg-style needs --segment"),
    (["--segment", "person", "--edges", "wobbly"], "invalid choice"),
])
def test_region_options_without_segment_are_one_line_errors(argv, message, capsys, tmp_path):
    from vstlib.cli import main

    clip = tmp_path / "c.mp4"
    from vstlib.io import VideoWriter

    with VideoWriter(clip, fps=24) as w:
        for _ in range(2):
            w.write(np.zeros((32, 32, 3), np.uint8))
    with pytest.raises(SystemExit) if message == "invalid choice" else _nothing():
        rc = main(["stylize", str(clip), "--method", "none", "-o", str(tmp_path / "o.mp4")] + argv)
        assert rc == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 or "usage" in err
    assert not (tmp_path / "o.mp4").exists()


def test_segment_on_an_image_is_a_one_line_error(capsys, tmp_path):
    from vstlib.cli import main
    from vstlib.io import save_image

    save_image(torch.rand(1, 3, 32, 32), tmp_path / "a.png")
    rc = main(["stylize", str(tmp_path / "a.png"), "--method", "none", "--segment", "person", "-o",
               str(tmp_path / "o.png")])
    assert rc == 2 and "works on videos" in capsys.readouterr().err


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_frame_arrays_round_trip():  # the frames the regions see are the decoded ones
    f = _frames(1)[0]
    assert np.array_equal(to_array(f.content), f.frame)


def test_resize_with_the_foreground_kept_is_refused():
    with pytest.raises(Exception, match="--edges resize"):
        _session(None, Solid(0.0), "resize")


@pytest.mark.parametrize("sigma", [0.8, 3.0])
def test_gaussian_blur_fast_path_equals_the_convolutions(sigma):
    from vstlib.composite import gaussian_blur

    x = torch.rand(2, 3, 40, 70, generator=torch.Generator().manual_seed(0))
    fast = gaussian_blur(x, sigma)  # float32 on the CPU: OpenCV
    reference = gaussian_blur(x.double(), sigma).float()  # float64: torch's two 1-D convolutions
    assert torch.allclose(fast, reference, atol=1e-5) and not torch.allclose(fast, x, atol=1e-2)
