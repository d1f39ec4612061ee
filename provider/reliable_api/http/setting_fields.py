"""The settings of a ``reliable_http`` connection, declared once for the UI form and the hook.

The same :data:`SETTING_FIELDS` produce the connection form fields in ``get_provider_info`` and
the validation in :class:`reliable_api.http.settings.HttpSettings`, so the form and the code cannot
drift apart. Pure data: Airflow's providers manager imports this through ``get_provider_info``, so
it must not import Airflow (that would be circular) nor anything heavy.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

LIMITER_BACKENDS = ("memory", "sqlite", "postgres", "redis")


@dataclass(frozen=True)
class SettingField:
    """One connection setting as shown in the Airflow UI connection form."""

    name: str
    label: str
    description: str
    json_type: str
    default: Any
    constraints: Mapping[str, Any] = field(default_factory=dict)

    def conn_field(self) -> dict[str, Any]:
        """Return the ``conn-fields`` entry for provider info."""
        schema: dict[str, Any] = {"type": [self.json_type, "null"], **self.constraints}
        if self.default is not None:
            schema["default"] = self.default
        return {"label": self.label, "description": self.description, "schema": schema}


SETTING_FIELDS: tuple[SettingField, ...] = (
    SettingField(
        "rate_limit",
        "Rate limit",
        "Requests allowed, shared by every worker: '20/s', '1000/h', '100/10s', or several windows "
        "at once: '25/s, 100000/d' (a request needs room in each). Empty: no limit.",
        "string",
        None,
    ),
    SettingField(
        "quota_reset",
        "Quota reset",
        "How windows longer than the first refill: rolling (continuously, as a leaky bucket) or "
        "calendar (all at once at the start of each period, e.g. midnight).",
        "string",
        "rolling",
        {"enum": ["rolling", "calendar"]},
    ),
    SettingField(
        "quota_timezone",
        "Quota time zone",
        "IANA time zone of calendar resets, e.g. 'America/New_York' (HubSpot's daily limit).",
        "string",
        "UTC",
    ),
    SettingField(
        "quota_alert_conn_id",
        "Quota: alert connection",
        "Webhook connection told once when a quota window is spent: which quota, how much was "
        "used and when it reopens (tasks defer until then).",
        "string",
        None,
    ),
    SettingField(
        "limit_key_field",
        "Limit per key",
        "Each value of this request field has its own limit: 'json.channel' (a body field), "
        "'params.tenant' (a query parameter) or 'path.2' (the third path segment).",
        "string",
        None,
    ),
    SettingField(
        "burst",
        "Burst",
        "Requests allowed at once by the first window (longer windows allow their whole count).",
        "integer",
        1,
        {"minimum": 1},
    ),
    SettingField(
        "limiter_backend",
        "Limiter backend",
        "Where the shared limit lives: memory (one process), sqlite (one machine), "
        "postgres or redis (many machines).",
        "string",
        "sqlite",
        {"enum": list(LIMITER_BACKENDS)},
    ),
    SettingField(
        "limiter_conn_id",
        "Limiter connection id",
        "Airflow connection of the Redis or Postgres server holding the shared limit "
        "(default: the state DB connection).",
        "string",
        None,
    ),
    SettingField(
        "adaptive",
        "Adaptive rate",
        "Slow down on 429 and follow the API's RateLimit and Retry-After headers.",
        "boolean",
        True,
    ),
    SettingField(
        "max_retries",
        "Max retries",
        "Retries of a transient failure (429, 5xx, timeouts).",
        "integer",
        5,
        {"minimum": 0, "maximum": 100},
    ),
    SettingField(
        "backoff_base",
        "Backoff base (s)",
        "First backoff of the exponential schedule.",
        "number",
        0.5,
        {"minimum": 0},
    ),
    SettingField(
        "backoff_cap",
        "Backoff cap (s)",
        "Longest single backoff, before jitter.",
        "number",
        60.0,
        {"minimum": 0},
    ),
    SettingField(
        "connect_timeout",
        "Connect timeout (s)",
        "Seconds to wait for a connection.",
        "number",
        10.0,
        {"minimum": 0.001},
    ),
    SettingField(
        "read_timeout",
        "Read timeout (s)",
        "Seconds to wait for a response.",
        "number",
        60.0,
        {"minimum": 0.001},
    ),
    SettingField(
        "retry_deadline",
        "Retry deadline (s)",
        "No retry of a request starts after this many seconds from its first attempt.",
        "number",
        300.0,
        {"minimum": 0},
    ),
    SettingField(
        "defer_after",
        "Defer after (s)",
        "A wait longer than this frees the worker slot: the task defers to the triggerer.",
        "number",
        30.0,
        {"minimum": 0},
    ),
    SettingField(
        "max_retry_after",
        "Max Retry-After (s)",
        "Cap on a Retry-After the API sends; a longer one is treated as this and deferred.",
        "number",
        3600.0,
        {"minimum": 0},
    ),
    SettingField(
        "max_response_bytes",
        "Max response size (bytes)",
        "A larger response body is refused without being read into memory (the task fails).",
        "integer",
        50 * 1024 * 1024,
        {"minimum": 1},
    ),
    # OAuth2 (reliable_api.http.oauth2): the client id and secret are the login and password.
    SettingField(
        "oauth2_token_url",
        "OAuth2 token URL",
        "The token endpoint; set, every request carries a bearer token shared by all workers.",
        "string",
        None,
    ),
    SettingField(
        "oauth2_grant",
        "OAuth2 grant",
        "client_credentials (login = client id, password = secret) or refresh_token.",
        "string",
        "client_credentials",
        {"enum": ["client_credentials", "refresh_token"]},
    ),
    SettingField("oauth2_scope", "OAuth2 scope", "The scope to ask for, if any.", "string", None),
    SettingField(
        "oauth2_refresh_token",
        "OAuth2 refresh token",
        "The refresh token of the refresh_token grant (a rotated one is kept, encrypted).",
        "string",
        None,
    ),
    # The circuit breaker (reliable_api.http.circuit_breaker), off until one of the first two is set.
    SettingField(
        "breaker_failures",
        "Breaker: consecutive failures",
        "Consecutive transient failures (5xx, timeouts, resets) of any worker that open the "
        "connection's circuit breaker: tasks defer instead of retrying into an outage. 0: off.",
        "integer",
        0,
        {"minimum": 0, "maximum": 10000},
    ),
    SettingField(
        "breaker_error_ratio",
        "Breaker: error ratio",
        "Failed share of the attempts in the breaker window that opens the breaker. 0: off.",
        "number",
        0.0,
        {"minimum": 0, "maximum": 1},
    ),
    SettingField(
        "breaker_window",
        "Breaker: window (s)",
        "Seconds of attempts the error ratio looks at.",
        "number",
        60.0,
        {"minimum": 1, "maximum": 86400},
    ),
    SettingField(
        "breaker_min_requests",
        "Breaker: minimum attempts",
        "Attempts in the window before the error ratio counts.",
        "integer",
        20,
        {"minimum": 1, "maximum": 1000000},
    ),
    SettingField(
        "breaker_open_seconds",
        "Breaker: open for (s)",
        "How long an open breaker refuses requests before one worker probes the API.",
        "number",
        60.0,
        {"minimum": 0.1, "maximum": 86400},
    ),
    SettingField(
        "breaker_alert_conn_id",
        "Breaker: alert connection",
        "Webhook connection told once when the breaker opens and once when it closes.",
        "string",
        None,
    ),
)
SETTING_NAMES = frozenset(f.name for f in SETTING_FIELDS)
