"""Every event type the suite publishes, with the schema of its `data`.

Producers and consumers both validate against these schemas; `tests/contracts` checks that every
consumer's handlers name only types listed here. One module per producing service keeps the list
readable; this module joins them.
"""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError

from . import common, membership, notifications


class EventSchemaError(ValueError):
    """An event whose envelope or data does not match the catalog."""


CATALOG: dict[tuple[str, int], type[Schema]] = {
    **common.SCHEMAS,  # <service>.audit.recorded, .data_export.part_written, .notification.requested
    **membership.SCHEMAS,
    **notifications.SCHEMAS,
}


def schema_for(event_type: str, version: int = 1) -> Schema:
    try:
        return CATALOG[(event_type, version)]()
    except KeyError:
        raise EventSchemaError(f"unknown event type {event_type} v{version}") from None


def validate_data(event_type: str, version: int, data: Any) -> dict[str, Any]:
    """The event's data as the catalog's schema loads it (and dumps it back to plain JSON)."""
    schema = schema_for(event_type, version)
    try:
        return schema.dump(schema.load(data))
    except ValidationError as exc:
        raise EventSchemaError(f"{event_type} v{version}: {exc.messages}") from exc
