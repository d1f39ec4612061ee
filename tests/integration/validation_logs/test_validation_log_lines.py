"""A validation's log says what it did in a few lines, without Great Expectations' chatter."""

from __future__ import annotations

import subprocess
import sys

import pytest

from reliable_api.exceptions import ContractError
from reliable_api.validation.contract import load_contract, packaged_contract

# In a fresh interpreter: GX logs most while it is first imported, which the test process did long ago.
SCRIPT = """
import logging, sys
logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="%(name)s %(levelname)s %(message)s")
from reliable_api.testing.sandbox.data import generate_contacts
from reliable_api.validation.boundary import validate_batch
from reliable_api.validation.contract import packaged_contract
records = list(generate_contacts(500, 0))
batch = validate_batch(records, packaged_contract("contacts"))
print("RESULT", len(batch.good), len(batch.rejected))
"""


def test_validating_500_records_logs_a_few_lines_of_ours_only() -> None:
    ran = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=300, check=False
    )
    assert ran.returncode == 0, ran.stderr[-3000:]
    lines = [line for line in (ran.stdout + ran.stderr).splitlines() if line.strip()]
    *logged, result = lines
    good, rejected = map(int, result.split()[1:])
    assert good + rejected == 500
    assert [line for line in logged if "great_expectations" in line] == []
    assert len(logged) < 10, logged
    ours = [line for line in logged if "reliable_api.validation" in line]
    assert any("Normalized 500 records in" in line for line in ours), logged
    assert any("Great Expectations checked them in" in line for line in ours), logged


def test_a_contract_path_that_does_not_exist_names_the_setting_and_the_right_ways() -> None:
    with pytest.raises(ContractError) as raised:
        load_contract("contracts/contcts.yaml")
    message = str(raised.value)
    assert message.startswith("contract='contracts/contcts.yaml': no such file")
    assert "contract='contacts'" in message
    assert "(shipped: contacts" in message
    with pytest.raises(ContractError, match=r"contract='contact': no contract of that name is shipped"):
        packaged_contract("contact")
