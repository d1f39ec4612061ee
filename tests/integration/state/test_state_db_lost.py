"""A state DB connection lost mid-use: a retryable error naming the state DB, then a reconnect."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from reliable_api.exceptions import TransientError
from reliable_api.state.engine import make_engine
from reliable_api.state.schema import ledger
from reliable_api.throttle.postgres import libpq_dsn


@pytest.mark.postgres
def test_a_connection_lost_mid_use_is_transient_and_names_the_state_db(postgres_url: str) -> None:
    import psycopg2

    with_password = postgres_url.replace("postgres@", "postgres:hunter2@", 1)  # trust: any password
    engine = make_engine(with_password)
    try:
        with engine.connect() as conn:
            pid = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar()
            admin = psycopg2.connect(libpq_dsn(postgres_url))
            try:
                with admin.cursor() as cursor:
                    cursor.execute("SELECT pg_terminate_backend(%s)", (pid,))
            finally:
                admin.close()
            with pytest.raises(TransientError) as raised:
                conn.execute(select(func.count()).select_from(ledger))
        redacted = postgres_url.replace("postgres@", "postgres:***@", 1)
        assert str(raised.value).startswith(f"the state DB at {redacted} went away: "), str(raised.value)
        assert "hunter2" not in str(raised.value)
        with engine.connect() as conn:  # the pool dropped the dead connection
            assert conn.exec_driver_sql("SELECT 1").scalar() == 1
    finally:
        engine.dispose()
