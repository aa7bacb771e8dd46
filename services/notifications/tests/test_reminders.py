"""Scheduled messages: tomorrow's bookings (and events, classes) at 18:00 club time, today's closures
to staff at 08:00; each once per club day however many replicas run."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import delete, select, update

from club_notifications.jobs import Deliveries, make_jobs
from club_notifications.models import Closure, Notification, StaffRecipient, Upcoming


def _notes(db, email, type_):
    with db.transaction() as session:
        return session.scalars(
            select(Notification).where(Notification.user_email == email, Notification.type == type_)
        ).all()


def test_reminders_fire_at_18_00_club_time_once_per_day(runtime):
    runners = [make_jobs(runtime), make_jobs(runtime)]  # two replicas
    before = datetime(2031, 7, 2, 0, 59, tzinfo=UTC)  # 17:59 PDT on 1 July
    at = datetime(2031, 7, 2, 1, 0, 5, tzinfo=UTC)  # 18:00:05 PDT
    early = runners[0].fire_due(before)
    assert "reminders" not in early and "closure_digest" in early  # 08:00 has passed that day
    fired = [r.fire_due(at) for r in runners] + [runners[0].fire_due(at + timedelta(hours=2))]
    assert sum("reminders" in f for f in fired) == 1
    assert not any("closure_digest" in f for f in fired)


def test_tomorrows_items_are_reminded_once(runtime, db, email):
    day = date(2031, 7, 1)
    tomorrow = day + timedelta(days=1)
    booking_id, class_id = int(uuid.uuid4().int % 10**9), int(uuid.uuid4().int % 10**9)
    with db.transaction() as session:
        session.add_all(
            [
                Upcoming(
                    kind="booking",
                    item_id=booking_id,
                    user_email=email,
                    title="Bay 3",
                    local_date=tomorrow,
                    start_time="09:00",
                ),
                Upcoming(
                    kind="booking",
                    item_id=booking_id,
                    user_email="bo." + email,
                    title="Bay 3",
                    local_date=tomorrow,
                    start_time="09:00",
                ),
                Upcoming(
                    kind="wellness",
                    item_id=class_id,
                    user_email=email,
                    title="Yoga",
                    local_date=tomorrow,
                    start_time="07:30",
                ),
                Upcoming(
                    kind="booking",
                    item_id=booking_id + 1,
                    user_email=email,
                    title="Bay 1",
                    local_date=tomorrow + timedelta(days=1),
                    start_time="10:00",
                ),
                Upcoming(
                    kind="booking",
                    item_id=booking_id + 2,
                    user_email=email,
                    title="Cancelled",
                    local_date=tomorrow,
                    start_time="10:00",
                    active=False,
                ),
            ]
        )
    deliveries = Deliveries(runtime)
    for _ in range(2):  # a second run the same day reminds nobody again
        with db.transaction() as session:
            deliveries.reminders(session, {"period": day.isoformat()})
    [booking] = _notes(db, email, "booking_reminder")
    assert booking.related_id == booking_id and "Bay 3" in booking.message and "09:00" in booking.message
    assert len(_notes(db, "bo." + email, "booking_reminder")) == 1
    [yoga] = _notes(db, email, "wellness_reminder")
    assert "Yoga" in yoga.message
    from club_notifications.models import CommunicationLog

    with db.transaction() as session:
        templates = session.scalars(
            select(CommunicationLog.template).where(CommunicationLog.member_email == email)
        ).all()
    assert templates == ["booking_reminder"]


def test_an_approved_booking_is_reminded_the_evening_before(deliver, runtime, db, email):
    from test_handlers import booking

    data = booking(email)
    deliver("booking.request.approved", {**data, "reviewed_by": "desk"})
    day_before = date.fromisoformat(data["date"]) - timedelta(days=1)
    with db.transaction() as session:
        Deliveries(runtime).reminders(session, {"period": day_before.isoformat()})
    assert [n.related_id for n in _notes(db, email, "booking_reminder")] == [data["booking_id"]]


def test_todays_closures_go_to_staff_at_08_00(runtime, db):
    desk = f"desk.{uuid.uuid4().hex[:6]}@club.example.com"
    day = date(2031, 8, 5)
    with db.transaction() as session:
        session.execute(update(Closure).values(is_active=False))
        session.execute(delete(StaffRecipient).where(StaffRecipient.email.like("%@club.example.com")))
        session.add(StaffRecipient(email=desk, role="staff", is_active=True))
        session.add_all(
            [
                Closure(
                    closure_id=int(uuid.uuid4().int % 10**9),
                    title="Bay 2 maintenance",
                    start_date=day,
                    end_date=day,
                    is_active=True,
                ),
                Closure(
                    closure_id=int(uuid.uuid4().int % 10**9),
                    title="Conference room",
                    start_date=day - timedelta(days=1),
                    end_date=day + timedelta(days=1),
                    is_active=True,
                ),
                Closure(
                    closure_id=int(uuid.uuid4().int % 10**9),
                    title="Next week",
                    start_date=day + timedelta(days=7),
                    end_date=day + timedelta(days=7),
                    is_active=True,
                ),
            ]
        )
    with db.transaction() as session:
        Deliveries(runtime).closure_digest(session, {"period": day.isoformat()})
    [digest] = _notes(db, desk, "closure_today")
    assert digest.message == "Conference room; Bay 2 maintenance"  # by first day
