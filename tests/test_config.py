"""Configs from one source (vstlib.config): validation and the generated command line agree,
for every registered method."""

from __future__ import annotations

import argparse
import dataclasses
import subprocess
import sys

import pytest

from vstlib import methods
from vstlib.config import add_options, config_from_args, flags_of, options, validate
from vstlib.errors import VstError
from vstlib.methods.johnson import TrainConfig
from vstlib.runner import RunOptions

CONFIGS = [m.Config for m in methods.methods()] + [TrainConfig, RunOptions]


@pytest.mark.parametrize("cls", CONFIGS, ids=lambda c: c.__name__)
def test_defaults_are_valid_and_every_option_has_help(cls):
    config = cls()
    validate(config)
    for name, opt in options(cls):
        assert opt.help and not opt.help.endswith("."), (cls.__name__, name)


@pytest.mark.parametrize("cls", CONFIGS, ids=lambda c: c.__name__)
def test_out_of_range_values_are_refused_with_the_flag_name(cls):
    """Every option with a lower bound refuses a value below it, naming its command-line flag."""
    checked = 0
    for name, opt in options(cls):
        if opt.low is None or opt.kind not in (int, float):
            continue
        bad = opt.low - 1 if opt.kind is int else opt.low - 0.5
        with pytest.raises(VstError, match=f"--{(opt.flag or name).replace('_', '-')}"):
            cls(**{name: bad})
        checked += 1
    for name, opt in options(cls):
        if opt.choices is not None and opt.kind is str:
            with pytest.raises(VstError, match="choose"):
                cls(**{name: "no-such-choice"})
            checked += 1
    if cls.__name__ != "NoneConfig":
        assert checked > 0


def test_cross_field_rules():
    with pytest.raises(VstError, match="scales must increase and end at 1"):
        methods.get("gatys").Config(scales=(1.0, 0.5))
    with pytest.raises(VstError, match="offsets must increase and start at 1"):
        methods.get("ruder").Config(long_term=(2, 4))
    with pytest.raises(VstError, match="multiple of 4"):
        TrainConfig(crop=130)
    with pytest.raises(VstError, match="fewer than --steps"):
        TrainConfig(steps=10, warmup_steps=10)
    with pytest.raises(VstError, match="whole number"):
        methods.get("gatys").Config(iters=2.5)


@pytest.mark.parametrize("m", methods.methods(), ids=lambda m: m.name)
def test_command_line_round_trips_every_option(m):
    """Parsing the generated flags with non-default values gives exactly those values."""
    parser = argparse.ArgumentParser()
    add_options(parser, m.Config)
    argv, expected = [], {}

    def collect(cls, prefix=()):
        for f in dataclasses.fields(cls):
            if "vstlib.option.nested" in f.metadata:
                collect(f.default_factory, prefix + (f.name,))
        for name, opt in options(cls):
            if not opt.cli:
                continue
            flag = "--" + (opt.flag or name.replace("_", "-"))
            if opt.kind is bool:
                default = getattr(cls(), name)
                argv.append(flag if not default else "--no-" + flag[2:])
                expected[prefix + (name,)] = not default
            elif opt.choices is not None and opt.kind is str:
                value = [c for c in opt.choices if c != getattr(cls(), name)][0]
                argv.extend([flag, value])
                expected[prefix + (name,)] = value

    collect(m.Config)
    config = config_from_args(m.Config, parser.parse_args(argv))
    for path, value in expected.items():
        obj = config
        for part in path:
            obj = getattr(obj, part)
        assert obj == value, path


def test_parse_errors_name_the_problem():
    parser = argparse.ArgumentParser()
    add_options(parser, methods.get("gatys").Config)
    with pytest.raises(SystemExit):
        parser.parse_args(["--iters", "0"])
    args = parser.parse_args(["--scales", "0.5,1", "--style-layers", "relu1_1,relu2_1"])
    config = config_from_args(methods.get("gatys").Config, args)
    assert config.scales == (0.5, 1.0) and config.style_layers == ("relu1_1", "relu2_1")


def test_ruder_flags_include_the_gatys_ones():
    assert flags_of(methods.get("gatys").Config) < flags_of(methods.get("ruder").Config)
    assert "--frame-init" in flags_of(methods.get("ruder").Config)


def test_cli_help_does_not_import_torch():
    code = ("import sys\nfrom vstlib.cli import main\n"
            "for argv in (['--help'], ['stylize', '--help'], ['train', '--help']):\n"
            "    try:\n        main(argv)\n    except SystemExit:\n        pass\n"
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "False"


@pytest.mark.parametrize("argv, flag", [(["--scales", "1,0.5"], "--scales"), (["--iters", "0"], "--iters")])
def test_a_rejected_value_names_its_option_once(capsys, argv, flag):
    """argparse already says "argument --x:"; check_value's own prefix is not repeated."""
    from vstlib.methods.gatys import GatysConfig

    parser = argparse.ArgumentParser(prog="vst")
    add_options(parser, GatysConfig)
    with pytest.raises(SystemExit):
        parser.parse_args(argv)
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.count(flag) == 1, err
