"""Booking's read models of membership (members, linked e-mails, tiers, settings, staff) and of
billing (fees), each fed through booking's consumer as the bus would deliver it."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from club_booking.models import UsageLedger
from club_booking.testing import deliver, outbox, problem

STAFF = "sam.staff@club.example"
ANN = "ann@example.com"
TIER = {
    "tier_id": 2,
    "slug": "core",
    "name": "Core",
    "rank": 2,
    "is_active": True,
    "tier_type": "individual",
    "monthly_price_cents": 25000,
    "billing_interval": "month",
    "daily_sim_minutes": 60,
    "guest_passes_per_period": 4,
    "booking_window_days": 7,
    "daily_conf_room_minutes": 60,
    "can_book_simulators": True,
    "can_book_conference": True,
    "can_book_wellness": True,
    "has_group_lessons": False,
    "has_extended_sessions": False,
    "has_private_lesson": False,
    "has_simulator_guest_passes": True,
    "has_discounted_merch": False,
    "unlimited_access": False,
    "unlimited_sim_minutes": False,
    "unlimited_conf_room_minutes": False,
    "guest_fee_cents": 2500,
    "stripe_product_id": None,
    "stripe_price_id": None,
    "founding_price_id": None,
}


def book(client, headers, **fields):
    body = {"resource_id": 1, "date": "2026-06-12", "start_time": "10:00", "duration_minutes": 60}
    body.update(fields)
    return client.post("/api/v1/booking-requests", json=body, headers=headers)


def snapshot(email=ANN, **fields):
    return {"member_id": "u-ann", "email": email, "status": "active", "tier": "core", **fields}


@pytest.fixture
def ann(member, auth, clock):
    clock.at("2026-06-08")
    member(ANN, "core", member_id="u-ann")
    return auth(ANN)


def test_status_changes_gate_booking_and_old_events_never_roll_back(client, ann, rt):
    deliver(
        rt,
        "membership.member.status_changed",
        snapshot(status="suspended", old_status="active", new_status="suspended"),
    )
    problem(book(client, ann), 403, "MEMBERSHIP_INACTIVE")
    stale = datetime.now(UTC) - timedelta(hours=1)
    deliver(rt, "membership.member.updated", snapshot(changed=["phone"]), occurred_at=stale)
    problem(book(client, ann), 403, "MEMBERSHIP_INACTIVE")  # the older snapshot was ignored
    deliver(rt, "membership.member.status_changed", snapshot(old_status="suspended", new_status="active"))
    assert book(client, ann).status_code == 201


def test_a_linked_email_books_as_the_member(client, ann, auth, rt):
    deliver(
        rt,
        "membership.member.linked_email_added",
        {"member_id": "u-ann", "email": ANN, "linked_email": "ann.golf@example.com", "source": "manual"},
    )
    made = book(client, auth("ann.golf@example.com"))
    assert made.status_code == 201 and made.get_json()["user_email"] == ANN
    assert [b["id"] for b in client.get("/api/v1/booking-requests", headers=ann).get_json()] == [
        made.get_json()["id"]
    ]
    deliver(
        rt,
        "membership.member.linked_email_removed",
        {"member_id": "u-ann", "email": ANN, "linked_email": "ann.golf@example.com", "source": "manual"},
    )
    problem(book(client, auth("ann.golf@example.com"), resource_id=2), 403, "WAIVER_REQUIRED")


def test_an_email_change_rewrites_every_row(client, ann, auth, rt):
    booking = book(
        client,
        ann,
        declared_player_count=2,
        duration_minutes=60,
        participants=[{"type": "guest", "name": "Sam", "email": "sam@example.com"}],
    ).get_json()
    client.post(f"/api/v1/booking-requests/{booking['id']}/approve", json={}, headers=auth(STAFF, "staff"))
    deliver(
        rt,
        "membership.member.email_changed",
        {"member_id": "u-ann", "old_email": ANN, "new_email": "ann.lee@example.com"},
    )
    new = auth("ann.lee@example.com")
    got = client.get(f"/api/v1/booking-requests/{booking['id']}", headers=new).get_json()
    assert got["user_email"] == "ann.lee@example.com"
    assert got["participants"][0]["email"] == "ann.lee@example.com"
    assert client.get("/api/v1/guest-passes", headers=new).get_json()["used_passes"] == 1
    assert (
        client.get(f"/api/v1/booking-requests/{booking['id']}", headers=ann).status_code == 200
    )  # old = linked


def test_archiving_cancels_future_bookings(client, ann, rt, clock):
    booking = book(client, ann).get_json()
    deliver(
        rt,
        "membership.member.archived",
        snapshot(status="archived", previous_status="active"),
        occurred_at=clock(),
    )
    got = client.get(f"/api/v1/booking-requests/{booking['id']}", headers=ann).get_json()
    assert got["status"] == "cancelled"
    [event] = outbox(rt, "booking.request.cancelled")
    assert (event["actor_type"], event["refund_eligible"]) == ("system", True)


def test_tier_limits_follow_membership(client, ann, rt):
    problem(book(client, ann, date="2026-06-19"), 422, "BOOKING_WINDOW")
    deliver(rt, "membership.tier.updated", TIER | {"booking_window_days": 14})
    assert book(client, ann, date="2026-06-19").status_code == 201
    deliver(rt, "membership.tier.updated", TIER | {"can_book_conference": False})
    problem(book(client, ann, resource_id=5, date="2026-06-13"), 403, "TIER_NOT_ALLOWED")
    deliver(
        rt,
        "membership.tier.created",
        TIER | {"slug": "gold", "name": "Gold", "rank": 9, "guest_passes_per_period": 6},
    )
    deliver(
        rt,
        "membership.member.tier_changed",
        snapshot(tier="gold", old_tier="core", new_tier="gold", direction="upgrade"),
    )
    assert client.get("/api/v1/guest-passes", headers=ann).get_json()["total_passes"] == 6
    deliver(rt, "membership.tier.deleted", {"tier_id": 9, "slug": "gold"})
    problem(book(client, ann, resource_id=3, date="2026-06-13"), 403, "TIER_NOT_ALLOWED")


def test_settings_follow_membership(client, ann, member, auth, rt):
    problem(book(client, ann, date="2026-06-15"), 422, "OUTSIDE_HOURS")  # Monday
    deliver(
        rt,
        "membership.setting.updated",
        {
            "key": "booking.business_hours",
            "category": "booking",
            "updated_by": "boss@club.example",
            "value": {
                "mon": ["09:00", "17:00"],
                "tue": ["08:30", "20:00"],
                "wed": ["08:30", "20:00"],
                "thu": ["08:30", "20:00"],
                "fri": ["08:30", "22:00"],
                "sat": ["08:30", "22:00"],
                "sun": ["08:30", "18:00"],
            },
        },
    )
    assert book(client, ann, date="2026-06-15").status_code == 201
    deliver(
        rt,
        "membership.setting.updated",
        {"key": "waiver.current_version", "value": 2, "category": "waiver", "updated_by": None},
    )
    member("bo@example.com", "core")  # signed version 1
    problem(book(client, auth("bo@example.com"), resource_id=2), 403, "WAIVER_REQUIRED")
    deliver(
        rt,
        "membership.member.updated",
        {
            "member_id": "u-bo@example.com",
            "email": "bo@example.com",
            "waiver_version": 2,
            "waiver_signed_at": "2026-06-08T10:00:00+00:00",
            "changed": ["waiver_version"],
        },
    )
    assert book(client, auth("bo@example.com"), resource_id=2).status_code == 201


def test_staff_read_model_flags_staff_participants(client, ann, member, rt):
    member("pro@example.com", "core", member_id="u-pro")
    deliver(
        rt,
        "membership.staff.updated",
        {
            "staff_id": 7,
            "email": "pro@example.com",
            "name": "Pat Pro",
            "role": "golf_instructor",
            "is_active": True,
            "member_id": "u-pro",
        },
    )
    made = book(
        client, ann, declared_player_count=2, participants=[{"type": "member", "email": "pro@example.com"}]
    )
    [event] = outbox(rt, "booking.request.created")
    assert [(p["type"], p["is_staff"]) for p in event["participants"]] == [("owner", False), ("member", True)]
    assert made.status_code == 201
    deliver(
        rt,
        "membership.staff.updated",
        {
            "staff_id": 8,
            "email": "new.staff@club.example",
            "name": "New Staff",
            "role": "staff",
            "is_active": True,
        },
    )
    assert (
        client.get(
            "/api/v1/guest-passes?member_email=new.staff@club.example",
            headers={"Authorization": ann["Authorization"]},
        ).status_code
        == 403
    )


def test_merge_and_deletion(client, ann, member, auth, rt):
    member("old@example.com", "core", member_id="u-old")
    deliver(
        rt,
        "membership.member.merged",
        {
            "member_id": "u-old",
            "email": "old@example.com",
            "into_member_id": "u-ann",
            "into_email": ANN,
            "moved_emails": ["old@example.com"],
        },
    )
    made = book(client, auth("old@example.com"))
    assert made.status_code == 201 and made.get_json()["user_email"] == ANN
    deliver(
        rt,
        "membership.member.deleted",
        {"member_id": "u-ann", "email": ANN, "linked_emails": ["old@example.com"]},
    )
    problem(book(client, ann, resource_id=2), 403, "WAIVER_REQUIRED")
    got = client.get(
        f"/api/v1/booking-requests/{made.get_json()['id']}", headers=auth(STAFF, "staff")
    ).get_json()
    assert got["user_email"] == "deleted-u-ann@deleted.invalid" and got["user_name"] is None


def test_fees_fill_the_usage_ledger(client, ann, auth, rt):
    booking = book(client, ann).get_json()
    approved = client.post(
        f"/api/v1/booking-requests/{booking['id']}/approve", json={}, headers=auth(STAFF, "staff")
    )
    approved = approved.get_json()
    line = {
        "participant_id": approved["participants"][0]["participant_id"],
        "email": ANN,
        "minutes": 60,
        "overage_cents": 0,
        "guest_fee_cents": 0,
        "total_cents": 0,
        "guest_pass_used": False,
        "payment_status": "pending",
        "participant_type": "owner",
        "tier": "core",
    }
    for version in (1, 2):
        deliver(
            rt,
            "billing.fees.calculated",
            {
                "booking_request_id": booking["id"],
                "session_id": approved["session_id"],
                "member_email": ANN,
                "roster_version": 1,
                "fees_version": version,
                "total_cents": 0,
                "participants": [line],
            },
        )
    with rt.db.transaction() as session:
        rows = session.scalars(select(UsageLedger)).all()
        assert [
            (r.user_email, r.usage_type, r.minutes_charged, r.tier_at_booking, r.payment_method) for r in rows
        ] == [(ANN, "sim_minutes", 60, "core", "unpaid")]
    assert approved["fees"]["ready"] is False
    assert client.get(f"/api/v1/booking-requests/{booking['id']}", headers=ann).get_json()["fees"] == {
        "ready": True,
        "total_cents": 0,
        "roster_version": 1,
        "outstanding_cents": 0,
    }


def test_payments_and_invoices_from_billing_settle_the_check_in(client, ann, auth, rt):
    staff = auth(STAFF, "staff")
    booking = book(client, ann, declared_player_count=2, duration_minutes=60).get_json()
    approved = client.post(
        f"/api/v1/booking-requests/{booking['id']}/approve", json={}, headers=staff
    ).get_json()
    owner = approved["participants"][0]["participant_id"]
    lines = [
        {
            "participant_id": owner,
            "key": f"p{owner}",
            "email": ANN,
            "minutes": 60,
            "overage_cents": 0,
            "guest_fee_cents": 0,
            "total_cents": 2500,
            "guest_pass_used": False,
            "payment_status": "pending",
        },
        {
            "participant_id": None,
            "key": "e2",
            "email": None,
            "participant_type": "empty_slot",
            "minutes": 0,
            "overage_cents": 0,
            "guest_fee_cents": 2500,
            "total_cents": 2500,
            "guest_pass_used": False,
            "payment_status": "pending",
        },
    ]
    deliver(
        rt,
        "billing.fees.calculated",
        {
            "booking_request_id": booking["id"],
            "session_id": approved["session_id"],
            "member_email": ANN,
            "roster_version": 1,
            "fees_version": 1,
            "total_cents": 5000,
            "participants": lines,
        },
    )
    deliver(
        rt,
        "billing.invoice.created",
        {
            "booking_request_id": booking["id"],
            "stripe_invoice_id": "in_1",
            "member_email": ANN,
            "status": "draft",
            "total_cents": 5000,
        },
    )
    problem(
        client.post(f"/api/v1/booking-requests/{booking['id']}/check-in", headers=staff),
        402,
        "OUTSTANDING_BALANCE",
    )
    payment = {
        "payment_intent_id": "pi_1",
        "booking_request_id": booking["id"],
        "session_id": approved["session_id"],
        "member_email": ANN,
        "amount_cents": 5000,
        "payment_type": "booking_fee",
        "payment_method": "card",
        "status": "succeeded",
        "paid_at": "2026-06-10T10:00:00+00:00",
        "participants": [
            {"participant_id": owner, "line_key": f"p{owner}", "amount_cents": 2500},
            {"participant_id": None, "line_key": "e2", "amount_cents": 2500},
        ],
    }
    deliver(rt, "billing.payment.succeeded", payment)
    deliver(
        rt,
        "billing.invoice.paid",
        {
            "booking_request_id": booking["id"],
            "stripe_invoice_id": "in_1",
            "member_email": ANN,
            "status": "paid",
            "total_cents": 5000,
        },
    )
    got = client.get(f"/api/v1/booking-requests/{booking['id']}", headers=ann).get_json()
    assert (got["stripe_invoice_id"], got["invoice_status"]) == ("in_1", "paid")
    assert got["participants"][0]["payment_status"] == "paid"
    problem(
        client.put(
            f"/api/v1/booking-requests/{booking['id']}/participants", json={"participants": []}, headers=ann
        ),
        409,
        "ROSTER_LOCKED",
    )
    assert client.post(f"/api/v1/booking-requests/{booking['id']}/check-in", headers=staff).status_code == 200
