"""``python -m reliable_api.testing.sandbox`` as a user runs it."""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest

MODULE = [sys.executable, "-m", "reliable_api.testing.sandbox"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--rate", "-1"], "error: --rate must be >= 0, got -1"),
        (["--burst", "0"], "error: --burst must be >= 1, got 0"),
        (
            ["--retry-after-format", "fortnight"],
            "error: --retry-after-format must be one of seconds, http-date",
        ),
        (["--p-503", "1.5"], "error: --p-503 must be between 0 and 1, got 1.5"),
        (["--no-such-option"], "error: unrecognized arguments: --no-such-option"),
    ],
)
def test_bad_options_exit_2_naming_the_option(args: list[str], message: str) -> None:
    result = subprocess.run([*MODULE, *args], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert message in result.stderr
    assert result.stdout == ""


def test_a_taken_port_exits_1_saying_so() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run([*MODULE, "--port", str(port)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr


def test_announces_the_url_once_ready() -> None:
    with subprocess.Popen(
        [*MODULE, "--port", "0", "--contacts", "1"], stdout=subprocess.PIPE, text=True
    ) as process:
        try:
            assert process.stdout is not None
            line = process.stdout.readline()
            assert line.startswith("sandbox listening on http://127.0.0.1:")
            port = int(line.rpartition(":")[2])
            with socket.create_connection(("127.0.0.1", port), timeout=5):
                pass
        finally:
            process.terminate()
