"""How many examples each fuzz test draws: a bounded number by default, many behind a flag.

``RELIABLE_API_FUZZ_EXAMPLES=10000 pytest tests/fuzz --timeout=0`` is the long run (docs/reliability.md);
the default keeps the suite a few seconds long in CI.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

EXAMPLES = int(os.environ.get("RELIABLE_API_FUZZ_EXAMPLES", "100"))

#: The settings of every fuzz test: examples as above, no deadline (a loaded CI machine is slow).
fuzz = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)
