"""Fee waivers (domain.md §10, §12): billing.fee.waived puts each waiver in the admins' review queue
once; every 4 hours the admins hear of the waivers left unreviewed for more than 12 hours; an admin's
review takes a waiver out of the queue (audited)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from notifications_support import jobs_for
from sqlalchemy import delete, select, update

from club_notifications.jobs import SCHEDULE, Deliveries
from club_notifications.models import FeeWaiver, Notification, PushSubscription, StaffRecipient
from club_shared.bus import Verdict


def _waived(booking_id: int, *, hours_ago: float = 0, name: str = "Ann Member", key: str = "p1") -> dict:
    return {
        "booking_request_id": booking_id,
        "line_key": key,
        "member_email": "Ann@Example.com",
        "member_name": name,
        "participant_name": name,
        "club_date": "2026-11-20",
        "amount_cents": 2500,
        "reason": "bay was late",
        "waived_by": "desk@club.example.com",
        "waived_at": (datetime.now(UTC) - timedelta(hours=hours_ago)).isoformat(),
    }


def _staff(db, role: str) -> str:
    email = f"{role}.{uuid.uuid4().hex[:8]}@club.example.com"
    with db.transaction() as session:
        session.add(StaffRecipient(email=email, role=role, is_active=True))
        session.add(
            PushSubscription(
                endpoint=f"https://push.example.com/{uuid.uuid4().hex}", user_email=email, keys={}
            )
        )
    return email


def _told(db, email) -> list[Notification]:
    with db.transaction() as session:
        return session.scalars(
            select(Notification).where(Notification.user_email == email, Notification.type == "waiver_review")
        ).all()


def _review_run(runtime) -> None:
    with runtime.db.transaction() as session:
        Deliveries(runtime).waiver_review(session, {})


def test_a_waiver_joins_the_queue_once_and_admins_see_it(deliver, db, client, auth):
    booking_id = uuid.uuid4().int % 10**9
    _event, outcomes = deliver("billing.fee.waived", _waived(booking_id), times=2)
    assert [o.verdict for o in outcomes] == [Verdict.ACK, Verdict.ACK]
    with db.transaction() as session:
        [row] = session.scalars(select(FeeWaiver).where(FeeWaiver.booking_id == booking_id)).all()
        assert (row.line_key, row.member_email, row.amount_cents, row.reviewed_at) == (
            "p1",
            "ann@example.com",
            2500,
            None,
        )
    listed = client.get(
        "/api/v1/notifications/fee-waivers?limit=200", headers=auth("boss@example.com", "admin")
    )
    assert listed.status_code == 200
    assert [w["line_key"] for w in listed.get_json() if w["booking_id"] == booking_id] == ["p1"]
    assert (
        client.get("/api/v1/notifications/fee-waivers", headers=auth("desk@example.com", "staff")).status_code
        == 403
    )
    bad = client.get(
        "/api/v1/notifications/fee-waivers?reviewed=maybe", headers=auth("boss@example.com", "admin")
    )
    assert bad.status_code == 422 and bad.mimetype == "application/problem+json"


def test_admins_hear_of_waivers_unreviewed_for_12_hours_until_reviewed(deliver, db, runtime, client, auth):
    assert any(s.name == "waiver_review" and s.when.interval == timedelta(hours=4) for s in SCHEDULE)
    with db.transaction() as session:  # earlier tests' waivers are not this test's business
        session.execute(update(FeeWaiver).values(reviewed_at=datetime.now(UTC), reviewed_by="earlier@test"))
    admin, desk = _staff(db, "admin"), _staff(db, "staff")
    old, fresh = uuid.uuid4().int % 10**9, uuid.uuid4().int % 10**9
    deliver("billing.fee.waived", _waived(old, hours_ago=13, name="<script>x</script>"))
    deliver("billing.fee.waived", _waived(fresh, hours_ago=1))

    _review_run(runtime)
    [told] = _told(db, admin)
    assert told.title == "Fee waivers to review" and told.link == "/staff/fee-waivers"
    assert told.message.startswith("1 fee waiver(s) totalling $25.00")
    assert jobs_for(db, "push", notification_id=told.id)
    assert _told(db, desk) == []  # admins review waivers, not all staff

    with db.transaction() as session:
        waiver_id = session.scalar(select(FeeWaiver.id).where(FeeWaiver.booking_id == old))
    assert (
        client.post(
            f"/api/v1/notifications/fee-waivers/{waiver_id}/review", headers=auth("desk@example.com", "staff")
        ).status_code
        == 403
    )
    reviewed = client.post(
        f"/api/v1/notifications/fee-waivers/{waiver_id}/review", headers=auth("boss@example.com", "admin")
    )
    assert reviewed.status_code == 200
    assert reviewed.get_json()["reviewed_by"] == "boss@example.com" and reviewed.get_json()["reviewed_at"]
    again = client.post(
        f"/api/v1/notifications/fee-waivers/{waiver_id}/review", headers=auth("other@example.com", "admin")
    )
    assert again.get_json()["reviewed_by"] == "boss@example.com"  # a second review changes nothing
    missing = client.post(
        "/api/v1/notifications/fee-waivers/999999999999/review", headers=auth("boss@example.com", "admin")
    )
    assert missing.status_code == 404 and missing.mimetype == "application/problem+json"
    outbox = runtime.tables.outbox
    with db.transaction() as session:
        audits = session.scalars(
            select(outbox.c.envelope).where(
                outbox.c.event_type == "notifications.audit.recorded",
                outbox.c.envelope["data"]["resource_id"].astext == f"{old}:p1",
            )
        ).all()
    assert [(a["data"]["action"], a["data"]["actor_email"]) for a in audits] == [
        ("fee_waiver_reviewed", "boss@example.com")
    ]

    # the next run: the reviewed one is gone, the fresh one is not yet 12 hours old — nothing to say
    with db.transaction() as session:
        session.execute(delete(Notification).where(Notification.user_email == admin))
    _review_run(runtime)
    assert _told(db, admin) == []


def test_a_members_waivers_follow_their_address_and_go_with_their_account(deliver, db):
    booking_id = uuid.uuid4().int % 10**9
    old = f"old.{uuid.uuid4().hex[:8]}@example.com"
    deliver("billing.fee.waived", _waived(booking_id) | {"member_email": old})
    new = "new." + old
    deliver("membership.member.email_changed", {"member_id": "m9", "old_email": old, "new_email": new})
    with db.transaction() as session:
        assert session.scalars(
            select(FeeWaiver.member_email).where(FeeWaiver.booking_id == booking_id)
        ).all() == [new]
    deliver("membership.member.deleted", {"member_id": "m9", "email": new, "linked_emails": []})
    with db.transaction() as session:
        assert session.scalars(select(FeeWaiver).where(FeeWaiver.booking_id == booking_id)).all() == []
