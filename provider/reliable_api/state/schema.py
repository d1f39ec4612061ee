"""The state DB's tables (SQLAlchemy Core), created on first use with a schema version.

========================  =====================================================================
table                     holds
========================  =====================================================================
``rapi_meta``             ``schema_version`` and the DB's own ``redaction_salt``
``rapi_ledger``           per (integration, natural key): pending intent or created remote id
``rapi_dead_letters``     records that failed for good, one row per (integration, record key)
``rapi_run_metrics``      one row per task try: counts of the upsert or extract
========================  =====================================================================
"""

from __future__ import annotations

import secrets
from datetime import datetime, timezone

from sqlalchemy import (
    JSON,
    Column,
    Connection,
    DateTime,
    Engine,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
    select,
)
from sqlalchemy.exc import DBAPIError
from sqlalchemy.schema import CreateTable

from reliable_api.exceptions import ConfigurationError
from reliable_api.idempotency.ledger import MAX_KEY_LENGTH
from reliable_api.state.dialect import dialect_insert

#: The schema this code writes; a DB with a newer one was written by a later release.
SCHEMA_VERSION = 1

metadata = MetaData()


def _task_try_columns() -> list[Column[object]]:
    """Which integration and which task try a row is about."""
    return [
        Column("integration", String(128), nullable=False),
        Column("dag_id", String(250)),
        Column("task_id", String(250)),
        Column("run_id", String(250)),
        Column("try_number", Integer),
    ]


meta = Table(
    "rapi_meta",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("value", String(256), nullable=False),
)

ledger = Table(
    "rapi_ledger",
    metadata,
    Column("integration", String(128), nullable=False),
    Column("record_key", String(MAX_KEY_LENGTH), nullable=False),
    Column("status", String(16), nullable=False),  # pending | created
    Column("payload_hash", String(64), nullable=False),
    Column("remote_id", String(256)),
    Column("idempotency_key", String(64)),
    Column("attempts", Integer, nullable=False, default=0),
    Column("claimed_by", String(256)),
    Column("claimed_until", DateTime(timezone=True)),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    PrimaryKeyConstraint("integration", "record_key"),
)

dead_letters = Table(
    "rapi_dead_letters",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    *_task_try_columns(),
    Column("record_key", String(MAX_KEY_LENGTH), nullable=False),
    Column("payload", JSON),
    Column("error_class", String(128), nullable=False),
    Column("http_status", Integer),
    Column("message", Text, nullable=False),
    Column("attempts", Integer, nullable=False, default=1),
    Column("first_seen", DateTime(timezone=True), nullable=False),
    Column("last_seen", DateTime(timezone=True), nullable=False),
    Column("status", String(16), nullable=False, default="open"),  # open|replayed|resolved|discarded
    Column("status_changed_by", String(250)),
    Column("status_changed_at", DateTime(timezone=True)),
    UniqueConstraint("integration", "record_key", name="uq_rapi_dead_letters_key"),
)

run_metrics = Table(
    "rapi_run_metrics",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    *_task_try_columns(),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("ended_at", DateTime(timezone=True)),
    Column("counts", JSON, nullable=False),
)


def utcnow() -> datetime:
    """The current time, timezone-aware (UTC)."""
    return datetime.now(timezone.utc)


def ensure_schema(engine: Engine) -> None:
    """Create the tables and the version row when missing; refuse a DB from a newer release.

    Safe when many processes call it at once: table creation tolerates existing tables and the
    version row is inserted only by the first.

    :raises ConfigurationError: when the DB's schema version is newer than :data:`SCHEMA_VERSION`.
    """
    try:
        _create_tables(engine)
    except DBAPIError:
        # PostgreSQL: a concurrent CREATE TABLE IF NOT EXISTS of the same table can still collide
        # in its catalog; the other process has created it by now.
        _create_tables(engine)
    with engine.begin() as conn:
        _insert_missing(conn, "schema_version", str(SCHEMA_VERSION))
        # A salt of this DB's own: redacted values hash alike within it, never across DBs.
        _insert_missing(conn, "redaction_salt", secrets.token_hex(16))
        version = int(conn.execute(select(meta.c.value).where(meta.c.name == "schema_version")).scalar_one())
    if version > SCHEMA_VERSION:
        raise ConfigurationError(
            f"the state DB has schema version {version}, newer than {SCHEMA_VERSION} that this "
            "release of airflow-provider-reliable-api knows: upgrade the provider"
        )


def _create_tables(engine: Engine) -> None:
    # IF NOT EXISTS rather than create_all's check-then-create, which races between processes.
    with engine.begin() as conn:
        for table in metadata.sorted_tables:
            conn.execute(CreateTable(table, if_not_exists=True))


def read_meta(engine: Engine, name: str) -> str:
    """The value of a ``rapi_meta`` row (``schema_version``, ``redaction_salt``)."""
    with engine.connect() as conn:
        return str(conn.execute(select(meta.c.value).where(meta.c.name == name)).scalar_one())


def _insert_missing(conn: Connection, name: str, value: str) -> None:
    statement = dialect_insert(conn.dialect.name, meta).values(name=name, value=value)
    conn.execute(statement.on_conflict_do_nothing(index_elements=["name"]))
