# Two entry points on a fresh machine: `make run` (install + start the embedded stack) and
# `make test` (install + the whole test suite, the compose test included). Both install first
# when needed, exactly what uv.lock says (`uv sync --frozen`).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The one uv of the project: also pinned in pyproject.toml's dev extra (so `uv sync` keeps it)
# and in the Dockerfile (ARG UV_VERSION); tests/deploy/test_lockfile.py checks all three agree.
UV_VERSION := 0.13.9

.PHONY: install system-deps docker-engine compose-test run test benchmarks lint clean

$(STAMP): pyproject.toml uv.lock
	test -x $(BIN)/uv && $(BIN)/uv --version | grep -qx 'uv $(UV_VERSION)[^ ]*\( .*\)\?' \
	  || { test -x $(BIN)/python || $(PYTHON) -m venv $(VENV); \
	       $(BIN)/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION); }
	UV_PROJECT_ENVIRONMENT=$(VENV) $(BIN)/uv sync --frozen --extra dev --python $(BIN)/python
	touch $(STAMP)

install: $(STAMP)

# Debian packages the tests drive for real (Chromium, Prometheus, wrk, Docker's engine,
# debootstrap): installed when missing.
system-deps:
	bash scripts/install-system-deps.sh

# A Docker engine for the compose test: reuses one that answers, else starts a private dockerd.
docker-engine: system-deps
	bash scripts/docker-engine.sh start

run: $(STAMP)
	$(BIN)/rakuten up

# The production stack for real: images built from the Dockerfile (stand-ins only for images no
# registry here serves), `docker compose up`, traffic, restarts, an outage, down and up.
compose-test: $(STAMP) docker-engine
	$(BIN)/python -m pytest -p no:cacheprovider -rA tests/deploy/test_compose_stack.py tests/hub/test_docker_client.py

test: $(STAMP) system-deps docker-engine
	$(BIN)/ruff check --select F,E9 rakuten_assets api gradio_hub tests benchmarks scripts
	$(BIN)/lint-imports
	$(BIN)/python -m pytest

benchmarks: $(STAMP) system-deps
	$(BIN)/python benchmarks/model_quality.py
	$(BIN)/python benchmarks/pipeline.py
	$(BIN)/python benchmarks/serving.py
	$(BIN)/python benchmarks/drift.py

lint: $(STAMP)
	$(BIN)/ruff check rakuten_assets api gradio_hub tests benchmarks scripts
	$(BIN)/lint-imports

clean:
	rm -rf $(VENV) .rakuten .pytest_cache
