"""A member's billing data: data export part, erasure on deletion, integrity checks."""

from __future__ import annotations

import uuid

from billing_support import approved, booking_data, member_event, next_id, outbox
from sqlalchemy import select

from club_billing.flows.privacy import anonymised
from club_billing.models import BillingBooking, BillingMember


def test_data_export_part_lists_the_members_money(deliver, db, email):
    deliver("membership.member.created", member_event(email, "social"))
    booking_id = next_id()
    deliver("booking.request.approved", approved(booking_data(booking_id, email, minutes=60)))
    request_id = next_id()
    deliver(
        "membership.data_export.requested",
        {
            "request_id": request_id,
            "member_id": "m1",
            "email": email,
            "emails": [email],
            "requested_at": "2026-06-01T10:00:00+00:00",
        },
        times=2,
    )
    [part] = outbox(db, "billing.data_export.part_written", request_id=request_id)
    assert part["service"] == "billing"
    [fees] = part["part"]["booking_fees"]
    assert fees["booking_id"] == booking_id and fees["total_cents"] == 5000
    assert set(part["part"]) >= {"booking_invoices", "payments", "day_pass_purchases", "legacy_purchases"}


def test_deletion_anonymises_money_and_drops_the_read_model(deliver, db, email):
    deliver("membership.member.created", member_event(email, "social"))
    booking_id = next_id()
    deliver("booking.request.approved", approved(booking_data(booking_id, email, minutes=60)))
    deliver("membership.member.deleted", {"member_id": "m1", "email": email, "linked_emails": []})
    with db.transaction() as session:
        assert session.get(BillingMember, email) is None
        booking = session.get(BillingBooking, booking_id)
        assert booking.member_email == anonymised(email) and booking.total_cents == 5000
        assert all(line["email"] != email for line in booking.lines)


def test_integrity_checks_on_demand(deliver, db):
    run_id = f"run-{uuid.uuid4().hex[:8]}"
    deliver("integrations.integrity.requested", {"run_id": run_id, "requested_by": "desk@club.example"})
    [checked] = outbox(db, "billing.integrity.checked", run_id=run_id)
    names = {c["name"] for c in checked["checks"]}
    assert names == {
        "Orphaned Fee Snapshots",
        "Orphaned Payment Intents",
        "Invoice-Booking Reconciliation",
        "Lingering Payment Intents on Final Bookings",
        "Duplicate Stripe Customers",
        "Stripe Subscription Sync",
    }
    assert checked["trigger"] == "on_demand"
    with db.transaction() as session:
        assert session.scalars(select(BillingBooking).limit(1)).first() is not None
