"""Provider metadata for Airflow's ``apache_airflow_provider`` entry point.

Imported by Airflow's providers manager in every Airflow process: it must stay cheap (no Airflow,
no heavy libraries imported).
"""

from __future__ import annotations

from typing import Any

from reliable_api import __version__
from reliable_api.http.setting_fields import SETTING_FIELDS

INTEGRATION = "Reliable API"


def get_provider_info() -> dict[str, Any]:
    """Return the provider's hooks, connection types and form fields."""
    return {
        "package-name": "airflow-provider-reliable-api",
        "name": "Reliable API",
        "description": "Reliable API integrations: one rate limit shared by every worker, idempotent "
        "upserts, validation with quarantine, a dead-letter queue, alerts and monitoring.",
        "versions": [__version__],
        "integrations": [
            {
                "integration-name": INTEGRATION,
                "external-doc-url": "https://pypi.org/project/airflow-provider-reliable-api/",
                "tags": ["protocol"],
            }
        ],
        "hooks": [{"integration-name": INTEGRATION, "python-modules": ["reliable_api.hooks.http"]}],
        "operators": [
            {
                "integration-name": INTEGRATION,
                "python-modules": [
                    "reliable_api.operators.extract",
                    "reliable_api.operators.api_upsert",
                    "reliable_api.operators.db_upsert",
                    "reliable_api.operators.validate",
                    "reliable_api.operators.replay",
                ],
            }
        ],
        "notifications": ["reliable_api.notifications.webhook.WebhookNotifier"],
        "connection-types": [
            {
                "hook-class-name": "reliable_api.hooks.http.ReliableHttpHook",
                "hook-name": "Reliable HTTP",
                "connection-type": "reliable_http",
                "ui-field-behaviour": {
                    "hidden-fields": [],
                    "relabeling": {"host": "Base URL"},
                    "placeholders": {"host": "https://api.example.com"},
                },
                "conn-fields": {spec.name: spec.conn_field() for spec in SETTING_FIELDS},
            }
        ],
    }
