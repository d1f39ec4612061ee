from __future__ import annotations

import subprocess
import sys

CHECK = """
import sys
import reliable_api.testing.pytest_plugin
import reliable_api.testing.sandbox
print(",".join(sorted(m for m in ("fastapi", "uvicorn", "starlette") if m in sys.modules)))
"""


def test_plugin_and_package_do_not_load_the_web_stack() -> None:
    # The pytest plugin is loaded in every pytest run of every user of the provider.
    result = subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == ""
