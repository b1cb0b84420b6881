# Two commands for a newcomer: `make run` and `make test`. Everything else is a helper of those.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
CONFIG ?= config/arsync.yaml
PACKAGES := arsync connector scoring jobs

.PHONY: run report test lint typecheck unit postgres sample bench wheel clean

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

$(VENV)/.runtime: pyproject.toml | $(VENV)/bin/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.dev: pyproject.toml | $(VENV)/bin/python
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@ $(VENV)/.runtime

wheel: $(VENV)/.runtime  ## build dist/arsync-<version>-py3-none-any.whl, defaults and sample inside
	$(BIN)/pip wheel --quiet --no-deps --wheel-dir dist .

clean:
	rm -rf $(VENV) out .mypy_cache .ruff_cache .pytest_cache .hypothesis
