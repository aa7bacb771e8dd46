"""Membership's scheduled jobs: session purge, abandoned sign-ups, onboarding nudges, tier
reconciliation, integrity checks, and the scheduler that fires each once per period."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import update

from club_membership import jobs
from club_membership.models import JOBS, RefreshSession, User
from club_shared.clubtime import utcnow


def _age(db, member_id: str, hours: float) -> None:
    with db() as session:
        session.execute(
            update(User).where(User.id == member_id).values(created_at=utcnow() - timedelta(hours=hours))
        )


def test_expired_sessions_are_purged(runtime, make_member, db):
    ann = make_member()
    now = utcnow()
    with db() as session:
        for sid, expire in (
            ("old-" + ann.id, now - timedelta(minutes=1)),
            ("live-" + ann.id, now + timedelta(days=1)),
        ):
            session.add(
                RefreshSession(
                    sid=sid, sess={}, expire=expire, subject_email=ann.email, role="member", created_at=now
                )
            )
    with db() as session:
        jobs.purge_sessions(session, runtime, now)
    with db() as session:
        assert session.get(RefreshSession, "old-" + ann.id) is None
        assert session.get(RefreshSession, "live-" + ann.id) is not None


def test_abandoned_signups_are_listed_then_removed(runtime, make_member, db, outbox, user_row, client, staff):
    listed, removed, fresh = (make_member(status="pending", tier=None) for _ in range(3))
    primary = make_member()
    family = make_member(status="pending", tier=None)
    group = client.post(
        "/api/v1/billing-groups",
        headers=staff.headers,
        json={"primary_member_id": primary.id, "type": "family"},
    ).get_json()
    client.post(
        f"/api/v1/billing-groups/{group['id']}/members", headers=staff.headers, json={"email": family.email}
    )
    _age(db, listed.id, 30)
    _age(db, removed.id, 50)
    _age(db, family.id, 50)
    with db() as session:
        result = jobs.pending_signups(session, runtime, utcnow())
    assert listed.email in result["listed"] and removed.email in result["removed"]
    assert fresh.email not in result["listed"] + result["removed"]
    assert (
        user_row(removed.id) is None and user_row(listed.id) is not None and user_row(family.id) is not None
    )
    assert outbox("membership.member.deleted", member_id=removed.id)[0]["email"] == removed.email


def test_onboarding_nudges_at_24h_72h_and_7_days_at_most_three(runtime, make_member, db, outbox, user_row):
    ann = make_member(status="active")
    _age(db, ann.id, 25)
    now = utcnow()
    with db() as session:
        assert ann.email in jobs.onboarding_nudges(session, runtime, now)
    with db() as session:
        assert ann.email not in jobs.onboarding_nudges(session, runtime, now)  # the next one is at 72 h
    [nudge] = outbox("membership.notification.requested", email=ann.email, type="onboarding_nudge")
    assert "sign the liability waiver" in nudge["message"] and "phone" in nudge["message"]
    for hours in (73, 24 * 7 + 1, 24 * 30):
        _age(db, ann.id, hours)
        with db() as session:
            jobs.onboarding_nudges(session, runtime, utcnow())
    assert user_row(ann.id).nudge_count == 3
    assert len(outbox("membership.notification.requested", email=ann.email, type="onboarding_nudge")) == 3


def test_a_member_who_finished_the_checklist_is_not_nudged(runtime, make_member, db, client):
    ann = make_member(status="active", phone="555-0100")
    version = client.get("/api/v1/content/waiver").get_json()["version"]
    client.post("/api/v1/me/waiver", headers=ann.headers, json={"version": version})
    client.patch("/api/v1/me", headers=ann.headers, json={"app_installed": True})
    with db() as session:
        session.execute(update(User).where(User.id == ann.id).values(first_booking_at=utcnow()))
    _age(db, ann.id, 25)
    with db() as session:
        assert ann.email not in jobs.onboarding_nudges(session, runtime, utcnow())


def test_tier_reconciliation_makes_the_slug_follow_the_id(runtime, make_member, db, user_row):
    ann = make_member(tier="core")
    with db() as session:
        session.execute(update(User).where(User.id == ann.id).values(tier="vip"))
    with db() as session:
        assert jobs.tier_reconciliation(session, utcnow()) >= 1
    assert user_row(ann.id).tier == "core"


def test_integrity_checks_are_published(runtime, make_member, db, outbox):
    ann = make_member(status="active")  # has not signed the waiver
    with db() as session:
        jobs.integrity(session, runtime, utcnow())
    checked = outbox("membership.integrity.checked")[-1]
    names = {c["name"]: c for c in checked["checks"]}
    assert set(names) == {
        "Duplicate Members",
        "Members Without Email",
        "Billing Provider Hybrid State",
        "Stuck Transitional Members",
        "Tier Reconciliation",
        "Archived Member Lingering Data",
        "Active Members Without Waivers",
    }
    assert ann.id in [i["record_id"] for i in names["Active Members Without Waivers"]["issues"]]
    assert all(c["status"] != "error" for c in checked["checks"])


def test_each_schedule_fires_once_per_period_across_replicas(runtime, service_runtime, db):
    ten_past_ten = datetime(2031, 3, 4, 18, 10, tzinfo=UTC)  # 10:10 club time (PST)
    started = utcnow()
    first, second = jobs.make_jobs(runtime), jobs.make_jobs(service_runtime("membership"))
    try:
        fired = first.fire_due(ten_past_ten) + second.fire_due(ten_past_ten)
        assert fired.count("membership.onboarding_nudges") == 1
        assert fired.count("membership.purge_sessions") == 1 and fired.count("membership.integrity") == 1
        assert first.fire_due(ten_past_ten + timedelta(minutes=1)) == []
    finally:
        with db() as session:  # this test's far-future periods go, so other runs are not affected
            session.execute(JOBS.job_queue.delete().where(JOBS.job_queue.c.created_at >= started))
            session.execute(
                JOBS.scheduler_claims.delete().where(JOBS.scheduler_claims.c.claimed_at >= started)
            )
