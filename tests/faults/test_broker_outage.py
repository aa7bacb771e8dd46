"""The broker drops every connection, then stops and starts, while 500 events flow."""

from __future__ import annotations

import subprocess
import threading

import faultkit
import pytest
from sqlalchemy import func, select

pytestmark = [pytest.mark.rabbitmq, pytest.mark.slow]

TOTAL = 500
BATCH = 5  # events per producing transaction
PAUSE_S = 0.02  # between transactions: ~250 events/s, so the stream spans both faults


def handled(runtime) -> int:
    with runtime.db.transaction() as session:
        return session.scalar(select(func.count()).select_from(faultkit.effects))


def test_every_event_arrives_exactly_once_through_dropped_connections_and_a_broker_restart(
    private_vhost, bus, rabbitmqctl
):
    # (`private_vhost` first: fixtures are torn down in reverse, so the workers stop before the
    # vhost is deleted.)
    vhost, url = private_vhost
    runtime = bus.runtime(amqp_url=url)
    bus.start_worker(runtime)  # the real worker: relay and consumer threads, left to recover alone

    produced: list = []
    producer_failed: list[BaseException] = []

    def produce():
        try:
            pause = threading.Event()
            while len(produced) < TOTAL and not bus.stop.is_set():
                produced.extend(faultkit.publish_events(runtime, len(produced), BATCH))
                pause.wait(PAUSE_S)
        except BaseException as exc:  # reported by the test thread
            producer_failed.append(exc)

    producer = threading.Thread(target=produce, name="producer", daemon=True)
    producer.start()
    bus.threads.append(producer)

    faultkit.wait_until(lambda: handled(runtime) >= 50, 30, "the stream to flow")
    rabbitmqctl("close_all_connections", "--vhost", vhost, "fault test: connections dropped")

    faultkit.wait_until(lambda: handled(runtime) >= 150, 60, "the workers to reconnect")
    stopped_at = len(produced)
    try:
        rabbitmqctl("stop_app")
        # The service keeps writing events while the broker is away; they wait in the outbox.
        faultkit.wait_until(lambda: len(produced) >= stopped_at + 100, 30, "events written meanwhile")
    finally:
        rabbitmqctl("start_app")
        subprocess.run(["rabbitmqctl", "await_startup"], capture_output=True, timeout=60)

    producer.join(timeout=60)
    assert not producer_failed, producer_failed
    assert len(produced) == TOTAL
    faultkit.wait_until(lambda: handled(runtime) >= TOTAL, 90, "every event to be handled")

    counts = faultkit.effect_counts(runtime)
    assert set(counts) == set(produced)  # every event arrived ...
    assert set(counts.values()) == {1}  # ... exactly once
    outbox = runtime.tables.outbox
    with runtime.db.transaction() as session:
        assert session.scalar(select(func.count()).where(outbox.c.sent_at.is_(None))) == 0
    alive = [t.name for t in bus.threads if t.is_alive()]
    assert f"{faultkit.CONSUMER}-relay" in alive
    assert f"{faultkit.CONSUMER}-consumer" in alive
