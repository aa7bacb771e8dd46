"""Stripe webhooks: signatures on the raw body, one claim per event id, out-of-order delivery never
moving an object backwards, and the effect of each handled event type."""

from __future__ import annotations

import time
import uuid

import pytest
from billing_support import (
    WEBHOOK_SECRET,
    approved,
    booking_data,
    fees_of,
    member_event,
    next_id,
    outbox,
    post_webhook,
)
from sqlalchemy import select

from club_billing.models import (
    BillingCustomer,
    DiscountRule,
    StripePaymentIntent,
    StripeProduct,
    StripeTransactionCache,
    WebhookProcessedEvent,
)


def _outcome(response):
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()["outcome"]


def _claim(db, event_id):
    with db.transaction() as session:
        return session.scalars(
            select(WebhookProcessedEvent).where(WebhookProcessedEvent.event_id == event_id)
        ).first()


def _sub(sub_id, customer, status="active", **extra):
    return {
        "id": sub_id,
        "object": "subscription",
        "customer": customer,
        "status": status,
        "metadata": {"tier_slug": "premium"},
        "items": {"data": []},
        **extra,
    }


# --- signatures ----------------------------------------------------------------------------------


def test_forged_stale_and_missing_signatures_are_400(client, stripe_fake, db):
    event = stripe_fake.fake.event("customer.created", {"id": "cus_x", "object": "customer", "email": None})
    assert post_webhook(client, event, "whsec_wrong").status_code == 400
    stale = post_webhook(client, event, WEBHOOK_SECRET, timestamp=int(time.time()) - 301)
    assert stale.status_code == 400 and stale.mimetype == "application/problem+json"
    assert post_webhook(client, event, WEBHOOK_SECRET, signature="").status_code == 400
    assert post_webhook(client, event, WEBHOOK_SECRET, signature="t=1,v1=abc").status_code == 400
    assert _claim(db, event["id"]) is None  # nothing claimed, nothing changed


def test_several_v1_signatures_one_of_them_right(client, stripe_fake):
    from fakes.stripe_fake import sign

    event = stripe_fake.fake.event("customer.created", {"id": "cus_y", "object": "customer", "email": None})
    import json

    payload = json.dumps(event).encode()
    header = sign(payload, WEBHOOK_SECRET, extra_secrets=("whsec_old_rotated",))
    assert header.count("v1=") == 2
    response = client.post(
        "/api/v1/webhooks/stripe",
        data=payload,
        headers={"Stripe-Signature": header, "Content-Type": "application/json"},
    )
    assert response.status_code == 200


def test_a_body_changed_after_signing_is_refused(client, stripe_fake):
    from fakes.stripe_fake import sign

    event = stripe_fake.fake.event("customer.created", {"id": "cus_z", "object": "customer", "email": None})
    import json

    header = sign(json.dumps(event).encode(), WEBHOOK_SECRET)
    tampered = json.dumps({**event, "type": "invoice.paid"}).encode()
    response = client.post(
        "/api/v1/webhooks/stripe",
        data=tampered,
        headers={"Stripe-Signature": header, "Content-Type": "application/json"},
    )
    assert response.status_code == 400


# --- claims and ordering -------------------------------------------------------------------------


