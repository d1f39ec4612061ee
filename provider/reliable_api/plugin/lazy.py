"""An ASGI app that imports and builds the real one on its first request.

Every Airflow component imports the plugin, but only the API server serves it: building the
FastAPI app (and importing FastAPI, jinja2 and SQLAlchemy with it) waits until a request comes.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable
from typing import Any


class LazyApp:
    """ASGI app standing in for ``factory`` (``"module:function"``) until its first request.

    :param factory: a function returning an ASGI app, named as ``"package.module:function"``.
    """

    def __init__(self, factory: str) -> None:
        self.factory = factory
        self._app: Callable[..., Any] | None = None
        self._lock = threading.Lock()

    @property
    def app(self) -> Callable[..., Any]:
        """The real app, built once."""
        with self._lock:
            if self._app is None:
                module_name, _, function = self.factory.partition(":")
                self._app = getattr(importlib.import_module(module_name), function)()
            return self._app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        """Hand the request to the real app."""
        await self.app(scope, receive, send)
