"""Column types that behave alike on SQLite, PostgreSQL and MySQL/MariaDB."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import DateTime, Dialect, String, TypeDecorator
from sqlalchemy.types import TypeEngine

from reliable_api.state.dialect import is_mysql


class ExactString(TypeDecorator[str]):
    """A ``VARCHAR`` compared character for character, as SQLite and PostgreSQL compare text.

    MySQL's default collations ignore case and trailing spaces, which would make ``"Ann@x.io"``
    and ``"ann@x.io "`` one ledger key; there the column gets the server's binary collation
    without padding.
    """

    impl = String
    cache_ok = True

    def __init__(self, length: int) -> None:
        super().__init__(length)
        self.length = length

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        """A binary-collated ``VARCHAR`` on MySQL, a plain ``VARCHAR`` elsewhere."""
        if is_mysql(dialect.name):
            from sqlalchemy.dialects.mysql import VARCHAR

            exact = VARCHAR(self.length, charset="utf8mb4", collation=_binary_collation(dialect))
            return dialect.type_descriptor(exact)
        return dialect.type_descriptor(String(self.length))


class UtcDateTime(TypeDecorator[datetime]):
    """A UTC timestamp with microseconds, read back timezone-aware where PostgreSQL does.

    MySQL: ``DATETIME(6)`` holding UTC wall time, read back as aware UTC (plain ``DATETIME``
    drops the microseconds; ``TIMESTAMP`` converts through the session time zone and ends in 2038).
    """

    impl = DateTime
    cache_ok = True

    def __init__(self) -> None:
        super().__init__(timezone=True)

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        """``DATETIME(6)`` on MySQL, a timezone-aware ``DateTime`` elsewhere."""
        if is_mysql(dialect.name):
            from sqlalchemy.dialects.mysql import DATETIME

            return dialect.type_descriptor(DATETIME(fsp=6))
        return dialect.type_descriptor(DateTime(timezone=True))

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """An aware time in UTC (naive on MySQL); a naive time is taken as UTC already.

        SQLite and MySQL store the wall time they are given: another zone's would be a wrong instant.
        """
        if value is None or value.tzinfo is None:
            return value
        utc = value.astimezone(timezone.utc)
        return utc.replace(tzinfo=None) if is_mysql(dialect.name) else utc

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """On MySQL, the stored UTC wall time made aware."""
        if value is None or not is_mysql(dialect.name):
            return value
        return value.replace(tzinfo=timezone.utc)


def _binary_collation(dialect: Dialect) -> str:
    # NO PAD binary collations: MariaDB's since 10.2, MySQL's since 8.0.17; older MySQL only
    # has utf8mb4_bin, which still ignores trailing spaces.
    if getattr(dialect, "is_mariadb", False):
        return "utf8mb4_nopad_bin"
    if (dialect.server_version_info or ()) >= (8, 0, 17):
        return "utf8mb4_0900_bin"
    return "utf8mb4_bin"
