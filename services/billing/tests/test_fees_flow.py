"""Fees per booking from booking's events through the real consumer: snapshots,
billing.fees.calculated, idempotency, stale inputs, the cascade, the fees API and the preview."""

from __future__ import annotations

from datetime import time

from billing_support import (
    approved,
    booking_data,
    cancelled,
    fees_of,
    member_event,
    next_id,
    outbox,
    participant,
)
from sqlalchemy import func, select

from club_billing.models import BookingFeeSnapshot


def test_example_1_social_solo_priced_once_however_often_delivered(deliver, db, client, auth, email):
    deliver("membership.member.created", member_event(email, "social"))
    booking_id = next_id()
    event = deliver(
        "booking.request.approved", approved(booking_data(booking_id, email, minutes=60)), times=2
    )
    [published] = outbox(db, "billing.fees.calculated", booking_request_id=booking_id)
    assert published["total_cents"] == 5000
    assert published["roster_version"] == 1 and published["fees_version"] == 1
    [line] = published["participants"]
    assert (line["minutes"], line["overage_cents"], line["payment_status"]) == (60, 5000, "pending")
    with db.transaction() as session:
        count = session.scalar(
            select(func.count())
            .select_from(BookingFeeSnapshot)
            .where(BookingFeeSnapshot.booking_id == booking_id)
        )
    assert count == 1
    assert event.type == "booking.request.approved"
    body = fees_of(client, auth, booking_id, email, "member")
    assert body["booking_request_id"] == booking_id and body["total_cents"] == 5000
    [line] = body["participants"]
    assert {
        "minutes",
        "overage_cents",
        "guest_fee_cents",
        "total_cents",
        "guest_pass_used",
        "payment_status",
    } <= set(line)


def test_example_3_members_a_pass_and_an_empty_slot(deliver, db, email):
    bo = f"bo.{email}"
    deliver("membership.member.created", member_event(email, "core"))
    deliver("membership.member.created", member_event(bo, "premium"))
    booking_id = next_id()
    participants = [
        participant("owner", 1, email, pid=1),
        participant("member", 2, bo, pid=2),
        participant("guest", 3, "cy@example.com", pid=3, name="Cy", pass_used=True),
    ]
    data = booking_data(booking_id, email, minutes=120, declared=4, participants=participants)
    deliver("booking.request.approved", approved(data))
    [published] = outbox(db, "billing.fees.calculated", booking_request_id=booking_id)
    by_slot = {line["slot"]: line for line in published["participants"]}
    assert by_slot[1]["overage_cents"] == 2500 and by_slot[1]["minutes"] == 90
    assert by_slot[2]["total_cents"] == 0
    assert by_slot[3]["guest_pass_used"] and by_slot[3]["total_cents"] == 0
    assert by_slot[4]["participant_type"] == "empty_slot" and by_slot[4]["guest_fee_cents"] == 2500
    assert published["total_cents"] == 5000


def test_a_member_in_no_access_status_is_charged_as_a_guest(deliver, db, email):
    lapsed = f"lapsed.{email}"
    deliver("membership.member.created", member_event(email, "vip"))
    deliver("membership.member.created", member_event(lapsed, "premium", status="cancelled"))
    booking_id = next_id()
    participants = [participant("owner", 1, email, pid=1), participant("member", 2, lapsed, pid=2)]
    deliver(
        "booking.request.approved",
        approved(booking_data(booking_id, email, minutes=60, declared=2, participants=participants)),
    )
    [published] = outbox(db, "billing.fees.calculated", booking_request_id=booking_id)
    assert published["total_cents"] == 2500


def test_stale_roster_versions_are_ignored(deliver, db, email):
    deliver("membership.member.created", member_event(email, "social"))
    booking_id = next_id()
    newer = booking_data(booking_id, email, minutes=90, roster_version=3, source="roster_change")
    deliver("booking.session.roster_changed", {**newer, "changed_by": email, "previous_roster_version": 2})
    older = booking_data(booking_id, email, minutes=30, roster_version=2)
    deliver("booking.request.approved", approved(older))
    published = outbox(db, "billing.fees.calculated", booking_request_id=booking_id)
    assert [p["total_cents"] for p in published] == [7500]


