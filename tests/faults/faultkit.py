"""What the fault tests share with the processes they kill.

A private database per test holding the bus tables, a `changes` table (the business change an
event accompanies) and an `effects` table with no unique constraint: a handler that ran twice for
one event would leave two rows, so "exactly once" is a row count. The child processes
(`relay_killed.py`, `consumer_killed.py`) rebuild the same runtime from environment variables.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Mapping, Sequence

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Identity,
    MetaData,
    String,
    Table,
    Uuid,
    func,
    insert,
    select,
)
from sqlalchemy.orm import Session

from club_shared.bus import Consumer, Delivery, Handler, Outcome, bus_tables
from club_shared.config import Settings
from club_shared.events import Event
from club_shared.runtime import Runtime

CONSUMER = "faults"
EVENT_TYPE = "membership.member.created"

metadata = MetaData()
BUS = bus_tables(metadata)
changes = Table(
    "changes",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("note", String(200), nullable=False),
)
effects = Table(
    "effects",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("event_id", Uuid, nullable=False),  # deliberately not unique
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)


def member_data(i: int = 0) -> dict:
    return {
        "member_id": f"m-{i}",
        "email": f"member{i}@example.com",
        "first_name": "Ada",
        "last_name": f"Lovelace{i}",
        "tier": None,
        "status": "active",
    }


def record_effect(session: Session, event: Event) -> None:
    session.execute(insert(effects).values(event_id=event.event_id))


HANDLERS: Mapping[str, Handler] = {EVENT_TYPE: record_effect}


def effect_counts(runtime: Runtime) -> Counter:
    with runtime.db.transaction() as session:
        return Counter(session.scalars(select(effects.c.event_id)).all())


def publish_events(runtime: Runtime, start: int, count: int) -> list[uuid.UUID]:
    """Commit `count` changes, each with its event, in one transaction; their event ids."""
    with runtime.db.transaction() as session:
        ids = []
        for i in range(start, start + count):
            session.execute(insert(changes).values(note=f"change {i}"))
            ids.append(runtime.publish(session, EVENT_TYPE, member_data(i)).event_id)
        return ids


# -- processes ---------------------------------------------------------------------------------


def child_env(settings: Settings) -> dict[str, str]:
    """Environment for a child process that rebuilds `settings` with `runtime_from_env`."""
    return {
        **os.environ,
        "DATABASE_URL": settings.database_url or "",
        "CLUB_DATABASE_PREFIX": settings.database_prefix,
        "AMQP_URL": settings.amqp_url or "",
        "BUS_NAMESPACE": settings.bus_namespace,
        "BUS_MAX_DELIVERIES": str(settings.bus_max_deliveries),
        "BUS_RETRY_DELAYS_MS": ",".join(map(str, settings.bus_retry_delays_ms)),
        "BUS_PREFETCH": str(settings.bus_prefetch),
        "CLUB_ENV": "test",
        "LOG_LEVEL": "WARNING",
    }


def runtime_from_env() -> Runtime:
    return Runtime(Settings.from_env(CONSUMER), BUS)


def declare_queues(runtime: Runtime) -> None:
    """Declare the consumer's queues as its worker would, so events published before the consumer
    starts are queued rather than unrouted."""
    from club_shared.worker import declare_topology

    declare_topology(runtime, HANDLERS)


# -- in-process workers that can be observed -----------------------------------------------------


class RecordingConsumer(Consumer):
    """A consumer that remembers every delivery it has finished with (after the commit) and its
    verdict, so a test can wait for a redelivery it cannot see in the database."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.seen: list[tuple[str, int, str]] = []  # (message id, previous failures, verdict)
        self._changed = threading.Condition()

    def handle_batch(self, deliveries: Sequence[Delivery], stop=None) -> list[Outcome]:
        outcomes = super().handle_batch(deliveries, stop)
        with self._changed:
            for delivery, outcome in zip(deliveries, outcomes, strict=True):
                self.seen.append(
                    (delivery.message.message_id, delivery.previous_failures, outcome.verdict.value)
                )
            self._changed.notify_all()
        return outcomes

    def deliveries_of(self, event_id) -> list[tuple[int, str]]:
        with self._changed:
            return [(failures, verdict) for mid, failures, verdict in self.seen if mid == str(event_id)]

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        with self._changed:
            while not predicate():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError("condition not met in time")
                self._changed.wait(remaining)


def start_consumer(
    runtime: Runtime, handlers: Mapping[str, Handler], stop: threading.Event, **kwargs
) -> tuple[RecordingConsumer, threading.Thread]:
    settings = runtime.settings
    consumer = RecordingConsumer(
        CONSUMER,
        runtime.db,
        runtime.tables,
        handlers,
        max_deliveries=settings.bus_max_deliveries,
        retry_delays_ms=settings.bus_retry_delays_ms,
    )
    thread = threading.Thread(
        target=consumer.run,
        args=(runtime.transport("consumer"), runtime.queues, stop),
        kwargs={"prefetch": settings.bus_prefetch},
        name="test-consumer",
        daemon=True,
    )
    thread.start()
    return consumer, thread


def wait_until(predicate: Callable[[], bool], timeout: float, what: str, interval: float = 0.05) -> None:
    """Check `predicate` until it holds; TimeoutError naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout} s waiting for {what}")
        pause.wait(interval)
