"""A deleted member in HubSpot and in our tables (domain.md §2.3, §8.2): their addresses go to
`sync_exclusions` (nothing queued for them, nothing pulled back in), their contact is GDPR-deleted
through the queue (429 waited out, 5xx retried with back-off, 401 dead at once with an alert), and
what integrations kept about them is erased. A booked tour moves the visitor's deal to tour_booked."""

from __future__ import annotations

import uuid
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from club_integrations.domain import hubspot as rules
from club_integrations.domain.forms import Submission
from club_integrations.flows import forms
from club_integrations.models import (
    HubspotDeal,
    HubspotSyncQueue,
    HubspotWebhookEvent,
    Member,
    SyncExclusion,
    TrackmanImportRow,
)

PT = ZoneInfo("America/Los_Angeles")
pytestmark = pytest.mark.usefixtures("empty_queue")
TOUR_REQUEST, TOUR_BOOKED = "2414796536", "2413968103"


def email() -> str:
    return f"del.{uuid.uuid4().hex[:8]}@example.com"


def run_queue(hubspot_jobs, clock):
    clock.set(clock.now + timedelta(minutes=2))
    return hubspot_jobs.queue_worker().run_once()


def jobs_for(db, address: str, action: str) -> list[HubspotSyncQueue]:
    with db.transaction() as session:
        return session.scalars(
            select(HubspotSyncQueue)
            .where(HubspotSyncQueue.entity_id == address, HubspotSyncQueue.action == action)
            .order_by(HubspotSyncQueue.id)
        ).all()


def delete_member(deliver, person: dict) -> None:
    deliver(
        "membership.member.deleted",
        {
            "member_id": person["member_id"],
            "email": person["email"],
            "linked_emails": person["linked_emails"],
        },
    )


@pytest.fixture
def synced_member(member, hubspot_fake, hubspot_jobs, clock, db):
    """A member whose contact HubSpot has (made by the queue), with a linked address that is a
    second contact of HubSpot's."""

    def make() -> dict:
        person = member(email(), linked=[email()], keep_jobs=True)
        run_queue(hubspot_jobs, clock)
        assert hubspot_fake.contact(person["email"]) is not None
        person["linked_contact"] = hubspot_fake.add("contacts", {"email": person["linked_emails"][0]})
        return person

    return make


def test_a_deleted_member_is_excluded_and_their_contact_deleted(
    deliver, synced_member, hubspot_fake, hubspot_jobs, clock, db
):
    ann = synced_member()
    contact_id = hubspot_fake.contact(ann["email"])["id"]
    delete_member(deliver, ann)  # twice: one deletion job
    with db.transaction() as session:
        excluded = session.scalars(
            select(SyncExclusion.email).where(SyncExclusion.email.in_([ann["email"], *ann["linked_emails"]]))
        ).all()
    assert sorted(excluded) == sorted([ann["email"], *ann["linked_emails"]])
    [deletion] = jobs_for(db, ann["email"], "delete_contact")
    assert (deletion.status, deletion.priority) == ("pending", 1)
    assert deletion.idempotency_key == rules.contact_deletion_key(ann["member_id"])
    assert deletion.payload == {"hubspot_id": contact_id, "linked_emails": ann["linked_emails"]}

    assert run_queue(hubspot_jobs, clock).completed == 1
    assert hubspot_fake.contact(ann["email"]) is None
    assert hubspot_fake.contact(ann["linked_emails"][0]) is None
    assert sorted(hubspot_fake.purged) == sorted([contact_id, ann["linked_contact"]])
    assert {ann["email"], *ann["linked_emails"]} <= hubspot_fake.blocklist
    [done] = jobs_for(db, ann["email"], "delete_contact")
    assert (done.status, done.outcome) == ("completed", "deleted")

    # nothing brings the person back: no job is queued for their addresses …
    deliver(
        "billing.day_pass.purchased",
        {
            "purchase_id": "dp_" + uuid.uuid4().hex[:6],
            "email": ann["email"],
            "name": "Ann Lee",
            "phone": None,
            "product_type": "day_pass",
            "price_cents": 5000,
            "quantity": 1,
            "remaining_uses": 1,
            "status": "active",
            "expires_at": None,
            "payment_intent_id": "pi_" + uuid.uuid4().hex[:8],
            "qr_code": "DAYPASS:1",
        },
    )
    assert jobs_for(db, ann["email"], "sync_day_pass") == []
    # … a job queued before the deletion is not sent …
    with db.transaction() as session:
        session.add(
            HubspotSyncQueue(
                entity_type="contact", entity_id=ann["linked_emails"][0], action="update_contact", payload={}
            )
        )
    assert run_queue(hubspot_jobs, clock).completed == 1
    [stale] = jobs_for(db, ann["linked_emails"][0], "update_contact")
    assert stale.outcome == "excluded"
    assert hubspot_fake.contact(ann["linked_emails"][0]) is None
    # … and their old form submissions in HubSpot are not pulled in again (our own forms still are)
    submission = Submission(
        email=ann["email"],
        first_name="Ann",
        last_name="Lee",
        phone=None,
        data={"message": "hello"},
        extra={},
        submitted_at=clock.now,
        hubspot_submission_id=uuid.uuid4().hex,
        requested_tier=None,
    )
    with db.transaction() as session:
        assert (
            forms.store(hubspot_jobs.runtime, session, "contact", submission, clock.now, source="hubspot")
            is None
        )


