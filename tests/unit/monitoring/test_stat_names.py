"""Stats names: ``reliable_api.<integration>.<measure>``, valid for StatsD whatever the integration."""

from __future__ import annotations

from reliable_api.monitoring.stats import stat_name


def test_names_are_prefixed_and_the_integration_made_safe() -> None:
    assert stat_name("crm_contacts", "records_written") == "reliable_api.crm_contacts.records_written"
    assert stat_name("crm contacts/eu", "duration") == "reliable_api.crm_contacts_eu.duration"
