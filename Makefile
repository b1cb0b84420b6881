# Two commands for a newcomer: `make run` and `make test`. Everything else is a helper of those.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
CONFIG ?= config/arsync.yaml
PACKAGES := arsync connector scoring jobs

.PHONY: run report test lint typecheck unit postgres sample bench wheel lock clean

run: $(VENV)/.runtime  ## set up, then run the main job (dry run) on the bundled sample data
	$(BIN)/arsync run --dry-run --config $(CONFIG)

report: $(VENV)/.runtime  ## worklist, portfolio KPIs, worst movers (CSV) and report.html in out/
	$(BIN)/arsync report --config $(CONFIG)

test: $(VENV)/.dev lint typecheck unit  ## set up with the dev extras, then lint, type-check, test

lint: $(VENV)/.dev
	$(BIN)/ruff check $(PACKAGES) tests bench
	$(BIN)/ruff format --check $(PACKAGES) tests bench
	$(BIN)/lint-imports

typecheck: $(VENV)/.dev
	$(BIN)/mypy

unit: $(VENV)/.dev
	$(BIN)/pytest

postgres:  ## install (apt) and start a local PostgreSQL for the state-store tests, as root; prints its URL
	@bash .ci/postgres
# For the PostgreSQL cases of the tests: export ARSYNC_TEST_POSTGRES_URL="$$(make -s postgres)"

sample: $(VENV)/.runtime  ## regenerate the bundled sample export
	$(BIN)/arsync sample-data --customers 60 --seed 7 --out examples/sample

bench: $(VENV)/.dev  ## measure speed and memory (never part of `make test`)
	$(BIN)/python bench/bench_sample_data.py
	$(BIN)/python bench/bench_state_store.py
	$(BIN)/python bench/bench_related.py
	$(BIN)/python bench/bench_load.py  # the dry run from a CSV export, at 5,000 and 50,000 customers
	$(BIN)/python bench/bench_load_floor.py  # the least a checked load must do, beside read_csv

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Installs come from the locks in requirements/, each file checked against its hash: first the
# locked set (--no-deps: nothing unlocked slips in), then arsync itself, then `pip check`, which
# fails when pyproject.toml asks for something the lock lacks (run `make lock`).
$(VENV)/.runtime: pyproject.toml requirements/runtime.txt | $(VENV)/bin/python
	$(BIN)/pip install --quiet --require-hashes --no-deps -r requirements/runtime.txt
	$(BIN)/pip install --quiet --no-deps -e .
	$(BIN)/pip check
	touch $@

$(VENV)/.dev: pyproject.toml requirements/dev.txt | $(VENV)/bin/python
	$(BIN)/pip install --quiet --require-hashes --no-deps -r requirements/dev.txt
	$(BIN)/pip install --quiet --no-deps -e .
	$(BIN)/pip check
	touch $@ $(VENV)/.runtime

# The wheel, built with the locked hatchling; it carries the defaults `arsync init` writes.
wheel: $(VENV)/.runtime  ## build dist/arsync-<version>-py3-none-any.whl, defaults and sample inside
	$(BIN)/pip install --quiet --require-hashes --no-deps -r requirements/build.txt
	$(BIN)/pip wheel --quiet --no-deps --no-build-isolation --wheel-dir dist .

# Re-resolve the locks from pyproject.toml (build-system, dependencies, extras) for CPython 3.11+
# on every platform, with hashes, keeping the pins that still fit; `make lock UPGRADE=1` moves
# every pin to the newest release allowed. Commit requirements/ afterwards (docs/building.md).
UV_VERSION := 0.13.8
LOCK_FLAGS = --quiet --universal --python-version 3.11 --generate-hashes \
	--custom-compile-command 'make lock' $(if $(UPGRADE),--upgrade)

lock: | $(VENV)/bin/python  ## re-resolve requirements/*.txt from pyproject.toml (UPGRADE=1: newest)
	$(BIN)/pip install --quiet 'uv==$(UV_VERSION)'
	requires=$$($(BIN)/python -c 'import tomllib; print(*tomllib.load(open("pyproject.toml", "rb"))["build-system"]["requires"], sep="\n")') \
	  && printf '%s\n' "$$requires" | $(BIN)/uv pip compile $(LOCK_FLAGS) -o requirements/build.txt -
	$(BIN)/uv pip compile $(LOCK_FLAGS) --extra postgres --extra xlsx \
	  -o requirements/runtime.txt pyproject.toml
	$(BIN)/uv pip compile $(LOCK_FLAGS) --extra dev \
	  -c requirements/runtime.txt -c requirements/build.txt -o requirements/dev.txt pyproject.toml

clean:
	rm -rf $(VENV) out .mypy_cache .ruff_cache .pytest_cache .hypothesis