def test_erasure_clears_what_integrations_kept(deliver, synced_member, hubspot_jobs, clock, db):
    ann = synced_member()
    deal_id = f"deal-{uuid.uuid4().hex[:8]}"
    with db.transaction() as session:
        contact_id = session.get(Member, ann["member_id"]).hubspot_id
        session.add(
            HubspotDeal(
                hubspot_deal_id=deal_id,
                member_email=ann["email"],
                hubspot_contact_id=contact_id,
                deal_name="Ann Lee - Membership",
                last_payment_status="current",
            )
        )
        session.add(
            HubspotWebhookEvent(
                event_id=f"62515:{uuid.uuid4().int % 10**9}",
                subscription_type="contact.propertyChange",
                object_id=contact_id,
                payload={"objectId": contact_id, "propertyName": "phone", "propertyValue": "+1 555 0101"},
            )
        )
        session.add(
            TrackmanImportRow(
                run_id=0,
                line=uuid.uuid4().int % 10**6,
                trackman_booking_id="tm-erase",
                outcome="published",
                data={"customer_email": ann["email"], "customer_name": "Ann Lee", "notes": "M|x", "bay": "2"},
            )
        )
        session.add(
            HubspotSyncQueue(
                entity_type="contact",
                entity_id=ann["email"],
                action="sync_day_pass",
                payload={"first_name": "Ann", "phone": "+1 555 0101"},
                status="completed",
                outcome="sent",
            )
        )
    delete_member(deliver, ann)
    with db.transaction() as session:
        deal = session.scalar(select(HubspotDeal).where(HubspotDeal.hubspot_deal_id == deal_id))
        assert (deal.member_email, deal.deal_name) == (None, None)
        hook = session.scalar(select(HubspotWebhookEvent).where(HubspotWebhookEvent.object_id == contact_id))
        assert "propertyValue" not in hook.payload and hook.payload["propertyName"] == "phone"
        row = session.scalar(
            select(TrackmanImportRow).where(TrackmanImportRow.trackman_booking_id == "tm-erase")
        )
        assert row.data == {"bay": "2"}
    [old] = jobs_for(db, ann["email"], "sync_day_pass")
    assert old.payload == {}


