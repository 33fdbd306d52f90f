# The first two commands of the README: `make demo` and `make test`.
# Each creates .venv when missing and installs what it needs; nothing else is assumed.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python

.PHONY: demo test lint typecheck unit bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

# The library alone (NumPy) for the demo.
$(VENV)/.core: pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e .
	touch $@

# The library with its test extra (pytest, hypothesis, torch==2.13.0 CPU, ruff, mypy).
$(VENV)/.test: pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@ $(VENV)/.core

demo: $(VENV)/.core
	$(BIN)/convmm demo

lint: $(VENV)/.test
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests

typecheck: $(VENV)/.test
	$(BIN)/mypy

unit: $(VENV)/.test
	HYPOTHESIS_PROFILE=ci $(BIN)/pytest

test: lint typecheck unit

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
