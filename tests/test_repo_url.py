"""One repository address (``vstlib/_repo.py``) for the README's Colab badges and every notebook's
badge and Colab install cell. The install cell runs before vstlib is installed, so it cannot import
the constant: it spells it out, and these tests keep all the copies equal."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def _load_repo_module():
    """vstlib/_repo.py on its own: importing the vstlib package would pull in torch."""
    spec = importlib.util.spec_from_file_location("vstlib_repo", ROOT / "vstlib" / "_repo.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


repo = _load_repo_module()

COLAB_LINK = re.compile(r"https://colab\.research\.google\.com/github/[^\s)\"'\]]+")
PIP_GIT = re.compile(r"git\+[a-z+]*://[^\s\"',)\]]+")
# any address of a repository named vstlib*, on GitHub or elsewhere
VSTLIB_REPO = re.compile(r"https?://(?!colab\.)[\w.-]+/[\w.-]+/vstlib[\w.-]*")


def _notebook(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def _source(cell: dict) -> str:
    return "".join(cell["source"])


def _badge(path: Path) -> str:
    return f"[![Open In Colab]({repo.COLAB_BADGE_IMAGE})]({repo.colab_url(path.name)})"


def test_repo_constant_is_well_formed():
    assert re.fullmatch(r"https://github\.com/[\w.-]+/[\w.-]+", repo.REPO_URL)
    assert repo.PIP_SPEC == "git+" + repo.REPO_URL
    assert repo.colab_url("01_x.ipynb") == (
        repo.REPO_URL.replace("https://github.com/", "https://colab.research.google.com/github/")
        + f"/blob/{repo.BRANCH}/notebooks/01_x.ipynb")


def test_readme_badges_use_the_repository_constant():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    links = COLAB_LINK.findall(readme)
    assert links, "README.md has no Colab badges"
    names = [link.rsplit("/", 1)[-1] for link in links]
    wrong = [link for link, name in zip(links, names) if link != repo.colab_url(name)]
    assert not wrong, f"README Colab links not built from {repo.REPO_URL} (branch {repo.BRANCH}): {wrong}"
    missing = [name for name in names if not (ROOT / "notebooks" / name).is_file()]
    assert not missing, f"README badges for notebooks that do not exist: {missing}"
    unlisted = [p.name for p in NOTEBOOKS if p.name not in names]
    assert not unlisted, f"notebooks without a Colab badge in README.md: {unlisted}"
    for path in NOTEBOOKS:  # the badge image too, not just the link
        number = path.name.split("_", 1)[0]
        expected = f"[![Open {number} in Colab]({repo.COLAB_BADGE_IMAGE})]({repo.colab_url(path.name)})"
        assert expected in readme, f"README.md lacks the badge line {expected}"
    others = [u for u in VSTLIB_REPO.findall(readme) if u.rstrip(".") != repo.REPO_URL]
    assert not others, f"README.md names another vstlib repository: {others}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_badge_and_install_cell_use_the_repository_constant(path):
    nb = _notebook(path)
    cells = nb["cells"]
    # the badge, in the title cell, opens this very notebook
    assert cells[0]["cell_type"] == "markdown" and _badge(path) in _source(cells[0]), (
        f"{path.name}: the first cell should carry the badge {_badge(path)}")
    text = "\n".join(_source(c) for c in cells)
    wrong = [link for link in COLAB_LINK.findall(text) if link != repo.colab_url(path.name)]
    assert not wrong, f"{path.name}: Colab links other than its own: {wrong}"
    # the install cell: the first code cell, pip-installing exactly PIP_SPEC on Colab only
    code = [c for c in cells if c["cell_type"] == "code"]
    install = _source(code[0])
    assert '"google.colab" in sys.modules' in install and "pip" in install, (
        f"{path.name}: the first code cell should install vstlib on Colab")
    assert PIP_GIT.findall(install) == [repo.PIP_SPEC], (
        f"{path.name}: the install cell should pip-install {repo.PIP_SPEC!r}, found {PIP_GIT.findall(install)}")
    assert f'"{repo.PIP_SPEC}"' in install
    stray = [s for s in PIP_GIT.findall(text) if s != repo.PIP_SPEC]
    others = [u for u in VSTLIB_REPO.findall(text) if u.rstrip(".") != repo.REPO_URL]
    assert not stray and not others, f"{path.name}: other repository addresses: {stray + others}"
    assert "import vstlib" not in install and "from vstlib" not in install