def test_example_19_subscription_events_out_of_order(client, db, stripe_fake, deliver, email):
    fake = stripe_fake.fake
    deliver(
        "membership.member.created",
        member_event(email, "premium", stripe_customer_id=f"cus_{uuid.uuid4().hex[:8]}"),
    )
    customer = fake.create_customer({"email": email})["id"]
    sub_a, sub_b = f"sub_A{uuid.uuid4().hex[:6]}", f"sub_B{uuid.uuid4().hex[:6]}"
    created_a = fake.event("customer.subscription.created", _sub(sub_a, customer))
    updated_a = fake.event("customer.subscription.updated", _sub(sub_a, customer))
    deleted_a = fake.event("customer.subscription.deleted", _sub(sub_a, customer, "canceled"))
    # the customer is known (customer.created)
    assert (
        _outcome(
            post_webhook(
                client,
                fake.event("customer.created", {"id": customer, "object": "customer", "email": email}),
                WEBHOOK_SECRET,
            )
        )
        == "processed"
    )
    assert _outcome(post_webhook(client, deleted_a, WEBHOOK_SECRET)) == "processed"
    assert _outcome(post_webhook(client, updated_a, WEBHOOK_SECRET)) == "skipped_out_of_order"
    assert _outcome(post_webhook(client, created_a, WEBHOOK_SECRET)) == "skipped_out_of_order"
    assert _outcome(post_webhook(client, deleted_a, WEBHOOK_SECRET)) == "duplicate"
    assert _claim(db, updated_a["id"]).outcome == "skipped_out_of_order"
    published = outbox(db, "billing.subscription.updated", subscription_id=sub_a)
    assert [(p["stripe_status"], p["stripe_event"]) for p in published] == [
        ("canceled", "customer.subscription.deleted")
    ]
    assert published[0]["email"] == email and published[0]["tier_slug"] == "premium"
    created_b = fake.event("customer.subscription.created", _sub(sub_b, customer))
    assert _outcome(post_webhook(client, created_b, WEBHOOK_SECRET)) == "processed"
    [b] = outbox(db, "billing.subscription.updated", subscription_id=sub_b)
    assert b["stripe_status"] == "active"
    late_failure = fake.event(
        "invoice.payment_failed",
        {
            "id": f"in_{uuid.uuid4().hex[:8]}",
            "object": "invoice",
            "customer": customer,
            "customer_email": email,
            "subscription": sub_a,
            "amount_due": 9900,
            "metadata": {},
            "lines": {"data": []},
        },
    )
    assert _outcome(post_webhook(client, late_failure, WEBHOOK_SECRET)) == "processed"
    assert not outbox(db, "billing.membership_payment.failed", subscription_id=sub_a)


def test_example_20_payments_out_of_order(client, db, stripe_fake):
    fake = stripe_fake.fake
    pi = f"pi_{uuid.uuid4().hex[:10]}"
    intent = {
        "id": pi,
        "object": "payment_intent",
        "amount": 5000,
        "amount_received": 5000,
        "status": "succeeded",
        "metadata": {},
        "customer": None,
        "receipt_email": "buyer@example.com",
    }
    assert (
        _outcome(post_webhook(client, fake.event("payment_intent.succeeded", intent), WEBHOOK_SECRET))
        == "processed"
    )

    def refunded(amount, created):
        charge = {
            "id": f"ch_{pi}",
            "object": "charge",
            "payment_intent": pi,
            "amount": 5000,
            "amount_refunded": amount,
        }
        return fake.event("charge.refunded", charge, created=created)

    base = int(time.time())
    assert _outcome(post_webhook(client, refunded(3000, base + 10), WEBHOOK_SECRET)) == "processed"
    assert _outcome(post_webhook(client, refunded(1000, base + 5), WEBHOOK_SECRET)) == "skipped_out_of_order"
    with db.transaction() as session:
        row = session.scalars(
            select(StripePaymentIntent).where(StripePaymentIntent.stripe_payment_intent_id == pi)
        ).one()
        assert (row.status, row.amount_refunded_cents) == ("partially_refunded", 3000)
    assert _outcome(post_webhook(client, refunded(5000, base + 20), WEBHOOK_SECRET)) == "processed"
    processing = fake.event("payment_intent.processing", {**intent, "status": "processing"})
    assert _outcome(post_webhook(client, processing, WEBHOOK_SECRET)) == "skipped_out_of_order"
    with db.transaction() as session:
        row = session.scalars(
            select(StripePaymentIntent).where(StripePaymentIntent.stripe_payment_intent_id == pi)
        ).one()
        assert (row.status, row.amount_refunded_cents) == ("refunded", 5000)
    assert [
        r["amount_refunded_cents"] for r in outbox(db, "billing.payment.refunded", payment_intent_id=pi)
    ] == [3000, 5000]


def test_a_handler_error_releases_the_claim_and_answers_500(client, db, stripe_fake, monkeypatch):
    from club_billing.flows import webhooks

    def boom(session, event, obj):
        raise RuntimeError("database hiccup")

    monkeypatch.setitem(webhooks.HANDLERS, "invoice.overdue", boom)
    event = stripe_fake.fake.event("invoice.overdue", {"id": "in_boom", "object": "invoice", "metadata": {}})
    response = post_webhook(client, event, WEBHOOK_SECRET)
    assert response.status_code == 500 and response.mimetype == "application/problem+json"
    assert _claim(db, event["id"]) is None
    monkeypatch.undo()
    assert _outcome(post_webhook(client, event, WEBHOOK_SECRET)) == "processed"


# --- effects -------------------------------------------------------------------------------------


