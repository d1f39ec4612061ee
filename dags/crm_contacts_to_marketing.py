"""CRM contacts into the marketing platform's API, and the replay of what it refused.

``crm_contacts_to_marketing``: ``extract`` pages through the CRM's contacts under its connection's
shared rate limit; ``validate`` checks them against the contacts contract, dead-lettering bad
rows; ``push_marketing`` upserts the good ones into the marketing API under that API's own shared
limit. Unchanged contacts send no request, changed ones are updated, new ones are created in
batches under deterministic ``Idempotency-Key`` headers after a lookup by email: a retry, a re-run
or a crash in the middle of a batch never creates a contact twice. Contacts the API refuses are
dead-lettered; transient errors (429, 503) are retried with backoff.

``marketing_contacts_replay``: sends the integration's open dead letters (or the ``ids`` of the
run's conf) through the same validation and push.

A run still not done 2 hours after it was queued alerts (a Deadline Alert); each task takes a
slot of its API's pool (``dags/pools.json``). ``push_marketing`` updates the marketing contacts'
Asset when it succeeds.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import DAG, XComArg

from reliable_api import (
    ApiExtractOperator,
    ApiResource,
    ApiUpsertOperator,
    PageNumberPaginator,
    ReplayDeadLettersOperator,
    ValidateRecordsOperator,
    WebhookNotifier,
    deadline_alert,
    task_alert_callbacks,
)

#: The CRM's ``reliable_http`` connection (the sandbox API in the demo).
CRM_CONN_ID = "reliable_api_sandbox"
#: The marketing platform's ``reliable_http`` connection (a second sandbox in the demo).
MARKETING_CONN_ID = "reliable_api_marketing"
ALERTS = WebhookNotifier(webhook_conn_id="reliable_api_alerts")
#: The name of this integration's ledger, dead letters and run metrics.
INTEGRATION = "marketing_contacts"
#: The sandbox CRM's data is messy on purpose (see crm_contacts.py).
MAX_REJECTED_SHARE = 0.35
#: How the marketing API creates, updates and finds contacts. The CRM's own ``id`` and
#: ``updated_at`` are not content: the marketing API assigns its own.
MARKETING_CONTACTS = ApiResource(
    natural_key=("email",),
    create_path="/v1/contacts",
    update_path="/v1/contacts/{id}",
    lookup_path="/v1/contacts/search",
    batch_create_path="/v1/contacts/batch",
    ignore_fields=("id", "updated_at"),
)
DEFAULT_ARGS = {
    "retries": 2,
    "retry_delay": timedelta(seconds=30),
    # Alert when a task fails for good, from its second failed try, and when it dead-letters.
    **task_alert_callbacks(ALERTS, retry_from_try=2),
}


def validate_and_push(records: XComArg, *, max_rejected_share: float = MAX_REJECTED_SHARE) -> None:
    """Validate ``records`` against the contacts contract, then upsert the good ones by email."""
    valid = ValidateRecordsOperator(
        task_id="validate",
        records=records,
        contract="contacts",
        integration=INTEGRATION,
        max_failure_ratio=max_rejected_share,
    )
    ApiUpsertOperator(
        task_id="push_marketing",
        http_conn_id=MARKETING_CONN_ID,
        pool=MARKETING_CONN_ID,
        resource=MARKETING_CONTACTS,
        records=valid.output,
        integration=INTEGRATION,
        # Phone numbers are personal data: a refused contact's dead letter keeps only their hash.
        redact=("phone",),
    )


with DAG(
    "crm_contacts_to_marketing",
    schedule="@daily",
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    deadline=deadline_alert(timedelta(hours=2), ALERTS),
    tags=["reliable_api", "demo", "marketing"],
):
    extract = ApiExtractOperator(
        task_id="extract",
        http_conn_id=CRM_CONN_ID,
        pool=CRM_CONN_ID,
        endpoint="/v1/contacts",
        paginator=PageNumberPaginator(size=100),
        integration=INTEGRATION,
    )
    validate_and_push(extract.output)


with DAG(
    "marketing_contacts_replay",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    default_args=DEFAULT_ARGS,
    tags=["reliable_api", "demo", "marketing"],
):
    replay = ReplayDeadLettersOperator(
        task_id="replay", integration=INTEGRATION, ids="{{ dag_run.conf.get('ids', '') }}"
    )
    # Only records that failed before: a high rejected share is expected, each one is alerted.
    validate_and_push(replay.output, max_rejected_share=1.0)
