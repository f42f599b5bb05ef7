# wgan-repro: `make test`, `make repro`. A fresh clone needs nothing but python3 (>= 3.10).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: setup test repro plots readme lint clean-venv

$(BIN)/wgan-repro: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip uv
	# uv resolves and installs the PyPI wheels (torch included) in well under a minute; compiled
	# bytecode saves every fresh process (pool worker, notebook kernel) seconds of import time
	$(BIN)/uv pip install --compile-bytecode --python $(BIN)/python -e '.[dev]'
	$(BIN)/python -m ipykernel install --sys-prefix --name wgan-repro --display-name "wgan-repro" >/dev/null
	touch $@

setup: $(BIN)/wgan-repro  ## create .venv with every dependency (runs once; again when pyproject.toml changes)

test: setup  ## run the test suite on CPU
	$(BIN)/python -m pytest -q

repro: setup  ## run the whole DVC pipeline (CPU quick profile by default; profile in params.yaml)
	# runs/ is a working folder, not a DVC output: a fresh clone's `dvc repro` has nothing to do;
	# `dvc repro -f` re-runs everything.
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/dvc repro

plots: setup  ## dvc plots show -> results/plots/index.html (works offline: vega is inlined in .dvc/plots/offline.html)
	$(BIN)/dvc plots show

readme: setup  ## copy results/99_scorecard/scorecard.md into README (between its scorecard markers)
	$(BIN)/python -c "from wgan_repro.pipeline import sync_readme_scorecard as s; s()"

lint: setup
	$(BIN)/ruff check wgan_repro tests benchmarks

clean-venv:
	rm -rf $(VENV)
