# Two entry points on a fresh machine: `make run` (the main job) and `make test` (lint + tests).
# Each creates or refreshes .venv itself; nothing is downloaded at run time beyond package installs.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.tether-installed

.PHONY: run test lint bench bench-peers clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[test]"
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/tether run

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy  # the package, as configured in pyproject.toml

# two workers (CI has two cores), long tests stolen by whichever worker is idle
test: lint
	$(BIN)/python -m pytest -n 2 --dist worksteal

bench: $(STAMP)
	$(BIN)/python -m bench.algos_speed
	$(BIN)/python -m bench.load_formats
	$(BIN)/python -m bench.generation

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache

# d3rlpy 2.8.1 and imitation 1.0.1 in their own virtualenvs, for side-by-side benchmarks (torch from the local CPU wheel).
bench-peers: $(STAMP)
	$(BIN)/python -m pip install -q -e ".[bench]"
	test -x bench/.venv-d3rlpy/bin/python || $(PYTHON) -m venv bench/.venv-d3rlpy
	bench/.venv-d3rlpy/bin/python -m pip install -q torch==2.13.0
	bench/.venv-d3rlpy/bin/python -m pip install -q d3rlpy==2.8.1 "gymnasium[mujoco]"  # MuJoCo for the score peers' rollouts
	# imitation 1.0.1 pins gymnasium 0.29 and stable-baselines3 2.2: its own virtualenv (bench/dagger.py --peer)
	test -x bench/.venv-imitation/bin/python || $(PYTHON) -m venv bench/.venv-imitation
	bench/.venv-imitation/bin/python -m pip install -q torch==2.13.0
	bench/.venv-imitation/bin/python -m pip install -q imitation==1.0.1 "gymnasium[mujoco]~=0.29" onnxruntime
