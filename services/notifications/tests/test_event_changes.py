"""Club events and classes that move or are cancelled reach the members holding a place (domain.md
§9, §10); a member's share of a data export (§2.3); a visitor's tour confirmation (§8.3). Each once,
even when the event is delivered twice; what the member typed is escaped in e-mails."""

from __future__ import annotations

import uuid

import pytest
from notifications_support import jobs_for
from sqlalchemy import select

from club_notifications.handlers import HANDLERS
from club_notifications.models import (
    CommunicationLog,
    DismissedNotice,
    Notification,
    PushSubscription,
    Upcoming,
)
from club_shared.bus import Verdict

EVIL = '<script>alert("x")</script> & <b>bold</b>'


def _address(name: str) -> str:
    return f"{name}.{uuid.uuid4().hex[:8]}@example.com"


def _notifications(db, email) -> list[Notification]:
    with db.transaction() as session:
        return session.scalars(
            select(Notification).where(Notification.user_email == email).order_by(Notification.id)
        ).all()


def _emails(db, email) -> list[CommunicationLog]:
    with db.transaction() as session:
        return session.scalars(
            select(CommunicationLog)
            .where(CommunicationLog.member_email == email)
            .order_by(CommunicationLog.id)
        ).all()


def _subscribe(db, email) -> None:
    with db.transaction() as session:
        session.add(
            PushSubscription(
                endpoint=f"https://push.example.com/{uuid.uuid4().hex}",
                user_email=email,
                keys={"p256dh": "browser-secret", "auth": "browser-auth"},
            )
        )


def _twice(deliver, event_type, data):
    event, outcomes = deliver(event_type, data, times=2)
    assert [o.verdict for o in outcomes] == [Verdict.ACK, Verdict.ACK]
    return event


def _pushed(db, notification: Notification) -> bool:
    return bool(jobs_for(db, "push", notification_id=notification.id))


def _club_event(event_id: int, attendees: list[str], **changes) -> dict:
    return {
        "event_id": event_id,
        "title": "Wine night",
        "category": "Social",
        "location": "Lounge",
        "date": "2030-06-12",
        "start_time": "18:00",
        "end_time": "20:00",
        "starts_at": "2030-06-13T01:00:00+00:00",
        "ends_at": "2030-06-13T03:00:00+00:00",
        "max_capacity": 40,
        "visibility": "members",
        "requires_rsvp": True,
        "source": "manual",
        "eventbrite_id": None,
        "google_calendar_id": None,
        "blocked_resource_ids": [],
        "archived": False,
        "changed_by": "desk@club.example.com",
        "attendee_emails": attendees,
        **changes,
    }


def _rsvp(deliver, event_id: int, email: str) -> None:
    deliver(
        "booking.rsvp.confirmed",
        {
            "rsvp_id": event_id,
            "event_id": event_id,
            "event_title": "Wine night",
            "member_id": "u-1",
            "member_email": email,
            "member_name": "Ann Member",
            "status": "confirmed",
            "guest_count": 0,
            "source": "local",
            "location": "Lounge",
            "date": "2030-06-12",
            "start_time": "18:00",
            "starts_at": "2030-06-13T01:00:00+00:00",
            "changed_by": email,
        },
    )


def _upcoming(db, kind: str, item_id: int, email: str) -> Upcoming | None:
    with db.transaction() as session:
        return session.get(Upcoming, (kind, item_id, email))