def test_example_4_earlier_usage_and_the_cascade_on_cancel(deliver, db, client, auth, email, run_jobs):
    deliver("membership.member.created", member_event(email, "core"))
    first, second = next_id(), next_id()
    deliver("booking.request.approved", approved(booking_data(first, email, start=time(9), minutes=60)))
    deliver("booking.request.approved", approved(booking_data(second, email, start=time(14), minutes=30)))
    assert fees_of(client, auth, first)["total_cents"] == 0
    assert fees_of(client, auth, second)["total_cents"] == 2500
    run_jobs()
    assert fees_of(client, auth, second)["invoice"]["status"] == "draft"
    deliver(
        "booking.request.cancelled",
        cancelled(
            booking_data(first, email, start=time(9), minutes=60, roster_version=1), refund_eligible=True
        ),
    )
    after = fees_of(client, auth, second)
    assert after["total_cents"] == 0
    cascaded = outbox(db, "billing.fees.calculated", booking_request_id=second)
    assert [c["total_cents"] for c in cascaded] == [2500, 0]
    assert cascaded[-1]["source"] == "cascade" and cascaded[-1]["fees_version"] == 2
    run_jobs()
    assert fees_of(client, auth, second)["invoice"]["status"] == "deleted"
    [voided] = outbox(db, "billing.invoice.voided", booking_request_id=second)
    assert voided["status"] == "deleted"


def test_example_4_a_paid_later_booking_is_not_recomputed(deliver, client, auth, email):
    deliver("membership.member.created", member_event(email, "core"))
    first, second = next_id(), next_id()
    deliver("booking.request.approved", approved(booking_data(first, email, start=time(9), minutes=60)))
    deliver("booking.request.approved", approved(booking_data(second, email, start=time(14), minutes=30)))
    key = fees_of(client, auth, second)["participants"][0]["key"]
    paid = client.post(
        f"/api/v1/payments/booking-requests/{second}/lines/{key}/cash",
        json={},
        headers=auth("desk@club.example", "staff"),
    )
    assert paid.status_code == 200, paid.get_data(as_text=True)
    deliver(
        "booking.request.cancelled",
        cancelled(booking_data(first, email, start=time(9), minutes=60), refund_eligible=True),
    )
    [line] = fees_of(client, auth, second)["participants"]
    assert (line["total_cents"], line["payment_status"]) == (2500, "paid")


def test_declined_booking_computes_to_zero(deliver, db, email):
    deliver("membership.member.created", member_event(email, "social"))
    booking_id = next_id()
    data = booking_data(booking_id, email, status="pending", minutes=60, source="booking_preview")
    deliver("booking.request.created", {**data, "created_by": email})
    deliver(
        "booking.request.declined",
        {**data, "status": "declined", "reviewed_by": "desk@club.example", "reason": None},
    )
    published = outbox(db, "billing.fees.calculated", booking_request_id=booking_id)
    assert [p["total_cents"] for p in published] == [5000, 0]


def test_conference_room_example_7b(deliver, db, email, run_jobs, stripe_fake):
    deliver("membership.member.created", member_event(email, "core"))
    booking_id = next_id()
    participants = [participant("owner", 1, email, pid=1)] + [
        participant("guest", s, f"att{s}@example.com", pid=s) for s in (2, 3, 4)
    ]
    data = booking_data(
        booking_id,
        email,
        status="confirmed",
        minutes=90,
        declared=4,
        participants=participants,
        resource_type="conference_room",
    )
    deliver("booking.request.confirmed", {**data, "reason": "conference_room"})
    [published] = outbox(db, "billing.fees.calculated", booking_request_id=booking_id)
    assert published["total_cents"] == 2500
    run_jobs()
    # charged to the card on file after the booking's transaction
    [paid] = outbox(db, "billing.payment.succeeded", booking_request_id=booking_id)
    assert paid["amount_cents"] == 2500 and paid["payment_method"] == "card"
    assert outbox(db, "billing.invoice.paid", booking_request_id=booking_id)


def test_fees_of_another_members_booking_are_404(deliver, client, auth, email):
    deliver("membership.member.created", member_event(email, "social"))
    booking_id = next_id()
    deliver("booking.request.approved", approved(booking_data(booking_id, email)))
    assert (
        client.get(f"/api/v1/fees/booking-requests/{booking_id}", headers=auth("eve@example.com")).status_code
        == 404
    )
    assert client.get("/api/v1/fees/booking-requests/999999999", headers=auth(email)).status_code == 404


