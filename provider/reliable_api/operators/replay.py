"""``ReplayDeadLettersOperator``: dead letters back into their integration's load path."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from reliable_api.defaults import STATE_CONN_ID
from reliable_api.exceptions import ConfigurationError
from reliable_api.operators.base import ReliableOperator

if TYPE_CHECKING:
    from airflow.sdk import Context


class ReplayDeadLettersOperator(ReliableOperator):
    """Stage the open dead letters of an integration as the input of its load tasks.

    Put it where the extract would be and hand its output to the same validation and upsert
    tasks (see :mod:`reliable_api.deadletter.replay`): the entries are marked ``replayed``; a
    record that fails again re-opens its entry (attempts + 1); when the upsert task succeeds, the
    entries that came through are ``resolved``. Fields stored redacted are left out of the
    replayed records (their value was never kept).

    :param integration: whose dead letters (the name the load tasks file them under; templated).
    :param ids: only these entries (templated; a list or ``"1,2,3"``, e.g. from
        ``dag_run.conf``); default every open entry of the integration, and those a replay that
        did not finish left ``replayed``.
    :param state_conn_id: the state DB connection (templated); without it, SQLite under
        ``$AIRFLOW_HOME`` on a single-machine executor.
    :param staging_root: where the batch is staged (default under ``$AIRFLOW_HOME``).
    :param limit: the most entries one run replays.
    """

    template_fields: Sequence[str] = (*ReliableOperator.template_fields, "ids", "staging_root")
    ui_color = "#fdf3e8"

    def __init__(
        self,
        *,
        integration: str,
        ids: Sequence[int] | str = (),
        state_conn_id: str = STATE_CONN_ID,
        staging_root: str | None = None,
        limit: int = 100_000,
        **kwargs: Any,
    ) -> None:
        super().__init__(integration=integration, state_conn_id=state_conn_id, **kwargs)
        self.ids = ids
        self.staging_root = staging_root
        self.limit = limit

    def execute(self, context: Context) -> dict[str, Any]:
        """Stage the entries; return the batch's XCom dict (with the replay id) for the load."""
        from reliable_api.deadletter.queue import DeadLetterQueue
        from reliable_api.deadletter.replay import stage_replay
        from reliable_api.staging.files import task_instance_dir
        from reliable_api.state.engine import state_engine

        ti = context["ti"]
        integration = self.integration_name(context)
        with self.recorded(context) as run:
            batch = stage_replay(
                DeadLetterQueue(state_engine(self.state_conn_id)),
                integration=integration,
                directory=task_instance_dir(ti, self.staging_root),
                replay_id=f"replay:{ti.dag_id}/{ti.run_id}",
                ids=parse_ids(self.ids),
                limit=self.limit,
            )
            run.measure(records_in=batch.entries, records_out=batch.entries, records_written=batch.entries)
        for entry_id, fields in batch.without_fields.items():
            self.log.warning("Dead letter %s is replayed without its redacted fields %s", entry_id, fields)
        if batch.without_payload:
            self.log.warning("Dead letters without a payload cannot be replayed: %s", batch.without_payload)
        self.log.info("Replaying %d dead letters of %s", batch.entries, integration)
        return batch.to_xcom()


def parse_ids(ids: Sequence[int] | str) -> list[int]:
    """Entry ids from a list or a comma-separated string (a rendered template).

    :raises ConfigurationError: naming the first value that is not an integer id.
    """
    values: Sequence[Any] = ids.replace("[", "").replace("]", "").split(",") if isinstance(ids, str) else ids
    parsed = []
    for value in values:
        text = str(value).strip()
        if not text:
            continue
        try:
            parsed.append(int(text))
        except ValueError:
            raise ConfigurationError(f"dead-letter ids must be integers, got {text!r}") from None
    return parsed
