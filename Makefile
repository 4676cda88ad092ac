# edgec developer tasks. Every target sets up .venv first when needed (and only then).
#   make demo   the main job (for now: analyze the keyword-spotting model)
#   make test   the test suite, two workers
#   make lint   ruff check and ruff format --check

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Touched after a successful install; reinstalls when pyproject.toml changes.
STAMP := $(VENV)/.edgec-installed
DEMO_MODEL ?= ../shared/models/kws_dscnn/kws_ref_model_float32.onnx

.PHONY: setup test lint demo clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -e '.[dev]'
	touch $@

test: setup
	$(BIN)/python -m pytest -n 2

lint: setup
	$(BIN)/ruff check edgec tests
	$(BIN)/ruff format --check edgec tests

demo: setup
	$(BIN)/edgec analyze $(DEMO_MODEL)

clean:
	rm -rf $(VENV) build dist .pytest_cache .ruff_cache
