"""Great Expectations' own chatter kept out of task logs.

Importing GX and creating a context logs hundreds of INFO lines ("Skipping registering function
... because it is a closure", "Multiple declarations of metric ...", "Created temporary directory
... for ephemeral docs site"), which drown the task's own lines. Its warnings and errors still
come through.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

#: The loggers silenced below WARNING while GX runs.
NOISY_LOGGERS = ("great_expectations",)


@contextmanager
def quiet_great_expectations() -> Iterator[None]:
    """Import GX, raise its loggers to WARNING for the duration, then restore their levels."""
    parent = logging.getLogger(NOISY_LOGGERS[0])
    parent_level = parent.level
    if parent.getEffectiveLevel() < logging.WARNING:
        parent.setLevel(logging.WARNING)
    try:
        import great_expectations  # noqa: F401  (its import logs the most, and creates the loggers)
    finally:
        parent.setLevel(parent_level)
    # The parents, and the children that set their own level (GX's data_context.types.base
    # sets INFO on itself at import, so the parent's level alone does not reach it).
    names = {
        *NOISY_LOGGERS,
        *(name for name in logging.root.manager.loggerDict if name.startswith(NOISY_LOGGERS)),
    }
    loggers = [logging.getLogger(name) for name in sorted(names)]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        if logger.level < logging.WARNING and (logger.level or logger.name in NOISY_LOGGERS):
            logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)
