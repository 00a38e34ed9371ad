"""TrainingImages' folder search: hidden files/folders and the training's own outputs are skipped.

A resumed ``vst train --data DIR -o DIR/m.pth`` used to train on its own loss_curve.png (in the
work directory DIR/m.train) and could read a half-written ``.loss_curve.png.tmp-*.png``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vstlib.errors import VstError
from vstlib.johnson_train import TrainingImages


def _png(path: Path, value: int = 100) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((40, 48, 3), value, np.uint8)).save(path)
    return path


@pytest.fixture
def data_folder(tmp_path) -> Path:
    """A --data folder after a training run with -o DATA/m.pth: 3 photos, plus the run's outputs."""
    data = tmp_path / "data"
    for name in ("a.png", "b.jpg", "sub/c.png"):
        _png(data / name)
    (data / "m.pth").write_bytes(b"model")
    _png(data / "m.train" / "loss_curve.png")  # the work directory's loss plot
    _png(data / "m.train" / ".loss_curve.png.tmp-1a2b3c4d.png")
    (data / ".hidden_dir").mkdir()
    _png(data / ".hidden_dir" / "x.png")
    (data / ".half.png.tmp-00aa.png").write_bytes(b"\x89PNG half written")  # hidden and broken
    return data


def _names(images: TrainingImages, root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in images.files)


def test_hidden_files_and_folders_are_skipped(data_folder):
    images = TrainingImages([data_folder])
    assert "m.train/.loss_curve.png.tmp-1a2b3c4d.png" not in _names(images, data_folder)
    assert not any(part.startswith(".") for n in _names(images, data_folder) for part in n.split("/"))


def test_excluded_work_dir_and_output_are_skipped(data_folder):
    images = TrainingImages([data_folder], exclude=[data_folder / "m.pth", data_folder / "m.train"])
    assert _names(images, data_folder) == ["a.png", "b.jpg", "sub/c.png"]
    assert images.described == ["3 image files"]
    assert len(images) == 3
    batch = images.batch(np.random.default_rng(0), 2, 32)  # every file found is readable
    assert tuple(batch.shape) == (2, 3, 32, 32)


def test_exclude_given_with_another_spelling(data_folder, monkeypatch):
    monkeypatch.chdir(data_folder)
    images = TrainingImages([Path(".")], exclude=[Path("sub/../m.train")])
    assert sorted(p.as_posix() for p in images.files) == ["a.png", "b.jpg", "sub/c.png"]


def test_a_hidden_folder_given_explicitly_is_searched(tmp_path):
    """Only names below the folder given count as hidden: ~/.datasets/photos is searched."""
    folder = tmp_path / ".datasets" / "photos"
    _png(folder / "a.png")
    assert len(TrainingImages([folder])) == 1


def test_a_folder_with_only_excluded_files_is_an_error(tmp_path):
    data = tmp_path / "data"
    _png(data / "m.train" / "loss_curve.png")
    with pytest.raises(VstError, match="holds no images"):
        TrainingImages([data], exclude=[data / "m.train"])
