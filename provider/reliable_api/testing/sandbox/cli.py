"""Command line of the sandbox, derived from :class:`SandboxConfig` so the two never drift apart."""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from reliable_api.testing.sandbox.config import CLI_FLAGS, ConfigError, SandboxConfig, field_types

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000


@dataclass(frozen=True)
class CliOptions:
    """What the command line asked for: where to listen and how to behave."""

    host: str
    port: int
    parent_pid: int | None
    config: SandboxConfig


def flag(option: str) -> str:
    """The CLI flag of a config field, e.g. ``p_500`` -> ``--p-500``."""
    return CLI_FLAGS.get(option, "--" + option.replace("_", "-"))


def _comma_list(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser: ``--host``, ``--port``, ``--parent-pid`` and one flag per config field."""
    parser = argparse.ArgumentParser(
        prog="python -m reliable_api.testing.sandbox",
        description="Serve the sandbox CRM API (messy data, rate limits, faults) on loopback.",
    )
    parser.add_argument("--host", default=DEFAULT_HOST, help=f"address to bind (default {DEFAULT_HOST})")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="port to bind; 0 picks a free one")
    parser.add_argument(
        "--parent-pid", type=int, default=None, help="exit when the process with this id is gone"
    )
    # Defaults are suppressed so that only given flags reach SandboxConfig and its defaults win.
    for config_field in dataclasses.fields(SandboxConfig):
        kind = field_types()[config_field.name]
        kwargs: dict[str, Any] = {
            "dest": config_field.name,
            "default": argparse.SUPPRESS,
            "help": f"{config_field.metadata['help']} (default {config_field.default!r})",
        }
        if kind is bool:
            kwargs["action"] = argparse.BooleanOptionalAction
        elif kind is tuple:
            kwargs.update(action="extend", type=_comma_list, metavar="VALUE[,VALUE...]")
        else:
            kwargs["type"] = kind
        parser.add_argument(flag(config_field.name), **kwargs)
    return parser


def parse_cli(argv: Sequence[str] | None = None) -> CliOptions:
    """Parse the command line; exits with status 2 and a message naming the option when it is bad.

    :param argv: arguments without the program name; ``None`` reads ``sys.argv``.
    """
    parser = build_parser()
    namespace = vars(parser.parse_args(argv))
    host, port, parent_pid = namespace.pop("host"), namespace.pop("port"), namespace.pop("parent_pid")
    if not 0 <= port <= 65535:
        parser.error(f"--port must be between 0 and 65535, got {port}")
    try:
        config = SandboxConfig.from_mapping(namespace)
    except ConfigError as error:
        parser.error(f"{' + '.join(flag(option) for option in error.options)} {error.problem}")
    return CliOptions(host=host, port=port, parent_pid=parent_pid, config=config)


def to_cli_args(config: SandboxConfig) -> list[str]:
    """The flags that make the CLI build ``config`` (only those that differ from the defaults)."""
    args: list[str] = []
    defaults = SandboxConfig()
    for name, value in dataclasses.asdict(config).items():
        if value == getattr(defaults, name):
            continue
        if isinstance(value, bool):
            args.append(flag(name) if value else "--no-" + flag(name).removeprefix("--"))
        else:
            # "--flag=value", because a value may start with a dash (an API key, a negative seed).
            args.append(f"{flag(name)}={','.join(value) if isinstance(value, tuple) else value}")
    return args
