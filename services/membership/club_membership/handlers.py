"""Events the membership service consumes (none yet)."""

HANDLERS: dict = {}
