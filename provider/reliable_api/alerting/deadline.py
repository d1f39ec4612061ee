"""Deadline Alerts (Airflow 3.1+, in place of the removed SLAs) that alert through any notifier.

.. code-block:: python

    DAG(..., deadline=deadline_alert(timedelta(hours=1), WebhookNotifier(webhook_conn_id="slack")))

The alert runs in the triggerer as an ``AsyncCallback``: Airflow stores the callback as the import
path of :func:`alert_deadline_missed` and its keyword arguments, which must be JSON. So the
notifiers travel as specs (class path and constructor keywords, read from the attributes of the
same names, as ``WebhookNotifier`` and the SMTP provider's ``SmtpNotifier`` keep them) and are
rebuilt in the triggerer.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import json
import logging
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from reliable_api.alerting.alert import safe_message
from reliable_api.alerting.callbacks import DEFAULT_STORM_WINDOW, build_alert, dispatch
from reliable_api.defaults import STATE_CONN_ID
from reliable_api.exceptions import ConfigurationError

if TYPE_CHECKING:
    from airflow.sdk import BaseNotifier
    from airflow.sdk.definitions.deadline import BaseDeadlineReference, DeadlineAlert

log = logging.getLogger(__name__)


def deadline_alert(
    interval: timedelta,
    *notifiers: BaseNotifier,
    reference: BaseDeadlineReference | None = None,
    storm_window: timedelta | None = DEFAULT_STORM_WINDOW,
    state_conn_id: str = STATE_CONN_ID,
    name: str | None = None,
) -> DeadlineAlert:
    """A DAG's ``deadline=``: alert ``notifiers`` when a run is not done ``interval`` after ``reference``.

    :param reference: when the clock starts; ``DeadlineReference.DAGRUN_QUEUED_AT`` by default.
    :param name: the deadline's name in Airflow's UI (Airflow 3.3+ only).
    :raises ConfigurationError: for a notifier that cannot be rebuilt in the triggerer.
    """
    # airflow.sdk exports these too, but its type stubs do not declare them.
    from airflow.sdk.definitions.deadline import DeadlineAlert, DeadlineReference

    try:
        from airflow.sdk.definitions.callback import AsyncCallback
    except ImportError:  # Airflow 3.1: callbacks are defined next to the deadline
        from airflow.sdk.definitions.deadline import AsyncCallback  # type: ignore[attr-defined]

    if not notifiers:
        raise ValueError("give at least one notifier")
    kwargs = {
        "notifiers": [notifier_spec(notifier) for notifier in notifiers],
        "storm_window_seconds": storm_window.total_seconds() if storm_window is not None else None,
        "state_conn_id": state_conn_id,
    }
    # A deadline's name is Airflow 3.3+; without one, the alert works the same on 3.1 and 3.2.
    named: dict[str, Any] = {} if name is None else {"name": name}
    return DeadlineAlert(
        reference=reference or DeadlineReference.DAGRUN_QUEUED_AT,
        interval=interval,
        callback=AsyncCallback(alert_deadline_missed, kwargs=kwargs),
        **named,
    )


async def alert_deadline_missed(
    notifiers: list[dict[str, Any]],
    storm_window_seconds: float | None = DEFAULT_STORM_WINDOW.total_seconds(),
    state_conn_id: str = STATE_CONN_ID,
    context: dict[str, Any] | None = None,
) -> bool:
    """The ``AsyncCallback`` of :func:`deadline_alert`: alert that a run missed its deadline.

    ``context`` is what Airflow's triggerer passes (``dag_run`` as JSON and ``deadline``).
    Blocking work (state DB, HTTP) runs in worker threads, off the triggerer's event loop.
    Returns whether the alert went out; never raises.
    """
    context = context or {}
    try:
        rebuilt = [notifier_from_spec(spec) for spec in notifiers]
        window = timedelta(seconds=storm_window_seconds) if storm_window_seconds is not None else None
        alert = await asyncio.to_thread(build_alert, context, "deadline_missed", state_conn_id)
        return await asyncio.to_thread(dispatch, alert, rebuilt, context, window, state_conn_id)
    except Exception as error:  # the triggerer would only log it less clearly
        log.error("Deadline alert failed: %s: %s", type(error).__name__, safe_message(error))
        return False


def notifier_spec(notifier: BaseNotifier) -> dict[str, Any]:
    """``{"class": "<import path>", "kwargs": {...}}``: how to rebuild ``notifier`` elsewhere.

    The keywords are the constructor's parameters that the notifier keeps under the same name.

    :raises ConfigurationError: when a required parameter is not kept, or a value is not JSON.
    """
    cls = type(notifier)
    kwargs: dict[str, Any] = {}
    for name, parameter in inspect.signature(cls.__init__).parameters.items():
        if name in ("self", "context") or parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            continue
        if hasattr(notifier, name):
            kwargs[name] = getattr(notifier, name)
        elif parameter.default is parameter.empty:
            raise ConfigurationError(
                f"{cls.__name__} does not keep its argument {name!r}: it cannot be rebuilt in the triggerer"
            )
    try:
        kwargs = json.loads(json.dumps(kwargs))
    except (TypeError, ValueError):
        raise ConfigurationError(
            f"the arguments of {cls.__name__} must be JSON to run in the triggerer"
        ) from None
    return {"class": f"{cls.__module__}.{cls.__qualname__}", "kwargs": kwargs}


def notifier_from_spec(spec: dict[str, Any]) -> BaseNotifier:
    """The notifier a :func:`notifier_spec` describes.

    :raises ConfigurationError: when the class does not import or is not a ``BaseNotifier``.
    """
    from airflow.sdk import BaseNotifier

    try:
        module, _, name = spec["class"].rpartition(".")
        cls = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError, KeyError, ValueError):
        raise ConfigurationError(f"cannot import the notifier class {spec.get('class')!r}") from None
    if not (isinstance(cls, type) and issubclass(cls, BaseNotifier)):
        raise ConfigurationError(f"{spec['class']!r} is not an Airflow BaseNotifier")
    notifier: BaseNotifier = cls(**spec.get("kwargs", {}))
    return notifier