def test_booking_invoice_paid_by_webhook_marks_lines_paid_once(
    client, db, auth, deliver, email, run_jobs, stripe_fake
):
    deliver("membership.member.created", member_event(email, "social"))
    booking_id = next_id()
    deliver("booking.request.approved", approved(booking_data(booking_id, email, minutes=30)))
    run_jobs()
    invoice_id = fees_of(client, auth, booking_id)["invoice"]["stripe_invoice_id"]
    fake = stripe_fake.fake
    paid = fake.pay_invoice({}, invoice_id)  # the member paid on Stripe's hosted page
    events = [e for e in fake.events if e["data"]["object"].get("id") in (invoice_id, paid["payment_intent"])]
    for event in events + events:  # every event, twice
        assert post_webhook(client, event, WEBHOOK_SECRET).status_code == 200
    body = fees_of(client, auth, booking_id)
    assert body["invoice"]["status"] == "paid" and body["participants"][0]["payment_status"] == "paid"
    assert len(outbox(db, "billing.payment.succeeded", booking_request_id=booking_id)) == 1
    assert len(outbox(db, "billing.invoice.paid", booking_request_id=booking_id)) == 1
    with db.transaction() as session:
        cached = session.scalars(
            select(StripeTransactionCache).where(StripeTransactionCache.stripe_id == invoice_id)
        ).one()
        assert cached.status == "paid" and cached.invoice_id == invoice_id


def test_payment_intent_failed_counts_and_flags_card_update(client, db, stripe_fake):
    fake = stripe_fake.fake
    email = f"fail.{uuid.uuid4().hex[:6]}@example.com"
    for n in range(3):
        intent = {
            "id": f"pi_f{n}{uuid.uuid4().hex[:6]}",
            "object": "payment_intent",
            "amount": 2500,
            "metadata": {},
            "receipt_email": email,
            "last_payment_error": {"message": "Your card was declined."},
        }
        assert (
            _outcome(
                post_webhook(client, fake.event("payment_intent.payment_failed", intent), WEBHOOK_SECRET)
            )
            == "processed"
        )
    with db.transaction() as session:
        customer = session.scalars(select(BillingCustomer).where(BillingCustomer.email == email)).one()
        assert customer.payment_failure_count == 3 and customer.requires_card_update
    assert len(outbox(db, "billing.payment.failed", member_email=email)) == 3


def test_membership_invoice_failure_and_success(client, db, stripe_fake):
    fake = stripe_fake.fake
    email = f"dee.{uuid.uuid4().hex[:6]}@example.com"
    customer = fake.create_customer({"email": email})["id"]
    sub = f"sub_{uuid.uuid4().hex[:8]}"
    post_webhook(
        client,
        fake.event("customer.created", {"id": customer, "object": "customer", "email": email}),
        WEBHOOK_SECRET,
    )
    post_webhook(client, fake.event("customer.subscription.created", _sub(sub, customer)), WEBHOOK_SECRET)
    invoice = {
        "id": f"in_{uuid.uuid4().hex[:8]}",
        "object": "invoice",
        "customer": customer,
        "customer_email": email,
        "subscription": sub,
        "amount_due": 9900,
        "amount_paid": 0,
        "metadata": {},
        "lines": {"data": []},
    }
    assert (
        _outcome(post_webhook(client, fake.event("invoice.payment_failed", invoice), WEBHOOK_SECRET))
        == "processed"
    )
    [failed] = outbox(db, "billing.membership_payment.failed", subscription_id=sub)
    assert failed["email"] == email and failed["failure_count"] == 1
    with db.transaction() as session:
        row = session.scalars(select(BillingCustomer).where(BillingCustomer.email == email)).one()
        assert row.grace_period_start is not None
    succeeded = fake.event(
        "invoice.payment_succeeded", {**invoice, "id": invoice["id"] + "b", "amount_paid": 9900}
    )
    assert _outcome(post_webhook(client, succeeded, WEBHOOK_SECRET)) == "processed"
    [ok] = outbox(db, "billing.membership_payment.succeeded", subscription_id=sub)
    assert ok["amount_cents"] == 9900
    with db.transaction() as session:
        row = session.scalars(select(BillingCustomer).where(BillingCustomer.email == email)).one()
        assert row.grace_period_start is None and row.payment_failure_count == 0


