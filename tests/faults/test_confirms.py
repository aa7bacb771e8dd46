"""The relay marks an event sent only when the broker has confirmed it."""

from __future__ import annotations

import faultkit
import pika
import pytest
from sqlalchemy import func, select

from club_shared.bus import Relay
from club_shared.bus.rabbitmq import PublishNotConfirmed
from club_shared.testing.bus import wait_for_handled

pytestmark = pytest.mark.rabbitmq


def unsent(runtime) -> int:
    outbox = runtime.tables.outbox
    with runtime.db.transaction() as session:
        return session.scalar(select(func.count()).select_from(outbox).where(outbox.c.sent_at.is_(None)))


def test_a_nacked_batch_stays_in_the_outbox_and_is_published_again(bus):
    runtime = bus.runtime()
    faultkit.declare_queues(runtime)
    # A second queue on the same routing key that takes one message and refuses (nacks) the rest.
    tiny = f"{runtime.settings.bus_namespace}.tiny"
    with pika.BlockingConnection(pika.URLParameters(runtime.settings.amqp_url)) as connection:
        channel = connection.channel()
        channel.queue_declare(tiny, arguments={"x-max-length": 1, "x-overflow": "reject-publish"})
        channel.queue_bind(tiny, runtime.queues.exchange, routing_key=faultkit.EVENT_TYPE)
    consumer = bus.start_consumer(runtime)
    ids = faultkit.publish_events(runtime, 0, 3)

    transport = runtime.transport("relay")
    try:
        with pytest.raises(PublishNotConfirmed, match="refused"):
            Relay(runtime.db, runtime.tables, transport).relay_once()
        assert unsent(runtime) == 3  # nothing marked sent

        with pika.BlockingConnection(pika.URLParameters(runtime.settings.amqp_url)) as connection:
            connection.channel().queue_delete(tiny)
        assert Relay(runtime.db, runtime.tables, transport).relay_once() == 3
    finally:
        transport.close()
    assert unsent(runtime) == 0

    for event_id in ids:
        wait_for_handled(runtime, faultkit.CONSUMER, event_id, timeout=15)
    # Every attempt reached the consumer's queue (a nack may come with a copy delivered): the
    # inbox absorbs the copies, and the last copy of the last event is the barrier.
    consumer.wait_for(lambda: len(consumer.deliveries_of(ids[-1])) == 3, timeout=15)
    assert faultkit.effect_counts(runtime) == dict.fromkeys(ids, 1)
