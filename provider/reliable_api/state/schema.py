"""The state DB's tables (SQLAlchemy Core), created on first use with a schema version.

========================  =====================================================================
table                     holds
========================  =====================================================================
``rapi_meta``             ``schema_version`` and the DB's own ``redaction_salt``
``rapi_ledger``           per (integration, natural key): pending intent or created remote id
``rapi_dead_letters``     records that failed for good, one row per (integration, record key)
``rapi_run_metrics``      one row per task try: outcome, error class, times and counts
========================  =====================================================================

Versions: 1 the first release; 2 adds ``outcome`` and ``error_class`` to ``rapi_run_metrics``
(failed tries are recorded too). :func:`ensure_schema` brings an older DB up to date in place.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import (
    JSON,
    Column,
    Connection,
    Engine,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
    UniqueConstraint,
    inspect,
    select,
    update,
)
from sqlalchemy.exc import DBAPIError
from sqlalchemy.schema import CreateColumn, CreateTable

from reliable_api.exceptions import ConfigurationError
from reliable_api.state.column_types import ExactString, UtcDateTime
from reliable_api.state.dialect import insert_missing

#: The longest natural key the ledger and the dead-letter queue store.
MAX_KEY_LENGTH = 512
#: The schema this code writes; a DB with a newer one was written by a later release.
SCHEMA_VERSION = 2

metadata = MetaData()

#: MySQL/MariaDB: InnoDB for row locks and transactions; utf8mb4 for any text (keys are binary-
#: collated by :class:`ExactString`). Other dialects ignore these options.
_MYSQL_OPTIONS: dict[str, Any] = {"mysql_engine": "InnoDB", "mysql_charset": "utf8mb4"}


def _task_try_columns() -> list[Column[object]]:
    """Which integration and which task try a row is about."""
    return [
        Column("integration", ExactString(128), nullable=False),
        Column("dag_id", ExactString(250)),
        Column("task_id", ExactString(250)),
        Column("run_id", ExactString(250)),
        Column("try_number", Integer),
    ]


meta = Table(
    "rapi_meta",
    metadata,
    Column("name", ExactString(64), primary_key=True),
    Column("value", ExactString(256), nullable=False),
    **_MYSQL_OPTIONS,
)

ledger = Table(
    "rapi_ledger",
    metadata,
    Column("integration", ExactString(128), nullable=False),
    Column("record_key", ExactString(MAX_KEY_LENGTH), nullable=False),
    Column("status", ExactString(16), nullable=False),  # pending | created
    Column("payload_hash", ExactString(64), nullable=False),
    Column("remote_id", ExactString(256)),
    Column("idempotency_key", ExactString(64)),
    Column("attempts", Integer, nullable=False, default=0),
    Column("claimed_by", ExactString(256)),
    Column("claimed_until", UtcDateTime()),
    Column("updated_at", UtcDateTime(), nullable=False),
    PrimaryKeyConstraint("integration", "record_key"),
    **_MYSQL_OPTIONS,
)

dead_letters = Table(
    "rapi_dead_letters",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    *_task_try_columns(),
    Column("record_key", ExactString(MAX_KEY_LENGTH), nullable=False),
    Column("payload", JSON),
    Column("error_class", ExactString(128), nullable=False),
    Column("http_status", Integer),
    Column("message", Text, nullable=False),
    Column("attempts", Integer, nullable=False, default=1),
    Column("first_seen", UtcDateTime(), nullable=False),
    Column("last_seen", UtcDateTime(), nullable=False),
    Column("status", ExactString(16), nullable=False, default="open"),  # open|replayed|resolved|discarded
    Column("status_changed_by", ExactString(250)),
    Column("status_changed_at", UtcDateTime()),
    UniqueConstraint("integration", "record_key", name="uq_rapi_dead_letters_key"),
    **_MYSQL_OPTIONS,
)

run_metrics = Table(
    "rapi_run_metrics",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    *_task_try_columns(),
    Column("started_at", UtcDateTime(), nullable=False),
    Column("ended_at", UtcDateTime()),
    Column("counts", JSON, nullable=False),
    Column("outcome", ExactString(16)),  # success | failed | deferred
    Column("error_class", ExactString(128)),  # the failed try's exception class
    **_MYSQL_OPTIONS,
)

#: Columns added to existing tables by each schema version (CREATE TABLE covers new DBs).
_ADDED_COLUMNS: dict[int, list[Column[Any]]] = {2: [run_metrics.c.outcome, run_metrics.c.error_class]}


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
        version = _schema_version(conn)
    if version < SCHEMA_VERSION:
        _migrate(engine, version)
    elif version > SCHEMA_VERSION:
        raise ConfigurationError(
            f"the state DB has schema version {version}, newer than {SCHEMA_VERSION} that this "
            "release of airflow-provider-reliable-api knows: upgrade the provider"
        )


def _migrate(engine: Engine, version: int) -> None:
    """Bring a DB of schema ``version`` up to :data:`SCHEMA_VERSION`, one version at a time.

    Each step only adds nullable columns and fills them, and is safe to run twice or from many
    processes at once: a column another process added in between is taken as added.
    """
    for target in range(version + 1, SCHEMA_VERSION + 1):
        for column in _ADDED_COLUMNS.get(target, []):
            _add_column(engine, column)
        with engine.begin() as conn:
            if target == 2:
                # Version 1 recorded a row only when the try got as far as its counts: a success.
                conn.execute(
                    update(run_metrics).where(run_metrics.c.outcome.is_(None)).values(outcome="success")
                )
            conn.execute(
                update(meta)
                .where(meta.c.name == "schema_version", meta.c.value == str(target - 1))
                .values(value=str(target))
            )


def _add_column(engine: Engine, column: Column[Any]) -> None:
    table = column.table.name
    if _has_column(engine, table, column.name):
        return
    quoted = engine.dialect.identifier_preparer.quote(table)
    definition = CreateColumn(column).compile(dialect=engine.dialect)
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql(f"ALTER TABLE {quoted} ADD COLUMN {definition}")
    except DBAPIError:
        if not _has_column(engine, table, column.name):  # not a concurrent migration: a real error
            raise


def _has_column(engine: Engine, table: str, column: str) -> bool:
    return column in {found["name"] for found in inspect(engine).get_columns(table)}


def _schema_version(conn: Connection) -> int:
    return int(conn.execute(select(meta.c.value).where(meta.c.name == "schema_version")).scalar_one())


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
    insert_missing(conn, meta, {"name": name, "value": value}, key=["name"])
