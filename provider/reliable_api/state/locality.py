"""Whether per-machine state is safe: refused under an executor that spreads tasks over machines.

A SQLite state DB or a ``sqlite`` limiter is one file on one machine. Under the Celery, Kubernetes
or Edge executor every worker would keep its own ledger and its own rate limit, and "never create
a record twice" and "one limit for the whole deployment" would quietly stop holding. So the
provider refuses them there, unless ``[reliable_api] allow_local_state = True`` says that every
worker shares one file (e.g. one machine running several workers).

Light on purpose: Airflow's configuration is read when asked, not at import.
"""

from __future__ import annotations

from typing import Any

from reliable_api.exceptions import ConfigurationError

#: Executors that run every task on the scheduler's machine (by class name).
SINGLE_MACHINE_EXECUTORS = frozenset({"LocalExecutor", "SequentialExecutor", "DebugExecutor"})
#: The provider's section of ``airflow.cfg``.
CONFIG_SECTION = "reliable_api"
#: The option that allows per-machine state under a distributed executor.
ALLOW_LOCAL_STATE = "allow_local_state"


def airflow_conf() -> Any:
    """Airflow's configuration, from the Task SDK where it has one (3.2+)."""
    try:
        from airflow.sdk.configuration import conf
    except ImportError:  # Airflow 3.1: the Task SDK has no configuration module yet
        from airflow.configuration import conf
    return conf


def distributed_executors() -> list[str]:
    """The configured executors (``[core] executor``) that may run a task on another machine.

    Accepts Airflow's forms: ``CeleryExecutor``, a module path, ``alias:module.Class``, and a
    comma-separated list of those.
    """
    configured = str(airflow_conf().get("core", "executor", fallback="") or "")
    names = [entry.split(":")[-1].rsplit(".", 1)[-1].strip() for entry in configured.split(",")]
    return [name for name in names if name and name not in SINGLE_MACHINE_EXECUTORS]


def local_state_allowed() -> bool:
    """``[reliable_api] allow_local_state``: the explicit opt-in for per-machine state."""
    return bool(airflow_conf().getboolean(CONFIG_SECTION, ALLOW_LOCAL_STATE, fallback=False))


def refuse_local_state(what: str, remedy: str) -> None:
    """Raise when ``what`` (per-machine state) would be used under a distributed executor.

    :param what: the per-machine state, e.g. ``"the SQLite state DB under $AIRFLOW_HOME"``.
    :param remedy: what to configure instead, e.g. the connection to create.
    :raises ConfigurationError: naming the executor, ``what``, the remedy and the opt-in.
    """
    executors = distributed_executors()
    if not executors or local_state_allowed():
        return
    raise ConfigurationError(
        f"{what} is per machine, but the {executors[0]} runs tasks on many machines, where every "
        f"worker would keep its own copy: {remedy}. If all workers share one machine, set "
        f"[{CONFIG_SECTION}] {ALLOW_LOCAL_STATE} = True "
        f"(AIRFLOW__{CONFIG_SECTION.upper()}__{ALLOW_LOCAL_STATE.upper()}=True)"
    )
