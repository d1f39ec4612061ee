from __future__ import annotations

import pytest

from reliable_api.core.rates import Rate, parse_rate
from reliable_api.exceptions import ConfigurationError


@pytest.mark.parametrize(
    ("text", "count", "period"),
    [
        ("20/s", 20, 1),
        ("1000/h", 1000, 3600),
        ("5/min", 5, 60),
        ("5 / minute", 5, 60),
        ("100/10s", 100, 10),
        ("2.5/sec", 2.5, 1),
        ("86400/day", 86400, 86400),
        ("30/hours", 30, 3600),
        ("10/500ms", 10, 0.5),
    ],
)
def test_parse_rate(text: str, count: float, period: float) -> None:
    assert parse_rate(text) == Rate(count=count, period=period)


def test_rate_interval_and_per_second() -> None:
    rate = parse_rate("1000/h")
    assert rate.interval == pytest.approx(3.6)
    assert rate.per_second == pytest.approx(1000 / 3600)


@pytest.mark.parametrize("text", ["", "20", "fast", "20/fortnight", "/s", "-5/s", "0/s", "20/0s", "1e3/s"])
def test_malformed_rate_names_the_field(text: str) -> None:
    with pytest.raises(ConfigurationError, match="rate_limit"):
        parse_rate(text)


def test_non_string_rate_is_rejected() -> None:
    with pytest.raises(ConfigurationError, match="got 20"):
        parse_rate(20)  # type: ignore[arg-type]
