"""Events the billing service consumes (none yet)."""

HANDLERS: dict = {}
