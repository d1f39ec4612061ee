# Two commands on a fresh machine: `make demo` and `make test` (see README.md).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed

.PHONY: venv lint test test-fast demo clean

$(INSTALLED): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade uv
	$(VENV)/bin/uv pip install --quiet --python $(PY) -e ".[dev]"
	touch $(INSTALLED)

venv: $(INSTALLED)

lint: venv
	$(VENV)/bin/ruff check provider tests dags demo bench
	$(VENV)/bin/ruff format --check provider tests dags demo bench
	$(VENV)/bin/mypy

test: lint
	$(PY) -m pytest

# Unit tests only: no services, no Airflow processes.
test-fast: venv
	$(PY) -m pytest tests/unit

demo: venv
	$(PY) -m demo $(DEMO_ARGS)

clean:
	rm -rf $(VENV) .demo
