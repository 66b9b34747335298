# Two promises: `make demo` runs the main job end to end, `make test` runs every check.
# Each target creates what it needs (a pinned uv, the locked virtualenv, system packages).
PYTHON ?= python3
UV_VERSION := 0.13.9
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
BIN := $(VENV)/bin
export UV_PROJECT_ENVIRONMENT := $(VENV)
export UV_PYTHON := $(shell command -v $(PYTHON))
export HF_HUB_OFFLINE := 1
export HF_DATASETS_OFFLINE := 1
# Subprocess-heavy tests and the CLI recompile every import when bytecode may not be written.
unexport PYTHONDONTWRITEBYTECODE

.PHONY: env demo test unit integration lint typecheck pytest system-deps docs clean

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(VENV)/.synced: $(UV) pyproject.toml uv.lock
	$(UV) sync --frozen --all-extras --quiet
	touch $@

env: $(VENV)/.synced

system-deps:
	bash scripts/setup-system.sh

demo: env
	$(BIN)/corpuskit demo

lint: env
	$(BIN)/ruff check src tests scripts
	$(BIN)/ruff format --check src tests scripts
	$(BIN)/lint-imports

typecheck: env
	$(BIN)/mypy

pytest: env system-deps
	$(BIN)/python -m pytest

test: lint typecheck pytest

# The fast half alone (no server, no browser, no system packages): tests/unit, under a minute.
unit: env
	$(BIN)/python -m pytest tests/unit

# The half that starts Label Studio, PostgreSQL and Chromium: tests/integration.
integration: env system-deps
	$(BIN)/python -m pytest tests/integration

docs: env
	$(BIN)/python scripts/gen_cli_reference.py

clean:
	rm -rf $(VENV) $(TOOLS) .corpuskit .pytest_cache .mypy_cache .ruff_cache .import_linter_cache
