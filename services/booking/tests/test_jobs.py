"""Scheduled work: expiry, auto-complete (example 25), stuck cancellations, the guest-pass reset and
hold purge, fired once per period across replicas by the JobRunner."""

from datetime import UTC, datetime

import pytest
from sqlalchemy import select, text

from club_booking.flows import lifecycle
from club_booking.jobs import PassResetWindow, make_jobs, stuck_cancellations
from club_booking.models import GuestPassHold
from club_booking.testing import LA, deliver, outbox, problem

STAFF = "sam.staff@club.example"
ANN = "ann@example.com"


def at(day, wall):
    return datetime.fromisoformat(f"{day}T{wall}").replace(tzinfo=LA).astimezone(UTC)


def book(client, headers, **fields):
    body = {"resource_id": 1, "date": "2026-06-12", "start_time": "14:00", "duration_minutes": 60}
    body.update(fields)
    made = client.post("/api/v1/booking-requests", json=body, headers=headers)
    assert made.status_code == 201, made.get_data(as_text=True)
    return made.get_json()


def fees(rt, booking, status, total=2500):
    owner = booking["participants"][0]
    deliver(
        rt,
        "billing.fees.calculated",
        {
            "booking_request_id": booking["id"],
            "session_id": booking["session_id"],
            "member_email": booking["user_email"],
            "roster_version": booking["roster_version"],
            "fees_version": 2 if status == "paid" else 1,
            "total_cents": total,
            "participants": [
                {
                    "participant_id": owner["participant_id"],
                    "email": owner["email"],
                    "minutes": 60,
                    "overage_cents": total,
                    "guest_fee_cents": 0,
                    "total_cents": total,
                    "guest_pass_used": False,
                    "payment_status": status,
                }
            ],
        },
    )


@pytest.fixture
def ann(member, auth, clock):
    clock.at("2026-06-08")
    member(ANN, "core")
    member("kim@example.com", "premium")
    return auth(ANN)


def test_example_25_expiry(client, ann, auth, rt):
    staff = auth(STAFF, "staff")
    first = book(
        client,
        ann,
        declared_player_count=2,
        duration_minutes=60,
        participants=[{"type": "guest", "name": "Gil", "email": "gil@example.com"}],
    )
    second = book(client, staff, member_email="kim@example.com", resource_id=2)
    with rt.db.transaction() as session:
        assert lifecycle.expire_due(session, rt, at("2026-06-12", "14:15")) == []
    with rt.db.transaction() as session:
        assert lifecycle.expire_due(session, rt, at("2026-06-12", "15:15")) == [first["id"], second["id"]]
    got = client.get(f"/api/v1/booking-requests/{first['id']}", headers=ann).get_json()
    assert got["status"] == "expired" and got["reviewed_by"] == "system-auto-expiry"
    assert "[Auto-expired 2026-06-12 15:15]" in got["staff_notes"]
    assert len(outbox(rt, "booking.request.expired")) == 2
    assert [e["passes"] for e in outbox(rt, "booking.guest_pass.released")] == [1]
    [summary] = outbox(rt, "booking.notification.requested")
    assert summary["audience"] == "staff" and "2 booking requests expired" in summary["title"]
    with rt.db.transaction() as session:  # a second run finds nothing
        assert lifecycle.expire_due(session, rt, at("2026-06-12", "16:15")) == []


def test_example_25_completion_and_check_in(client, ann, auth, rt):
    staff = auth(STAFF, "staff")
    paid = client.post(
        f"/api/v1/booking-requests/{book(client, ann, start_time='18:00')['id']}/approve",
        json={},
        headers=staff,
    ).get_json()
    fees(rt, paid, "paid")
    unpaid = client.post(
        f"/api/v1/booking-requests/{book(client, staff, member_email='kim@example.com', resource_id=2, start_time='18:00')['id']}/approve",
        json={},
        headers=staff,
    ).get_json()
    fees(rt, unpaid, "pending")
    with rt.db.transaction() as session:
        assert lifecycle.auto_complete(session, rt, at("2026-06-12", "19:29")) == []
    with rt.db.transaction() as session:
        assert lifecycle.auto_complete(session, rt, at("2026-06-12", "19:30")) == [paid["id"]]
    with rt.db.transaction() as session:
        assert lifecycle.auto_complete(session, rt, at("2026-06-12", "20:30")) == []
    assert (
        client.get(f"/api/v1/booking-requests/{paid['id']}", headers=ann).get_json()["status"] == "attended"
    )
    assert [e["booking_id"] for e in outbox(rt, "booking.request.attended")] == [paid["id"]]
    alerts = [n for n in outbox(rt, "booking.notification.requested") if n["type"] == "outstanding_balance"]
    assert len(alerts) == 1 and "2500 cents are unpaid" in alerts[0]["message"]  # told once
    assert (
        client.get(f"/api/v1/booking-requests/{unpaid['id']}", headers=staff).get_json()["status"]
        == "approved"
    )
    body = problem(
        client.post(f"/api/v1/booking-requests/{unpaid['id']}/check-in", headers=staff),
        402,
        "OUTSTANDING_BALANCE",
    )
    assert [(o["email"], o["amount_cents"]) for o in body["outstanding"]] == [("kim@example.com", 2500)]
    fees(rt, unpaid, "paid")
    assert (
        client.post(f"/api/v1/booking-requests/{unpaid['id']}/check-in", headers=staff).get_json()["status"]
        == "checked_in"
    )


