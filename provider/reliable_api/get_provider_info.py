"""Provider metadata for Airflow's ``apache_airflow_provider`` entry point.

Imported by Airflow's providers manager in every Airflow process: it must stay cheap (no Airflow,
no heavy libraries imported).
"""

from __future__ import annotations

from typing import Any

from reliable_api import __version__
from reliable_api.http.setting_fields import SETTING_FIELDS

INTEGRATION = "Reliable API"

#: ``[reliable_api]`` in airflow.cfg (``AIRFLOW__RELIABLE_API__<OPTION>``): shown by
#: ``airflow config list`` and the UI's configuration page.
CONFIG: dict[str, Any] = {
    "reliable_api": {
        "description": "Options of the Reliable API provider (airflow-provider-reliable-api).",
        "options": {
            "replay_dags": {
                "description": "A JSON object naming the replay DAG of each integration whose replay "
                "DAG is not called ``<integration>_replay`` (the UI's Replay button queues it).\n",
                "version_added": "0.1.0",
                "type": "string",
                "example": '{"billing": "billing_dlq_replay"}',
                "default": "",
            },
            "allow_local_state": {
                "description": "Allow per-machine state (the SQLite state DB used when the "
                "``reliable_api_state`` connection is missing, and the ``sqlite`` limiter backend) "
                "under an executor that runs tasks on many machines (Celery, Kubernetes, Edge). Only "
                "safe when every worker shares one machine: otherwise each keeps its own ledger and "
                "rate limit.\n",
                "version_added": "0.1.0",
                "type": "boolean",
                "example": "True",
                "default": "False",
            },
            "monitoring_config": {
                "description": "The YAML file of the anomaly thresholds per integration; default "
                "``$AIRFLOW_HOME/reliable_api/monitoring.yaml`` when it exists.\n",
                "version_added": "0.1.0",
                "type": "string",
                "example": "/opt/airflow/config/reliable_api_monitoring.yaml",
                "default": "",
            },
        },
    }
}


def get_provider_info() -> dict[str, Any]:
    """Return the provider's hooks, operators, links, config options, connection types and form fields."""
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
        "triggers": [{"integration-name": INTEGRATION, "python-modules": ["reliable_api.triggers.http"]}],
        "notifications": ["reliable_api.notifications.webhook.WebhookNotifier"],
        "extra-links": ["reliable_api.operators.base.DeadLettersLink"],
        "config": CONFIG,
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
