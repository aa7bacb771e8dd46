"""The booking service's HTTP API: one blueprint per resource."""

BLUEPRINTS: list = []