def test_a_moved_event_tells_each_attendee_once_and_moves_the_reminder(deliver, db):
    ann, bob = _address("ann"), _address("bob")
    event_id = uuid.uuid4().int % 10**9
    for email in (ann, bob):
        _subscribe(db, email)
        _rsvp(deliver, event_id, email)
    before = {email: len(_notifications(db, email)) for email in (ann, bob)}
    # an edit that leaves the time alone (a new description) says nothing
    _twice(deliver, "booking.event.updated", _club_event(event_id, [ann, bob], title="Wine & cheese night"))
    assert {email: len(_notifications(db, email)) for email in (ann, bob)} == before
    moved = _club_event(
        event_id,
        [ann, bob.upper()],
        title="Wine & cheese night",
        date="2030-06-13",
        start_time="19:30",
        starts_at="2030-06-14T02:30:00+00:00",
        ends_at="2030-06-14T04:30:00+00:00",
    )
    _twice(deliver, "booking.event.updated", moved)
    _twice(deliver, "booking.event.updated", moved)  # booking said it again: nothing new to tell
    for email in (ann, bob):
        [told] = _notifications(db, email)[before[email] :]
        assert (told.type, told.related_type, told.related_id) == ("event", "event", event_id)
        assert told.title == "Moved: Wine & cheese night"
        assert "Thu 13 Jun at 19:30 (Lounge)" in told.message
        assert _pushed(db, told)
        reminder = _upcoming(db, "event", event_id, email)
        assert (str(reminder.local_date), reminder.start_time, reminder.title, reminder.active) == (
            "2030-06-13",
            "19:30",
            "Wine & cheese night",
            True,
        )
        assert [e.template for e in _emails(db, email)] == []  # a move is in-app and push only


def test_a_cancelled_event_tells_attendees_in_app_push_and_email_once(deliver, db):
    ann = _address("ann")
    event_id = uuid.uuid4().int % 10**9
    _subscribe(db, ann)
    _rsvp(deliver, event_id, ann)
    _twice(deliver, "booking.event.cancelled", _club_event(event_id, [ann], title=EVIL, archived=True))
    [*_, told] = _notifications(db, ann)
    assert (told.type, told.related_id, told.title) == ("event", event_id, f"Cancelled: {EVIL}")
    assert _pushed(db, told)
    [mail] = [e for e in _emails(db, ann) if e.template == "event_cancelled"]
    assert mail.status == "queued"
    [job] = jobs_for(db, "email", log_id=mail.id)
    assert job.payload["context"]["title"] == EVIL  # escaped when rendered (test_email)
    assert _upcoming(db, "event", event_id, ann).active is False


def test_archiving_an_event_that_is_over_tells_nobody(deliver, db):
    ann = _address("ann")
    event_id = uuid.uuid4().int % 10**9
    past = _club_event(
        event_id,
        [ann],
        date="2020-06-12",
        starts_at="2020-06-13T01:00:00+00:00",
        ends_at="2020-06-13T03:00:00+00:00",
        archived=True,
    )
    _twice(deliver, "booking.event.cancelled", past)
    assert _notifications(db, ann) == [] and _emails(db, ann) == []


@pytest.mark.skipif(
    "booking.wellness_class.updated" not in HANDLERS, reason="booking.wellness_class.updated not catalogued"
)
def test_a_moved_class_tells_seats_and_waitlist_once(deliver, db):
    seat, waiting = _address("seat"), _address("wait")
    class_id = uuid.uuid4().int % 10**9
    data = {
        "class_id": class_id,
        "title": "Yoga flow",
        "category": "Yoga",
        "instructor": "Ines",
        "location": "Studio",
        "date": "2030-06-12",
        "start_time": "09:00",
        "starts_at": "2030-06-12T16:00:00+00:00",
        "ends_at": "2030-06-12T17:00:00+00:00",
        "duration_minutes": 60,
        "capacity": 10,
        "waitlist_enabled": True,
        "blocked_resource_ids": [],
        "changed_fields": ["capacity"],
        "changed_by": "desk@club.example.com",
        "enrolled_emails": [seat],
        "waitlisted_emails": [waiting],
    }
    _twice(deliver, "booking.wellness_class.updated", data)
    assert _notifications(db, seat) == [] and _notifications(db, waiting) == []
    _twice(deliver, "booking.wellness_class.updated", data | {"changed_fields": ["start_time"]})
    for email in (seat, waiting):
        [told] = _notifications(db, email)
        assert (told.type, told.title, told.related_id) == ("wellness_updated", "Moved: Yoga flow", class_id)
    assert _upcoming(db, "wellness", class_id, seat).start_time == "09:00"
    assert _upcoming(db, "wellness", class_id, waiting) is None  # no seat, no reminder


