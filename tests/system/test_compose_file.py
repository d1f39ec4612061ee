"""The scale-out stack's compose file holds together against the installed Airflow.

No Docker engine runs where these tests run, so ``docker-compose.yaml`` is checked piece by
piece instead: commands against Airflow's own CLI parser, ``AIRFLOW__*`` variables against its
configuration (and the celery provider's), the pools file through ``deploy/init.sh`` itself, and
the connections through Airflow's ``Connection`` and the provider's settings.
``tests/e2e/test_celery_scale_out.py`` runs the same services as processes.

The helpers at the top (interpolation, loading) are shared with that e2e test.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.airflow_compat import AIRFLOW_V_3_3_PLUS

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
COMPOSE_FILE = REPO / "docker-compose.yaml"
ENV_EXAMPLE = DEPLOY / ".env.example"
POOLS_FILE = REPO / "dags" / "pools.json"
INIT_SCRIPT = DEPLOY / "init.sh"

AIRFLOW_SERVICES = {
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-triggerer",
    "airflow-worker",
    "airflow-init",
}
#: Where the image puts deploy/ (deploy/Dockerfile copies init.sh there) and the DAGs (with pools.json).
IMAGE_DEPLOY_DIR = "/opt/airflow/deploy"
IMAGE_DAGS_DIR = "/opt/airflow/dags"
# deploy/ builds the official Airflow 3.3.2 image: its commands and its version are checked against
# the newest release, not against the older ones a compatibility run installs (`make test-compat`).
deploy_release_only = pytest.mark.skipif(
    not AIRFLOW_V_3_3_PLUS, reason="deploy/ pins Airflow 3.3.2; checked on 3.3+ only"
)

# $$, $NAME, ${NAME}, ${NAME:-default}, ${NAME-default}, ${NAME:?error}, ${NAME?error}
_VARIABLE = re.compile(
    r"\$(?:(?P<escaped>\$)|\{(?P<braced>[A-Za-z_]\w*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}|(?P<bare>[A-Za-z_]\w*))"
)
_SECRET_NAME = re.compile(r"PASSWORD|SECRET|FERNET|TOKEN|API_KEY|WEBHOOK")


class InterpolationError(KeyError):
    """A required variable (``${NAME:?error}`` or one without a default) has no value."""


def read_env_file(path: Path = ENV_EXAMPLE) -> dict[str, str]:
    """``KEY=VALUE`` lines of a compose ``.env`` file (comments and blank lines skipped)."""
    values = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    return values


def interpolate(text: str, variables: Mapping[str, str]) -> str:
    """Substitute variables in ``text`` the way docker compose does."""

    def substitute(match: re.Match[str]) -> str:
        if match["escaped"]:
            return "$"
        name = match["braced"] or match["bare"]
        op, arg = match["op"], match["arg"]
        value = variables.get(name)
        missing = not value if op and op.startswith(":") else value is None
        if op and op.endswith("-") and missing:
            return str(arg)
        if missing and (op or value is None):
            raise InterpolationError(f"{name}: {arg or 'not set'}")
        return str(value)

    return _VARIABLE.sub(substitute, text)


def _walk(node: Any, variables: Mapping[str, str]) -> Any:
    if isinstance(node, str):
        return interpolate(node, variables)
    if isinstance(node, list):
        return [_walk(item, variables) for item in node]
    if isinstance(node, dict):
        return {key: _walk(value, variables) for key, value in node.items()}
    return node


def load_compose(variables: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The compose file, YAML anchors merged; string values interpolated with ``variables``
    (left raw when ``None``)."""
    raw = yaml.safe_load(COMPOSE_FILE.read_text())
    return raw if variables is None else dict(_walk(raw, variables))


def environment_of(service: Mapping[str, Any]) -> dict[str, str]:
    """A service's environment as a dict (compose allows a mapping or a list of ``KEY=VALUE``)."""
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.partition("=")[::2] for item in env)
    return {str(key): str(value) for key, value in env.items()}


