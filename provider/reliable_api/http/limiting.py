"""From a connection's settings to its limiter, and from a request to the key it counts against."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from reliable_api.exceptions import ConfigurationError

if TYPE_CHECKING:
    from reliable_api.http.settings import HttpSettings
    from reliable_api.throttle.base import LimiterBackend
    from reliable_api.throttle.limiter import SharedRateLimiter

_SOURCES = ("json", "params", "path")


def build_limiter(settings: HttpSettings, backend: LimiterBackend, key: str) -> SharedRateLimiter | None:
    """The shared limiter of ``settings`` on ``backend`` under ``key``; ``None`` without a ``rate_limit``.

    :raises ConfigurationError: naming the setting at fault (burst, quota_reset, quota_timezone).
    """
    from reliable_api.throttle.limiter import SharedRateLimiter
    from reliable_api.throttle.windows import build_windows

    if settings.rate_limit is None:
        return None
    windows = build_windows(
        [settings.rate_limit, *settings.quotas],
        burst=settings.burst,
        reset=settings.quota_reset,
        zone=settings.quota_timezone,
    )
    return SharedRateLimiter(
        backend, key, settings.rate_limit, settings.burst, windows=windows, adaptive=settings.adaptive
    )


def request_limit_key(field: str, *, endpoint: str, params: Mapping[str, Any] | str | None, json: Any) -> str:
    """The value of ``field`` in one request: each value has a limit of its own.

    :param field: ``json.<name>`` (a top-level body field), ``params.<name>`` (a query
        parameter) or ``path.<n>`` (the n-th segment of the endpoint's path, from 0).
    :raises ConfigurationError: naming ``limit_key_field`` when the field is malformed or the
        request lacks it: counting such a request against no key would break the limit.
    """
    source, _, name = field.partition(".")
    if source not in _SOURCES or not name:
        raise ConfigurationError(
            f"limit_key_field must look like 'json.channel', 'params.tenant' or 'path.2', got {field!r}"
        )
    value: Any = None
    if source == "json" and isinstance(json, Mapping):
        value = json.get(name)
    elif source == "params" and isinstance(params, Mapping):
        value = params.get(name)
    elif source == "path" and name.isdigit():
        segments = [part for part in urlsplit(endpoint).path.split("/") if part]
        value = segments[int(name)] if int(name) < len(segments) else None
    if value is None or value == "" or isinstance(value, (dict, list)):
        raise ConfigurationError(
            f"limit_key_field {field!r}: the request to {urlsplit(endpoint).path!r} has no such value; "
            "every request of this connection needs one to count against its key's limit"
        )
    return str(value)
