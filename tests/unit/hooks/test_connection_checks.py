"""How a ``reliable_http`` connection written as an environment variable is read or refused."""

from __future__ import annotations

import json

import pytest
from airflow.sdk._shared.secrets_masker.secrets_masker import SecretsMasker

from reliable_api.exceptions import ConfigurationError
from reliable_api.hooks.http import ReliableHttpHook


def _hook(monkeypatch: pytest.MonkeyPatch, value: str, conn_id: str = "crm_api") -> ReliableHttpHook:
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", value)
    return ReliableHttpHook(http_conn_id=conn_id)


def test_the_uri_form_with_a_dash_gives_host_port_and_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    hook = _hook(monkeypatch, "reliable-http://127.0.0.1:8111?rate_limit=10%2Fsec&max_retries=3")
    hook.get_conn()
    assert hook.base_url == "http://127.0.0.1:8111"
    assert str(hook.settings.rate_limit) == "10/1s"
    assert hook.settings.max_retries == 3


def test_the_uri_form_with_an_underscore_names_the_right_spellings(monkeypatch: pytest.MonkeyPatch) -> None:
    hook = _hook(monkeypatch, "reliable_http://127.0.0.1:8111?rate_limit=10%2Fs")
    with pytest.raises(ConfigurationError) as raised:
        hook.get_conn()
    message = str(raised.value)
    assert "'crm_api'" in message
    assert "AIRFLOW_CONN_CRM_API='reliable-http://127.0.0.1:8111?rate_limit=10%2Fs'" in message
    assert '"conn_type": "reliable_http", "host": "http://127.0.0.1:8111"' in message
    with pytest.raises(ConfigurationError, match="reliable-http://"):
        _ = hook.settings


def test_a_misspelled_type_is_refused_with_the_spelling(monkeypatch: pytest.MonkeyPatch) -> None:
    hook = _hook(monkeypatch, json.dumps({"conn_type": "reliablehttp", "host": "https://api.example.com"}))
    with pytest.raises(ConfigurationError, match="type 'reliablehttp'; the type is spelled 'reliable_http'"):
        hook.get_conn()


def test_an_extra_that_is_not_an_object_names_the_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    hook = _hook(monkeypatch, json.dumps({"conn_type": "reliable_http", "host": "h", "extra": "[1, 2]"}))
    with pytest.raises(ConfigurationError, match="extra of connection 'crm_api' must be a JSON object"):
        _ = hook.settings


@pytest.mark.parametrize(
    ("rate_limit", "warns"), [("10/sec", False), ("10/s", True)], ids=["documented", "too-short"]
)
def test_the_documented_connection_does_not_trip_the_secret_masker(
    monkeypatch: pytest.MonkeyPatch, rate_limit: str, warns: bool
) -> None:
    # Airflow hands every extra value to its secret masker, which warns about strings shorter
    # than 5 characters: the docs write rates as "10/sec" and numbers and booleans as JSON.
    extra = {"rate_limit": rate_limit, "burst": 2, "adaptive": True, "max_retries": 3}
    hook = _hook(
        monkeypatch, json.dumps({"conn_type": "reliable_http", "host": "http://127.0.0.1:1", "extra": extra})
    )
    monkeypatch.setattr(SecretsMasker, "_has_warned_short_secret", False)
    hook.get_conn()
    assert hook.settings.rate_limit is not None
    assert hook.settings.burst == 2
    assert SecretsMasker._has_warned_short_secret is warns
