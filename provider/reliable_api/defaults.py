"""Defaults the provider's packages share: where its files live, which connection holds its state.

Light on purpose: operators that DAG files import read these at parse time.
"""

from __future__ import annotations

import os
from pathlib import Path

#: The Airflow connection of the state DB (ledger, dead letters, run metrics, SQL limiter state).
STATE_CONN_ID = "reliable_api_state"


def provider_home() -> Path:
    """``$AIRFLOW_HOME/reliable_api`` (``~/airflow`` when unset): the provider's local files."""
    return Path(os.environ.get("AIRFLOW_HOME") or "~/airflow").expanduser() / "reliable_api"
