"""Waiting for events in tests, without sleeping."""

from __future__ import annotations

import time
import uuid

import psycopg
from sqlalchemy import select

from ..bus.consumer import INBOX_CHANNEL
from ..runtime import Runtime


def wait_for_handled(
    runtime: Runtime, consumer: str, event_id: uuid.UUID | str, timeout: float = 10.0
) -> None:
    """Return once `consumer` has committed its handling of the event (it is in its inbox).

    Listens for the consumer's NOTIFY first, then checks the inbox, so an event handled before
    the call is seen too. Raises TimeoutError after `timeout` seconds.
    """
    wanted = f"{consumer}:{event_id}"
    inbox = runtime.tables.inbox
    deadline = time.monotonic() + timeout
    with psycopg.connect(runtime.db.libpq_url(), autocommit=True) as conn:
        conn.execute(f"LISTEN {INBOX_CHANNEL}")
        with runtime.db.transaction() as session:
            if session.scalar(
                select(inbox.c.event_id).where(
                    inbox.c.consumer == consumer, inbox.c.event_id == uuid.UUID(str(event_id))
                )
            ):
                return
        while (remaining := deadline - time.monotonic()) > 0:
            for note in conn.notifies(timeout=remaining):
                if note.payload == wanted:
                    return
    raise TimeoutError(f"{consumer} did not handle event {event_id} within {timeout} s")


def latest_outbox_event(runtime: Runtime, event_type: str, **match):
    """The newest outbox row of `event_type` whose data has every `match` value (AssertionError if none
    among the latest 200 of that type)."""
    outbox = runtime.tables.outbox
    with runtime.db.transaction() as session:
        rows = session.execute(
            outbox.select().where(outbox.c.event_type == event_type).order_by(outbox.c.id.desc()).limit(200)
        ).all()
    for row in rows:
        if all(row.envelope["data"].get(k) == v for k, v in match.items()):
            return row
    raise AssertionError(f"no {event_type} with {match}")
