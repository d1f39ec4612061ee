"""Idempotent loads: natural keys, content hashes, the ID ledger, API and database upserts."""
