# Two commands for a fresh machine: `make demo` and `make test`.
# Each creates .venv when missing and (re)installs the package only when pyproject.toml changed.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Reverse-mode lax.scan on XLA:CPU: see bayeslsm/_xla.py (the package sets this itself; exported here too
# so that subprocesses such as notebooks inherit it).
PYTEST_ARGS ?=
# The suite runs on two pytest-xdist workers (CI has 2 cores and much of the suite is single-threaded XLA
# compilation); each test module runs on one worker (module-scoped fixtures are built once) and
# tests/conftest.py starts the modules with slow tests first. PYTEST_WORKERS=0 runs it in one process.
PYTEST_WORKERS ?= 2
XDIST := -n $(PYTEST_WORKERS) --dist loadfile --no-loadscope-reorder

.PHONY: demo test test-fast bench clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e ".[test]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/bayeslsm demo --out demo_out

test: $(STAMP)
	$(BIN)/python -m pytest -q $(XDIST) $(PYTEST_ARGS)

test-fast: $(STAMP)
	$(BIN)/python -m pytest -q $(XDIST) -m "not slow" $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/python benchmarks/forward_gradient.py

clean:
	rm -rf $(VENV) demo_out build *.egg-info
