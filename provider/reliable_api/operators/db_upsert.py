"""``DbUpsertOperator``: staged records into a database table, writing only what changed."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

if TYPE_CHECKING:
    from airflow.sdk import Context

    from reliable_api.idempotency.db_upsert import Rejection

#: Receives the rejected records of a run and says where they went (a path, a DLQ id...).
RejectedHandler = Callable[[Sequence["Rejection"], "Context"], str | None]


class DbUpsertOperator(BaseOperator):
    """Upsert staged records into a table of any Airflow SQL connection (Postgres, SQLite, MySQL).

    The connection's hook (``BaseHook.get_connection(conn_id).get_hook()``, a common-sql
    ``DbApiHook``) gives the SQLAlchemy engine; the upsert itself is
    :func:`~reliable_api.idempotency.db_upsert.upsert_records`: dialect-native, in batches, writing
    only new rows and rows whose content hash changed, so a re-run with the same input writes
    nothing. Records it refuses (no key, values JSON cannot hold) go to ``on_rejected``.

    :param conn_id: the Airflow connection of the target database.
    :param table: the target table (templated).
    :param key: its key columns; a primary key or unique constraint must cover exactly them.
    :param staged: the staged batch (templated): an upstream task's XCom dict (e.g.
        ``extract.output``) or the batch directory.
    :param schema: the table's schema (templated).
    :param columns: the non-key columns to write; default every column of the table.
    :param create: a declared schema (column -> ``text``, ``integer``, ``bigint``, ``numeric``,
        ``boolean``, ``timestamp``, ``date`` or ``json``) to create the table when it is missing.
    :param batch_size: records per merge transaction.
    :param on_rejected: what to do with rejected records; default: stage them as JSON Lines under
        ``<staging_root>/<dag>/<run>/<task>.rejected/``.
    :param staging_root: where the default handler stages rejected records.
    :param max_failure_ratio: fail the task when more than this share of records is rejected.
    """

    template_fields: Sequence[str] = ("table", "staged", "schema", "staging_root")
    ui_color = "#eaf7ea"

    def __init__(
        self,
        *,
        conn_id: str,
        table: str,
        key: Sequence[str],
        staged: Mapping[str, Any] | str,
        schema: str | None = None,
        columns: Sequence[str] | None = None,
        create: Mapping[str, str] | None = None,
        batch_size: int = 50_000,
        on_rejected: RejectedHandler | None = None,
        staging_root: str | None = None,
        max_failure_ratio: float = 0.05,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.conn_id = conn_id
        self.table = table
        self.key = list(key)
        self.staged = staged
        self.schema = schema
        self.columns = list(columns) if columns is not None else None
        self.create = dict(create) if create is not None else None
        self.batch_size = batch_size
        self.on_rejected = on_rejected or self.stage_rejected
        self.staging_root = staging_root
        self.max_failure_ratio = max_failure_ratio

    def execute(self, context: Context) -> dict[str, Any]:
        """Upsert the staged records; return the counts (and where rejected records went)."""
        from airflow.sdk import BaseHook

        from reliable_api.exceptions import FailureBudgetExceeded
        from reliable_api.idempotency.db_upsert import upsert_records
        from reliable_api.staging.files import read_records

        connection: Any = BaseHook.get_connection(self.conn_id)  # get_hook() is untyped in Airflow
        engine = connection.get_hook().get_sqlalchemy_engine()
        try:
            result = upsert_records(
                engine,
                self.table,
                read_records(self.staged),
                key=self.key,
                schema=self.schema,
                columns=self.columns,
                create=self.create,
                batch_size=self.batch_size,
            )
        finally:
            engine.dispose()  # the hook builds a new engine per call: close its pooled connections
        summary: dict[str, Any] = result.counts()
        summary["records"] = result.inserted + result.updated + result.unchanged + result.duplicates
        summary["records"] += len(result.rejected)
        if result.rejected:
            summary["rejected_to"] = self.on_rejected(result.rejected, context)
        self.log.info("Upserted into %s: %s", self.table, summary)
        if summary["records"] and len(result.rejected) / summary["records"] > self.max_failure_ratio:
            raise FailureBudgetExceeded(
                failed=len(result.rejected),
                total=summary["records"],
                max_failure_ratio=self.max_failure_ratio,
            )
        return summary

    def stage_rejected(self, rejected: Sequence[Rejection], context: Context) -> str:
        """The default ``on_rejected``: stage each record with its reason; return the directory."""
        from reliable_api.staging.files import StagedWriter, default_staging_root, task_staging_dir

        ti = context["ti"]
        directory = task_staging_dir(
            self.staging_root or default_staging_root(),
            dag_id=ti.dag_id,
            run_id=ti.run_id,
            task_id=f"{ti.task_id}.rejected",
            map_index=ti.map_index if ti.map_index is not None else -1,
        )
        writer = StagedWriter(directory)
        writer.write(
            {
                "record": _json_safe(item.record),
                "record_key": item.error.record_key,
                "reason": item.error.reason,
                "message": item.error.message,
            }
            for item in rejected
        )
        return writer.close().path


def _json_safe(record: Any) -> Any:
    # A record rejected for holding NaN or a set must still be staged, so keep its repr instead.
    try:
        return json.loads(json.dumps(record, allow_nan=False))
    except (TypeError, ValueError):
        return repr(record)
