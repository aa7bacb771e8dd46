"""Events that do not match the catalog: refused at publish, parked at consume."""

from __future__ import annotations

import json
import uuid

import faultkit
import pika
import pytest
from sqlalchemy import func, insert, select

from club_shared.bus.transport import PARKED_REASON_HEADER
from club_shared.events import EventSchemaError
from club_shared.testing.bus import wait_for_handled

pytestmark = pytest.mark.rabbitmq

GOOD = faultkit.member_data(1)


@pytest.mark.parametrize(
    ("event_type", "data"),
    [
        (faultkit.EVENT_TYPE, {k: v for k, v in GOOD.items() if k != "email"}),
        (faultkit.EVENT_TYPE, {**GOOD, "email": "not an address"}),
        (faultkit.EVENT_TYPE, {**GOOD, "nickname": "Ada"}),
        (faultkit.EVENT_TYPE, {**GOOD, "status": None}),
        ("membership.member.exploded", GOOD),
    ],
    ids=["missing-field", "bad-email", "unknown-field", "null-status", "unknown-type"],
)
def test_an_event_not_in_the_catalog_is_refused_at_publish(bus, event_type, data):
    runtime = bus.runtime()
    outbox = runtime.tables.outbox
    with runtime.db.transaction() as session:
        session.execute(insert(faultkit.changes).values(note="the change goes on"))
        with pytest.raises(EventSchemaError):
            runtime.publish(session, event_type, data)
        assert session.scalar(select(func.count()).select_from(outbox)) == 0  # nothing written
    with runtime.db.transaction() as session:
        assert session.scalar(select(func.count()).select_from(outbox)) == 0
        assert session.scalar(select(func.count()).select_from(faultkit.changes)) == 1


def test_a_bad_message_on_the_exchange_is_parked_at_once(bus):
    runtime = bus.runtime()
    faultkit.declare_queues(runtime)
    called = []
    consumer = bus.start_consumer(
        runtime, {faultkit.EVENT_TYPE: lambda session, event: called.append(event.event_id)}
    )
    bad_data = {k: v for k, v in GOOD.items() if k != "email"}
    envelope = {
        "event_id": str(uuid.uuid4()),
        "type": faultkit.EVENT_TYPE,
        "version": 1,
        "occurred_at": "2026-01-01T10:00:00+00:00",
        "producer": "intruder",
        "correlation_id": None,
        "data": bad_data,
    }
    bodies = {
        envelope["event_id"]: json.dumps(envelope).encode(),  # a good envelope around bad data
        "not-json": b"{this is not json",
        "no-envelope": json.dumps(GOOD).encode(),  # data without its envelope
    }
    with pika.BlockingConnection(pika.URLParameters(runtime.settings.amqp_url)) as connection:
        channel = connection.channel()
        channel.confirm_delivery()
        for message_id, body in bodies.items():
            channel.basic_publish(
                runtime.queues.exchange,
                faultkit.EVENT_TYPE,
                body,
                pika.BasicProperties(message_id=message_id, delivery_mode=2),
                mandatory=True,
            )

    # A good event behind them still flows.
    bus.start_relay(runtime)
    (good,) = faultkit.publish_events(runtime, 0, 1)
    wait_for_handled(runtime, faultkit.CONSUMER, good, timeout=15)

    def parked():
        transport = runtime.transport("inspect")
        try:
            return {m.message_id: m for m in transport.parked(runtime.queues)}
        finally:
            transport.close()

    faultkit.wait_until(lambda: parked().keys() == bodies.keys(), 15, "the bad messages to be parked")
    for message_id, message in parked().items():
        assert message.headers[PARKED_REASON_HEADER].startswith("schema:")
        assert message.body == bodies[message_id]
        assert consumer.deliveries_of(message_id) == [(0, "park")]  # once: no retries
    assert called == [good]  # the handler never saw a bad one
