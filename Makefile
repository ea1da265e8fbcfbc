# Every way into the project goes through these targets; .ci/run calls the same ones.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run test lint fmt typecheck schema schema-check bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/qualify serve --demo

test: $(STAMP)
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

fmt: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

schema: $(STAMP)
	$(BIN)/python -m graph.schema > schema.graphql

schema-check: $(STAMP)
	$(BIN)/python -m graph.schema > $(VENV)/schema.graphql
	diff -u schema.graphql $(VENV)/schema.graphql

# make bench [SCALE=small]: every benchmark in bench/, one table, JSON in bench/out/.
SCALE ?= default
bench: $(STAMP)
	$(BIN)/python -m bench.run --scale $(SCALE)

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
