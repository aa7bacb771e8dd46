"""Publishing from anywhere in billing (views, handlers, jobs): the outbox of billing's own tables."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from club_shared.bus import publish as bus_publish
from club_shared.events import Event, validate_data

from ..models import BUS

SERVICE = "billing"


def publish(session: Session, event_type: str, data: dict[str, Any]) -> Event:
    """Record an event in billing's outbox inside `session`'s transaction (dates and instants are
    serialised by the catalog's schema, so callers may pass Python values)."""
    return bus_publish(session, BUS, event_type, validate_data(event_type, 1, data), producer=SERVICE)
