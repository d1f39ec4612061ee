from __future__ import annotations

from pathlib import Path

import pytest

from reliable_api.exceptions import ConfigurationError, ContractError
from reliable_api.validation.contract import ExpectationSpec, load_contract, packaged_contract

GOOD = """\
entity: people
natural_key: [id]
undeclared_fields: keep
defaults:
  phone_region: DE
  timezone: Europe/Berlin
  date_formats: [iso8601, DD.MM.YYYY]
fields:
  id: {type: string, required: true}
  email: {type: email, required: true, options: {allow: [mailinator.com]}}
  phone: {type: phone, options: {extension: drop}}
  birthday: {type: date, options: {min_year: 1900}}
  status: {type: enum, options: {values: [active, churned]}}
expectations:
  - ExpectColumnValuesToNotBeNull: {column: email}
  - ExpectColumnValuesToMatchRegex: {column: phone, regex: "^\\\\+"}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "people.yaml"
    path.write_text(text)
    return path


def test_a_good_contract_loads_into_frozen_specs(tmp_path: Path) -> None:
    contract = load_contract(write(tmp_path, GOOD), check_expectations=False)
    assert contract.entity == "people"
    assert contract.natural_key == ("id",)
    assert contract.undeclared_fields == "keep"
    assert [(f.name, f.type, f.required, f.normalizer) for f in contract.fields] == [
        ("id", "string", True, "string"),
        ("email", "email", True, "email"),
        ("phone", "phone", False, "phone"),
        ("birthday", "date", False, "date"),
        ("status", "enum", False, "enum"),
    ]
    assert contract.defaults.date_formats == ("iso8601", "DD.MM.YYYY")
    assert contract.expectations[0] == ExpectationSpec("ExpectColumnValuesToNotBeNull", {"column": "email"})
    with pytest.raises(TypeError):
        contract.fields[0].options["max_length"] = 3  # type: ignore[index]


def replaced(old: str, new: str) -> str:
    assert old in GOOD
    return GOOD.replace(old, new)


@pytest.mark.parametrize(
    ("text", "named"),
    [
        (GOOD + "owner: me\n", "'owner'"),
        (replaced("undeclared_fields: keep", "undeclared_fields: ignore"), "'ignore'"),
        (replaced("  timezone: Europe/Berlin", "  time_zone: Europe/Berlin"), "'time_zone'"),
        (
            replaced("  id: {type: string, required: true}", "  id: {type: string, requird: true}"),
            "'requird'",
        ),
        (replaced("  id: {type: string, required: true}", "  id: {type: text, required: true}"), "'text'"),
        (replaced("{type: phone, options", "{type: phone, normalizer: telephone, options"), "'telephone'"),
        (replaced("{type: phone, options", "{type: phone, normalizer: date, options"), "'date'"),
        (replaced("{extension: drop}", "{extention: drop}"), "'extention'"),
        (replaced("{min_year: 1900}", "{min_year: 1900, timezone: Mars/Olympus}"), "'Mars/Olympus'"),
        (replaced("natural_key: [id]", "natural_key: [uid]"), "'uid'"),
        (replaced("{column: email}", "{column: e_mail}"), "'e_mail'"),
        (replaced("string, required: true}", "string, required: yes please}"), "'required'"),
        ("- just\n- a list\n", "mapping"),
    ],
)
def test_unknown_or_misspelt_things_are_named_with_the_file(tmp_path: Path, text: str, named: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ContractError) as error:
        load_contract(path, check_expectations=False)
    assert named in str(error.value)
    assert str(path) in str(error.value)


def test_a_yaml_syntax_error_names_the_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, replaced("  phone: {type: phone", "  phone: {type: [phone"))
    with pytest.raises(ContractError) as error:
        load_contract(path, check_expectations=False)
    assert f"{path}:11:" in str(error.value)


def test_a_missing_file_is_a_contract_error(tmp_path: Path) -> None:
    with pytest.raises(ContractError, match=r"nope\.yaml': no such file"):
        load_contract(tmp_path / "nope.yaml")
    with pytest.raises(ContractError, match="cannot read the contract"):
        load_contract(tmp_path)  # a directory


def test_contract_errors_are_configuration_errors() -> None:
    assert issubclass(ContractError, ConfigurationError)


@pytest.mark.parametrize(
    ("expectation", "named"),
    [
        ("ExpectColumnValuesToNotBeNul: {column: email}", "'ExpectColumnValuesToNotBeNul'"),
        ("ExpectColumnValuesToMatchRegex: {column: email, regexp: x}", "'regexp'"),
        (
            "ExpectColumnValuesToBeBetween: {column: birthday, min_value: 1, mostly: 2}",
            "ExpectColumnValuesToBeBetween",
        ),
        ("DataContext: {}", "'DataContext'"),
    ],
)
def test_expectation_types_and_arguments_are_checked_against_great_expectations(
    tmp_path: Path, expectation: str, named: str
) -> None:
    path = write(tmp_path, f"{GOOD}  - {expectation}\n")
    with pytest.raises(ContractError) as error:
        load_contract(path)
    assert named in str(error.value)
    assert str(path) in str(error.value)


def test_the_packaged_contacts_contract_passes_every_check() -> None:
    contract = packaged_contract("contacts")
    assert contract.entity == "contacts"
    assert contract.natural_key == ("id",)
    assert {f.name for f in contract.fields} == {
        "id", "external_id", "first_name", "last_name", "email", "phone",
        "company_id", "birthday", "signup_date", "updated_at",
    }  # fmt: skip
    assert {spec.type for spec in contract.expectations} >= {
        "ExpectColumnValuesToNotBeNull",
        "ExpectColumnValuesToBeUnique",
        "ExpectColumnValuesToMatchRegex",
        "ExpectTableRowCountToBeBetween",
    }


def test_an_entity_without_a_shipped_contract_is_a_contract_error() -> None:
    with pytest.raises(ContractError, match="'vendors'"):
        packaged_contract("vendors", check_expectations=False)
