"""Reliable API integrations for Apache Airflow 3.

What a DAG file needs, importable flat, ``from reliable_api import ApiExtractOperator, ApiResource``;
each name is imported from its module on first use (PEP 562), so ``import reliable_api`` costs
nothing and a DAG file pays only for the names it uses.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

#: Public name -> the module that defines it.
_LAZY: dict[str, str] = {
    "ApiExtractOperator": "reliable_api.operators.extract",
    "ApiUpsertOperator": "reliable_api.operators.api_upsert",
    "DbUpsertOperator": "reliable_api.operators.db_upsert",
    "ValidateRecordsOperator": "reliable_api.operators.validate",
    "ReplayDeadLettersOperator": "reliable_api.operators.replay",
    "ReliableOperator": "reliable_api.operators.base",
    "table_asset": "reliable_api.operators.assets",
    "api_asset": "reliable_api.operators.assets",
    "ApiRetryPolicy": "reliable_api.operators.retry_policy",
    "ReliableHttpHook": "reliable_api.hooks.http",
    "ReliableHttpOperator": "reliable_api.operators.http",
    "ApiResource": "reliable_api.idempotency.api_resource",
    "PageNumberPaginator": "reliable_api.http.pagination",
    "OffsetPaginator": "reliable_api.http.pagination",
    "CursorPaginator": "reliable_api.http.pagination",
    "LinkHeaderPaginator": "reliable_api.http.pagination",
    "NextUrlPaginator": "reliable_api.http.pagination",
    "WebhookNotifier": "reliable_api.notifications.webhook",
    "task_alert_callbacks": "reliable_api.alerting.callbacks",
    "deadline_alert": "reliable_api.alerting.deadline",
    "ReliableApiError": "reliable_api.exceptions",
    "TransientError": "reliable_api.exceptions",
    "PermanentError": "reliable_api.exceptions",
    "RateLimited": "reliable_api.exceptions",
    "RecordRejected": "reliable_api.exceptions",
    "AuthenticationError": "reliable_api.exceptions",
    "ConfigurationError": "reliable_api.exceptions",
    "FailureBudgetExceeded": "reliable_api.exceptions",
}

__all__ = [  # the names of _LAZY (a test holds them equal), spelled out for linters
    "ApiExtractOperator",
    "ApiResource",
    "ApiRetryPolicy",
    "ApiUpsertOperator",
    "AuthenticationError",
    "ConfigurationError",
    "CursorPaginator",
    "DbUpsertOperator",
    "FailureBudgetExceeded",
    "LinkHeaderPaginator",
    "NextUrlPaginator",
    "OffsetPaginator",
    "PageNumberPaginator",
    "PermanentError",
    "RateLimited",
    "RecordRejected",
    "ReliableApiError",
    "ReliableHttpHook",
    "ReliableHttpOperator",
    "ReliableOperator",
    "ReplayDeadLettersOperator",
    "TransientError",
    "ValidateRecordsOperator",
    "WebhookNotifier",
    "__version__",
    "api_asset",
    "deadline_alert",
    "table_asset",
    "task_alert_callbacks",
]

if TYPE_CHECKING:
    from reliable_api.alerting.callbacks import task_alert_callbacks
    from reliable_api.alerting.deadline import deadline_alert
    from reliable_api.exceptions import (
        AuthenticationError,
        ConfigurationError,
        FailureBudgetExceeded,
        PermanentError,
        RateLimited,
        RecordRejected,
        ReliableApiError,
        TransientError,
    )
    from reliable_api.hooks.http import ReliableHttpHook
    from reliable_api.http.pagination import (
        CursorPaginator,
        LinkHeaderPaginator,
        NextUrlPaginator,
        OffsetPaginator,
        PageNumberPaginator,
    )
    from reliable_api.idempotency.api_resource import ApiResource
    from reliable_api.notifications.webhook import WebhookNotifier
    from reliable_api.operators.api_upsert import ApiUpsertOperator
    from reliable_api.operators.assets import api_asset, table_asset
    from reliable_api.operators.base import ReliableOperator
    from reliable_api.operators.db_upsert import DbUpsertOperator
    from reliable_api.operators.extract import ApiExtractOperator
    from reliable_api.operators.http import ReliableHttpOperator
    from reliable_api.operators.replay import ReplayDeadLettersOperator
    from reliable_api.operators.retry_policy import ApiRetryPolicy
    from reliable_api.operators.validate import ValidateRecordsOperator


def __getattr__(name: str) -> Any:
    """Import ``name`` from its module on first use, then keep it here."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'reliable_api' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
