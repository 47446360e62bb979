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
	$(PY) benchmarks/reliability.py

proto: setup
	$(PY) -m katib.api.generate

compile: setup
	$(PY) -m pipelines compile

# Container images (needs Docker; cannot run on the CI machines). Tags are the package version
# from pyproject.toml, never :latest. `make images` builds and pushes both; `make images PUSH=0`
# only builds (scripts/e2e-kind.sh then `kind load`s them). REGISTRY=my.registry/team to publish
# elsewhere (then point manifests/ at it: docs/deploy.md).
REGISTRY ?= ghcr.io/kubeflow-nac
PUSH     ?= 1
VERSION  := $(shell sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)
SUGGESTION_IMAGE := $(REGISTRY)/katib-suggestion:$(VERSION)
TRAINER_IMAGE    := $(REGISTRY)/automl-trainer:$(VERSION)

images:
	docker build -f images/suggestion/Dockerfile -t $(SUGGESTION_IMAGE) .
	docker build -f images/trainer/Dockerfile -t $(TRAINER_IMAGE) .
	@if [ "$(PUSH)" = "1" ]; then docker push $(SUGGESTION_IMAGE) && docker push $(TRAINER_IMAGE); fi

# Render every kustomization (needs kubectl >= 1.27 or kustomize >= 5).
kustomize:
	@for k in manifests/base manifests/examples manifests/overlays/kubeflow manifests/overlays/kind \
		manifests/optional/pipeline-katib-backend; do \
		echo "# ---- $$k"; kubectl kustomize $$k || exit 1; done

clean:
	rm -rf $(VENV) local_outputs .pytest_cache
