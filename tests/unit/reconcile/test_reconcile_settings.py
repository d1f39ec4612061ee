"""Reconciliation settings: what each accepts, and errors that name the setting with an example."""

from __future__ import annotations

import pytest

from reliable_api.exceptions import ConfigurationError
from reliable_api.idempotency.reconcile import ReconcileCounts, Reconciliation


def test_modes_and_defaults() -> None:
    assert Reconciliation.of(None) == Reconciliation(mode="off", policy="recreate")
    assert Reconciliation.of("") == Reconciliation()
    assert Reconciliation.of("full").mode == "full"
    assert Reconciliation.of({"mode": "sample", "sample_ratio": 0.2}) == Reconciliation(
        mode="sample", sample_ratio=0.2
    )
    settings = Reconciliation(policy="dead_letter")
    assert Reconciliation.of(settings) is settings


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"policy": "recrate"}, "reconcile policy must be one of recreate, dead_letter, got 'recrate'"),
        ({"mode": "sampled"}, "reconcile mode must be one of off, sample, full, got 'sampled'"),
        ({"mode": "sample", "sample_ratio": 5}, "reconcile sample_ratio must be between 0 and 1, got 5"),
        ({"on_missing": "recreate"}, "unknown reconcile setting(s) ['on_missing']"),
    ],
)
def test_bad_settings_are_named_with_a_correct_example(value: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigurationError) as raised:
        Reconciliation.of(value)
    assert message in str(raised.value)
    assert 'reconcile=Reconciliation(mode="sample", sample_ratio=0.05, policy="recreate")' in str(
        raised.value
    )


def test_a_sample_is_its_share_and_differs_per_run() -> None:
    keys = [f"k{n}" for n in range(20_000)]
    sample = Reconciliation(mode="sample", sample_ratio=0.05)
    first = {key for key in keys if sample.chooses(key, "run-1")}
    second = {key for key in keys if sample.chooses(key, "run-2")}
    assert 800 < len(first) < 1200
    assert first != second
    assert first == {key for key in keys if sample.chooses(key, "run-1")}  # the same run picks the same
    assert all(Reconciliation(mode="full").chooses(key, "x") for key in keys[:10])
    assert not any(Reconciliation(mode="off").chooses(key, "x") for key in keys[:10])


def test_counts_go_to_metrics_with_a_prefix() -> None:
    assert ReconcileCounts(checked=3, missing=1, recreated=1).to_dict() == {
        "reconcile_checked": 3,
        "reconcile_missing": 1,
        "reconcile_changed": 0,
        "reconcile_recreated": 1,
        "reconcile_dead_lettered": 0,
    }