def test_a_deletion_waits_out_429_and_retries_outages(
    deliver, synced_member, hubspot_fake, hubspot_jobs, clock, db, sleeps
):
    ann = synced_member()
    delete_member(deliver, ann)
    hubspot_fake.fail_next(429, times=2, retry_after=3, paths=("/crm/v3/objects/contacts/gdpr-delete",))
    assert run_queue(hubspot_jobs, clock).completed == 1
    assert sleeps == [3.0, 3.0]
    assert hubspot_fake.contact(ann["email"]) is None

    bo = synced_member()
    delete_member(deliver, bo)
    hubspot_fake.fail_next(503, times=3, paths=("/crm/v3/objects/contacts/gdpr-delete",))
    worker = hubspot_jobs.queue_worker()
    clock.set(clock.now + timedelta(minutes=2))
    assert worker.run_once().failed == 1
    [job] = jobs_for(db, bo["email"], "delete_contact")
    assert (job.status, job.retry_count, job.next_retry_at) == ("failed", 1, clock.now + timedelta(minutes=1))
    assert hubspot_fake.contact(bo["email"]) is not None  # the work is kept, not lost
    for wait in (1, 2):
        clock.set(clock.now + timedelta(minutes=wait))
        assert worker.run_once().failed == 1
    clock.set(clock.now + timedelta(minutes=4))
    assert worker.run_once().completed == 1
    assert hubspot_fake.contact(bo["email"]) is None
    assert jobs_for(db, bo["email"], "delete_contact")[0].outcome == "deleted"


def test_a_deletion_refused_for_authentication_is_dead_at_once_with_an_alert(
    deliver, synced_member, hubspot_fake, hubspot_jobs, clock, db, outbox
):
    ann = synced_member()
    delete_member(deliver, ann)
    hubspot_fake.fail_next(401, paths=("/crm/v3/objects/contacts/gdpr-delete",))
    assert run_queue(hubspot_jobs, clock).dead == 1
    [job] = jobs_for(db, ann["email"], "delete_contact")
    assert (job.status, job.retry_count) == ("dead", 0) and "HTTP 401" in job.last_error
    [alert] = outbox("integrations.notification.requested", type="integration_error")
    assert alert["urgent"] is True and "delete_contact" in alert["title"]
    assert hubspot_fake.contact(ann["email"]) is not None


def test_a_contact_already_gone_from_hubspot_is_deleted_all_the_same(
    deliver, synced_member, hubspot_fake, hubspot_jobs, clock, db
):
    ann = synced_member()
    contact_id = hubspot_fake.contact(ann["email"])["id"]
    del hubspot_fake.objects["contacts"][contact_id]  # someone deleted it in HubSpot meanwhile
    delete_member(deliver, ann)
    assert run_queue(hubspot_jobs, clock).completed == 1
    assert jobs_for(db, ann["email"], "delete_contact")[0].outcome == "deleted"
    assert ann["email"] in hubspot_fake.blocklist


# --- tours ------------------------------------------------------------------------------------------


def a_day() -> date:
    return date(2030, 1, 1) + timedelta(days=uuid.uuid4().int % 3000)


def book_tour(client, clock, visitor: str) -> dict:
    day = a_day()
    clock.set(datetime.combine(day - timedelta(days=2), time(9), tzinfo=PT))
    response = client.post(
        "/api/v1/tours",
        json={"name": "Val Visitor", "email": visitor, "date": day.isoformat(), "start_time": "11:00"},
    )
    assert response.status_code == 201, response.get_data(as_text=True)
    return response.get_json()


def test_a_booked_tour_moves_the_tour_request_deal_to_tour_booked(
    client, hubspot_fake, hubspot_jobs, clock, db
):
    visitor = email()
    contact = hubspot_fake.add("contacts", {"email": visitor})
    request = hubspot_fake.add(
        "deals", {"dealname": "Val - tour", "dealstage": TOUR_REQUEST}, contacts=[contact]
    )
    won = hubspot_fake.add(
        "deals", {"dealname": "Val - membership", "dealstage": "closedwon"}, contacts=[contact]
    )
    tour = book_tour(client, clock, visitor)
    [job] = jobs_for(db, visitor, "sync_tour")
    assert (job.idempotency_key, job.priority, job.payload) == (
        rules.tour_booked_key(tour["id"]),
        3,
        {"tour_id": tour["id"]},
    )
    hubspot_fake.fail_next(500, paths=("/crm/v3/objects/deals",))
    assert run_queue(hubspot_jobs, clock).failed == 1  # retried later, not lost
    clock.set(clock.now + timedelta(minutes=1))
    assert run_queue(hubspot_jobs, clock).completed == 1
    assert hubspot_fake.objects["deals"][request]["properties"]["dealstage"] == TOUR_BOOKED
    assert hubspot_fake.objects["deals"][won]["properties"]["dealstage"] == "closedwon"  # never back
    with db.transaction() as session:
        mirrored = session.scalar(select(HubspotDeal).where(HubspotDeal.hubspot_deal_id == request))
        assert (mirrored.stage, mirrored.stage_name, mirrored.member_email) == (
            TOUR_BOOKED,
            "tour_booked",
            visitor,
        )
    assert jobs_for(db, visitor, "sync_tour")[0].outcome == "sent"


