"""``ApiExtractOperator``: a paginated API resource into staged JSON Lines files."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from reliable_api.defaults import STATE_CONN_ID
from reliable_api.exceptions import RateLimited
from reliable_api.operators.base import ReliableOperator

if TYPE_CHECKING:
    from airflow.sdk import Context, ObjectStoragePath

    from reliable_api.hooks.http import ReliableHttpHook
    from reliable_api.http.pagination import Paginator
    from reliable_api.monitoring.recorder import RecordedRun
    from reliable_api.staging.files import StagedWriter

#: Written next to the staged parts after every flush: where a retry or a deferral resumes.
CHECKPOINT = "_checkpoint.json"
#: A long walk logs its progress this often, so its log never goes silent for minutes.
PROGRESS_SECONDS = 30.0


class ApiExtractOperator(ReliableOperator):
    """Extract every page of an API resource into staged files; XCom gets the path and counts.

    Requests go through :class:`~reliable_api.hooks.http.ReliableHttpHook` (shared rate limit,
    retries, taxonomy errors). Records are staged as gzip JSON Lines parts under
    ``<staging_root>/<dag_id>/<run_id>/<task_id>/``. After each flushed part the walk's position
    is checkpointed there, so a task that defers (a wait longer than the connection's
    ``defer_after``: it frees the worker slot and the triggerer wakes it) or fails and retries
    resumes after the last staged page instead of starting over. A run that finished starts over
    when it is run again.

    :param http_conn_id: the ``reliable_http`` connection (templated).
    :param endpoint: the resource path, e.g. ``/v1/contacts``.
    :param paginator: how the API pages (see :mod:`reliable_api.http.pagination`).
    :param query: query parameters of the first request (templated). Not ``params``: that name
        is every operator's DAG params.
    :param records_path: dotted path of the records in a page's body; ``None`` for the body.
    :param incremental_param: the API's "changed since" parameter, e.g. ``updated_since``.
    :param since: its value (templated), e.g. ``"{{ data_interval_start | ts }}"``; no value
        (or an empty one) extracts everything.
    :param staging_root: where staged files go (``file://``, ``s3://`` ...); default
        ``file://$AIRFLOW_HOME/reliable_api/staging``.
    :param part_size: records per staged part (a part ends at a page boundary).
    :param limit_key: the connection's limit that these requests count against.
    :param max_pages: a guard against an API that never ends.
    :param integration: the name its run metrics are filed under (templated); default the task's
        or DAG's ``params["integration"]``, else the connection id.
    :param state_conn_id: the state DB connection of the run metrics (templated).
    """

    template_fields: Sequence[str] = (
        *ReliableOperator.template_fields,
        "http_conn_id",
        "endpoint",
        "query",
        "since",
        "staging_root",
    )
    ui_color = "#e8f4fd"

    def __init__(
        self,
        *,
        http_conn_id: str,
        endpoint: str,
        paginator: Paginator,
        query: Mapping[str, Any] | None = None,
        records_path: str | None = "data",
        incremental_param: str | None = None,
        since: str | None = None,
        staging_root: str | None = None,
        part_size: int = 50_000,
        limit_key: str = "default",
        max_pages: int = 100_000,
        integration: str | None = None,
        state_conn_id: str = STATE_CONN_ID,
        **kwargs: Any,
    ) -> None:
        super().__init__(integration=integration, state_conn_id=state_conn_id, **kwargs)
        self.http_conn_id = http_conn_id
        self.endpoint = endpoint
        self.paginator = paginator
        self.query = dict(query or {})
        self.records_path = records_path
        self.incremental_param = incremental_param
        self.since = since
        self.staging_root = staging_root
        self.part_size = part_size
        self.limit_key = limit_key
        self.max_pages = max_pages

    def default_integration(self) -> str:
        """Without a name, the metrics are filed under the connection id."""
        return self.http_conn_id

    def execute(self, context: Context) -> dict[str, Any]:
        """Start the walk, or resume it when an earlier try of this run staged pages."""
        directory = self._directory(context)
        checkpoint = _read_json(directory / CHECKPOINT)
        resumable = checkpoint is not None and not checkpoint.get("complete")
        with self.recorded(context) as run:
            return self._walk(directory, checkpoint if resumable else None, run)

    def resume(self, context: Context, event: Any = None) -> dict[str, Any]:
        """Continue after a deferral, from the checkpoint written before deferring."""
        directory = self._directory(context)
        with self.recorded(context) as run:
            return self._walk(directory, _read_json(directory / CHECKPOINT), run)

    def _walk(
        self, directory: ObjectStoragePath, checkpoint: dict[str, Any] | None, run: RecordedRun
    ) -> dict[str, Any]:
        from reliable_api.hooks.http import ReliableHttpHook
        from reliable_api.operators.lineage import api_dataset, staged_dataset
        from reliable_api.staging.files import StagedBatch, StagedWriter

        hook = ReliableHttpHook(method="GET", http_conn_id=self.http_conn_id, limit_key=self.limit_key)
        run.watch(hook)
        # Parts end at page boundaries, so that a checkpoint never splits a page. A try killed
        # between a part and its checkpoint staged pages the checkpoint does not know: resume
        # after the checkpoint's own parts, and the walk fetches those pages again.
        staged = checkpoint.get("staged") if checkpoint else None
        resume = StagedBatch.from_xcom(staged) if staged else checkpoint is not None
        writer = StagedWriter(directory, part_size=self.part_size, resume=resume, autoflush=False)
        totals = dict(checkpoint["totals"]) if checkpoint else {"pages": 0, "requests": 0, "rate_limited": 0}
        state = checkpoint["state"] if checkpoint else None
        pages = hook.paginate(
            self.endpoint,
            self.paginator,
            params=self._first_params(),
            records_path=self.records_path,
            state=state,
        )
        reported = time.monotonic()
        try:
            for page in pages:
                writer.write(page.records)
                totals["pages"] += 1
                state = page.state
                if time.monotonic() - reported >= PROGRESS_SECONDS:
                    reported = time.monotonic()
                    waited = hook.counters.throttled_seconds
                    self.log.info(
                        "%d pages so far; %.1f s waited for the rate limit", totals["pages"], waited
                    )
                if writer.buffered >= self.part_size:
                    self._checkpoint(directory, writer, state, totals, hook)
        except RateLimited as wait:
            self._checkpoint(directory, writer, state, totals, hook)
            self.defer_on_long_wait(wait, hook.settings.defer_after)  # a short one fails this try
        batch = writer.close()
        self.record_lineage([api_dataset(hook.client.base_url, self.endpoint)], [staged_dataset(batch.path)])
        summary = {**batch.to_xcom(), **_add_counters(totals, hook)}
        run.measure(records_out=batch.records, records_written=batch.records)
        run.add_details({"pages": totals["pages"]})
        _write_json(directory / CHECKPOINT, {"complete": True, "state": state, "totals": summary})
        self.log.info("Staged %d records from %d pages at %s", batch.records, totals["pages"], batch.path)
        return summary

    def _first_params(self) -> dict[str, str]:
        params = {key: str(value) for key, value in self.query.items()}
        if self.incremental_param and self.since:
            params[self.incremental_param] = str(self.since)
        return params

    def _checkpoint(
        self,
        directory: ObjectStoragePath,
        writer: StagedWriter,
        state: dict[str, Any] | None,
        totals: dict[str, Any],
        hook: ReliableHttpHook,
    ) -> None:
        writer.flush()  # the checkpoint must never point past what is durable
        progress = {"state": state, "totals": _add_counters(totals, hook), "staged": writer.batch.to_xcom()}
        _write_json(directory / CHECKPOINT, progress)

    def _directory(self, context: Context) -> ObjectStoragePath:
        from reliable_api.staging.files import task_instance_dir

        return task_instance_dir(context["ti"], self.staging_root)


def _add_counters(totals: Mapping[str, Any], hook: ReliableHttpHook) -> dict[str, Any]:
    """``totals`` of earlier tries plus what ``hook`` did in this one."""
    counters = hook.counters
    return {
        **totals,
        "requests": totals.get("requests", 0) + counters.requests,
        "rate_limited": totals.get("rate_limited", 0) + counters.rate_limited,
        "retries": totals.get("retries", 0) + counters.retries,
        "throttled_seconds": round(totals.get("throttled_seconds", 0.0) + counters.throttled_seconds, 3),
    }


def _read_json(path: ObjectStoragePath) -> dict[str, Any] | None:
    return json.loads(path.read_text()) if path.exists() else None


def _write_json(path: ObjectStoragePath, value: Mapping[str, Any]) -> None:
    from reliable_api.staging.files import write_whole

    write_whole(path, json.dumps(value))
