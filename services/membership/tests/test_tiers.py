"""Tiers: the seed of domain.md §2.1, admin changes with every limit in the events, the comparison
table with typed values, and a tier with members that cannot be deleted."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select

from club_membership.models import MembershipTier, TierFeatureValue
from club_shared.events.membership import Tier as TierEvent

SEED = {
    # slug: (rank, sim minutes, guest passes, window days, conference minutes, unlimited)
    "social": (1, 0, 0, 7, 0, False),
    "core": (2, 60, 4, 7, 60, False),
    "premium": (3, 90, 8, 10, 90, False),
    "corporate": (4, 90, 8, 10, 90, False),
    "vip": (5, 999, 15, 14, 999, True),
}


def test_the_seed_tiers_are_those_of_the_rules(client):
    tiers = {t["slug"]: t for t in client.get("/api/v1/tiers").get_json()}
    assert set(SEED) <= set(tiers)
    for slug, (rank, sim, passes, window, conf, unlimited) in SEED.items():
        tier = tiers[slug]
        assert (
            tier["rank"],
            tier["daily_sim_minutes"],
            tier["guest_passes_per_period"],
            tier["booking_window_days"],
            tier["daily_conf_room_minutes"],
            tier["unlimited_access"],
        ) == (rank, sim, passes, window, conf, unlimited), slug
        assert tier["guest_fee_cents"] == 2500
        assert tier["can_book_simulators"] and tier["can_book_conference"] and tier["can_book_wellness"]
    assert tiers["vip"]["unlimited_sim_minutes"] and not tiers["premium"]["unlimited_sim_minutes"]


def test_the_seed_published_every_tier_with_every_limit(outbox):
    created = {e["slug"]: e for e in outbox("membership.tier.created")}
    assert set(SEED) <= set(created)
    limit_fields = set(TierEvent().fields)
    for event in created.values():
        assert set(event) == limit_fields


def test_a_founding_slug_reads_as_its_tier(client):
    assert client.get("/api/v1/tiers/core-founding").get_json()["slug"] == "core"
    assert client.get("/api/v1/tiers/nope").status_code == 404


def _new_tier(client, admin, **extra):
    slug = f"t-{uuid.uuid4().hex[:8]}"
    body = {"name": f"Tier {slug}", "slug": slug, "rank": 9, "daily_sim_minutes": 30, **extra}
    response = client.post("/api/v1/tiers", headers=admin.headers, json=body)
    assert response.status_code == 201, response.get_data(as_text=True)
    return response.get_json()


def test_admin_creates_and_changes_a_tier_and_the_events_carry_every_limit(client, admin, outbox):
    tier = _new_tier(client, admin, guest_passes_per_period=2)
    assert (tier["booking_window_days"], tier["guest_fee_cents"]) == (7, 2500)
    changed = client.patch(
        f"/api/v1/tiers/{tier['slug']}",
        headers=admin.headers,
        json={"daily_conf_room_minutes": 45, "can_book_wellness": False},
    )
    assert changed.status_code == 200
    [created] = outbox("membership.tier.created", slug=tier["slug"])
    [updated] = outbox("membership.tier.updated", slug=tier["slug"])
    assert created["guest_passes_per_period"] == 2
    assert (updated["daily_conf_room_minutes"], updated["can_book_wellness"]) == (45, False)
    assert set(updated) == set(TierEvent().fields)


def test_a_slug_cannot_change_and_bad_limits_are_refused(client, admin, problem, db):
    tier = _new_tier(client, admin)
    problem(client.patch(f"/api/v1/tiers/{tier['slug']}", headers=admin.headers, json={"slug": "other"}), 422)
    problem(
        client.patch(f"/api/v1/tiers/{tier['slug']}", headers=admin.headers, json={"daily_sim_minutes": -1}),
        422,
    )
    problem(
        client.patch(
            f"/api/v1/tiers/{tier['slug']}", headers=admin.headers, json={"booking_window_days": 400}
        ),
        422,
    )
    problem(
        client.patch(
            f"/api/v1/tiers/{tier['slug']}", headers=admin.headers, json={"guest_fee_cents": "2500"}
        ),
        422,
    )
    problem(
        client.post("/api/v1/tiers", headers=admin.headers, json={"name": "X", "slug": "Has Spaces"}), 422
    )
    problem(
        client.post("/api/v1/tiers", headers=admin.headers, json={"name": "X", "slug": "core-founding"}), 422
    )
    problem(
        client.post("/api/v1/tiers", headers=admin.headers, json={"name": "Core", "slug": "core2"}),
        409,
        "TIER_EXISTS",
    )
    with db() as session:
        row = session.scalar(select(MembershipTier).where(MembershipTier.slug == tier["slug"]))
        assert (row.daily_sim_minutes, row.booking_window_days) == (30, 7)


def test_a_tier_with_members_cannot_be_deleted(client, admin, make_member, problem, outbox):
    tier = _new_tier(client, admin)
    ann = make_member(tier=tier["slug"])
    body = problem(client.delete(f"/api/v1/tiers/{tier['slug']}", headers=admin.headers), 409, "TIER_IN_USE")
    assert body["members"] == 1
    client.put(f"/api/v1/members/{ann.id}/tier", headers=admin.headers, json={"tier": "core"})
    assert client.delete(f"/api/v1/tiers/{tier['slug']}", headers=admin.headers).status_code == 204
    assert client.get(f"/api/v1/tiers/{tier['slug']}").status_code == 404
    assert outbox("membership.tier.deleted", slug=tier["slug"]) == [
        {"tier_id": tier["id"], "slug": tier["slug"]}
    ]


def test_stripe_managed_limits_are_read_only(client, admin, problem):
    tier = _new_tier(client, admin, limits_source="stripe")
    body = problem(
        client.patch(f"/api/v1/tiers/{tier['slug']}", headers=admin.headers, json={"daily_sim_minutes": 60}),
        409,
        "LIMITS_FROM_STRIPE",
    )
    assert body["fields"] == ["daily_sim_minutes"]
    assert (
        client.patch(
            f"/api/v1/tiers/{tier['slug']}", headers=admin.headers, json={"description": "ok"}
        ).status_code
        == 200
    )


def test_the_comparison_table_shows_bound_columns_and_typed_values(client):
    table = client.get("/api/v1/tiers/comparison").get_json()
    assert [t["slug"] for t in table["tiers"]][:5] == ["social", "core", "premium", "corporate", "vip"]
    rows = {row["feature_key"]: row["values"] for row in table["features"]}
    assert rows["daily_golf_time"]["core"] == 60 and rows["daily_golf_time"]["vip"] == "unlimited"
    assert rows["guest_passes"]["vip"] == 15 and rows["booking_window"]["premium"] == 10
    assert rows["golf_simulators"]["social"] is True
    assert rows["lounge_access"]["social"] is False and rows["lounge_access"]["core"] is True
    expected = {
        "daily_golf_time",
        "guest_passes",
        "booking_window",
        "cafe_bar_access",
        "lounge_access",
        "work_desks",
        "golf_simulators",
        "putting_green",
        "member_events",
        "conference_room",
        "group_lessons",
        "extended_sessions",
        "private_lessons",
        "sim_guest_passes",
        "discounted_merch",
    }
    assert expected <= set(rows)


def test_feature_values_are_typed_and_bound_features_take_none(client, admin, problem, db):
    key = f"f_{uuid.uuid4().hex[:8]}"
    feature = client.post(
        "/api/v1/tier-features",
        headers=admin.headers,
        json={"feature_key": key, "display_label": "Towels", "value_type": "number"},
    ).get_json()
    url = f"/api/v1/tier-features/{feature['id']}/values/core"
    assert client.put(url, headers=admin.headers, json={"value": 2.5}).get_json()["value"] == 2.5
    assert client.put(url, headers=admin.headers, json={"value": "3"}).get_json()["value"] == 3
    problem(client.put(url, headers=admin.headers, json={"value": True}), 422)
    problem(client.put(url, headers=admin.headers, json={"value": "many"}), 422)
    problem(client.put(url, headers=admin.headers, json={"value": 1e30}), 422)
    with db() as session:
        row = session.scalar(select(TierFeatureValue).where(TierFeatureValue.feature_id == feature["id"]))
        assert (row.value, float(row.value_number)) == ("3", 3.0)
    problem(
        client.patch(
            f"/api/v1/tier-features/{feature['id']}", headers=admin.headers, json={"value_type": "text"}
        ),
        409,
        "FEATURE_HAS_VALUES",
    )
    bound = next(
        f for f in client.get("/api/v1/tier-features").get_json() if f["feature_key"] == "daily_golf_time"
    )
    assert bound["bound_column"] == "daily_sim_minutes"
    problem(
        client.put(
            f"/api/v1/tier-features/{bound['id']}/values/core", headers=admin.headers, json={"value": 5}
        ),
        409,
        "FEATURE_BOUND",
    )
    problem(
        client.post(
            "/api/v1/tier-features",
            headers=admin.headers,
            json={"feature_key": key, "display_label": "Again"},
        ),
        409,
    )


def test_family_add_on_prices(client, admin, outbox, problem):
    prices = {p["tier"]: p["price_cents"] for p in client.get("/api/v1/family-add-ons").get_json()}
    assert prices["core"] == 7500 and "corporate" not in prices
    tier = _new_tier(client, admin)
    response = client.put(
        f"/api/v1/family-add-ons/{tier['slug']}", headers=admin.headers, json={"price_cents": 6000}
    )
    assert response.get_json()["price_cents"] == 6000
    assert outbox("membership.tier.updated", slug=tier["slug"])[-1]["family_add_on_price_cents"] == 6000
    problem(
        client.put("/api/v1/family-add-ons/corporate", headers=admin.headers, json={"price_cents": 1}), 409
    )
    problem(
        client.put(f"/api/v1/family-add-ons/{tier['slug']}", headers=admin.headers, json={"price_cents": -1}),
        422,
    )


def test_republishing_sends_every_tier(client, admin, outbox):
    before = len(outbox("membership.tier.updated"))
    count = client.post("/api/v1/tiers/republish", headers=admin.headers).get_json()["tiers"]
    assert count >= 5 and len(outbox("membership.tier.updated")) == before + count


@pytest.mark.parametrize("who", ["staff", "member"])
def test_tier_admin_is_for_admins(client, staff, make_member, who, problem):
    headers = staff.headers if who == "staff" else make_member().headers
    problem(client.post("/api/v1/tiers", headers=headers, json={"name": "X", "slug": "x"}), 403)
    problem(client.patch("/api/v1/tiers/core", headers=headers, json={"rank": 1}), 403)
