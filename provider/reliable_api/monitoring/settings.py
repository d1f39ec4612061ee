"""Every monitoring threshold in one place: defaults here, overrides per integration in one YAML.

The file is ``[reliable_api] monitoring_config`` (``AIRFLOW__RELIABLE_API__MONITORING_CONFIG``),
else ``$AIRFLOW_HOME/reliable_api/monitoring.yaml`` when it exists::

    defaults:                      # any field of Thresholds, for every integration
      success_objective: 0.99
    integrations:
      crm_contacts:
        success_objective: 0.995   # thresholds of this integration
        renamed_from: [crm]        # its history under an earlier name counts as its own
        retired_after_days: 14
        mute:                      # no alerts during these windows (anomalies still shown)
          - {from: "2026-12-24T00:00:00Z", until: "2026-12-27T00:00:00Z"}
          - {days: [sat, sun], from: "02:00", until: "04:00"}   # weekly maintenance, UTC

An unknown key or a bad value raises :class:`~reliable_api.exceptions.ConfigurationError` naming it:
a typo must not silently leave the defaults in place.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime, time, timezone
from pathlib import Path
from typing import Any

from reliable_api.exceptions import ConfigurationError

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class Thresholds:
    """How far from its own history an integration must be before it is an anomaly.

    Each check says in :mod:`reliable_api.monitoring.anomalies` which of these it uses.
    """

    #: comparable earlier tries a per-task check needs before it judges at all
    min_history: int = 8
    #: days of history the run-frequency checks need
    min_history_days: float = 3.0
    #: tries whose median is "now" for duration, volume, throttling and dead letters
    recent_tries: int = 3
    #: run frequency: the window counted, and how many times the usual count is a spike
    frequency_window_h: float = 3.0
    frequency_factor: float = 5.0
    frequency_min_excess: int = 10
    #: runs stopped: usual runs missed since the last (and half as many on every earlier day)
    stopped_expected: float = 6.0
    #: success objective over a window, judged once it holds enough tries and failures
    success_objective: float = 0.99
    objective_window_h: float = 168.0
    objective_min_tries: int = 20
    objective_min_failures: int = 3
    #: relative drop: the last ``drop_tries`` succeed this much less often than before
    drop_tries: int = 20
    success_drop: float = 0.3
    #: duration: slower than p95 x this, median x ``slow_factor`` and median + ``min_slowdown_s``
    p95_factor: float = 1.5
    slow_factor: float = 3.0
    min_slowdown_s: float = 5.0
    #: volume: at most ``drop_ratio`` or at least ``spike_factor`` x usual (usual >= ``min_volume``)
    drop_ratio: float = 0.2
    spike_factor: float = 5.0
    min_volume: int = 100
    #: throttling: 429s / throttled seconds x the usual p90, and at least this much more
    surge_factor: float = 3.0
    min_surge: int = 10
    min_surge_s: float = 30.0
    #: dead letters: share of records dead-lettered x usual, + ``min_dead_letter_share``
    dead_letter_factor: float = 5.0
    min_dead_letter_share: float = 0.02
    min_dead_letters: int = 10
    #: quota: projected use at the quota's reset (1.0 = exhausted), once this much is used
    quota_projected: float = 1.0
    min_quota_used: float = 0.25


@dataclass(frozen=True)
class MuteWindow:
    """A time when an integration's anomalies alert no one: once, or weekly (UTC)."""

    starts: datetime | None = None
    ends: datetime | None = None
    days: tuple[int, ...] = ()
    from_time: time | None = None
    until_time: time | None = None

    def covers(self, moment: datetime) -> bool:
        """Whether ``moment`` (timezone-aware) falls in the window."""
        if self.starts is not None and self.ends is not None:
            return self.starts <= moment < self.ends
        utc = moment.astimezone(timezone.utc)
        if self.days and utc.weekday() not in self.days:
            return False
        if self.from_time is None or self.until_time is None:
            return bool(self.days)
        clock = utc.time().replace(tzinfo=None)
        if self.from_time <= self.until_time:
            return self.from_time <= clock < self.until_time
        return clock >= self.from_time or clock < self.until_time  # across midnight


@dataclass(frozen=True)
class IntegrationSettings:
    """An integration's thresholds, the names its history was filed under, and its mute windows."""

    thresholds: Thresholds = field(default_factory=Thresholds)
    renamed_from: tuple[str, ...] = ()
    retired_after_days: float = 7.0
    mute: tuple[MuteWindow, ...] = ()

    def muted(self, moment: datetime) -> bool:
        """Whether alerts are muted at ``moment``."""
        return any(window.covers(moment) for window in self.mute)