def test_preview_uses_the_tier_and_earlier_bookings(deliver, client, auth, email):
    deliver("membership.member.created", member_event(email, "core"))
    booking_id = next_id()
    data = booking_data(booking_id, email, start=time(9), minutes=60)
    deliver("booking.request.approved", approved(data))
    body = {
        "date": data["date"],
        "start_time": "14:00",
        "duration_minutes": 60,
        "declared_player_count": 2,
        "participants": [{"type": "guest", "name": "Sam", "email": "sam@example.com"}],
    }
    preview = client.post("/api/v1/fees/preview", json=body, headers=auth(email))
    assert preview.status_code == 200, preview.get_data(as_text=True)
    result = preview.get_json()
    # owner: 30 + 30 absorbed after 60 that day → 60 over → 5000; Sam 2500
    assert result["total_cents"] == 7500
    earlier = client.post("/api/v1/fees/preview", json={**body, "start_time": "08:00"}, headers=auth(email))
    assert earlier.get_json()["total_cents"] == 2500


def test_preview_refuses_bad_input_and_other_members(client, auth, email):
    bad = client.post("/api/v1/fees/preview", json={"date": "2026-13-01"}, headers=auth(email))
    assert bad.status_code == 422 and bad.mimetype == "application/problem+json"
    other = client.post(
        "/api/v1/fees/preview",
        json={
            "member_email": "bo@example.com",
            "date": "2026-06-01",
            "start_time": "10:00",
            "duration_minutes": 60,
        },
        headers=auth(email),
    )
    assert other.status_code == 403
    gap = client.post(
        "/api/v1/fees/preview",
        json={"date": "2026-03-08", "start_time": "02:30", "duration_minutes": 60},
        headers=auth(email),
    )
    assert gap.status_code == 422 and gap.get_json()["code"] == "INVALID_LOCAL_TIME"


def test_tier_events_change_the_read_model(deliver, db, email):
    slug = f"gold{next_id()}"
    tier = {
        "tier_id": 99,
        "slug": slug,
        "name": "Gold",
        "rank": 6,
        "is_active": True,
        "tier_type": "individual",
        "monthly_price_cents": 50000,
        "billing_interval": "month",
        "daily_sim_minutes": 120,
        "guest_passes_per_period": 2,
        "booking_window_days": 14,
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
        "guest_fee_cents": 4000,
        "stripe_product_id": None,
        "stripe_price_id": None,
        "founding_price_id": None,
    }
    deliver("membership.tier.created", tier)
    deliver("membership.member.created", member_event(email, slug))
    booking_id = next_id()
    participants = [participant("owner", 1, email, pid=1), participant("guest", 2, "g@example.com", pid=2)]
    deliver(
        "booking.request.approved",
        approved(booking_data(booking_id, email, minutes=180, declared=2, participants=participants)),
    )
    [published] = outbox(db, "billing.fees.calculated", booking_request_id=booking_id)
    assert published["total_cents"] == 5000 + 4000  # 180 vs 120 → 2 blocks; its own guest fee


def test_two_bookings_of_one_member_day_handled_at_once_are_priced_in_order(
    consumer, deliver, client, auth, email
):
    import threading

    from club_shared.bus import Delivery, Message
    from club_shared.events import make_event

    deliver("membership.member.created", member_event(email, "core"))
    first, second = next_id(), next_id()
    events = [
        make_event(
            "booking.request.approved",
            approved(booking_data(b, email, start=t, minutes=60)),
            producer="booking",
        )
        for b, t in ((first, time(9)), (second, time(14)))
    ]
    barrier = threading.Barrier(2)

    def handle(event):
        barrier.wait()
        consumer.handle_batch([Delivery(Message(event.type, event.to_json(), str(event.event_id)), 0)])

    threads = [threading.Thread(target=handle, args=(e,)) for e in events]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert fees_of(client, auth, first)["total_cents"] == 0
    assert fees_of(client, auth, second)["total_cents"] == 5000  # 60 after 60: two blocks over
