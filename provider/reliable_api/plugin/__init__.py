"""The Airflow plugin of the provider (UI pages and listeners arrive with later features)."""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin


class ReliableApiPlugin(AirflowPlugin):
    """Registers the provider's extensions of the Airflow UI and scheduler."""

    name = "reliable_api"
