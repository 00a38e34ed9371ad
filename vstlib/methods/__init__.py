"""The method registry: every stylization method is one module here, registered by one line below.

A method module defines its settings (one frozen dataclass whose fields carry help, range and
choices: :mod:`vstlib.config`) and a :class:`Method` subclass decorated with :func:`register`.
The video runner (:mod:`vstlib.runner`), the command line, :func:`vstlib.stylize_video`, the
notebooks and the report only ever ask this registry; nothing else branches on a method's name.

The modules import torch only inside :meth:`Method.prepare`, so listing methods (``vst --help``)
stays fast.

>>> names()[:4]
['none', 'gatys', 'ruder', 'johnson']
>>> get("gatys").Config().iters
300
>>> get("nope")
Traceback (most recent call last):
...
vstlib.errors.VstError: unknown method 'nope'; choose one of none, gatys, ruder, johnson, arbitrary, multistyle, reconet
"""

from __future__ import annotations

from .base import FrameItem, Method, Session, get, methods, names, register  # noqa: F401

# One line per method: importing a module registers it (in this order in help texts).
from . import none, gatys, ruder, johnson  # noqa: E402,F401
from . import arbitrary, multistyle  # noqa: E402,F401
from . import reconet  # noqa: E402,F401

__all__ = ["FrameItem", "Method", "Session", "get", "methods", "names", "register"]
