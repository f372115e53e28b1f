# Every target creates its own virtual environment; only python3 is needed on the machine.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# The interop suite and the benchmark references need a real MLflow next to modelpack.
IVENV := .venv-interop
IPY := $(IVENV)/bin/python
MLFLOW_SPEC ?= mlflow>=3.14,<4
DEMO_HOME := sample_models/build/registry
export NO_COLOR ?= 1

.PHONY: demo test lint typecheck check bench interop s3-dev clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e . --group dev
	touch $@

$(IVENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(IVENV)
	$(IPY) -m pip install --quiet --upgrade pip
	$(IPY) -m pip install --quiet "$(MLFLOW_SPEC)" huggingface_hub  # the Hub's parser checks model cards
	$(IPY) -m pip install --quiet -e . --group test
	touch $@

demo: $(VENV)/.installed
	MODELPACK_HOME=$(DEMO_HOME) bash sample_models/demo.sh $(VENV)/bin

test: $(VENV)/.installed
	$(PY) -m pytest -m "not interop"

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check modelpack tests sample_models bench tools
	$(VENV)/bin/ruff format --check modelpack tests sample_models bench tools

typecheck: $(VENV)/.installed
	$(VENV)/bin/mypy modelpack

check: lint typecheck test

# Both directions against real MLflow: modelpack folders in MLflow, MLflow folders in modelpack.
# Tests elsewhere that run MLflow in a subprocess find its interpreter in MODELPACK_MLFLOW_PYTHON.
interop: $(IVENV)/.installed
	MODELPACK_MLFLOW_PYTHON=$(abspath $(IPY)) $(IPY) -m pytest -m interop

# A local S3 store (SeaweedFS, from the test dependency group) on http://127.0.0.1:8333 with data
# in .seaweed/; prints the variables that point modelpack at it. Ctrl-C stops it.
# Options: make s3-dev S3_DEV_ARGS="--port 9000 --bucket team --gateways 2"
s3-dev: $(VENV)/.installed
	$(PY) tools/seaweed.py $(S3_DEV_ARGS)

# Regenerates docs/BENCHMARKS.md. BENCH_QUICK=1 makes it a fast smoke run (fewer, smaller runs).
bench: $(VENV)/.installed $(IVENV)/.installed
	MODELPACK_BENCH_MLFLOW_PYTHON=$${MODELPACK_BENCH_MLFLOW_PYTHON:-$(IVENV)/bin/python} $(PY) bench/run.py

clean:
	rm -rf $(VENV) $(IVENV) sample_models/build bench/data .seaweed .pytest_cache .ruff_cache .mypy_cache
