# The first two commands of the README: `make demo` and `make test`.
# Each creates .venv when missing and installs what it needs; nothing else is assumed.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python

.PHONY: demo test lint typecheck unit browser docs bench bench-quick clean

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

# The library with the benchmark's candidates (torch from the test extra, onnxruntime).
$(VENV)/.bench: pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e '.[test,bench]'
	touch $@ $(VENV)/.test $(VENV)/.core

demo: $(VENV)/.core
	$(BIN)/convmm demo

lint: $(VENV)/.test
	$(BIN)/ruff check src tests examples
	$(BIN)/ruff format --check src tests examples

typecheck: $(VENV)/.test
	$(BIN)/mypy

# Debian's Chromium for the explain page's browser tests: installed when missing (root and
# apt-get), or a message saying what to run, before any test runs.
browser:
	@bash tools/ensure-chromium

unit: $(VENV)/.test browser
	HYPOTHESIS_PROFILE=ci $(BIN)/pytest

# The pictures the README shows, regenerated (the tests write only under test-artifacts/).
docs: $(VENV)/.test browser
	bash tools/make-docs

# The full benchmark suite; its results go to docs/benchmarks/ (table, JSON, plot).
bench: $(VENV)/.bench
	mkdir -p docs/benchmarks
	$(BIN)/convmm bench --json docs/benchmarks/results.json \
		--markdown docs/benchmarks/results.md --plot docs/benchmarks/ratios.png

# About a minute: one layer of each family at batch 2.
bench-quick: $(VENV)/.bench
	$(BIN)/convmm bench --quick

test: lint typecheck unit

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis test-artifacts