def test_a_place_cancelled_by_the_club_is_pushed_and_emailed_once(deliver, db):
    seat, own = _address("seat"), _address("own")
    class_id = uuid.uuid4().int % 10**9
    for email in (seat, own):
        _subscribe(db, email)
    enrolment = {
        "enrollment_id": 1,
        "class_id": class_id,
        "class_title": EVIL,
        "category": "Yoga",
        "instructor": "Ines",
        "member_id": "u-1",
        "member_email": seat,
        "member_name": "Sam Seat",
        "status": "cancelled",
        "previous_status": "confirmed",
        "date": "2030-06-12",
        "start_time": "09:00",
        "starts_at": "2030-06-12T16:00:00+00:00",
        "duration_minutes": 60,
        "late": False,
        "changed_by": "desk@club.example.com",
    }
    _twice(deliver, "booking.enrollment.cancelled", enrolment)
    [told] = _notifications(db, seat)
    assert (told.type, told.related_id) == ("wellness_cancelled", class_id) and _pushed(db, told)
    assert "Wed 12 Jun at 09:00" in told.message
    assert [e.template for e in _emails(db, seat)] == ["wellness_cancelled"]
    # the member's own cancelling is in-app only: it is not news to them
    _twice(deliver, "booking.enrollment.cancelled", enrolment | {"member_email": own, "changed_by": own})
    [mine] = _notifications(db, own)
    assert mine.type == "wellness_cancelled" and not _pushed(db, mine) and _emails(db, own) == []


def test_data_export_part_holds_the_members_rows_under_every_address(deliver, db, runtime):
    ann, linked, other = _address("ann"), _address("ann.golf"), _address("other")
    _subscribe(db, ann)
    with db.transaction() as session:
        for email in (ann, linked, other):
            session.add(
                Notification(user_email=email, type="info", title="Hello", message="Hi", is_read=False)
            )
        session.add(DismissedNotice(user_email=linked, notice_type="announcement", notice_id=7))
        session.add(
            CommunicationLog(
                member_email=ann, type="call", direction="inbound", status="logged", body="Asked"
            )
        )
    request_id = uuid.uuid4().int % 10**9
    _twice(
        deliver,
        "membership.data_export.requested",
        {
            "request_id": request_id,
            "member_id": "m-1",
            "email": ann,
            "emails": [ann, linked],
            "requested_at": "2026-11-25T03:00:00+00:00",
        },
    )
    outbox = runtime.tables.outbox
    with db.transaction() as session:
        envelopes = session.scalars(
            select(outbox.c.envelope).where(
                outbox.c.event_type == "notifications.data_export.part_written",
                outbox.c.envelope["data"]["request_id"].as_integer() == request_id,
            )
        ).all()
    [data] = [e["data"] for e in envelopes]
    part = data["part"]
    assert (data["email"], data["service"]) == (ann, "notifications")
    assert sorted(part) == [
        "communication_logs",
        "fee_waivers",
        "notifications",
        "push_subscriptions",
        "user_dismissed_notices",
    ]
    assert sorted(n["user_email"] for n in part["notifications"]) == sorted([ann, linked])
    [subscription] = part["push_subscriptions"]
    assert subscription["user_email"] == ann and "keys" not in subscription
    assert [(d["user_email"], d["notice_id"]) for d in part["user_dismissed_notices"]] == [(linked, 7)]
    assert [c["body"] for c in part["communication_logs"]] == ["Asked"]


def test_tour_booked_emails_the_visitor_once_escaped(deliver, live_runtime, email_provider, jobs):
    visitor = _address("val")
    tour = {
        "tour_id": uuid.uuid4().int % 10**9,
        "visitor_name": EVIL,
        "visitor_email": visitor,
        "date": "2030-06-12",
        "start_time": "14:30",
        "end_time": "15:00",
        "starts_at": "2030-06-12T21:30:00+00:00",
        "source": "public",
    }
    _twice(deliver, "integrations.tour.booked", tour)
    db = live_runtime.db
    assert _notifications(db, visitor) == []  # a visitor has no app to read notifications in
    jobs.drain()
    [sent] = email_provider.sent_to(visitor)
    assert sent.body["subject"] == "Your tour of Clubhouse: Wed 12 Jun at 14:30"
    assert "&lt;script&gt;" in sent.body["html"] and "<script>" not in sent.body["html"]
    assert EVIL in sent.body["text"]
    [logged] = _emails(db, visitor)
    assert (logged.template, logged.status, logged.direction) == ("tour_confirmation", "sent", "outbound")
