"""Thresholds in one YAML: defaults, per-integration overrides, renames, mute windows, bad keys."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest

from reliable_api.exceptions import ConfigurationError
from reliable_api.monitoring.settings import MonitoringConfig, Thresholds, load_config

YAML = """
defaults:
  success_objective: 0.98
integrations:
  crm_contacts:
    success_objective: 0.995
    renamed_from: crm
    retired_after_days: 14
    mute:
      - {from: "2026-12-24T00:00:00Z", until: "2026-12-27T00:00:00Z"}
      - {days: [sat, sun], from: "23:00", until: "02:00"}
"""


def test_defaults_overrides_renames_and_mute_windows(tmp_path: Path) -> None:
    path = tmp_path / "monitoring.yaml"
    path.write_text(YAML)
    config = load_config(path)
    crm = config.for_integration("crm_contacts")
    assert crm.thresholds.success_objective == 0.995
    assert crm.thresholds.min_history == Thresholds().min_history
    assert config.for_integration("erp").thresholds.success_objective == 0.98
    assert (crm.renamed_from, crm.retired_after_days, config.aliases()) == (
        ("crm",),
        14.0,
        {"crm": "crm_contacts"},
    )
    utc = timezone.utc
    assert crm.muted(datetime(2026, 12, 25, 12, tzinfo=utc))
    assert crm.muted(datetime(2026, 12, 27, 0, 30, tzinfo=utc))  # Sunday 00:30
    assert not crm.muted(datetime(2026, 12, 27, 2, 30, tzinfo=utc))  # Sunday 02:30
    assert crm.muted(datetime(2026, 12, 26, 23, 30, tzinfo=utc))  # Saturday 23:30, across midnight
    assert not crm.muted(datetime(2026, 12, 28, 23, 30, tzinfo=utc))  # Monday
    assert not config.for_integration("erp").muted(datetime(2026, 12, 25, tzinfo=utc))


@pytest.mark.parametrize(
    ("data", "named"),
    [
        ({"integrations": {"crm": {"succes_objective": 0.9}}}, "unknown threshold 'succes_objective'"),
        ({"defaults": {"min_history": "eight"}}, "defaults.min_history: expected a number"),
        ({"defaults": {"success_objective": 99}}, "a share between 0 and 1"),
        ({"integrations": {"crm": {"mute": [{"from": "2026-12-02"}]}}}, r"crm.mute\[0\]"),
        ({"integration": {}}, "unknown top-level keys"),
    ],
)
def test_a_bad_key_or_value_is_named(data: dict[str, object], named: str) -> None:
    with pytest.raises(ConfigurationError, match=named):
        MonitoringConfig.from_mapping(data)


def test_a_missing_named_file_is_an_error_and_no_file_means_defaults(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match=r"nope\.yaml"):
        load_config(tmp_path / "nope.yaml")
    assert MonitoringConfig().for_integration("x").thresholds == Thresholds()
