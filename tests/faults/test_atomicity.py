"""A change and its event commit together, or neither does."""

from __future__ import annotations

import faultkit
import pytest
from sqlalchemy import func, insert, select

from club_shared.testing.bus import wait_for_handled

pytestmark = pytest.mark.rabbitmq


class Boom(Exception):
    pass


def test_a_committed_change_publishes_its_event(bus):
    runtime = bus.runtime()
    bus.start_worker(runtime)

    with runtime.db.transaction() as session:
        session.execute(insert(faultkit.changes).values(note="member created"))
        event = runtime.publish(session, faultkit.EVENT_TYPE, faultkit.member_data(1))

    wait_for_handled(runtime, faultkit.CONSUMER, event.event_id, timeout=15)
    outbox = runtime.tables.outbox
    with runtime.db.transaction() as session:
        assert session.scalar(select(func.count()).select_from(faultkit.changes)) == 1
        assert session.scalar(select(outbox.c.sent_at).where(outbox.c.event_id == event.event_id))
    assert faultkit.effect_counts(runtime) == {event.event_id: 1}


def test_a_rolled_back_change_publishes_nothing(bus):
    runtime = bus.runtime()
    bus.start_worker(runtime)

    with pytest.raises(Boom), runtime.db.transaction() as session:
        session.execute(insert(faultkit.changes).values(note="never happened"))
        lost = runtime.publish(session, faultkit.EVENT_TYPE, faultkit.member_data(1))
        raise Boom

    with runtime.db.transaction() as session:
        assert session.scalar(select(func.count()).select_from(faultkit.changes)) == 0
        assert session.scalar(select(func.count()).select_from(runtime.tables.outbox)) == 0

    # A later event on the same queue is the barrier: once it is handled, anything published
    # before it would have been handled too.
    (marker,) = faultkit.publish_events(runtime, 2, 1)
    wait_for_handled(runtime, faultkit.CONSUMER, marker, timeout=15)
    assert faultkit.effect_counts(runtime) == {marker: 1}
    assert lost.event_id != marker
