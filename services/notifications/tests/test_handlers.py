"""Who hears what: each event, handed to the service's real consumer twice (a redelivery), gives the
right notification, to the right people, on the right channels, once."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
from notifications_support import jobs_for
from sqlalchemy import select, text

from club_notifications.handlers import ALL_HANDLERS, HANDLERS, WAITING
from club_notifications.models import (
    Announcement,
    Closure,
    CommunicationLog,
    Notification,
    PendingSecret,
    PushSubscription,
    StaffRecipient,
    Upcoming,
)
from club_shared.bus import Verdict
from club_shared.events import CATALOG

CATALOGUED = {t for t, _ in CATALOG}


def catalogued(event_type: str):
    return pytest.mark.skipif(event_type not in CATALOGUED, reason=f"{event_type} is not in the catalog yet")


def test_handlers_are_bound_exactly_for_catalogued_types():
    assert set(HANDLERS) == set(ALL_HANDLERS) & CATALOGUED
    assert set(WAITING) == set(ALL_HANDLERS) - CATALOGUED


def _notifications(db, email) -> list[Notification]:
    with db.transaction() as session:
        return session.scalars(
            select(Notification).where(Notification.user_email == email).order_by(Notification.id)
        ).all()


def _emails(db, email) -> list[CommunicationLog]:
    with db.transaction() as session:
        return session.scalars(select(CommunicationLog).where(CommunicationLog.member_email == email)).all()


def _subscribe(db, email):
    """A push subscription, so that push jobs are queued for the person at all."""
    with db.transaction() as session:
        session.add(
            PushSubscription(
                endpoint=f"https://push.example.com/{uuid.uuid4().hex}", user_email=email, keys={}
            )
        )


def _staff(db) -> str:
    email = f"desk.{uuid.uuid4().hex[:8]}@club.example.com"
    with db.transaction() as session:
        session.add(StaffRecipient(email=email, role="staff", is_active=True))
    return email


def _twice(deliver, event_type, data):
    event, outcomes = deliver(event_type, data, times=2)
    assert [o.verdict for o in outcomes] == [Verdict.ACK, Verdict.ACK]
    return event


def _channels(db, notification: Notification) -> set[str]:
    found = {"in_app"}
    if jobs_for(db, "push", notification_id=notification.id):
        found.add("push")
    return found


# --- membership -------------------------------------------------------------------------------------


@catalogued("membership.member.created")
def test_member_created_welcomes_in_app_and_by_email(deliver, db, email):
    _subscribe(db, email)
    _twice(
        deliver,
        "membership.member.created",
        {
            "member_id": "m1",
            "email": email,
            "first_name": "Ann",
            "last_name": "Lee",
            "tier": "core",
            "status": "active",
        },
    )
    [welcome] = _notifications(db, email)
    assert welcome.type == "new_member" and "Ann" in welcome.message
    assert _channels(db, welcome) == {"in_app"}
    assert [e.template for e in _emails(db, email)] == ["welcome"]


@catalogued("membership.member.status_changed")
def test_status_changed_tells_the_member_and_the_staff(deliver, db, email):
    desk = _staff(db)
    _subscribe(db, email)
    _twice(
        deliver,
        "membership.member.status_changed",
        {
            "member_id": "m2",
            "email": email,
            "first_name": "Dee",
            "last_name": "Fox",
            "old_status": "active",
            "new_status": "past_due",
        },
    )
    [mine] = _notifications(db, email)
    assert mine.type == "billing_alert" and _channels(db, mine) == {"in_app", "push"}
    assert [e.template for e in _emails(db, email)] == ["grace_reminder"]
    staff = [n for n in _notifications(db, desk) if email in n.message]
    assert len(staff) == 1 and staff[0].type == "member_status_change"


@catalogued("membership.staff.updated")
def test_staff_read_model(deliver, db):
    email = f"new.staff.{uuid.uuid4().hex[:6]}@club.example.com"
    base = {"staff_id": 9, "email": email, "name": "Sam", "role": "staff", "is_active": True}
    _twice(deliver, "membership.staff.updated", base)
    deliver("membership.staff.updated", {**base, "role": "admin", "is_active": False})
    with db.transaction() as session:
        row = session.get(StaffRecipient, email)
        assert (row.role, row.is_active) == ("admin", False)


@catalogued("membership.signin.code_issued")
def test_signin_code_is_emailed_once_and_never_stored_elsewhere(deliver, db, email, runtime):
    expires = datetime.now(UTC) + timedelta(minutes=15)
    event = _twice(
        deliver,
        "membership.signin.code_issued",
        {
            "email": email,
            "first_name": "Ann",
            "code": "739201",
            "link_token": "tok",
            "link_url": "https://app/s?t=tok",
            "expires_at": expires.isoformat(),
        },
    )
    [entry] = _emails(db, email)
    assert entry.template == "signin_code" and entry.status == "queued"
    assert _notifications(db, email) == []  # no in-app row for a code
    [job] = jobs_for(db, "email", log_id=entry.id)
    assert "739201" not in str(job.payload)
    with db.transaction() as session:
        held = session.get(PendingSecret, job.payload["secret_id"])
        assert held.value["code"] == "739201" and held.expires_at <= expires + timedelta(seconds=1)
        # nothing else in the database carries the code (the inbox keeps ids only)
        dump = session.execute(
            text(
                "SELECT string_agg(t::text, '') FROM (SELECT * FROM communication_logs WHERE member_email = :e) t"
            ),
            {"e": email},
        ).scalar()
        assert "739201" not in (dump or "")
    assert str(event.event_id)


@catalogued("membership.member.email_changed")
def test_email_change_moves_what_we_keep(deliver, db, email):
    deliver(
        "membership.member.created",
        {
            "member_id": "m3",
            "email": email,
            "first_name": "Ann",
            "last_name": "Lee",
            "tier": None,
            "status": "active",
        },
    )
    new = "new." + email
    _twice(
        deliver, "membership.member.email_changed", {"member_id": "m3", "old_email": email, "new_email": new}
    )
    assert _notifications(db, email) == [] and len(_notifications(db, new)) == 1
    assert _emails(db, email) == [] and len(_emails(db, new)) == 1


@catalogued("membership.member.deleted")
def test_member_deleted_erases_their_rows(deliver, db, email):
    deliver(
        "membership.member.created",
        {
            "member_id": "m4",
            "email": email,
            "first_name": "Ann",
            "last_name": "Lee",
            "tier": None,
            "status": "active",
        },
    )
    _subscribe(db, email)
    _twice(deliver, "membership.member.deleted", {"member_id": "m4", "email": email, "linked_emails": []})
    assert _notifications(db, email) == [] and _emails(db, email) == []
    with db.transaction() as session:
        assert (
            session.scalars(select(PushSubscription).where(PushSubscription.user_email == email)).all() == []
        )


@catalogued("booking.notification.requested")
def test_ad_hoc_requests_reach_a_member_or_the_staff(deliver, db, email):
    desk = _staff(db)
    _subscribe(db, email)
    _twice(
        deliver,
        "booking.notification.requested",
        {
            "audience": "member",
            "email": email,
            "type": "waiver_review",
            "title": "Please sign the waiver",
            "message": "Before your next visit.",
            "channels": ["in_app", "push", "email"],
        },
    )
    [note] = _notifications(db, email)
    assert note.type == "waiver_review" and _channels(db, note) == {"in_app", "push"}
    assert [e.template for e in _emails(db, email)] == ["notice"]
    _twice(
        deliver,
        "billing.notification.requested",
        {
            "audience": "staff",
            "type": "integration_error",
            "title": f"Stripe webhook failing {email}",
            "message": "401 from Stripe",
            "channels": [],
        },
    )
    assert [n.type for n in _notifications(db, desk) if email in n.title] == ["integration_error"]


# --- booking ----------------------------------------------------------------------------------------


def booking(email, booking_id=None, **overrides):
    booking_id = booking_id or int(uuid.uuid4().int % 10**9)
    day = date.today() + timedelta(days=3)
    starts = datetime.combine(day, datetime.min.time(), tzinfo=UTC) + timedelta(hours=25)
    data = {
        "booking_id": booking_id,
        "session_id": None,
        "status": "approved",
        "source": "approval",
        "member_id": "m1",
        "member_email": email,
        "member_name": "Ann Lee",
        "resource_id": 3,
        "resource_name": "Bay 3",
        "resource_type": "simulator",
        "date": day.isoformat(),
        "start_time": "18:00",
        "end_time": "19:00",
        "starts_at": starts.isoformat(),
        "ends_at": (starts + timedelta(hours=1)).isoformat(),
        "duration_minutes": 60,
        "declared_player_count": 2,
        "roster_version": 1,
        "trackman_booking_id": None,
        "participants": [
            {
                "participant_id": 1,
                "type": "owner",
                "user_id": "m1",
                "email": email,
                "name": "Ann Lee",
                "slot": 1,
                "is_staff": False,
                "is_placeholder": False,
                "used_guest_pass": False,
                "payment_status": "pending",
            },
            {
                "participant_id": 2,
                "type": "member",
                "user_id": "m9",
                "email": "bo." + email,
                "name": "Bo",
                "slot": 2,
                "is_staff": False,
                "is_placeholder": False,
                "used_guest_pass": False,
                "payment_status": "pending",
            },
        ],
    }
    return {**data, **overrides}


@catalogued("booking.request.created")
def test_a_new_request_goes_to_the_staff(deliver, db, email):
    desk = _staff(db)
    _subscribe(db, desk)
    data = booking(email, status="pending", created_by=email)
    _twice(deliver, "booking.request.created", data)
    [alert] = [n for n in _notifications(db, desk) if n.related_id == data["booking_id"]]
    assert (
        alert.type == "booking_request"
        and "Ann Lee" in alert.message
        and _channels(db, alert) == {"in_app", "push"}
    )
    assert _notifications(db, email) == []


@catalogued("booking.request.approved")
def test_approved_in_app_push_and_email_and_remembered_for_reminders(deliver, db, email):
    _subscribe(db, email)
    data = booking(email, reviewed_by="desk@club.example.com")
    _twice(deliver, "booking.request.approved", data)
    [approved] = _notifications(db, email)
    assert (approved.type, approved.related_type, approved.related_id) == (
        "booking_approved",
        "booking",
        data["booking_id"],
    )
    assert "Bay 3" in approved.message and _channels(db, approved) == {"in_app", "push"}
    assert [e.template for e in _emails(db, email)] == ["booking_approved"]
    with db.transaction() as session:
        remembered = session.scalars(
            select(Upcoming.user_email).where(Upcoming.item_id == data["booking_id"])
        ).all()
    assert sorted(remembered) == sorted([email, "bo." + email])


@catalogued("booking.request.confirmed")
def test_confirmed(deliver, db, email):
    data = booking(
        email,
        status="confirmed",
        resource_type="conference_room",
        resource_name="Conference room",
        reason="conference_room",
    )
    _twice(deliver, "booking.request.confirmed", data)
    assert [n.type for n in _notifications(db, email)] == ["booking_confirmed"]


@catalogued("booking.request.declined")
def test_declined(deliver, db, email):
    data = booking(email, status="declined", reviewed_by="desk", reason="Bay under maintenance <b>")
    _twice(deliver, "booking.request.declined", data)
    [declined] = _notifications(db, email)
    assert declined.type == "booking_declined" and "maintenance" in declined.message
    assert [e.template for e in _emails(db, email)] == ["booking_declined"]


@catalogued("booking.request.cancelled")
def test_cancelled_by_staff_tells_everyone_on_it(deliver, db, email):
    data = booking(email)
    deliver("booking.request.approved", {**data, "reviewed_by": "desk"})
    cancelled = {
        **data,
        "status": "cancelled",
        "cancelled_by": "desk",
        "actor_type": "staff",
        "previous_status": "approved",
        "requested_at": datetime.now(UTC).isoformat(),
        "late": False,
        "refund_eligible": True,
    }
    _twice(deliver, "booking.request.cancelled", cancelled)
    assert [n.type for n in _notifications(db, email)] == ["booking_approved", "booking_cancelled_by_staff"]
    assert [n.type for n in _notifications(db, "bo." + email)] == ["booking_cancelled_by_staff"]
    with db.transaction() as session:
        assert not session.scalars(
            select(Upcoming).where(Upcoming.item_id == data["booking_id"], Upcoming.active)
        ).all()


@catalogued("booking.request.checked_in")
def test_checked_in(deliver, db, email):
    _twice(deliver, "booking.request.checked_in", booking(email, status="checked_in", checked_in_by="desk"))
    assert [n.type for n in _notifications(db, email)] == ["booking_checked_in"]


@catalogued("booking.request.rescheduled")
def test_rescheduled(deliver, db, email):
    data = booking(email)
    previous = {
        k: data[k]
        for k in ("resource_id", "date", "start_time", "end_time", "starts_at", "ends_at", "duration_minutes")
    }
    _twice(
        deliver,
        "booking.request.rescheduled",
        {**data, "start_time": "19:00", "changed_by": "desk", "previous": previous},
    )
    [changed] = _notifications(db, email)
    assert changed.type == "booking_updated" and "19:00" in changed.message


@catalogued("booking.request.expired")
def test_expired(deliver, db, email):
    _twice(deliver, "booking.request.expired", booking(email, status="expired"))
    assert [n.title for n in _notifications(db, email)] == ["Request expired"]


@catalogued("booking.guest_pass.consumed")
def test_guest_pass_used(deliver, db, email):
    _twice(
        deliver,
        "booking.guest_pass.consumed",
        {
            "member_email": email,
            "booking_id": 55,
            "passes": 1,
            "total_passes": 4,
            "used_passes": 3,
            "held_passes": 0,
            "available_passes": 1,
            "period_key": "2031-04",
            "guests": [{"participant_id": 3, "name": "Sam", "email": None}],
        },
    )
    [used] = _notifications(db, email)
    assert used.type == "guest_pass" and "Sam" in used.message and "1 left" in used.message


def closure(closure_id, **overrides):
    today = date.today()
    return {
        "closure_id": closure_id,
        "title": "Bay 2 maintenance",
        "reason": "maintenance",
        "notice_type": "closure",
        "member_notice": "Bay 2 is closed for repairs.",
        "start_date": today.isoformat(),
        "end_date": today.isoformat(),
        "start_time": None,
        "end_time": None,
        "affected_areas": "bay_2",
        "resource_ids": [2],
        "notify_members": True,
        "needs_review": False,
        "affected_booking_ids": [],
        "created_by": "desk",
        **overrides,
    }


@catalogued("booking.closure.created")
def test_closure_created_tells_staff_and_pushes_members(deliver, db):
    desk = _staff(db)
    closure_id = int(uuid.uuid4().int % 10**9)
    _twice(deliver, "booking.closure.created", closure(closure_id))
    assert [n.type for n in _notifications(db, desk) if n.related_id == closure_id] == ["closure_created"]
    assert len([j for j in jobs_for(db, "broadcast") if j.payload["related_id"] == closure_id]) == 1
    with db.transaction() as session:
        assert session.get(Closure, closure_id).notify_members is True


@catalogued("booking.closure.deleted")
def test_closure_deleted_removes_its_announcement(deliver, db):
    closure_id = int(uuid.uuid4().int % 10**9)
    deliver("booking.closure.created", closure(closure_id, notify_members=False))
    with db.transaction() as session:
        session.add(
            Announcement(
                title="Closed",
                message="m",
                starts_on=date.today(),
                starts_at=datetime.now(UTC),
                closure_id=closure_id,
            )
        )
    _twice(
        deliver,
        "booking.closure.deleted",
        {
            "closure_id": closure_id,
            "title": "x",
            "resource_ids": [2],
            "calendar_event_id": None,
            "deleted_by": "desk",
        },
    )
    with db.transaction() as session:
        assert session.get(Closure, closure_id).is_active is False
        assert session.scalars(select(Announcement).where(Announcement.closure_id == closure_id)).all() == []


@catalogued("booking.trackman_match.succeeded")
def test_only_newly_linked_trackman_bookings_notify(deliver, db, email):
    base = {"trackman_booking_id": "9001", "booking_id": 77, "member_email": email, "rule": "auto_approve"}
    deliver("booking.trackman_match.succeeded", {**base, "newly_linked": False})
    _twice(deliver, "booking.trackman_match.succeeded", {**base, "newly_linked": True})
    assert [n.type for n in _notifications(db, email)] == ["trackman_booking"]


@catalogued("booking.trackman_match.failed")
def test_unmatched_trackman_bookings_go_to_staff(deliver, db):
    desk = _staff(db)
    tm_id = uuid.uuid4().hex[:8]
    _twice(
        deliver,
        "booking.trackman_match.failed",
        {"trackman_booking_id": tm_id, "reason": "ambiguous", "candidate_booking_ids": [1, 2]},
    )
    assert [n.type for n in _notifications(db, desk) if tm_id in n.message] == ["trackman_unmatched"]


@catalogued("integrations.hubspot.engagement_received")
def test_hubspot_engagements_are_logged_once(deliver, db, email):
    engagement = uuid.uuid4().hex
    data = {
        "engagement_id": engagement,
        "member_email": email,
        "type": "call",
        "direction": "inbound",
        "subject": "Asked about tiers",
        "body": "Wants Premium.",
        "status": None,
        "occurred_at": datetime.now(UTC).isoformat(),
    }
    _twice(deliver, "integrations.hubspot.engagement_received", data)
    deliver("integrations.hubspot.engagement_received", data)  # the same engagement pulled again
    [entry] = _emails(db, email)
    assert (entry.type, entry.direction, entry.hubspot_engagement_id, entry.status) == (
        "call",
        "inbound",
        engagement,
        "logged",
    )
