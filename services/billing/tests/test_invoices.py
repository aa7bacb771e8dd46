"""One Stripe invoice per booking against the Stripe fake: drafted at approval, lines rewritten while
a draft, paid by card or out of band, deleted, voided or refunded on cancellation — never charged twice."""

from __future__ import annotations

from datetime import timedelta

from billing_support import (
    approved,
    booking_data,
    cancelled,
    fake_requests,
    fees_of,
    member_event,
    next_id,
    outbox,
    participant,
)

STAFF = "desk@club.example"


def _approve(deliver, email, booking_id, **kw):
    data = booking_data(booking_id, email, **kw)
    deliver("booking.request.approved", approved(data))
    return data


def test_example_1_draft_invoice_with_its_lines_and_one_only(
    deliver, db, client, auth, email, run_jobs, stripe_fake
):
    deliver("membership.member.created", member_event(email, "social"))
    booking_id = next_id()
    _approve(deliver, email, booking_id, minutes=60)
    run_jobs()
    run_jobs()  # a second run changes nothing
    invoice = fees_of(client, auth, booking_id)["invoice"]
    assert invoice["status"] == "draft" and invoice["total_cents"] == 5000
    stripe_invoice = stripe_fake.fake.objects["invoice"][invoice["stripe_invoice_id"]]
    assert stripe_invoice["status"] == "draft" and stripe_invoice["total"] == 5000
    assert stripe_invoice["auto_advance"] is False and stripe_invoice["metadata"]["booking_id"] == str(
        booking_id
    )
    created = [
        r
        for r in fake_requests(stripe_fake, "/v1/invoices")
        if r["path"] == "/v1/invoices"
        and r["params"].get("metadata", {}).get("booking_id") == str(booking_id)
    ]
    assert [r["idempotency_key"] for r in created] == [f"invoice:{booking_id}"]
    [event] = outbox(db, "billing.invoice.created", booking_request_id=booking_id)
    assert event["stripe_invoice_id"] == invoice["stripe_invoice_id"]


def test_roster_change_rewrites_the_draft_lines(deliver, client, auth, email, run_jobs, stripe_fake):
    deliver("membership.member.created", member_event(email, "social"))
    booking_id = next_id()
    data = _approve(deliver, email, booking_id, minutes=60)
    run_jobs()
    participants = [participant("owner", 1, email, pid=1), participant("guest", 2, "sam@example.com", pid=2)]
    changed = {
        **data,
        "declared_player_count": 2,
        "participants": participants,
        "roster_version": 2,
        "source": "roster_change",
        "changed_by": email,
        "previous_roster_version": 1,
    }
    deliver("booking.session.roster_changed", changed)
    run_jobs()
    invoice = fees_of(client, auth, booking_id)["invoice"]
    stripe_invoice = stripe_fake.fake.objects["invoice"][invoice["stripe_invoice_id"]]
    assert stripe_invoice["total"] == 7500 == invoice["total_cents"]
    assert sorted(line["amount"] for line in stripe_invoice["lines"]["data"]) == [2500, 5000]


def test_member_pays_by_card_once(deliver, db, client, auth, email, run_jobs, stripe_fake):
    deliver("membership.member.created", member_event(email, "social"))
    booking_id = next_id()
    _approve(deliver, email, booking_id, minutes=60)
    run_jobs()
    started = client.post(f"/api/v1/payments/booking-requests/{booking_id}/pay", headers=auth(email))
    assert started.status_code == 202, started.get_data(as_text=True)
    assert started.get_json()["amount_cents"] == 5000
    again = client.post(f"/api/v1/payments/booking-requests/{booking_id}/pay", headers=auth(email))
    assert again.status_code == 202
    run_jobs()
    run_jobs()
    body = fees_of(client, auth, booking_id)
    assert body["invoice"]["status"] == "paid" and body["owed_cents"] == 0
    assert [line["payment_status"] for line in body["participants"]] == ["paid"]
    pays = [
        r
        for r in fake_requests(stripe_fake, "/v1/invoices/")
        if r["path"].endswith("/pay") and r["path"].split("/")[3] == body["invoice"]["stripe_invoice_id"]
    ]
    assert {r["idempotency_key"] for r in pays} == {f"invoice:{booking_id}:pay"}
    [succeeded] = outbox(db, "billing.payment.succeeded", booking_request_id=booking_id)
    assert succeeded["amount_cents"] == 5000 and succeeded["participants"][0]["line_key"] == "p" + str(
        booking_id * 10 + 1
    )
    assert len(outbox(db, "billing.invoice.paid", booking_request_id=booking_id)) == 1
    # paying a paid booking is a no-op
    done = client.post(f"/api/v1/payments/booking-requests/{booking_id}/pay", headers=auth(email))
    assert done.status_code == 202 and done.get_json()["status"] == "nothing_owed"


