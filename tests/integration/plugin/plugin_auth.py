"""An auth manager with per-DAG permissions, as FAB or Keycloak give them, for the scope tests.

The simple auth manager grants by role only (every DAG or none); this one, built on it, lets a
user read and edit only the DAGs whose id starts with their user name, and DAGs as a whole
never. Everything else (tokens, users) is the simple auth manager's.
"""

from __future__ import annotations

from typing import Any

from airflow.api_fastapi.auth.managers.simple.simple_auth_manager import SimpleAuthManager


class OwnDagsAuthManager(SimpleAuthManager):
    def is_authorized_dag(
        self, *, method: Any, user: Any, access_entity: Any = None, details: Any = None
    ) -> bool:
        if details is None or not details.id:
            return False
        return bool(details.id.startswith(f"{user.username}_"))
