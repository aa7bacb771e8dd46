"""The outbox relay: publishes committed outbox rows to the broker, then marks them sent.

Rows are claimed with FOR UPDATE SKIP LOCKED, so several relays (one per worker replica) share the
work without publishing the same row at the same time. A relay killed between the broker's confirm
and our commit publishes those rows again: at-least-once, which the consumers' inbox absorbs.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
from datetime import timedelta

import psycopg
from sqlalchemy import delete, func, select, text, update
from sqlalchemy.exc import SQLAlchemyError

from ..db import Database
from ..metrics import observe_relayed
from ..tracing import OUTBOX_TRACE_KEY
from .outbox import OUTBOX_CHANNEL
from .tables import BusTables
from .transport import Message, Transport

log = logging.getLogger(__name__)

OUTBOX_KEPT = timedelta(days=7)
INBOX_KEPT = timedelta(days=30)
PRUNE_EVERY_S = 3600


class Relay:
    def __init__(
        self,
        db: Database,
        tables: BusTables,
        transport: Transport,
        *,
        batch_size: int = 500,
        service: str = "",
    ):
        self.db = db
        self.outbox = tables.outbox
        self.inbox = tables.inbox
        self.transport = transport
        self.batch_size = batch_size
        self.service = service  # names the relay in its metrics

    def relay_once(self) -> int:
        """Publish one batch of unsent rows; the number published."""
        outbox = self.outbox
        with self.db.transaction() as session:
            rows = session.execute(
                select(outbox.c.id, outbox.c.event_id, outbox.c.event_type, outbox.c.envelope)
                .where(outbox.c.sent_at.is_(None))
                .order_by(outbox.c.id)
                .limit(self.batch_size)
                .with_for_update(skip_locked=True)
            ).all()
            if not rows:
                return 0
            self.transport.publish([_message(row) for row in rows])
            # Marking rows sent need not wait for the WAL flush: if PostgreSQL lost this commit in a
            # crash the rows would be published again, which consumers absorb. Saves an fsync per batch.
            session.execute(text("SET LOCAL synchronous_commit TO OFF"))
            session.execute(
                update(outbox).where(outbox.c.id.in_([row.id for row in rows])).values(sent_at=func.now())
            )
        observe_relayed(self.service, len(rows))
        return len(rows)

    def prune(self) -> None:
        """Forget what can no longer matter: outbox rows sent a week ago, and inbox rows older than
        any redelivery or replay from the parking queue we support (30 days)."""
        outbox, inbox = self.outbox, self.inbox
        with self.db.transaction() as session:
            session.execute(delete(outbox).where(outbox.c.sent_at < func.now() - OUTBOX_KEPT))
            session.execute(delete(inbox).where(inbox.c.handled_at < func.now() - INBOX_KEPT))

    def run(self, stop: threading.Event, *, poll_ms: int = 500) -> None:
        """Relay until `stop` is set: at once while there is a backlog, else on NOTIFY or each poll."""
        listener: psycopg.Connection | None = None
        backoff = 0.1
        next_prune = 0.0
        while not stop.is_set():
            try:
                if listener is None or listener.closed:
                    listener = psycopg.connect(self.db.libpq_url(), autocommit=True)
                    listener.execute(f"LISTEN {OUTBOX_CHANNEL}")
                if time.monotonic() >= next_prune:
                    self.prune()
                    next_prune = time.monotonic() + PRUNE_EVERY_S
                if self.relay_once() == self.batch_size:
                    continue
                # Wake on the first NOTIFY, or after the poll interval to catch anything missed.
                for _ in listener.notifies(timeout=poll_ms / 1000, stop_after=1):
                    pass
                backoff = 0.1
            except (SQLAlchemyError, psycopg.Error, OSError) as exc:
                log.warning("outbox relay: database unavailable", extra={"error": repr(exc)})
                listener = _close(listener)
                stop.wait(backoff)
                backoff = min(backoff * 2, 5.0)
            except Exception as exc:  # the broker: anything pika raises after its own retry
                log.warning("outbox relay: broker unavailable", extra={"error": repr(exc)})
                self.transport.close()
                stop.wait(backoff)
                backoff = min(backoff * 2, 5.0)
        _close(listener)
        self.transport.close()


def _message(row) -> Message:
    envelope, headers = row.envelope, {}
    if OUTBOX_TRACE_KEY in envelope:  # stored by a traced publish: W3C headers, not part of the event
        envelope = dict(envelope)
        headers = dict(envelope.pop(OUTBOX_TRACE_KEY) or {})
    body = json.dumps(envelope, separators=(",", ":")).encode()
    return Message(routing_key=row.event_type, body=body, message_id=str(row.event_id), headers=headers)


def _close(connection: psycopg.Connection | None) -> None:
    if connection is not None:
        with contextlib.suppress(psycopg.Error):
            connection.close()
