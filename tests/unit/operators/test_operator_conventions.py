"""The operators follow Airflow's own conventions: templated conn ids, one vocabulary, one base class."""

from __future__ import annotations

import importlib
import inspect
import sys
from typing import Any

import pytest
from airflow.exceptions import AirflowProviderDeprecationWarning

from reliable_api.exceptions import ConfigurationError
from reliable_api.get_provider_info import get_provider_info
from reliable_api.operators.base import DeadLettersLink, ReliableOperator
from reliable_api.operators.db_upsert import DbUpsertOperator
from reliable_api.operators.validate import ValidateRecordsOperator


def provider_operators() -> list[type[Any]]:
    modules = [name for group in get_provider_info()["operators"] for name in group["python-modules"]]
    found = []
    for module in map(importlib.import_module, modules):
        found += [
            value
            for name, value in vars(module).items()
            if name.endswith("Operator") and inspect.isclass(value) and value.__module__ == module.__name__
        ]
    return found


OPERATORS = provider_operators()


def test_every_operator_shares_the_base_class() -> None:
    assert len(OPERATORS) == 5
    assert all(issubclass(operator, ReliableOperator) for operator in OPERATORS)


@pytest.mark.parametrize("operator", OPERATORS, ids=lambda operator: operator.__name__)
def test_every_conn_id_and_the_shared_names_are_templated(operator: type[Any]) -> None:
    parameters = inspect.signature(operator.__init__).parameters
    conn_ids = [name for name in parameters if name.endswith("conn_id")]
    assert "state_conn_id" in conn_ids
    assert set(conn_ids) | {"integration"} <= set(operator.template_fields)
    if "records" in parameters or "max_failure_ratio" in parameters:  # the input batch's names
        assert "records" in operator.template_fields
    assert not {"staged", "failure_ratio", "max_failure_share"} & set(parameters)


def db_upsert(**kwargs: Any) -> DbUpsertOperator:
    return DbUpsertOperator(task_id="load", conn_id="warehouse", table="contacts", key=["id"], **kwargs)


def test_the_old_name_staged_still_works_with_a_deprecation_warning() -> None:
    with pytest.warns(
        AirflowProviderDeprecationWarning, match=r"staged=\.\.\.\) is deprecated: use records="
    ):
        operator = db_upsert(staged="/tmp/batch")
    assert operator.records == "/tmp/batch"
    with pytest.raises(ConfigurationError, match="give records= only"):
        db_upsert(records="/tmp/a", staged="/tmp/b")


def test_a_failure_ratio_outside_zero_to_one_is_refused_naming_it() -> None:
    with pytest.raises(ConfigurationError, match="max_failure_ratio must be between 0 and 1, got 5"):
        ValidateRecordsOperator(
            task_id="v", records="/tmp/b", contract="contacts", integration="c", max_failure_ratio=5
        )


def test_the_integration_defaults_to_the_target() -> None:
    operator = db_upsert(records="/tmp/batch")
    assert operator.integration_name({"params": {}}) == "contacts"
    assert operator.integration_name({"params": {"integration": "crm"}}) == "crm"


class _TiKey:
    dag_id = "crm_contacts_sync"
    run_id = "scheduled__2026-12-01T00:00:00+00:00"
    task_id = "load"


def test_the_dead_letters_link_is_the_dlq_page_of_the_tasks_run(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW__API__BASE_URL", "https://airflow.example.com/")
    operator = db_upsert(records="/tmp/batch", integration="crm_contacts")
    assert operator.operator_extra_links == (DeadLettersLink(),)
    link = DeadLettersLink().get_link(operator, ti_key=_TiKey())  # type: ignore[arg-type]
    assert link == (
        "https://airflow.example.com/reliable-api/dlq?integration=crm_contacts&dag_id=crm_contacts_sync"
        "&run_id=scheduled__2026-12-01T00%3A00%3A00%2B00%3A00"
    )


def test_validation_without_great_expectations_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    from reliable_api.operators.validate import require_great_expectations

    require_great_expectations()  # installed here
    monkeypatch.setitem(sys.modules, "great_expectations", None)  # as if it were not installed
    with pytest.raises(ConfigurationError, match=r"airflow-provider-reliable-api\[validation\]"):
        require_great_expectations()
