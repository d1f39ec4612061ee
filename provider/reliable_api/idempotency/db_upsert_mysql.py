"""MySQL/MariaDB loader of a database upsert: ``LOAD DATA LOCAL INFILE`` of the lines, JSON functions.

The batch is written to a temporary file and loaded verbatim, one line per row (no field
separator or escape character can occur in JSON text), when the connection allows local files
(:func:`~reliable_api.idempotency.db_upsert.upsert_records` opens it with ``local_infile``);
otherwise the lines are bound in one ``executemany``. The database extracts each field with
``JSON_EXTRACT`` and casts it into a stage shaped like the table, where strict mode refuses a
value that does not fit (named by MySQL's message with its column).
"""

from __future__ import annotations

import tempfile
from typing import TYPE_CHECKING

from reliable_api.idempotency.db_upsert_json_sql import RAW, STAGE, JsonSqlLoader

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

    from reliable_api.idempotency.db_upsert_batches import LineBatch

#: MySQL errors of a refused value or row: out of range, truncated, incorrect value, too long,
#: NOT NULL, duplicate on another unique key, foreign key, CHECK constraint.
REFUSALS = frozenset({1048, 1062, 1264, 1265, 1292, 1366, 1406, 1411, 1451, 1452, 1690, 3819, 4025})
#: The server refusing LOAD DATA LOCAL (its ``local_infile`` is off).
LOCAL_FILES_OFF = frozenset({1148, 3948})
#: LOAD DATA's client-side capability flag (pymysql.constants.CLIENT.LOCAL_FILES).
LOCAL_FILES = 128


class MysqlLoader(JsonSqlLoader):
    """:class:`JsonSqlLoader` spelled for MySQL/MariaDB."""

    param = "%s"
    temporary = "TEMPORARY"
    drop = "DROP TEMPORARY TABLE IF EXISTS {}"

    def stage_raw(self, connection: Connection, batch: LineBatch) -> None:
        """``RAW`` by ``LOAD DATA LOCAL INFILE`` when the connection allows it."""
        connection.exec_driver_sql(
            f"CREATE TEMPORARY TABLE {RAW} (n integer AUTO_INCREMENT PRIMARY KEY, doc longtext) "
            "CHARACTER SET utf8mb4"
        )
        from sqlalchemy.exc import OperationalError

        driver = connection.connection.driver_connection
        if getattr(driver, "client_flag", 0) & LOCAL_FILES:
            with tempfile.NamedTemporaryFile(suffix=".jsonl") as file:
                file.write(batch.data)
                file.flush()
                try:
                    # \x01 separates no fields and nothing is escaped: each line lands whole in doc.
                    connection.exec_driver_sql(
                        f"LOAD DATA LOCAL INFILE %s INTO TABLE {RAW} CHARACTER SET utf8mb4 "
                        "FIELDS TERMINATED BY '\x01' ESCAPED BY '' LINES TERMINATED BY '\\n' (doc)",
                        (file.name,),
                    )
                    return
                except OperationalError as error:
                    if getattr(error.orig, "args", (None,))[0] not in LOCAL_FILES_OFF:
                        raise  # otherwise the server has local_infile off: bind the lines instead
        lines = batch.data.decode().split("\n")[:-1]
        connection.exec_driver_sql(f"INSERT INTO {RAW} (doc) VALUES (%s)", [(line,) for line in lines])

    def json_type(self, path: str) -> str:
        """``JSON_TYPE`` at ``path``, lower case."""
        return "lower(JSON_TYPE(doc))" if path == "$" else f"lower(JSON_TYPE(JSON_EXTRACT(doc, '{path}')))"

    def extract(self, column: str) -> str:
        """The field's value: objects and arrays as JSON text, booleans as 1/0, the rest unquoted."""
        value = f"JSON_EXTRACT(doc, '$.{column}')"
        return (
            f"CASE JSON_TYPE({value}) WHEN 'NULL' THEN NULL WHEN 'OBJECT' THEN {value} "
            f"WHEN 'ARRAY' THEN {value} WHEN 'BOOLEAN' THEN ({value} = 'true') ELSE JSON_UNQUOTE({value}) END"
        )

    def unknown_fields(self) -> str:
        """The object's keys outside the table's columns, by ``JSON_TABLE`` over ``JSON_KEYS``."""
        known = ", ".join(f"'{name}'" for name in self.target.known)
        return (
            "(SELECT GROUP_CONCAT(k SEPARATOR ', ') FROM JSON_TABLE(JSON_KEYS(doc), '$[*]' "
            f"COLUMNS (k varchar(255) PATH '$')) AS keys_ WHERE k NOT IN ({known}))"
        )

    def concat(self, *parts: str) -> str:
        """``CONCAT(...)``."""
        return f"CONCAT({', '.join(parts)})"

    def merge_sql(self, where: str) -> str:
        """``INSERT ... ON DUPLICATE KEY UPDATE``: MySQL writes no row whose values are all equal."""
        t = self.target
        return (
            f"INSERT INTO {t.name} ({t.column_list()}) SELECT {t.column_list()} FROM {STAGE} WHERE {where} "
            f"ON DUPLICATE KEY UPDATE {t.set_list('VALUES({})')}"
        )

    def refused(self, error: BaseException | None) -> bool:
        """Strict mode's refused values and the table's refused rows, by MySQL error number."""
        code = getattr(error, "args", (None,))[0]
        return code in REFUSALS

    def reason(self, error: BaseException | None) -> str:
        """MySQL's message (it names the column), without the error number."""
        args: tuple[object, ...] = getattr(error, "args", ())
        return str(args[1]) if len(args) > 1 else str(error)
