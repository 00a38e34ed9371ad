"""Tests for vstlib.data: the sample-file registry, fetching/verifying from the mirror, name
resolution and the bundled content photos. Nothing here touches the network: a missing file is
"downloaded" from a closed local port so the failure is immediate and deterministic.
"""

from __future__ import annotations

import csv
import dataclasses
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from vstlib import data
from vstlib.errors import VstError

STYLE = "style/udnie_picabia.jpg"
DEAD_URL = "http://127.0.0.1:9/vstlib-test/udnie_picabia.jpg"  # port 9 (discard): refused at once


def _read_tsv(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f, delimiter="\t"))


# --------------------------------------------------------------------------------------------
# Registry
# --------------------------------------------------------------------------------------------


def test_registry_parses_every_row():
    rows = _read_tsv(data._REGISTRY_FILE)
    reg = data.registry()
    assert len(reg) == len(rows) > 0
    assert list(reg) == [r["name"] for r in rows]  # names are unique and kept in file order
    for name, asset in reg.items():
        assert asset.name == name
        assert re.fullmatch(r"[0-9a-f]{64}", asset.sha256), name
        assert asset.size > 0, name
        assert asset.url.startswith("https://"), name
        assert asset.license.strip(), name
        assert asset.what.strip(), name
        assert not Path(name).is_absolute() and ".." not in Path(name).parts, name
    # every kind of sample the library relies on is there
    assert "video/bbb_adain_640x360_10s.mp4" in reg
    assert len(data.names("style/")) == 6
    assert data.names("style/") == sorted(n for n in reg if n.startswith("style/"))


def test_registry_matches_the_mirror(data_dir):
    mirror_rows = _read_tsv(data_dir / "registry.tsv")
    reg = data.registry()
    assert {r["name"] for r in mirror_rows} == set(reg)
    for row in mirror_rows:
        asset = reg[row["name"]]
        assert (asset.sha256, asset.size, asset.url) == (row["sha256"], int(row["bytes"]), row["upstream_url"])
        path = data_dir / row["name"]
        assert path.is_file() and path.stat().st_size == asset.size, row["name"]


# --------------------------------------------------------------------------------------------
# fetch
# --------------------------------------------------------------------------------------------


def test_fetch_returns_the_mirror_path(data_dir):
    path = data.fetch(STYLE)
    assert path == data_dir / STYLE
    assert path.is_file()
    assert data._sha256(path) == data.registry()[STYLE].sha256
    assert data.fetch(STYLE) == path  # second call (from the verified-files memo) agrees


