"""Every event type the suite publishes, with the schema of its `data`.

Producers and consumers both validate against these schemas; `tests/contracts` checks that every
consumer's handlers name only types listed here. One module per producing service keeps the list
readable; this module joins them.
"""

from __future__ import annotations

import functools
from typing import Any

from marshmallow import Schema, ValidationError

from . import billing, booking, common, integrations, membership, notifications


class EventSchemaError(ValueError):
    """An event whose envelope or data does not match the catalog."""


CATALOG: dict[tuple[str, int], type[Schema]] = {
    **common.SCHEMAS,  # <service>.audit.recorded, .data_export.part_written, .notification.requested
    **membership.SCHEMAS,
    **notifications.SCHEMAS,
    **booking.SCHEMAS,
    **billing.SCHEMAS,
    **integrations.SCHEMAS,
}


def schema_for(event_type: str, version: int = 1) -> Schema:
    try:
        return _schema(event_type, version)
    except KeyError:
        raise EventSchemaError(f"unknown event type {event_type} v{version}") from None


@functools.cache
def _schema(event_type: str, version: int) -> Schema:
    # One instance per type, shared: building a marshmallow schema deep-copies its fields, which
    # cost more than validating the event (schemas hold no state between load and dump calls).
    return CATALOG[(event_type, version)]()


def validate_data(event_type: str, version: int, data: Any) -> dict[str, Any]:
    """The event's data as the catalog's schema loads it (and dumps it back to plain JSON)."""
    schema = schema_for(event_type, version)
    try:
        return schema.dump(schema.load(data))
    except ValidationError as exc:
        raise EventSchemaError(f"{event_type} v{version}: {exc.messages}") from exc
