"""Keep the http provider's ``HttpOperator(deferrable=True)`` under a ``reliable_http`` connection's limit.

``HttpOperator`` defers to the http provider's ``HttpTrigger``, which builds the plain
``HttpAsyncHook`` itself: no lookup by connection type picks :class:`ReliableHttpHook` there.
On a ``reliable_http`` connection that trigger would bypass the shared limiter, the breaker and
the retries, and send every reliability setting of the connection to the API as an HTTP header
(aiohttp even refuses the numeric ones). So, just before such a task runs, this listener turns
its ``deferrable`` off: ``HttpOperator`` then takes its synchronous path, through
:meth:`ReliableHttpHook.run` and its adapter, like ``deferrable=False``. See ADR 0030.

Registered by the provider's plugin; it does nothing for any other operator or connection type.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

from airflow.listeners import hookimpl

log = logging.getLogger(__name__)

_HTTP_OPERATOR_MODULE = "airflow.providers.http.operators.http"


@hookimpl
def on_task_instance_running(previous_state: Any, task_instance: Any) -> None:
    """Run a deferrable ``HttpOperator`` on a ``reliable_http`` connection synchronously."""
    module = sys.modules.get(_HTTP_OPERATOR_MODULE)  # not imported: the task cannot be one
    task = getattr(task_instance, "task", None)
    if module is None or not isinstance(task, module.HttpOperator) or not task.deferrable:
        return
    if type(task).execute_async is not module.HttpOperator.execute_async:
        return  # a subclass that defers its own way (ReliableHttpOperator)
    from airflow.sdk import BaseHook

    from reliable_api.hooks.http import ReliableHttpHook

    conn_id = getattr(task, task.conn_id_field)
    if BaseHook.get_connection(conn_id).conn_type != ReliableHttpHook.conn_type:
        return
    task.deferrable = False
    log.info(
        "%s runs HttpOperator's synchronous path: connection %r is reliable_http, whose shared "
        "rate limit, retries and settings HttpTrigger would bypass (ADR 0030)",
        task.task_id,
        conn_id,
    )