def test_an_overnight_booking_completes_the_next_day(client, auth, rt, clock):
    clock.at("2026-06-01")
    staff = auth(STAFF, "staff")
    booking = book(client, staff, date="2026-06-12", start_time="23:00", duration_minutes=120)
    approved = client.post(
        f"/api/v1/booking-requests/{booking['id']}/approve", json={}, headers=staff
    ).get_json()
    fees(rt, approved, "paid", total=0)
    with rt.db.transaction() as session:
        assert lifecycle.auto_complete(session, rt, at("2026-06-13", "01:29")) == []
        assert lifecycle.auto_complete(session, rt, at("2026-06-13", "01:30")) == [booking["id"]]


def test_stuck_cancellations_alert_staff(client, ann, auth, rt, clock):
    staff = auth(STAFF, "staff")
    booking = book(client, ann)
    client.post(
        f"/api/v1/booking-requests/{booking['id']}/approve", json={"trackman_booking_id": "77"}, headers=staff
    )
    clock.at("2026-06-10", "09:00")
    assert (
        client.post(f"/api/v1/booking-requests/{booking['id']}/cancel", json={}, headers=ann).status_code
        == 200
    )
    with rt.db.transaction() as session:
        assert stuck_cancellations(session, rt, at("2026-06-10", "12:59")) == []
        assert stuck_cancellations(session, rt, at("2026-06-10", "13:00")) == [booking["id"]]


def test_the_runner_fires_each_period_once_across_replicas(service_runtime, client, ann, rt):
    booking = book(
        client,
        ann,
        declared_player_count=2,
        duration_minutes=60,
        participants=[{"type": "guest", "name": "Gil", "email": "gil@example.com"}],
    )
    run_at = at("2026-06-12", "15:05")
    replicas = [make_jobs(service_runtime("booking"), clock=lambda: run_at) for _ in range(2)]
    fired = [r.fire_due(run_at) for r in replicas]
    # expiry, auto-complete, stuck cancellations, hold purge, waiting attendees, idempotency keys: once
    assert sorted(map(len, fired)) == [0, 6]
    assert sum(r.run_due() for r in replicas) == 6
    assert (
        client.get(f"/api/v1/booking-requests/{booking['id']}", headers=ann).get_json()["status"] == "expired"
    )
    assert [r.fire_due(at("2026-06-12", "15:55")) for r in replicas] == [[], []]  # same hour
    assert len(replicas[0].fire_due(at("2026-06-12", "16:00"))) == 3  # next hour (the 2-hour check waits)
    # The pass reset fires only in its window on the 1st, once.
    reset = at("2026-07-01", "03:10")
    assert "booking.guest_pass_reset" in replicas[0].fire_due(reset)
    assert "booking.guest_pass_reset" not in replicas[1].fire_due(at("2026-07-01", "05:00"))
    for r in replicas:
        r.db.dispose()


def test_expired_holds_are_purged(client, ann, rt):
    book(
        client,
        ann,
        declared_player_count=2,
        duration_minutes=60,
        participants=[{"type": "guest", "name": "Gil", "email": "gil@example.com"}],
    )
    from club_booking.flows import passes

    with rt.db.transaction() as session:
        assert passes.purge_expired_holds(session, at("2026-07-08", "08:59")) == 0
        session.execute(text("SELECT 1"))
        assert passes.purge_expired_holds(session, at("2026-07-09", "00:00")) == 1
        assert session.scalars(select(GuestPassHold)).all() == []


def test_the_reset_window():
    window = PassResetWindow()
    assert window.period(at("2026-05-01", "03:00"), LA) == "2026-05-01"
    assert window.period(at("2026-05-01", "07:59"), LA) == "2026-05-01"
    assert window.period(at("2026-05-01", "08:00"), LA) is None
    assert window.period(at("2026-05-02", "03:00"), LA) is None