@dataclass(frozen=True)
class MonitoringConfig:
    """The defaults and every integration's settings; :meth:`for_integration` merges them."""

    defaults: Thresholds = field(default_factory=Thresholds)
    integrations: Mapping[str, IntegrationSettings] = field(default_factory=dict)

    def for_integration(self, name: str) -> IntegrationSettings:
        """``name``'s settings; the defaults for an integration the file does not name."""
        return self.integrations.get(name) or IntegrationSettings(thresholds=self.defaults)

    def aliases(self) -> dict[str, str]:
        """Earlier name -> current name, for every renamed integration."""
        return {old: name for name, item in self.integrations.items() for old in item.renamed_from}

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], source: str = "monitoring config") -> MonitoringConfig:
        """Build from parsed YAML; :raises ConfigurationError: naming the first bad key or value."""
        unknown = set(data) - {"defaults", "integrations"}
        if unknown:
            raise ConfigurationError(f"{source}: unknown top-level keys {sorted(unknown)}")
        defaults = _thresholds(Thresholds(), data.get("defaults") or {}, f"{source}: defaults")
        integrations = {
            str(name): _integration(defaults, item or {}, f"{source}: integrations.{name}")
            for name, item in (data.get("integrations") or {}).items()
        }
        return cls(defaults=defaults, integrations=integrations)


def config_path() -> Path | None:
    """The YAML file in use: the Airflow setting, else ``$AIRFLOW_HOME/reliable_api/monitoring.yaml``."""
    from airflow.configuration import conf

    configured = conf.get("reliable_api", "monitoring_config", fallback="") or ""
    if configured:
        return Path(configured)
    home = Path(os.environ.get("AIRFLOW_HOME", Path.home() / "airflow"))
    default = home / "reliable_api" / "monitoring.yaml"
    return default if default.exists() else None


def load_config(path: Path | None = None) -> MonitoringConfig:
    """The monitoring config from ``path`` (default :func:`config_path`); defaults without a file.

    :raises ConfigurationError: a named file that is missing, not YAML, or has a bad key or value.
    """
    import yaml

    path = path if path is not None else config_path()
    if path is None:
        return MonitoringConfig()
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as error:
        raise ConfigurationError(f"monitoring config {path}: {type(error).__name__}: {error}") from None
    if not isinstance(data, Mapping):
        raise ConfigurationError(f"monitoring config {path}: expected a mapping at the top")
    return MonitoringConfig.from_mapping(data, str(path))


def _thresholds(base: Thresholds, values: Mapping[str, Any], where: str) -> Thresholds:
    known = {item.name: item.type for item in fields(Thresholds)}
    changes: dict[str, Any] = {}
    for name, value in values.items():
        if name not in known:
            raise ConfigurationError(f"{where}: unknown threshold {name!r}")
        cast = int if known[name] in (int, "int") else float
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise ConfigurationError(f"{where}.{name}: expected a number >= 0, got {value!r}")
        changes[name] = cast(value)
    if changes.get("success_objective", 0) > 1:
        raise ConfigurationError(f"{where}.success_objective: a share between 0 and 1, e.g. 0.99")
    return dataclasses.replace(base, **changes)


def _integration(defaults: Thresholds, values: Mapping[str, Any], where: str) -> IntegrationSettings:
    own = {"renamed_from", "retired_after_days", "mute"}
    thresholds = _thresholds(defaults, {k: v for k, v in values.items() if k not in own}, where)
    renamed = values.get("renamed_from") or []
    if isinstance(renamed, str):
        renamed = [renamed]
    retired = values.get("retired_after_days", 7.0)
    if isinstance(retired, bool) or not isinstance(retired, (int, float)) or retired <= 0:
        raise ConfigurationError(f"{where}.retired_after_days: expected days > 0, got {retired!r}")
    mute = tuple(_mute(item, f"{where}.mute[{n}]") for n, item in enumerate(values.get("mute") or []))
    return IntegrationSettings(thresholds, tuple(str(name) for name in renamed), float(retired), mute)


def _mute(item: Any, where: str) -> MuteWindow:
    if not isinstance(item, Mapping) or "from" not in item or "until" not in item:
        raise ConfigurationError(f"{where}: expected {{from: ..., until: ...}} (and days: [...] for weekly)")
    try:
        if "days" in item:
            days = tuple(DAYS.index(str(day).lower()[:3]) for day in item["days"])
            return MuteWindow(
                days=days,
                from_time=time.fromisoformat(item["from"]),
                until_time=time.fromisoformat(item["until"]),
            )
        starts, ends = (_aware(item[key]) for key in ("from", "until"))
    except (ValueError, TypeError) as error:
        raise ConfigurationError(f"{where}: {error}") from None
    if ends <= starts:
        raise ConfigurationError(f"{where}: 'until' must come after 'from'")
    return MuteWindow(starts=starts, ends=ends)


def _aware(value: Any) -> datetime:
    moment = (
        value if isinstance(value, datetime) else datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    )
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
