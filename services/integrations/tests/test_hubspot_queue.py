"""The HubSpot queue against the fake HubSpot (domain.md §8.1, acceptance example 21): priorities,
keys, supersession, back-off with jitter, dead jobs and staff alerts, 401/403, 429 and Retry-After,
stale jobs, outages the queue catches up on, the shared rate limit, writes blocked outside
production."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from club_integrations.domain import hubspot as rules
from club_integrations.flows.hubspot_queue import enqueue
from club_integrations.models import HubspotSyncQueue

PT = ZoneInfo("America/Los_Angeles")
pytestmark = pytest.mark.usefixtures("empty_queue")


def job(db, job_id: int) -> HubspotSyncQueue:
    with db.transaction() as session:
        return session.get(HubspotSyncQueue, job_id)


def add(
    db, action: str, email: str, *, key: str | None = None, now: datetime | None = None, **payload
) -> int | None:
    with db.transaction() as session:
        return enqueue(session, action, email, payload, key=key, now=now)


def email() -> str:
    return f"ann.{uuid.uuid4().hex[:8]}@example.com"


def test_a_new_member_becomes_a_hubspot_contact_once(deliver, hubspot_jobs, hubspot_fake, clock, db):
    address = email()
    data = {
        "member_id": uuid.uuid4().hex,
        "email": address,
        "first_name": "Ann",
        "last_name": "Lee",
        "tier": "premium-founding",
        "status": "active",
        "phone": "+1 555 0101",
        "billing_provider": "stripe",
        "stripe_customer_id": "cus_123",
        "sms_opt_in": True,
        "created_at": "2026-01-15T18:00:00+00:00",
    }
    deliver("membership.member.created", data)  # twice: one job
    with db.transaction() as session:
        jobs = session.scalars(select(HubspotSyncQueue).where(HubspotSyncQueue.entity_id == address)).all()
    assert [(j.action, j.idempotency_key, j.priority) for j in jobs] == [
        ("create_contact", f"member_creation_{address}", 5)
    ]
    clock.set(clock.now + timedelta(seconds=5))
    report = hubspot_jobs.queue_worker().run_once()
    assert (report.claimed, report.completed) == (1, 1)
    contact = hubspot_fake.contact(address)["properties"]
    assert contact["membership_tier"] == "Premium Membership Founding Members"
    assert contact["membership_status"] == "Active"
    assert contact["lifecyclestage"] == "customer"
    assert (contact["firstname"], contact["lastname"], contact["phone"]) == ("Ann", "Lee", "+1 555 0101")
    assert contact["billing_provider"] == "stripe" and contact["stripe_customer_id"] == "cus_123"
    assert contact["membership_start_date"] == "2026-01-15" and contact["hs_sms_opt_in"] == "true"
    done = job(db, jobs[0].id)
    assert (done.status, done.outcome) == ("completed", "sent")

    # a status change: Terminated, no longer a customer; the contact is updated, not duplicated
    deliver(
        "membership.member.status_changed",
        {**data, "old_status": "active", "new_status": "terminated", "status": "terminated"},
    )
    clock.set(clock.now + timedelta(seconds=5))
    hubspot_jobs.queue_worker().run_once()
    contacts = [c for c in hubspot_fake.objects["contacts"].values() if c["properties"]["email"] == address]
    assert len(contacts) == 1
    assert contacts[0]["properties"]["membership_status"] == "Terminated"
    assert contacts[0]["properties"]["lifecyclestage"] == "other"


@pytest.mark.parametrize(
    ("status", "label"),
    [
        ("active", "Active"),
        ("cancelled", "Terminated"),
        ("terminated", "Terminated"),
        ("frozen", "Froze"),
        ("suspended", "Suspended"),
        ("inactive", "Suspended"),
        ("pending", "Pending"),
        ("non-member", "Non-Member"),
    ],
)
def test_status_labels(status, label):
    assert rules.status_label(status) == label


def test_tier_labels_come_from_settings(deliver):
    labels = {"core": "Core Membership", "vip": "VIP Membership"}
    assert rules.tier_label("core", labels) == "Core Membership"
    assert rules.tier_label("vip", labels) == "VIP Membership"
    assert rules.tier_label(None, labels) is None


def test_example_21_back_off_then_dead_with_an_alert(hubspot_jobs, hubspot_fake, clock, db, outbox, member):
    ann = member(email())
    clock.set(datetime(2026, 9, 1, 10, 0, tzinfo=PT))
    key = rules.tier_sync_key(ann["email"], "core", "premium")
    job_id = add(db, "sync_tier", ann["email"], key=key, now=clock.now)
    hubspot_fake.fail_next(500, times=100)
    worker = hubspot_jobs.queue_worker()

    expected = [
        (datetime(2026, 9, 1, 10, 0, tzinfo=PT), datetime(2026, 9, 1, 10, 1, tzinfo=PT)),
        (datetime(2026, 9, 1, 10, 1, tzinfo=PT), datetime(2026, 9, 1, 10, 3, tzinfo=PT)),
        (datetime(2026, 9, 1, 10, 3, tzinfo=PT), datetime(2026, 9, 1, 10, 7, tzinfo=PT)),
        (datetime(2026, 9, 1, 10, 7, tzinfo=PT), datetime(2026, 9, 1, 10, 15, tzinfo=PT)),
        (datetime(2026, 9, 1, 10, 15, tzinfo=PT), datetime(2026, 9, 1, 10, 31, tzinfo=PT)),
    ]
    for n, (at, next_try) in enumerate(expected, start=1):
        clock.set(at)
        assert worker.run_once().failed == 1
        row = job(db, job_id)
        assert (row.status, row.retry_count) == ("failed", n)
        assert row.next_retry_at == next_try
        assert "HTTP 500" in row.last_error
        # not due before its time
        clock.set(next_try - timedelta(seconds=1))
        assert worker.run_once().claimed == 0
    clock.set(datetime(2026, 9, 1, 10, 31, tzinfo=PT))
    assert worker.run_once().dead == 1
    row = job(db, job_id)
    assert (row.status, row.outcome) == ("dead", "gave_up")
    [alert] = outbox("integrations.notification.requested", type="integration_error")
    assert alert["audience"] == "staff" and ann["email"] in alert["title"]


def test_jitter_adds_up_to_ten_percent(hubspot_runtime, hubspot_fake, clock, db, member, sleeps):
    from club_integrations.jobs import Jobs

    ann = member(email())
    clock.set(datetime(2026, 9, 2, 10, 0, tzinfo=PT))
    job_id = add(db, "update_contact", ann["email"], now=clock.now)
    hubspot_fake.fail_next(503, times=1)
    Jobs(hubspot_runtime, clock, sleep=sleeps, jitter=lambda: 0.1).queue_worker().run_once()
    assert job(db, job_id).next_retry_at == datetime(2026, 9, 2, 10, 1, 6, tzinfo=PT)
    for _ in range(200):
        wait = rules.backoff(3)
        assert timedelta(minutes=4) <= wait <= timedelta(minutes=4.4)
    assert rules.backoff(8, 0.0) == timedelta(hours=1)  # capped


@pytest.mark.parametrize(
    ("status", "body"),
    [(401, None), (403, None), (400, {"message": "MISSING_SCOPES: crm.objects.contacts.write"})],
)
def test_401_403_or_a_missing_scope_is_dead_at_once(
    hubspot_jobs, hubspot_fake, clock, db, outbox, member, status, body
):
    ann = member(email())
    job_id = add(db, "update_contact", ann["email"], now=clock.now)
    hubspot_fake.fail_next(status, times=1, body=body)
    assert hubspot_jobs.queue_worker().run_once().dead == 1
    row = job(db, job_id)
    assert row.status == "dead" and row.retry_count == 0
    [alert] = outbox("integrations.notification.requested", type="integration_error")
    assert alert["urgent"] is True


def test_a_wrong_token_is_dead_at_once(hubspot_runtime, hubspot_fake, clock, db, member, sleeps):
    from dataclasses import replace

    from club_integrations.app import make_runtime
    from club_integrations.jobs import Jobs

    rt = make_runtime(replace(hubspot_runtime.settings, hubspot_access_token="pat-wrong"))
    rt.__dict__["db"] = db
    ann = member(email())
    job_id = add(db, "update_contact", ann["email"], now=clock.now)
    Jobs(rt, clock, sleep=sleeps).queue_worker().run_once()
    assert job(db, job_id).status == "dead"
    assert "INVALID_AUTHENTICATION" in job(db, job_id).last_error


def test_same_key_skipped_and_newer_tier_sync_supersedes(hubspot_jobs, hubspot_fake, clock, db, member):
    ann = member(email())
    first = add(
        db, "sync_tier", ann["email"], key=rules.tier_sync_key(ann["email"], "core", "premium"), now=clock.now
    )
    assert first is not None
    assert (
        add(db, "sync_tier", ann["email"], key=rules.tier_sync_key(ann["email"], "core", "premium")) is None
    )
    second = add(
        db, "sync_tier", ann["email"], key=rules.tier_sync_key(ann["email"], "premium", "vip"), now=clock.now
    )
    row = job(db, first)
    assert (row.status, row.outcome) == ("completed", "superseded")
    report = hubspot_jobs.queue_worker().run_once()
    assert report.claimed == 1 and job(db, second).status == "completed"
    writes = [c for c in hubspot_fake.writes() if "/contacts" in c.path]
    assert len(writes) == 1  # the superseded job was never sent
    # a finished key can be queued again
    assert (
        add(db, "sync_tier", ann["email"], key=rules.tier_sync_key(ann["email"], "core", "premium"))
        is not None
    )


def test_priority_then_age(hubspot_jobs, hubspot_fake, clock, db, member):
    people = [member(email()) for _ in range(3)]
    start = clock.now
    update = add(db, "update_contact", people[0]["email"], now=start)
    payment = add(
        db, "sync_payment", people[1]["email"], now=start + timedelta(seconds=1), status="succeeded"
    )
    tier = add(db, "sync_tier", people[2]["email"], now=start + timedelta(seconds=2))
    clock.set(start + timedelta(seconds=3))
    claimed = hubspot_jobs.queue_worker().claim(clock.now)
    assert claimed == [tier, payment, update]


def test_a_job_stuck_in_processing_goes_back_after_10_minutes(hubspot_jobs, clock, db, member):
    ann = member(email())
    clock.set(datetime(2026, 9, 3, 10, 0, tzinfo=PT))
    job_id = add(db, "update_contact", ann["email"], now=clock.now)
    worker = hubspot_jobs.queue_worker()
    assert worker.claim(clock.now) == [job_id]  # the worker that claimed it died
    clock.set(datetime(2026, 9, 3, 10, 8, tzinfo=PT))
    assert worker.requeue_stale(clock.now) == 0
    clock.set(datetime(2026, 9, 3, 10, 12, tzinfo=PT))
    report = worker.run_once()
    assert report.requeued == 1 and report.claimed == 0
    row = job(db, job_id)
    assert row.status == "pending" and row.next_retry_at == datetime(2026, 9, 3, 10, 17, tzinfo=PT)
    clock.set(datetime(2026, 9, 3, 10, 17, tzinfo=PT))
    assert worker.run_once().completed == 1


def test_429_is_retried_within_the_job_honouring_retry_after(
    hubspot_jobs, hubspot_fake, clock, db, member, sleeps
):
    ann = member(email())
    job_id = add(db, "update_contact", ann["email"], now=clock.now)
    hubspot_fake.fail_next(429, times=2, retry_after=2)
    assert hubspot_jobs.queue_worker().run_once().completed == 1
    assert sleeps == [2.0, 2.0]
    assert job(db, job_id).status == "completed"


def test_429_five_times_fails_the_job_and_waits_at_least_retry_after(
    hubspot_jobs, hubspot_fake, clock, db, member, sleeps
):
    ann = member(email())
    job_id = add(db, "update_contact", ann["email"], now=clock.now)
    hubspot_fake.fail_next(429, times=5, retry_after=600)
    assert hubspot_jobs.queue_worker().run_once().failed == 1
    assert sleeps == [30.0] * 4  # 1–30 s between tries
    row = job(db, job_id)
    assert row.status == "failed" and row.next_retry_at >= clock.now + timedelta(seconds=600)


def test_an_outage_keeps_the_work_and_catches_up(hubspot_jobs, hubspot_fake, clock, db, member):
    people = [member(email()) for _ in range(4)]
    ids = [add(db, "update_contact", p["email"], now=clock.now) for p in people]
    hubspot_fake.fail_next(502, times=1000)
    assert hubspot_jobs.queue_worker().run_once().failed == 4
    assert {job(db, i).status for i in ids} == {"failed"}
    hubspot_fake.clear_failures()
    clock.set(clock.now + timedelta(minutes=2))
    assert hubspot_jobs.queue_worker().run_once().completed == 4
    assert all(hubspot_fake.contact(p["email"]) for p in people)


def test_writes_are_blocked_outside_production(hubspot_runtime, hubspot_fake, clock, db, member, sleeps):
    from dataclasses import replace

    from club_integrations.app import make_runtime
    from club_integrations.jobs import Jobs

    rt = make_runtime(replace(hubspot_runtime.settings, hubspot_writes=None))  # env is test
    rt.__dict__["db"] = db
    ann = member(email())
    job_id = add(db, "update_contact", ann["email"], now=clock.now)
    Jobs(rt, clock, sleep=sleeps).queue_worker().run_once()
    row = job(db, job_id)
    assert (row.status, row.outcome) == ("completed", "blocked")
    assert hubspot_fake.calls == []


def test_the_queue_runs_from_the_schedule_every_2_minutes(
    hubspot_runtime, hubspot_fake, clock, db, member, sleeps
):
    from club_integrations.jobs import make_jobs

    ann = member(email())
    job_id = add(db, "update_contact", ann["email"], now=clock.now)
    runner = make_jobs(hubspot_runtime, clock, sleep=sleeps)
    assert "hubspot_queue" in runner.fire_due(clock.now)
    while runner.run_due():
        pass
    assert job(db, job_id).status == "completed"


def test_without_a_token_hubspot_is_off(client, auth, runtime, clock, db, member, sleeps):
    from club_integrations.jobs import Jobs

    assert (
        client.post(
            "/api/v1/hubspot/queue",
            json={"action": "update_contact", "email": "a@example.com"},
            headers=auth(),
        ).get_json()["code"]
        == "HUBSPOT_DISABLED"
    )
    assert client.post("/api/v1/hubspot/pulls/members", headers=auth()).status_code == 503
    status = client.get("/api/v1/hubspot/status", headers=auth()).get_json()
    assert status["enabled"] is False
    ann = member(email())
    job_id = add(db, "update_contact", ann["email"], now=clock.now)
    jobs = Jobs(runtime, clock, sleep=sleeps)
    assert jobs.queue_worker() is None
    jobs.hubspot_queue(None, {})
    assert job(db, job_id).status == "pending"  # kept for when HubSpot is configured


def test_staff_queue_and_retry_dead_jobs(
    make_app, hubspot_settings, hubspot_jobs, hubspot_fake, auth, clock, db, member
):
    client = make_app(**hubspot_settings).test_client()
    ann = member(email())
    queued = client.post(
        "/api/v1/hubspot/queue", json={"action": "update_contact", "email": ann["email"]}, headers=auth()
    )
    assert queued.status_code == 201
    again = client.post(
        "/api/v1/hubspot/queue", json={"action": "update_contact", "email": ann["email"]}, headers=auth()
    )
    assert again.status_code == 200 and again.get_json()["status"] == "skipped"
    hubspot_fake.fail_next(401)
    hubspot_jobs.queue_worker().run_once()
    job_id = queued.get_json()["id"]
    assert job(db, job_id).status == "dead"
    listed = client.get("/api/v1/hubspot/queue?status=dead", headers=auth()).get_json()
    assert job_id in [j["id"] for j in listed]
    retried = client.post(f"/api/v1/hubspot/queue/{job_id}/retry", headers=auth())
    assert retried.status_code == 200 and retried.get_json()["status"] == "pending"
    assert client.post(f"/api/v1/hubspot/queue/{job_id}/retry", headers=auth()).status_code == 409
    hubspot_jobs.queue_worker().run_once()
    assert job(db, job_id).status == "completed"
    assert client.get("/api/v1/hubspot/status", headers=auth()).get_json()["enabled"] is True


# --- the rate limit ---------------------------------------------------------------------------------


def test_the_bucket_never_lets_more_than_190_through_in_10_seconds():
    start = datetime(2026, 1, 1, tzinfo=PT)
    tokens, refilled = 50.0, start
    sent: list[float] = []
    t = 0.0
    while t < 60:
        now = start + timedelta(seconds=t)
        tokens, wait = rules.take_token(tokens, refilled, now, 100)
        refilled = now
        if wait == 0:
            sent.append(t)
        else:
            t += wait
            continue
    for i, first in enumerate(sent):
        in_window = [s for s in sent[i:] if s < first + 10]
        assert len(in_window) <= 150 < 190
    assert len(sent) >= 600  # and it still sends ~10 a second


def test_the_shared_bucket_makes_callers_wait(db, sleeps):
    from club_integrations.outside.hubspot import HubspotRateLimiter

    limiter = HubspotRateLimiter(db, per_10s=4, sleep=sleeps, name=f"test-{uuid.uuid4().hex[:6]}")
    assert [limiter.take() for _ in range(2)] == [0.0, 0.0]  # capacity 2
    assert limiter.take() > 0
    other_replica = HubspotRateLimiter(db, per_10s=4, sleep=sleeps, name=limiter.name)
    assert other_replica.take() > 0  # the bucket is shared through the database
