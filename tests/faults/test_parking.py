"""Failing handlers: retried, parked after exactly the configured number of deliveries, replayed."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path

import faultkit
import pika
import pytest

from club_shared.bus.transport import PARKED_REASON_HEADER
from club_shared.testing.bus import wait_for_handled

pytestmark = pytest.mark.rabbitmq

HERE = Path(__file__).resolve().parent


def parked_ids(runtime) -> list[str]:
    transport = runtime.transport("inspect")
    try:
        return sorted(m.message_id for m in transport.parked(runtime.queues))
    finally:
        transport.close()


def queue_depth(runtime) -> int:
    with pika.BlockingConnection(pika.URLParameters(runtime.settings.amqp_url)) as connection:
        declared = connection.channel().queue_declare(runtime.queues.main, passive=True)
        return declared.method.message_count


def club_bus(runtime, *args: str) -> str:
    """Run the `club-bus` command line against the test's namespace; its output."""
    executable = Path(sys.executable).with_name("club-bus")  # the console script of the venv
    command = [str(executable)] if executable.exists() else [sys.executable, "-m", "club_shared.cli"]
    done = subprocess.run(
        [*command, *args],
        env=faultkit.child_env(runtime.settings),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout


def test_a_failing_event_is_parked_after_exactly_max_deliveries_and_replay_delivers_it(bus):
    runtime = bus.runtime(bus_max_deliveries=3)
    calls: Counter = Counter()
    lock = threading.Lock()
    broken = threading.Event()
    broken.set()

    def flaky(session, event):
        with lock:
            calls[event.event_id] += 1
        if broken.is_set():
            raise RuntimeError("the mail server is on fire")
        faultkit.record_effect(session, event)

    faultkit.declare_queues(runtime)
    consumer = bus.start_consumer(runtime, {faultkit.EVENT_TYPE: flaky})
    bus.start_relay(runtime)
    first, second = faultkit.publish_events(runtime, 0, 2)
    want = sorted([str(first), str(second)])

    faultkit.wait_until(lambda: parked_ids(runtime) == want, 15, "both events to be parked")

    assert calls == {first: 3, second: 3}
    for event_id in (first, second):
        assert consumer.deliveries_of(event_id) == [(0, "retry"), (1, "retry"), (2, "park")]
    listing = club_bus(runtime, "parked", faultkit.CONSUMER).splitlines()
    assert sorted(line.split("\t")[0] for line in listing) == want
    assert all("RuntimeError: the mail server is on fire" in line for line in listing)
    assert faultkit.effect_counts(runtime) == {}

    broken.clear()  # the handler is fixed

    # Replay one event by id through the command line: only that one comes back.
    assert club_bus(runtime, "replay", faultkit.CONSUMER, str(first)).strip() == "replayed 1"
    wait_for_handled(runtime, faultkit.CONSUMER, first, timeout=15)
    assert parked_ids(runtime) == [str(second)]

    # Then the rest through the API.
    transport = runtime.transport("replay")
    try:
        assert transport.replay(runtime.queues) == 1
    finally:
        transport.close()
    wait_for_handled(runtime, faultkit.CONSUMER, second, timeout=15)
    consumer.wait_for(lambda: len(consumer.deliveries_of(second)) == 4)

    assert calls == {first: 4, second: 4}
    for event_id in (first, second):  # a replayed event starts with a fresh count
        assert consumer.deliveries_of(event_id)[-1] == (0, "ack")
    assert faultkit.effect_counts(runtime) == {first: 1, second: 1}
    assert parked_ids(runtime) == []


def test_an_event_that_keeps_killing_its_consumer_is_parked_after_max_deliveries(bus):
    """A crash loop never reaches our code's verdict: the quorum queue's delivery limit parks it."""
    runtime = bus.runtime(bus_max_deliveries=2)
    faultkit.declare_queues(runtime)
    (event_id,) = faultkit.publish_events(runtime, 0, 1)
    bus.start_relay(runtime)

    for _ in range(2):
        faultkit.wait_until(lambda: queue_depth(runtime) == 1, 15, "the event to be queued")
        child = subprocess.run(
            [sys.executable, str(HERE / "consumer_killed.py")],
            env=faultkit.child_env(runtime.settings),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert child.returncode == -signal.SIGKILL, child.stderr
        assert child.stdout.split() == [str(event_id)]

    faultkit.wait_until(lambda: parked_ids(runtime) == [str(event_id)], 15, "the event to be parked")
    assert queue_depth(runtime) == 0
    assert faultkit.effect_counts(runtime) == {}

    consumer = bus.start_consumer(runtime)  # a handler that no longer crashes
    transport = runtime.transport("replay")
    try:
        assert transport.replay(runtime.queues) == 1
    finally:
        transport.close()
    wait_for_handled(runtime, faultkit.CONSUMER, event_id, timeout=15)
    assert faultkit.effect_counts(runtime) == {event_id: 1}
    consumer.wait_for(lambda: consumer.deliveries_of(event_id) == [(0, "ack")])


def test_parked_reason_is_kept(bus):
    runtime = bus.runtime(bus_max_deliveries=1)

    def broken(session, event):
        raise ValueError("no such member")

    faultkit.declare_queues(runtime)
    bus.start_consumer(runtime, {faultkit.EVENT_TYPE: broken})
    bus.start_relay(runtime)
    (event_id,) = faultkit.publish_events(runtime, 0, 1)
    faultkit.wait_until(lambda: parked_ids(runtime) == [str(event_id)], 15, "the event to be parked")
    transport = runtime.transport("inspect")
    try:
        (message,) = transport.parked(runtime.queues)
    finally:
        transport.close()
    assert message.headers[PARKED_REASON_HEADER] == "ValueError: no such member"
    assert message.routing_key == faultkit.EVENT_TYPE