def test_a_declined_card_leaves_the_balance_owed(deliver, db, client, auth, email, run_jobs, stripe_fake):
    deliver("membership.member.created", member_event(email, "social"))
    booking_id = next_id()
    _approve(deliver, email, booking_id, minutes=30)
    run_jobs()
    invoice_id = fees_of(client, auth, booking_id)["invoice"]["stripe_invoice_id"]
    customer = stripe_fake.fake.objects["invoice"][invoice_id]["customer"]
    stripe_fake.fake.objects["customer"][customer]["invoice_settings"]["default_payment_method"] = (
        "pm_card_chargeDeclined"
    )
    assert (
        client.post(f"/api/v1/payments/booking-requests/{booking_id}/pay", headers=auth(email)).status_code
        == 202
    )
    run_jobs()
    [failed] = outbox(db, "billing.payment.failed", booking_request_id=booking_id)
    assert failed["failure_reason"]
    balance = client.get("/api/v1/billing/balance", headers=auth(email)).get_json()
    assert balance["total_cents"] == 2500


def test_cash_for_every_line_marks_the_invoice_paid_out_of_band(
    deliver, db, client, auth, email, run_jobs, stripe_fake
):
    deliver("membership.member.created", member_event(email, "social"))
    booking_id = next_id()
    participants = [participant("owner", 1, email, pid=1), participant("guest", 2, "sam@example.com", pid=2)]
    _approve(deliver, email, booking_id, minutes=60, declared=2, participants=participants)
    run_jobs()
    for key in ("p1", "p2"):
        response = client.post(
            f"/api/v1/payments/booking-requests/{booking_id}/lines/{key}/cash",
            json={},
            headers=auth(STAFF, "staff"),
        )
        assert response.status_code == 200 and response.get_json()["payment_status"] == "paid"
    repeat = client.post(
        f"/api/v1/payments/booking-requests/{booking_id}/lines/p1/cash", json={}, headers=auth(STAFF, "staff")
    )
    assert repeat.status_code == 200
    run_jobs()
    body = fees_of(client, auth, booking_id)
    assert body["invoice"]["status"] == "paid" and body["invoice"]["paid_out_of_band"] is True
    stripe_invoice = stripe_fake.fake.objects["invoice"][body["invoice"]["stripe_invoice_id"]]
    assert stripe_invoice["status"] == "paid" and stripe_invoice["paid_out_of_band"] is True
    audit = client.get(
        f"/api/v1/payments/booking-requests/{booking_id}/audit", headers=auth(STAFF, "staff")
    ).get_json()
    assert [(a["action"], a["payment_method"], a["staff_email"]) for a in audit] == [
        ("payment_confirmed", "cash", STAFF)
    ] * 2
    assert len(outbox(db, "billing.payment.succeeded", booking_request_id=booking_id)) == 2
    # booking's cached lines follow: the newest billing.fees.calculated has both lines paid
    latest = outbox(db, "billing.fees.calculated", booking_request_id=booking_id)[-1]
    assert [line["payment_status"] for line in latest["participants"]] == ["paid", "paid"]
    assert latest["fees_version"] == 3


