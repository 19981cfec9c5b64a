# The README's two commands: `make tour` (main job) and `make test`; `make tour-headless`
# is the tour without a browser (executed notebook and a sample report in build/).
# Both set up a fresh machine first (venv in .venv, torch 2.13.0 CPU, the project, Graphviz)
# and skip set-up that is already done.
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.obsviz-installed

# JupyterLab refuses to run as root unless told to (CI machines and containers are root)
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root,)

.PHONY: setup tour tour-headless notebooks test test-torch lint fuzz bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	@command -v dot >/dev/null 2>&1 || { echo "installing Graphviz (dot)"; \
	  $(if $(filter 0,$(shell id -u)),,sudo) apt-get update -qq && \
	  $(if $(filter 0,$(shell id -u)),,sudo) apt-get install -y -qq graphviz >/dev/null; }
	@test -x /usr/bin/chromium || { echo "installing Chromium (the Explorer's browser test)"; \
	  $(if $(filter 0,$(shell id -u)),,sudo) apt-get update -qq && \
	  $(if $(filter 0,$(shell id -u)),,sudo) apt-get install -y -qq chromium >/dev/null; }
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check torch==2.13.0
	$(PY) -m pip install -q --disable-pip-version-check -e '.[dev]'
	@touch $@

tour: setup
	$(VENV)/bin/jupyter lab $(ROOT_FLAG) notebooks/tour.ipynb

tour-headless: setup
	$(PY) notebooks/build.py --headless build
	$(PY) -m obsviz report --sample resnet_small --out build/report.html

notebooks: setup
	$(PY) notebooks/build.py

lint: setup
	$(PY) -m ruff check obsviz tests benchmarks
	$(PY) -m ruff format --check obsviz tests benchmarks

test: lint
	$(PY) -m pytest -q -p no:cacheprovider

# `make test` fuzzes 300 random models against the real pass; this runs 5,000 (10-15 min).
fuzz: setup
	HYPOTHESIS_PROFILE=long $(PY) -m pytest -q -p no:cacheprovider tests/test_fuzz.py \
	  --hypothesis-show-statistics

# `make test-torch VERSION=2.2.2`: the corpus, split-type, API and torch-API tests on another
# released torch, in a venv of its own (.venv-torch-VERSION). Most versions come from PyPI as CUDA
# builds of several GB, so CI stays on 2.13. The constraints file keeps pip from replacing
# the chosen torch when it installs the project.
TORCH_VENV  := .venv-torch-$(VERSION)
TORCH_TESTS := tests/test_differential.py tests/test_split_types.py tests/test_api.py \
               tests/test_torch_api.py tests/test_on_device.py

test-torch:
	$(if $(VERSION),,$(error usage: make test-torch VERSION=2.2.2))
	$(MAKE) --no-print-directory $(TORCH_VENV)/.obsviz-installed
	$(TORCH_VENV)/bin/python -m pytest -q -p no:cacheprovider $(TORCH_TESTS)

.venv-torch-%/.obsviz-installed: pyproject.toml
	@test -x .venv-torch-$*/bin/python || python3 -m venv .venv-torch-$*
	echo "torch==$*" > .venv-torch-$*/constraints.txt
	.venv-torch-$*/bin/python -m pip install -q --disable-pip-version-check torch==$*
	.venv-torch-$*/bin/python -m pip install -q --disable-pip-version-check \
	  -c .venv-torch-$*/constraints.txt -e '.[test]'
	@touch $@

bench: setup
	$(PY) benchmarks/bench_engine.py
	$(PY) benchmarks/bench_render.py
	$(PY) benchmarks/bench_explorer.py
	$(PY) benchmarks/bench_report.py
	$(PY) benchmarks/bench_fold.py

clean:
	rm -rf build .pytest_cache
