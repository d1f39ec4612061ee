"""The plugin as Airflow loads it: light to import, mounted at /reliable-api, listed in the nav."""

from __future__ import annotations

import json
import subprocess
import sys


def test_importing_the_plugin_adds_only_its_own_two_small_modules() -> None:
    # A fresh interpreter, with what Airflow imports itself to load plugins already there: the
    # plugin must add neither FastAPI nor its app, nor anything a DAG file must not import. The
    # package root (a version string) is there too: Airflow 3.2+ imports it with the provider info,
    # 3.1 does not.
    code = (
        "import sys, json, airflow.plugins_manager, reliable_api; before = set(sys.modules); "
        "import reliable_api.plugin; print(json.dumps(sorted(set(sys.modules) - before)))"
    )
    found = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    added = json.loads(found.stdout.strip().splitlines()[-1])
    # Besides: the listeners (HttpOperator's, ADR 0030; dag.test()'s deadlines and missing pools,
    # ADR 0021) and Airflow's listener marker they need, which Airflow imports itself to load any
    # plugin's.
    ours = [name for name in added if name.startswith("reliable_api")]
    assert ours == [
        "reliable_api.alerting",
        "reliable_api.alerting.dag_test_deadlines",
        "reliable_api.alerting.missing_pools",
        "reliable_api.hooks",
        "reliable_api.hooks.http_operator_listener",
        "reliable_api.plugin",
        "reliable_api.plugin.lazy",
    ]
    assert all(name.startswith("airflow") and "listeners" in name for name in set(added) - set(ours))


def test_airflow_lists_the_pages_in_its_nav_and_mounts_the_app() -> None:
    from airflow import plugins_manager

    (info,) = [p for p in plugins_manager.get_plugin_info() if p["name"] == "reliable_api"]
    assert [(v["name"], v["href"], v["destination"]) for v in info["external_views"]] == [
        ("Dead letters", "/reliable-api/dlq", "nav"),
        ("Integration health", "/reliable-api/health", "nav"),
    ]
    assert [(a["url_prefix"], a["app"]) for a in info["fastapi_apps"]] == [
        ("/reliable-api", "reliable_api.plugin.lazy.LazyApp")
    ]


def test_the_alerts_link_to_the_page_the_plugin_serves() -> None:
    from reliable_api.alerting.alert import DLQ_PAGE_PATH
    from reliable_api.plugin import URL_PREFIX
    from reliable_api.plugin.app import create_app

    assert f"{URL_PREFIX}/dlq" == DLQ_PAGE_PATH
    assert "/dlq" in {getattr(route, "path", None) for route in create_app().routes}
