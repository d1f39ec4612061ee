# Two commands on a fresh machine: `make demo` and `make test` (see README.md).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed

.PHONY: venv lint test test-fast test-compat audit demo clean

# Bytecode is compiled once, at install: with PYTHONDONTWRITEBYTECODE set (as on CI) nothing writes
# it later, and every Airflow process of the suite compiled Airflow from source again (5.3 CPU s to
# import airflow.sdk and its models without bytecode, 1.7 s with it).
$(INSTALLED): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip uv
	$(VENV)/bin/uv pip install --quiet --compile-bytecode --python $(PY) -e ".[dev]"
	touch $(INSTALLED)

venv: $(INSTALLED)

lint: venv
	$(VENV)/bin/ruff check provider tests dags demo bench
	$(VENV)/bin/ruff format --check provider tests dags demo bench
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports  # the layers of .importlinter (ADR 0020)

# The suite mostly waits on servers and subprocesses, so more workers than the 2 cores pay off.
# A module's tests share a worker, at most two Airflows run at once (tests/conftest.py); the long
# tiers start first. `make test PYTEST_WORKERS=0` runs in one process.
PYTEST_WORKERS ?= 4

test: lint
	$(PY) -m compileall -q -j 0 provider tests dags demo  # our own modules too (see $(INSTALLED))
	$(PY) -m pytest -n $(PYTEST_WORKERS) --dist loadscope --no-loadscope-reorder --durations=40

# Known vulnerabilities of the installed packages, offline (.ci/advisories.py says why and how).
audit: venv
	$(PY) .ci/advisories.py check

# Unit tests only: no services, no Airflow processes.
test-fast: venv
	$(PY) -m pytest tests/unit

# The unit, integration and system tiers against an older Airflow in its own venv (ADR 0001):
# `make test-compat AIRFLOW_VERSION=3.1.8`. Not part of `make test` nor of .ci/run.
AIRFLOW_VERSION ?= 3.1.8
COMPAT_VENV := .venv-compat-$(AIRFLOW_VERSION)
# Upper bounds a release's own metadata lacks (Airflow's constraint files pin them): 3.2.2's
# in-process execution API, which dag.test() runs, breaks with fastapi 0.165, cadwyn 8 and svcs 26
# (the fastapi bound is the one 3.3.2 declares).
COMPAT_PINS_3.2 := "fastapi<0.137" "cadwyn<8" "svcs<26"

$(COMPAT_VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(COMPAT_VENV)
	echo '*' > $(COMPAT_VENV)/.gitignore
	$(COMPAT_VENV)/bin/python -m pip install --quiet --upgrade uv
	$(COMPAT_VENV)/bin/uv pip install --quiet --compile-bytecode --python $(COMPAT_VENV)/bin/python -e ".[dev]" \
		"apache-airflow==$(AIRFLOW_VERSION)" $(COMPAT_PINS_$(basename $(AIRFLOW_VERSION)))
	touch $@

test-compat: $(COMPAT_VENV)/.installed
	$(COMPAT_VENV)/bin/python -m pytest tests/unit tests/integration tests/system

demo: venv
	$(PY) -m demo $(DEMO_ARGS)

clean:
	rm -rf $(VENV) .demo
