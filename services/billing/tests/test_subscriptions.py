"""Joining a tier through Checkout, changing tier on a live subscription, the billing portal."""

from __future__ import annotations

import uuid

from billing_support import WEBHOOK_SECRET, outbox, post_webhook
from sqlalchemy import update

from club_billing.models import TierRule


def _price_tiers(db, stripe_fake):
    fake = stripe_fake.fake
    prices = {}
    for slug, cents in (("core", 20000), ("premium", 35000)):
        prices[slug] = fake.create_price(
            {
                "unit_amount": str(cents),
                "product": f"prod_{slug}",
                "recurring": {"interval": "month"},
                "metadata": {"tier_slug": slug},
            }
        )["id"]
        with db.transaction() as session:
            session.execute(
                update(TierRule).where(TierRule.slug == slug).values(stripe_price_id=prices[slug])
            )
    return prices


def test_join_by_checkout_then_upgrade_and_downgrade(client, auth, db, stripe_fake):
    _price_tiers(db, stripe_fake)
    email = f"joe.{uuid.uuid4().hex[:8]}@example.com"
    joined = client.post("/api/v1/billing/subscriptions", json={"tier_slug": "core"}, headers=auth(email))
    assert joined.status_code == 200, joined.get_data(as_text=True)
    body = joined.get_json()
    assert body["status"] == "checkout" and body["checkout_url"]
    again = client.post(
        "/api/v1/billing/subscriptions", json={"tier_slug": "core"}, headers=auth(email)
    ).get_json()
    assert again["checkout_session_id"] == body["checkout_session_id"]  # the same Checkout, not a second
    fake = stripe_fake.fake
    completed = fake.complete_checkout(body["checkout_session_id"])
    subscription_id = completed["data"]["object"]["subscription"]
    created = [
        e
        for e in fake.events
        if e["type"] == "customer.subscription.created" and e["data"]["object"]["id"] == subscription_id
    ]
    for event in (completed, *created):
        assert post_webhook(client, event, WEBHOOK_SECRET).status_code == 200
    [updated] = outbox(db, "billing.subscription.updated", subscription_id=subscription_id)
    assert (updated["email"], updated["stripe_status"], updated["tier_slug"]) == (email, "active", "core")
    up = client.post(
        "/api/v1/billing/subscriptions", json={"tier_slug": "premium"}, headers=auth(email)
    ).get_json()
    assert up["status"] == "upgraded"
    assert fake.objects["subscription"][subscription_id]["items"]["data"][0]["price"]["unit_amount"] == 35000
    same = client.post(
        "/api/v1/billing/subscriptions", json={"tier_slug": "core"}, headers=auth(email)
    ).get_json()
    assert same["status"] in ("downgrade_scheduled", "unchanged")
    portal = client.post("/api/v1/billing/portal-session", headers=auth(email))
    assert portal.status_code == 201 and portal.get_json()["url"].startswith("https://billing.stripe.fake/")


def test_subscription_input_is_checked(client, auth, db, stripe_fake):
    email = f"joe.{uuid.uuid4().hex[:8]}@example.com"
    assert (
        client.post(
            "/api/v1/billing/subscriptions", json={"tier_slug": "nope"}, headers=auth(email)
        ).status_code
        == 422
    )
    other = client.post(
        "/api/v1/billing/subscriptions",
        json={"tier_slug": "core", "email": "x@example.com"},
        headers=auth(email),
    )
    assert other.status_code == 403
    assert client.post("/api/v1/billing/portal-session", headers=auth(email)).status_code == 404
