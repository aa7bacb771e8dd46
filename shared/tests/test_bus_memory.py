"""The bus on the in-memory transport: outbox, relay, consumer, retries, parking and replay.

Fast unit tests of the logic both transports share; `tests/faults` proves the same against
RabbitMQ. The outbox and inbox live in a private PostgreSQL database for this module, next to an
`effects` table with no unique constraint (a handler applied twice would leave two rows).
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import BigInteger, Column, Identity, MetaData, Table, Uuid, func, insert, select, text

from club_shared.bus import Consumer, Delivery, Message, Relay, Verdict, bus_tables, publish, queue_names
from club_shared.bus.memory import MemoryBroker, MemoryTransport, topic_matches
from club_shared.bus.transport import PARKED_REASON_HEADER
from club_shared.config import with_database
from club_shared.db import Database, drop_database, ensure_database
from club_shared.events import EventSchemaError, make_event

EVENT_TYPE = "membership.member.created"
CONSUMER = "memtest"
NAMES = queue_names("memtest", CONSUMER)
DELAYS_MS = (10, 20, 40)

metadata = MetaData()
TABLES = bus_tables(metadata)
effects = Table(
    "effects",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("event_id", Uuid, nullable=False),
)


def member(i: int = 0) -> dict:
    return {
        "member_id": f"m-{i}",
        "email": f"m{i}@example.com",
        "first_name": "Grace",
        "last_name": "Hopper",
        "tier": "full",
        "status": "active",
    }


def record_effect(session, event) -> None:
    session.execute(insert(effects).values(event_id=event.event_id))


@pytest.fixture(scope="module")
def db(pg_url, run_id) -> Iterator[Database]:
    url = with_database(pg_url, f"club_t{run_id}_busmem")
    ensure_database(url)
    database = Database(url, pool_size=4)
    metadata.create_all(database.engine)
    yield database
    database.dispose()
    drop_database(url)


class Bus:
    """One test's broker, its consumer thread, and what the handlers saw."""

    def __init__(self, db: Database):
        self.db = db
        self.broker = MemoryBroker()
        self.transport = MemoryTransport(self.broker)
        self.stop = threading.Event()
        self.threads: list[threading.Thread] = []
        self.deliveries: list[tuple[str, int]] = []  # (message id, previous failures) per delivery
        self._seen = threading.Condition()

    def publish(self, data: dict | None = None, *, event_type: str = EVENT_TYPE) -> uuid.UUID:
        with self.db.transaction() as session:
            return publish(session, TABLES, event_type, data or member(), producer="test").event_id

    def relay(self) -> int:
        return Relay(self.db, TABLES, self.transport).relay_once()

    def start_consumer(self, handler=record_effect, *, max_deliveries: int = 3) -> Consumer:
        bus = self

        class Watched(Consumer):
            def handle_batch(self, deliveries, stop=None):
                outcomes = super().handle_batch(deliveries, stop)
                with bus._seen:
                    bus.deliveries += [(d.message.message_id, d.previous_failures) for d in deliveries]
                    bus._seen.notify_all()
                return outcomes

        consumer = Watched(
            CONSUMER,
            self.db,
            TABLES,
            {EVENT_TYPE: handler},
            max_deliveries=max_deliveries,
            retry_delays_ms=DELAYS_MS,
        )
        self.transport.declare(consumer.topology(NAMES))
        thread = threading.Thread(
            target=consumer.run, args=(self.transport, NAMES, self.stop), kwargs={"prefetch": 10}, daemon=True
        )
        thread.start()
        self.threads.append(thread)
        return consumer

    def deliveries_of(self, event_id) -> list[int]:
        with self._seen:
            return [failures for mid, failures in self.deliveries if mid == str(event_id)]

    def wait(self, predicate: Callable[[], bool], timeout: float = 5.0) -> None:
        """Until `predicate` holds (checked after each batch, and every 20 ms for broker state)."""
        deadline = time.monotonic() + timeout
        with self._seen:
            while not predicate():
                if time.monotonic() > deadline:
                    raise TimeoutError("condition not met in time")
                self._seen.wait(0.02)

    def parked_ids(self) -> list[str]:
        return sorted(m.message_id for m in self.transport.parked(NAMES))

    def close(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=5)
        self.broker.close()


