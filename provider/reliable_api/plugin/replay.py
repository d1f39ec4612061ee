"""Replay from the UI: a run of the integration's replay DAG, with the chosen entry ids as conf.

The replay DAG (a :class:`~reliable_api.operators.replay.ReplayDeadLettersOperator` in front of
the integration's load tasks) does the work; the page only creates its run, in the API server's
own metadata DB, like Airflow's trigger route, recording the user as the run's triggering user.

Which DAG replays an integration: ``[reliable_api] replay_dags`` (a JSON object, integration ->
DAG id; ``AIRFLOW__RELIABLE_API__REPLAY_DAGS`` in the environment), else ``<integration>_replay``
when such a DAG exists.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timezone

from reliable_api.exceptions import ConfigurationError

#: The config section and key naming each integration's replay DAG.
CONFIG_SECTION = "reliable_api"
CONFIG_KEY = "replay_dags"
#: The replay DAG is found by this suffix when the config does not name one.
DEFAULT_SUFFIX = "_replay"


class ReplayUnavailable(Exception):
    """No replay DAG can take the entries: not configured, not parsed, or not triggerable."""


@dataclass(frozen=True)
class ReplayRun:
    """The DAG run a replay request created."""

    dag_id: str
    run_id: str
    paused: bool


def configured_replay_dags() -> dict[str, str]:
    """``[reliable_api] replay_dags``.

    :raises ConfigurationError: when it is not a JSON object of strings.
    """
    from airflow.configuration import conf

    raw = conf.get(CONFIG_SECTION, CONFIG_KEY, fallback="") or ""
    if not raw.strip():
        return {}
    try:
        parsed = json.loads(raw)
    except ValueError:
        parsed = None
    if not isinstance(parsed, dict) or not all(isinstance(v, str) for v in parsed.values()):
        raise ConfigurationError(
            f"[{CONFIG_SECTION}] {CONFIG_KEY} must be a JSON object of integration -> DAG id"
        )
    return {str(k): v for k, v in parsed.items()}


def replay_dag_id(integration: str) -> str | None:
    """The DAG that replays ``integration``'s dead letters, or ``None`` when there is none."""
    configured = configured_replay_dags()
    if integration in configured:
        return configured[integration]
    candidate = f"{integration}{DEFAULT_SUFFIX}"
    return candidate if _paused(candidate) is not None else None


def trigger_replay(dag_id: str, ids: Collection[int], *, user_name: str) -> ReplayRun:
    """Create a queued run of ``dag_id`` replaying ``ids``; return it.

    :raises ReplayUnavailable: when the DAG is not in the metadata DB or refuses manual runs.
    """
    from airflow.api.common.trigger_dag import trigger_dag
    from airflow.exceptions import DagNotFound
    from airflow.utils.types import DagRunTriggeredByType

    paused = _paused(dag_id)
    if paused is None:
        raise ReplayUnavailable(f"the replay DAG {dag_id!r} is not known to Airflow (not parsed yet?)")
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S")
    run_id = f"reliable_api_replay__{stamp}_{uuid.uuid4().hex[:8]}"
    note = f"Replay of dead letters {', '.join(map(str, sorted(ids)))} requested by {user_name}"
    conf = {"ids": ",".join(str(i) for i in sorted(ids))}
    try:
        # The note is set on the new run in the trigger's own transaction: Airflow 3.1's
        # trigger_dag takes no ``note``, and this works the same on every release.
        from airflow.utils.session import create_session

        with create_session() as session:
            run = trigger_dag(
                dag_id,
                run_id=run_id,
                conf=conf,
                triggered_by=DagRunTriggeredByType.UI,
                triggering_user_name=user_name,
                session=session,
            )
            if run is not None:
                run.note = note
    except (DagNotFound, ValueError) as error:
        raise ReplayUnavailable(f"the replay DAG {dag_id!r} cannot be triggered: {error}") from None
    return ReplayRun(dag_id=dag_id, run_id=run_id, paused=paused)


def _paused(dag_id: str) -> bool | None:
    """Whether ``dag_id`` is paused; ``None`` when the metadata DB has no such DAG."""
    from airflow.models import DagModel

    model = DagModel.get_current(dag_id)
    return None if model is None else bool(model.is_paused)
