"""Every notebook runs (SMOKE mode) in a kernel set up like JupyterLab's, and shows its figures.

``--nbval-lax`` only checks that no cell raises, and the test suite sets ``MPLBACKEND=Agg``,
which the kernels inherit: a notebook whose figures never reach the browser passes it. Here each
notebook runs with nbclient in a kernel with the **inline** backend (``MPLBACKEND`` removed, so
ipykernel selects ``matplotlib_inline`` exactly as under JupyterLab or Colab), and:

* every cell during which pyplot created a figure must show a PNG: in its own outputs, or in an
  output widget it displays (the interactive previews: ``ipywidgets.interactive_output``);
* every cell whose source calls a drawing function (``show_*``/``plot_*``, e.g. the functions of
  ``vstlib.plotting``, or ``plt.<draw>``) must show a PNG, so a drawing call that silently stops
  drawing through pyplot is caught too;
* the backend after the last cell is still the inline one (no library call switched it, e.g. to
  ``Agg``, which would blank every later figure).

Figures are counted in the kernel by wrapping ``pyplot.figure`` (``subplots``, ``gcf`` and
``imshow`` all create figures through it), per execution count. Library code that only writes
figures to files must draw on a ``matplotlib.figure.Figure`` without pyplot, which is not counted.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))
INLINE = ("inline", "module://matplotlib_inline.backend_inline")
CELL_TIMEOUT = 900  # seconds; SMOKE cells take seconds


def _sliced(get_msg):
    """``channel.get_msg`` that polls in slices of a second. On a busy machine zmq's asyncio
    poller sometimes misses the wake-up for a message that has arrived (reproduced: a widget cell
    of notebook 03 then waited for its execute reply until the cell timeout, with the kernel idle
    and the reply in the socket); each new poll sees it at once."""
    import queue
    import time

    async def get(timeout=None):
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = 1.0 if deadline is None else min(1.0, max(0.0, deadline - time.monotonic()))
            try:
                return await get_msg(timeout=left)
            except queue.Empty:
                if deadline is not None and time.monotonic() >= deadline:
                    raise

    return get


class _Client(nbclient.NotebookClient):
    async def async_start_new_kernel_client(self):
        kc = await super().async_start_new_kernel_client()
        for channel in (kc.shell_channel, kc.iopub_channel):
            channel.get_msg = _sliced(channel.get_msg)
        return kc

# Run in the kernel before the notebook's first cell: count pyplot figures per execution count.
PRELUDE = """
import matplotlib.pyplot as _vst_plt
from IPython import get_ipython as _vst_ip

_vst_figures, _vst_pending = {}, [0]
_vst_pyplot_figure = _vst_plt.figure


def _vst_counting_figure(*args, **kwargs):
    before = set(_vst_plt.get_fignums())
    fig = _vst_pyplot_figure(*args, **kwargs)
    if fig.number not in before:
        _vst_pending[0] += 1
    return fig


def _vst_file_figures(result):  # the count the cell is shown with, In [n]
    if _vst_pending[0]:
        _vst_figures[result.execution_count] = _vst_figures.get(result.execution_count, 0) + _vst_pending[0]
    _vst_pending[0] = 0


_vst_plt.figure = _vst_counting_figure
_vst_ip().events.register("post_run_cell", _vst_file_figures)
"""

# Run after the notebook's last cell.
EPILOGUE = """
import json as _vst_json
import matplotlib as _vst_mpl

print("VSTLIB_NB_CHECK " + _vst_json.dumps({"backend": _vst_mpl.get_backend(),
                                            "figures": {str(k): v for k, v in _vst_figures.items()}}))
"""

# A cell that calls one of these draws a figure for the reader.
DRAWS = re.compile(r"(?<![\w.])(?:\w+\.)*(?:show_\w+|plot_\w+)\s*\(|\bplt\.(?:subplots|figure|imshow|plot|show)\s*\(")


def _has_png(outputs) -> bool:
    return any("image/png" in out.get("data", {}) for out in outputs)


def _widget_ids(outputs) -> list[str]:
    return [out["data"]["application/vnd.jupyter.widget-view+json"]["model_id"]
            for out in outputs if "application/vnd.jupyter.widget-view+json" in out.get("data", {})]


def _widget_has_png(model_id: str, states: dict, seen: set) -> bool:
    """A PNG in this widget's captured outputs (an Output widget) or in any of its children."""
    if model_id in seen or model_id not in states:
        return False
    seen.add(model_id)
    state = states[model_id]
    if _has_png(state.get("outputs", [])) or any(_widget_has_png(m, states, seen) for m in _widget_ids(state.get("outputs", []))):
        return True
    children = state.get("children", [])
    return any(_widget_has_png(child.removeprefix("IPY_MODEL_"), states, seen)
               for child in children if isinstance(child, str))


def shows_png(cell, states: dict) -> bool:
    return _has_png(cell.outputs) or any(_widget_has_png(m, states, set()) for m in _widget_ids(cell.outputs))


def run_notebook(path: Path):
    """Execute a copy of the notebook as JupyterLab would (in its folder, inline backend).

    Returns its executed cells, the widget states (Output widgets hold their captured outputs)
    and what the epilogue reported."""
    nb = nbformat.read(path, as_version=4)
    n = len(nb.cells)
    nb.cells.insert(0, nbformat.v4.new_code_cell(PRELUDE))
    nb.cells.append(nbformat.v4.new_code_cell(EPILOGUE))
    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}  # ipykernel then picks inline
    env["VSTLIB_SMOKE"] = "1"
    client = _Client(nb, timeout=CELL_TIMEOUT, kernel_name="python3",
                                     resources={"metadata": {"path": str(path.parent)}})
    client.execute(env=env)
    text = "".join(out.get("text", "") for out in nb.cells[-1].outputs if out.get("name") == "stdout")
    check = json.loads(text.split("VSTLIB_NB_CHECK ", 1)[1])
    return nb.cells[1:n + 1], client.widget_state, check


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_and_shows_its_figures(path, data_dir):
    cells, states, check = run_notebook(path)
    drawn = {int(k): v for k, v in check["figures"].items()}
    missing = []
    for index, cell in enumerate(cells):
        if cell.cell_type != "code":
            continue
        made = drawn.get(cell.execution_count, 0)
        calls = DRAWS.search(cell.source)
        if (made or calls) and not shows_png(cell, states):
            why = f"created {made} pyplot figure(s)" if made else f"calls {calls.group(0).strip()}"
            first = cell.source.strip().splitlines()[0][:70]
            missing.append(f"cell {index} ({first!r}) {why} but shows no image/png")
    if check["backend"] not in INLINE:
        missing.append(f"the matplotlib backend after the last cell is {check['backend']!r}, not inline: "
                       "something switched it (e.g. matplotlib.use), which blanks every later figure")
    assert not missing, f"{path.name}: figures that a reader would not see:\n" + "\n".join(missing)
    assert sum(drawn.values()) > 0, f"{path.name}: no figure counted; is the counting prelude still working?"


def test_draw_rule_matches_drawing_calls_only():
    draws = ["fig = plotting.show_images([a, b])", "johnson.plot_training_losses(x)", "fig, ax = plt.subplots(1, 2)",
             "    plotting.show_images([frame], size=3.5)", "plot_losses({'a': r})"]
    quiet = ["image = plotting.as_image(x)", "x = frame_difference(a)", "plan.show_stats", "print(plt.get_backend())",
             "plt.close(fig)"]
    assert all(DRAWS.search(s) for s in draws)
    assert not any(DRAWS.search(s) for s in quiet)
