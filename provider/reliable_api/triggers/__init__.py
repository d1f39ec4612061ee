"""Triggers of the provider, run by the triggerer."""
