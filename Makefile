# Two entry points on a fresh machine: `make run` (install + start the embedded stack) and
# `make test` (install + the whole test suite). Both install first when needed.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install system-deps run test benchmarks lint clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv
	$(BIN)/uv pip install --python $(BIN)/python -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# Debian packages the tests drive for real (Chromium, Prometheus, wrk): installed when missing.
system-deps:
	bash scripts/install-system-deps.sh

run: $(STAMP)
	$(BIN)/rakuten up

test: $(STAMP) system-deps
	$(BIN)/ruff check --select F,E9 rakuten_assets api gradio_hub tests benchmarks
	$(BIN)/lint-imports
	$(BIN)/python -m pytest

benchmarks: $(STAMP) system-deps
	$(BIN)/python benchmarks/model_quality.py
	$(BIN)/python benchmarks/pipeline.py
	$(BIN)/python benchmarks/serving.py
	$(BIN)/python benchmarks/drift.py

lint: $(STAMP)
	$(BIN)/ruff check rakuten_assets api gradio_hub tests benchmarks
	$(BIN)/lint-imports

clean:
	rm -rf $(VENV) .rakuten .pytest_cache
