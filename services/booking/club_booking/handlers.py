"""Events the booking service consumes (none yet)."""

HANDLERS: dict = {}
