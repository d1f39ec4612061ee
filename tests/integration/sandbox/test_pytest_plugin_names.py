"""The provider's pytest fixtures as a user's pytest run sees them: prefixed names, old ones deprecated."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

USER_TESTS = """
import httpx
import pytest

from reliable_api.testing.pytest_plugin import ReliableApiFixtureDeprecationWarning


def test_prefixed(reliable_api_sandbox, reliable_api_make_sandbox):
    assert httpx.get(f"{reliable_api_sandbox.url}/v1/contacts").status_code == 200
    own = reliable_api_make_sandbox(api_keys=["k"])
    assert httpx.get(f"{own.url}/v1/contacts").status_code == 401


@pytest.mark.filterwarnings("error::DeprecationWarning")
def test_old_name(request):
    with pytest.warns(ReliableApiFixtureDeprecationWarning, match="use 'reliable_api_sandbox'"):
        old = request.getfixturevalue("sandbox")
    assert old is request.getfixturevalue("reliable_api_sandbox")
"""


def test_users_get_the_prefixed_fixtures_and_a_warning_for_the_old_names(tmp_path: Path) -> None:
    (tmp_path / "test_user.py").write_text(USER_TESTS)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly", str(tmp_path)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert "2 passed" in result.stdout, result.stdout[-3000:]
