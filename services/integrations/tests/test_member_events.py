"""Membership's events in integrations: the member read model (linked e-mails, e-mail changes,
merges), settings, erasure of a deleted member and our share of their data export."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import select

from club_integrations.flows import common
from club_integrations.models import FormSubmission, HubspotSyncQueue, Tour, TrackmanBaySlot


def email() -> str:
    return f"m.{uuid.uuid4().hex[:8]}@example.com"


def test_lookups_go_through_linked_emails_changes_and_merges(deliver, member, db):
    ann = member(email())
    golf = email()
    deliver(
        "membership.member.linked_email_added",
        {"member_id": ann["member_id"], "email": ann["email"], "linked_email": golf, "source": "manual"},
    )
    with db.transaction() as session:
        assert common.member_for_email(session, golf).member_id == ann["member_id"]
    new = email()
    deliver(
        "membership.member.email_changed",
        {"member_id": ann["member_id"], "old_email": ann["email"], "new_email": new},
    )
    with db.transaction() as session:
        assert common.member_for_email(session, new).email == new
        assert common.member_for_email(session, ann["email"]) is None
        jobs = session.scalars(select(HubspotSyncQueue).where(HubspotSyncQueue.entity_id == new)).all()
    assert [(j.action, j.payload) for j in jobs] == [("update_contact", {"old_email": ann["email"]})]
    deliver(
        "membership.member.linked_email_removed",
        {"member_id": ann["member_id"], "email": new, "linked_email": golf, "source": "manual"},
    )
    with db.transaction() as session:
        assert common.member_for_email(session, golf) is None
    bo = member(email())
    deliver(
        "membership.member.merged",
        {
            "member_id": bo["member_id"],
            "email": bo["email"],
            "into_member_id": ann["member_id"],
            "into_email": new,
            "moved_emails": [bo["email"]],
        },
    )
    with db.transaction() as session:
        assert common.member_for_email(session, bo["email"]).member_id == ann["member_id"]


def test_alias_domains_and_placeholders_follow_the_settings(deliver, member, db):
    ann = member(f"ann.{uuid.uuid4().hex[:6]}@club-one.example")
    deliver(
        "membership.setting.updated",
        {
            "key": "club.alias_domains",
            "value": ["club-one.example", "club-two.example"],
            "category": "club",
            "updated_by": "admin@club.example",
        },
    )
    deliver(
        "membership.setting.updated",
        {
            "key": "club.placeholder_email_patterns",
            "value": ["*@walkin.example"],
            "category": "club",
            "updated_by": "admin@club.example",
        },
    )
    with db.transaction() as session:
        alias = ann["email"].replace("club-one", "club-two")
        assert common.member_for_email(session, alias).member_id == ann["member_id"]
        assert common.real_email(session, "guest@walkin.example") is None
        assert common.real_email(session, "guest@trackman.local") == "guest@trackman.local"
    for key, value in (
        ("club.alias_domains", []),
        ("club.placeholder_email_patterns", ["anonymous@*", "unmatched-*", "*@trackman.local"]),
    ):
        deliver(
            "membership.setting.updated", {"key": key, "value": value, "category": "club", "updated_by": None}
        )


def test_a_deleted_member_is_erased_and_their_export_answered(deliver, member, db, clock, outbox):
    ann = member(email(), keep_jobs=True)
    with db.transaction() as session:
        session.add(
            Tour(
                visitor_name="Ann Lee",
                visitor_email=ann["email"],
                status="scheduled",
                source="public",
                scheduled_at=clock.now + timedelta(days=1),
                ends_at=clock.now + timedelta(days=1, minutes=30),
            )
        )
        session.add(
            FormSubmission(
                form_type="contact",
                email=ann["email"],
                submitted_at=clock.now,
                status="new",
                source="local",
                data={"message": "hi"},
            )
        )
        session.add(
            TrackmanBaySlot(
                resource_id=1,
                slot_date=clock.now.date(),
                start_time=clock.now.time(),
                end_time=clock.now.time(),
                starts_at=clock.now,
                ends_at=clock.now,
                trackman_booking_id=uuid.uuid4().hex[:10],
                customer_email=ann["email"],
            )
        )
    deliver(
        "membership.data_export.requested",
        {
            "request_id": 41,
            "member_id": ann["member_id"],
            "email": ann["email"],
            "emails": [ann["email"]],
            "requested_at": clock.now.isoformat(),
        },
    )
    [part] = outbox("integrations.data_export.part_written", request_id=41)
    assert part["service"] == "integrations"
    assert [t["visitor_email"] for t in part["part"]["tours"]] == [ann["email"]]
    assert [f["data"] for f in part["part"]["form_submissions"]] == [{"message": "hi"}]
    assert (
        len(part["part"]["trackman_bay_slots"]) == 1 and part["part"]["members"][0]["email"] == ann["email"]
    )
    # what was (to be) sent to HubSpot about her is hers too
    assert [j["action"] for j in part["part"]["hubspot_sync_queue"]] == ["create_contact"]
    assert part["part"]["trackman_webhook_events"] == [] and part["part"]["eventbrite_attendees"] == []

    deliver(
        "membership.member.deleted",
        {"member_id": ann["member_id"], "email": ann["email"], "linked_emails": []},
    )
    with db.transaction() as session:
        assert common.member_for_email(session, ann["email"]) is None
        assert session.scalars(select(Tour).where(Tour.visitor_email == ann["email"])).all() == []
        assert session.scalars(select(FormSubmission).where(FormSubmission.email == ann["email"])).all() == []
        assert (
            session.scalars(
                select(TrackmanBaySlot).where(TrackmanBaySlot.customer_email == ann["email"])
            ).all()
            == []
        )
        jobs = session.scalars(
            select(HubspotSyncQueue).where(HubspotSyncQueue.entity_id == ann["email"])
        ).all()
    assert {(j.action, j.status, j.outcome) for j in jobs} == {
        ("create_contact", "completed", "erased"),
        ("delete_contact", "pending", None),
    }


def test_erasure_reaches_the_tours_calendar_and_eventbrite_never_brings_them_back(
    deliver, member, db, clock, calendar_jobs, google_fake, eventbrite_fake, outbox
):
    from integrations_support import CALENDAR_IDS, queued_jobs

    ann = member(email())
    start = clock.now.replace(microsecond=0) + timedelta(days=3)
    with db.transaction() as session:
        tour = Tour(
            visitor_name="Ann Lee",
            visitor_email=ann["email"],
            visitor_phone="+1 555 0101",
            status="scheduled",
            source="public",
            scheduled_at=start,
            ends_at=start + timedelta(minutes=30),
        )
        session.add(tour)
        session.flush()
        tour_id = tour.id
    calendar_jobs.calendar_push_tour(None, {"tour_id": tour_id})
    [pushed] = google_fake.events(CALENDAR_IDS["tours"])
    assert pushed["summary"] == "Tour: Ann Lee"
    gala = eventbrite_fake.add_event("Gala", start, start + timedelta(hours=3))
    eventbrite_fake.add_attendee(gala, ann["email"], "Ann Lee")
    calendar_jobs.eventbrite_sync(None, {})
    assert [r["email"] for r in outbox("integrations.eventbrite.attendee_synced")] == [ann["email"]]

    deliver(
        "membership.member.deleted",
        {"member_id": ann["member_id"], "email": ann["email"], "linked_emails": []},
    )
    [job] = [j for j in queued_jobs(db, "calendar_push_tour") if j.payload["tour_id"] == tour_id]
    calendar_jobs.calendar_push_tour(None, job.payload)
    [pushed] = google_fake.events(CALENDAR_IDS["tours"])
    assert pushed["summary"] == "Tour: Deleted member" and "555" not in pushed.get("description", "")

    bo = f"bo.{uuid.uuid4().hex[:6]}@example.com"
    eventbrite_fake.add_attendee(gala, ann["email"], "Ann Lee")  # another ticket under her address
    eventbrite_fake.add_attendee(gala, bo, "Bo Kim")
    calendar_jobs.eventbrite_sync(None, {})
    assert [r["email"] for r in outbox("integrations.eventbrite.attendee_synced")] == [ann["email"], bo]
