"""A relay or a consumer SIGKILLed at the worst moment: the event still takes effect exactly once."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import faultkit
import pytest
from sqlalchemy import func, select

from club_shared.bus import Relay
from club_shared.testing.bus import wait_for_handled

pytestmark = pytest.mark.rabbitmq

HERE = Path(__file__).resolve().parent


def run_child(script: str, runtime, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(HERE / script)],
        env=faultkit.child_env(runtime.settings),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def unsent(runtime) -> int:
    outbox = runtime.tables.outbox
    with runtime.db.transaction() as session:
        return session.scalar(select(func.count()).select_from(outbox).where(outbox.c.sent_at.is_(None)))


def test_relay_killed_between_confirm_and_commit_publishes_again_and_applies_once(bus):
    runtime = bus.runtime()
    faultkit.declare_queues(runtime)
    consumer = bus.start_consumer(runtime)
    ids = faultkit.publish_events(runtime, 0, 3)

    child = run_child("relay_killed.py", runtime)

    assert child.returncode == -signal.SIGKILL, child.stderr
    assert child.stdout.split() == [str(i) for i in ids]  # the broker confirmed all three
    assert unsent(runtime) == 3  # ... and the relay died before marking them sent
    for event_id in ids:  # they really were published: the consumer handles them
        wait_for_handled(runtime, faultkit.CONSUMER, event_id, timeout=15)

    relay_transport = runtime.transport("relay")
    try:
        assert Relay(runtime.db, runtime.tables, relay_transport).relay_once() == 3  # a fresh relay
    finally:
        relay_transport.close()
    assert unsent(runtime) == 0

    # Each event is delivered a second time, and the second delivery changes nothing.
    consumer.wait_for(lambda: all(len(consumer.deliveries_of(i)) == 2 for i in ids), timeout=15)
    assert all(consumer.deliveries_of(i) == [(0, "ack"), (0, "ack")] for i in ids)
    assert faultkit.effect_counts(runtime) == dict.fromkeys(ids, 1)


def test_consumer_killed_mid_handler_gets_the_event_again_and_applies_it_once(bus):
    runtime = bus.runtime()
    faultkit.declare_queues(runtime)
    (event_id,) = faultkit.publish_events(runtime, 0, 1)
    relay_transport = runtime.transport("relay")
    try:
        assert Relay(runtime.db, runtime.tables, relay_transport).relay_once() == 1
    finally:
        relay_transport.close()

    child = run_child("consumer_killed.py", runtime)

    assert child.returncode == -signal.SIGKILL, child.stderr
    assert child.stdout.split() == [str(event_id)]  # it died inside the handler, after its write
    assert faultkit.effect_counts(runtime) == {}  # ... which was never committed
    inbox = runtime.tables.inbox
    with runtime.db.transaction() as session:
        assert session.scalar(select(func.count()).select_from(inbox)) == 0

    consumer = bus.start_consumer(runtime)
    wait_for_handled(runtime, faultkit.CONSUMER, event_id, timeout=15)
    consumer.wait_for(lambda: consumer.deliveries_of(event_id))  # recorded just after the commit
    # Redelivered by the broker (which counts the lost delivery), and applied once.
    assert consumer.deliveries_of(event_id) == [(1, "ack")]
    assert faultkit.effect_counts(runtime) == {event_id: 1}
