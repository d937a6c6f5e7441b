# Quick start: `make demo` runs the terminal, `make test` runs the test suite.
# Both create the virtual environment they need in .venv on first use.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: demo test lint bench screenshots clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(PY) -m appliance demo

test: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m pytest

bench: $(STAMP)
	$(PY) -m appliance bench all

screenshots: $(STAMP)
	$(PY) -m appliance screenshots --out docs/screenshots

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
