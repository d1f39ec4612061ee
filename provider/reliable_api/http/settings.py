"""Validated settings of a ``reliable_http`` connection.

The keys are taken out of the connection extra before the http provider's ``HttpHook`` sees it,
because ``HttpHook`` sends every extra key it does not know as an HTTP header.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from reliable_api.core.rates import Rate, parse_rates
from reliable_api.exceptions import ConfigurationError
from reliable_api.http.setting_fields import SETTING_FIELDS, SETTING_NAMES, SettingField


@dataclass(frozen=True)
class HttpSettings:
    """Validated reliability settings of one ``reliable_http`` connection."""

    rate_limit: Rate | None = None
    quotas: tuple[Rate, ...] = ()
    quota_reset: str = "rolling"
    quota_timezone: str = "UTC"
    quota_alert_conn_id: str | None = None
    limit_key_field: str | None = None
    burst: int = 1
    limiter_backend: str = "sqlite"
    limiter_conn_id: str | None = None
    adaptive: bool = True
    max_retries: int = 5
    backoff_base: float = 0.5
    backoff_cap: float = 60.0
    connect_timeout: float = 10.0
    read_timeout: float = 60.0
    retry_deadline: float = 300.0
    defer_after: float = 30.0
    max_retry_after: float = 3600.0
    max_response_bytes: int = 50 * 1024 * 1024
    oauth2_token_url: str | None = None
    oauth2_grant: str = "client_credentials"
    oauth2_scope: str | None = None
    oauth2_refresh_token: str | None = None
    breaker_failures: int = 0
    breaker_error_ratio: float = 0.0
    breaker_window: float = 60.0
    breaker_min_requests: int = 20
    breaker_open_seconds: float = 60.0
    breaker_alert_conn_id: str | None = None

    @classmethod
    def from_extra(cls, extra: Mapping[str, Any], **overrides: Any) -> HttpSettings:
        """Build settings from a connection extra and per-call ``overrides``.

        Keys that are not settings are ignored here (they are the http provider's, or headers).

        :raises ConfigurationError: naming the first setting whose value is invalid.
        """
        unknown = set(overrides) - SETTING_NAMES
        if unknown:
            raise ConfigurationError(f"unknown reliable_http setting(s): {', '.join(sorted(unknown))}")
        values = {**{k: v for k, v in extra.items() if k in SETTING_NAMES}, **overrides}
        parsed = {
            spec.name: _coerce(spec, values[spec.name])
            for spec in SETTING_FIELDS
            if values.get(spec.name) not in (None, "")
        }
        rates = parsed.pop("rate_limit", None)
        if rates:
            parsed["rate_limit"], parsed["quotas"] = rates[0], tuple(rates[1:])
        settings = cls(**parsed)
        if settings.backoff_cap < settings.backoff_base:
            raise ConfigurationError(
                f"backoff_cap ({settings.backoff_cap}) must be >= backoff_base ({settings.backoff_base})"
            )
        return settings


_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


def _coerce(spec: SettingField, value: Any) -> Any:
    name = spec.name
    if isinstance(value, Rate):
        return (value,)
    if name == "rate_limit":
        return parse_rates(value, field=name)
    try:
        if spec.json_type == "boolean":
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text not in _TRUE | _FALSE:
                raise ValueError
            return text in _TRUE
        if spec.json_type == "integer":
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise ValueError
            number: float = int(value)
        elif spec.json_type == "number":
            if isinstance(value, bool):
                raise ValueError
            number = float(value)
            if number != number or number in (float("inf"), float("-inf")):
                raise ValueError
        else:
            text = str(value).strip()
            allowed = spec.constraints.get("enum")
            if allowed and text not in allowed:
                raise ConfigurationError(f"{name} must be one of {', '.join(allowed)}, got {value!r}")
            return text
    except (TypeError, ValueError):
        raise ConfigurationError(
            f"{name} must be {_article(spec.json_type)} {spec.json_type}, got {value!r}"
        ) from None
    low, high = spec.constraints.get("minimum"), spec.constraints.get("maximum")
    if (low is not None and number < low) or (high is not None and number > high):
        bounds = f">= {low}" if high is None else f"between {low} and {high}"
        raise ConfigurationError(f"{name} must be {bounds}, got {value!r}")
    return number


def _article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"
