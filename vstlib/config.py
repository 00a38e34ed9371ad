"""Configs from one source: each option's default, help, range and choices live on its dataclass field.

A method's settings are one frozen dataclass whose fields are declared with :func:`option`.
From that single declaration come

* validation (:func:`validate`, called by every config's ``__post_init__``): one message per
  mistake, naming the option as the command line spells it (``--style-weight must be >= 0``);
* the command line (:func:`add_options`, :func:`config_from_args`): flags, help texts with
  their defaults, choices and ranges, generated for every registered method.

This module is deliberately free of torch, so ``vst --help`` and the method registry load in a
fraction of a second.

>>> from dataclasses import dataclass
>>> @dataclass(frozen=True)
... class Demo:
...     iters: int = option(300, "iterations", low=1)
...     def __post_init__(self):
...         validate(self)
>>> Demo(iters=0)
Traceback (most recent call last):
...
vstlib.errors.VstError: --iters 0 is out of range (must be >= 1)
"""

from __future__ import annotations

import argparse
import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass, field, fields

from .errors import VstError

KEY = "vstlib.option"


@dataclass(frozen=True)
class Option:
    """What a field accepts and how the command line shows it."""

    help: str
    kind: type  # int, float, str, bool, or tuple (a comma-separated list on the command line)
    item: type | None = None  # tuple items' type
    choices: tuple | None = None  # allowed values (for tuples: allowed items)
    low: float | None = None
    high: float | None = None
    low_open: bool = False  # low itself is excluded
    nullable: bool = False  # None allowed (it means "the default described in help")
    flag: str | None = None  # command-line name without dashes (default: the field name, _ -> -)
    metavar: str | None = None
    cli: bool = True  # False: library-only (e.g. structured values)
    check: Callable | None = None  # value -> error text or None, for rules beyond type and range
    default_text: str | None = None  # how help shows the default (default: the value itself)


def option(default, help: str, *, kind: type | None = None, item: type | None = None, choices=None, low=None,
           high=None, low_open: bool = False, flag: str | None = None, metavar: str | None = None, cli: bool = True,
           check: Callable | None = None, default_text: str | None = None, nullable: bool | None = None):
    """A dataclass field carrying its :class:`Option` (kind inferred from the default unless given;
    None is allowed when the default is None, or when ``nullable``)."""
    if kind is None:
        if default is None:
            raise TypeError("option(None, ...) needs kind=")
        kind = tuple if isinstance(default, tuple) else type(default)
    if kind is tuple and item is None:
        item = type(default[0]) if default else str
    meta = Option(help=help, kind=kind, item=item, choices=tuple(choices) if choices is not None else None, low=low,
                  high=high, low_open=low_open, nullable=default is None if nullable is None else nullable, flag=flag, metavar=metavar, cli=cli,
                  check=check, default_text=default_text)
    return field(default=default, metadata={KEY: meta})


def nested(factory, help: str = ""):
    """A field holding another config (e.g. Ruder's per-frame Gatys settings)."""
    return field(default_factory=factory, metadata={KEY + ".nested": help})


def options(cls) -> list[tuple[str, Option]]:
    """The (field name, Option) pairs of a config class, in declaration order (not nested ones)."""
    return [(f.name, f.metadata[KEY]) for f in fields(cls) if KEY in f.metadata]


def nested_fields(cls) -> list[dataclasses.Field]:
    return [f for f in fields(cls) if KEY + ".nested" in f.metadata]


def flag_of(name: str, opt: Option) -> str:
    return "--" + (opt.flag or name.replace("_", "-"))


def _bounds_text(opt: Option) -> str:
    parts = []
    if opt.low is not None:
        parts.append(f"{'>' if opt.low_open else '>='} {opt.low:g}")
    if opt.high is not None:
        parts.append(f"<= {opt.high:g}")
    return " and ".join(parts)


def check_value(name: str, opt: Option, value) -> str | None:
    """The error text for ``value`` (None when it is acceptable)."""
    flag = flag_of(name, opt)
    if value is None:
        return None if opt.nullable else f"{flag} needs a value"
    if opt.kind is tuple:
        if not isinstance(value, tuple) or not value:
            return f"{flag} must be a non-empty list, got {value!r}"
        for v in value:
            err = _check_scalar(flag, opt, opt.item, v)
            if err:
                return err
    else:
        err = _check_scalar(flag, opt, opt.kind, value)
        if err:
            return err
    if opt.check is not None:
        err = opt.check(value)
        if err:
            return f"{flag}: {err}"
    return None


