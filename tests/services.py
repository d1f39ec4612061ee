"""Where the test services are, and the rule for tests that need one that is down."""

from __future__ import annotations

import os
import socket

import pytest

POSTGRES_HOST, POSTGRES_PORT = os.environ.get("RELIABLE_API_TEST_PG", "127.0.0.1:5432").split(":")
REDIS_HOST, REDIS_PORT = os.environ.get("RELIABLE_API_TEST_REDIS", "127.0.0.1:6379").split(":")


def running_in_ci() -> bool:
    """Whether this run is CI, where every service-backed test must run."""
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def is_reachable(host: str, port: int, timeout: float = 1.0) -> bool:
    """Whether a TCP server accepts connections at ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def require_service(name: str, host: str, port: int) -> None:
    """Skip the test when the service is down, or fail it under ``CI=true``."""
    if is_reachable(host, port):
        return
    message = f"{name} is unreachable at {host}:{port}"
    if running_in_ci():
        pytest.fail(f"{message}; under CI=true it is required (.ci/run starts it)")
    pytest.skip(message)
