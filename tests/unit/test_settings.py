from __future__ import annotations

from typing import Any

import pytest

from reliable_api.core.rates import Rate
from reliable_api.exceptions import ConfigurationError
from reliable_api.http.setting_fields import SETTING_FIELDS, SETTING_NAMES
from reliable_api.http.settings import HttpSettings


def test_defaults_when_the_extra_has_no_settings() -> None:
    assert HttpSettings.from_extra({"X-Team": "data"}) == HttpSettings()


def test_every_declared_field_is_a_setting_with_the_same_default() -> None:
    defaults = HttpSettings()
    # quotas: the windows after the first of rate_limit, parsed from the same setting
    assert set(HttpSettings.__dataclass_fields__) - {"quotas"} == SETTING_NAMES
    for spec in SETTING_FIELDS:
        assert getattr(defaults, spec.name) == spec.default, spec.name


def test_values_from_the_form_or_json_are_coerced() -> None:
    settings = HttpSettings.from_extra(
        {
            "rate_limit": "20/s",
            "burst": "5",
            "adaptive": "false",
            "backoff_base": 1,
            "read_timeout": "2.5",
            "limiter_backend": "redis",
            "limiter_conn_id": "redis_default",
        }
    )
    assert settings.rate_limit == Rate(20, 1)
    assert settings.burst == 5
    assert settings.adaptive is False
    assert settings.backoff_base == 1.0
    assert settings.read_timeout == 2.5
    assert settings.limiter_backend == "redis"
    assert settings.limiter_conn_id == "redis_default"


def test_empty_form_values_mean_default() -> None:
    assert HttpSettings.from_extra({"rate_limit": "", "burst": None}) == HttpSettings()


def test_overrides_win_over_the_connection() -> None:
    settings = HttpSettings.from_extra({"max_retries": 5}, max_retries=0)
    assert settings.max_retries == 0


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"rate_limit": "lots"}, "rate_limit must look like"),
        ({"burst": 0}, "burst must be >= 1, got 0"),
        ({"burst": 2.5}, "burst must be an integer, got 2.5"),
        ({"burst": True}, "burst must be an integer"),
        ({"limiter_backend": "memcached"}, "limiter_backend must be one of memory, sqlite, postgres, redis"),
        ({"adaptive": "maybe"}, "adaptive must be a boolean"),
        ({"max_retries": 1000}, "max_retries must be between 0 and 100, got 1000"),
        ({"connect_timeout": 0}, "connect_timeout must be >= 0.001"),
        ({"read_timeout": "nan"}, "read_timeout must be a number"),
        ({"defer_after": "inf"}, "defer_after must be a number"),
        ({"backoff_base": 10, "backoff_cap": 1}, "backoff_cap"),
    ],
)
def test_invalid_values_name_the_setting(extra: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        HttpSettings.from_extra(extra)


def test_unknown_override_is_rejected() -> None:
    with pytest.raises(ConfigurationError, match="unknown reliable_http setting"):
        HttpSettings.from_extra({}, max_retires=3)
