"""Test helpers for users of the provider: the sandbox API and its pytest fixtures."""

from __future__ import annotations
