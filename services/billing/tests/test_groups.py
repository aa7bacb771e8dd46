"""Billing groups at Stripe: a family member's add-on item with FAMILY20, corporate seats as the item's
quantity; answered with billing.group_item.added / .failed."""

from __future__ import annotations

import uuid

from billing_support import outbox


def _subscription(stripe_fake, email, quantity=1):
    fake = stripe_fake.fake
    customer = fake.create_customer({"email": email})["id"]
    price = fake.create_price(
        {"unit_amount": "35000", "recurring": {"interval": "month"}, "product": "prod_corp"}
    )
    return fake.create_subscription(
        {"customer": customer, "items": [{"price": price["id"], "quantity": str(quantity)}]}
    )


def _added(group_id, group_type, primary, member, subscription_id, **extra):
    return {
        "group_id": group_id,
        "group_type": group_type,
        "primary_email": primary,
        "primary_stripe_customer_id": None,
        "primary_stripe_subscription_id": subscription_id,
        "member_id": uuid.uuid4().hex,
        "member_email": member,
        "tier": "premium",
        "relationship": "spouse",
        "add_on_price_cents": 7500,
        "add_on_stripe_price_id": None,
        "seat_count": 1,
        "max_seats": None,
        **extra,
    }


def test_family_member_gets_an_add_on_item_with_family20_once(deliver, db, run_jobs, stripe_fake):
    primary, member = f"p.{uuid.uuid4().hex[:6]}@example.com", f"m.{uuid.uuid4().hex[:6]}@example.com"
    subscription = _subscription(stripe_fake, primary)
    group_id = int(uuid.uuid4().int % 1_000_000)
    deliver(
        "membership.group.member_added",
        _added(group_id, "family", primary, member, subscription["id"]),
        times=2,
    )
    run_jobs()
    [added] = outbox(db, "billing.group_item.added", member_email=member)
    items = stripe_fake.fake.objects["subscription"][subscription["id"]]["items"]["data"]
    [item] = [i for i in items if i["id"] == added["subscription_item_id"]]
    assert item["price"]["unit_amount"] == 7500 and item["discounts"] == ["FAMILY20"]
    assert stripe_fake.fake.objects["coupon"]["FAMILY20"]["percent_off"] == 20
    assert len(items) == 2  # the primary's own item and one add-on, whatever the redelivery
    removed = {
        "group_id": group_id,
        "group_type": "family",
        "primary_email": primary,
        "primary_stripe_subscription_id": subscription["id"],
        "member_id": None,
        "member_email": member,
        "stripe_subscription_item_id": added["subscription_item_id"],
        "seat_count": 0,
    }
    deliver("membership.group.member_removed", removed)
    run_jobs()
    assert len(stripe_fake.fake.objects["subscription"][subscription["id"]]["items"]["data"]) == 1


def test_a_primary_without_a_subscription_fails_the_item(deliver, db, run_jobs):
    primary, member = f"p.{uuid.uuid4().hex[:6]}@example.com", f"m.{uuid.uuid4().hex[:6]}@example.com"
    deliver("membership.group.member_added", _added(1, "family", primary, member, None))
    run_jobs()
    [failed] = outbox(db, "billing.group_item.failed", member_email=member)
    assert failed["reason"] == "the primary has no subscription"


def test_corporate_seats_are_the_item_quantity(deliver, db, run_jobs, stripe_fake):
    primary, member = f"c.{uuid.uuid4().hex[:6]}@example.com", f"s.{uuid.uuid4().hex[:6]}@example.com"
    subscription = _subscription(stripe_fake, primary, quantity=3)
    deliver(
        "membership.group.member_added",
        _added(2, "corporate", primary, member, subscription["id"], seat_count=4, max_seats=10),
    )
    run_jobs()
    [added] = outbox(db, "billing.group_item.added", member_email=member)
    assert added["quantity"] == 4
    [item] = stripe_fake.fake.objects["subscription"][subscription["id"]]["items"]["data"]
    assert item["quantity"] == 4
