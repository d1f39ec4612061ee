"""Contracts: what an entity's records must look like, one YAML file per entity.

A contract is loaded with ``yaml.safe_load`` and checked strictly: an unknown key at any level,
an unknown field type, normalizer, normalizer option or Great Expectations expectation type, or
a misspelt expectation argument is a :class:`~reliable_api.exceptions.ContractError` naming it
and the file. The layout::

    entity: contacts
    natural_key: [id]
    undeclared_fields: reject        # keep | drop | reject (default reject)
    defaults: {phone_region: US, timezone: UTC, date_formats: [iso8601, MM/DD/YYYY]}
    fields:
      email: {type: email, required: true, options: {lowercase_local: true}}
    expectations:
      - ExpectColumnValuesToNotBeNull: {column: email}
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml

from reliable_api.exceptions import ContractError
from reliable_api.validation.normalizers import FIELD_TYPES, NORMALIZERS, Defaults

log = logging.getLogger(__name__)

UNDECLARED_FIELD_POLICIES = ("keep", "drop", "reject")
_TOP_KEYS = frozenset(
    {"entity", "description", "natural_key", "undeclared_fields", "defaults", "fields", "expectations"}
)
_FIELD_KEYS = frozenset({"type", "required", "normalizer", "options", "description"})
# Expectation arguments that name columns: checked against the declared fields.
_COLUMN_ARGUMENTS = ("column", "column_A", "column_B")
_COLUMN_LIST_ARGUMENTS = ("column_list",)
_DEFAULT_TYPES: dict[str, type | tuple[type, ...]] = {
    "phone_region": (str, type(None)),
    "timezone": str,
    "date_formats": list,
    "decimal_separator": str,
    "thousands_separator": (str, type(None)),
    "unicode_form": str,
}


@dataclass(frozen=True)
class FieldSpec:
    """One declared field.

    :param name: the field's name in the records.
    :param type: one of :data:`~reliable_api.validation.normalizers.FIELD_TYPES`.
    :param required: a missing, null or blank value is a rejection when true, ``None`` otherwise.
    :param normalizer: the normalizer's name (by default the type's own).
    :param options: the normalizer's options.
    """

    name: str
    type: str
    required: bool
    normalizer: str
    options: Mapping[str, Any]


@dataclass(frozen=True)
class ExpectationSpec:
    """A Great Expectations expectation by its class name, with its keyword arguments."""

    type: str
    kwargs: Mapping[str, Any]


@dataclass(frozen=True)
class Contract:
    """An entity's contract, as loaded from its file.

    :param entity: the entity's name (``contacts``).
    :param natural_key: the fields that identify a record.
    :param fields: the declared fields, in file order.
    :param defaults: contract-wide normalizer settings.
    :param expectations: the Great Expectations suite, in file order.
    :param undeclared_fields: what happens to a field the contract does not declare.
    :param source: the file it was loaded from.
    """

    entity: str
    natural_key: tuple[str, ...]
    fields: tuple[FieldSpec, ...]
    defaults: Defaults
    expectations: tuple[ExpectationSpec, ...]
    undeclared_fields: str = "reject"
    source: str = ""


def load_contract(path: str | Path, *, check_expectations: bool = True) -> Contract:
    """Load and check the contract in ``path``.

    :param check_expectations: check expectation types and arguments against Great Expectations
        (imports it, which takes seconds); the runner that uses the suite should leave it on.
    :raises ContractError: for unreadable YAML (with its line) or anything the contract gets wrong.
    """
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ContractError(
            f"contract={source!r}: no such file (resolved to {Path(path).resolve()}); give the path "
            "of a contract YAML that exists, e.g. contract='/opt/airflow/dags/contracts/contacts.yaml', "
            "or the name of a shipped contract, e.g. contract='contacts' "
            f"(shipped: {', '.join(shipped_contracts())})"
        ) from None
    except OSError as error:
        raise ContractError(f"{source}: cannot read the contract: {error.strerror}") from None
    return parse_contract(text, source, check_expectations=check_expectations)


def packaged_contract(entity: str, *, check_expectations: bool = True) -> Contract:
    """The contract shipped with the provider for ``entity`` (e.g. the sandbox's ``contacts``)."""
    resource = resources.files("reliable_api.validation") / "contracts" / f"{entity}.yaml"
    try:
        text = resource.read_text(encoding="utf-8")
    except OSError:
        raise ContractError(
            f"contract={entity!r}: no contract of that name is shipped with the provider "
            f"(shipped: {', '.join(shipped_contracts())}); for your own, give its YAML path, "
            "e.g. contract='/opt/airflow/dags/contracts/orders.yaml'"
        ) from None
    return parse_contract(text, str(resource), check_expectations=check_expectations)


def shipped_contracts() -> list[str]:
    """The names of the contracts shipped with the provider."""
    folder = resources.files("reliable_api.validation") / "contracts"
    return sorted(item.name.removesuffix(".yaml") for item in folder.iterdir() if item.name.endswith(".yaml"))


def parse_contract(text: str, source: str, *, check_expectations: bool = True) -> Contract:
    """Parse a contract from YAML ``text``; ``source`` names it in errors."""
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark is not None else source
        problem = getattr(error, "problem", None) or str(error)
        raise ContractError(f"{where}: not valid YAML: {problem}") from None
    top = _mapping(document, "the contract", source)
    _no_unknown_keys(top, _TOP_KEYS, "the contract", source)
    entity = top.get("entity")
    if not isinstance(entity, str) or not entity:
        raise ContractError(f"{source}: 'entity' must be a non-empty string")
    defaults = _defaults(top.get("defaults", {}), source)
    field_specs = tuple(
        _field(name, spec, defaults, source)
        for name, spec in _mapping(top.get("fields"), "'fields'", source).items()
    )
    declared = {spec.name for spec in field_specs}
    natural_key = _names(top.get("natural_key"), "'natural_key'", source)
    for name in natural_key:
        if name not in declared:
            raise ContractError(f"{source}: natural key field {name!r} is not a declared field")
    policy = top.get("undeclared_fields", "reject")
    if policy not in UNDECLARED_FIELD_POLICIES:
        raise ContractError(
            f"{source}: 'undeclared_fields' must be one of {UNDECLARED_FIELD_POLICIES}, not {policy!r}"
        )
    expectations = _expectations(top.get("expectations", []), declared, source)
    if check_expectations:
        check_expectation_types(expectations, source)
    return Contract(entity, natural_key, field_specs, defaults, expectations, policy, source)


def check_expectation_types(expectations: tuple[ExpectationSpec, ...], source: str) -> None:
    """Check each expectation's class name and arguments against Great Expectations.

    GX drops an unknown expectation type silently when it loads a suite, so a misspelt name
    would quietly check nothing. Imports great_expectations: call it at task time only.

    :raises ContractError: naming an unknown type, an unknown or missing argument, or a value GX
        refuses.
    """
    from reliable_api.validation.quiet import quiet_great_expectations

    if expectations:
        log.info("Checking the contract's %d expectations against Great Expectations", len(expectations))
    with quiet_great_expectations():
        import great_expectations.expectations as gx_expectations

    for spec in expectations:
        cls = getattr(gx_expectations, spec.type, None)
        if not isinstance(cls, type) or not spec.type.startswith("Expect"):
            raise ContractError(f"{source}: unknown Great Expectations expectation type {spec.type!r}")
        model_fields: Mapping[str, Any] = getattr(cls, "model_fields", None) or getattr(cls, "__fields__", {})
        unknown = sorted(set(spec.kwargs) - set(model_fields))
        if unknown:
            raise ContractError(f"{source}: {spec.type} has no argument {unknown[0]!r}")
        try:
            cls(**spec.kwargs)
        except Exception as error:  # GX raises pydantic's or its own errors: all mean a bad argument.
            raise ContractError(f"{source}: {spec.type} refuses its arguments: {error}") from None


def _mapping(value: Any, what: str, source: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ContractError(f"{source}: {what} must be a mapping, not {type(value).__name__}")
    return value


def _no_unknown_keys(mapping: Mapping[str, Any], known: frozenset[str], what: str, source: str) -> None:
    unknown = sorted(str(key) for key in set(mapping) - known)
    if unknown:
        raise ContractError(
            f"{source}: unknown key {unknown[0]!r} in {what} (known: {', '.join(sorted(known))})"
        )


def _names(value: Any, what: str, source: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not value or not all(isinstance(item, str) for item in value):
        raise ContractError(f"{source}: {what} must be a non-empty list of field names")
    return tuple(value)


def _defaults(value: Any, source: str) -> Defaults:
    mapping = _mapping(value, "'defaults'", source)
    _no_unknown_keys(mapping, frozenset(_DEFAULT_TYPES), "'defaults'", source)
    for key, item in mapping.items():
        if key != "date_formats" and not isinstance(item, _DEFAULT_TYPES[key]):
            raise ContractError(f"{source}: default {key!r} must be text, not {item!r}")
    if "date_formats" in mapping:
        mapping = {**mapping, "date_formats": _names(mapping["date_formats"], "'date_formats'", source)}
    return Defaults(**mapping)


def _field(name: Any, value: Any, defaults: Defaults, source: str) -> FieldSpec:
    what = f"field {name!r}"
    spec = _mapping(value, what, source)
    _no_unknown_keys(spec, _FIELD_KEYS, what, source)
    field_type = spec.get("type")
    if field_type not in FIELD_TYPES:
        raise ContractError(
            f"{source}: {what} has unknown type {field_type!r} (known: {', '.join(FIELD_TYPES)})"
        )
    normalizer = spec.get("normalizer", FIELD_TYPES[field_type])
    kind = NORMALIZERS.get(normalizer)
    if kind is None:
        raise ContractError(
            f"{source}: {what} names unknown normalizer {normalizer!r} (known: {', '.join(NORMALIZERS)})"
        )
    if field_type not in kind.serves:
        raise ContractError(f"{source}: {what}: normalizer {normalizer!r} cannot produce type {field_type!r}")
    options = _mapping(spec.get("options", {}), f"the options of {what}", source)
    unknown = sorted(set(options) - kind.options)
    if unknown:
        raise ContractError(
            f"{source}: {what}: normalizer {normalizer!r} has no option {unknown[0]!r}"
            f" (known: {', '.join(sorted(kind.options))})"
        )
    required = spec.get("required", False)
    if not isinstance(required, bool):
        raise ContractError(f"{source}: {what}: 'required' must be true or false")
    try:
        kind.build(str(name), options, defaults)  # bad option values fail now, not mid-batch
    except ContractError as error:
        raise ContractError(f"{source}: {what}: {error.message}") from None
    return FieldSpec(str(name), field_type, required, normalizer, MappingProxyType(dict(options)))


def _expectations(value: Any, declared: set[str], source: str) -> tuple[ExpectationSpec, ...]:
    if not isinstance(value, list):
        raise ContractError(f"{source}: 'expectations' must be a list of {{ExpectationName: {{arguments}}}}")
    specs = []
    for position, item in enumerate(value, start=1):
        if not isinstance(item, dict) or len(item) != 1:
            raise ContractError(
                f"{source}: expectation #{position} must be one {{ExpectationName: {{arguments}}}}"
            )
        ((name, kwargs),) = item.items()
        kwargs = _mapping(kwargs, f"the arguments of {name}", source)
        columns = [kwargs[key] for key in _COLUMN_ARGUMENTS if key in kwargs]
        for key in _COLUMN_LIST_ARGUMENTS:
            listed = kwargs.get(key, [])
            if not isinstance(listed, list):
                raise ContractError(f"{source}: {name}: {key!r} must be a list of field names")
            columns += listed
        for column in columns:
            if not isinstance(column, str) or column not in declared:
                raise ContractError(
                    f"{source}: {name} names column {column!r}, which is not a declared field"
                )
        specs.append(ExpectationSpec(str(name), MappingProxyType(dict(kwargs))))
    return tuple(specs)
