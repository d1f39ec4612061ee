"""Shared basics every layer may use: redaction, keys and hashes, rates, connection URLs.

They use nothing of the project but the error taxonomy (``reliable_api.exceptions``).
"""
