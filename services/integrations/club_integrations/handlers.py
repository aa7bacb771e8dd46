"""Events the integrations service consumes (none yet)."""

HANDLERS: dict = {}
