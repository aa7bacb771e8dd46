"""Writing events: one outbox row in the caller's transaction, and a wake-up for the relay."""

from __future__ import annotations

import weakref
from typing import Any

from sqlalchemy import insert, text
from sqlalchemy.orm import Session

from .. import tracing
from ..events import Event, make_event
from ..logs import correlation_id as current_correlation_id
from ..logs import request_id as current_request_id
from .tables import BusTables

#: NOTIFY channel the relay listens on; NOTIFY is delivered only when the transaction commits.
OUTBOX_CHANNEL = "club_outbox"
#: `session.info` key: the (weakly held) transaction in which the relay was last notified.
_NOTIFIED_IN = "club_outbox_notified_in"


def publish(
    session: Session,
    tables: BusTables,
    event_type: str,
    data: dict[str, Any],
    *,
    producer: str,
    correlation_id: str | None = None,
    version: int = 1,
) -> Event:
    """Record an event to be published once, and only if, the session's transaction commits.

    Raises EventSchemaError when `data` does not match the catalog: a bad event is refused here,
    before anything is written.
    """
    correlation_id = correlation_id or current_correlation_id.get() or current_request_id.get()
    event = make_event(event_type, data, producer=producer, correlation_id=correlation_id, version=version)
    envelope = event.to_dict()
    if tracing.enabled() and (trace_headers := tracing.current_headers()):
        envelope[tracing.OUTBOX_TRACE_KEY] = trace_headers  # the relay turns it into message headers
    session.execute(
        insert(tables.outbox),  # parameters apart from the statement: it is compiled once, not per event
        {"event_id": event.event_id, "event_type": event.type, "envelope": envelope},
    )
    # One NOTIFY per transaction (or savepoint) is enough to wake the relay: a second one in the
    # same transaction would be merged by PostgreSQL anyway, after costing a round trip.
    current = session.get_nested_transaction() or session.get_transaction()
    notified = session.info.get(_NOTIFIED_IN)
    if notified is None or notified() is not current:
        session.execute(text(f"NOTIFY {OUTBOX_CHANNEL}"))
        session.info[_NOTIFIED_IN] = weakref.ref(current)
    return event
