"""``from reliable_api import ...``: every public name, imported lazily, nothing heavy."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys

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


def test_import_reliable_api_imports_no_airflow_and_a_flat_name_only_its_module() -> None:
    probe = (
        "import json, sys\n"
        "import reliable_api\n"
        "bare = 'airflow' in sys.modules\n"
        "from reliable_api import ApiExtractOperator\n"
        "print(json.dumps([bare, sorted(m for m in sys.modules if m.startswith('reliable_api.'))]))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True
    )
    bare, loaded = json.loads(result.stdout.splitlines()[-1])
    assert bare is False
    assert "reliable_api.operators.extract" in loaded
    # the other operators, the upsert machinery and validation stay unloaded
    assert not [m for m in loaded if m.startswith(("reliable_api.validation", "reliable_api.idempotency"))]
    assert "reliable_api.operators.db_upsert" not in loaded


def test_reliable_http_operator_flat_import_loads_only_the_http_layer() -> None:
    probe = (
        "import json, sys\n"
        "from reliable_api import ReliableHttpOperator\n"
        "from reliable_api.operators.http import ReliableHttpOperator as defined\n"
        "print(json.dumps([ReliableHttpOperator is defined,\n"
        "    sorted(m for m in sys.modules if m.startswith('reliable_api.'))]))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True
    )
    same, loaded = json.loads(result.stdout.splitlines()[-1])
    assert same is True
    assert "reliable_api.operators.http" in loaded
    # neither the record operators nor their upsert and validation machinery
    assert not [m for m in loaded if m.startswith(("reliable_api.validation", "reliable_api.idempotency"))]
    assert not {"reliable_api.operators.extract", "reliable_api.operators.db_upsert"} & set(loaded)
