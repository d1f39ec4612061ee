"""What an alert says, built from the Airflow context of a failure.

An :class:`Alert` names the integration, DAG, task, run and try that failed, the error's class in
the provider's taxonomy and its message (truncated, secrets redacted), how many requests were
attempted, how many records the run dead-lettered, and links to the run and to the DLQ page.

Light on purpose: DAG files import the callback factories, which import this module.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlencode

from reliable_api.core.redaction import redact_url
from reliable_api.exceptions import PermanentError, TransientError, truncate_body

#: Where the provider's plugin serves the dead-letter queue browser, under Airflow's base URL.
DLQ_PAGE_PATH = "/reliable-api/dlq"
#: Airflow's own default for ``[api] base_url`` when the deployment sets none.
DEFAULT_BASE_URL = "http://localhost:8080/"
#: How much of an error message an alert carries: enough to act on, not a whole HTML page.
MAX_MESSAGE_CHARS = 4000
#: The params key naming a task's integration when its operator has no ``integration`` attribute.
INTEGRATION_PARAM = "integration"

#: Why an alert was raised.
KINDS = (
    "task_failure",
    "task_retry",
    "dag_failure",
    "deadline_missed",
    "records_dead_lettered",
    "circuit_opened",
    "circuit_closed",
    "quota_exhausted",
)

_URL = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]{0,31}://[^\s\"'<>]+")  # bounded: linear on long text


@dataclass(frozen=True)
class Alert:
    """One failure, as every notifier tells it; JSON-safe through :meth:`as_json`.

    :param kind: one of :data:`KINDS`.
    :param error_kind: ``"transient"``, ``"permanent"`` (the taxonomy's two branches) or
        ``"other"`` for an error from outside the provider.
    :param attempts: requests sent before the error was raised, when the error says.
    :param dead_lettered: records dead-lettered in this run; ``None`` when the state DB could not
        be read.
    :param suppressed: identical alerts grouped into this one since ``suppressed_since``.
    """

    kind: str
    dag_id: str | None
    task_id: str | None = None
    run_id: str | None = None
    try_number: int | None = None
    max_tries: int | None = None
    integration: str | None = None
    error_class: str | None = None
    error_kind: str | None = None
    message: str = ""
    attempts: int | None = None
    dead_lettered: int | None = None
    run_url: str | None = None
    dlq_url: str | None = None
    suppressed: int = 0
    suppressed_since: datetime | None = None

    @property
    def title(self) -> str:
        """One line: what happened where, e.g. ``Task failed: crm_sync.load (ServerError)``."""
        what = {
            "task_failure": "Task failed",
            "task_retry": "Task up for retry",
            "dag_failure": "DAG run failed",
            "deadline_missed": "DAG run missed its deadline",
            "records_dead_lettered": "Records dead-lettered",
            "circuit_opened": "Circuit breaker opened",
            "circuit_closed": "Circuit breaker closed",
            "quota_exhausted": "Quota spent",
        }[self.kind]
        where = (
            ".".join(part for part in (self.dag_id, self.task_id) if part)
            or self.integration
            or "unknown DAG"
        )
        return f"{what}: {where}" + (f" ({self.error_class})" if self.error_class else "")

    @property
    def storm_key(self) -> tuple[str, str, str]:
        """What makes two alerts identical for grouping: DAG, task and error class."""
        return (self.dag_id or "", self.task_id or "", self.error_class or self.kind)

    @property
    def grouping_note(self) -> str | None:
        """``"N more since <time>"`` when identical alerts were held back, else ``None``."""
        if not self.suppressed:
            return None
        since = f" since {self.suppressed_since:%Y-%m-%d %H:%M:%S %Z}" if self.suppressed_since else ""
        return f"{self.suppressed} more identical alert{'s' if self.suppressed != 1 else ''}{since}"

    def grouped(self, suppressed: int, since: datetime | None) -> Alert:
        """A copy saying that ``suppressed`` identical alerts were held back since ``since``."""
        return replace(self, suppressed=suppressed, suppressed_since=since)

    def as_json(self) -> dict[str, Any]:
        """Every field and the title, JSON-safe (datetimes in ISO 8601)."""
        data = asdict(self)
        data["title"] = self.title
        data["grouping_note"] = self.grouping_note
        if self.suppressed_since is not None:
            data["suppressed_since"] = self.suppressed_since.isoformat()
        return data


def alert_from_context(
    context: Mapping[str, Any],
    kind: str,
    *,
    exception: BaseException | str | None = None,
) -> Alert:
    """The alert for the failure ``context`` describes.

    Reads a task callback's context (``ti``, ``task``, ``exception``), a DAG callback's (``dag``,
    ``run_id``, ``reason``, and ``ti`` of the last task when Airflow has it) and a Deadline
    Alert's (``dag_run`` as JSON, ``deadline``).

    :param kind: one of :data:`KINDS`.
    :param exception: the error, when not in the context (``context["exception"]``).
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
    ti = context.get("ti") or context.get("task_instance")
    dag_run = context.get("dag_run")
    dag = context.get("dag")
    dag_id = _first(getattr(ti, "dag_id", None), getattr(dag, "dag_id", None), _get(dag_run, "dag_id"))
    run_id = _first(getattr(ti, "run_id", None), context.get("run_id"), _get(dag_run, "run_id", "dag_run_id"))
    error = exception if exception is not None else context.get("exception")
    if error is None and kind == "deadline_missed":
        deadline = context.get("deadline") or {}
        error = f"the run did not finish by its deadline {deadline.get('deadline_time', '')}".strip()
    elif error is None:
        error = context.get("reason")
    integration = integration_of(context)
    task_level = kind in ("task_failure", "task_retry", "records_dead_lettered")
    base_url = airflow_base_url()
    return Alert(
        kind=kind,
        dag_id=dag_id,
        task_id=getattr(ti, "task_id", None) if task_level else None,
        run_id=run_id,
        try_number=getattr(ti, "try_number", None) if task_level else None,
        max_tries=getattr(ti, "max_tries", None) if task_level else None,
        integration=integration,
        error_class=type(error).__name__ if isinstance(error, BaseException) else None,
        error_kind=_error_kind(error),
        message=safe_message(error),
        attempts=getattr(error, "attempts", None),
        run_url=run_url(base_url, dag_id, run_id) if dag_id and run_id else None,
        dlq_url=dlq_url(base_url, integration) if integration else None,
    )


def integration_of(context: Mapping[str, Any]) -> str | None:
    """The integration a failure belongs to.

    The operator's ``integration`` attribute wins (every operator of the provider has one); else
    ``params["integration"]`` of the task or DAG, so that any task can name its integration.
    """
    task = context.get("task")
    value = getattr(task, "integration", None)
    if isinstance(value, str) and value:
        return value
    params = context.get("params") or {}
    value = params.get(INTEGRATION_PARAM) if isinstance(params, Mapping) else None
    return value if isinstance(value, str) and value else None


def airflow_base_url() -> str:
    """Airflow's ``[api] base_url``, with Airflow's own default when unset."""
    try:
        from airflow.sdk.configuration import conf
    except ImportError:  # Airflow 3.1: the Task SDK has no configuration module yet
        from airflow.configuration import conf

    return str(conf.get("api", "base_url", fallback=DEFAULT_BASE_URL) or DEFAULT_BASE_URL)


def run_url(base_url: str, dag_id: str, run_id: str) -> str:
    """The run's page in the Airflow 3 UI: ``{base}/dags/{dag_id}/runs/{run_id}``."""
    return f"{base_url.rstrip('/')}/dags/{quote(dag_id)}/runs/{quote(run_id)}"


def dlq_url(base_url: str, integration: str) -> str:
    """The DLQ browser filtered to ``integration``: ``{base}/reliable-api/dlq?integration=...``."""
    return f"{base_url.rstrip('/')}{DLQ_PAGE_PATH}?{urlencode({'integration': integration})}"


def safe_message(error: BaseException | str | None, limit: int = MAX_MESSAGE_CHARS) -> str:
    """``error``'s text, truncated, with URLs redacted and the secrets Airflow masks replaced."""
    if error is None:
        return ""
    text = str(error) or type(error).__name__
    text = _URL.sub(lambda match: redact_url(match.group(0)), text)
    text = _masked(text)
    return truncate_body(text, limit) or ""


def _masked(text: str) -> str:
    # Airflow's masker knows the passwords and sensitive extras of every connection this process
    # has read; outside a task it knows nothing and returns the text as it is.
    from airflow.sdk._shared.secrets_masker import redact

    return str(redact(text))


def _error_kind(error: object) -> str | None:
    if isinstance(error, TransientError):
        return "transient"
    if isinstance(error, PermanentError):
        return "permanent"
    return "other" if isinstance(error, BaseException) else None


def _get(mapping: object, *names: str) -> str | None:
    if not isinstance(mapping, Mapping):
        return getattr(mapping, names[0], None) if mapping is not None else None
    return _first(*(mapping.get(name) for name in names))


def _first(*values: object) -> str | None:
    return next((str(value) for value in values if value), None)