@pytest.mark.parametrize(
    ("event_type", "verb", "status", "outcome"),
    [
        ("charge.dispute.created", "opened", "needs_response", None),
        ("charge.dispute.updated", "updated", "under_review", None),
        ("charge.dispute.closed", "closed", "won", "won"),
        ("charge.dispute.closed", "closed", "lost", "lost"),
    ],
)
def test_disputes(client, db, stripe_fake, event_type, verb, status, outcome):
    dispute = {
        "id": f"dp_{uuid.uuid4().hex[:8]}",
        "object": "dispute",
        "charge": "ch_1",
        "payment_intent": None,
        "amount": 2500,
        "reason": "fraudulent",
        "status": status,
    }
    assert (
        _outcome(post_webhook(client, stripe_fake.fake.event(event_type, dispute), WEBHOOK_SECRET))
        == "processed"
    )
    [published] = outbox(db, f"billing.dispute.{verb}", dispute_id=dispute["id"])
    assert published["outcome"] == outcome and published["stripe_status"] == status


def test_a_new_fee_price_applies_at_once(client, db, auth, deliver, stripe_fake, email):
    fake = stripe_fake.fake
    price = {
        "id": f"price_{uuid.uuid4().hex[:8]}",
        "object": "price",
        "product": "prod_overage",
        "unit_amount": 3000,
        "active": True,
        "lookup_key": "simulator-overage-30min",
        "metadata": {},
    }
    try:
        assert (
            _outcome(post_webhook(client, fake.event("price.created", price), WEBHOOK_SECRET)) == "processed"
        )
        [updated] = outbox(db, "billing.product.updated", stripe_price_id=price["id"])
        assert updated["slug"] == "simulator-overage-30min" and updated["price_cents"] == 3000
        deliver("membership.member.created", member_event(email, "social"))
        booking_id = next_id()
        deliver("booking.request.approved", approved(booking_data(booking_id, email, minutes=60)))
        assert fees_of(client, auth, booking_id)["total_cents"] == 6000
    finally:
        with db.transaction() as session:
            product = session.scalars(
                select(StripeProduct).where(StripeProduct.slug == "simulator-overage-30min")
            ).one()
            product.price_cents = 2500


def test_coupon_events_keep_discount_rules(client, db, stripe_fake):
    coupon = {"id": "FAMILY_20PCT", "object": "coupon", "percent_off": 20, "name": "Family 20%"}
    assert (
        _outcome(post_webhook(client, stripe_fake.fake.event("coupon.created", coupon), WEBHOOK_SECRET))
        == "processed"
    )
    with db.transaction() as session:
        rule = session.scalars(select(DiscountRule).where(DiscountRule.discount_tag == "FAMILY")).one()
        assert (rule.discount_percent, rule.stripe_coupon_id, rule.is_active) == (20, "FAMILY_20PCT", True)


def test_checkout_completed_publishes_its_purpose(client, db, stripe_fake):
    fake = stripe_fake.fake
    session = fake.create_checkout_session(
        {
            "mode": "payment",
            "customer_email": "new@example.com",
            "metadata": {"purpose": "activation_link", "member_id": "m1"},
            "line_items": [{"price_data": {"unit_amount": "0"}, "quantity": "1"}],
        }
    )
    event = fake.complete_checkout(session["id"])
    assert _outcome(post_webhook(client, event, WEBHOOK_SECRET)) == "processed"
    [completed] = outbox(db, "billing.checkout.completed", checkout_session_id=session["id"])
    assert completed["purpose"] == "activation_link" and completed["metadata"]["member_id"] == "m1"


def test_unknown_event_types_are_claimed_and_acknowledged(client, db, stripe_fake):
    event = stripe_fake.fake.event(
        "radar.early_fraud_warning.created", {"id": "issfr_1", "object": "radar.early_fraud_warning"}
    )
    assert _outcome(post_webhook(client, event, WEBHOOK_SECRET)) == "processed"
    assert _outcome(post_webhook(client, event, WEBHOOK_SECRET)) == "duplicate"


def test_add_funds_credits_the_customer_balance_once(client, db, stripe_fake, run_jobs):
    fake = stripe_fake.fake
    email = f"funds.{uuid.uuid4().hex[:6]}@example.com"
    customer = fake.create_customer({"email": email})["id"]
    session = fake.create_checkout_session(
        {
            "mode": "payment",
            "customer": customer,
            "customer_email": email,
            "metadata": {"purpose": "add_funds"},
            "line_items": [{"price_data": {"unit_amount": "10000"}, "quantity": "1"}],
        }
    )
    event = fake.complete_checkout(session["id"])
    for _ in range(2):
        assert post_webhook(client, event, WEBHOOK_SECRET).status_code == 200
    run_jobs()
    assert fake.objects["customer"][customer]["balance"] == -10000
    [notice] = [
        n for n in outbox(db, "billing.notification.requested", email=email) if n["type"] == "funds_added"
    ]
    assert "$100.00" in notice["message"]
