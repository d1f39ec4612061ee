"""``python -m reliable_api.deadletter``: see :mod:`reliable_api.deadletter.cli`."""

from __future__ import annotations

import sys

from reliable_api.deadletter.cli import main

sys.exit(main())
