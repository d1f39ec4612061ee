"""``INSERT ... ON CONFLICT`` for the state DB's dialects (SQLite and PostgreSQL)."""

from __future__ import annotations

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite

from reliable_api.exceptions import ConfigurationError

#: Dialects whose ``INSERT ... ON CONFLICT`` the ledger and the dead-letter queue rely on.
SUPPORTED_DIALECTS = ("sqlite", "postgresql")


def dialect_insert(dialect: str, table: Table) -> postgresql.Insert | sqlite.Insert:
    """An ``INSERT`` into ``table`` offering ``on_conflict_do_nothing`` / ``on_conflict_do_update``.

    :param dialect: the SQLAlchemy dialect name of the connection (``conn.dialect.name``).
    :raises ConfigurationError: for a dialect without ``ON CONFLICT`` support here.
    """
    if dialect == "postgresql":
        return postgresql.insert(table)
    if dialect == "sqlite":
        return sqlite.insert(table)
    raise ConfigurationError(
        f"the state DB must be one of {', '.join(SUPPORTED_DIALECTS)}, not {dialect!r}: "
        "point the reliable_api_state connection at SQLite or PostgreSQL"
    )
