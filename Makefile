# edgec developer tasks. Every target sets up .venv first when needed (and only then).
#   make demo   the main job: the int8 digits CNN compiled for mps2-an386, validated on QEMU
#   make test   the test suite, two workers (needs the system packages too)
#   make lint   ruff check and ruff format --check

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Touched after a successful install; reinstalls when pyproject.toml changes.
STAMP := $(VENV)/.edgec-installed
DEMO_OUT ?= build/demo

.PHONY: setup system emulator test lint demo clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -e '.[dev]'
	touch $@

# arm-none-eabi-gcc and qemu-system-arm (apt-get, only when missing).
system:
	bash .ci/system-packages

# The Debian arm64 root that qemu-aarch64 runs TVM builds in (once; cached in ~/.cache/edgec).
emulator: setup system
	$(BIN)/edgec emulator setup aarch64

test: setup system emulator
	$(BIN)/python -m pytest -n 2

lint: setup
	$(BIN)/ruff check edgec tests bench examples
	$(BIN)/ruff format --check edgec tests bench examples

# The project's own model and data (examples/digits): quantize to int8 with 200 calibration
# images, generate C, build the Cortex-M4F firmware, run all 359 test digits on the
# emulated board and print the report (bit-exact count, accuracy, instructions, memory).
demo: setup system
	$(BIN)/edgec compile examples/digits/digits_cnn.onnx -o $(DEMO_OUT) --target mps2-an386 \
		--quantize int8 --calib examples/digits/calib.npz --force
	$(BIN)/edgec validate $(DEMO_OUT) --data examples/digits/test.npz --device emulator

clean:
	rm -rf $(VENV) build dist .pytest_cache .ruff_cache
