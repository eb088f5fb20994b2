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

.PHONY: demo test install install-test clean

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

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

demo: install
	$(BIN)/rfpose demo --out demo-out

test: install-test
	@.ci/ensure-chromium
	$(BIN)/python .ci/lint_imports.py
	$(BIN)/python -m pytest $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) build dist *.egg-info demo-out