def test_waive_needs_a_reason_and_drops_the_draft(deliver, db, client, auth, email, run_jobs, stripe_fake):
    deliver("membership.member.created", member_event(email, "social"))
    booking_id = next_id()
    _approve(deliver, email, booking_id, minutes=30)
    run_jobs()
    url = f"/api/v1/payments/booking-requests/{booking_id}/lines/p{booking_id * 10 + 1}/waive"
    refused = client.post(url, json={}, headers=auth(STAFF, "staff"))
    assert refused.status_code == 422
    assert fees_of(client, auth, booking_id)["owed_cents"] == 2500  # bad input changed nothing
    waived = client.post(url, json={"reason": "bay was late"}, headers=auth(STAFF, "staff"))
    assert waived.status_code == 200 and waived.get_json()["total_cents"] == 0
    run_jobs()
    body = fees_of(client, auth, booking_id)
    assert body["total_cents"] == 0 and body["invoice"]["status"] == "deleted"
    assert outbox(db, "billing.fees.calculated", booking_request_id=booking_id)[-1]["total_cents"] == 0
    assert client.post(url.replace("waive", "cash"), json={}, headers=auth(STAFF, "staff")).status_code == 409
    assert client.post(url, json={"reason": "x"}, headers=auth(email)).status_code == 403


def test_example_14_early_cancel_refunds_the_card_payment(
    deliver, db, client, auth, email, run_jobs, stripe_fake
):
    deliver("membership.member.created", member_event(email, "premium"))
    booking_id = next_id()
    participants = [
        participant("owner", 1, email, pid=1),
        participant("guest", 2, "g@example.com", pid=2, pass_used=True),
    ]
    data = _approve(deliver, email, booking_id, minutes=120, declared=2, participants=participants)
    run_jobs()
    assert fees_of(client, auth, booking_id)["owed_cents"] == 2500
    client.post(f"/api/v1/payments/booking-requests/{booking_id}/pay", headers=auth(email))
    run_jobs()
    [paid] = outbox(db, "billing.payment.succeeded", booking_request_id=booking_id)
    pi = paid["payment_intent_id"]
    cancel = cancelled(data, refund_eligible=True)
    deliver("booking.request.cancelled", cancel, times=2)
    run_jobs()
    run_jobs()
    refunds = [
        r for r in fake_requests(stripe_fake, "/v1/refunds") if r["params"].get("payment_intent") == pi
    ]
    assert {r["idempotency_key"] for r in refunds} == {f"refund:{pi}"}
    charge = stripe_fake.fake.objects["charge"][
        stripe_fake.fake.objects["payment_intent"][pi]["latest_charge"]
    ]
    assert charge["amount_refunded"] == 2500
    [refunded] = outbox(db, "billing.payment.refunded", booking_request_id=booking_id)
    assert refunded["amount_refunded_cents"] == 2500 and refunded["participants"][0]["line_key"] == "p1"
    body = fees_of(client, auth, booking_id)
    assert body["participants"][0]["payment_status"] == "refunded"


def test_example_14_late_cancel_keeps_paid_and_waives_unpaid(
    deliver, db, client, auth, email, run_jobs, stripe_fake
):
    deliver("membership.member.created", member_event(email, "premium"))
    paid_id, unpaid_id = next_id(), next_id()
    participants = [
        participant("owner", 1, email, pid=1),
        participant("guest", 2, "g@example.com", pid=2, pass_used=True),
    ]
    paid_data = _approve(deliver, email, paid_id, minutes=120, declared=2, participants=participants)
    run_jobs()
    client.post(f"/api/v1/payments/booking-requests/{paid_id}/pay", headers=auth(email))
    run_jobs()
    deliver("booking.request.cancelled", cancelled(paid_data, refund_eligible=False, late=True))
    run_jobs()
    assert not outbox(db, "billing.payment.refunded", booking_request_id=paid_id)
    assert fees_of(client, auth, paid_id)["participants"][0]["payment_status"] == "paid"
    # had the 2500 been unpaid: waived to 0 and the draft deleted
    from datetime import time

    unpaid_data = _approve(
        deliver,
        email,
        unpaid_id,
        start=time(18),
        minutes=120,
        declared=2,
        participants=[participant("owner", 1, email, pid=1)],
    )
    run_jobs()
    deliver("booking.request.cancelled", cancelled(unpaid_data, refund_eligible=False, late=True))
    run_jobs()
    body = fees_of(client, auth, unpaid_id)
    assert body["total_cents"] == 0 and body["invoice"]["status"] == "deleted"


