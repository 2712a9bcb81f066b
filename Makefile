# Two commands on a fresh machine:
#   make demo   - end-to-end demo on embedded defaults (no Kafka / Elasticsearch needed)
#   make test   - installs what it needs, starts the dev stack (real Kafka, Elasticsearch,
#                 OpenSearch, Prometheus, peer model servers) from pytest fixtures, runs the suite
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck devstack-up devstack-down clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/inferwatch demo $(ARGS)

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

devstack-up: $(STAMP)
	$(BIN)/inferwatch devstack up

devstack-down: $(STAMP)
	$(BIN)/inferwatch devstack down

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
