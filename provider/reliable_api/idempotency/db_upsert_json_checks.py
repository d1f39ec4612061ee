"""The checks of the JSON-function loaders in SQL (SQLite, MySQL/MariaDB), and their fallback.

Set-based statements that refuse lines (not a record, no usable key, a field the table has no
column for) and records whose key repeats in the batch, and the fallback that runs a statement
row by row when the database refuses some row's data. Each dialect spells the JSON functions
they use; :class:`~reliable_api.idempotency.db_upsert_json_sql.JsonSqlLoader` runs them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from reliable_api.idempotency.sql_merge import LINE

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

    from reliable_api.idempotency.sql_merge import Target

RAW, FIELDS, STAGE = "_rapi_raw", "_rapi_fields", "_rapi_stage"
REFUSED, LATER = "_rapi_refused", "_rapi_later"


class JsonSqlChecks:
    """The checks and the row-by-row fallback; subclasses spell the JSON functions."""

    target: Target
    #: The driver's placeholder for a bound parameter.
    param = "?"
    #: What :meth:`json_type` calls a string.
    string_type = "text"
    temporary = "TEMP"
    #: How a temporary table is dropped (SQLite has no DROP TEMP; its temp tables live in "temp").
    drop = "DROP TABLE IF EXISTS temp.{}"
    #: The table the checks and the extraction read: ``RAW``, or what a dialect made of it.
    source = RAW

    def json_type(self, path: str) -> str:
        """SQL: the JSON type of ``doc`` at ``path`` (``$`` or ``$.name``), lower case, or NULL."""
        raise NotImplementedError

    def extract(self, column: str) -> str:
        """SQL: the value of field ``column`` of ``doc``, as the stage's column takes it."""
        raise NotImplementedError

    def unknown_fields(self) -> tuple[str, str]:
        """SQL: (true when ``doc`` has a field that is no column of the table, those fields listed)."""
        raise NotImplementedError

    def refused(self, error: BaseException | None) -> bool:
        """Whether the driver's ``error`` means "the database refused a row's data"."""
        raise NotImplementedError

    def reason(self, error: BaseException | None) -> str:
        """The database's message for a refused row."""
        return str(error)

    def concat(self, *parts: str) -> str:
        """SQL concatenation of ``parts``."""
        return " || ".join(parts)

    def index_sql(self, table: str, columns: list[str]) -> str:
        """An index of a temporary table on ``columns``."""
        name = f"{table}_{len(columns)}_{'_'.join(columns)}"[:60]
        return f"CREATE INDEX {name} ON {table} ({', '.join(self.target.q(c) for c in columns)})"

    def _refusals(self) -> str:
        """One ``INSERT INTO REFUSED`` of every raw line that is no record with a usable key.

        Each line gets a code in one pass of cheap tests (the first that fails; one JSON type
        lookup per key field), and only refused lines get a message.
        """
        codes, outcomes = self._refusal_codes()
        reason = " ".join(f"WHEN '{code}' THEN '{why}'" for code, why, _ in outcomes)
        message = " ".join(f"WHEN '{code}' THEN {text}" for code, _, text in outcomes)
        return (
            f"INSERT INTO {REFUSED} (n, reason, message) "
            f"SELECT n, CASE code {reason} END, CASE code {message} END FROM ({codes}) x "
            "WHERE code IS NOT NULL"
        )

    def any_refused(self) -> str:
        """SQL: a row when :meth:`_refusals` would refuse some raw line, else none."""
        return f"SELECT 1 FROM ({self._refusal_codes()[0]}) x WHERE code IS NOT NULL LIMIT 1"

    def _refusal_codes(self) -> tuple[str, list[tuple[str, str, str]]]:
        """(``SELECT n, doc, code`` of the raw lines, each code with its reason and message SQL)."""
        tests = [f"CASE WHEN coalesce({self.json_type('$')}, '') <> 'object' THEN 'r' END"]
        outcomes = [("r", "not_a_record", "'not a record (a JSON object)'")]
        for index, name in enumerate(self.target.key):
            missing, invalid = f"m{index}", f"i{index}"
            tests.append(
                f"CASE coalesce({self.json_type(f'$.{name}')}, 'null') WHEN 'null' THEN '{missing}' "
                f"WHEN 'object' THEN '{invalid}' WHEN 'array' THEN '{invalid}' "
                f"WHEN '{self.string_type}' THEN CASE WHEN {self.extract(name)} = '' THEN '{missing}' END END"
            )
            text = f"'record has no value for natural key field ''{name}'''"
            outcomes.append((missing, "missing_key", text))
            outcomes.append((invalid, "invalid_key", f"'natural key field ''{name}'' is not a scalar'"))
        unknown, listed = self.unknown_fields()
        tests.append(f"CASE WHEN {unknown} THEN 'u' END")
        outcomes.append(("u", "unknown_field", self.concat("'fields the table has no column for: '", listed)))
        return f"SELECT n, doc, coalesce({', '.join(tests)}) AS code FROM {self.source}", outcomes

    def _drop_duplicates(self, connection: Connection) -> int:
        """Keep each key's last record; refuse earlier ones with other values; count identical ones."""
        t = self.target
        connection.exec_driver_sql(f"CREATE {self.temporary} TABLE {LATER} AS {t.repeated_keys(STAGE, LINE)}")
        message = self.concat(
            "'line '",
            "later",
            "' of the batch has the same key and other values; the later record was loaded'",
        )
        connection.exec_driver_sql(
            f"INSERT INTO {REFUSED} (n, reason, message) "
            f"SELECT n, 'duplicate_key', {message} FROM {LATER} WHERE same = 0"
        )
        connection.exec_driver_sql(f"DELETE FROM {STAGE} WHERE {LINE} IN (SELECT n FROM {LATER})")
        return int(connection.exec_driver_sql(f"SELECT count(*) FROM {LATER} WHERE same = 1").scalar_one())

    def _refused_count(self, connection: Connection) -> int:
        return int(connection.exec_driver_sql(f"SELECT count(*) FROM {REFUSED}").scalar_one())

    def _each_row(self, connection: Connection, sql: Callable[[str], str], source: str, line: str) -> None:
        """Run ``sql("1 = 1")``, or row by row when the database refuses some row's data.

        Row by row, ``sql`` gets "line = this one"; the refused rows are set aside with the
        database's reason.
        """
        from sqlalchemy.exc import DBAPIError

        connection.exec_driver_sql("SAVEPOINT rapi_all")
        try:
            connection.exec_driver_sql(sql("1 = 1"))
            connection.exec_driver_sql("RELEASE SAVEPOINT rapi_all")
            return
        except DBAPIError as error:
            if not self.refused(error.orig):
                raise
            connection.exec_driver_sql("ROLLBACK TO SAVEPOINT rapi_all")
        connection.exec_driver_sql(self.index_sql(source, [line]))  # one lookup per row below
        numbers = (
            connection.exec_driver_sql(
                f"SELECT {line} FROM {source} WHERE {line} NOT IN (SELECT n FROM {REFUSED}) ORDER BY {line}"
            )
            .scalars()
            .all()
        )
        one = sql(f"{source}.{line} = {self.param}")
        for number in numbers:
            connection.exec_driver_sql("SAVEPOINT rapi_row")
            try:
                connection.exec_driver_sql(one, (number,))
                connection.exec_driver_sql("RELEASE SAVEPOINT rapi_row")
            except DBAPIError as error:
                if not self.refused(error.orig):
                    raise
                connection.exec_driver_sql("ROLLBACK TO SAVEPOINT rapi_row")
                connection.exec_driver_sql(
                    f"INSERT INTO {REFUSED} (n, reason, message) "
                    f"VALUES ({self.param}, 'db_refused', {self.param})",
                    (number, self.reason(error.orig)),
                )

    def _drop(self, connection: Connection) -> None:
        for name in (RAW, FIELDS, STAGE, REFUSED, LATER):
            connection.exec_driver_sql(self.drop.format(name))