def test_a_failing_stripe_call_is_retried_without_a_second_invoice(
    deliver, client, auth, email, jobs, stripe_fake
):
    from sqlalchemy import update

    from club_billing.models import JOBS

    deliver("membership.member.created", member_event(email, "social"))
    booking_id = next_id()
    _approve(deliver, email, booking_id, minutes=60)
    stripe_fake.fake.failures.append({"path": "/v1/invoiceitems", "status": 500, "times": 3})
    jobs.run_due()
    assert fees_of(client, auth, booking_id)["invoice"]["stripe_invoice_id"] is None  # rolled back
    with jobs.db.transaction() as session:  # make the retry due now
        session.execute(
            update(JOBS.job_queue)
            .where(JOBS.job_queue.c.status == "pending")
            .values(scheduled_for=JOBS.job_queue.c.created_at)
        )
    while jobs.run_due():
        pass
    invoice = fees_of(client, auth, booking_id)["invoice"]
    assert invoice["status"] == "draft" and invoice["total_cents"] == 5000
    mine = [
        i
        for i in stripe_fake.fake.objects["invoice"].values()
        if i["metadata"].get("booking_id") == str(booking_id)
    ]
    assert len(mine) == 1 and mine[0]["total"] == 5000


def test_staff_and_unlimited_owners_get_no_invoice(deliver, client, auth, email, run_jobs):
    deliver("membership.member.created", member_event(email, "vip"))
    booking_id = next_id()
    participants = [participant("owner", 1, email, pid=1), participant("guest", 2, "g@example.com", pid=2)]
    _approve(deliver, email, booking_id, minutes=60, declared=2, participants=participants)
    run_jobs()
    body = fees_of(client, auth, booking_id)
    assert body["total_cents"] == 2500 and body["invoice"] is None
    staff_booking = next_id()
    owner = [participant("owner", 1, "pro@club.example", pid=1, staff=True)]
    _approve(deliver, "pro@club.example", staff_booking, minutes=180, participants=owner)
    run_jobs()
    body = fees_of(client, auth, staff_booking)
    assert body["total_cents"] == 0 and body["invoice"] is None


def test_outstanding_balance_of_the_last_90_days(deliver, client, auth, email):
    deliver("membership.member.created", member_event(email, "social"))
    booking_id = next_id()
    _approve(deliver, email, booking_id, minutes=60)
    mine = client.get("/api/v1/billing/balance", headers=auth(email)).get_json()
    assert mine["total_cents"] == 5000 and mine["items"][0]["booking_request_id"] == booking_id
    as_staff = client.get(f"/api/v1/billing/balance?email={email}", headers=auth(STAFF, "staff")).get_json()
    assert as_staff["total_cents"] == 5000
    assert (
        client.get(f"/api/v1/billing/balance?email={email}", headers=auth("eve@example.com")).status_code
        == 404
    )


def test_reconciliation_takes_stripes_status_for_stale_intents(
    deliver, db, client, auth, email, jobs, stripe_fake
):
    from sqlalchemy import update

    from club_billing.models import StripePaymentIntent

    deliver("membership.member.created", member_event(email, "social"))
    booking_id = next_id()
    _approve(deliver, email, booking_id, minutes=30)
    fake = stripe_fake.fake
    customer = fake.create_customer({"email": email})["id"]
    remote = fake.create_payment_intent({"amount": "2500", "customer": customer, "confirm": "true"})
    with db.transaction() as session:
        session.add(
            StripePaymentIntent(
                stripe_payment_intent_id=remote["id"],
                customer_email=email,
                amount_cents=2500,
                status="pending",
                payment_type="booking_fee",
                booking_id=booking_id,
                line_keys=[f"p{booking_id * 10 + 1}"],
            )
        )
    with db.transaction() as session:
        session.execute(
            update(StripePaymentIntent)
            .where(StripePaymentIntent.stripe_payment_intent_id == remote["id"])
            .values(updated_at=StripePaymentIntent.created_at - timedelta(minutes=10))
        )
        jobs.jobs["reconcile_intents"](session, {})
    body = fees_of(client, auth, booking_id)
    assert body["participants"][0]["payment_status"] == "paid"
    assert outbox(db, "billing.payment.succeeded", booking_request_id=booking_id)


