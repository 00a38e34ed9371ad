"""Shared test setup.

* ``VSTLIB_DATA_DIR`` points at the sample-data mirror: the value from the environment (CI sets
  ``../shared/data``, relative to the repository root) made absolute, or ``<repo>/../shared/data``
  when unset. Made absolute so that tests that ``chdir`` into a temporary folder still find it.
* ``VSTLIB_CACHE_DIR`` points at an empty temporary folder, so no test reads a user's download
  cache or writes into it (and a missing mirror file fails instead of silently downloading into
  ``~/.cache``).

Both are set for the whole session (subprocesses started by tests inherit them) and restored
afterwards. Test modules may define their own ``data_dir`` fixture; a module-level fixture
overrides this one for that module only.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA_DIR = REPO_ROOT.parent / "shared" / "data"


def _mirror() -> Path:
    value = os.environ.get("VSTLIB_DATA_DIR")
    return Path(value).resolve() if value else DEFAULT_DATA_DIR.resolve()


@pytest.fixture(scope="session", autouse=True)
def _vstlib_env(tmp_path_factory):
    """Session-wide VSTLIB_DATA_DIR (absolute) and an empty VSTLIB_CACHE_DIR."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("VSTLIB_DATA_DIR", str(_mirror()))
        mp.setenv("VSTLIB_CACHE_DIR", str(tmp_path_factory.mktemp("vstlib_cache")))
        yield


@pytest.fixture(scope="session")
def data_dir(_vstlib_env) -> Path:
    """The sample-data mirror; tests that need it are skipped when it is absent."""
    root = Path(os.environ["VSTLIB_DATA_DIR"])
    if not (root / "registry.tsv").is_file() or not (root / "video").is_dir():
        pytest.skip(f"sample data not found at {root}; set VSTLIB_DATA_DIR")
    return root


@pytest.fixture(scope="session")
def bbb_path(data_dir: Path) -> Path:
    """Big Buck Bunny excerpt: 640x360, 24 fps, 240 frames, with an AAC audio track."""
    return data_dir / "video" / "bbb_adain_640x360_10s.mp4"


@pytest.fixture
def one_torch_thread():
    """Run a test's real optimizations on one intra-op thread (restored afterwards).

    Used by the CLI and video tests, whose frames are tiny (48 px): there, torch's OpenMP threads
    cost more than they bring, and on a busy 2-core machine they spin-wait for each other
    (measured: 6 frames of 48 px with 2 L-BFGS iterations took ~30 s with 2 threads while other
    jobs ran, ~1.2 s with 1). Results are the same up to float rounding.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def workdir(tmp_path, monkeypatch, data_dir) -> Path:
    """An empty current folder (data_dir: the CLI resolves sample names through the mirror)."""
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return work


@pytest.fixture(scope="module")
def style():
    """A small striped painting for training tests (one per test module; test_ruder.py has its own)."""
    g = torch.Generator().manual_seed(3)
    stripes = torch.zeros(1, 3, 48, 48)
    stripes[:, 0, :, ::6] = 0.9
    stripes[:, 2, ::5] = 0.7
    return (stripes + 0.1 * torch.rand(1, 3, 48, 48, generator=g)).clamp(0, 1)


def smooth_texture(h: int, w: int, seed: int = 0):
    """A uint8 RGB texture [h, w, 3] with structure at several scales (for the flow to lock onto);
    imported by the stabilizer and segmentation tests."""
    import cv2
    import numpy as np

    rng = np.random.default_rng(seed)
    noise = rng.random((h, w, 3)).astype(np.float32)
    tex = sum(cv2.GaussianBlur(noise, (0, 0), s) * (1.0 if s < 2 else 3.0) for s in (1.0, 3.0))
    tex = (tex - tex.min()) / (tex.max() - tex.min())
    return np.round(tex * 255).astype(np.uint8)
