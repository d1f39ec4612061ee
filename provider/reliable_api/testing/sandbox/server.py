"""Run the sandbox in a subprocess and talk to its ``/_sandbox`` endpoints.

A subprocess rather than a thread, so that the server's event loop does not share a GIL with
heavy test clients and benchmarks. Deliberately light to import: no FastAPI or uvicorn here.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from types import TracebackType
from typing import IO, Any

import httpx

from reliable_api.testing.sandbox.cli import to_cli_args
from reliable_api.testing.sandbox.config import SandboxConfig

ANNOUNCEMENT = "sandbox listening on "
POLL_SECONDS = 0.05
STOP_SECONDS = 5.0


class SandboxStartError(RuntimeError):
    """The sandbox process did not come up; the message carries its stderr."""


class SandboxServer:
    """A sandbox API in a subprocess on loopback, as a context manager.

    ``SandboxServer(rate=50, burst=1)`` takes the options of
    :class:`~reliable_api.testing.sandbox.config.SandboxConfig` as keywords (validated here, before
    anything starts). The process is stopped on exit from the ``with`` block, also on errors.

    :param startup_timeout: seconds to wait for the sandbox to announce itself and answer its
        health check. A process that exits is reported at once; the wait only matters for one
        that is alive but slow, as on a loaded 2-core CI machine, where a start once took over 30 s.
    :param options: config options, e.g. ``rate=50``, ``fail_404=["con_000001"]``.
    :raises ConfigError: for an unknown option or an invalid value.
    """

    def __init__(self, *, startup_timeout: float = 120.0, **options: Any) -> None:
        self.config = SandboxConfig.from_mapping(options)
        self.startup_timeout = startup_timeout
        self._process: subprocess.Popen[bytes] | None = None
        self._url: str | None = None
        self._client: httpx.Client | None = None

    @property
    def url(self) -> str:
        """Base URL of the running sandbox, e.g. ``http://127.0.0.1:41234``."""
        if self._url is None:
            raise RuntimeError("the sandbox is not running; call start() or use it in a with block")
        return self._url

    def start(self) -> SandboxServer:
        """Start the process and wait until it answers ``/_sandbox/health``.

        :raises SandboxStartError: when it exits or does not answer within ``startup_timeout``.
        """
        if self._process is not None:
            raise RuntimeError("the sandbox is already running")
        command = [
            sys.executable,
            "-m",
            "reliable_api.testing.sandbox",
            "--port",
            "0",
            "--parent-pid",
            str(os.getpid()),
            *to_cli_args(self.config),
        ]
        # Files, not pipes: nobody reads the server's output later, and a full pipe would block it.
        with tempfile.TemporaryFile() as stdout, tempfile.TemporaryFile() as stderr:
            process = subprocess.Popen(command, stdout=stdout, stderr=stderr, stdin=subprocess.DEVNULL)
            self._process = process
            try:
                self._url = self._await_announcement(process, stdout, stderr)
                self._client = httpx.Client(base_url=self._url, timeout=10.0)
                self._await_health(process, self._client, stderr)
            except BaseException:
                self.stop()
                raise
        return self

    def stop(self) -> None:
        """Terminate the process (kill it if it does not stop in time); safe to call twice."""
        if self._client is not None:
            self._client.close()
            self._client = None
        process, self._process, self._url = self._process, None, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(STOP_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def stats(self) -> dict[str, Any]:
        """The sandbox's traffic counters (``GET /_sandbox/stats``)."""
        return self._call("GET", "/_sandbox/stats")

    def reset(self, *, data: bool = False, config: bool = False) -> None:
        """Clear counters, limiter, idempotency keys, fault occurrences and webhooks.

        :param data: also regenerate the records from the seed.
        :param config: also return to the options the sandbox was started with.
        """
        self._call("POST", "/_sandbox/reset", json={"data": data, "config": config})

    def configure(self, **changes: Any) -> dict[str, Any]:
        """Change options of the running sandbox; returns the whole new config.

        :param changes: config options, e.g. ``fail_404=[]`` or ``rate=10``.
        :raises httpx.HTTPStatusError: 422 for an invalid option or value.
        """
        return self._call("PATCH", "/_sandbox/config", json=changes)

    def webhooks(self, channel: str) -> list[dict[str, Any]]:
        """Deliveries received on ``/_sandbox/webhook/{channel}``, oldest first."""
        data: list[dict[str, Any]] = self._call("GET", f"/_sandbox/webhook/{channel}")["data"]
        return data

    def _call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        if self._client is None:
            raise RuntimeError("the sandbox is not running; call start() or use it in a with block")
        response = self._client.request(method, path, **kwargs)
        response.raise_for_status()
        body: dict[str, Any] = response.json()
        return body

    def _await_announcement(
        self, process: subprocess.Popen[bytes], stdout: IO[bytes], stderr: IO[bytes]
    ) -> str:
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            stdout.seek(0)
            line = stdout.readline().decode()
            if line.startswith(ANNOUNCEMENT) and line.endswith("\n"):
                return line.removeprefix(ANNOUNCEMENT).strip()
            _fail_if_exited(process, stderr)
            time.sleep(POLL_SECONDS)
        raise SandboxStartError(_describe(f"did not start within {self.startup_timeout:g} s", stderr))

    def _await_health(
        self, process: subprocess.Popen[bytes], client: httpx.Client, stderr: IO[bytes]
    ) -> None:
        deadline = time.monotonic() + self.startup_timeout
        while True:
            try:
                if client.get("/_sandbox/health").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            _fail_if_exited(process, stderr)
            if time.monotonic() > deadline:
                raise SandboxStartError(_describe("did not answer /_sandbox/health", stderr))
            time.sleep(POLL_SECONDS)


def _fail_if_exited(process: subprocess.Popen[bytes], stderr: IO[bytes]) -> None:
    status = process.poll()
    if status is not None:
        raise SandboxStartError(_describe(f"exited with status {status}", stderr))


def _describe(problem: str, stderr: IO[bytes]) -> str:
    stderr.seek(0)
    output = stderr.read().decode(errors="replace").strip()
    return f"sandbox {problem}; its stderr:\n{output or '(empty)'}"
