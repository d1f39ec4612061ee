"""The shared rate limiter and its backends.

Hooks build a :class:`SharedRateLimiter` over a backend from :func:`make_backend`; the backend
modules import their drivers (``redis``, ``psycopg2``) only when a backend is built.
"""

from __future__ import annotations

from reliable_api.core.rates import Rate, parse_rate
from reliable_api.throttle.aimd import Aimd
from reliable_api.throttle.factory import BACKENDS, make_backend
from reliable_api.throttle.limiter import SharedRateLimiter

__all__ = ["BACKENDS", "Aimd", "Rate", "SharedRateLimiter", "make_backend", "parse_rate"]
