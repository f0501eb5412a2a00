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

.PHONY: install demo test test-fast lint bench clean ui-mlflow ui-airflow bqemulator up down

$(VENV)/.installed: requirements.lock pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install -q --disable-pip-version-check uv==0.13.9
	$(UV) pip install --quiet --python $(PY) $(FIND_LINKS) -r requirements.lock
	$(UV) pip install --quiet --python $(PY) --no-deps -e .
	@touch $@

install: $(VENV)/.installed

# The BigQuery emulator's own environment (its pins clash with the lock), built once; tests/services
# start it as a server and skip with a reason where it could not be built (no PyPI, no python3.11).
BQEMU := .venv-bqemulator
$(BQEMU)/.installed: infra/bqemulator/requirements.lock
	@test -x $(BQEMU)/bin/python || $(PYTHON) -m venv $(BQEMU)
	@mkdir -p $(BQEMU)/home
	$(BQEMU)/bin/python -m pip install -q --disable-pip-version-check -r infra/bqemulator/requirements.lock
	HOME=$(CURDIR)/$(BQEMU)/home $(BQEMU)/bin/python -c "import duckdb, pathlib, duckdb_extension_spatial as s; \
	  duckdb.connect().execute(f\"INSTALL '{next(pathlib.Path(s.__file__).parent.rglob('spatial.duckdb_extension'))}'\")"
	@touch $@

bqemulator: $(BQEMU)/.installed

demo: install
	$(VENV)/bin/herald demo

# ruff keeps the tree clean: a lint or format violation fails `make test` (and so CI).
lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# Test files run on PYTEST_WORKERS processes (pytest-xdist), each file whole on one worker (--dist loadfile with
# the scheduler in tests/conftest.py; the demo-flow and browser files share one worker and one demo run), and two
# workers halve the wall time on a 2-core machine.
PYTEST_WORKERS ?= 2
PYTEST_PARALLEL := $(if $(filter-out 0 1,$(PYTEST_WORKERS)),-n $(PYTEST_WORKERS) --dist loadfile,)

# Everything: unit, DAG, end-to-end, the Celery + PostgreSQL + Redis + MLflow-server stack with its faults,
# the BigQuery emulator (its environment built once; its tests skip with the reason when it cannot be) and
# the browser (skipped without /usr/bin/chromium).
test: install lint
	@$(MAKE) --no-print-directory bqemulator || echo "bqemulator environment not built (no PyPI?): its tests will skip"
	$(PY) -m pytest $(PYTEST_PARALLEL)

test-fast: install
	$(PY) -m pytest -m "not slow"

bench: install
	HERALD_HOME=$(HERALD_BENCH_HOME) $(PY) -m bench.run --section $(SECTION) $(if $(WORLDS),--worlds $(WORLDS),)

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
