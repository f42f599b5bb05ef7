# wgan-repro: `make test`, `make repro`. A fresh clone needs nothing but python3 (>= 3.10).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: setup lock test test-fast repro plots readme lint clean-venv

$(BIN)/wgan-repro: pyproject.toml uv.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip uv
	# the exact versions of uv.lock (tested together), never a fresh resolution: `make lock` upgrades
	# deliberately. Compiled bytecode saves every fresh process (pool worker, notebook kernel) seconds.
	$(BIN)/uv sync --locked --extra dev --compile-bytecode --quiet
	$(BIN)/python -m ipykernel install --sys-prefix --name wgan-repro --display-name "wgan-repro" >/dev/null
	touch $@

setup: $(BIN)/wgan-repro  ## create .venv from uv.lock (runs once; again when pyproject.toml or uv.lock change)

lock: setup  ## re-resolve every dependency into uv.lock (a deliberate upgrade: run the tests and dvc repro after)
	$(BIN)/uv lock --upgrade

test: setup  ## run the whole test suite on CPU (what CI runs)
	$(BIN)/python -m pytest -q

test-fast: setup  ## the suite without its `system` tests (renders, dvc, Ray, subprocesses, signals)
	$(BIN)/python -m pytest -q -m "not system"

repro: setup  ## run the whole DVC pipeline (CPU quick profile by default; profile in params.yaml)
	# runs/ is a working folder, not a DVC output: a fresh clone's `dvc repro` has nothing to do;
	# `dvc repro -f` re-runs everything.
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/dvc repro

plots: setup  ## dvc plots show -> results/plots/index.html (works offline: vega is inlined in .dvc/plots/offline.html)
	$(BIN)/dvc plots show

readme: setup  ## copy results/99_scorecard/{glance,scorecard,coverage}.md into README and docs/scorecard.md; docs/benchmarks.md from benchmarks/results/
	$(BIN)/python -c "from wgan_repro.pipeline import sync_docs as s; s()"
	$(BIN)/python benchmarks/summary.py

lint: setup
	$(BIN)/ruff check wgan_repro tests benchmarks notebooks

clean-venv:
	rm -rf $(VENV)
