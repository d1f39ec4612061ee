"""The sandbox's one configuration model, shared by the CLI, the fixtures and ``/_sandbox/config``.

Every option is a field of :class:`SandboxConfig`; the CLI flag of a field is its name with dashes
(``p_500`` -> ``--p-500``), except where :data:`CLI_FLAGS` says otherwise. Validation lives in one
place (``__post_init__``) so that all three entry points reject the same values with the same words.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from reliable_api.testing.sandbox.quota import QUOTA_HEADER_STYLES

RETRY_AFTER_FORMATS = ("seconds", "http-date")
LEGACY_RESET_FORMATS = ("epoch", "delta")
TOKEN_FORMATS = ("json", "json-no-expiry", "form")
FAULT_PROBABILITIES = (
    "p_500",
    "p_502",
    "p_503",
    "p_slow",
    "p_reset",
    "p_malformed",
    "p_lost_502",
    "p_lost_stall",
    "p_429",
)
#: Shares of records the sandbox refuses for good (a record the API will never accept).
REFUSED_SHARES = ("fail_404_share", "fail_422_share")

#: CLI flags that are not simply the field name with dashes.
CLI_FLAGS = {"api_keys": "--api-key"}


class ConfigError(ValueError):
    """One or more options have invalid values.

    :param options: the field names of the options at fault (``rate``, ``p_500``, ...).
    :param problem: what is wrong, phrased to follow the options' names.
    """

    def __init__(self, *options: str, problem: str) -> None:
        super().__init__(f"{' + '.join(options)} {problem}")
        self.options = options
        self.problem = problem


def _help(text: str) -> dict[str, str]:
    return {"help": text}


@dataclass(frozen=True)
class SandboxConfig:
    """How the sandbox behaves: data, rate limit, headers, features and faults.

    Immutable; change it with :meth:`with_changes`, which validates the result.
    """

    seed: int = field(default=0, metadata=_help("seed for generated data and fault decisions"))
    contacts: int = field(default=500, metadata=_help("number of generated contacts"))
    companies: int = field(default=50, metadata=_help("number of generated companies"))

    rate: float = field(default=0.0, metadata=_help("requests per second per API key; 0 = unlimited"))
    burst: int = field(default=1, metadata=_help("requests admitted at once from an idle client"))
    retry_after: bool = field(default=True, metadata=_help("send Retry-After on 429"))
    retry_after_format: str = field(
        default="seconds", metadata=_help(f"Retry-After as {' or '.join(RETRY_AFTER_FORMATS)}")
    )
    ratelimit_headers: bool = field(
        default=True, metadata=_help("send the IETF draft RateLimit and RateLimit-Policy headers")
    )
    legacy_headers: bool = field(default=True, metadata=_help("send X-RateLimit-Limit/-Remaining/-Reset"))
    legacy_reset: str = field(
        default="epoch", metadata=_help(f"X-RateLimit-Reset as {' or '.join(LEGACY_RESET_FORMATS)} seconds")
    )
    quota: int = field(default=0, metadata=_help("calls per quota period per API key; 0 = no quota"))
    quota_period: float = field(default=86400.0, metadata=_help("length of a quota window in seconds"))
    quota_headers: str = field(
        default="none", metadata=_help(f"report the quota as {', '.join(QUOTA_HEADER_STYLES)} do")
    )

    api_keys: tuple[str, ...] = field(
        default=(), metadata=_help("accepted API key (repeatable); none = no authentication")
    )
    oauth_client: str = field(
        default="", metadata=_help("'id:secret' of an OAuth2 client; set, /v1 takes its tokens only")
    )
    token_lifetime: float = field(default=3600.0, metadata=_help("seconds an OAuth2 access token lives"))
    token_format: str = field(
        default="json", metadata=_help(f"the token endpoint answers as {', '.join(TOKEN_FORMATS)}")
    )
    allow_duplicates: bool = field(
        default=False, metadata=_help("create records whose natural key exists instead of answering 409")
    )
    lookup: bool = field(default=True, metadata=_help("serve GET /v1/{resource}/search"))
    batch: bool = field(default=True, metadata=_help("serve POST /v1/{resource}/batch"))
    idempotency: bool = field(
        default=True, metadata=_help("honour the Idempotency-Key header; off, it is ignored as most APIs do")
    )

    p_500: float = field(default=0.0, metadata=_help("probability of a 500 response"))
    p_502: float = field(default=0.0, metadata=_help("probability of a 502 response"))
    p_503: float = field(default=0.0, metadata=_help("probability of a 503 response"))
    p_slow: float = field(default=0.0, metadata=_help("probability of a response delayed by --slow-seconds"))
    slow_seconds: float = field(default=5.0, metadata=_help("delay of a slow response"))
    p_reset: float = field(default=0.0, metadata=_help("probability of a connection reset"))
    p_malformed: float = field(default=0.0, metadata=_help("probability of a 200 with truncated JSON"))
    p_lost_502: float = field(
        default=0.0, metadata=_help("probability of serving a request (a create commits) and answering 502")
    )
    p_lost_stall: float = field(
        default=0.0,
        metadata=_help(
            "probability of serving a request, then holding the answer --slow-seconds and sending 504"
        ),
    )
    p_429: float = field(
        default=0.0,
        metadata=_help(
            "probability of a 429 that starts a burst: --burst-429-seconds of 429s for the client"
        ),
    )
    burst_429_seconds: float = field(
        default=2.0, metadata=_help("how long a burst of 429s (with Retry-After) lasts")
    )
    fail_404: tuple[str, ...] = field(
        default=(), metadata=_help("ids or natural keys that always get 404 (comma-separated)")
    )
    fail_422: tuple[str, ...] = field(
        default=(), metadata=_help("ids or natural keys that always get 422 (comma-separated)")
    )
    fail_404_share: float = field(
        default=0.0,
        metadata=_help("share of records that always get 404, chosen by the seed from their email/domain"),
    )
    fail_422_share: float = field(
        default=0.0,
        metadata=_help("share of records that always get 422, chosen by the seed from their email/domain"),
    )

    def __post_init__(self) -> None:
        _at_least(self, "contacts", 0)
        _at_least(self, "companies", 0)
        _at_least(self, "rate", 0)
        _at_least(self, "burst", 1)
        _at_least(self, "slow_seconds", 0)
        _at_least(self, "burst_429_seconds", 0.001)
        _one_of(self, "retry_after_format", RETRY_AFTER_FORMATS)
        _one_of(self, "legacy_reset", LEGACY_RESET_FORMATS)
        _at_least(self, "token_lifetime", 0.001)
        _one_of(self, "token_format", TOKEN_FORMATS)
        _at_least(self, "quota", 0)
        _at_least(self, "quota_period", 0.001)
        _one_of(self, "quota_headers", QUOTA_HEADER_STYLES)
        # The faults share one uniform draw per request (the refusals one per natural key), so
        # the probabilities of each group must fit in [0, 1].
        _shares(self, FAULT_PROBABILITIES)
        _shares(self, REFUSED_SHARES)
        # List options travel as comma-separated CLI values, so an item cannot hold a comma.
        for name in ("api_keys", "fail_404", "fail_422"):
            if any(not item or "," in item for item in getattr(self, name)):
                raise ConfigError(name, problem="items must be non-empty and without commas")

    @classmethod
    def from_mapping(cls, options: Mapping[str, object]) -> SandboxConfig:
        """Build a config from JSON-like values, checking names and types.

        :param options: field names to values; lists or comma-separated strings for list options.
        :raises ConfigError: for an unknown option or a value of the wrong type or range.
        """
        return cls().with_changes(options)

    def with_changes(self, changes: Mapping[str, object]) -> SandboxConfig:
        """Return a copy with ``changes`` applied and validated.

        :param changes: field names to JSON-like values.
        :raises ConfigError: for an unknown option or a value of the wrong type or range.
        """
        types = field_types()
        converted: dict[str, Any] = {}
        for name, value in changes.items():
            if name not in types:
                raise ConfigError(name, problem="is not a known option")
            converted[name] = _convert(name, types[name], value)
        return dataclasses.replace(self, **converted)

    def to_json(self) -> dict[str, object]:
        """The config as a JSON-ready dict (lists for list options)."""
        return {
            name: list(value) if isinstance(value, tuple) else value
            for name, value in dataclasses.asdict(self).items()
        }


@cache
def field_types() -> dict[str, type]:
    """Runtime types of the config fields: ``bool``, ``int``, ``float``, ``str`` or ``tuple``."""
    hints = typing.get_type_hints(SandboxConfig)
    return {
        f.name: typing.get_origin(hints[f.name]) or hints[f.name] for f in dataclasses.fields(SandboxConfig)
    }


def _convert(name: str, kind: type, value: object) -> object:
    # bool is a subclass of int in Python, but true is no valid rate or burst in JSON.
    if kind is bool:
        if isinstance(value, bool):
            return value
    elif kind is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif kind is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif kind is str:
        if isinstance(value, str):
            return value
    elif kind is tuple:
        if isinstance(value, str):
            return tuple(item.strip() for item in value.split(",") if item.strip())
        if isinstance(value, list) and all(isinstance(item, str) for item in value):
            return tuple(value)
        raise ConfigError(name, problem=f"must be a list of strings, got {value!r}")
    raise ConfigError(name, problem=f"must be of type {kind.__name__}, got {value!r}")


def _at_least(config: SandboxConfig, name: str, minimum: float) -> None:
    value = getattr(config, name)
    if value < minimum:
        raise ConfigError(name, problem=f"must be >= {minimum:g}, got {value:g}")


def _shares(config: SandboxConfig, names: tuple[str, ...]) -> None:
    for name in names:
        value = getattr(config, name)
        if not 0 <= value <= 1:
            raise ConfigError(name, problem=f"must be between 0 and 1, got {value:g}")
    chosen = [name for name in names if getattr(config, name)]
    total = math.fsum(getattr(config, name) for name in chosen)
    if total > 1 + 1e-9:
        raise ConfigError(*chosen, problem=f"must add up to <= 1, got {total:g}")


def _one_of(config: SandboxConfig, name: str, choices: tuple[str, ...]) -> None:
    value = getattr(config, name)
    if value not in choices:
        raise ConfigError(name, problem=f"must be one of {', '.join(choices)}, got {value!r}")
