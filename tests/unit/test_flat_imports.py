"""``from reliable_api import ...``: every public name, imported lazily, nothing heavy."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from typing import Any

import pytest

import reliable_api
from tests.airflow_compat import AIRFLOW_V_3_3_PLUS


def test_all_names_are_the_lazy_ones() -> None:
    assert set(reliable_api.__all__) == {"__version__", *reliable_api._LAZY}
    assert sorted(dir(reliable_api)) == sorted(reliable_api.__all__)


def test_every_flat_name_is_its_modules_object() -> None:
    for name, module in reliable_api._LAZY.items():
        if name == "ApiRetryPolicy" and not AIRFLOW_V_3_3_PLUS:
            continue  # retry policies came with Airflow 3.3
        assert getattr(reliable_api, name) is getattr(importlib.import_module(module), name)


def test_an_unknown_name_is_an_attribute_error_naming_it() -> None:
    with pytest.raises(AttributeError, match="NoSuchOperator"):
        reliable_api.NoSuchOperator  # noqa: B018


def flat_import_in_a_fresh_interpreter(name: str, before: str = "None") -> tuple[Any, list[str]]:
    """``before`` evaluated after ``import reliable_api``, then the ``reliable_api.*`` modules
    loaded once ``from reliable_api import name`` has run."""
    probe = (
        "import json, sys\n"
        "import reliable_api\n"
        f"before = {before}\n"
        f"from reliable_api import {name}\n"
        "print(json.dumps([before, sorted(m for m in sys.modules if m.startswith('reliable_api.'))]))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True
    )
    before_value, loaded = json.loads(result.stdout.splitlines()[-1])
    return before_value, loaded


def test_import_reliable_api_imports_no_airflow_and_a_flat_name_only_its_module() -> None:
    bare, loaded = flat_import_in_a_fresh_interpreter("ApiExtractOperator", "'airflow' in sys.modules")
    assert bare is False
    assert "reliable_api.operators.extract" in loaded
    # the other operators, the upsert machinery and validation stay unloaded
    assert not [m for m in loaded if m.startswith(("reliable_api.validation", "reliable_api.idempotency"))]
    assert "reliable_api.operators.db_upsert" not in loaded


def test_reliable_http_operator_flat_import_loads_only_the_http_layer() -> None:
    _, loaded = flat_import_in_a_fresh_interpreter("ReliableHttpOperator")
    assert "reliable_api.operators.http" in loaded
    # neither the record operators nor their upsert and validation machinery
    assert not [m for m in loaded if m.startswith(("reliable_api.validation", "reliable_api.idempotency"))]
    assert not {"reliable_api.operators.extract", "reliable_api.operators.db_upsert"} & set(loaded)