def _check_scalar(flag: str, opt: Option, kind: type, value) -> str | None:
    if kind is bool:
        return None if isinstance(value, bool) else f"{flag} must be true or false, got {value!r}"
    if kind is int and (isinstance(value, bool) or not isinstance(value, int)):
        return f"{flag} must be a whole number, got {value!r}"
    if kind is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return f"{flag} must be a number, got {value!r}"
        if not math.isfinite(value):
            return f"{flag} must be a finite number, got {value}"
    if kind is str and not isinstance(value, str):
        return f"{flag} must be text, got {value!r}"
    if opt.choices is not None and value not in opt.choices:
        return f"unknown {flag} value '{value}'; choose {', '.join(map(str, opt.choices))}"
    if kind in (int, float):
        too_low = opt.low is not None and (value <= opt.low if opt.low_open else value < opt.low)
        if too_low or (opt.high is not None and value > opt.high):
            return f"{flag} {value} is out of range (must be {_bounds_text(opt)})"
    return None


def validate(config) -> None:
    """Check every option of ``config``; raises :class:`VstError` with the first problem."""
    for name, opt in options(type(config)):
        err = check_value(name, opt, getattr(config, name))
        if err:
            raise VstError(err)


# ------------------------------------------------------------------------------------------
# Command line
# ------------------------------------------------------------------------------------------


def _parse_scalar(kind: type, text: str):
    if kind is int:
        return int(text)
    if kind is float:
        return float(text)
    return text


def _parser_for(name: str, opt: Option):
    kind = opt.item if opt.kind is tuple else opt.kind

    def parse(text: str):
        try:
            if opt.kind is tuple:
                value = tuple(_parse_scalar(kind, t.strip()) for t in text.split(","))
            else:
                value = _parse_scalar(kind, text)
        except ValueError:
            what = "a comma-separated list of " + kind.__name__ + "s" if opt.kind is tuple else f"a valid {kind.__name__}"
            raise argparse.ArgumentTypeError(f"'{text}' is not {what}") from None
        err = check_value(name, opt, value)
        if err:
            # argparse names the option itself ("argument --x: ..."): drop check_value's own prefix,
            # "--x: " (a custom check) or "--x " (a range or choice)
            flag = flag_of(name, opt)
            err = err[len(flag) + 2:] if err.startswith(flag + ": ") else err.replace(flag + " ", "", 1)
            raise argparse.ArgumentTypeError(err)
        return value

    parse.__name__ = kind.__name__
    return parse


def dest_of(name: str, opt: Option) -> str:
    return "opt_" + (opt.flag or name).replace("-", "_")


def _default_text(config_cls, name: str, opt: Option) -> str:
    if opt.default_text is not None:
        return opt.default_text
    value = next(f.default for f in fields(config_cls) if f.name == name)
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, tuple):
        return ",".join(f"{v:g}" if isinstance(v, float) else str(v) for v in value)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def add_options(group, config_cls, seen: set[str] | None = None) -> list[str]:
    """Add a flag for every command-line option of ``config_cls`` (and its nested configs) to an
    argparse group; flags already in ``seen`` are skipped (methods share options). Values not
    given stay absent from the namespace (``argparse.SUPPRESS``), so :func:`config_from_args`
    can tell a chosen value from a default. Returns the flags added."""
    seen = set() if seen is None else seen
    added = []
    for f in nested_fields(config_cls):
        added += add_options(group, f.default_factory, seen)
    for name, opt in options(config_cls):
        flag = flag_of(name, opt)
        if not opt.cli or flag in seen:
            continue
        seen.add(flag)
        help_text = f"{opt.help} (default {_default_text(config_cls, name, opt)})".replace("%", "%%")
        if opt.kind is bool:
            group.add_argument(flag, dest=dest_of(name, opt), action=argparse.BooleanOptionalAction,
                               default=argparse.SUPPRESS, help=help_text)
        elif opt.choices is not None and opt.kind is str:
            group.add_argument(flag, dest=dest_of(name, opt), choices=opt.choices, default=argparse.SUPPRESS,
                               help=help_text)
        else:
            metavar = opt.metavar or ("A,B" if opt.kind is tuple else ("N" if opt.kind is int else "X"))
            group.add_argument(flag, dest=dest_of(name, opt), type=_parser_for(name, opt), metavar=metavar,
                               default=argparse.SUPPRESS, help=help_text)
        added.append(flag)
    return added


def flags_of(config_cls) -> set[str]:
    """Every command-line flag a config class (with its nested configs) understands."""
    out = {flag_of(n, o) for n, o in options(config_cls) if o.cli}
    for f in nested_fields(config_cls):
        out |= flags_of(f.default_factory)
    return out


def config_from_args(config_cls, args: argparse.Namespace, **overrides):
    """Build ``config_cls`` from the flags given on the command line (others keep their defaults)."""
    values = {}
    for f in nested_fields(config_cls):
        values[f.name] = config_from_args(f.default_factory, args)
    for name, opt in options(config_cls):
        dest = dest_of(name, opt)
        if opt.cli and hasattr(args, dest):
            values[name] = getattr(args, dest)
    values.update(overrides)
    return config_cls(**values)


def given_flags(args: argparse.Namespace, all_flags: set[str]) -> set[str]:
    """The generated flags present in a parsed namespace."""
    return {flag for flag in all_flags if hasattr(args, "opt_" + flag[2:].replace("-", "_"))}
