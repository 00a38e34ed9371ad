"""Every code snippet in the README runs as written: the Python blocks are executed (in an empty
folder, sample data from the mirror), every `vst` command line is parsed by the real parser, and
the ones that need no input file run."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from vstlib import cli

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
PYTHON_BLOCKS = re.findall(r"```python\n(.*?)```", README, re.S)
SH_LINES = [line.split("#")[0].strip() for block in re.findall(r"```sh\n(.*?)```", README, re.S)
            for line in block.splitlines()]
VST_LINES = [line for line in SH_LINES if line.startswith("vst ")]


def test_the_readme_has_snippets():
    assert len(PYTHON_BLOCKS) >= 1 and len(VST_LINES) >= 10


@pytest.mark.parametrize("index", range(len(PYTHON_BLOCKS)))
def test_python_snippet_runs(index, tmp_path, monkeypatch, data_dir, one_torch_thread):
    monkeypatch.chdir(tmp_path)
    exec(compile(PYTHON_BLOCKS[index], f"README.md python block {index + 1}", "exec"), {"__name__": "__readme__"})
    assert any(tmp_path.iterdir())  # it wrote what it says


@pytest.mark.parametrize("line", VST_LINES)
def test_vst_command_line_parses(line, capsys):
    argv = shlex.split(line)[1:]
    if argv[-1] == "--help" or argv in (["models"], ["data", "list"]):
        try:
            code = cli.main(argv)
        except SystemExit as exc:
            code = exc.code
        assert code == 0
        return
    args = cli.build_parser().parse_args(argv)  # SystemExit (exit 2) on an unknown option or bad value
    if args.command == "stylize":
        from vstlib import methods

        cli._method_config(methods.get(args.method), args)  # options of another method are refused
