from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reliable_api.testing.sandbox.cli import flag, parse_cli, to_cli_args
from reliable_api.testing.sandbox.config import ConfigError, SandboxConfig


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"rate": -1}, "rate must be >= 0, got -1"),
        ({"burst": 0}, "burst must be >= 1, got 0"),
        ({"contacts": -5}, "contacts must be >= 0, got -5"),
        (
            {"retry_after_format": "fortnight"},
            "retry_after_format must be one of seconds, http-date, got 'fortnight'",
        ),
        ({"legacy_reset": "never"}, "legacy_reset must be one of epoch, delta, got 'never'"),
        ({"p_500": 1.5}, "p_500 must be between 0 and 1, got 1.5"),
        ({"p_reset": -0.1}, "p_reset must be between 0 and 1, got -0.1"),
        ({"p_500": 0.6, "p_503": 0.6}, "p_500 + p_503 must add up to <= 1, got 1.2"),
        ({"p_429": 0.5, "p_slow": 0.6}, "p_slow + p_429 must add up to <= 1, got 1.1"),
        ({"burst_429_seconds": 0}, "burst_429_seconds must be >= 0.001, got 0"),
        ({"fail_422_share": 2}, "fail_422_share must be between 0 and 1, got 2"),
        (
            {"fail_404_share": 0.7, "fail_422_share": 0.4},
            "fail_404_share + fail_422_share must add up to <= 1, got 1.1",
        ),
        ({"rate": "fast"}, "rate must be of type float, got 'fast'"),
        ({"burst": 2.5}, "burst must be of type int, got 2.5"),
        ({"burst": True}, "burst must be of type int, got True"),
        ({"lookup": "no"}, "lookup must be of type bool, got 'no'"),
        ({"fail_404": [1]}, "fail_404 must be a list of strings, got [1]"),
        ({"api_keys": ["a,b"]}, "api_keys items must be non-empty and without commas"),
        ({"colour": "red"}, "colour is not a known option"),
    ],
)
def test_invalid_options_are_named_in_the_error(changes: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        SandboxConfig.from_mapping(changes)
    assert str(raised.value) == message


def test_json_values_are_converted() -> None:
    config = SandboxConfig.from_mapping(
        {"rate": 5, "fail_404": "con_1, con_2", "api_keys": ["k"], "lookup": False}
    )
    assert config.rate == 5.0
    assert isinstance(config.rate, float)
    assert config.fail_404 == ("con_1", "con_2")
    assert config.api_keys == ("k",)
    assert config.lookup is False
    assert config.to_json()["fail_404"] == ["con_1", "con_2"]


def test_with_changes_keeps_other_options() -> None:
    config = SandboxConfig(rate=5, burst=3).with_changes({"burst": 4})
    assert (config.rate, config.burst) == (5, 4)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--rate", "-1"], "--rate must be >= 0, got -1"),
        (["--burst", "0"], "--burst must be >= 1, got 0"),
        (["--retry-after-format", "fortnight"], "--retry-after-format must be one of seconds, http-date"),
        (["--p-502", "2"], "--p-502 must be between 0 and 1, got 2"),
        (["--p-500", "0.7", "--p-slow", "0.7"], "--p-500 + --p-slow must add up to <= 1"),
        (["--rate", "abc"], "argument --rate: invalid float value: 'abc'"),
        (["--port", "70000"], "--port must be between 0 and 65535, got 70000"),
        (["--colour", "red"], "unrecognized arguments: --colour red"),
    ],
)
def test_bad_command_lines_exit_2_naming_the_option(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        parse_cli(argv)
    assert exited.value.code == 2
    error = capsys.readouterr().err
    assert error.startswith("usage: python -m reliable_api.testing.sandbox")
    assert message in error


def test_command_line_options() -> None:
    options = parse_cli(
        ["--port", "0", "--rate", "2.5", "--no-retry-after", "--api-key", "a", "--api-key", "b",
         "--fail-404", "con_000001,x@example.com", "--allow-duplicates", "--no-batch"]
    )  # fmt: skip
    assert (options.host, options.port, options.parent_pid) == ("127.0.0.1", 0, None)
    assert options.config == SandboxConfig(
        rate=2.5,
        retry_after=False,
        api_keys=("a", "b"),
        fail_404=("con_000001", "x@example.com"),
        allow_duplicates=True,
        batch=False,
    )


def test_flags_follow_field_names() -> None:
    assert flag("p_500") == "--p-500"
    assert flag("api_keys") == "--api-key"
    assert flag("retry_after_format") == "--retry-after-format"


configs = st.builds(
    SandboxConfig,
    seed=st.integers(-(2**31), 2**31),
    rate=st.floats(0, 1000),
    burst=st.integers(1, 100),
    retry_after=st.booleans(),
    retry_after_format=st.sampled_from(["seconds", "http-date"]),
    legacy_headers=st.booleans(),
    # "--" alone is argparse's end-of-options marker, which it drops even from "--api-key=--".
    api_keys=st.lists(st.text("abcXYZ-_09", min_size=1).filter(lambda key: key != "--"), max_size=3).map(
        tuple
    ),
    lookup=st.booleans(),
    p_500=st.floats(0, 0.5),
    p_reset=st.floats(0, 0.5),
    fail_422=st.lists(st.text("abc_09@.", min_size=1), max_size=3).map(tuple),
)


@given(configs)
def test_to_cli_args_round_trips(config: SandboxConfig) -> None:
    assert parse_cli(to_cli_args(config)).config == config
