"""The notebooks as a reader meets them: JupyterLab in headless Chromium, Run All, then every slider.

``tests/test_notebooks.py`` runs each notebook in a kernel and reads the outputs the kernel sent.
It cannot see what only the front end does: the widget manager drawing the sliders and the
``interactive_output`` previews, a slider's new value reaching the kernel, a PNG decoding into an
image of non-zero size. Here, for each notebook (a copy in a temporary folder, ``VSTLIB_SMOKE=1``,
the reader's ``python3`` kernel with the inline matplotlib backend: ``MPLBACKEND`` is removed):

1. JupyterLab opens it and starts its kernel; the test clicks Run > Run All Cells in the menu bar
   and waits until no cell is queued or running and the kernel is idle;
2. every code cell ran (it shows an execution count ``[n]:``) and no output shows a traceback;
3. every cell whose source calls a drawing function (``DRAWS``, the rule of
   ``tests/test_notebooks.py``) shows an ``<img>`` that decoded (natural size > 0) and takes room
   on the page; no image anywhere failed to decode;
4. each ipywidgets slider: its handle is focused and one arrow key pressed (towards the middle of
   its range); its readout must change, and the Output widget of its cell must then show an image
   whose ``src`` differs from the one before (the kernel re-rendered the preview), with no traceback.

Slow (minutes: the notebooks really run) and needs a browser, so it runs only with
``VSTLIB_BROWSER=1``: ``make test-browser`` installs what it needs and runs it, before each release.
Needs Chromium (Debian: ``apt-get install chromium``; ``VSTLIB_CHROMIUM`` names another binary) and
the ``browser`` extra (``pip install -e ".[browser]"``: JupyterLab and Playwright, which drives the
installed Chromium; no browser download). Skipped, with the reason, when one is missing.

``VSTLIB_BROWSER_NOTEBOOKS``: another folder of notebooks (default: ``notebooks/``).
``VSTLIB_BROWSER_ARTIFACTS``: a folder for a screenshot of every notebook at the end (without it:
only failing notebooks, in pytest's tmp folder).
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import quote

import pytest

if os.environ.get("VSTLIB_BROWSER") != "1":
    pytest.skip("browser test of the notebooks: runs with VSTLIB_BROWSER=1 (make test-browser)", allow_module_level=True)

# make test-browser (and CI) installs everything first and sets VSTLIB_BROWSER_REQUIRED=1: there a
# missing piece is an error, never a skip that would pass silently.
_REQUIRED = os.environ.get("VSTLIB_BROWSER_REQUIRED") == "1"


def _missing(reason: str):
    if _REQUIRED:
        pytest.fail(f"VSTLIB_BROWSER_REQUIRED=1 but the browser test {reason}", pytrace=False)
    pytest.skip(reason, allow_module_level=True)


if importlib.util.find_spec("playwright") is None:
    _missing("needs Playwright: pip install -e '.[browser]'")
if importlib.util.find_spec("jupyterlab") is None:
    _missing("needs JupyterLab: pip install -e '.[browser]'")
from playwright import sync_api  # noqa: E402

CHROMIUM = (os.environ.get("VSTLIB_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
            or shutil.which("google-chrome"))
if not CHROMIUM:
    _missing("needs Chromium (Debian: apt-get install chromium) or VSTLIB_CHROMIUM=/path/to/chrome")

REPO = Path(__file__).resolve().parents[2]
NOTEBOOK_DIR = Path(os.environ.get("VSTLIB_BROWSER_NOTEBOOKS", REPO / "notebooks")).resolve()
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))

# Headless, and nothing that reaches out: without the background-networking flags Chromium keeps
# opening connections that a closed network refuses. Playwright gives each launch a fresh profile.
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]
RUN_ALL_TIMEOUT = float(os.environ.get("VSTLIB_BROWSER_TIMEOUT", "1800"))  # s per notebook; SMOKE runs take minutes
SLIDER_TIMEOUT = 600.0  # s for one preview to re-render
IDLE_VERDICT = 15.0  # s: a kernel idle this long after a slider moved has finished re-rendering
STARTUP_TIMEOUT = 120.0  # s for JupyterLab to answer, and for a kernel to start


def _load_draw_rule():
    """``DRAWS`` from tests/test_notebooks.py: one rule for 'this cell draws a figure'."""
    spec = importlib.util.spec_from_file_location("_vstlib_test_notebooks", REPO / "tests" / "test_notebooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.DRAWS


DRAWS = _load_draw_rule()

# JupyterLab user settings for the test's server. windowingMode "none": every cell stays in the
# page (by default cells out of view may be detached, and their outputs could not be checked).
# autoStartDefaultKernel: open straight into the notebook's kernel, no "Select Kernel" dialog.
LAB_SETTINGS = {
    "@jupyterlab/notebook-extension/tracker": {"windowingMode": "none", "autoStartDefaultKernel": True},
    "@jupyterlab/apputils-extension/notification": {"fetchNews": "false"},
}

# The state of the open notebook, one entry per cell, in order.
CELLS_JS = """() => [...document.querySelectorAll('.jp-NotebookPanel .jp-Notebook-cell')].map(cell => {
  const texts = [...cell.querySelectorAll('.jp-OutputArea-output')].map(o => o.innerText);
  const failed = texts.filter(t => t.includes('Traceback (most recent call last)'));
  const last = t => t.trim().split('\\n').filter(l => l.trim()).pop() || '';
  return {
    code: cell.classList.contains('jp-CodeCell'),
    prompt: (cell.querySelector('.jp-InputPrompt') || {}).textContent || '',
    errors: failed.map(last),
    images: [...cell.querySelectorAll('.jp-OutputArea img')].map(img => {
      const box = img.getBoundingClientRect();
      return {natural: [img.naturalWidth, img.naturalHeight], shown: [box.width, box.height], complete: img.complete};
    }),
  };
})"""

KERNEL_STATUS_JS = """() => {
  const indicator = document.querySelector('.jp-NotebookPanel .jp-Notebook-ExecutionIndicator');
  return indicator ? indicator.getAttribute('data-status') : null;
}"""

SLIDERS = ".jp-NotebookPanel .jp-Notebook-cell .widget-slider"

# One slider (the k-th in the page): its readout, its cell, and what that cell's Output widgets show.
SLIDER_JS = """([selector, k]) => {
  const slider = document.querySelectorAll(selector)[k];
  const cell = slider.closest('.jp-Notebook-cell');
  const cells = [...document.querySelectorAll('.jp-NotebookPanel .jp-Notebook-cell')];
  const handle = slider.querySelector('.noUi-handle');
  const outputs = [...cell.querySelectorAll('.widget-output')];
  const images = outputs.flatMap(o => [...o.querySelectorAll('img')]);
  return {
    cell: cells.indexOf(cell),
    readout: (slider.querySelector('.widget-readout') || {}).textContent || '',
    now: parseFloat(handle.getAttribute('aria-valuenow')),
    min: parseFloat(handle.getAttribute('aria-valuemin')),
    max: parseFloat(handle.getAttribute('aria-valuemax')),
    outputs: outputs.length,
    srcs: images.map(img => img.src),
    decoded: images.length > 0 && images.every(img => img.complete && img.naturalWidth > 0),
    errors: outputs.map(o => o.innerText).filter(t => t.includes('Traceback (most recent call last)'))
                   .map(t => t.trim().split('\\n').filter(l => l.trim()).pop()),
  };
}"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Lab:
    """A JupyterLab server on localhost, serving a folder, with a token."""

    def __init__(self, root: Path, port: int, token: str, log: Path):
        self.root, self.port, self.token, self.log = root, port, token, log
        self.url = f"http://127.0.0.1:{port}"

    def api(self, path: str, method: str = "GET"):
        request = urllib.request.Request(self.url + path, method=method,
                                         headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(request, timeout=10) as response:
            body = response.read()
        return json.loads(body) if body else None

    def shut_down_kernels(self) -> None:
        for session in self.api("/api/sessions"):
            self.api(f"/api/sessions/{session['id']}", method="DELETE")

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


@pytest.fixture(scope="module")
def lab(tmp_path_factory, data_dir):
    """JupyterLab on a free port, serving a temporary copy of the notebooks, kernels in SMOKE mode."""
    base = tmp_path_factory.mktemp("jupyterlab")
    root = base / "notebooks"
    shutil.copytree(NOTEBOOK_DIR, root, ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
    for copy in root.glob("*.ipynb"):  # saved outputs would pass for new ones: every check sees only this run
        notebook = json.loads(copy.read_text())
        for cell in notebook["cells"]:
            if cell["cell_type"] == "code":
                cell["outputs"], cell["execution_count"] = [], None
        copy.write_text(json.dumps(notebook))
    settings = base / "settings"
    for plugin, values in LAB_SETTINGS.items():
        file = settings / f"{plugin}.jupyterlab-settings"
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_text(json.dumps(values))
    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}  # kernels pick the inline backend
    env.update(VSTLIB_SMOKE="1", JUPYTERLAB_SETTINGS_DIR=str(settings),
               JUPYTERLAB_WORKSPACES_DIR=str(base / "workspaces"), JUPYTER_CONFIG_DIR=str(base / "config"),
               JUPYTER_RUNTIME_DIR=str(base / "runtime"))
    port, token = _free_port(), secrets.token_hex(16)
    command = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1",
               f"--ServerApp.port={port}", "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}",
               f"--ServerApp.root_dir={root}",
               # nothing from the network: no news, no update check, no extension index
               "--LabApp.news_url=", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
               "--LabApp.extension_manager=readonly"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")  # CI containers run as root
    server = Lab(root, port, token, base / "jupyterlab.log")
    with open(server.log, "wb") as log:
        process = subprocess.Popen(command, env=env, cwd=root, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while True:
            if process.poll() is not None:
                pytest.fail(f"jupyter lab exited with {process.returncode}:\n{server.log_tail()}")
            try:
                server.api("/api/status")
                break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                if time.monotonic() > deadline:
                    pytest.fail(f"jupyter lab did not answer in {STARTUP_TIMEOUT:.0f} s:\n{server.log_tail()}")
                time.sleep(0.5)
        yield server
    finally:
        process.terminate()  # SIGTERM: the server shuts its kernels down
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS)
        yield chromium
        chromium.close()


@pytest.fixture
def artifacts(tmp_path) -> Path:
    folder = Path(os.environ.get("VSTLIB_BROWSER_ARTIFACTS", tmp_path))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _wait(condition, timeout: float, what: str, poll: float = 1.0):
    """Poll ``condition()`` until it returns something true; fail with ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} (waited {timeout:.0f} s)")
        time.sleep(poll)


def _kernel_idle(page) -> bool:
    return page.evaluate(KERNEL_STATUS_JS) == "idle"


def _settled(page):
    """The cells once no cell is queued or running and the kernel is idle, the same on two looks 1 s apart."""
    first = page.evaluate(CELLS_JS)
    if not _kernel_idle(page) or any("*" in cell["prompt"] for cell in first):
        return None
    time.sleep(1.0)
    second = page.evaluate(CELLS_JS)
    if not _kernel_idle(page) or [c["prompt"] for c in first] != [c["prompt"] for c in second]:
        return None
    return second


def _run_all(page, lab: Lab, name: str):
    page.goto(f"{lab.url}/lab/tree/{quote(name)}?reset&token={lab.token}")
    page.wait_for_selector(".jp-NotebookPanel .jp-Notebook-cell", timeout=STARTUP_TIMEOUT * 1000)

    def kernel_ready():
        sessions = [s for s in lab.api("/api/sessions") if s["path"].endswith(name)]
        return sessions and sessions[0]["kernel"]["execution_state"] == "idle" and _kernel_idle(page)

    _wait(kernel_ready, STARTUP_TIMEOUT, f"{name}: the kernel did not start")
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$")).click()
    # Run All marks every code cell [*]: wait for the first to start before looking for the end.
    _wait(lambda: any("*" in c["prompt"] or re.search(r"\d", c["prompt"]) for c in page.evaluate(CELLS_JS)),
          60, f"{name}: Run > Run All Cells started nothing", poll=0.2)
    return _wait(lambda: _settled(page), RUN_ALL_TIMEOUT, f"{name}: cells still queued or running")


def check_cells(sources: list[tuple[str, str]], cells: list[dict]) -> list[str]:
    """What is wrong after Run All: cells that did not run, tracebacks, figures not shown."""
    if len(cells) != len(sources):
        return [f"the page shows {len(cells)} cells, the file has {len(sources)}"]
    problems = []
    for index, ((kind, source), cell) in enumerate(zip(sources, cells)):
        if kind != "code" or not source.strip():
            continue
        first = source.strip().splitlines()[0][:60]
        where = f"cell {index} ({first!r})"
        if not re.fullmatch(r"\s*\[\d+\]:\s*", cell["prompt"]):
            problems.append(f"{where} did not run (prompt {cell['prompt'].strip()!r})")
            continue
        problems += [f"{where} raised: {error}" for error in cell["errors"]]
        broken = [img for img in cell["images"] if img["complete"] and min(img["natural"]) == 0]
        if broken:
            problems.append(f"{where}: {len(broken)} image(s) failed to decode")
        drawn = [img for img in cell["images"] if min(img["natural"]) > 0 and min(img["shown"]) > 0]
        calls = DRAWS.search(source)
        if calls and not drawn:
            problems.append(f"{where} calls {calls.group(0).strip()} but shows no rendered image "
                            f"(images: {cell['images']})")
    return problems


def move_slider(page, k: int) -> list[str]:
    """Press an arrow key on the k-th slider of the page; the preview in its cell must change."""
    before = page.evaluate(SLIDER_JS, [SLIDERS, k])
    where = f"slider {k} (cell {before['cell']}, at {before['readout']!r})"
    if before["outputs"] == 0 or not before["srcs"]:
        return [f"{where}: its cell shows no preview image in an Output widget"]
    key = "ArrowLeft" if before["now"] >= before["max"] else "ArrowRight"  # stay inside the range
    handle = page.locator(SLIDERS).nth(k).locator(".noUi-handle")
    handle.scroll_into_view_if_needed()
    handle.focus()
    page.keyboard.press(key)
    _wait(lambda: page.evaluate(SLIDER_JS, [SLIDERS, k])["readout"] != before["readout"], 10,
          f"{where}: {key} did not move it", poll=0.2)
    idle_since = None  # since when the kernel has been idle with the preview unchanged

    def redrawn():
        nonlocal idle_since
        now, idle = page.evaluate(SLIDER_JS, [SLIDERS, k]), _kernel_idle(page)
        if now["errors"] or (now["decoded"] and now["srcs"] != before["srcs"] and idle):
            return now
        if not idle or now["srcs"] != before["srcs"]:
            idle_since = None
        elif idle_since is None:
            idle_since = time.monotonic()
        elif time.monotonic() - idle_since > IDLE_VERDICT:
            raise TimeoutError(f"{where}: the preview did not change after {key} "
                               f"(kernel idle for {IDLE_VERDICT:.0f} s)")
        return None

    after = _wait(redrawn, SLIDER_TIMEOUT, f"{where}: the preview did not change after {key}")
    return [f"{where} -> {after['readout']!r}: the preview raised: {e}" for e in after["errors"]]


def move_sliders(page) -> tuple[list[str], int]:
    """Move each slider in turn (each preview settles first). Returns (problems, number of sliders)."""
    problems, count = [], page.locator(SLIDERS).count()
    for k in range(count):
        try:
            problems += move_slider(page, k)
        except TimeoutError as error:
            problems.append(str(error))
    return problems, count


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_in_jupyterlab(path, lab, browser, artifacts):
    notebook = json.loads(path.read_text())
    sources = [(c["cell_type"], "".join(c["source"])) for c in notebook["cells"]]
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page_errors = []
    page.on("pageerror", lambda error: page_errors.append(str(error)))
    start = time.monotonic()
    try:
        try:
            cells = _run_all(page, lab, path.name)
            ran = time.monotonic() - start
            problems = check_cells(sources, cells)
            slider_problems, n_sliders = move_sliders(page) if not problems else ([], 0)
            problems += slider_problems
        except TimeoutError as error:
            problems = [str(error)]
        problems += [f"JavaScript error in the page: {e}" for e in page_errors]
        took = time.monotonic() - start
        shot = artifacts / f"{path.stem}.png"
        if problems or "VSTLIB_BROWSER_ARTIFACTS" in os.environ:
            page.screenshot(path=str(shot))
        if problems:
            pytest.fail(f"{path.name} in JupyterLab ({took:.0f} s; screenshot {shot}):\n" + "\n".join(problems))
        drawing = sum(1 for kind, source in sources if kind == "code" and DRAWS.search(source))
        images = sum(1 for cell in cells for img in cell["images"] if min(img["natural"]) > 0)
        code = sum(1 for cell in cells if cell["code"])
        print(f"\n{path.name}: Run All {ran:.0f} s ({code} code cells, {drawing} drawing cells, {images} images "
              f"shown), {n_sliders} slider(s) moved, {took:.0f} s in all")
    finally:
        page.close()
        lab.shut_down_kernels()
