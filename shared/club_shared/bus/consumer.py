"""The idempotent consumer: handlers run in a transaction that also records the event in the inbox.

A batch of deliveries shares one transaction, and the broker is told the outcomes only after the
commit: a crash before it means a redelivery, which the inbox makes a no-op.

Handlers only write rows, so a batch is first run optimistically, without savepoints (one
statement per event less, and no subtransaction per event). If a handler fails, that transaction
is rolled back, the failing event gets its verdict (its handler has run exactly once for this
delivery) and the rest of the batch runs again, each event in its own savepoint this time, so one
failing handler never undoes the others. A handler may therefore run twice for one delivery, the
first run rolled back.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence

from sqlalchemy import delete, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from .. import tracing
from ..db import Database
from ..events import Event, EventSchemaError
from ..logs import bind_correlation_id
from ..metrics import observe_consumed
from .tables import BusTables
from .transport import Delivery, Outcome, QueueNames, Topology, Transport, Verdict

log = logging.getLogger(__name__)

Handler = Callable[[Session, Event], None]

#: NOTIFY channel carrying `<consumer>:<event_id>` when an event has been handled (for tests).
INBOX_CHANNEL = "club_inbox"


class _HandlerFailed(Exception):
    """A handler raised during the optimistic run of a batch (which is then rolled back)."""

    def __init__(self, index: int, event: Event, error: Exception):
        super().__init__(index, event, error)
        self.index, self.event, self.error = index, event, error


class Consumer:
    def __init__(
        self,
        name: str,
        db: Database,
        tables: BusTables,
        handlers: Mapping[str, Handler],
        *,
        max_deliveries: int,
        retry_delays_ms: Sequence[int],
    ):
        self.name = name
        self.db = db
        self.tables = tables
        self.handlers = dict(handlers)
        self.max_deliveries = max_deliveries
        self.retry_delays_ms = tuple(retry_delays_ms)

    def handle_batch(
        self, deliveries: Sequence[Delivery], stop: threading.Event | None = None
    ) -> list[Outcome]:
        """Outcomes for a batch. While the database is unreachable the batch is held (not returned
        to the broker, where every return would count towards parking) and tried again."""
        backoff = 0.1
        while True:
            try:
                return self._handle_batch(deliveries)
            except SQLAlchemyError as exc:
                if stop is None or stop.is_set():
                    raise
                log.warning(
                    "database unavailable while handling events; holding the batch",
                    extra={"error": repr(exc), "consumer": self.name},
                )
                stop.wait(backoff)
                backoff = min(backoff * 2, 5.0)

    def _handle_batch(self, deliveries: Sequence[Delivery]) -> list[Outcome]:
        outcomes: list[Outcome | None] = [None] * len(deliveries)
        todo: list[tuple[int, Event]] = []
        for i, delivery in enumerate(deliveries):
            try:
                event = Event.from_json(delivery.message.body)
            except EventSchemaError as exc:
                log.error("event refused: not in the catalog's shape", extra={"error": str(exc)})
                outcomes[i] = Outcome(Verdict.PARK, reason=f"schema: {exc}")
                continue
            if event.type in self.handlers:
                todo.append((i, event))
            else:
                outcomes[i] = Outcome(Verdict.ACK)
        if todo:
            try:
                self._run(todo, deliveries, outcomes, careful=False)
            except _HandlerFailed as failed:  # rolled back
                i = failed.index
                outcomes[i] = self._failed(failed.event, deliveries[i], failed.error)
                rest = [(j, event) for j, event in todo if j != i]
                if rest:
                    self._run(rest, deliveries, outcomes, careful=True)
        observe_consumed(self.name, deliveries, todo, outcomes)  # type: ignore[arg-type]
        return outcomes  # type: ignore[return-value]

    def _run(self, todo, deliveries, outcomes, *, careful: bool) -> None:
        """One transaction for the batch. Careful: each handler in a savepoint. Otherwise a failing
        handler raises _HandlerFailed, rolling back the whole transaction."""
        with self.db.transaction() as session:
            first_seen = self._record_in_inbox(session, [event for _i, event in todo])
            handled: list[Event] = []
            for i, event in todo:
                if event.event_id not in first_seen:  # a redelivery (or a copy in this batch)
                    outcomes[i] = Outcome(Verdict.ACK)
                    continue
                first_seen.discard(event.event_id)
                if careful:
                    outcomes[i] = self._handle_one(session, event, deliveries[i])
                else:
                    with bind_correlation_id(event.correlation_id):
                        try:
                            with tracing.consuming(self.name, event, deliveries[i].message.headers):
                                self.handlers[event.type](session, event)
                        except Exception as exc:
                            raise _HandlerFailed(i, event, exc) from exc
                    outcomes[i] = Outcome(Verdict.ACK)
                if outcomes[i].verdict is Verdict.ACK:
                    handled.append(event)
            self._notify_handled(session, handled)

    def _handle_one(self, session: Session, event: Event, delivery: Delivery) -> Outcome:
        """Run the handler in a savepoint; on failure undo its work and its inbox row."""
        with bind_correlation_id(event.correlation_id):
            savepoint = session.begin_nested()
            try:
                with tracing.consuming(self.name, event, delivery.message.headers):
                    self.handlers[event.type](session, event)
                savepoint.commit()
                return Outcome(Verdict.ACK)
            except Exception as exc:
                savepoint.rollback()
                inbox = self.tables.inbox
                session.execute(
                    delete(inbox).where(inbox.c.consumer == self.name, inbox.c.event_id == event.event_id)
                )
                return self._failed(event, delivery, exc)

    def _record_in_inbox(self, session: Session, events: Sequence[Event]) -> set[uuid.UUID]:
        """The ids this consumer sees for the first time (one statement for the whole batch)."""
        inbox = self.tables.inbox
        rows = {
            e.event_id: {"consumer": self.name, "event_id": e.event_id, "event_type": e.type} for e in events
        }
        inserted = session.scalars(
            insert(inbox)
            # In a stable order, so two replicas given overlapping batches cannot deadlock.
            .values([rows[event_id] for event_id in sorted(rows)])
            .on_conflict_do_nothing()
            .returning(inbox.c.event_id)
        )
        return set(inserted)

    def _notify_handled(self, session: Session, events: Sequence[Event]) -> None:
        """NOTIFY `<consumer>:<event_id>` for each handled event; delivered at commit."""
        if events:
            session.execute(
                text("SELECT pg_notify(:channel, payload) FROM unnest(CAST(:payloads AS text[])) AS payload"),
                {"channel": INBOX_CHANNEL, "payloads": [f"{self.name}:{e.event_id}" for e in events]},
            )

    def _failed(self, event: Event, delivery: Delivery, exc: Exception) -> Outcome:
        failures = delivery.previous_failures + 1
        context = {"event_id": str(event.event_id), "event_type": event.type, "failures": failures}
        if failures >= self.max_deliveries:
            log.error("handler failed for the last time: parking the event", exc_info=exc, extra=context)
            return Outcome(Verdict.PARK, reason=f"{type(exc).__name__}: {exc}")
        log.warning("handler failed: retrying later", exc_info=exc, extra=context)
        delay = self.retry_delays_ms[min(failures - 1, len(self.retry_delays_ms) - 1)]
        return Outcome(Verdict.RETRY, delay_ms=delay)

    def topology(self, names: QueueNames) -> Topology:
        return Topology(names, tuple(sorted(self.handlers)), self.retry_delays_ms, self.max_deliveries)

    def run(self, transport: Transport, names: QueueNames, stop: threading.Event, *, prefetch: int) -> None:
        transport.consume(
            self.topology(names),
            lambda deliveries: self.handle_batch(deliveries, stop),
            stop,
            prefetch=prefetch,
        )
