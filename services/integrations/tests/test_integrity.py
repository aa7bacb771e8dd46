"""Integrity (domain.md §11): every service's runs recorded, issues tracked across runs (first/last
seen, resolved when gone, back when found again), ignores with expiry, staff resolve/ignore/reopen
audited; integrations' own checks, nightly at 00:00 club time and on demand."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from club_integrations.models import (
    HubspotDeal,
    HubspotSyncQueue,
    IntegrityCheckHistory,
    IntegrityIssue,
    Member,
    Tour,
    TrackmanUnmatchedBooking,
)

PT = ZoneInfo("America/Los_Angeles")


def run(run_id: str, checked_at: datetime, checks: list[dict]) -> dict:
    return {"run_id": run_id, "checked_at": checked_at.isoformat(), "trigger": "scheduled", "checks": checks}


def check(
    name: str, issues: list[tuple[str, str]], *, severity="high", category="booking_issue", status=None
) -> dict:
    return {
        "name": name,
        "category": category,
        "severity": severity,
        "status": status or ("issues" if issues else "ok"),
        "issues": [{"table": t, "record_id": r, "description": f"{name}: {t} {r}"} for t, r in issues],
    }


def issue(db, key: str) -> IntegrityIssue | None:
    with db.transaction() as session:
        return session.scalar(select(IntegrityIssue).where(IntegrityIssue.issue_key == key))


def test_another_services_runs_are_recorded_and_issues_tracked(deliver, db, outbox):
    a, b, c = (str(uuid.uuid4().int % 10**8) for _ in range(3))
    t1 = datetime(2026, 10, 1, 7, 0, tzinfo=PT)
    first = run(
        uuid.uuid4().hex,
        t1,
        [
            check("Sessions Without Participants", [("booking_sessions", a), ("booking_sessions", b)]),
            check("Overlapping Bookings", [("booking_requests", c)], severity="critical"),
        ],
    )
    deliver("booking.integrity.checked", first)  # twice: recorded once
    with db.transaction() as session:
        history = session.scalars(
            select(IntegrityCheckHistory).where(IntegrityCheckHistory.run_id == first["run_id"])
        ).all()
    assert [(h.service, h.issues_found, h.new_issues) for h in history] == [("booking", 3, 3)]
    opened = issue(db, f"booking_sessions_{a}")
    assert (opened.status, opened.source_service, opened.severity, opened.category) == (
        "open",
        "booking",
        "high",
        "booking_issue",
    )
    assert opened.first_detected_at == t1 == opened.last_seen_at
    [alert] = [x for x in outbox("integrations.notification.requested") if "booking has 3 new" in x["title"]]
    assert "Overlapping Bookings: 1 (critical)" in alert["message"]

    # the next night: a is still there, b is gone, the overlap check could not run
    t2 = t1 + timedelta(days=1)
    deliver(
        "booking.integrity.checked",
        run(
            uuid.uuid4().hex,
            t2,
            [
                check("Sessions Without Participants", [("booking_sessions", a)]),
                check("Overlapping Bookings", [], status="error"),
            ],
        ),
    )
    still, gone, untouched = (
        issue(db, f"booking_sessions_{a}"),
        issue(db, f"booking_sessions_{b}"),
        issue(db, f"booking_requests_{c}"),
    )
    assert (still.status, still.first_detected_at, still.last_seen_at, still.times_seen) == (
        "open",
        t1,
        t2,
        2,
    )
    assert (gone.status, gone.resolved_by) == ("resolved", "system")
    assert untouched.status == "open"  # its check errored: left as it was

    # b is back on the third night
    deliver(
        "booking.integrity.checked",
        run(
            uuid.uuid4().hex,
            t2 + timedelta(days=1),
            [
                check("Sessions Without Participants", [("booking_sessions", a), ("booking_sessions", b)]),
            ],
        ),
    )
    assert issue(db, f"booking_sessions_{b}").status == "open"


def test_staff_ignore_resolve_and_reopen(deliver, client, auth, db, clock, outbox):
    key_id = str(uuid.uuid4().int % 10**8)
    deliver(
        "billing.integrity.checked",
        run(
            uuid.uuid4().hex,
            clock.now,
            [
                check(
                    "Orphaned Payment Intents", [("stripe_payment_intents", key_id)], category="billing_issue"
                ),
            ],
        ),
    )
    found = issue(db, f"stripe_payment_intents_{key_id}")
    url = f"/api/v1/integrity/issues/{found.id}"
    listed = client.get("/api/v1/integrity/issues?service=billing&limit=500", headers=auth()).get_json()
    assert found.id in [i["id"] for i in listed]

    assert (
        client.post(f"{url}/ignore", json={"duration": "2d", "reason": "x"}, headers=auth()).status_code
        == 422
    )
    assert client.post(f"{url}/ignore", json={"duration": "24h"}, headers=auth()).status_code == 422
    ignored = client.post(
        f"{url}/ignore",
        json={"duration": "24h", "reason": "Stripe support ticket"},
        headers=auth("lead@club.example"),
    )
    assert ignored.status_code == 200
    assert ignored.get_json()["ignored_until"] == (clock.now + timedelta(hours=24)).isoformat()
    hidden = client.get("/api/v1/integrity/issues?service=billing&limit=500", headers=auth()).get_json()
    assert found.id not in [i["id"] for i in hidden]
    shown = client.get(
        "/api/v1/integrity/issues?service=billing&include_ignored=true&limit=500", headers=auth()
    )
    assert found.id in [i["id"] for i in shown.get_json()]
    clock.set(clock.now + timedelta(hours=25))  # the ignore expired
    again = client.get("/api/v1/integrity/issues?service=billing&limit=500", headers=auth()).get_json()
    assert found.id in [i["id"] for i in again]

    resolved = client.post(
        f"{url}/resolve", json={"note": "refunded by hand"}, headers=auth("lead@club.example")
    )
    assert (
        resolved.get_json()["status"] == "resolved"
        and resolved.get_json()["resolved_by"] == "lead@club.example"
    )
    assert client.post(f"{url}/resolve", json={}, headers=auth()).status_code == 200  # again: no change
    assert client.post(f"{url}/reopen", headers=auth()).get_json()["status"] == "open"
    conflict = client.post(f"{url}/reopen", headers=auth())
    assert conflict.status_code == 409
    audit = client.get("/api/v1/integrity/audit?limit=50", headers=auth()).get_json()
    mine = [a["action"] for a in audit if a["issue_key"] == found.issue_key]
    assert mine == ["reopen", "resolve", "ignore"]
    assert {a["action"] for a in outbox("integrations.audit.recorded")} >= {
        "integrity_issue_ignored",
        "integrity_issue_resolved",
        "integrity_issue_reopened",
    }
    assert (
        client.post("/api/v1/integrity/issues/999999999/resolve", json={}, headers=auth()).status_code == 404
    )


def test_our_own_checks_on_demand(client, auth, db, clock, outbox, member):
    now = clock.now
    ann, bo, cy = member(status="terminated"), member(), member()
    shared = str(uuid.uuid4().int % 10**9)
    deal = str(uuid.uuid4().int % 10**9)
    visitor = f"v{uuid.uuid4().hex[:6]}@example.com"
    tm = f"tm{uuid.uuid4().hex[:6]}"
    with db.transaction() as session:
        session.get(Member, bo["member_id"]).hubspot_id = shared
        session.get(Member, cy["member_id"]).hubspot_id = shared
        session.add(
            HubspotDeal(
                hubspot_deal_id=deal, member_email=ann["email"], stage="closedwon", stage_name="closed_won"
            )
        )
        dead = HubspotSyncQueue(
            entity_type="contact",
            entity_id=bo["email"],
            action="update_contact",
            status="dead",
            last_error="HTTP 401",
        )
        session.add(dead)
        start = now + timedelta(days=3)
        here = Tour(
            visitor_name="V",
            visitor_email=visitor,
            status="scheduled",
            source="public",
            scheduled_at=start,
            ends_at=start + timedelta(minutes=30),
        )
        there = Tour(
            visitor_name="V",
            visitor_email=visitor,
            status="scheduled",
            source="hubspot",
            scheduled_at=start + timedelta(minutes=10),
            ends_at=start + timedelta(minutes=40),
        )
        stale = Tour(
            visitor_name="Old",
            visitor_email=None,
            status="scheduled",
            source="public",
            scheduled_at=now - timedelta(days=1),
            ends_at=now - timedelta(days=1) + timedelta(minutes=30),
        )
        session.add_all([here, there, stale])
        unmatched = TrackmanUnmatchedBooking(
            trackman_booking_id=tm,
            reason="no_match",
            status="unresolved",
            created_at=now - timedelta(hours=30),
        )
        session.add(unmatched)
        session.flush()
        ids = {"deal": None, "dead": dead.id, "there": there.id, "stale": stale.id, "unmatched": unmatched.id}
        ids["deal"] = session.scalar(select(HubspotDeal.id).where(HubspotDeal.hubspot_deal_id == deal))
    response = client.post("/api/v1/integrity/runs", headers=auth())
    assert response.status_code == 201, response.get_data(as_text=True)
    body = response.get_json()
    assert body["service"] == "integrations" and body["trigger"] == "on_demand"
    assert {c["name"] for c in body["summary"]} == {
        "Deal Stage Drift",
        "Deals Without Line Items",
        "HubSpot ID Duplicates",
        "HubSpot Sync Mismatch",
        "Duplicate Tour Sources",
        "Stale Past Tours",
        "Unmatched Trackman Bookings",
    }
    expected = {
        f"hubspot_deals_{ids['deal']}": "Deals Without Line Items",  # both checks find it; one issue per record
        f"members_{bo['member_id']}": "HubSpot ID Duplicates",
        f"members_{cy['member_id']}": "HubSpot ID Duplicates",
        f"hubspot_sync_queue_{ids['dead']}": "HubSpot Sync Mismatch",
        f"tours_{ids['there']}": "Duplicate Tour Sources",
        f"tours_{ids['stale']}": "Stale Past Tours",
        f"trackman_unmatched_bookings_{ids['unmatched']}": "Unmatched Trackman Bookings",
    }
    for key in expected:
        found = issue(db, key)
        assert found is not None and found.source_service == "integrations", key
    assert issue(db, f"hubspot_deals_{ids['deal']}").issue_type in (
        "Deal Stage Drift",
        "Deals Without Line Items",
    )
    [requested] = outbox("integrations.integrity.requested")
    assert requested["run_id"] == body["run_id"] and requested["requested_by"] == "desk@club.example"
    [checked] = outbox("integrations.integrity.checked")
    assert checked["run_id"] == body["run_id"]
    runs = client.get("/api/v1/integrity/runs?service=integrations", headers=auth()).get_json()
    assert runs[0]["run_id"] == body["run_id"]


def test_nightly_at_midnight_club_time(runtime, clock, sleeps, db):
    from club_integrations.jobs import make_jobs

    runner = make_jobs(runtime, clock, sleep=sleeps)
    night = datetime(2032, 2, 2, 0, 0, tzinfo=PT)
    clock.set(night)
    runner.fire_due(night - timedelta(minutes=1))  # the club day before (its 00:00 run)
    assert "integrity_nightly" not in runner.fire_due(night - timedelta(seconds=1))
    assert "integrity_nightly" in runner.fire_due(night)  # a new club day
    while runner.run_due():
        pass
    with db.transaction() as session:
        latest = session.scalar(
            select(IntegrityCheckHistory)
            .where(
                IntegrityCheckHistory.service == "integrations", IntegrityCheckHistory.trigger == "scheduled"
            )
            .order_by(IntegrityCheckHistory.id.desc())
        )
    assert latest.run_at == night
