"""An OpenLineage transport whose every emit fails, as an unreachable lineage backend does.

Each event it is given is first appended to ``$RAISING_TRANSPORT_ATTEMPTS`` (one event type and job
name per line), so a test can tell that emission was attempted, then it raises.
"""

from __future__ import annotations

import os
from typing import Any

from openlineage.client.transport.transport import Config, Transport


class RaisingTransport(Transport):
    kind = "raising"
    config_class = Config

    def __init__(self, config: Config) -> None:
        self.config = config

    def emit(self, event: Any) -> Any:
        with open(os.environ["RAISING_TRANSPORT_ATTEMPTS"], "a") as attempts:
            attempts.write(f"{event.eventType.value} {event.job.name}\n")
        raise ConnectionError("lineage backend unreachable (raised by the test's transport)")
