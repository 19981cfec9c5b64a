# The README's two commands: `make tour` (main job) and `make test`; `make tour-headless`
# is the tour without a browser (executed notebook and a sample report in build/).
# Both set up a fresh machine first (venv in .venv, torch 2.13.0 CPU, the project, Graphviz)
# and skip set-up that is already done.
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.obsviz-installed

# JupyterLab refuses to run as root unless told to (CI machines and containers are root)
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root,)

.PHONY: setup tour tour-headless notebooks test lint fuzz bench clean

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

test: lint
	$(PY) -m pytest -q -p no:cacheprovider

# `make test` fuzzes 300 random models against the real pass; this runs 5,000 (10-15 min).
fuzz: setup
	HYPOTHESIS_PROFILE=long $(PY) -m pytest -q -p no:cacheprovider tests/test_fuzz.py \
	  --hypothesis-show-statistics

bench: setup
	$(PY) benchmarks/bench_engine.py
	$(PY) benchmarks/bench_render.py
	$(PY) benchmarks/bench_explorer.py
	$(PY) benchmarks/bench_report.py
	$(PY) benchmarks/bench_fold.py

clean:
	rm -rf build .pytest_cache
