"""The plugin's app, users and state DB of the plugin tests, for the security tests of every route."""

from __future__ import annotations

from tests.integration.plugin.conftest import (  # noqa: F401  (fixtures, requested by name)
    airflow_app,
    airflow_env,
    auth_manager,
    state_db,
)
