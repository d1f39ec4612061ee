"""The offline vulnerability check of .ci/run (``.ci/advisories.py``): what it flags and what fails."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / ".ci" / "advisories.py"


@pytest.fixture(scope="module")
def advisories() -> ModuleType:
    spec = importlib.util.spec_from_file_location("ci_advisories", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


ADVISORY = {"id": "PYSEC-TEST-1", "ranges": [["0", "2.7.2"], ["3.0", None]], "versions": ["2.8rc1"]}


@pytest.mark.parametrize(
    ("version", "hit"),
    [
        ("2.7.1", True),
        ("2.7.2", False),
        ("2.9", False),
        ("2.8rc1", True),
        ("3.1", True),
        ("not-a-version", False),
    ],
)
def test_a_release_is_affected_inside_a_range_or_when_listed(
    advisories: ModuleType, version: str, hit: bool
) -> None:
    assert advisories.affected(version, ADVISORY) is hit


def test_findings_name_the_fix_when_there_is_one(advisories: ModuleType) -> None:
    data = {
        "jinja2": [ADVISORY],
        "redis": [{"id": "PYSEC-TEST-2", "ranges": [["0", None]], "versions": []}],
    }
    found = advisories.findings({"jinja2": "2.7.1", "redis": "6.4.0", "requests": "2.0"}, data)
    assert found == [
        {"package": "jinja2", "version": "2.7.1", "id": "PYSEC-TEST-1", "fixed_in": ["2.7.2"]},
        {"package": "redis", "version": "6.4.0", "id": "PYSEC-TEST-2", "fixed_in": []},
    ]


def test_refresh_reads_the_advisory_database_layout(advisories: ModuleType, tmp_path: Path) -> None:
    folder = tmp_path / "vulns" / "jinja2"
    folder.mkdir(parents=True)
    (folder / "PYSEC-2014-8.yaml").write_text(
        "id: PYSEC-2014-8\naffected:\n- package: {name: Jinja2, ecosystem: PyPI}\n  ranges:\n"
        "  - type: ECOSYSTEM\n    events: [{introduced: '0'}, {fixed: 2.7.2}]\n  versions: ['2.7']\n"
    )
    data_file = tmp_path / "advisories.json"
    advisories.DATA = data_file
    advisories.refresh(tmp_path, "test")
    data = json.loads(data_file.read_text())
    assert data["advisories"]["jinja2"] == [
        {"id": "PYSEC-2014-8", "ranges": [["0", "2.7.2"]], "versions": ["2.7"]}
    ]


def test_the_check_runs_over_this_environment_and_names_its_source() -> None:
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "check"], capture_output=True, text=True, timeout=300
    )
    assert result.stdout.startswith("advisories: pypa/advisory-database at ")
    assert result.returncode in (0, 1)
    assert (result.returncode == 1) == (
        " with a fix" in result.stdout and "0 with a fix" not in result.stdout
    )
