"""Billing groups (domain.md §2.4) and staff users (§2.5)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from club_membership.actions import groups as group_actions
from club_membership.domain.actors import SYSTEM
from club_membership.domain.groups import seat_price_cents
from club_membership.models import GroupMember, RefreshSession, StaffUser, User
from club_shared.clubtime import utcnow


@pytest.fixture
def family(client, staff, make_member):
    primary = make_member(status="active", tier="core")
    response = client.post(
        "/api/v1/billing-groups",
        headers=staff.headers,
        json={"primary_member_id": primary.id, "type": "family", "group_name": "The Lees"},
    )
    assert response.status_code == 201, response.get_data(as_text=True)
    return primary, response.get_json()


def test_a_family_group_starts_with_its_primary(family, outbox, user_row):
    primary, group = family
    assert [(m["member_email"], m["is_primary"]) for m in group["members"]] == [(primary.email, True)]
    assert user_row(primary.id).family_group_id == group["id"]
    assert outbox("membership.group.updated", group_id=group["id"])[-1]["primary_email"] == primary.email


def test_adding_a_family_member_asks_billing_for_the_add_on(client, staff, family, make_member, outbox):
    primary, group = family
    kid = make_member(status="pending", tier=None)
    response = client.post(
        f"/api/v1/billing-groups/{group['id']}/members",
        headers=staff.headers,
        json={"email": kid.email, "relationship": "child"},
    )
    assert response.status_code == 201, response.get_data(as_text=True)
    assert response.get_json()["seat_count"] == 1
    [added] = outbox("membership.group.member_added", member_email=kid.email)
    assert (added["tier"], added["add_on_price_cents"], added["group_type"]) == ("core", 7500, "family")
    assert added["primary_email"] == primary.email


def test_a_new_person_becomes_a_pending_member(client, staff, family, emails, user_row, problem):
    _, group = family
    address = emails()
    problem(
        client.post(
            f"/api/v1/billing-groups/{group['id']}/members", headers=staff.headers, json={"email": address}
        ),
        422,
    )
    added = client.post(
        f"/api/v1/billing-groups/{group['id']}/members",
        headers=staff.headers,
        json={"email": address, "first_name": "Kit", "last_name": "Lee"},
    )
    assert added.status_code == 201
    member = next(m for m in added.get_json()["members"] if m["member_email"] == address)
    assert member["member_tier"] == "core"


def test_someone_in_an_active_group_cannot_join_another(client, staff, family, make_member, problem):
    _, group = family
    kid = make_member(status="pending", tier=None)
    client.post(
        f"/api/v1/billing-groups/{group['id']}/members", headers=staff.headers, json={"email": kid.email}
    )
    other_primary = make_member()
    other = client.post(
        "/api/v1/billing-groups",
        headers=staff.headers,
        json={"primary_member_id": other_primary.id, "type": "family"},
    ).get_json()
    problem(
        client.post(
            f"/api/v1/billing-groups/{other['id']}/members", headers=staff.headers, json={"email": kid.email}
        ),
        409,
        "ALREADY_IN_GROUP",
    )
    problem(
        client.post(
            "/api/v1/billing-groups",
            headers=staff.headers,
            json={"primary_member_id": kid.id, "type": "family"},
        ),
        409,
        "ALREADY_IN_GROUP",
    )


def test_a_member_with_their_own_subscription_cannot_be_added(
    client, staff, family, make_member, problem, db
):
    _, group = family
    payer = make_member(status="active", stripe_subscription_id="sub_123")
    problem(
        client.post(
            f"/api/v1/billing-groups/{group['id']}/members",
            headers=staff.headers,
            json={"email": payer.email},
        ),
        409,
        "HAS_OWN_SUBSCRIPTION",
    )
    with db() as session:
        assert session.scalar(select(GroupMember).where(GroupMember.member_email == payer.email)) is None


def test_corporate_seats_are_limited_and_priced_by_count(client, staff, make_member, outbox, problem):
    boss = make_member(tier="corporate")
    group = client.post(
        "/api/v1/billing-groups",
        headers=staff.headers,
        json={"primary_member_id": boss.id, "type": "corporate", "company_name": "Acme", "max_seats": 2},
    ).get_json()
    hires = [make_member(status="pending", tier=None) for _ in range(3)]
    for hire in hires[:2]:
        added = client.post(
            f"/api/v1/billing-groups/{group['id']}/members", headers=staff.headers, json={"email": hire.email}
        )
        assert added.status_code == 201
    problem(
        client.post(
            f"/api/v1/billing-groups/{group['id']}/members",
            headers=staff.headers,
            json={"email": hires[2].email},
        ),
        409,
        "SEATS_FULL",
    )
    events = outbox("membership.group.member_added", group_id=group["id"])
    assert [(e["tier"], e["seat_count"], e["add_on_price_cents"]) for e in events] == [
        ("corporate", 1, 35000),
        ("corporate", 2, 35000),
    ]
    problem(
        client.patch(f"/api/v1/billing-groups/{group['id']}", headers=staff.headers, json={"max_seats": 1}),
        409,
    )
    assert [seat_price_cents(n) for n in (1, 5, 10, 20, 50)] == [35000, 32500, 29900, 27500, 24900]


def test_a_corporate_group_needs_a_company_and_only_corporate_has_seats(client, staff, make_member, problem):
    boss = make_member()
    problem(
        client.post(
            "/api/v1/billing-groups",
            headers=staff.headers,
            json={"primary_member_id": boss.id, "type": "corporate"},
        ),
        422,
    )
    problem(
        client.post(
            "/api/v1/billing-groups",
            headers=staff.headers,
            json={"primary_member_id": boss.id, "type": "family", "max_seats": 3},
        ),
        422,
    )
    problem(
        client.post(
            "/api/v1/billing-groups",
            headers=staff.headers,
            json={"primary_member_id": boss.id, "type": "club"},
        ),
        422,
    )


def test_removing_members_and_the_primary_stays(
    client, staff, family, make_member, outbox, user_row, problem
):
    primary, group = family
    kid = make_member(status="pending", tier=None)
    client.post(
        f"/api/v1/billing-groups/{group['id']}/members", headers=staff.headers, json={"email": kid.email}
    )
    problem(
        client.delete(f"/api/v1/billing-groups/{group['id']}/members/{primary.email}", headers=staff.headers),
        409,
        "PRIMARY_CANNOT_LEAVE",
    )
    assert (
        client.delete(
            f"/api/v1/billing-groups/{group['id']}/members/{kid.email}", headers=staff.headers
        ).status_code
        == 204
    )
    assert outbox("membership.group.member_removed", member_email=kid.email)[0]["seat_count"] == 0
    assert user_row(kid.id).family_group_id is None
    problem(
        client.delete(f"/api/v1/billing-groups/{group['id']}/members/{kid.email}", headers=staff.headers), 404
    )


def test_the_primarys_status_cascades_but_not_the_billing_provider(
    client, staff, admin, family, make_member, user_row, runtime
):
    primary, group = family
    kid = make_member(status="pending", tier=None)
    client.post(
        f"/api/v1/billing-groups/{group['id']}/members", headers=staff.headers, json={"email": kid.email}
    )
    with runtime.db.transaction() as session:  # billing.group_item.added
        group_actions.activate_member(session, runtime, SYSTEM, kid.email, now=utcnow(), item_id="si_1")
    row = user_row(kid.id)
    assert (row.status, row.tier, row.billing_provider) == ("active", "core", "family_addon")

    client.post(f"/api/v1/members/{primary.id}/status", headers=admin.headers, json={"status": "suspended"})
    assert (user_row(kid.id).status, user_row(kid.id).billing_provider) == ("suspended", "family_addon")
    client.post(f"/api/v1/members/{primary.id}/status", headers=admin.headers, json={"status": "active"})
    assert user_row(kid.id).status == "active"
    client.post(f"/api/v1/members/{primary.id}/status", headers=admin.headers, json={"status": "cancelled"})
    assert user_row(kid.id).status == "cancelled"
    deactivated = client.get(f"/api/v1/billing-groups/{group['id']}", headers=staff.headers).get_json()
    assert deactivated["is_active"] is False and deactivated["members"] == []


def test_a_failed_group_item_puts_the_member_back_to_pending(
    client, staff, family, make_member, user_row, runtime
):
    _, group = family
    kid = make_member(status="pending", tier=None)
    client.post(
        f"/api/v1/billing-groups/{group['id']}/members", headers=staff.headers, json={"email": kid.email}
    )
    with runtime.db.transaction() as session:
        group_actions.group_item_failed(session, runtime, SYSTEM, kid.email, now=utcnow())
    assert (user_row(kid.id).status, user_row(kid.id).tier) == ("pending", None)


def test_a_member_sees_their_own_group_only(client, staff, family, make_member, problem):
    primary, group = family
    assert client.get(f"/api/v1/billing-groups/{group['id']}", headers=primary.headers).status_code == 200
    problem(client.get(f"/api/v1/billing-groups/{group['id']}", headers=make_member().headers), 404)


def test_archiving_a_primary_dissolves_the_group(client, staff, admin, family, make_member, user_row):
    primary, group = family
    kid = make_member(status="active", tier="core")
    client.post(
        f"/api/v1/billing-groups/{group['id']}/members", headers=staff.headers, json={"email": kid.email}
    )
    client.post(f"/api/v1/members/{primary.id}/archive", headers=admin.headers, json={})
    assert user_row(kid.id).status == "cancelled" and user_row(kid.id).family_group_id is None
    assert (
        client.get(f"/api/v1/billing-groups/{group['id']}", headers=staff.headers).get_json()["is_active"]
        is False
    )


# ------------------------------------------------------------------------------------------------
# Staff
# ------------------------------------------------------------------------------------------------


def test_admin_adds_and_changes_staff(client, admin, staff, emails, outbox, problem):
    address = emails("coach")
    created = client.post(
        "/api/v1/staff",
        headers=admin.headers,
        json={"email": address, "name": "Cory Coach", "role": "golf_instructor"},
    )
    assert created.status_code == 201
    person = created.get_json()
    assert outbox("membership.staff.updated", email=address)[-1]["role"] == "golf_instructor"
    problem(
        client.post("/api/v1/staff", headers=admin.headers, json={"email": address, "name": "Again"}),
        409,
        "STAFF_EXISTS",
    )
    problem(client.post("/api/v1/staff", headers=staff.headers, json={"email": emails(), "name": "X"}), 403)
    problem(
        client.post(
            "/api/v1/staff", headers=admin.headers, json={"email": emails(), "name": "X", "role": "owner"}
        ),
        422,
    )
    changed = client.patch(f"/api/v1/staff/{person['id']}", headers=admin.headers, json={"role": "staff"})
    assert changed.get_json()["role"] == "staff"
    listed = client.get("/api/v1/staff", headers=staff.headers).get_json()
    assert address in [s["email"] for s in listed]


def test_deactivating_staff_ends_their_sessions_and_comped_membership(
    client, admin, runtime, emails, ip, outbox, db
):
    address = emails("temp")
    person = client.post(
        "/api/v1/staff", headers=admin.headers, json={"email": address, "name": "Tem Porary"}
    ).get_json()
    where = ip()
    client.post("/api/v1/auth/codes", json={"email": address}, headers={"X-Real-IP": where})
    code = outbox("membership.signin.code_issued", email=address)[-1]["code"]
    pair = client.post(
        "/api/v1/auth/sessions", json={"email": address, "code": code}, headers={"X-Real-IP": where}
    ).get_json()
    client.patch(f"/api/v1/staff/{person['id']}", headers=admin.headers, json={"is_active": False})
    assert (
        client.post("/api/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]}).status_code == 401
    )
    with db() as session:
        assert session.scalar(select(RefreshSession).where(RefreshSession.subject_email == address)) is None
        user = session.scalar(select(User).where(User.email == address))
        assert (user.role, user.status) == ("member", "inactive")
    assert outbox("membership.session.revoked", email=address)[-1]["reason"] == "staff_deactivated"


def test_the_last_admin_stays_an_admin(client, runtime, make_staff, problem):
    with runtime.db.transaction() as session:
        admins = session.scalars(
            select(StaffUser).where(StaffUser.role == "admin", StaffUser.is_active)
        ).all()
        for extra in admins:
            extra.is_active = False
    only = make_staff("admin")
    with runtime.db.transaction() as session:
        only_id = session.scalar(select(StaffUser.id).where(StaffUser.email == only.email))
    try:
        problem(
            client.patch(f"/api/v1/staff/{only_id}", headers=only.headers, json={"is_active": False}),
            409,
            "LAST_ADMIN",
        )
        problem(
            client.patch(f"/api/v1/staff/{only_id}", headers=only.headers, json={"role": "staff"}),
            409,
            "LAST_ADMIN",
        )
    finally:
        with runtime.db.transaction() as session:
            for extra in session.scalars(select(StaffUser).where(StaffUser.id.in_([a.id for a in admins]))):
                extra.is_active = True