def test_staff_send_a_payment_link_and_the_hosted_payment_settles_it(
    deliver, db, client, auth, email, run_jobs, stripe_fake
):
    from billing_support import WEBHOOK_SECRET, post_webhook

    deliver("membership.member.created", member_event(email, "social"))
    booking_id = next_id()
    _approve(deliver, email, booking_id, minutes=30)
    run_jobs()
    sent = client.post(
        f"/api/v1/payments/booking-requests/{booking_id}/payment-link", headers=auth(STAFF, "staff")
    )
    assert sent.status_code == 202 and sent.get_json()["status"] == "link_sent"
    run_jobs()
    run_jobs()
    invoice = fees_of(client, auth, booking_id)["invoice"]
    assert invoice["status"] == "sent" and invoice["hosted_invoice_url"]
    stripe_invoice = stripe_fake.fake.objects["invoice"][invoice["stripe_invoice_id"]]
    assert stripe_invoice["status"] == "open" and stripe_invoice.get("amount_paid", 0) == 0  # not charged
    [notice] = [
        n
        for n in outbox(db, "billing.notification.requested", email=email)
        if n["type"] == "outstanding_balance"
    ]
    assert notice["link"] == invoice["hosted_invoice_url"]
    stripe_fake.fake.pay_invoice({}, invoice["stripe_invoice_id"])  # the member pays on the hosted page
    for event in [
        e
        for e in stripe_fake.fake.events
        if e["data"]["object"].get("id") in (invoice["stripe_invoice_id"], stripe_invoice["payment_intent"])
    ]:
        assert post_webhook(client, event, WEBHOOK_SECRET).status_code == 200
    body = fees_of(client, auth, booking_id)
    assert body["invoice"]["status"] == "paid" and body["owed_cents"] == 0


def test_example_14_trackman_linked_cancel_refunds_when_trackman_confirms(
    deliver, db, client, auth, email, run_jobs
):
    deliver("membership.member.created", member_event(email, "premium"))
    booking_id = next_id()
    participants = [
        participant("owner", 1, email, pid=1),
        participant("guest", 2, "g@example.com", pid=2, pass_used=True),
    ]
    data = _approve(deliver, email, booking_id, minutes=120, declared=2, participants=participants)
    run_jobs()
    client.post(f"/api/v1/payments/booking-requests/{booking_id}/pay", headers=auth(email))
    run_jobs()
    pending = {
        **data,
        "status": "cancellation_pending",
        "source": "cancellation",
        "requested_by": email,
        "requested_at": "2026-05-20T23:30:00+00:00",
    }
    deliver("booking.request.cancellation_requested", pending)
    run_jobs()
    body = fees_of(client, auth, booking_id)
    assert body["participants"][0]["payment_status"] == "paid"  # nothing refunded while TrackMan decides
    assert not outbox(db, "billing.payment.refunded", booking_request_id=booking_id)
    deliver("booking.request.cancelled", {**cancelled(data, refund_eligible=True), "actor_type": "trackman"})
    run_jobs()
    [refunded] = outbox(db, "billing.payment.refunded", booking_request_id=booking_id)
    assert refunded["amount_refunded_cents"] == 2500


def test_a_deleted_draft_comes_back_as_a_new_invoice_when_the_booking_owes_again(
    deliver, db, client, auth, email, run_jobs, stripe_fake
):
    from datetime import time

    deliver("membership.member.created", member_event(email, "core"))
    first, second = next_id(), next_id()
    morning = _approve(deliver, email, first, start=time(9), minutes=60)
    _approve(deliver, email, second, start=time(14), minutes=30)
    run_jobs()
    old = fees_of(client, auth, second)["invoice"]["stripe_invoice_id"]
    deliver("booking.request.cancelled", cancelled(morning, refund_eligible=True))
    run_jobs()
    assert fees_of(client, auth, second)["invoice"]["status"] == "deleted"
    # the morning is booked again (a new request): the afternoon owes 2500 again
    again = next_id()
    _approve(deliver, email, again, start=time(8), minutes=60)
    run_jobs()
    body = fees_of(client, auth, second)
    assert body["owed_cents"] == 2500 and body["invoice"]["status"] == "draft"
    new = body["invoice"]["stripe_invoice_id"]
    assert new and new != old
    assert stripe_fake.fake.objects["invoice"][new]["total"] == 2500
    created = [
        r["idempotency_key"]
        for r in fake_requests(stripe_fake, "/v1/invoices")
        if r["path"] == "/v1/invoices" and r["params"].get("metadata", {}).get("booking_id") == str(second)
    ]
    assert created == [f"invoice:{second}", f"invoice:{second}:g1"]
