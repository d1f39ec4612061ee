"""The Airflow plugin of the provider: the dead-letter browser and the health page in the UI.

Imported by every Airflow component, so it stays light: the FastAPI app behind ``/reliable-api``
is built on its first request (:class:`~reliable_api.plugin.lazy.LazyApp`).
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from reliable_api.alerting import dag_test_deadlines, missing_pools
from reliable_api.hooks import http_operator_listener
from reliable_api.plugin.lazy import LazyApp

#: Where the pages live; the alerts link to ``{URL_PREFIX}/dlq`` (``alerting.alert.DLQ_PAGE_PATH``).
URL_PREFIX = "/reliable-api"
NAV_CATEGORY = "Reliable API"


class ReliableApiPlugin(AirflowPlugin):
    """Registers the provider's pages in the Airflow UI (its API server and its nav)."""

    name = "reliable_api"
    #: Keeps ``HttpOperator(deferrable=True)`` on a reliable_http connection under its limit;
    #: lets ``dag.test()`` finish a DAG with a Deadline Alert (Airflow 3.3.2's bug);
    #: logs an error naming a pool a starting run's tasks need that does not exist.
    listeners = [http_operator_listener, dag_test_deadlines, missing_pools]
    fastapi_apps = [
        {
            "app": LazyApp("reliable_api.plugin.app:create_app"),
            "url_prefix": URL_PREFIX,
            "name": "Reliable API pages",
        }
    ]
    external_views = [
        {
            "name": "Dead letters",
            "href": f"{URL_PREFIX}/dlq",
            "destination": "nav",
            "category": NAV_CATEGORY,
            "url_route": "reliable-api-dlq",
        },
        {
            "name": "Integration health",
            "href": f"{URL_PREFIX}/health",
            "destination": "nav",
            "category": NAV_CATEGORY,
            "url_route": "reliable-api-health",
        },
    ]
