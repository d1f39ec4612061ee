"""A try's row keeps the API quota its hooks saw last, so the quota burn check has data."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from reliable_api.monitoring.recorder import RecordedRun


@dataclass
class Counters:
    values: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.values)


@dataclass
class Hook:
    counters: Counters


def test_the_scarcest_quota_of_the_hooks_is_kept_and_throttling_summed() -> None:
    run = RecordedRun({}, "crm")
    run.watch(Hook(Counters({"requests": 3, "quota_remaining": 900, "quota_limit": 1000})))
    run.watch(Hook(Counters({"requests": 2, "quota_remaining": 40, "quota_limit": 100})))
    run.watch(Hook(Counters({"requests": 1})))  # a hook whose API reports no quota
    counts = run.counts()
    assert (counts["requests"], counts["quota_remaining"], counts["quota_limit"]) == (6, 40, 100)


def test_no_quota_reported_means_no_quota_measures() -> None:
    run = RecordedRun({}, "crm")
    run.watch(Hook(Counters({"requests": 1, "quota_limit": 0})))
    assert "quota_remaining" not in run.counts()