def command_of(service: Mapping[str, Any]) -> list[str]:
    """A service's command as an argument list."""
    command = service["command"]
    return shlex.split(command) if isinstance(command, str) else [str(part) for part in command]


def airflow_commands_of_init_script() -> list[list[str]]:
    """The ``airflow ...`` command lines of ``deploy/init.sh``, as argument lists without ``airflow``."""
    return [
        shlex.split(line)[1:]
        for line in INIT_SCRIPT.read_text().splitlines()
        if line.strip().startswith("airflow ")
    ]


def config_options(name: str) -> Iterator[tuple[str, str]]:
    """``(section, key)`` of every ``AIRFLOW__SECTION__KEY`` variable name in ``name``."""
    parts = name.split("__")
    if name.startswith("AIRFLOW__"):
        assert len(parts) == 3, f"{name} is not AIRFLOW__SECTION__KEY"
        yield parts[1].lower(), parts[2].lower()


# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return load_compose(read_env_file())


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = compose["services"]
    return found


def test_the_stack_has_every_piece(services: dict[str, Any]) -> None:
    assert AIRFLOW_SERVICES | {"postgres", "redis", "sandbox", "marketing"} == set(services)
    for name in AIRFLOW_SERVICES:
        assert environment_of(services[name])["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor", name


def test_every_variable_has_a_value_in_env_example_or_a_default() -> None:
    text = COMPOSE_FILE.read_text()
    example = read_env_file()
    referenced = {
        match["braced"] or match["bare"]
        for match in _VARIABLE.finditer(text)
        if not match["escaped"] and not (match["op"] or "").endswith("-")
    }
    assert referenced
    assert referenced <= set(example), f"missing from .env.example: {sorted(referenced - set(example))}"
    # Without a .env the stack refuses to start instead of running with empty secrets.
    with pytest.raises(InterpolationError, match=r"set [A-Z_]+ in \.env"):
        load_compose({})


@deploy_release_only
def test_service_commands_are_airflow_3_3_2_commands(services: dict[str, Any]) -> None:
    from airflow import __version__
    from airflow.cli.cli_parser import get_parser

    assert __version__ == "3.3.2"
    parser = get_parser()
    commands = {name: command_of(services[name]) for name in AIRFLOW_SERVICES}
    # The init service runs deploy/init.sh from the image; check the airflow commands in it.
    assert commands.pop("airflow-init") == ["bash", f"{IMAGE_DEPLOY_DIR}/init.sh"]
    init_commands = airflow_commands_of_init_script()
    assert [command[:2] for command in init_commands] == [["db", "migrate"], ["pools", "import"]]
    healthchecks = [
        shlex.split(services[name]["healthcheck"]["test"][1])[1:]
        for name in AIRFLOW_SERVICES - {"airflow-init"}
        if services[name]["healthcheck"]["test"][1].startswith("airflow ")
    ]
    assert len(healthchecks) == 2  # dag-processor and triggerer
    for command in [*commands.values(), *init_commands, *healthchecks]:
        try:
            parsed = parser.parse_args(command)
        except SystemExit as exit_:  # argparse's answer to an unknown command or option
            pytest.fail(f"airflow {shlex.join(command)} is not an Airflow 3.3.2 command ({exit_})")
        assert callable(parsed.func), command
    assert commands["airflow-worker"] == ["celery", "worker"]


def test_worker_healthcheck_names_the_celery_app_that_exists(services: dict[str, Any]) -> None:
    import importlib

    test = services["airflow-worker"]["healthcheck"]["test"][1]
    module, _, attribute = shlex.split(test)[2].rpartition(".")
    assert shlex.split(test)[:2] == ["celery", "--app"]
    app = getattr(importlib.import_module(module), attribute)
    assert type(app).__module__.startswith("celery")


def test_every_airflow_option_in_the_environment_exists_in_airflow_or_the_celery_provider(
    services: dict[str, Any],
) -> None:
    from airflow.configuration import conf
    from airflow.providers_manager import ProvidersManager

    ProvidersManager().initialize_providers_configuration()
    described = conf.configuration_description
    assert "broker_url" in described["celery"]["options"]  # the celery provider's options are known
    checked = set()
    for name, service in services.items():
        for variable in environment_of(service):
            for section, key in config_options(variable):
                assert key in described.get(section, {}).get("options", {}), f"{name}: {variable}"
                checked.add(variable)
    assert "AIRFLOW__CELERY__BROKER_URL" in checked
    assert "AIRFLOW__API_AUTH__JWT_SECRET" in checked


def test_the_worker_can_scale(services: dict[str, Any]) -> None:
    worker = services["airflow-worker"]
    for fixed in ("container_name", "ports", "hostname"):
        assert fixed not in worker, f"airflow-worker has {fixed}: replicas would clash"
    assert not any("container_name" in service for service in services.values())


def test_healthchecks_and_start_order(services: dict[str, Any]) -> None:
    for name, service in services.items():
        if name != "airflow-init":
            assert service["healthcheck"]["test"], name
    for name in AIRFLOW_SERVICES:
        depends = services[name]["depends_on"]
        assert depends["postgres"] == {"condition": "service_healthy"}, name
        assert depends["redis"] == {"condition": "service_healthy"}, name
        if name != "airflow-init":
            assert depends["airflow-init"] == {"condition": "service_completed_successfully"}, name
    assert services["airflow-worker"]["depends_on"]["airflow-apiserver"] == {"condition": "service_healthy"}
    assert services["airflow-init"]["restart"] == "no"


@deploy_release_only
def test_the_dockerfile_builds_the_installed_airflow_with_extras_that_exist() -> None:
    from importlib.metadata import metadata

    from airflow import __version__

    dockerfile = (DEPLOY / "Dockerfile").read_text()
    assert f"ARG AIRFLOW_VERSION={__version__}\n" in dockerfile
    assert "FROM apache/airflow:${AIRFLOW_VERSION}\n" in dockerfile
    extras = re.search(r'"/opt/reliable_api\[([a-z,]+)\]"', dockerfile)
    assert extras is not None
    ours = metadata("airflow-provider-reliable-api")
    wanted = {"validation", "postgres", "redis", "celery"}
    assert set(extras[1].split(",")) == wanted <= set(ours.get_all("Provides-Extra"))
    celery = [
        dep for dep in ours.get_all("Requires-Dist") if re.search(r"extra\s*==\s*['\"]celery['\"]", dep)
    ]
    assert any(dep.startswith("apache-airflow-providers-celery") for dep in celery)
    assert f"deploy/init.sh {IMAGE_DEPLOY_DIR}/" in dockerfile
    assert f"dags {IMAGE_DAGS_DIR}\n" in dockerfile  # the DAGs and their pools.json


def connections(services: dict[str, Any]) -> dict[str, str]:
    env = environment_of(services["airflow-scheduler"])
    return {
        key.removeprefix("AIRFLOW_CONN_").lower(): value
        for key, value in env.items()
        if key.startswith("AIRFLOW_CONN_")
    }


def test_connections_parse_as_airflow_connections(services: dict[str, Any]) -> None:
    from airflow.models.connection import Connection

    from reliable_api.defaults import STATE_CONN_ID
    from reliable_api.http.settings import HttpSettings

    parsed = {
        conn_id: Connection.from_json(value, conn_id=conn_id)
        for conn_id, value in connections(services).items()
    }
    assert set(parsed) == {
        "reliable_api_sandbox",
        "reliable_api_marketing",
        "reliable_api_redis",
        STATE_CONN_ID,
        "reliable_api_warehouse",
        "reliable_api_alerts",
    }
    for conn_id, service in (("reliable_api_sandbox", "sandbox"), ("reliable_api_marketing", "marketing")):
        api, command = parsed[conn_id], command_of(services[service])
        assert api.conn_type == "reliable_http"
        assert api.host == f"http://{service}:{command[command.index('--port') + 1]}"
        settings = HttpSettings.from_extra(api.extra_dejson)  # raises on an invalid setting
        assert settings.rate_limit is not None
        assert settings.limiter_backend == "redis"
        assert settings.limiter_conn_id in parsed
        # Every worker shares the limit, and it stays below what the API's service enforces.
        server_rate = float(command[command.index("--rate") + 1])
        assert 0 < settings.rate_limit.per_second < server_rate, conn_id
    for conn_id in (STATE_CONN_ID, "reliable_api_warehouse"):
        assert parsed[conn_id].conn_type == "postgres"
        assert parsed[conn_id].password == read_env_file()["POSTGRES_PASSWORD"]


def _is_reference(value: str) -> bool:
    """Whether ``value`` is exactly one required ``${NAME}`` / ``${NAME:?...}`` reference."""
    match = _VARIABLE.fullmatch(value)
    return bool(match and match["braced"] and (match["op"] or ":?") in (":?", "?"))


def test_no_secret_is_written_in_the_compose_file() -> None:
    raw = load_compose()
    found = 0
    for name, service in raw["services"].items():
        for variable, value in environment_of(service).items():
            if _SECRET_NAME.search(variable):
                assert _is_reference(value), f"{name}: {variable} must come from .env"
                found += 1
            # Passwords inside URLs: scheme://user:PASSWORD@host
            for password in re.findall(r"://[^:/@\s]*:([^@\s]*)@", value):
                assert _is_reference(password), f"{name}: {variable} has a literal password"
                found += 1
            if variable.startswith("AIRFLOW_CONN_"):
                conn = json.loads(value)
                if "password" in conn and not _is_reference(conn["password"]):
                    # Only the alert webhook has a default, and it is the stack's own sandbox sink.
                    assert re.fullmatch(
                        r"\$\{ALERTS_WEBHOOK_URL:-http://sandbox:\d+/[^}]*\}", conn["password"]
                    )
                found += 1
    assert found >= 8
    for variable, value in read_env_file().items():
        if _SECRET_NAME.search(variable) and variable != "ALERTS_WEBHOOK_URL":
            assert value.startswith("change-me"), f".env.example: {variable} must be a placeholder"
    assert ".env" in (REPO / ".gitignore").read_text().split()  # docker compose reads ./.env


@pytest.mark.slow
def test_init_script_migrates_and_imports_the_pools_into_a_throwaway_airflow(tmp_path: Path) -> None:
    """deploy/init.sh itself, against SQLite in a fresh AIRFLOW_HOME; then the pools are read back."""
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(tmp_path),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "RELIABLE_API_POOLS_FILE": str(POOLS_FILE),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    env.pop("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", None)
    init = subprocess.run(["bash", str(INIT_SCRIPT)], env=env, capture_output=True, text=True, timeout=240)
    assert init.returncode == 0, init.stdout[-3000:] + init.stderr[-3000:]
    exported = tmp_path / "pools.json"
    subprocess.run(
        [sys.executable, "-m", "airflow", "pools", "export", str(exported)],
        env=env,
        capture_output=True,
        check=True,
        timeout=120,
    )
    pools = json.loads(exported.read_text())
    for name, pool in json.loads(POOLS_FILE.read_text()).items():
        assert pools[name]["slots"] == pool["slots"]
        assert pools[name]["include_deferred"] is pool["include_deferred"] is True
        assert pools[name]["description"] == pool["description"]


def test_every_airflow_service_shares_the_staging_root(
    services: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """One task's worker writes staged records, the next one's reads them: one volume for all."""
    from reliable_api.staging.files import default_staging_root

    monkeypatch.setenv("AIRFLOW_HOME", "/opt/airflow")  # the official image's
    root = default_staging_root().removeprefix("file://")
    for name in AIRFLOW_SERVICES:
        assert f"reliable-api-staging:{root}" in services[name]["volumes"], name
