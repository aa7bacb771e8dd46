"""Day passes: Checkout for non-members, the purchase recorded once per payment intent from the
webhook, redemption at the front desk (atomic, once per club date), refunds of active passes."""

from __future__ import annotations

import threading
import uuid

from billing_support import WEBHOOK_SECRET, fake_requests, outbox, post_webhook
from sqlalchemy import func, select, update

from club_billing.models import DayPassPurchase, PassRedemptionLog

STAFF = "desk@club.example"


def _buy(client, stripe_fake, email, *, quantity=1, product="day-pass-golf-sim"):
    response = client.post(
        "/api/v1/day-passes/checkout",
        json={
            "email": email,
            "name": "Vic Visitor",
            "phone": "555-0100",
            "product": product,
            "quantity": quantity,
        },
    )
    assert response.status_code == 201, response.get_data(as_text=True)
    body = response.get_json()
    assert body["checkout_url"].startswith("https://checkout.stripe.fake/")
    event = stripe_fake.fake.complete_checkout(
        body["checkout_session_id"], name="Vic Visitor", phone="555-0100"
    )
    return body, event


def _pass_of(db, email):
    with db.transaction() as session:
        return session.scalars(select(DayPassPurchase).where(DayPassPurchase.email == email)).all()


def test_purchase_recorded_once_per_payment_intent(client, db, stripe_fake):
    email = f"vic.{uuid.uuid4().hex[:8]}@example.com"
    body, event = _buy(client, stripe_fake, email)
    assert body["amount_cents"] == 5000
    for _ in range(2):
        assert post_webhook(client, event, WEBHOOK_SECRET).status_code == 200
    again = {**event, "id": "evt_" + uuid.uuid4().hex, "type": "checkout.session.async_payment_succeeded"}
    assert post_webhook(client, again, WEBHOOK_SECRET).status_code == 200
    [purchase] = _pass_of(db, email)
    assert (purchase.status, purchase.remaining_uses, purchase.price_cents) == ("active", 1, 5000)
    assert (
        purchase.phone == "555-0100"
        and purchase.stripe_payment_intent_id == event["data"]["object"]["payment_intent"]
    )
    [published] = outbox(db, "billing.day_pass.purchased", email=email)
    assert published["qr_code"] == f"DAYPASS:{purchase.id}"


def test_redeem_once_per_club_day_until_exhausted(client, db, auth, stripe_fake):
    email = f"vic.{uuid.uuid4().hex[:8]}@example.com"
    _body, event = _buy(client, stripe_fake, email, quantity=2)
    post_webhook(client, event, WEBHOOK_SECRET)
    [purchase] = _pass_of(db, email)
    url = f"/api/v1/day-passes/DAYPASS:{purchase.id}/redeem"
    first = client.post(url, json={}, headers=auth(STAFF, "staff"))
    assert first.status_code == 200 and first.get_json()["remaining_uses"] == 1
    second = client.post(url, json={}, headers=auth(STAFF, "staff"))
    assert second.status_code == 409 and second.get_json()["code"] == "ALREADY_REDEEMED_TODAY"
    with db.transaction() as session:  # as if the first use was yesterday
        session.execute(
            update(DayPassPurchase)
            .where(DayPassPurchase.id == purchase.id)
            .values(last_redeemed_on=DayPassPurchase.last_redeemed_on - 1)
        )
        session.execute(
            update(PassRedemptionLog)
            .where(PassRedemptionLog.purchase_id == purchase.id)
            .values(club_date=PassRedemptionLog.club_date - 1)
        )
    last = client.post(url, json={"location": "bay_3"}, headers=auth(STAFF, "staff"))
    assert last.status_code == 200 and last.get_json()["status"] == "exhausted"
    with db.transaction() as session:
        logs = session.scalars(
            select(PassRedemptionLog).where(PassRedemptionLog.purchase_id == purchase.id)
        ).all()
    assert [(log.reason, log.quantity, log.redeemed_by) for log in logs] == [
        ("day_pass_redeemed", -1, STAFF)
    ] * 2
    assert len(outbox(db, "billing.day_pass.redeemed", purchase_id=purchase.id)) == 2
    refused = client.post(f"/api/v1/day-passes/{purchase.id}/refund", headers=auth(STAFF, "staff"))
    assert refused.status_code == 409  # only active passes are refunded


def test_two_desks_racing_redeem_once(client, db, auth, stripe_fake, app):
    email = f"vic.{uuid.uuid4().hex[:8]}@example.com"
    _body, event = _buy(client, stripe_fake, email)
    post_webhook(client, event, WEBHOOK_SECRET)
    [purchase] = _pass_of(db, email)
    codes = []

    def desk():
        with app.test_client() as own:
            codes.append(
                own.post(
                    f"/api/v1/day-passes/{purchase.id}/redeem", json={}, headers=auth(STAFF, "staff")
                ).status_code
            )

    threads = [threading.Thread(target=desk) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(codes) == [200, 409, 409, 409]


def test_refund_an_active_pass_once(client, db, auth, stripe_fake, run_jobs):
    email = f"vic.{uuid.uuid4().hex[:8]}@example.com"
    _body, event = _buy(client, stripe_fake, email, product="day-pass-coworking")
    post_webhook(client, event, WEBHOOK_SECRET)
    [purchase] = _pass_of(db, email)
    for _ in range(2):
        response = client.post(f"/api/v1/day-passes/{purchase.id}/refund", headers=auth(STAFF, "staff"))
        assert response.status_code == 200 and response.get_json()["status"] == "refunded"
    run_jobs()
    pi = purchase.stripe_payment_intent_id
    refunds = [
        r for r in fake_requests(stripe_fake, "/v1/refunds") if r["params"].get("payment_intent") == pi
    ]
    assert (
        len({r["idempotency_key"] for r in refunds}) == 1 and refunds[0]["idempotency_key"] == f"refund:{pi}"
    )
    assert len(outbox(db, "billing.day_pass.refunded", purchase_id=purchase.id)) == 1
    redeem = client.post(f"/api/v1/day-passes/{purchase.id}/redeem", json={}, headers=auth(STAFF, "staff"))
    assert redeem.status_code == 409 and redeem.get_json()["code"] == "PASS_REFUNDED"


def test_checkout_input_is_validated(client, db):
    with db.transaction() as session:
        before = session.scalar(select(func.count()).select_from(DayPassPurchase))
    bad = client.post("/api/v1/day-passes/checkout", json={"email": "not-an-email", "name": ""})
    assert bad.status_code == 422 and bad.mimetype == "application/problem+json"
    unknown = client.post(
        "/api/v1/day-passes/checkout", json={"email": "a@example.com", "name": "A", "product": "x"}
    )
    assert unknown.status_code == 422
    with db.transaction() as session:
        assert session.scalar(select(func.count()).select_from(DayPassPurchase)) == before
