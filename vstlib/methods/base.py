"""What a method is: a name, a config class, how it prepares, and how it stylizes the next frames.

The runner hands a prepared :class:`Session` a stream of :class:`FrameItem` (decoded frames,
in order, each with its style mix) and encodes what comes back, one output per input, in the
same order. Per-frame methods only implement :meth:`Session.stylize` on a batch; sequential
methods (Ruder) keep what they need between calls and expose it through
:meth:`Session.state_dict` so an interrupted video resumes exactly; methods that must see the
whole clip first (multi-pass) override :meth:`Session.run`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from ..errors import VstError

StyleMix = tuple[tuple[int, float], ...]  # (style index, weight) pairs, weights summing to 1


def resolve_amp(amp: str, device) -> str | None:
    """A network method's ``--amp`` choice on ``device``: ``"bf16"``/``"fp16"``, or None for float32
    (``"auto"``: bf16 on CUDA, float32 elsewhere).

    >>> resolve_amp("auto", "cpu"), resolve_amp("none", "cuda"), resolve_amp("fp16", "cpu")
    (None, None, 'fp16')
    """
    import torch

    if amp == "auto":
        return "bf16" if torch.device(device).type == "cuda" else None
    return None if amp == "none" else amp


def amp_dtype(amp: str, device):
    """The torch dtype a network runs in for ``amp`` on ``device`` (see :func:`resolve_amp`).

    >>> amp_dtype("auto", "cpu")
    torch.float32
    """
    import torch

    return {None: torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[resolve_amp(amp, device)]


@dataclass
class FrameItem:
    """One frame on its way through the runner."""

    index: int  # output frame number (0-based)
    frame: Any  # the decoded frame, uint8 numpy [H, W, 3], original colours (flow is computed on it)
    content: Any  # what the method stylizes: tensor [1, 3, H, W] in [0, 1] (grey in luminance mode)
    mix: StyleMix = ((0, 1.0),)  # this frame's style (one style, or a weighted mix)
    time: float = 0.0  # presentation time in the source, seconds


@dataclass
class SessionStats:
    """What a session measured, for the caller (CLI summary, notebooks, benchmarks)."""

    seconds_per_frame: list[float] = field(default_factory=list)  # computed frames only
    final_losses: list[float] = field(default_factory=list)  # optimization methods: last loss per frame
    cuts: list[int] = field(default_factory=list)  # sequential methods: frames that started a new shot
    iterations: list[int] = field(default_factory=list)  # optimization methods: iterations run per frame


class Session:
    """A method prepared for one run (styles loaded, networks on the device)."""

    batch_size: int = 1  # frames per :meth:`stylize` call
    progress = None  # optimization methods: a tqdm-like bar advanced once per iteration (single images)

    def __init__(self):
        self.stats = SessionStats()

    def stylize(self, items: Sequence[FrameItem]):
        """Outputs [B, 3, H, W] in [0, 1] for ``len(items)`` consecutive frames."""
        raise NotImplementedError

    def run(self, items: Iterable[FrameItem]) -> Iterator:
        """Outputs [1, 3, H, W], one per item, in order. Default: batches of :attr:`batch_size`.
        A session that dropped an item's frame to save memory yields ``(output, frame)`` instead."""
        batch: list[FrameItem] = []
        for item in items:
            batch.append(item)
            if len(batch) == self.batch_size:
                yield from self._split(self.stylize(batch))
                batch = []
        if batch:
            yield from self._split(self.stylize(batch))

    @staticmethod
    def _split(out):
        for i in range(out.shape[0]):
            yield out[i:i + 1]

    # Carried state, saved with every finished part of a video so a resumed run continues exactly
    # where an uninterrupted one would be. Per-frame methods carry nothing.
    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass

    @property
    def resumes_mid_clip(self) -> bool:
        """False: after an interruption the runner feeds the whole clip again (the session keeps
        its own finer-grained cache, e.g. multi-pass Ruder's frames on disk)."""
        return True


class Method:
    """A registered stylization method (subclass, set the class attributes, decorate with :func:`register`)."""

    name: ClassVar[str]
    summary: ClassVar[str]  # one line for ``vst stylize --help``
    Config: ClassVar[type]  # the settings dataclass (options from vstlib.config)
    # What ``--style`` names: "image" (paintings), "model" (a trained network per style), "none".
    style_kind: ClassVar[str] = "image"
    # Feed-forward methods keep the input's resolution unless told otherwise; optimization
    # methods default to a small size (their cost grows with the pixel count).
    native_resolution: ClassVar[bool] = False
    video_only: ClassVar[bool] = False  # needs neighbouring frames (no single images)
    # Renders a FrameItem.mix of several styles (style schedules, fades: vstlib.schedule).
    mixes_styles: ClassVar[bool] = True

    def default_config(self):
        return self.Config()

    def chunking(self, config) -> str:
        """How a video can be split over workers (:mod:`vstlib.cluster`): ``"frames"`` (any frame
        range on its own: per-frame methods), ``"shots"`` (in order within a shot; the config has
        ``flow``, ``flow_params`` and ``cut_threshold``, the method's shot-cut criterion) or
        ``"none"`` (the whole clip in one process)."""
        return "frames"

    def coerce_config(self, config):
        """``config`` as this method's Config (None: the defaults). Methods may accept related
        configs (Ruder wraps a GatysConfig)."""
        if config is None:
            return self.Config()
        if isinstance(config, self.Config):
            return config
        raise VstError(f"method {self.name} takes a {self.Config.__name__}, not a {type(config).__name__}")

    def style_key(self, config, styles: Sequence) -> list:
        """What identifies the styles in the resume key (default: the style files' bytes)."""
        from ..runner import fingerprint_style

        if self.style_kind == "none":
            return [str(s) for s in styles]
        return [fingerprint_style(s) for s in styles]

    def resolve_styles(self, config, styles: Sequence) -> list:
        """The styles this run uses (e.g. a network method may take its model from the config)."""
        if self.style_kind != "none" and not styles:
            raise VstError(f"method {self.name} needs a style (--style: a painting's path or a sample name)")
        if self.style_kind == "image":  # sample names (starry_night_vangogh) become files
            from ..data import resolve

            return [s if hasattr(s, "detach") else resolve(s, "style") for s in styles]
        return list(styles)

    def prepare(self, config, styles: Sequence, device, workdir: Path | None = None) -> Session:
        """Load what the method needs on ``device``. ``styles``: tensors [1, 3, h, w] in [0, 1] for
        ``style_kind == "image"``, names or paths for ``"model"``. ``workdir``: a folder kept across
        an interrupted run with the same settings (for caches of the method's own)."""
        raise NotImplementedError


_REGISTRY: dict[str, Method] = {}


def register(cls: type[Method]) -> type[Method]:
    """Class decorator: add a method to the registry under ``cls.name``."""
    if cls.name in _REGISTRY:
        raise ValueError(f"method '{cls.name}' is registered twice")
    _REGISTRY[cls.name] = cls()
    return cls


def names() -> list[str]:
    return list(_REGISTRY)


def methods() -> list[Method]:
    return list(_REGISTRY.values())


def get(name: str) -> Method:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise VstError(f"unknown method '{name}'; choose one of {', '.join(_REGISTRY)}") from None
