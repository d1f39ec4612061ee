"""``python -m reliable_api.testing.sandbox``: serve the sandbox until interrupted.

Prints ``sandbox listening on http://HOST:PORT`` (and flushes) once it accepts connections; with
``--port 0`` that line is how a caller learns the port.
"""

from __future__ import annotations

import os
import socket
import sys
import threading
import time
from collections.abc import Sequence

import uvicorn

from reliable_api.testing.sandbox.app import create_app
from reliable_api.testing.sandbox.cli import parse_cli

PARENT_CHECK_SECONDS = 0.5


class _AnnouncingServer(uvicorn.Server):
    """A uvicorn server that prints one line once it is ready."""

    def __init__(self, config: uvicorn.Config, announcement: str) -> None:
        super().__init__(config)
        self.announcement = announcement

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        """Start serving, then announce."""
        await super().startup(sockets=sockets)
        if self.started:
            print(self.announcement, flush=True)


def _exit_with_parent(server: uvicorn.Server, parent_pid: int) -> None:
    # A parent killed with SIGKILL cannot stop us; notice that we were orphaned instead.
    def watch() -> None:
        while not server.should_exit:
            if os.getppid() != parent_pid:
                server.should_exit = True
            time.sleep(PARENT_CHECK_SECONDS)

    threading.Thread(target=watch, name="sandbox-parent-watch", daemon=True).start()


def main(argv: Sequence[str] | None = None) -> int:
    """Run the sandbox; returns the process exit status.

    :param argv: arguments without the program name; ``None`` reads ``sys.argv``.
    """
    options = parse_cli(argv)
    sock = socket.socket(socket.AF_INET6 if ":" in options.host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((options.host, options.port))
    except OSError as error:
        print(f"sandbox: cannot listen on {options.host}:{options.port}: {error}", file=sys.stderr)
        return 1
    port = sock.getsockname()[1]
    host = f"[{options.host}]" if ":" in options.host else options.host
    config = uvicorn.Config(
        create_app(options.config),
        log_level="warning",
        access_log=False,
        lifespan="off",
        # Slow (fault-injected) requests must not hold up a stop for long.
        timeout_graceful_shutdown=1,
    )
    server = _AnnouncingServer(config, f"sandbox listening on http://{host}:{port}")
    if options.parent_pid is not None:
        _exit_with_parent(server, options.parent_pid)
    server.run(sockets=[sock])
    return 0


if __name__ == "__main__":
    sys.exit(main())
