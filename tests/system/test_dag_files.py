"""Every sample DAG parses without errors, and parsing stays light."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

DAGS = Path(__file__).resolve().parents[2] / "dags"
DAG_FILES = sorted(p for p in DAGS.glob("*.py") if not p.name.startswith("_"))

# Modules that cost seconds or hundreds of MB to import: never at DAG parse time.
HEAVY_MODULES = ("great_expectations", "pandas", "numpy", "redis", "psycopg2", "psycopg", "pymysql")


def test_there_are_dag_files() -> None:
    assert DAG_FILES


def test_dagbag_has_no_import_errors() -> None:
    from tests.airflow_compat import DagBag

    bag = DagBag(dag_folder=str(DAGS))
    assert bag.import_errors == {}
    assert len(bag.dags) >= len(DAG_FILES)


def heavy_modules_imported_by(import_code: str) -> list[str]:
    """Run ``import_code`` in a fresh interpreter and return the heavy modules it imported.

    Those that importing the Task SDK alone already brings are not counted: Airflow 3.1's
    ``airflow.sdk`` imports psycopg2 itself (through sqlalchemy-utils); 3.2+ imports none.
    """
    heavy = f"sorted(m for m in {HEAVY_MODULES!r} if m in sys.modules)"
    report = f"print(json.dumps(sorted(set({heavy}) - airflows_own)))"
    probe = f"import json, sys\nimport airflow.sdk\nairflows_own = set({heavy})\n{import_code}\n{report}"
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True
    )
    return list(json.loads(result.stdout.splitlines()[-1]))


@pytest.mark.parametrize("dag_file", DAG_FILES, ids=lambda p: p.name)
def test_parsing_a_dag_file_imports_nothing_heavy(dag_file: Path) -> None:
    load = (
        "import importlib.util\n"
        f"spec = importlib.util.spec_from_file_location('dag_under_test', {str(dag_file)!r})\n"
        "spec.loader.exec_module(importlib.util.module_from_spec(spec))"
    )
    assert heavy_modules_imported_by(load) == []


def test_provider_modules_a_dag_may_import_are_light() -> None:
    from reliable_api.get_provider_info import get_provider_info

    info = get_provider_info()
    modules = [
        m
        for group in ("hooks", "operators", "triggers")
        for e in info.get(group, [])
        for m in e["python-modules"]
    ]
    # Notifiers and the callback factories go into default_args of every DAG file.
    modules += [path.rpartition(".")[0] for path in info.get("notifications", [])]
    modules += ["reliable_api.alerting.callbacks", "reliable_api.alerting.deadline"]
    assert heavy_modules_imported_by("\n".join(f"import {m}" for m in modules)) == []


def test_validation_modules_import_no_dataframe_library() -> None:
    # Operators import these only when a task runs, but a light import keeps that cheap too:
    # Great Expectations and pandas load inside the functions that evaluate a batch.
    modules = ("contract", "normalize", "expectations", "boundary")
    imports = "\n".join(f"import reliable_api.validation.{name}" for name in modules)
    assert heavy_modules_imported_by(imports) == []
