"""SQL round trips per booking event handled by billing's consumer, pinned: billing was the slowest
consumer of booking's events, and a lookup per player or a re-read of rows just written comes back
unnoticed otherwise. A change that needs more statements must say why here."""

from __future__ import annotations

import contextlib
from datetime import time

from billing_support import approved, booking_data, fees_of, member_event, next_id, participant
from sqlalchemy import event as sa_event

from club_shared.bus import Delivery, Message
from club_shared.events import make_event

#: One batch of one event: inbox; the member-day locks; the booking's row lock; prices and tier rules
#: (once per transaction); the players' members (one query) and their earlier usage (one query);
#: booking, usage, snapshot, outbox, invoice, sync job; the later bookings of the cascade; NOTIFYs.
NEW_BOOKING = 17
#: A roster change: the booking's input written with its fees (one UPDATE), its usage replaced
#: (DELETE … RETURNING), its pending snapshot superseded, its invoice read; then the later booking
#: repriced from the one computation that found it changed.
ROSTER_CHANGE_WITH_CASCADE = 28


@contextlib.contextmanager
def statements(db):
    seen: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany):
        seen.append(" ".join(statement.split())[:120])

    sa_event.listen(db.engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        sa_event.remove(db.engine, "before_cursor_execute", count)


def handle(consumer, event_type: str, data: dict) -> None:
    event = make_event(event_type, data, producer="booking")
    [outcome] = consumer.handle_batch(
        [Delivery(Message(event.type, event.to_json(), str(event.event_id)), 0)]
    )
    assert outcome.verdict.name == "ACK", outcome


def test_statements_per_booking_event_are_pinned(consumer, deliver, db, email):
    friend = f"friend.{email}"
    deliver("membership.member.created", member_event(email, "core"))
    deliver("membership.member.created", member_event(friend, "core"))
    first, later = next_id(), next_id()
    owner = participant("owner", 1, email, pid=first * 10 + 1)
    deliver("booking.request.approved", approved(booking_data(first, email, start=time(9), minutes=60)))

    three = [
        participant("owner", 1, email, pid=later * 10 + 1),
        participant("member", 2, friend, pid=later * 10 + 2),
        participant("guest", 3, "guest@example.com", pid=later * 10 + 3),
    ]
    data = approved(booking_data(later, email, start=time(14), minutes=60, declared=3, participants=three))
    with statements(db) as seen:
        handle(consumer, "booking.request.approved", data)
    assert len(seen) == NEW_BOOKING, "\n".join(seen)

    # the friend joins the first booking: the owner's earlier minutes halve, the later booking is repriced
    joined = approved(
        booking_data(
            first,
            email,
            start=time(9),
            minutes=60,
            declared=2,
            participants=[owner, participant("member", 2, friend, pid=first * 10 + 2)],
            roster_version=2,
            source="roster_change",
        )
    )
    del joined["reviewed_by"]
    with statements(db) as seen:
        handle(
            consumer,
            "booking.session.roster_changed",
            {**joined, "changed_by": email, "previous_roster_version": 1},
        )
    assert len(seen) == ROSTER_CHANGE_WITH_CASCADE, "\n".join(seen)
    cascaded = [s for s in seen if s.startswith("UPDATE billing_bookings")]
    assert len(cascaded) == 2  # the first booking and the later one it repriced


def test_a_cascade_over_several_later_bookings_reads_their_usage_once(
    consumer, deliver, db, client, auth, email
):
    deliver("membership.member.created", member_event(email, "core"))  # 60 minutes a day
    first, noon, late = next_id(), next_id(), next_id()
    for booking_id, start, minutes in ((first, time(9), 60), (noon, time(12), 30), (late, time(15), 30)):
        deliver(
            "booking.request.approved",
            approved(booking_data(booking_id, email, start=start, minutes=minutes)),
        )
    assert [fees_of(client, auth, b)["total_cents"] for b in (first, noon, late)] == [0, 2500, 2500]

    shorter = approved(booking_data(first, email, start=time(9), minutes=30, roster_version=2))
    with statements(db) as seen:
        handle(consumer, "booking.request.approved", shorter)
    # 30 minutes at nine: the 30 at noon now fit the 60 a day, the 30 at three still do not
    assert [fees_of(client, auth, b)["total_cents"] for b in (first, noon, late)] == [0, 0, 2500]
    usage_reads = [s for s in seen if s.startswith("SELECT booking_usage")]
    assert len(usage_reads) == 2, "\n".join(seen)  # the first booking's players, then the cascade's