@pytest.fixture
def bus(db) -> Iterator[Bus]:
    with db.transaction() as session:
        session.execute(text("TRUNCATE outbox, inbox, effects"))
    memory_bus = Bus(db)
    try:
        yield memory_bus
    finally:
        memory_bus.close()


def effect_counts(db: Database) -> Counter:
    with db.transaction() as session:
        return Counter(session.scalars(select(effects.c.event_id)).all())


def handled(db: Database, event_id) -> bool:
    inbox = TABLES.inbox
    with db.transaction() as session:
        return (
            session.scalar(
                select(func.count()).where(inbox.c.consumer == CONSUMER, inbox.c.event_id == event_id)
            )
            == 1
        )


# -- publishing --------------------------------------------------------------------------------


def test_a_committed_event_is_relayed_and_handled_once(bus):
    bus.start_consumer()
    event_id = bus.publish()

    assert bus.relay() == 1
    bus.wait(lambda: bus.deliveries_of(event_id))

    assert handled(bus.db, event_id)
    assert effect_counts(bus.db) == {event_id: 1}
    assert bus.relay() == 0  # marked sent: never relayed again
    outbox = TABLES.outbox
    with bus.db.transaction() as session:
        assert session.scalar(select(outbox.c.sent_at).where(outbox.c.event_id == event_id))


class Boom(Exception):
    pass


def test_a_rolled_back_event_is_never_published(bus):
    bus.start_consumer()

    with pytest.raises(Boom), bus.db.transaction() as session:
        lost = publish(session, TABLES, EVENT_TYPE, member(), producer="test")
        raise Boom

    assert bus.relay() == 0
    with bus.db.transaction() as session:
        assert session.scalar(select(func.count()).select_from(TABLES.outbox)) == 0
    marker = bus.publish(member(1))  # a later event: once it is handled, an earlier one would be too
    assert bus.relay() == 1
    bus.wait(lambda: bus.deliveries_of(marker))
    assert [mid for mid, _ in bus.deliveries] == [str(marker)]
    assert effect_counts(bus.db) == {marker: 1}
    assert bus.broker.peek("unrouted") == []
    assert lost.event_id != marker


def test_data_not_in_the_catalog_is_refused_at_publish_and_nothing_is_written(bus):
    with bus.db.transaction() as session:
        with pytest.raises(EventSchemaError):
            publish(session, TABLES, EVENT_TYPE, {**member(), "email": None}, producer="test")
        with pytest.raises(EventSchemaError):
            publish(session, TABLES, "membership.member.vanished", member(), producer="test")
        assert session.scalar(select(func.count()).select_from(TABLES.outbox)) == 0
    assert bus.relay() == 0


# -- consuming ---------------------------------------------------------------------------------


def test_a_duplicate_delivery_is_absorbed_by_the_inbox(bus):
    bus.start_consumer()
    event = make_event(EVENT_TYPE, member(), producer="test")
    message = Message(EVENT_TYPE, event.to_json(), str(event.event_id))

    bus.transport.publish([message, message])  # e.g. a relay that died before marking it sent
    bus.wait(lambda: len(bus.deliveries_of(event.event_id)) == 2)

    assert effect_counts(bus.db) == {event.event_id: 1}


