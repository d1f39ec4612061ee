"""CRM contacts into the warehouse, and the replay of their dead letters: two DAGs, one load path.

``crm_contacts_sync``: ``extract`` pages through the CRM's contacts changed since the last
successful run (its watermark: that run's start, less a margin for clock skew; the first run reads
everything) under the connection's shared rate limit (deferring long waits to the triggerer) into
staged files; ``validate`` normalizes them with the contacts contract and checks its Great
Expectations suite, dead-lettering bad rows with their reasons; ``load_warehouse`` upserts the
good ones by ``id``, writing only what changed, and updates the table's Asset.

``crm_contacts_report``: runs whenever ``load_warehouse`` updated the table (scheduled on its Asset).

``crm_contacts_replay``: trigger it once the cause is fixed (a contract change, a corrected record,
the API's fault gone); ``{"ids": "3,5,8"}`` as the run's conf replays only those entries. It
sends the dead letters through the same validation and load, so records that come through are
resolved and those that fail again stay open with one more attempt.

Every failure alerts (``reliable_api_alerts``), a task that dead-letters records too, and so does
a sync still not done 45 minutes after it was queued (a Deadline Alert). Each task takes a slot
of its API's pool (``dags/pools.json``), so the deployment's tasks never crowd one API.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import DAG, XComArg, task

from reliable_api import (
    ApiExtractOperator,
    DbUpsertOperator,
    PageNumberPaginator,
    ReplayDeadLettersOperator,
    ValidateRecordsOperator,
    WebhookNotifier,
    deadline_alert,
    table_asset,
    task_alert_callbacks,
)

#: The CRM's ``reliable_http`` connection (the sandbox API in the demo).
CRM_CONN_ID = "reliable_api_sandbox"
#: Any Airflow SQL connection: the table the contacts land in (SQLite in the demo).
WAREHOUSE_CONN_ID = "reliable_api_warehouse"
#: Where alerts go: a Slack incoming webhook, or the sandbox's webhook sink in the demo.
ALERTS_CONN_ID = "reliable_api_alerts"
#: The name of the dead letters, run metrics and ledger of this integration.
INTEGRATION = "crm_contacts"
#: The sandbox's data is deliberately messy (about a fifth of the contacts are bad): a real
#: integration would keep the 5% default and fix its source.
MAX_REJECTED_SHARE = 0.35
#: The table the contacts land in, and the Asset downstream DAGs are scheduled on.
TABLE = "crm_contacts"
#: The watermark: contacts changed since the last successful run started (less 10 minutes for the
#: clocks of Airflow and the API to differ; the upsert makes the overlap free). Empty on the first
#: run: everything. Airflow keeps it: a failed run does not move it, so nothing is skipped.
CHANGED_SINCE = (
    "{{ (prev_start_date_success - macros.timedelta(minutes=10)) | ts if prev_start_date_success else '' }}"
)

ALERTS = WebhookNotifier(webhook_conn_id=ALERTS_CONN_ID)
DEFAULT_ARGS: Mapping[str, Any] = {
    "retries": 2,
    "retry_delay": timedelta(seconds=30),
    # Alert when a task fails for good, from its second failed try, and when it dead-letters.
    **task_alert_callbacks(ALERTS, retry_from_try=2),
}
WAREHOUSE_TABLE = {
    "id": "text",
    "external_id": "text",
    "first_name": "text",
    "last_name": "text",
    "email": "text",
    "phone": "text",
    "company_id": "text",
    "birthday": "date",
    "signup_date": "date",
    "updated_at": "timestamp",
}


def validate_and_load(records: XComArg, *, max_rejected_share: float = MAX_REJECTED_SHARE) -> None:
    """Validate ``records`` against the contacts contract, then upsert the good ones by ``id``."""
    valid = ValidateRecordsOperator(
        task_id="validate",
        records=records,
        contract="contacts",
        integration=INTEGRATION,
        max_failure_ratio=max_rejected_share,
    )
    DbUpsertOperator(
        task_id="load_warehouse",
        conn_id=WAREHOUSE_CONN_ID,
        pool=WAREHOUSE_CONN_ID,
        table=TABLE,
        key=["id"],
        records=valid.output,
        create=WAREHOUSE_TABLE,
        integration=INTEGRATION,
    )


with DAG(
    "crm_contacts_sync",
    schedule="@hourly",
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    deadline=deadline_alert(timedelta(minutes=45), ALERTS),
    tags=["reliable_api", "demo", "crm"],
):
    extract = ApiExtractOperator(
        task_id="extract",
        http_conn_id=CRM_CONN_ID,
        pool=CRM_CONN_ID,
        endpoint="/v1/contacts",
        paginator=PageNumberPaginator(size=100),
        incremental_param="updated_since",
        since=CHANGED_SINCE,
        integration=INTEGRATION,
    )
    validate_and_load(extract.output)


with DAG(
    "crm_contacts_report",
    schedule=[table_asset(WAREHOUSE_CONN_ID, TABLE)],
    start_date=datetime(2026, 1, 1),
    default_args=DEFAULT_ARGS,
    tags=["reliable_api", "demo", "crm"],
):

    @task(pool=WAREHOUSE_CONN_ID)
    def count_contacts() -> dict[str, int]:
        """The warehouse's contacts after the load that triggered this run."""
        from airflow.sdk import BaseHook

        hook: Any = BaseHook.get_connection(WAREHOUSE_CONN_ID).get_hook()
        (total,) = hook.get_first(f"SELECT count(*) FROM {TABLE}")
        return {"contacts": int(total)}

    count_contacts()


with DAG(
    "crm_contacts_replay",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    default_args=DEFAULT_ARGS,
    tags=["reliable_api", "demo", "crm"],
):
    replay = ReplayDeadLettersOperator(
        task_id="replay", integration=INTEGRATION, ids="{{ dag_run.conf.get('ids', '') }}"
    )
    # A replay holds only records that failed before: a high rejected share is expected, and
    # each rejection is counted and alerted, not a reason to stop.
    validate_and_load(replay.output, max_rejected_share=1.0)
