"""What goes to HubSpot and what comes back (domain.md §8.2), against the fake HubSpot: deal stages
and line items, payments, day passes, companies; the daily member sync."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from club_integrations.models import HubspotDeal, HubspotLineItem, HubspotProductMapping

PT = ZoneInfo("America/Los_Angeles")
pytestmark = pytest.mark.usefixtures("empty_queue")


def email() -> str:
    return f"m.{uuid.uuid4().hex[:8]}@example.com"


def run_queue(hubspot_jobs, clock):
    clock.set(clock.now + timedelta(minutes=2))
    return hubspot_jobs.queue_worker().run_once()


@pytest.fixture
def core_mapping(db):
    product = f"prod-{uuid.uuid4().hex[:6]}"
    with db.transaction() as session:
        for row in session.scalars(
            select(HubspotProductMapping).where(HubspotProductMapping.tier_slug == "vip")
        ):
            row.is_active = False
        session.add(
            HubspotProductMapping(
                hubspot_product_id=product,
                internal_product_type="membership",
                tier_slug="vip",
                product_name="VIP Membership",
                unit_price_cents=50000,
                billing_frequency="monthly",
            )
        )
    return product


def test_status_moves_the_deal_and_lost_deals_lose_their_line_items(
    deliver, member, hubspot_fake, hubspot_jobs, clock, db, core_mapping
):
    ann = member(email(), tier="vip", status="active")
    contact = hubspot_fake.add("contacts", {"email": ann["email"]})
    deal = hubspot_fake.add(
        "deals", {"dealname": "Ann VIP", "dealstage": "closedwon", "amount": "500"}, contacts=[contact]
    )
    old_item = hubspot_fake.add("line_items", {"name": "Old product", "hs_product_id": "old"}, deals=[deal])

    deliver(
        "membership.member.status_changed",
        {**ann, "status": "terminated", "old_status": "active", "new_status": "terminated"},
    )
    assert run_queue(hubspot_jobs, clock).completed == 1
    assert hubspot_fake.objects["deals"][deal]["properties"]["dealstage"] == "closedlost"
    assert hubspot_fake.objects["line_items"][old_item]["archived"] is True
    assert hubspot_fake.contact(ann["email"])["properties"]["membership_status"] == "Terminated"
    with db.transaction() as session:
        mirror = session.scalar(select(HubspotDeal).where(HubspotDeal.hubspot_deal_id == deal))
    assert (mirror.stage, mirror.stage_name, mirror.member_email) == (
        "closedlost",
        "closed_lost",
        ann["email"],
    )

    # active again: closed won, with the tier's membership product as its line item (once)
    deliver(
        "membership.member.status_changed",
        {**ann, "status": "active", "old_status": "terminated", "new_status": "active"},
    )
    run_queue(hubspot_jobs, clock)
    assert hubspot_fake.objects["deals"][deal]["properties"]["dealstage"] == "closedwon"
    items = [i for i in hubspot_fake.objects["line_items"].values() if not i["archived"]]
    assert [i["properties"]["hs_product_id"] for i in items] == [core_mapping]
    assert items[0]["properties"]["price"] == "500.00"
    with db.transaction() as session:
        mirror = session.scalar(select(HubspotDeal).where(HubspotDeal.hubspot_deal_id == deal))
        line_items = session.scalars(
            select(HubspotLineItem).where(HubspotLineItem.hubspot_deal_id == deal)
        ).all()
    assert mirror.stage_name == "closed_won" and mirror.last_payment_status == "current"
    assert [(li.hubspot_product_id, li.status, li.unit_price_cents) for li in line_items] == [
        (core_mapping, "synced", 50000)
    ]


@pytest.mark.parametrize(
    ("status", "stage"),
    [
        ("pending", "2825519820"),
        ("past_due", "2825519820"),
        ("frozen", "2825519820"),
        ("cancelled", "closedlost"),
        ("non-member", "closedlost"),
    ],
)
def test_deal_stages_by_status(status, stage):
    from club_integrations.domain import hubspot as rules
    from club_integrations.domain.settings import DEFAULTS

    assert rules.deal_stage(status, DEFAULTS["hubspot.deal_stages"])[1] == stage


def test_no_deal_is_ever_created(deliver, member, hubspot_fake, hubspot_jobs, clock):
    ann = member(email(), status="active")
    deliver(
        "membership.member.tier_changed",
        {**ann, "tier": "vip", "old_tier": "core", "new_tier": "vip", "direction": "upgrade"},
    )
    run_queue(hubspot_jobs, clock)
    assert hubspot_fake.objects["deals"] == {}
    assert hubspot_fake.contact(ann["email"])["properties"]["membership_tier"] == "VIP Membership"


def test_membership_payments_mark_the_deal(deliver, member, hubspot_fake, hubspot_jobs, clock, db):
    ann = member(email())
    contact = hubspot_fake.add("contacts", {"email": ann["email"]})
    deal = hubspot_fake.add("deals", {"dealname": "Ann", "dealstage": "closedwon"}, contacts=[contact])
    payment = {
        "email": ann["email"],
        "customer_id": "cus_1",
        "subscription_id": "sub_1",
        "invoice_id": "in_1",
        "amount_cents": 25000,
        "tier_slug": "core",
        "occurred_at": clock.now.isoformat(),
    }
    deliver("billing.membership_payment.failed", payment)
    run_queue(hubspot_jobs, clock)
    assert hubspot_fake.objects["deals"][deal]["properties"]["last_payment_status"] == "failed"
    with db.transaction() as session:
        assert (
            session.scalar(select(HubspotDeal.last_payment_status).where(HubspotDeal.hubspot_deal_id == deal))
            == "failed"
        )


def test_a_day_pass_buyer_becomes_a_contact_and_their_tour_deal_moves_on(
    deliver, hubspot_fake, hubspot_jobs, clock
):
    buyer = email()
    contact = hubspot_fake.add("contacts", {"email": buyer})
    deal = hubspot_fake.add("deals", {"dealname": "Visit", "dealstage": "2413968103"}, contacts=[contact])
    deliver(
        "billing.day_pass.purchased",
        {
            "purchase_id": "dp_1" + uuid.uuid4().hex[:4],
            "email": buyer,
            "name": "Val Visitor",
            "phone": None,
            "product_type": "day_pass",
            "price_cents": 5000,
            "quantity": 1,
            "remaining_uses": 1,
            "status": "active",
            "expires_at": None,
            "payment_intent_id": "pi_" + uuid.uuid4().hex[:8],
            "qr_code": "DAYPASS:1",
        },
    )
    run_queue(hubspot_jobs, clock)
    assert hubspot_fake.objects["deals"][deal]["properties"]["dealstage"] == "2414796537"
    assert hubspot_fake.contact(buyer)["properties"]["firstname"] == "Val"


def test_corporate_groups_find_or_create_their_company(deliver, hubspot_fake, hubspot_jobs, clock):
    primary = f"boss@{uuid.uuid4().hex[:6]}.example.com"
    hubspot_fake.add("contacts", {"email": primary})
    group = {
        "group_id": 7,
        "type": "corporate",
        "primary_email": primary,
        "group_name": None,
        "company_name": "Acme Golf",
        "max_seats": 10,
        "is_active": True,
        "primary_stripe_customer_id": None,
        "primary_stripe_subscription_id": None,
        "members": [],
    }
    deliver("membership.group.updated", group)
    run_queue(hubspot_jobs, clock)
    [company] = [
        c for c in hubspot_fake.objects["companies"].values() if c["properties"]["name"] == "Acme Golf"
    ]
    assert company["properties"]["domain"] == primary.rpartition("@")[2]
    deliver("membership.group.updated", {**group, "max_seats": 12})  # same name: no second company
    run_queue(hubspot_jobs, clock)
    assert (
        len([c for c in hubspot_fake.objects["companies"].values() if c["properties"]["name"] == "Acme Golf"])
        == 1
    )


def test_member_sync_publishes_what_changed(member, hubspot_fake, hubspot_jobs, clock, outbox):
    ann = member(email(), first_name="Ann")
    hubspot_fake.add(
        "contacts",
        {
            "email": ann["email"].upper(),
            "firstname": "Annie",
            "phone": "+1 555 0199",
            "hs_sms_opt_in": "true",
            "hs_additional_emails": f"ann.old@example.com;{ann['email']}",
            "hs_content_membership_notes": "Prefers bay 3",
            "membership_status": "Suspended",  # never read
        },
    )
    hubspot_fake.add("contacts", {"email": email(), "firstname": "Not a member"})
    hubspot_jobs.hubspot_member_sync(None, {})
    [update] = outbox("integrations.hubspot.contact_updated", email=ann["email"])
    assert update["profile"] == {"first_name": "Annie", "phone": "+1 555 0199"}
    assert update["opt_ins"] == {"sms_opt_in": True}
    assert update["merged_emails"] == ["ann.old@example.com"]
    assert update["note"] == "Prefers bay 3" and len(update["note_hash"]) == 64
    assert "status" not in update["profile"] and "tier" not in update["profile"]

    hubspot_jobs.hubspot_member_sync(None, {})  # nothing changed: nothing published
    assert len(outbox("integrations.hubspot.contact_updated", email=ann["email"])) == 1
    hubspot_fake.contact(ann["email"])["properties"]["hs_content_membership_notes"] = "Prefers bay 4"
    hubspot_jobs.hubspot_member_sync(None, {})
    notes = [u["note"] for u in outbox("integrations.hubspot.contact_updated", email=ann["email"])]
    assert notes == ["Prefers bay 3", "Prefers bay 4"]


def test_member_sync_pages_and_runs_daily_at_03_00(
    member, hubspot_fake, hubspot_runtime, clock, sleeps, outbox
):
    from club_integrations.jobs import make_jobs

    people = [member(email()) for _ in range(3)]
    for i in range(150):  # two pages of 100
        hubspot_fake.add("contacts", {"email": f"other{i}.{uuid.uuid4().hex[:4]}@example.com"})
    for person in people:
        hubspot_fake.add("contacts", {"email": person["email"], "phone": "+1 555 0000"})
    runner = make_jobs(hubspot_runtime, clock, sleep=sleeps)
    day = datetime(2027, 2, 1, 2, 59, tzinfo=PT)
    assert "hubspot_member_sync" not in runner.fire_due(day)
    assert "hubspot_member_sync" in runner.fire_due(day + timedelta(minutes=1))
    while runner.run_due():
        pass
    synced = {u["email"] for u in outbox("integrations.hubspot.contact_updated")}
    assert {p["email"] for p in people} <= synced
    assert any(c.query.get("after") for c in hubspot_fake.calls if c.path == "/crm/v3/objects/contacts")


def test_product_mappings_api(make_app, hubspot_settings, auth):
    client = make_app(**hubspot_settings).test_client()
    product = f"p-{uuid.uuid4().hex[:6]}"
    saved = client.put(
        "/api/v1/hubspot/product-mappings",
        json={
            "hubspot_product_id": product,
            "internal_product_type": "fee",
            "product_name": "Overage",
            "unit_price_cents": 2500,
            "billing_frequency": "one_time",
        },
        headers=auth(),
    )
    assert saved.status_code == 200 and saved.get_json()["unit_price_cents"] == 2500
    bad = client.put(
        "/api/v1/hubspot/product-mappings",
        json={"hubspot_product_id": "x", "internal_product_type": "gift"},
        headers=auth(),
    )
    assert bad.status_code == 422
    listed = client.get("/api/v1/hubspot/product-mappings?limit=500", headers=auth()).get_json()
    assert product in [m["hubspot_product_id"] for m in listed]
    assert (
        client.delete(
            f"/api/v1/hubspot/product-mappings/{saved.get_json()['id']}", headers=auth()
        ).status_code
        == 204
    )


def test_a_deal_amount_is_integer_cents():
    from decimal import Decimal

    from club_integrations.models import HubspotDeal

    assert HubspotDeal(amount=Decimal("500.00")).amount_cents == 50000
    assert HubspotDeal(amount=Decimal("12.34")).amount_cents == 1234
    assert HubspotDeal(amount=None).amount_cents is None