def test_a_failing_handler_is_retried_until_it_succeeds(bus):
    calls = Counter()

    def fails_twice(session, event):
        calls[event.event_id] += 1
        if calls[event.event_id] <= 2:
            raise ConnectionError("the mail server is down")
        record_effect(session, event)

    bus.start_consumer(fails_twice, max_deliveries=5)
    event_id = bus.publish()
    bus.relay()
    bus.wait(lambda: len(bus.deliveries_of(event_id)) == 3)

    assert bus.deliveries_of(event_id) == [0, 1, 2]  # each retry knows how often it failed
    assert calls[event_id] == 3
    assert effect_counts(bus.db) == {event_id: 1}
    assert bus.parked_ids() == []


def test_one_failing_handler_in_a_batch_does_not_undo_the_others(bus):
    calls = Counter()
    events = [make_event(EVENT_TYPE, member(i), producer="test") for i in range(3)]
    bad = events[1].event_id

    def one_fails(session, event):
        calls[event.event_id] += 1
        if event.event_id == bad:
            raise ValueError("this one")
        record_effect(session, event)

    consumer = Consumer(
        CONSUMER, bus.db, TABLES, {EVENT_TYPE: one_fails}, max_deliveries=3, retry_delays_ms=DELAYS_MS
    )
    batch = [Delivery(Message(EVENT_TYPE, e.to_json(), str(e.event_id)), 0) for e in events]
    batch.append(batch[2])  # and a second copy of the last one in the same batch

    outcomes = consumer.handle_batch(batch)

    assert [o.verdict for o in outcomes] == [Verdict.ACK, Verdict.RETRY, Verdict.ACK, Verdict.ACK]
    assert outcomes[1].delay_ms == DELAYS_MS[0]
    assert effect_counts(bus.db) == {events[0].event_id: 1, events[2].event_id: 1}
    assert not handled(bus.db, bad)  # so its retry is not taken for a duplicate
    # The failing handler ran once for this delivery; one before it ran twice, the first run
    # rolled back with the batch's optimistic transaction.
    assert calls == {events[0].event_id: 2, bad: 1, events[2].event_id: 1}

    outcomes = consumer.handle_batch([Delivery(batch[1].message, 1), batch[0]])
    assert [o.verdict for o in outcomes] == [Verdict.RETRY, Verdict.ACK]  # the copy of 0: a no-op
    assert calls[bad] == 2
    assert calls[events[0].event_id] == 2


@pytest.mark.parametrize("max_deliveries", [1, 3])
def test_a_handler_that_always_fails_is_parked_after_exactly_max_deliveries(bus, max_deliveries):
    calls = Counter()

    def always_fails(session, event):
        calls[event.event_id] += 1
        raise LookupError("no such member")

    bus.start_consumer(always_fails, max_deliveries=max_deliveries)
    event_id = bus.publish()
    bus.relay()
    bus.wait(lambda: bus.parked_ids() == [str(event_id)])

    assert calls == {event_id: max_deliveries}
    assert bus.deliveries_of(event_id) == list(range(max_deliveries))
    (parked,) = bus.transport.parked(NAMES)
    assert parked.headers[PARKED_REASON_HEADER] == "LookupError: no such member"
    assert bus.broker.peek(NAMES.main) == []
    assert effect_counts(bus.db) == {}


