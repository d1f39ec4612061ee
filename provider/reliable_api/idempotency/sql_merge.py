"""The target of a database upsert, described once, and the SQL every dialect's loader shares.

Every name here passed :func:`~reliable_api.idempotency.sql_identifiers.check_identifier` and
is quoted by the dialect; values never appear in SQL text (they arrive by COPY, LOAD DATA or a
bound parameter).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from reliable_api.idempotency.sql_identifiers import qualified, quote

if TYPE_CHECKING:
    from sqlalchemy.engine import Dialect

#: The staging table's column holding each record's line number in its batch (1-based).
LINE = "_rapi_n"


@dataclass
class Target:
    """The table an upsert writes, with its key, written and known columns.

    :param dialect: the engine's dialect (for quoting).
    :param table: the table name; ``schema`` its schema (database on MySQL) or None.
    :param key: the key columns.
    :param values: the non-key columns written.
    :param known: every column of the table (a record's field outside them is refused).
    :param types: column -> the table's SQLAlchemy type (for loaders that need it).
    :param catalog: PostgreSQL: the columns as the catalog describes them
        (:class:`~reliable_api.idempotency.db_upsert_pg_catalog.CatalogColumn`), read with the
        table's check; None elsewhere.
    """

    dialect: Dialect
    table: str
    schema: str | None
    key: list[str]
    values: list[str]
    known: list[str]
    types: dict[str, Any] = field(default_factory=dict)
    catalog: list[Any] | None = None

    @property
    def name(self) -> str:
        """The quoted, schema-qualified table name."""
        return qualified(self.dialect, self.table, self.schema)

    @property
    def columns(self) -> list[str]:
        """Key columns, then the written ones."""
        return [*self.key, *self.values]

    def q(self, name: str) -> str:
        """``name`` quoted by the dialect."""
        return quote(self.dialect, name)

    def column_list(self, prefix: str = "") -> str:
        """``prefix."a", prefix."b"``, ... over :attr:`columns`."""
        return ", ".join(f"{prefix}{self.q(name)}" for name in self.columns)

    def key_match(self, left: str, right: str) -> str:
        """SQL true when rows ``left`` and ``right`` have the same key."""
        return " AND ".join(f"{left}.{self.q(k)} = {right}.{self.q(k)}" for k in self.key)

    def same(self, stored: str, new: str) -> str:
        """SQL true when no written column differs between ``stored`` and ``new`` (null-safe)."""
        pairs = [(f"{stored}.{self.q(v)}", f"{new}.{self.q(v)}") for v in self.values]
        if not pairs:
            return "1 = 1"
        name = self.dialect.name
        if name == "postgresql":
            return (
                f"({', '.join(a for a, _ in pairs)}) IS NOT DISTINCT FROM ({', '.join(b for _, b in pairs)})"
            )
        if name == "sqlite":
            return " AND ".join(f"{a} IS {b}" for a, b in pairs)
        return " AND ".join(f"{a} <=> {b}" for a, b in pairs)

    def set_list(self, new: str) -> str:
        """The SET list of the update (``new`` formats a column); the key itself when nothing else."""
        others = self.values or self.key[:1]
        return ", ".join(f"{self.q(name)} = {new.format(self.q(name))}" for name in others)

    def unchanged_rows(self, stage: str) -> str:
        """``DELETE`` of the staged rows whose stored row already holds the same values.

        Run before the merge, so unchanged rows are never touched: an ``ON CONFLICT ... WHERE``
        that skips them still locks (and WAL-logs) each one (docs/adr/0028-db-upserts-in-the-database.md).
        """
        return (
            f"DELETE FROM {stage} WHERE EXISTS (SELECT 1 FROM {self.name} t "
            f"WHERE {self.key_match('t', stage)} AND {self.same('t', stage)})"
        )

    def repeated_keys(self, stage: str, line: str) -> str:
        """``SELECT n, later, same`` of each staged row whose key a later row of the stage repeats.

        ``later`` is that key's last row (the one loaded), ``same`` 1 when it holds the same values.
        Repeated keys are found by one grouping pass first, then only their rows are joined: a join
        of the stage with itself over every row is n² where the engine has no hash join.
        """
        keys = ", ".join(self.q(k) for k in self.key)
        return (
            f"SELECT s.{line} AS n, l.{line} AS later, "
            f"CASE WHEN {self.same('s', 'l')} THEN 1 ELSE 0 END AS same "
            f"FROM (SELECT {keys}, max({line}) AS last FROM {stage} GROUP BY {keys} HAVING count(*) > 1) m "
            f"JOIN {stage} s ON {self.key_match('s', 'm')} AND s.{line} < m.last "
            f"JOIN {stage} l ON l.{line} = m.last"
        )

    def existing_rows(self, stage: str) -> str:
        """``SELECT count(*)`` of the staged rows whose key is already in the table."""
        return (
            f"SELECT count(*) FROM {stage} s "
            f"WHERE EXISTS (SELECT 1 FROM {self.name} t WHERE {self.key_match('t', 's')})"
        )
