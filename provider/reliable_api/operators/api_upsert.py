"""``ApiUpsertOperator``: staged records into an API, each created once, changed ones updated."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from reliable_api.defaults import STATE_CONN_ID
from reliable_api.exceptions import RateLimited
from reliable_api.operators.assets import api_asset, is_templated
from reliable_api.operators.base import DEFAULT_MAX_FAILURE_RATIO, ReliableOperator, checked_ratio

if TYPE_CHECKING:
    from airflow.sdk import Context

    from reliable_api.idempotency.api_upsert import ApiResource
    from reliable_api.idempotency.reconcile import Reconciliation


class ApiUpsertOperator(ReliableOperator):
    """Upsert staged records into an API resource without ever creating one twice.

    Every record goes through the ledger in the state DB (see
    :mod:`reliable_api.idempotency.api_upsert`): unchanged records send no request, changed ones
    are updated, new ones are created under a pending intent with a deterministic
    ``Idempotency-Key`` (in batches, when the resource has a ``batch_create_path``). Records the
    API rejects are dead-lettered into the state DB and the task goes on, unless more than
    ``max_failure_ratio`` of them fail. A wait longer than the
    connection's ``defer_after`` defers the task; it resumes by running again, and the ledger,
    which is the checkpoint, skips what was written. XCom gets the counts of the last run. Given
    the output of a :class:`~reliable_api.operators.replay.ReplayDeadLettersOperator` (directly
    or through validation), it resolves the replayed dead letters that came through.

    :param http_conn_id: the ``reliable_http`` connection of the API (templated).
    :param resource: how the API creates, updates and finds the records.
    :param records: the staged batch (templated): the XCom dict of an extract task, its
        directory, or a list of records.
    :param integration: the name of the ledger and dead letters, e.g. ``"crm_contacts"``; keep
        it stable: a new name forgets what was written.
    :param state_conn_id: the state DB connection; without it, SQLite under ``$AIRFLOW_HOME``.
    :param max_failure_ratio: the dead-lettered share above which the task fails.
    :param redact: payload fields stored in dead letters as salted hashes only.
    :param limit_key: the connection's limit that these requests count against.
    :param reconcile: check ledger entries against the API before skipping them (templated):
        ``"sample"``, ``"full"``, a dict or a
        :class:`~reliable_api.idempotency.reconcile.Reconciliation`; default off. Its ``policy``
        also decides what an update answered 404 does (default: create the record again).
    :param target_asset: declare the resource as an outlet Asset
        (:func:`~reliable_api.operators.assets.api_asset`) when ``http_conn_id`` is not templated.
    """

    template_fields: Sequence[str] = (
        *ReliableOperator.template_fields,
        "http_conn_id",
        "records",
        "reconcile",
    )
    integration: str  # required here: the ledger's name
    ui_color = "#e8fde9"

    def __init__(
        self,
        *,
        http_conn_id: str,
        resource: ApiResource,
        records: Mapping[str, Any] | str | list[Mapping[str, Any]],
        integration: str,
        state_conn_id: str = STATE_CONN_ID,
        max_failure_ratio: float = DEFAULT_MAX_FAILURE_RATIO,
        redact: Collection[str] = (),
        limit_key: str = "default",
        reconcile: Reconciliation | Mapping[str, Any] | str | None = None,
        target_asset: bool = True,
        **kwargs: Any,
    ) -> None:
        from reliable_api.idempotency.reconcile import Reconciliation

        super().__init__(integration=integration, state_conn_id=state_conn_id, **kwargs)
        if not isinstance(reconcile, str):  # a template is checked once rendered
            Reconciliation.of(reconcile)
        self.http_conn_id = http_conn_id
        self.resource = resource
        self.records = records
        self.max_failure_ratio = checked_ratio(max_failure_ratio)
        self.redact = tuple(redact)
        self.limit_key = limit_key
        self.reconcile = reconcile
        if target_asset and not is_templated(http_conn_id):
            self.declare_target(api_asset(http_conn_id, resource.create_path))

    def execute(self, context: Context) -> dict[str, int]:
        """Upsert every record; resumes where an earlier try or a deferral stopped."""
        from reliable_api.deadletter.queue import DeadLetterQueue
        from reliable_api.deadletter.replay import settle_replay
        from reliable_api.deadletter.store import DeadLetterStore
        from reliable_api.hooks.http import ReliableHttpHook
        from reliable_api.idempotency.api_upsert import ApiUpserter
        from reliable_api.idempotency.ledger import Ledger
        from reliable_api.idempotency.reconcile import Reconciler, Reconciliation
        from reliable_api.operators.lineage import api_dataset, staged_dataset
        from reliable_api.state.engine import state_engine
        from reliable_api.state.task import TaskIdentity

        with self.recorded(context) as run:
            task = TaskIdentity.from_context(context)
            engine = state_engine(self.state_conn_id)
            store = DeadLetterStore(engine, redact=self.redact)
            hook = ReliableHttpHook(http_conn_id=self.http_conn_id, limit_key=self.limit_key)
            run.watch(hook)
            ledger = Ledger(engine, self.integration, owner=task.instance)
            settings = Reconciliation.of(self.reconcile)
            reconciler = Reconciler(hook, self.resource, ledger, settings, salt=str(task.run_id))
            upserter = ApiUpserter(
                hook,
                self.resource,
                ledger,
                lambda key, payload, error: store.add(self.integration, key, payload, error, task),
                max_failure_ratio=self.max_failure_ratio,
                reconciler=reconciler,
            )
            try:
                counts = {**upserter.run(self._records()).to_dict(), **reconciler.counts.to_dict()}
            except RateLimited as wait:  # the ledger keeps what was written
                self.defer_on_long_wait(wait, hook.settings.defer_after)
            run.add_details(counts)
            run.measure(**upsert_volume(counts))
            self.record_lineage(
                [staged_dataset(self.records)], [api_dataset(hook.client.base_url, self.resource.create_path)]
            )
        self.log.info("Upserted into %s: %s", self.integration, counts)
        counts["replay_resolved"] = settle_replay(DeadLetterQueue(engine), self.records)
        return counts

    def resume(self, context: Context, event: Any = None) -> dict[str, int]:
        """Continue after a deferral: run again; the ledger skips what was written."""
        return self.execute(context)

    def _records(self) -> Iterable[Mapping[str, Any]]:
        from reliable_api.staging.files import read_records

        if isinstance(self.records, list):
            return self.records
        return read_records(self.records)


def upsert_volume(counts: Mapping[str, int]) -> dict[str, int]:
    """The run-metrics volume of :class:`~reliable_api.idempotency.api_upsert.UpsertCounts`."""
    written = counts["created"] + counts["updated"] + counts["adopted"]
    skipped = counts["unchanged"] + counts["duplicates_in_batch"]
    return {
        "records_in": written + skipped + counts["dead_lettered"],
        "records_out": written + counts["unchanged"],
        "records_written": written,
        "records_skipped": skipped,
        "dead_lettered": counts["dead_lettered"],
    }
