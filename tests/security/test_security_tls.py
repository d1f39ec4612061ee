"""TLS verification is on by default; off only by the connection's own setting, and never silently.

An HTTPS server on loopback with a self-signed certificate: what a man in the middle shows.
"""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import json
import logging
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import certifi
import pytest

from reliable_api.exceptions import NetworkError
from reliable_api.hooks.http import ReliableHttpAsyncHook, ReliableHttpHook

CONN_ID = "tls_api"


def self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 that no CA signed, and its key."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


class Api(BaseHTTPRequestHandler):
    requests: list[str]

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_GET(self) -> None:
        Api.requests.append(self.path)
        body = b'{"ok": true}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        return  # the refused handshakes are the point


@pytest.fixture(scope="module")
def https_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    cert, key = self_signed(tmp_path_factory.mktemp("tls"))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server = QuietServer(("127.0.0.1", 0), Api)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"https://127.0.0.1:{server.server_address[1]}", cert
    server.shutdown()
    server.server_close()


def use(monkeypatch: pytest.MonkeyPatch, url: str, **extra: Any) -> None:
    """Point the connection at ``url``; a CA bundle in the environment, as on many hosts, which
    requests alone would let override the connection's own ``verify``."""
    Api.requests = []
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", certifi.where())
    settings = {"limiter_backend": "memory", "max_retries": 0, **extra}
    conn = {"conn_type": "reliable_http", "host": url, "extra": settings}
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", json.dumps(conn))


def warnings_about_tls(caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]) -> list[str]:
    lines = [*caplog.text.splitlines(), *capsys.readouterr().out.splitlines()]
    return [line for line in lines if "TLS certificate verification is OFF" in line]


def test_an_unknown_certificate_is_refused_by_default(
    https_api: tuple[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, _ = https_api
    use(monkeypatch, url)
    with pytest.raises(NetworkError, match="SSLError"):
        ReliableHttpHook(http_conn_id=CONN_ID).run("/v1/things")
    assert Api.requests == []  # not a byte of the request went out


# urllib3's own warning on every unverified request, expected here (a warnings-are-errors run
# would turn it into the request's failure).
@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
@pytest.mark.parametrize("off", [False, "false", "False"])
def test_turning_verification_off_takes_the_setting_and_warns_naming_the_connection(
    https_api: tuple[str, Path],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
    off: bool | str,
) -> None:
    caplog.set_level(logging.WARNING)
    url, _ = https_api
    use(monkeypatch, url, verify=off)
    assert ReliableHttpHook(http_conn_id=CONN_ID).run("/v1/things").json() == {"ok": True}
    [warning] = warnings_about_tls(caplog, capsys)
    assert repr(CONN_ID) in warning


def test_a_ca_bundle_verifies_the_certificate_without_a_warning(
    https_api: tuple[str, Path],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    url, cert = https_api
    use(monkeypatch, url, verify=str(cert))
    assert ReliableHttpHook(http_conn_id=CONN_ID).run("/v1/things").json() == {"ok": True}
    assert warnings_about_tls(caplog, capsys) == []


def test_the_async_hook_verifies_the_same_way(
    https_api: tuple[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, cert = https_api

    def fetch() -> Any:
        return asyncio.run(ReliableHttpAsyncHook(http_conn_id=CONN_ID).arequest("GET", "/v1/things"))

    use(monkeypatch, url)
    with pytest.raises(NetworkError):
        fetch()
    assert Api.requests == []
    use(monkeypatch, url, verify=str(cert))
    assert fetch().json() == {"ok": True}
