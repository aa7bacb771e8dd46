"""Helpers for booking's tests (and for other services' end-to-end tests that drive booking)."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, date, datetime, time

from sqlalchemy import text

from club_shared.bus import Delivery, Message, Verdict
from club_shared.clubtime import zone
from club_shared.events import make_event
from club_shared.worker import make_consumer

from .handlers import HANDLERS

LA = zone("America/Los_Angeles")


class Clock:
    """The app's idea of now (UTC); set it in club time with `at`."""

    def __init__(self, instant: datetime):
        self.instant = instant

    def __call__(self) -> datetime:
        return self.instant

    def at(self, day: str, wall: str = "12:00") -> datetime:
        local = datetime.combine(date.fromisoformat(day), time.fromisoformat(wall), tzinfo=LA)
        self.instant = local.astimezone(UTC)
        return self.instant


def deliver(
    rt, event_type: str, data: dict, producer: str | None = None, occurred_at: datetime | None = None
):
    """Hand one event to booking's consumer, as the bus would; returns the event."""
    event = make_event(event_type, data, producer=producer or event_type.split(".")[0])
    if occurred_at is not None:
        event = dataclasses.replace(event, occurred_at=occurred_at)
    consumer = make_consumer(rt, HANDLERS)
    message = Message(routing_key=event.type, body=event.to_json(), message_id=str(event.event_id))
    [outcome] = consumer.handle_batch([Delivery(message, 0)])
    assert outcome.verdict is Verdict.ACK, outcome
    return event


def outbox(rt, event_type: str | None = None) -> list[dict]:
    """Events booking has written to its outbox (data only), oldest first."""
    with rt.db.transaction() as session:
        rows = session.execute(
            text("SELECT event_type, envelope FROM outbox ORDER BY id"),
        ).all()
    return [r.envelope["data"] | {"_type": r.event_type} for r in rows if event_type in (None, r.event_type)]


def problem(response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    body = response.get_json(force=True)
    if code:
        assert body["code"] == code, body
    return body


def new_id() -> str:
    return uuid.uuid4().hex[:8]
