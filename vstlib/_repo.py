"""Where vstlib lives: the one repository address for the README's Colab badges and the notebooks.

Torch-free and import-free, so tools can read it without vstlib's dependencies. The notebooks'
Colab install cell runs before vstlib is installed and cannot import it: it spells out
``PIP_SPEC`` literally, and ``tests/test_repo_url.py`` checks that every badge and install cell
(in README.md and in each notebook) uses exactly these values. To move the repository, change
``REPO_URL`` here and the tests list every place that still says the old address.
"""

REPO_URL = "https://github.com/vstlib/vstlib"
BRANCH = "main"  # the branch the Colab badges open

# What the notebooks' install cell passes to pip on Colab.
PIP_SPEC = f"git+{REPO_URL}"

_GITHUB = "https://github.com/"
COLAB_BADGE_IMAGE = "https://colab.research.google.com/assets/colab-badge.svg"


def colab_url(notebook: str) -> str:
    """The Colab address that opens ``notebooks/<notebook>`` (a file name such as ``01_gatys_baseline.ipynb``)."""
    if not REPO_URL.startswith(_GITHUB):
        raise ValueError(f"Colab opens GitHub repositories only, not {REPO_URL}")
    return f"https://colab.research.google.com/github/{REPO_URL[len(_GITHUB):]}/blob/{BRANCH}/notebooks/{notebook}"
