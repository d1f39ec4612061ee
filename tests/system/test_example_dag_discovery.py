"""Airflow 3.3's example-DAG discovery imports the provider's derived module without an error."""

from __future__ import annotations

import logging

import pytest

from tests.airflow_compat import AIRFLOW_V_3_3_PLUS


@pytest.mark.skipif(not AIRFLOW_V_3_3_PLUS, reason="provider example-DAG discovery came with Airflow 3.3")
def test_example_dag_discovery_logs_no_error_for_the_provider(caplog: pytest.LogCaptureFixture) -> None:
    from airflow.dag_processing.bundles.manager import _add_provider_example_dags_to_bundle

    bundles: list[object] = []
    with caplog.at_level(logging.ERROR, logger="airflow.dag_processing.bundles.manager"):
        _add_provider_example_dags_to_bundle(bundles)  # type: ignore[arg-type]
    errors = [record.getMessage() for record in caplog.records if record.levelno >= logging.ERROR]
    assert errors == []
    assert not [bundle for bundle in bundles if "reliable" in str(bundle)]  # no example bundle of ours
