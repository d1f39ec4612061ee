"""Contracts of any shape, and the normalizers a loaded contract builds, under hostile records.

Loading either gives a :class:`Contract` or raises :class:`ContractError` naming the problem;
a contract that loads normalizes any batch without an exception, and every record comes out
either good or rejected: nothing is dropped.
"""

from __future__ import annotations

from typing import Any

import yaml
from hypothesis import event, given
from hypothesis import strategies as st

from reliable_api.exceptions import ContractError
from reliable_api.validation.contract import parse_contract
from reliable_api.validation.normalize import ContractNormalizer
from reliable_api.validation.normalizers import NORMALIZERS
from tests.fuzz.fuzz_settings import fuzz

SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.floats(),
    st.text(max_size=12),
    st.sampled_from(["US", "GB", "UTC", "Europe/Paris", "Mars/Olympus", "upper", "lower", "title", "utc"]),
    st.sampled_from(["iso8601", "MM/DD/YYYY", "DD.MM.YYYY", "epoch_seconds", "YYYY", "%Y", "NFC", "NFKD"]),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=6,
)
FIELD_NAMES = st.sampled_from(["id", "email", "phone", "born", "n", "ok", "kind", ""]) | st.text(max_size=5)
OPTION_NAMES = st.sampled_from(sorted({name for kind in NORMALIZERS.values() for name in kind.options}))


def sometimes(draw: st.DrawFn) -> bool:
    """True one time in ten: where a mostly valid document gets something wrong."""
    return draw(st.integers(min_value=0, max_value=9)) == 5  # not 0: Hypothesis favours it


@st.composite
def field_specs(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(sorted(NORMALIZERS)))
    spec: dict[str, Any] = {"type": draw(st.sampled_from([kind, "uuid", None])) if sometimes(draw) else kind}
    if draw(st.booleans()):
        spec["required"] = draw(SCALARS) if sometimes(draw) else draw(st.booleans())
    if sometimes(draw):
        spec["normalizer"] = draw(st.sampled_from([*NORMALIZERS, "soundex"]))
    if draw(st.booleans()):
        names = OPTION_NAMES if sometimes(draw) else st.sampled_from(sorted(NORMALIZERS[kind].options))
        spec["options"] = draw(st.dictionaries(names, SCALARS if draw(st.booleans()) else VALUES, max_size=2))
    if sometimes(draw) and sometimes(draw):
        spec[draw(st.text(max_size=4))] = draw(VALUES)
    return spec


@st.composite
def contract_documents(draw: st.DrawFn) -> dict[str, Any]:
    fields = draw(st.dictionaries(FIELD_NAMES, field_specs(), min_size=1, max_size=5))
    names = [*fields, "missing"] if sometimes(draw) else list(fields)
    document: dict[str, Any] = {
        "entity": draw(SCALARS) if sometimes(draw) else "things",
        "natural_key": draw(VALUES)
        if sometimes(draw)
        else draw(st.lists(st.sampled_from(names), min_size=1, max_size=2)),
        "fields": fields,
    }
    if draw(st.booleans()):
        document["undeclared_fields"] = draw(st.sampled_from(["keep", "drop", "reject", "explode"]))
    if draw(st.booleans()):
        document["defaults"] = draw(
            st.dictionaries(
                st.sampled_from(["phone_region", "timezone", "date_formats", "decimal_separator", "bogus"]),
                SCALARS if draw(st.booleans()) else VALUES,
                max_size=2,
            )
        )
    if draw(st.booleans()):
        argument = st.sampled_from(["column", "column_A", "column_list", "min_value", "mostly"])
        column = st.sampled_from(names)
        arguments = st.dictionaries(
            argument, st.one_of(column, st.lists(column, max_size=2), VALUES), max_size=2
        )
        expectation = st.dictionaries(
            st.sampled_from(["ExpectColumnValuesToNotBeNull", "ExpectColumnValuesToBeUnique"]),
            VALUES if sometimes(draw) else arguments,
            min_size=1,
            max_size=1 if draw(st.booleans()) else 2,
        )
        document["expectations"] = (
            draw(VALUES) if sometimes(draw) else draw(st.lists(expectation, max_size=3))
        )
    return document


@st.composite
def contract_texts(draw: st.DrawFn) -> str:
    """A contract document as YAML, sometimes cut short or with a byte changed."""
    text = yaml.safe_dump(draw(contract_documents()), allow_unicode=True)
    if sometimes(draw):
        at = draw(st.integers(min_value=0, max_value=len(text)))
        text = (
            text[:at]
            + draw(st.sampled_from(["", ":", "\t", "- ", "{", "&a *a", "!!python/object:os.system"]))
            + text[at:]
        )
    return text


RECORDS = st.lists(
    st.dictionaries(st.one_of(FIELD_NAMES, st.text(max_size=4)), VALUES, max_size=6), max_size=6
)


def load(text: str) -> Any:
    """The contract in ``text``, or ``None`` when it is refused with an error naming its source."""
    try:
        return parse_contract(text, "fuzz.yaml", check_expectations=False)
    except ContractError as error:
        refusal = str(error)
    assert refusal.startswith("fuzz.yaml"), refusal
    return None


@fuzz
@given(contract_texts(), RECORDS)
def test_a_contract_loads_or_names_its_problem_and_a_loaded_one_loses_no_record(
    text: str, records: list[dict[str, Any]]
) -> None:
    contract = load(text)
    event("loaded" if contract is not None else "refused")
    if contract is None:
        return
    batch = ContractNormalizer(contract, cache_size=4).normalize(records)
    assert len(batch.good) + len(batch.rejected) == len(records)
    assert all(rejection.reason for rejected in batch.rejected for rejection in rejected.rejections)


@fuzz
@given(st.text(max_size=300))
def test_any_text_is_a_contract_or_a_contract_error(text: str) -> None:
    load(text)
