"""``DbUpsertOperator``: staged records into a database table, writing only what changed."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from reliable_api.defaults import STATE_CONN_ID
from reliable_api.operators.assets import is_templated, table_asset
from reliable_api.operators.base import (
    DEFAULT_MAX_FAILURE_RATIO,
    ReliableOperator,
    checked_ratio,
    renamed_argument,
)

if TYPE_CHECKING:
    from airflow.sdk import Context
    from sqlalchemy import Engine

    from reliable_api.idempotency.db_upsert import Rejection
    from reliable_api.state.task import TaskIdentity


class DbUpsertOperator(ReliableOperator):
    """Upsert staged records into a table of any Airflow SQL connection (Postgres, SQLite, MySQL).

    The connection's hook (``BaseHook.get_connection(conn_id).get_hook()``, a common-sql
    ``DbApiHook``) gives the SQLAlchemy engine; the upsert itself is
    :func:`~reliable_api.idempotency.db_upsert.upsert_staged`: the staged JSON Lines go to the
    database as they are and the database extracts, casts and compares them, in batches, writing
    only new rows and rows whose values changed, so a re-run with the same input writes nothing.
    Records it refuses (no key, a field the table has no column for, a value the database refuses,
    a key repeated with other values) go to the dead-letter queue in the state DB with their
    reason and, for a refused value, the column; the rest loads, and the task goes on unless more
    than ``max_failure_ratio`` of the records were refused. Given the output of a
    :class:`~reliable_api.operators.replay.ReplayDeadLettersOperator` (directly or through
    validation), it resolves the replayed dead letters that came through.

    :param conn_id: the Airflow connection of the target database (templated).
    :param table: the target table (templated).
    :param key: its key columns; a primary key or unique constraint must cover exactly them.
    :param records: the staged batch (templated): an upstream task's XCom dict (e.g.
        ``extract.output``) or the batch directory. ``staged=`` is its deprecated old name.
    :param schema: the table's schema (templated).
    :param columns: the non-key columns to write; default every column of the table.
    :param create: a declared schema (column -> ``text``, ``integer``, ``bigint``, ``numeric``,
        ``boolean``, ``timestamp``, ``date`` or ``json``) to create the table when it is missing.
    :param batch_size: records per merge transaction.
    :param integration: the name its dead letters and run metrics are filed under; default the
        table's name.
    :param state_conn_id: the state DB connection; without it, SQLite under ``$AIRFLOW_HOME``.
    :param redact: fields of rejected records stored in dead letters as salted hashes only.
    :param max_failure_ratio: fail the task when more than this share of records is rejected.
    :param target_asset: declare the table as an outlet Asset
        (:func:`~reliable_api.operators.assets.table_asset`) when ``conn_id``, ``table`` and
        ``schema`` are not templated.
    """

    template_fields: Sequence[str] = (
        *ReliableOperator.template_fields,
        "conn_id",
        "table",
        "records",
        "schema",
    )
    ui_color = "#eaf7ea"

    def __init__(
        self,
        *,
        conn_id: str,
        table: str,
        key: Sequence[str],
        records: Mapping[str, Any] | str | None = None,
        schema: str | None = None,
        columns: Sequence[str] | None = None,
        create: Mapping[str, str] | None = None,
        batch_size: int = 50_000,
        integration: str | None = None,
        state_conn_id: str = STATE_CONN_ID,
        redact: Collection[str] = (),
        max_failure_ratio: float = DEFAULT_MAX_FAILURE_RATIO,
        target_asset: bool = True,
        **kwargs: Any,
    ) -> None:
        records = renamed_argument(kwargs, "staged", "records", records, "DbUpsertOperator")
        if records is None:
            raise TypeError("DbUpsertOperator needs records= (the staged batch)")
        super().__init__(integration=integration, state_conn_id=state_conn_id, **kwargs)
        self.conn_id = conn_id
        self.table = table
        self.key = list(key)
        self.records: Mapping[str, Any] | str = records
        self.schema = schema
        self.columns = list(columns) if columns is not None else None
        self.create = dict(create) if create is not None else None
        self.batch_size = batch_size
        self.redact = tuple(redact)
        self.max_failure_ratio = checked_ratio(max_failure_ratio)
        if target_asset and not is_templated(conn_id, table, schema):
            self.declare_target(table_asset(conn_id, table, schema))

    def default_integration(self) -> str:
        """Without a name, dead letters and metrics are filed under the table's."""
        return self.table

    def execute(self, context: Context) -> dict[str, Any]:
        """Upsert the staged records; dead-letter the rejected ones; return the counts."""
        from airflow.sdk import BaseHook

        from reliable_api.deadletter.queue import DeadLetterQueue
        from reliable_api.deadletter.replay import settle_replay
        from reliable_api.idempotency.db_upsert import upsert_staged
        from reliable_api.operators.base import enforce_failure_budget
        from reliable_api.operators.lineage import staged_dataset, table_dataset
        from reliable_api.state.engine import state_engine
        from reliable_api.state.task import TaskIdentity

        with self.recorded(context) as run:
            connection: Any = BaseHook.get_connection(self.conn_id)  # get_hook() is untyped in Airflow
            engine = connection.get_hook().get_sqlalchemy_engine()
            target = table_dataset(engine.url.render_as_string(), self.table, self.schema)
            self.record_lineage([staged_dataset(self.records)], [target])
            try:
                result = upsert_staged(
                    engine,
                    self.table,
                    self.records,
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
            run.add_details(summary)
            run.measure(
                records_in=summary["records"],
                records_out=result.inserted + result.updated + result.unchanged,
                records_written=result.inserted + result.updated,
                records_skipped=result.unchanged + result.duplicates,
                dead_lettered=len(result.rejected),
            )
            task = TaskIdentity.from_context(context)
            state = state_engine(self.state_conn_id)
            self._dead_letter(state, result.rejected, task, self.integration_name(context))
            self.log.info("Upserted into %s: %s", self.table, summary)
            enforce_failure_budget(len(result.rejected), summary["records"], self.max_failure_ratio)
        summary["replay_resolved"] = settle_replay(DeadLetterQueue(state), self.records)
        return summary

    def _dead_letter(
        self, state: Engine, rejected: Sequence[Rejection], task: TaskIdentity, integration: str
    ) -> None:
        from reliable_api.deadletter.keys import dead_letter_key
        from reliable_api.deadletter.store import DeadLetterStore

        failures = [
            (
                dead_letter_key(item.error.record_key, item.record),
                item.record if isinstance(item.record, Mapping) else {"record": repr(item.record)},
                item.error,
            )
            for item in rejected
        ]
        DeadLetterStore(state, redact=self.redact).add_many(integration, failures, task)
