# rfpose: two commands on a fresh machine with Python 3.11 and make.
#   make demo   create .venv, install, run the whole pipeline on the simulated rig
#   make test   create or update .venv, install with test extras, check the layering, run the test suite
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
# The CPU build of torch, installed before anything else so pip never resolves a multi-GB CUDA build.
# Elsewhere, point pip at a CPU wheel, e.g. make TORCH="torch==2.13.0 --index-url <cpu wheel index>".
TORCH  ?= torch==2.13.0
BIN     = $(VENV)/bin
PYTEST_ARGS ?=

.PHONY: demo test install install-test mediapipe clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip setuptools wheel

$(VENV)/.torch: | $(BIN)/python
	$(BIN)/pip install $(TORCH)
	touch $@

$(VENV)/.installed: pyproject.toml $(VENV)/.torch
	$(BIN)/pip install -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml $(VENV)/.torch
	$(BIN)/pip install -e ".[test]"
	touch $@ $(VENV)/.installed

# The 2D pose detector of `rfpose annotate` (MediaPipe 0.10.21 without its protobuf<5/jax pins; what it
# installs: rfpose/annotation/install.py). The same step runs on first use via `rfpose annotate --install-detector`.
$(VENV)/.mediapipe: annotation/install.py | $(VENV)/.torch
	$(BIN)/python annotation/install.py
	touch $@

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test $(VENV)/.mediapipe
mediapipe: $(VENV)/.mediapipe

# The demo annotates with MediaPipe, and its monitor stage talks to Debian's mosquitto and is photographed by
# Debian's chromium (installed when root + apt are available; otherwise the demo says so and skips that part).
demo: install $(VENV)/.mediapipe
	@.ci/ensure-mosquitto
	@.ci/ensure-chromium
	$(BIN)/rfpose demo --out demo-out

test: install-test
	@.ci/ensure-chromium
	@.ci/ensure-mosquitto
	$(BIN)/python .ci/lint_imports.py
	$(BIN)/python -m pytest $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) build dist *.egg-info demo-out
