"""``[core] hostname_callable`` for the e2e test's Celery workers (not a DAG file).

In the compose stack every worker container has its own hostname, which task instances record.
The test runs two workers on one machine, so each gets a name of its own through
``RELIABLE_API_WORKER_HOSTNAME``.
"""

from __future__ import annotations

import os
import socket


def worker_hostname() -> str:
    """The worker's name from the environment, else the machine's."""
    return os.environ.get("RELIABLE_API_WORKER_HOSTNAME") or socket.getfqdn()
