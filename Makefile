# Two commands on a fresh machine: `make run` and `make test`. Each creates or refreshes
# .venv (git-ignored), installs torch (CPU wheel pinned to 2.13.0 so pip does not pull a
# multi-GB CUDA build), then the project, then acts.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
TORCH  ?= torch==2.13.0

.PHONY: setup run test test-fast lint bench reliability proto compile images kustomize clean

setup: $(STAMP)

$(STAMP): pyproject.toml Makefile
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet "$(TORCH)"
	$(PY) -m pip install --quiet -e ".[dev]"
	@touch $(STAMP)

run: setup
	$(PY) -m pipelines run --local

test: setup
	$(PY) -m pytest -q --durations=15

test-fast: setup
	$(PY) -m pytest -q -m "not slow"

lint: setup
	$(PY) -m ruff check .

bench: setup
	$(PY) benchmarks/nac_digits.py
	$(PY) benchmarks/suggestion_service.py
	$(PY) benchmarks/grid_search_digits.py

reliability: setup
	$(PY) -m tests.reliability

proto: setup
	$(PY) -m katib.api.generate

compile: setup
	$(PY) -m pipelines compile

clean:
	rm -rf $(VENV) local_outputs .pytest_cache
