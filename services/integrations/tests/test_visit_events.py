"""booking.visit.recorded (domain.md §4.8): a walk-in brings the member's HubSpot contact up to date
through the queue, one job however often the bus delivers the event."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from club_integrations.models import HubspotSyncQueue


def _visit(member: dict, visit_id: int) -> dict:
    return {
        "visit_id": visit_id,
        "member_id": member["member_id"],
        "member_email": member["email"],
        "member_name": f"{member['first_name']} {member['last_name']}",
        "member_status": member["status"],
        "visited_at": datetime.now(UTC).isoformat(),
        "checked_in_by": "desk@clubhouse.test",
        "method": "qr",
        "first_visit": True,
    }


def _jobs(db, email: str) -> list[HubspotSyncQueue]:
    with db.transaction() as session:
        return session.scalars(
            select(HubspotSyncQueue).where(HubspotSyncQueue.entity_id == email).order_by(HubspotSyncQueue.id)
        ).all()


def test_a_walk_in_updates_the_members_contact_once(
    deliver, member, db, empty_queue, hubspot_fake, hubspot_jobs, clock
):
    tess = member(f"tess.{uuid.uuid4().hex[:8]}@example.com", status="trialing", first_name="Tess")
    deliver("booking.visit.recorded", _visit(tess, 7), times=2)
    [job] = [j for j in _jobs(db, tess["email"]) if j.status == "pending"]
    assert job.action == "update_contact"

    clock.set(clock.now + timedelta(minutes=2))
    hubspot_jobs.queue_worker().run_once()
    contact = hubspot_fake.contact(tess["email"])["properties"]
    assert contact["firstname"] == "Tess" and contact["lifecyclestage"] == "customer"
    assert [j.status for j in _jobs(db, tess["email"]) if j.id == job.id] == ["completed"]


def test_a_visit_of_someone_we_do_not_know_sends_nothing(
    deliver, db, empty_queue, hubspot_fake, hubspot_jobs, clock
):
    stranger = {
        "member_id": uuid.uuid4().hex,
        "email": f"x.{uuid.uuid4().hex[:8]}@example.com",
        "first_name": "X",
        "last_name": "Y",
        "status": "active",
    }
    deliver("booking.visit.recorded", _visit(stranger, 8))
    clock.set(clock.now + timedelta(minutes=2))
    hubspot_jobs.queue_worker().run_once()
    assert hubspot_fake.contact(stranger["email"]) is None
    assert [(j.action, j.status, j.outcome) for j in _jobs(db, stranger["email"])] == [
        ("update_contact", "completed", "skipped")
    ]