def test_fetch_rejects_a_corrupt_file(data_dir, tmp_path, monkeypatch):
    mirror = tmp_path / "mirror"
    (mirror / "style").mkdir(parents=True)
    corrupt = mirror / STYLE
    content = bytearray((data_dir / STYLE).read_bytes())
    content[len(content) // 2] ^= 0xFF  # same size, one byte flipped
    corrupt.write_bytes(bytes(content))
    monkeypatch.setenv(data.DATA_DIR_ENV, str(mirror))
    with pytest.raises(VstError) as info:
        data.fetch(STYLE)
    message = str(info.value)
    assert STYLE in message and "corrupt" in message
    assert "\n" not in message

    # a good copy in the same place is accepted (and a file fixed in place is checked again)
    shutil.copyfile(data_dir / STYLE, corrupt)
    assert data.fetch(STYLE) == corrupt


def test_fetch_rejects_a_corrupt_cached_download(data_dir, tmp_path, monkeypatch):
    """No mirror: the download cache is used, and it is verified too."""
    cache = tmp_path / "cache"
    (cache / "style").mkdir(parents=True)
    (cache / STYLE).write_bytes(b"not the painting")
    monkeypatch.delenv(data.DATA_DIR_ENV, raising=False)
    monkeypatch.setenv(data.CACHE_DIR_ENV, str(cache))
    with pytest.raises(VstError, match="corrupt"):
        data.fetch(STYLE)
    shutil.copyfile(data_dir / STYLE, cache / STYLE)
    assert data.fetch(STYLE) == cache / STYLE


def _with_dead_url(monkeypatch) -> data.Asset:
    asset = dataclasses.replace(data.registry()[STYLE], url=DEAD_URL)
    monkeypatch.setattr(data, "registry", lambda: {STYLE: asset})
    return asset


def test_missing_file_without_network_is_one_clear_line(tmp_path, monkeypatch):
    empty_mirror, empty_cache = tmp_path / "mirror", tmp_path / "cache"
    empty_mirror.mkdir()
    empty_cache.mkdir()
    monkeypatch.setenv(data.DATA_DIR_ENV, str(empty_mirror))
    monkeypatch.setenv(data.CACHE_DIR_ENV, str(empty_cache))
    _with_dead_url(monkeypatch)
    with pytest.raises(VstError) as info:
        data.fetch(STYLE)
    message = str(info.value)
    assert "\n" not in message
    assert STYLE in message
    assert DEAD_URL in message
    assert data.DATA_DIR_ENV in message and str(empty_mirror) in message
    assert not list(empty_cache.rglob("*.jpg"))  # nothing half-downloaded is left as the file


def test_missing_file_without_mirror_says_the_variable_is_unset(tmp_path, monkeypatch):
    monkeypatch.delenv(data.DATA_DIR_ENV, raising=False)
    monkeypatch.setenv(data.CACHE_DIR_ENV, str(tmp_path / "cache"))
    _with_dead_url(monkeypatch)
    with pytest.raises(VstError, match=f"{data.DATA_DIR_ENV} is not set") as info:
        data.fetch(STYLE)
    assert "\n" not in str(info.value) and DEAD_URL in str(info.value)


def test_fetch_unknown_name():
    with pytest.raises(VstError, match="not a vstlib sample file; run `vst data list`"):
        data.fetch("style/no_such_painting.jpg")
    with pytest.raises(VstError, match="did you mean style/udnie_picabia.jpg"):
        data.fetch("udnie_picabia")


# --------------------------------------------------------------------------------------------
# resolve
# --------------------------------------------------------------------------------------------


def test_resolve_short_names(data_dir):
    expected = data_dir / "style" / "starry_night_vangogh.jpg"
    assert data.resolve("starry_night_vangogh", "style") == expected
    assert data.resolve("starry_night_vangogh.jpg", "style") == expected
    assert data.resolve("style/starry_night_vangogh.jpg", "style") == expected
    assert data.resolve("bbb_adain_640x360_10s", "video") == data_dir / "video" / "bbb_adain_640x360_10s.mp4"


def test_resolve_prefers_an_existing_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    own = tmp_path / "starry_night_vangogh"
    own.write_bytes(b"x")
    assert data.resolve("starry_night_vangogh", "style") == Path("starry_night_vangogh")
    assert data.resolve(own, "style") == own


def test_resolve_unknown_name_lists_the_choices():
    with pytest.raises(VstError) as info:
        data.resolve("mona_lisa", "style")
    message = str(info.value)
    assert "mona_lisa" in message and "\n" not in message
    for name in data.names("style/"):
        assert Path(name).stem in message


# --------------------------------------------------------------------------------------------
# Content photos
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", data.CONTENT_PHOTOS)
def test_content_photo_is_uint8_rgb(name):
    image = data.content_photo(name)
    assert isinstance(image, np.ndarray)
    assert image.dtype == np.uint8
    assert image.ndim == 3 and image.shape[2] == 3 and min(image.shape[:2]) >= 100
    assert image.flags.c_contiguous


def test_content_photo_default_and_unknown():
    assert data.content_photo().shape == data.content_photo("astronaut").shape
    with pytest.raises(VstError, match="chelsea"):
        data.content_photo("lena")


def test_sintel_samples_load_from_data(data_dir):
    a, b, gt = data.sintel_pair("alley_1", 1)
    assert a.shape == b.shape == (436, 1024, 3) and a.dtype == np.uint8
    assert gt.shape == (436, 1024, 2) and gt.dtype == np.float32
    occluded, invalid = data.sintel_occlusions("alley_1", 2), data.sintel_invalid("alley_1", 2)
    assert occluded.shape == invalid.shape == (436, 1024) and occluded.dtype == bool
    assert 0 < occluded.mean() < 0.5
    with pytest.raises(VstError, match="frames with flow"):
        data.sintel_pair("alley_1", 40)
    with pytest.raises(VstError, match="render pass"):
        data.sintel_pair("alley_1", 1, render="albedo")
