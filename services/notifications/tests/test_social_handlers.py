"""Booking's RSVP and wellness-enrolment events become the member's notifications (domain.md §9):
a redelivery is a no-op, a promotion off the waitlist is pushed."""

from __future__ import annotations

import uuid

from sqlalchemy import select

from club_notifications.models import Notification, Upcoming
from club_shared.bus import Verdict


def _notifications(db, email) -> list[Notification]:
    with db.transaction() as session:
        return session.scalars(
            select(Notification).where(Notification.user_email == email).order_by(Notification.id)
        ).all()


def _enrolment(email: str, status: str, previous: str | None) -> dict:
    return {
        "enrollment_id": 7,
        "class_id": 3,
        "class_title": "Yoga flow",
        "category": "Yoga",
        "instructor": "Ines",
        "member_id": "u-1",
        "member_email": email,
        "member_name": "Ann Member",
        "status": status,
        "previous_status": previous,
        "date": "2026-06-12",
        "start_time": "10:00",
        "starts_at": "2026-06-12T17:00:00+00:00",
        "duration_minutes": 60,
        "late": False,
        "changed_by": None,
    }


def test_rsvp_confirmed_and_cancelled_reach_the_member_once(deliver, db):
    email = f"ann.{uuid.uuid4().hex[:8]}@example.com"
    rsvp = {
        "rsvp_id": 1,
        "event_id": 9,
        "event_title": "Wine night",
        "member_id": "u-1",
        "member_email": email,
        "member_name": "Ann Member",
        "status": "confirmed",
        "guest_count": 1,
        "source": "local",
        "location": "Lounge",
        "date": "2026-06-12",
        "start_time": "18:00",
        "starts_at": "2026-06-13T01:00:00+00:00",
        "changed_by": email,
    }
    _event, outcomes = deliver("booking.rsvp.confirmed", rsvp, times=2)
    assert {o.verdict for o in outcomes} == {Verdict.ACK}
    # (the same title about the same event within a minute is deduplicated: another event here)
    deliver("booking.rsvp.cancelled", rsvp | {"event_id": 10, "status": "cancelled"})
    got = _notifications(db, email)
    assert [(n.type, n.message, n.related_id) for n in got] == [
        ("event_rsvp", "You're on the list for Wine night.", 9),
        ("event_rsvp_cancelled", "Your RSVP for Wine night is cancelled.", 10),
    ]


def test_enrolment_waitlist_and_promotion(deliver, db):
    email = f"bob.{uuid.uuid4().hex[:8]}@example.com"
    deliver("booking.enrollment.waitlisted", _enrolment(email, "waitlisted", None), times=2)
    deliver("booking.enrollment.promoted", _enrolment(email, "confirmed", "waitlisted"))
    got = _notifications(db, email)
    assert [n.type for n in got] == ["wellness_waitlisted", "wellness_promoted"]
    assert got[1].title == "You're in!" and "Yoga flow" in got[1].message


def test_confirmed_items_feed_the_reminders_read_model(deliver, db):
    email = f"cat.{uuid.uuid4().hex[:8]}@example.com"
    deliver("booking.enrollment.confirmed", _enrolment(email, "confirmed", None))
    with db.transaction() as session:
        [item] = session.scalars(select(Upcoming).where(Upcoming.user_email == email)).all()
        assert (item.kind, item.item_id, item.title, str(item.local_date), item.start_time, item.active) == (
            "wellness",
            3,
            "Yoga flow",
            "2026-06-12",
            "10:00",
            True,
        )
    deliver("booking.enrollment.cancelled", _enrolment(email, "cancelled", "confirmed"))
    with db.transaction() as session:
        assert session.scalars(select(Upcoming.active).where(Upcoming.user_email == email)).all() == [False]
