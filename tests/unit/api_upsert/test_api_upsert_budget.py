"""The failure budget counts records rejected before any request, too."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from reliable_api.exceptions import FailureBudgetExceeded
from reliable_api.idempotency.api_upsert import ApiResource, ApiUpserter
from reliable_api.idempotency.ledger import Ledger
from reliable_api.state.engine import make_engine


class NoRequests:
    def request(self, method: str, endpoint: str, **kwargs: Any) -> Any:
        raise AssertionError(f"unexpected request {method} {endpoint}")


def upserter(tmp_path: Path, failures: list[str]) -> ApiUpserter:
    return ApiUpserter(
        NoRequests(),
        ApiResource(natural_key=("email",), create_path="/c", update_path="/c/{id}"),
        Ledger(make_engine(f"sqlite:///{tmp_path / 's.db'}"), "crm"),
        lambda key, payload, error: failures.append(key),
    )


def test_a_batch_without_natural_keys_fails_the_run(tmp_path: Path) -> None:
    failures: list[str] = []
    with pytest.raises(FailureBudgetExceeded, match="2 of 2 records"):
        upserter(tmp_path, failures).run([{"name": "a"}, {"email": ""}])
    assert len(failures) == 2
    assert all(key.startswith("no-key:") for key in failures)


def test_an_empty_batch_does_nothing(tmp_path: Path) -> None:
    counts = upserter(tmp_path, []).run([])
    assert counts.to_dict() == {
        "created": 0,
        "updated": 0,
        "unchanged": 0,
        "adopted": 0,
        "dead_lettered": 0,
        "duplicates_in_batch": 0,
        "requests": 0,
        "resolved_lost": 0,
    }
