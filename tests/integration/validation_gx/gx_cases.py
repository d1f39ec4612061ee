"""Expectations and batches shared by the Great Expectations runner's tests."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any


@dataclass(frozen=True)
class Spec:
    """An expectation as a contract gives it: GX class name and kwargs."""

    type: str
    kwargs: Mapping[str, Any] = field(default_factory=dict)


def expect(type_name: str, **kwargs: Any) -> Spec:
    return Spec(type_name, kwargs)


def sandbox_contacts(n: int) -> list[dict[str, Any]]:
    """The sandbox's contacts, every value as a string and an absent field as null."""
    from reliable_api.testing.sandbox.data import generate_contacts

    fields = ("id", "external_id", "first_name", "last_name", "email", "phone", "company_id", "birthday")
    now = datetime(2026, 1, 1, tzinfo=timezone.utc)
    return [
        {name: None if record.get(name) is None else str(record[name]) for name in fields}
        for record in generate_contacts(n, seed=11, now=now)
    ]


def rejected_keys_the_provider_way(
    rows: Sequence[Mapping[str, Any]], specs: Sequence[Spec], key: str
) -> set[str]:
    """The keys that GX's COMPLETE result with ``unexpected_index_column_names`` names as failing."""
    import great_expectations as gx
    import pandas as pd

    context = gx.get_context(mode="ephemeral")
    batch = (
        context.data_sources.add_pandas(name="peer")
        .add_dataframe_asset(name="peer")
        .add_batch_definition_whole_dataframe(name="peer")
        .get_batch(batch_parameters={"dataframe": pd.DataFrame(rows)})
    )
    suite = gx.ExpectationSuite(
        name="peer", expectations=[getattr(gx.expectations, s.type)(**s.kwargs) for s in specs]
    )
    result = batch.validate(
        suite, result_format={"result_format": "COMPLETE", "unexpected_index_column_names": [key]}
    )
    return {str(item[key]) for r in result.results for item in r.result.get("unexpected_index_list") or ()}
