"""Without a Stripe key the service starts, says which features are off, answers 503 problem+json
for card payments, and cash and waivers still work."""

from __future__ import annotations

import logging

import pytest
from billing_support import approved, booking_data, member_event, next_id

from club_shared.bus import Delivery, Message
from club_shared.events import make_event
from club_shared.worker import make_consumer

STAFF = "desk@club.example"


@pytest.fixture(scope="module")
def off_runtime(service_runtime):
    return service_runtime("billing", stripe_secret_key=None, stripe_webhook_secret=None)


@pytest.fixture(scope="module")
def off_app(off_runtime):
    from club_billing.app import create_app

    return create_app(runtime=off_runtime)


def test_card_features_are_off_but_cash_and_waivers_work(off_runtime, off_app, auth, caplog):
    from club_billing.handlers import HANDLERS
    from club_billing.jobs import make_jobs

    client = off_app.test_client()
    status = client.get("/api/v1/billing/status", headers=auth(STAFF, "staff")).get_json()
    assert status["stripe_enabled"] is False and "card payments" in status["features_off"]
    assert "Stripe webhooks" in status["features_off"]
    consumer = make_consumer(off_runtime, HANDLERS)
    email = f"off.{next_id()}@example.com"
    booking_id = next_id()
    for event_type, data in (
        ("membership.member.created", member_event(email, "social")),
        ("booking.request.approved", approved(booking_data(booking_id, email, minutes=60))),
    ):
        event = make_event(event_type, data, producer=event_type.split(".")[0])
        consumer.handle_batch([Delivery(Message(event.type, event.to_json(), str(event.event_id)), 0)])
    with caplog.at_level(logging.WARNING):
        runner = make_jobs(off_runtime)
    assert any("Stripe features are off" in r.getMessage() for r in caplog.records)
    while runner.run_due():
        pass
    pay = client.post(f"/api/v1/payments/booking-requests/{booking_id}/pay", headers=auth(email))
    assert pay.status_code == 503 and pay.mimetype == "application/problem+json"
    assert pay.get_json()["code"] == "PAYMENTS_UNAVAILABLE"
    checkout = client.post("/api/v1/day-passes/checkout", json={"email": "v@example.com", "name": "V"})
    assert checkout.status_code == 503
    hook = client.post(
        "/api/v1/webhooks/stripe",
        data=b"{}",
        headers={"Stripe-Signature": "t=1,v1=x", "Content-Type": "application/json"},
    )
    assert hook.status_code == 503
    key = f"p{booking_id * 10 + 1}"
    cash = client.post(
        f"/api/v1/payments/booking-requests/{booking_id}/lines/{key}/cash",
        json={},
        headers=auth(STAFF, "staff"),
    )
    assert cash.status_code == 200 and cash.get_json()["payment_status"] == "paid"
    fees = client.get(f"/api/v1/fees/booking-requests/{booking_id}", headers=auth(email)).get_json()
    assert fees["owed_cents"] == 0 and fees["invoice"]["stripe_invoice_id"] is None


def test_development_defaults_the_webhook_secret(settings_for):
    from dataclasses import replace

    from club_billing.stripe_gateway import DEV_WEBHOOK_SECRET, StripeGateway

    dev = replace(settings_for("billing"), env="development", stripe_webhook_secret=None)
    assert StripeGateway(dev).webhook_secret == DEV_WEBHOOK_SECRET == "whsec_clubhouse_dev"
    prod = replace(dev, env="production")
    assert StripeGateway(prod).webhook_secret is None
