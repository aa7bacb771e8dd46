"""HubSpot → our app (domain.md §8.2–8.3) against the fake HubSpot: signed webhooks stored before the
answer, the form pull and its dedupe, our own forms sent with allow-listed fields, applications and
their invitation, meetings that are tours, engagements."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from club_integrations.models import FormSubmission, HubspotDeal, HubspotFormConfig, HubspotWebhookEvent, Tour

PT = ZoneInfo("America/Los_Angeles")
URL = "http://localhost/api/v1/webhooks/hubspot"


def email() -> str:
    return f"v.{uuid.uuid4().hex[:8]}@example.com"


@pytest.fixture
def hs_client(make_app, hubspot_settings):
    return make_app(**hubspot_settings).test_client()


@pytest.fixture
def clean_forms(db):
    """Forms are configured per type; each test starts with none."""
    from sqlalchemy import delete

    with db.transaction() as session:
        session.execute(delete(HubspotFormConfig))


# --- webhooks -------------------------------------------------------------------------------------


def post_webhook(client, fake, events, **kwargs):
    body, headers = fake.webhook(URL, events, **kwargs)
    return client.post("/api/v1/webhooks/hubspot", data=body, headers=headers)


def test_a_signed_webhook_is_stored_and_applied_before_the_answer(
    hs_client, hubspot_fake, member, db, outbox
):
    ann = member(email())
    with db.transaction() as session:
        from club_integrations.models import Member

        session.get(Member, ann["member_id"]).hubspot_id = "777001"
    event = hubspot_fake.event(
        "contact.propertyChange", 777001, propertyName="phone", propertyValue="+1 555 0123"
    )
    response = post_webhook(hs_client, hubspot_fake, [event])
    assert response.status_code == 200, response.get_data(as_text=True)
    [update] = outbox("integrations.hubspot.contact_updated", email=ann["email"])
    assert update["profile"] == {"phone": "+1 555 0123"} and update["hubspot_id"] == "777001"
    with db.transaction() as session:
        row = session.scalar(
            select(HubspotWebhookEvent).where(HubspotWebhookEvent.event_id == f"62515:{event['eventId']}")
        )
    assert row.outcome == "applied"
    # the same event again (HubSpot retries): stored once, applied once
    assert post_webhook(hs_client, hubspot_fake, [event]).status_code == 200
    assert len(outbox("integrations.hubspot.contact_updated", email=ann["email"])) == 1


def test_status_and_tier_from_hubspot_are_never_applied(hs_client, hubspot_fake, member, db, outbox):
    ann = member(email())
    with db.transaction() as session:
        from club_integrations.models import Member

        session.get(Member, ann["member_id"]).hubspot_id = "777002"
    for prop in ("membership_status", "membership_tier"):
        event = hubspot_fake.event("contact.propertyChange", 777002, propertyName=prop, propertyValue="VIP")
        assert post_webhook(hs_client, hubspot_fake, [event]).status_code == 200
    assert outbox("integrations.hubspot.contact_updated", email=ann["email"]) == []


def test_merged_contacts_become_linked_emails(hs_client, hubspot_fake, member, db, outbox):
    from club_integrations.models import Member

    ann, old = member(email()), member(email())
    with db.transaction() as session:
        session.get(Member, ann["member_id"]).hubspot_id = "880001"
        session.get(Member, old["member_id"]).hubspot_id = "880002"
    event = hubspot_fake.event("contact.merge", 880001, primaryObjectId=880001, mergedObjectIds=[880002])
    assert post_webhook(hs_client, hubspot_fake, [event]).status_code == 200
    [update] = outbox("integrations.hubspot.contact_updated", email=ann["email"])
    assert update["merged_emails"] == [old["email"]]


def test_deal_stage_changes_update_the_mirror(hs_client, hubspot_fake, db):
    deal_id = str(uuid.uuid4().int % 10**9)
    with db.transaction() as session:
        session.add(
            HubspotDeal(
                hubspot_deal_id=deal_id,
                member_email="x@example.com",
                stage="closedwon",
                stage_name="closed_won",
            )
        )
    event = hubspot_fake.event(
        "deal.propertyChange", deal_id, propertyName="dealstage", propertyValue="2825519820"
    )
    assert post_webhook(hs_client, hubspot_fake, [event]).status_code == 200
    with db.transaction() as session:
        deal = session.scalar(select(HubspotDeal).where(HubspotDeal.hubspot_deal_id == deal_id))
    assert (deal.stage, deal.stage_name) == ("2825519820", "payment_declined")


@pytest.mark.parametrize("case", ["wrong_secret", "old", "tampered", "no_headers"])
def test_bad_signatures_are_refused_and_nothing_is_stored(hs_client, hubspot_fake, db, case):
    event = hubspot_fake.event("contact.creation", 1)
    kwargs = {}
    if case == "wrong_secret":
        kwargs["secret"] = "not-the-secret"
    if case == "old":
        kwargs["timestamp_ms"] = int((time.time() - 600) * 1000)
    body, headers = hubspot_fake.webhook(URL, [event], **kwargs)
    if case == "tampered":
        body = body.replace(b'"objectId": 1', b'"objectId": 2')
    if case == "no_headers":
        headers = {"Content-Type": "application/json"}
    response = hs_client.post("/api/v1/webhooks/hubspot", data=body, headers=headers)
    assert response.status_code == 401 and response.get_json()["code"] == "INVALID_SIGNATURE"
    with db.transaction() as session:
        assert (
            session.scalar(
                select(HubspotWebhookEvent).where(HubspotWebhookEvent.event_id == f"62515:{event['eventId']}")
            )
            is None
        )


def test_signed_garbage_is_a_400(hs_client, hubspot_fake):
    timestamp = str(int(time.time() * 1000))
    for body in ("{}", "[1, 2]", "not json"):
        headers = {
            "Content-Type": "application/json",
            "X-HubSpot-Request-Timestamp": timestamp,
            "X-HubSpot-Signature-v3": hubspot_fake.sign("POST", URL, body, timestamp),
        }
        assert hs_client.post("/api/v1/webhooks/hubspot", data=body, headers=headers).status_code == 400


def test_without_a_secret_the_webhook_is_off(client, hubspot_fake):
    response = post_webhook(client, hubspot_fake, [hubspot_fake.event("contact.creation", 1)])
    assert response.status_code == 503


# --- forms ----------------------------------------------------------------------------------------


def test_form_pull_dedupes_and_makes_pending_tours(
    hubspot_fake, hubspot_jobs, clock, db, outbox, clean_forms
):
    now = datetime.now(UTC)
    clock.set(now)
    hubspot_fake.add_form(
        "f-apply", "Membership Application", ["email", "firstname", "lastname", "membership_tier"]
    )
    hubspot_fake.add_form("f-tour", "Book a Tour", ["email", "firstname", "message"])
    hubspot_fake.add_form("f-other", "Newsletter")  # no type in its name: not pulled
    applicant = email()
    hubspot_fake.add_submission(
        "f-apply",
        {
            "email": applicant,
            "firstname": "Ann",
            "lastname": "Lee",
            "membership_tier": "Core",
            "how_heard": "friend",
        },
        submitted_at=now - timedelta(hours=1),
        conversion_id="c-1" + applicant,
    )
    # the same person again 3 minutes later (double submit, another id): one submission
    hubspot_fake.add_submission(
        "f-apply",
        {"email": applicant, "firstname": "Ann", "membership_tier": "Core"},
        submitted_at=now - timedelta(hours=1) + timedelta(minutes=3),
    )
    hubspot_fake.add_submission(
        "f-apply", {"email": email()}, submitted_at=now - timedelta(days=31)
    )  # too old
    visitor = email()
    hubspot_fake.add_submission(
        "f-tour",
        {"email": visitor, "firstname": "Val", "message": "Saturday?"},
        submitted_at=now - timedelta(minutes=10),
    )
    hubspot_jobs.hubspot_forms(None, {})
    with db.transaction() as session:
        apps = session.scalars(select(FormSubmission).where(FormSubmission.email == applicant)).all()
        tours = session.scalars(select(Tour).where(Tour.visitor_email == visitor)).all()
        configs = {c.form_type: c.hubspot_form_id for c in session.scalars(select(HubspotFormConfig))}
    assert [(a.form_type, a.status, a.first_name, a.requested_tier) for a in apps] == [
        ("membership", "new", "Ann", "core")
    ]
    assert apps[0].metadata_["page_url"] == "https://club.example/apply"
    assert [(t.status, t.source, t.visitor_name, t.notes) for t in tours] == [
        ("pending", "form", "Val", "Saturday?")
    ]
    assert configs == {"membership": "f-apply", "tour-request": "f-tour"}
    # a second pull stores nothing new
    hubspot_jobs.hubspot_forms(None, {})
    with db.transaction() as session:
        assert (
            len(session.scalars(select(FormSubmission).where(FormSubmission.email == applicant)).all()) == 1
        )


def test_our_forms_go_to_hubspot_with_allow_listed_fields_only(
    hs_client, hubspot_fake, hubspot_runtime, hubspot_jobs, clock, db, clean_forms
):
    from club_integrations.flows import forms
    from club_integrations.models import JOBS

    hubspot_fake.add_form("f-contact", "Contact us", ["email", "firstname", "message"])
    person = email()
    sent = hs_client.post(
        "/api/v1/forms/contact/submissions",
        json={
            "fields": {
                "email": person,
                "firstname": "Cy",
                "message": "Hello",
                "password": "hunter2",
                "lastname": "Not on the form",
            }
        },
    )
    assert sent.status_code == 201, sent.get_data(as_text=True)
    again = hs_client.post(
        "/api/v1/forms/contact/submissions", json={"fields": {"email": person, "message": "Hello"}}
    )
    assert again.status_code == 409
    assert (
        hs_client.post(
            "/api/v1/forms/contact/submissions", json={"fields": {"message": "no email"}}
        ).status_code
        == 422
    )
    assert (
        hs_client.post("/api/v1/forms/nonsense/submissions", json={"fields": {"email": person}}).status_code
        == 404
    )
    submission_id = sent.get_json()["id"]
    with db.transaction() as session:
        [job] = [
            j
            for j in session.execute(
                select(JOBS.job_queue).where(JOBS.job_queue.c.kind == "hubspot_submit_form")
            )
            if j.payload["submission_id"] == submission_id
        ]
    forms.refresh_configs(hubspot_runtime, hubspot_jobs.hubspot, clock.now)
    hubspot_jobs.hubspot_submit_form(None, job.payload)
    [submitted] = [s for s in hubspot_fake.submitted if s["form"] == "f-contact"]
    assert submitted["portal"] == "62515"
    assert {f["name"]: f["value"] for f in submitted["body"]["fields"]} == {
        "email": person,
        "firstname": "Cy",
        "message": "Hello",
    }


def test_applications_are_reviewed_invited_and_converted(hs_client, auth, db, deliver, outbox, clock):
    applicant = email()
    with db.transaction() as session:
        row = FormSubmission(
            form_type="membership",
            email=applicant,
            first_name="Ann",
            last_name="Lee",
            submitted_at=clock.now,
            requested_tier="core",
            status="new",
            source="hubspot",
        )
        session.add(row)
        session.flush()
        submission_id = row.id
    url = f"/api/v1/forms/submissions/{submission_id}"
    assert hs_client.get(url, headers=auth()).get_json()["status"] == "read"  # opened by staff
    assert hs_client.post(f"{url}/invite", json={}, headers=auth()).status_code == 409  # not approved yet
    assert (
        hs_client.post(f"{url}/status", json={"status": "reviewing"}, headers=auth()).get_json()["status"]
        == "reviewing"
    )
    assert hs_client.post(f"{url}/status", json={"status": "approved"}, headers=auth()).status_code == 200
    assert hs_client.post(f"{url}/status", json={"status": "invited"}, headers=auth()).status_code == 422
    invited = hs_client.post(f"{url}/invite", json={"tier": "premium"}, headers=auth("desk@club.example"))
    assert invited.status_code == 200 and invited.get_json()["status"] == "invited"
    [event] = outbox("integrations.application.invited", email=applicant)
    assert event == {
        "submission_id": submission_id,
        "email": applicant,
        "first_name": "Ann",
        "last_name": "Lee",
        "phone": None,
        "tier": "premium",
        "invited_by": "desk@club.example",
    }
    assert hs_client.post(f"{url}/invite", json={}, headers=auth()).status_code == 200  # again: nothing new
    assert len(outbox("integrations.application.invited", email=applicant)) == 1
    # membership activates the invited member → converted
    member_id = uuid.uuid4().hex
    deliver(
        "membership.member.created",
        {
            "member_id": member_id,
            "email": applicant,
            "first_name": "Ann",
            "last_name": "Lee",
            "tier": "premium",
            "status": "pending",
        },
    )
    deliver(
        "membership.member.status_changed",
        {
            "member_id": member_id,
            "email": applicant,
            "status": "active",
            "old_status": "pending",
            "new_status": "active",
        },
    )
    assert hs_client.get(url, headers=auth()).get_json()["status"] == "converted"


def test_other_forms_are_read_then_archived(hs_client, auth, db, clock):
    with db.transaction() as session:
        row = FormSubmission(
            form_type="contact", email=email(), submitted_at=clock.now, status="new", source="local"
        )
        session.add(row)
        session.flush()
        url = f"/api/v1/forms/submissions/{row.id}"
    assert hs_client.post(f"{url}/status", json={"status": "approved"}, headers=auth()).status_code == 409
    assert (
        hs_client.post(f"{url}/status", json={"status": "archived"}, headers=auth()).get_json()["status"]
        == "archived"
    )
    listed = hs_client.get(
        "/api/v1/forms/submissions?form_type=contact&status=archived&limit=500", headers=auth()
    )
    assert row.id in [s["id"] for s in listed.get_json()]


# --- meetings → tours -----------------------------------------------------------------------------


def test_tour_meetings_become_tours_matched_or_dismissed(
    hubspot_fake, hubspot_jobs, hs_client, auth, db, clock
):
    start = datetime(2031, 5, 6, 18, 0, tzinfo=UTC)  # 11:00 PDT
    visitor, booked_here = email(), email()
    contact = hubspot_fake.add("contacts", {"email": visitor, "firstname": "Val", "lastname": "V"})
    other = hubspot_fake.add("contacts", {"email": booked_here})
    created = hubspot_fake.add(
        "meetings",
        {
            "hs_meeting_title": "Club Tour",
            "hs_meeting_start_time": start.isoformat(),
            "hs_meeting_end_time": (start + timedelta(minutes=30)).isoformat(),
        },
        contacts=[contact],
    )
    hubspot_fake.add(
        "meetings",
        {"hs_meeting_title": "Budget review", "hs_meeting_start_time": start.isoformat()},
        contacts=[contact],
    )
    # a tour booked on our site 10 minutes off, for the same e-mail: matched, not duplicated
    with db.transaction() as session:
        session.add(
            Tour(
                visitor_name="Here",
                visitor_email=booked_here,
                status="scheduled",
                source="public",
                scheduled_at=start + timedelta(hours=2, minutes=10),
                ends_at=start + timedelta(hours=2, minutes=40),
            )
        )
    matched = hubspot_fake.add(
        "meetings",
        {
            "hs_meeting_title": "Call",
            "hs_meeting_location": "Tour of the club",
            "hs_meeting_start_time": (start + timedelta(hours=2)).isoformat(),
        },
        contacts=[other],
    )
    dismissed = hubspot_fake.add(
        "meetings", {"hs_meeting_title": "Tour", "hs_meeting_start_time": start.isoformat()}
    )
    assert (
        hs_client.post(
            f"/api/v1/hubspot/meetings/{dismissed}/dismiss", json={"reason": "test"}, headers=auth()
        ).status_code
        == 200
    )
    hubspot_jobs.hubspot_meetings(None, {})
    hubspot_jobs.hubspot_meetings(None, {})  # twice: nothing doubles
    with db.transaction() as session:
        made = session.scalars(select(Tour).where(Tour.hubspot_meeting_id == created)).all()
        linked = session.scalars(select(Tour).where(Tour.visitor_email == booked_here)).all()
        hidden = session.scalars(select(Tour).where(Tour.hubspot_meeting_id == dismissed)).all()
    assert [
        (t.status, t.source, t.visitor_name, str(t.tour_date), t.start_time.isoformat("minutes"))
        for t in made
    ] == [("scheduled", "hubspot", "Val V", "2031-05-06", "11:00")]
    assert [(t.hubspot_meeting_id, t.source) for t in linked] == [(matched, "public")]
    assert hidden == []


# --- engagements ----------------------------------------------------------------------------------


def test_engagements_of_members_are_published_once_each(hubspot_fake, hubspot_jobs, member, db, outbox):
    from sqlalchemy import delete

    from club_integrations.models import HubspotPullState

    with db.transaction() as session:
        session.execute(delete(HubspotPullState).where(HubspotPullState.name == "engagements"))
    ann = member(email())
    contact = hubspot_fake.add("contacts", {"email": ann["email"]})
    stranger = hubspot_fake.add("contacts", {"email": email()})
    call = hubspot_fake.add(
        "calls",
        {
            "hs_call_title": "Renewal",
            "hs_call_body": "Talked about VIP",
            "hs_call_direction": "INBOUND",
            "hs_call_status": "COMPLETED",
            "hs_timestamp": "2026-09-01T17:00:00Z",
        },
        contacts=[contact],
    )
    hubspot_fake.add("notes", {"hs_note_body": "Not ours"}, contacts=[stranger])
    hubspot_jobs.hubspot_engagements(None, {})
    published = outbox("integrations.hubspot.engagement_received")
    assert [
        (e["engagement_id"], e["type"], e["direction"], e["subject"], e["member_email"]) for e in published
    ] == [(f"calls:{call}", "call", "inbound", "Renewal", ann["email"])]
    assert published[0]["occurred_at"] == "2026-09-01T17:00:00+00:00"
    hubspot_jobs.hubspot_engagements(None, {})  # nothing changed since: nothing again
    assert len(outbox("integrations.hubspot.engagement_received")) == 1


def test_webhook_body_is_json_array(hubspot_fake):
    body, headers = hubspot_fake.webhook(URL, [hubspot_fake.event("contact.creation", 5)])
    assert isinstance(json.loads(body), list) and headers["X-HubSpot-Signature-v3"]