def test_a_tour_of_a_visitor_hubspot_does_not_know_changes_nothing_there(
    client, hubspot_fake, hubspot_jobs, clock, db
):
    visitor = email()
    book_tour(client, clock, visitor)
    assert run_queue(hubspot_jobs, clock).completed == 1
    assert jobs_for(db, visitor, "sync_tour")[0].outcome == "skipped"
    assert hubspot_fake.writes() == []


def test_tour_booked_moves_only_tour_requests():
    stages = {"day_pass_tour_request": TOUR_REQUEST, "tour_booked": TOUR_BOOKED, "closed_won": "closedwon"}
    deals = [("1", {"dealstage": TOUR_REQUEST}), ("2", {"dealstage": "closedwon"}), ("3", {})]
    assert rules.tour_booked_deals(deals, stages) == ["1"]
    assert rules.tour_booked_deals(deals, {"day_pass_tour_request": TOUR_REQUEST}) == []


def test_a_pending_tour_request_booked_by_staff_moves_the_deal(client, auth, db, clock):
    """A tour request from a form waits as pending; staff giving it a slot is its booking."""
    from club_integrations.models import Tour

    visitor = email()
    with db.transaction() as session:
        pending = Tour(visitor_name="Val Visitor", visitor_email=visitor, status="pending", source="form")
        session.add(pending)
        session.flush()
        tour_id = pending.id
    day = a_day()
    clock.set(datetime.combine(day - timedelta(days=2), time(9), tzinfo=PT))
    moved = client.patch(
        f"/api/v1/tours/{tour_id}",
        json={"date": day.isoformat(), "start_time": "15:00"},
        headers=auth(),
    )
    assert moved.status_code == 200, moved.get_data(as_text=True)
    [job] = jobs_for(db, visitor, "sync_tour")
    assert job.payload == {"tour_id": tour_id}
    again = client.patch(
        f"/api/v1/tours/{tour_id}",
        json={"date": day.isoformat(), "start_time": "15:30"},
        headers=auth(),
    )
    assert again.status_code == 200
    assert len(jobs_for(db, visitor, "sync_tour")) == 1  # a reschedule is not a second booking


def test_a_tour_meeting_moves_the_deal_and_a_deleted_persons_meeting_stays_out(
    deliver, member, hubspot_fake, hubspot_jobs, clock, db
):
    from club_integrations.models import Tour

    start = datetime(2031, 6, 3, 18, 0, tzinfo=PT) + timedelta(days=uuid.uuid4().int % 300)
    visitor = email()
    contact = hubspot_fake.add("contacts", {"email": visitor, "firstname": "Val"})
    deal = hubspot_fake.add(
        "deals", {"dealname": "Val - tour", "dealstage": TOUR_REQUEST}, contacts=[contact]
    )
    hubspot_fake.add(
        "meetings",
        {"hs_meeting_title": "Club Tour", "hs_meeting_start_time": start.isoformat()},
        contacts=[contact],
    )
    gone = member(email())
    delete_member(deliver, gone)
    left_behind = hubspot_fake.add("contacts", {"email": gone["email"]})
    hubspot_fake.add(
        "meetings",
        {"hs_meeting_title": "Club Tour", "hs_meeting_start_time": (start + timedelta(hours=1)).isoformat()},
        contacts=[left_behind],
    )
    hubspot_jobs.hubspot_meetings(None, {})
    with db.transaction() as session:
        emails = session.scalars(select(Tour.visitor_email).where(Tour.source == "hubspot")).all()
    assert visitor in emails and gone["email"] not in emails
    [job] = jobs_for(db, visitor, "sync_tour")
    assert job.status == "pending"
    run_queue(hubspot_jobs, clock)
    assert hubspot_fake.objects["deals"][deal]["properties"]["dealstage"] == TOUR_BOOKED