def test_replay_delivers_parked_events_once_the_handler_is_fixed(bus):
    broken = threading.Event()
    broken.set()

    def flaky(session, event):
        if broken.is_set():
            raise RuntimeError("bug")
        record_effect(session, event)

    bus.start_consumer(flaky, max_deliveries=2)
    first, second = bus.publish(member(1)), bus.publish(member(2))
    bus.relay()
    bus.wait(lambda: bus.parked_ids() == sorted([str(first), str(second)]))
    broken.clear()

    assert bus.transport.replay(NAMES, [str(first)]) == 1  # only the one named
    bus.wait(lambda: len(bus.deliveries_of(first)) == 3)
    assert bus.parked_ids() == [str(second)]
    assert bus.transport.replay(NAMES) == 1  # then the rest
    bus.wait(lambda: len(bus.deliveries_of(second)) == 3)

    assert bus.deliveries_of(first) == [0, 1, 0]  # a replayed event starts with a fresh count
    assert effect_counts(bus.db) == {first: 1, second: 1}
    assert bus.parked_ids() == []
    assert bus.transport.replay(NAMES) == 0


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b'{"event_id": "not a uuid"}',
        # A well-formed envelope whose data breaks the catalog (no email).
        make_event(EVENT_TYPE, member(), producer="test")
        .to_json()
        .replace(b'"email":"m0@example.com",', b""),
    ],
    ids=["not-json", "bad-envelope", "bad-data"],
)
def test_a_message_not_in_the_catalog_is_parked_at_once(bus, body):
    calls = []
    bus.start_consumer(lambda session, event: calls.append(event), max_deliveries=5)

    bus.transport.publish([Message(EVENT_TYPE, body, "bad-1")])
    bus.wait(lambda: bus.parked_ids() == ["bad-1"])

    (parked,) = bus.transport.parked(NAMES)
    assert parked.headers[PARKED_REASON_HEADER].startswith("schema:")
    assert parked.body == body
    assert bus.deliveries_of("bad-1") == [0]  # no retries for a message that can never be right
    assert calls == []


# -- routing -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "key", "matches"),
    [
        ("membership.member.created", "membership.member.created", True),
        ("membership.member.created", "membership.member.updated", False),
        ("membership.*.created", "membership.member.created", True),
        ("*.member.*", "membership.member.created", True),
        ("membership.*", "membership.member.created", False),
        ("membership.#", "membership.member.created", True),
        ("membership.#", "membership", True),
        ("#", "billing.payment.succeeded", True),
        ("#.succeeded", "billing.payment.succeeded", True),
        ("billing.#.succeeded", "billing.succeeded", True),
        ("billing.#.succeeded", "billing.payment.failed", False),
        ("*.*.*", "membership.member", False),
        ("booking.*", "booking", False),
    ],
)
def test_topic_matching_follows_amqp(pattern, key, matches):
    assert topic_matches(pattern, key) is matches


def test_the_broker_routes_by_binding_and_keeps_unroutable_messages():
    broker = MemoryBroker()
    broker.bind("members", ["membership.#"])
    broker.bind("bookings", ["booking.*.*"])
    created = Message("membership.member.created", b"{}", "1")
    paid = Message("billing.payment.succeeded", b"{}", "2")

    MemoryTransport(broker).publish([created, paid])

    assert broker.peek("members") == [created]
    assert broker.peek("bookings") == []
    assert broker.peek("unrouted") == [paid]


def test_the_relay_prunes_old_sent_outbox_rows_and_old_inbox_rows(service_runtime):
    import uuid

    from sqlalchemy import func, insert, select, text

    from club_shared.bus import Relay
    from club_shared.bus.memory import MemoryBroker, MemoryTransport

    runtime = service_runtime("notifications")
    outbox, inbox = runtime.tables.outbox, runtime.tables.inbox
    old, recent = uuid.uuid4(), uuid.uuid4()
    with runtime.db.transaction() as session:
        for event_id, age in ((old, "8 days"), (recent, "1 day")):
            session.execute(
                insert(outbox).values(
                    event_id=event_id,
                    event_type="t",
                    envelope={},
                    sent_at=func.now() - text(f"interval '{age}'"),
                )
            )
        for event_id, age in ((old, "31 days"), (recent, "1 day")):
            session.execute(
                insert(inbox).values(
                    consumer="pruning-test",
                    event_id=event_id,
                    event_type="t",
                    handled_at=func.now() - text(f"interval '{age}'"),
                )
            )
    Relay(runtime.db, runtime.tables, MemoryTransport(MemoryBroker())).prune()
    with runtime.db.transaction() as session:
        assert set(
            session.scalars(select(outbox.c.event_id).where(outbox.c.event_id.in_([old, recent])))
        ) == {recent}
        assert set(session.scalars(select(inbox.c.event_id).where(inbox.c.consumer == "pruning-test"))) == {
            recent
        }
