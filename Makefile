# Every target creates its own virtual environment; only python3 is needed on the machine.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
DEMO_HOME := sample_models/build/registry
export NO_COLOR ?= 1

.PHONY: demo test lint typecheck check bench interop clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e . --group dev
	touch $@

demo: $(VENV)/.installed
	MODELPACK_HOME=$(DEMO_HOME) bash sample_models/demo.sh $(VENV)/bin

test: $(VENV)/.installed
	$(PY) -m pytest -m "not interop"

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check modelpack tests sample_models bench
	$(VENV)/bin/ruff format --check modelpack tests sample_models bench

typecheck: $(VENV)/.installed
	$(VENV)/bin/mypy modelpack

check: lint typecheck test

clean:
	rm -rf $(VENV) sample_models/build bench/data .pytest_cache .ruff_cache .mypy_cache
