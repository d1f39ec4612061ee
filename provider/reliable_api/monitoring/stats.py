"""A task try's numbers through Airflow's own ``Stats`` facade (StatsD, Datadog or OpenTelemetry).

Names: ``reliable_api.<integration>.<measure>``: counters for the measures of
:data:`reliable_api.monitoring.runs.MEASURES` but ``throttled_seconds`` and ``deferred_seconds``
(gauges: seconds this try waited, slept or deferred), ``tries`` and ``tries_failed``, and the
timer ``duration``. Tags (``dag_id``, ``task_id``, ``outcome``) reach backends that keep them
(OpenTelemetry, InfluxDB-style StatsD). Airflow's task runner configures the backend from
``[metrics]``; unconfigured, nothing is sent.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from reliable_api.monitoring.runs import MEASURES

log = logging.getLogger(__name__)

PREFIX = "reliable_api"
#: Sent as a gauge: a float of this try, where counters take whole numbers.
GAUGES = ("throttled_seconds", "deferred_seconds")
#: What Airflow 3.2+'s ``normalize_name_for_stats`` replaces; Airflow 3.1 has no such function.
_INVALID_STAT_NAME_CHARS = re.compile(r"[^a-zA-Z0-9_.-]")


def stat_name(integration: str, measure: str) -> str:
    """``reliable_api.<integration>.<measure>``, the integration's odd characters as ``_``."""
    try:
        from airflow.sdk.observability.stats import normalize_name_for_stats
    except ImportError:  # Airflow 3.1: no Task SDK observability module; the same rule, here
        safe = _INVALID_STAT_NAME_CHARS.sub("_", integration)
    else:
        safe = normalize_name_for_stats(integration, log_warning=False)
    return f"{PREFIX}.{safe}.{measure}"


def _stats() -> Any:
    """Airflow's ``Stats`` facade: in the Task SDK from 3.2, ``airflow.stats`` on 3.1."""
    try:
        from airflow.sdk.observability.stats import Stats
    except ImportError:  # Airflow 3.1: no Task SDK observability module
        from airflow.stats import Stats
    return Stats


def emit_run(
    integration: str,
    *,
    outcome: str,
    duration_s: float,
    counts: Mapping[str, Any],
    tags: Mapping[str, str | None],
) -> None:
    """Send one try's numbers; a failing or misconfigured backend is logged, never raised."""
    try:
        stats = _stats()
        labels = {key: value for key, value in {**tags, "outcome": outcome}.items() if value}
        stats.incr(stat_name(integration, "tries"), tags=labels)
        if outcome == "failed":
            stats.incr(stat_name(integration, "tries_failed"), tags=labels)
        stats.timing(stat_name(integration, "duration"), timedelta(seconds=duration_s), tags=labels)
        for measure in MEASURES:
            value = counts.get(measure)
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                continue
            if measure in GAUGES:
                stats.gauge(stat_name(integration, measure), float(value), tags=labels)
            else:
                stats.incr(stat_name(integration, measure), count=int(value), tags=labels)
    except Exception as error:  # metrics are about the task, never a reason to fail it
        log.warning("Could not emit Stats for %s: %s: %s", integration, type(error).__name__, error)
