"""The envelope every event travels in (DESIGN.md § Events)."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from marshmallow import Schema, ValidationError, fields

from ..clubtime import utcnow
from .catalog import EventSchemaError, validate_data


class EnvelopeSchema(Schema):
    event_id = fields.UUID(required=True)
    type = fields.String(required=True)
    version = fields.Integer(required=True)
    occurred_at = fields.AwareDateTime(required=True, format="iso")
    producer = fields.String(required=True)
    correlation_id = fields.String(required=True, allow_none=True)
    data = fields.Dict(required=True)


_ENVELOPE = EnvelopeSchema()


@dataclass(frozen=True)
class Event:
    event_id: uuid.UUID
    type: str
    version: int
    occurred_at: datetime
    producer: str
    correlation_id: str | None
    data: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return _ENVELOPE.dump(self)

    def to_json(self) -> bytes:
        return json.dumps(self.to_dict(), separators=(",", ":")).encode()

    @classmethod
    def from_json(cls, body: bytes) -> Event:
        """Parse and validate an event as it arrives off the bus: envelope and catalog schema."""
        try:
            raw = json.loads(body)
            envelope = _ENVELOPE.load(raw)
        except (ValueError, ValidationError) as exc:
            raise EventSchemaError(f"malformed envelope: {exc}") from exc
        data = validate_data(envelope["type"], envelope["version"], envelope["data"])
        return cls(**{**envelope, "data": data})


def make_event(
    event_type: str,
    data: dict[str, Any],
    *,
    producer: str,
    correlation_id: str | None = None,
    version: int = 1,
) -> Event:
    """A new event, its data checked against the catalog (so a bad event is refused at publish) and
    kept in the catalog's JSON form (dates as ISO strings), exactly as consumers will read it."""
    data = validate_data(event_type, version, data)
    return Event(
        event_id=uuid.uuid4(),
        type=event_type,
        version=version,
        occurred_at=utcnow(),
        producer=producer,
        correlation_id=correlation_id,
        data=data,
    )
