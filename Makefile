# Two entry points on a fresh machine: `make run` (the main job) and `make test` (lint + tests).
# Each creates or refreshes .venv itself; nothing is downloaded at run time beyond package installs.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.tether-installed

.PHONY: run test lint bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[test]"
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/tether info halfcheetah-medium-v5

lint: $(STAMP)
	$(BIN)/ruff check src tests bench

test: lint
	$(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/python bench/load_formats.py
	$(BIN)/python bench/generation.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
