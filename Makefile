# Two entry points on a fresh machine: `make run` (install + start the embedded stack) and
# `make test` (install + the whole test suite). Both install first when needed.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run test benchmarks clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv
	$(BIN)/uv pip install --python $(BIN)/python -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/rakuten up

test: $(STAMP)
	$(BIN)/python -m pytest

benchmarks: $(STAMP)
	$(BIN)/python benchmarks/model_quality.py
	$(BIN)/python benchmarks/pipeline.py

clean:
	rm -rf $(VENV) .rakuten .pytest_cache
