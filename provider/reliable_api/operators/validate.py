"""``ValidateRecordsOperator``: good records go on, bad ones to the dead-letter queue with reasons."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from reliable_api.defaults import STATE_CONN_ID
from reliable_api.exceptions import ConfigurationError
from reliable_api.operators.base import DEFAULT_MAX_FAILURE_RATIO, ReliableOperator, checked_ratio

if TYPE_CHECKING:
    from airflow.sdk import Context

    from reliable_api.validation.contract import Contract


class ValidateRecordsOperator(ReliableOperator):
    """Validate a staged batch against an entity's contract at an integration boundary.

    Records are normalized by the contract's normalizers (dates to ISO 8601, phones to E.164,
    emails checked, ...), then the normalized batch is checked by the contract's Great
    Expectations suite (see :mod:`reliable_api.validation.boundary`). Good records are staged as
    a new batch for the next task; rejected ones are dead-lettered with every reason. The task
    fails when more than ``max_failure_ratio`` of the records are rejected (after dead-lettering
    them) or a table-level expectation fails. XCom gets the new batch with counts per reason; the
    per-expectation summary is kept with the run's metrics for the UI. Great Expectations and
    pandas are imported only when the task runs.

    :param records: the staged batch (templated): an upstream task's XCom dict, or its directory.
    :param contract: a contract packaged with the provider by entity name (``"contacts"``), or the
        path of a contract YAML file (templated).
    :param integration: the name dead letters and metrics are filed under (templated).
    :param state_conn_id: the state DB connection (templated); without it, SQLite under
        ``$AIRFLOW_HOME`` on a single-machine executor.
    :param redact: fields of rejected records stored in dead letters as salted hashes only.
    :param max_failure_ratio: the rejected share above which the task fails.
    :param processes: 2 to normalize half of the batch in a second process.
    :param staging_root: where the good records are staged (default under ``$AIRFLOW_HOME``).
    """

    template_fields: Sequence[str] = (
        *ReliableOperator.template_fields,
        "records",
        "contract",
        "staging_root",
    )
    ui_color = "#eef3fd"

    def __init__(
        self,
        *,
        records: Mapping[str, Any] | str,
        contract: str,
        integration: str,
        state_conn_id: str = STATE_CONN_ID,
        redact: Collection[str] = (),
        max_failure_ratio: float = DEFAULT_MAX_FAILURE_RATIO,
        processes: int = 1,
        staging_root: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(integration=integration, state_conn_id=state_conn_id, **kwargs)
        self.records = records
        self.contract = contract
        self.redact = tuple(redact)
        self.max_failure_ratio = checked_ratio(max_failure_ratio)
        self.processes = processes
        self.staging_root = staging_root

    def execute(self, context: Context) -> dict[str, Any]:
        """Validate, stage the good records, dead-letter the rest; return the batch and counts."""
        require_great_expectations()
        from reliable_api.deadletter.replay import REPLAY_KEY
        from reliable_api.deadletter.store import DeadLetterStore
        from reliable_api.operators.base import enforce_failure_budget
        from reliable_api.operators.lineage import staged_dataset
        from reliable_api.staging.files import read_records
        from reliable_api.state.engine import state_engine
        from reliable_api.state.task import TaskIdentity
        from reliable_api.validation.boundary import validate_batch

        integration = self.integration_name(context)
        with self.recorded(context) as run:
            task = TaskIdentity.from_context(context)
            contract = self._contract()
            batch = validate_batch(list(read_records(self.records)), contract, processes=self.processes)
            staged = self._stage(batch.good, context)
            engine = state_engine(self.state_conn_id)
            failures = [(item.key, item.record, item.error()) for item in batch.rejected]
            DeadLetterStore(engine, redact=self.redact).add_many(integration, failures, task)
            counts = {"records": batch.total, "good": len(batch.good), "rejected": len(batch.rejected)}
            reasons = batch.reasons()
            self.record_lineage([staged_dataset(self.records)], [staged_dataset(staged)], batch.summary)
            run.add_details({**counts, "reasons": reasons, "validation": batch.summary})
            run.measure(
                records_in=batch.total,
                records_out=len(batch.good),
                records_written=len(batch.good),
                dead_lettered=len(batch.rejected),
            )
            self.log.info("Validated %s against %s: %s", integration, contract.entity, counts)
            enforce_failure_budget(len(batch.rejected), batch.total, self.max_failure_ratio)
        result = {**staged, **counts, "reasons": reasons}
        if isinstance(self.records, Mapping) and REPLAY_KEY in self.records:
            result[REPLAY_KEY] = self.records[REPLAY_KEY]  # the upsert settles the replay
        return result

    def _contract(self) -> Contract:
        from reliable_api.validation.contract import load_contract, packaged_contract

        if self.contract.endswith((".yaml", ".yml")):
            return load_contract(self.contract)
        return packaged_contract(self.contract)

    def _stage(self, good: list[dict[str, Any]], context: Context) -> dict[str, Any]:
        from reliable_api.staging.files import StagedWriter, task_instance_dir

        writer = StagedWriter(task_instance_dir(context["ti"], self.staging_root))
        writer.write(good)
        return writer.close().to_xcom()


def require_great_expectations() -> None:
    """:raises ConfigurationError: saying which extra to install when Great Expectations is missing."""
    from importlib.util import find_spec

    if find_spec("great_expectations") is None:
        raise ConfigurationError(
            "ValidateRecordsOperator needs Great Expectations: "
            "pip install 'airflow-provider-reliable-api[validation]'"
        )
