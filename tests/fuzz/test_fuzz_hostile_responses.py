"""A hostile API on loopback: every bad answer becomes a classified error, redacted, in bounded memory.

The server below is plain ``http.server``, not the sandbox: it sends what no well-behaved API
would (a body that never ends, a Content-Length it does not keep, a redirect to itself).
"""

from __future__ import annotations

import json
import threading
import tracemalloc
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from reliable_api.exceptions import ConfigurationError, NetworkError, ReliableApiError
from reliable_api.hooks.http import ReliableHttpHook
from reliable_api.http.pagination import LinkHeaderPaginator, PageNumberPaginator

CONN_ID = "hostile_api"
TOKEN = "tok_CANARY_hostile_5e1"
QUERY_SECRET = "qs_CANARY_hostile_77"
#: The cap the tests set; the endless body is 50 times larger.
CAP = 1_000_000


class HostileApi(BaseHTTPRequestHandler):
    """What each path sends; ``sent`` counts the body bytes the server managed to write."""

    sent: dict[str, int]
    other_host_hits: list[str]

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        return

    def do_GET(self) -> None:
        path = self.path.split("?")[0]
        handler: Callable[[], None] = getattr(self, "_" + path.strip("/").replace("-", "_"), self._missing)
        handler()

    def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _missing(self) -> None:
        self._send(404, b"{}", {"Content-Type": "application/json", "Content-Length": "2"})

    def _not_json(self) -> None:
        body = b"<html><body>Gateway says hello</body></html>"
        self._send(200, body, {"Content-Type": "application/json", "Content-Length": str(len(body))})

    def _truncated(self) -> None:
        self._send(200, b'{"data": [1, 2', {"Content-Type": "application/json", "Content-Length": "5000"})
        self.close_connection = True

    def _wrong_types(self) -> None:
        body = json.dumps({"data": {"records": "not a list"}}).encode()
        self._send(200, body, {"Content-Type": "application/json", "Content-Length": str(len(body))})

    def _declared_huge(self) -> None:
        self._send(200, b"", {"Content-Type": "application/json", "Content-Length": str(50 * CAP)})
        self._stream("declared_huge")

    def _endless(self) -> None:
        self._send(200, b"", {"Content-Type": "application/json", "Connection": "close"})
        self.close_connection = True
        self._stream("endless")

    def _stream(self, name: str) -> None:
        chunk = b"[" + b"1," * 32_768
        try:
            while self.sent[name] < 50 * CAP:
                self.wfile.write(chunk)
                self.sent[name] += len(chunk)
        except OSError:
            return  # the client hung up: what it should do

    def _loop(self) -> None:
        self._send(302, b"", {"Location": f"/loop?api_key={QUERY_SECRET}", "Content-Length": "0"})

    def _elsewhere(self) -> None:
        port = self.server.other_port  # type: ignore[attr-defined]
        body = json.dumps({"data": [1]}).encode()
        headers = {
            "Content-Type": "application/json",
            "Content-Length": str(len(body)),
            "Link": f'<http://127.0.0.1:{port}/steal?api_key={QUERY_SECRET}>; rel="next"',
        }
        self._send(200, body, headers)


class OtherHost(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_GET(self) -> None:
        HostileApi.other_host_hits.append(self.path)
        self.send_response(200)
        self.end_headers()


def serve(handler: type[BaseHTTPRequestHandler]) -> tuple[ThreadingHTTPServer, threading.Thread]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return server, thread


@pytest.fixture
def hostile(monkeypatch: pytest.MonkeyPatch) -> Iterator[type[HostileApi]]:
    HostileApi.sent = {"declared_huge": 0, "endless": 0}
    HostileApi.other_host_hits = []
    other, _ = serve(OtherHost)
    server, _ = serve(HostileApi)
    server.other_port = other.server_address[1]  # type: ignore[attr-defined]
    extra = {
        "Authorization": f"Bearer {TOKEN}",
        "limiter_backend": "memory",
        "max_retries": 1,
        "backoff_base": 0.01,
        "backoff_cap": 0.01,
        "read_timeout": 10,
        "max_response_bytes": CAP,
    }
    conn = {
        "conn_type": "reliable_http",
        "host": f"http://127.0.0.1:{server.server_address[1]}",
        "extra": extra,
    }
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", json.dumps(conn))
    yield HostileApi
    for running in (server, other):
        running.shutdown()
        running.server_close()


def no_secret_in(error: ReliableApiError) -> None:
    text = f"{error} {error!r} {vars(error)}"
    assert TOKEN not in text
    assert QUERY_SECRET not in text


def walk(endpoint: str, paginator: Any = None) -> None:
    hook = ReliableHttpHook(http_conn_id=CONN_ID)
    for _ in hook.paginate(endpoint, paginator or PageNumberPaginator(size=10)):
        pass


@pytest.mark.parametrize(
    ("endpoint", "error_class", "said"),
    [
        ("/not-json", NetworkError, "not valid JSON"),
        ("/truncated", NetworkError, "lost"),
        ("/wrong-types", ConfigurationError, "a list of records"),
    ],
)
def test_bad_bodies_are_classified_errors(
    hostile: type[HostileApi], endpoint: str, error_class: type[ReliableApiError], said: str
) -> None:
    with pytest.raises(error_class, match=said) as raised:
        walk(f"{endpoint}?api_key={QUERY_SECRET}")
    no_secret_in(raised.value)


@pytest.mark.parametrize("endpoint", ["/declared-huge", "/endless"])
def test_a_body_over_the_cap_is_refused_without_reading_it(hostile: type[HostileApi], endpoint: str) -> None:
    hook = ReliableHttpHook(http_conn_id=CONN_ID)
    tracemalloc.start()
    try:
        with pytest.raises(ConfigurationError, match="max_response_bytes=1000000") as raised:
            hook.run(f"{endpoint}?api_key={QUERY_SECRET}")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    no_secret_in(raised.value)
    assert peak < 5 * CAP  # the body is 50 times the cap: it was never held
    assert raised.value.status == 200
    assert hostile.sent[endpoint.strip("/").replace("-", "_")] < 50 * CAP  # and not even all sent


def test_a_redirect_loop_is_a_configuration_error_without_the_secret(hostile: type[HostileApi]) -> None:
    with pytest.raises(ConfigurationError, match="TooManyRedirects") as raised:
        ReliableHttpHook(http_conn_id=CONN_ID).run(f"/loop?api_key={QUERY_SECRET}")
    no_secret_in(raised.value)


def test_a_next_link_to_another_host_is_never_followed(hostile: type[HostileApi]) -> None:
    with pytest.raises(ConfigurationError, match="another host") as raised:
        walk("/elsewhere", LinkHeaderPaginator())
    no_secret_in(raised.value)
    assert hostile.other_host_hits == []
