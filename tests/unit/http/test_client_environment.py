"""``freeze_environment``: what requests reads from the environment, read once per client."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests
from requests.auth import HTTPBasicAuth

from reliable_api.http.client import freeze_environment

API = "https://api.example.com/v1"


def test_proxies_and_ca_bundle_come_from_the_environment_once(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.internal:3128")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tmp_path / "ca.pem"))
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    session = freeze_environment(requests.Session(), API)

    assert session.proxies["https"] == "http://proxy.internal:3128"
    assert session.verify == str(tmp_path / "ca.pem")
    assert session.trust_env is False
    monkeypatch.setenv("HTTPS_PROXY", "http://elsewhere:1")  # read once: later changes are not seen
    assert session.proxies["https"] == "http://proxy.internal:3128"


def test_no_proxy_is_honoured_and_explicit_settings_are_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.internal:3128")
    monkeypatch.setenv("NO_PROXY", "api.example.com")
    for bundle in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):  # they would win over verify, as in requests
        monkeypatch.delenv(bundle, raising=False)
    session = requests.Session()
    session.verify = False  # the connection's extra said so
    session.auth = HTTPBasicAuth("user", "pw")

    frozen = freeze_environment(session, API)

    assert "https" not in frozen.proxies
    assert frozen.verify is False
    assert frozen.auth == HTTPBasicAuth("user", "pw")


def test_netrc_credentials_are_used_when_the_connection_has_none(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    netrc = tmp_path / ".netrc"
    netrc.write_text("machine api.example.com login robot password from-netrc\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    assert freeze_environment(requests.Session(), API).auth == ("robot", "from-netrc")


def test_a_session_that_ignores_the_environment_is_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.internal:3128")
    session = requests.Session()
    session.trust_env = False
    assert freeze_environment(session, API).proxies == {}
