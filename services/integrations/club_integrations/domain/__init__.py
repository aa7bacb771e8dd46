"""Integrations rules as plain Python: no Flask, no SQL."""
