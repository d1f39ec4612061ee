"""Pytest fixtures for the sandbox API (registered through the ``pytest11`` entry point)."""

from __future__ import annotations
