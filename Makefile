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

# Development tooling (devstack, bench, dashboards) is not part of the package: the dev venv gets the
# checkout's root on its path (a .pth file), so `inferwatch devstack` and `python -m bench...` work.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	$(BIN)/python -c "import pathlib, site; pathlib.Path(site.getsitepackages()[0], 'inferwatch-devtools.pth').write_text('$(CURDIR)\\n')"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/inferwatch demo $(ARGS)

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/python -m devstack.typecheck mypy imports

devstack-up: $(STAMP)
	$(BIN)/inferwatch devstack up

devstack-down: $(STAMP)
	$(BIN)/inferwatch devstack down

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
