"""The event catalog: one marshmallow schema per event type, and the envelope around every event."""

from .catalog import CATALOG, EventSchemaError, schema_for, validate_data
from .envelope import Event, make_event

__all__ = ["CATALOG", "Event", "EventSchemaError", "make_event", "schema_for", "validate_data"]
