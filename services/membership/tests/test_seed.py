"""The demo seed (item 11): development only, idempotent, and what `make run` promises."""

from __future__ import annotations

from sqlalchemy import select

from club_membership.models import BillingGroup, CafeItem, StaffUser, User
from club_membership.seed import seed_demo


def test_the_demo_seed_is_development_only(service_runtime):
    assert seed_demo(service_runtime("membership")) == {}


def test_the_demo_seed_makes_the_demo_club_once(service_runtime, runtime):
    dev = service_runtime("membership", env="development")
    seed_demo(dev)
    assert set(seed_demo(dev).values()) == {0}  # a second run adds nothing
    with runtime.db.transaction() as session:
        staff = {
            s.email: s.role
            for s in session.scalars(select(StaffUser).where(StaffUser.email.like("%@clubhouse.test")))
        }
        assert staff == {"admin@clubhouse.test": "admin", "staff@clubhouse.test": "staff"}
        users = {u.email: u for u in session.scalars(select(User).where(User.email.like("%@clubhouse.test")))}
        for tier in ("social", "core", "premium", "corporate", "vip"):
            member = users[f"{tier}@clubhouse.test"]
            assert (member.status, member.tier) == ("active", tier)
            assert member.waiver_version is not None and member.waiver_signed_at is not None
        assert users["admin@clubhouse.test"].role == "admin" and users["admin@clubhouse.test"].tier == "vip"
        jamie = users["jamie@clubhouse.test"]
        assert (jamie.status, jamie.tier, jamie.billing_provider) == ("active", "premium", "family_addon")
        group = session.scalar(
            select(BillingGroup).where(BillingGroup.primary_email == "premium@clubhouse.test")
        )
        assert group.is_active and jamie.family_group_id == group.id
        assert session.scalar(select(CafeItem.id).where(CafeItem.name == "Flat white")) is not None


def test_demo_members_sign_in_with_the_development_code(service_runtime, make_app, ip):
    dev = service_runtime("membership", env="development")
    seed_demo(dev)
    client = make_app(dev).test_client()
    where = ip()
    code = client.post(
        "/api/v1/auth/codes", json={"email": "vip@clubhouse.test"}, headers={"X-Real-IP": where}
    ).get_json()["dev_code"]
    signed = client.post(
        "/api/v1/auth/sessions",
        json={"email": "vip@clubhouse.test", "code": code},
        headers={"X-Real-IP": where},
    )
    assert signed.status_code == 201 and signed.get_json()["user"]["tier"] == "vip"
