"""Connection -> SQLAlchemy URL of the state DB."""

from __future__ import annotations

from airflow.sdk import Connection

from reliable_api.state.engine import connection_url


def test_postgres_connection_uses_psycopg2() -> None:
    conn = Connection(conn_id="s", conn_type="postgres", host="db", login="u", password="p w", schema="st")
    assert connection_url(conn) == "postgresql+psycopg2://u:p%20w@db:5432/st"


def test_sqlite_connection_is_its_file() -> None:
    conn = Connection(conn_id="s", conn_type="sqlite", host="/var/state.db")
    assert connection_url(conn) == "sqlite:////var/state.db"


def test_mysql_connection_uses_pymysql_and_utf8mb4() -> None:
    conn = Connection(conn_id="s", conn_type="mysql", host="db", login="u", password="p@ss:w", schema="st")
    assert connection_url(conn) == "mysql+pymysql://u:p%40ss%3Aw@db:3306/st?charset=utf8mb4"
