# Herald: `make demo` runs the whole job on the embedded warehouse, `make test` runs the tests.
# Both install first into .venv from the one lock file (requirements.lock).
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
UV := $(VENV)/bin/uv
# The CPU torch wheel lies in /opt/wheels on our machines; elsewhere pass FIND_LINKS yourself.
FIND_LINKS ?= $(if $(wildcard /opt/wheels/torch-*),--find-links /opt/wheels,)
export HERALD_HOME ?= $(CURDIR)/.herald
# Benchmarks keep their own state so they never disturb the demo's warehouse and registry.
HERALD_BENCH_HOME ?= $(CURDIR)/.herald-bench
SECTION ?= all

.PHONY: install demo test test-fast bench clean ui-mlflow ui-airflow up down

$(VENV)/.installed: requirements.lock pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install -q --disable-pip-version-check uv==0.13.9
	$(UV) pip install --quiet --python $(PY) $(FIND_LINKS) -r requirements.lock
	$(UV) pip install --quiet --python $(PY) --no-deps -e .
	@touch $@

install: $(VENV)/.installed

demo: install
	$(VENV)/bin/herald demo

test: install
	$(PY) -m pytest

test-fast: install
	$(PY) -m pytest -m "not slow"

bench: install
	HERALD_HOME=$(HERALD_BENCH_HOME) $(PY) -m bench.run --section $(SECTION)

# Both UIs in the background on HERALD_HOME's state (127.0.0.1; HOST=0.0.0.0 to share); `make down` stops them.
HOST ?= 127.0.0.1
up: install
	$(VENV)/bin/herald up --host $(HOST)

down:
	$(VENV)/bin/herald down

ui-mlflow: install
	$(VENV)/bin/herald ui mlflow

ui-airflow: install
	$(VENV)/bin/herald ui airflow

clean:
	rm -rf $(HERALD_HOME) $(HERALD_BENCH_HOME) bench/results
