"""The provider as Airflow sees it: the entry point, its metadata and the connection form."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import airflow
import jsonschema
import pytest

from reliable_api.get_provider_info import get_provider_info
from reliable_api.http.setting_fields import SETTING_NAMES
from tests.airflow_compat import AIRFLOW_V_3_2_PLUS

# Airflow 3.1 ignores provider info's `conn-fields`: the settings work as keys of the extra, but the
# connection form shows no widgets for them (ADR 0001).
needs_conn_fields = pytest.mark.skipif(
    not AIRFLOW_V_3_2_PLUS, reason="conn-fields form widgets need Airflow 3.2+"
)


def airflow_cli(*args: str) -> Any:
    result = subprocess.run(
        [sys.executable, "-m", "airflow", *args, "--output", "json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return json.loads(result.stdout)


def test_provider_info_matches_airflows_schema() -> None:
    schema = json.loads((Path(airflow.__file__).parent / "provider_info.schema.json").read_text())
    jsonschema.validate(get_provider_info(), schema)


def test_every_declared_module_and_class_imports() -> None:
    info = get_provider_info()
    modules = [
        m
        for group in ("hooks", "operators", "triggers")
        for e in info.get(group, [])
        for m in e["python-modules"]
    ]
    classes = [c["hook-class-name"] for c in info["connection-types"]] + info.get("notifications", [])
    assert modules, "provider info declares no modules"
    for module in modules:
        importlib.import_module(module)
    for dotted in classes:
        module, _, name = dotted.rpartition(".")
        assert isinstance(getattr(importlib.import_module(module), name), type)


def test_airflow_providers_list_shows_the_provider() -> None:
    providers = {p["package_name"]: p for p in airflow_cli("providers", "list")}
    assert providers["airflow-provider-reliable-api"]["version"] == get_provider_info()["versions"][0]


def test_connection_type_is_registered() -> None:
    hooks = {h["connection_type"]: h for h in airflow_cli("providers", "hooks")}
    assert hooks["reliable_http"]["class"] == "reliable_api.hooks.http.ReliableHttpHook"
    assert hooks["reliable_http"]["hook_name"] == "Reliable HTTP"


@needs_conn_fields
def test_connection_form_fields_are_registered() -> None:
    widgets = airflow_cli("providers", "widgets")
    prefix = "extra__reliable_http__"
    ours = {
        w["connection_parameter_name"].removeprefix(prefix)
        for w in widgets
        if w["connection_parameter_name"].startswith(prefix)
    }
    assert ours == SETTING_NAMES


@pytest.mark.parametrize(
    "label",
    [
        "Rate limit",
        "Burst",
        "Limiter backend",
        "Adaptive rate",
        "Max retries",
        "Backoff base (s)",
        "Backoff cap (s)",
        "Connect timeout (s)",
        "Read timeout (s)",
        "Defer after (s)",
    ],
)
@needs_conn_fields
def test_form_shows_the_issue_s_fields(label: str) -> None:
    from airflow.providers_manager import ProvidersManager

    widgets = ProvidersManager().connection_form_widgets
    labels = {
        w.field["schema"]["title"] for name, w in widgets.items() if name.startswith("extra__reliable_http__")
    }
    assert label in labels
