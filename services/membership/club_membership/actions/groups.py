"""Billing groups (domain.md §2.4): family and corporate groups, their members and their rules."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from club_shared.problems import Problem
from club_shared.runtime import Runtime

from ..domain import groups as rules
from ..domain import statuses
from ..domain.actors import Actor
from ..models import BillingGroup, FamilyAddOnProduct, GroupMember, User
from . import audit
from . import members as member_actions

#: what a sub-member's status becomes when the primary's becomes a final one
_CASCADE_FINAL = {"archived": "cancelled", "merged": "cancelled"}
_DISSOLVING = frozenset({"cancelled", "terminated", "archived", "merged"})


def get(session: Session, group_id: int, *, lock: bool = False) -> BillingGroup:
    query = select(BillingGroup).where(BillingGroup.id == group_id)
    if lock:
        query = query.with_for_update()
    group = session.scalar(query)
    if group is None:
        raise Problem(404, "No such billing group.", code="NOT_FOUND")
    return group


def active_members(group: BillingGroup) -> list[GroupMember]:
    return [m for m in group.members if m.is_active]


def seat_count(group: BillingGroup) -> int:
    """Members other than the primary (for corporate groups: the seat quantity)."""
    return sum(1 for m in group.members if m.is_active and not m.is_primary)


def snapshot(session: Session, group: BillingGroup) -> dict[str, Any]:
    emails = [m.member_email for m in active_members(group)]
    ids = (
        dict(session.execute(select(User.email, User.id).where(User.email.in_(emails))).all())
        if emails
        else {}
    )
    return {
        "group_id": group.id,
        "type": group.type,
        "primary_email": group.primary_email,
        "group_name": group.group_name,
        "company_name": group.company_name,
        "max_seats": group.max_seats,
        "is_active": group.is_active,
        "primary_stripe_customer_id": group.primary_stripe_customer_id,
        "primary_stripe_subscription_id": group.primary_stripe_subscription_id,
        "members": [
            {
                "email": m.member_email,
                "member_id": ids.get(m.member_email),
                "is_primary": m.is_primary,
                "member_tier": m.member_tier,
                "relationship": m.relationship,
            }
            for m in active_members(group)
        ],
    }


def _publish_updated(session: Session, runtime: Runtime, group: BillingGroup) -> None:
    session.flush()
    session.refresh(group)
    runtime.publish(session, "membership.group.updated", snapshot(session, group))


def active_group_of(session: Session, email: str) -> GroupMember | None:
    return session.scalar(select(GroupMember).where(GroupMember.member_email == email, GroupMember.is_active))


def create(
    session: Session,
    runtime: Runtime,
    actor: Actor,
    *,
    primary: User,
    type: str,
    group_name: str | None,
    company_name: str | None,
    max_seats: int | None,
) -> BillingGroup:
    if primary.status in statuses.FINAL_STATUSES:
        raise Problem(409, f"The primary member is {primary.status}.", code="STATE_CONFLICT")
    if active_group_of(session, primary.email) is not None:
        raise Problem(409, f"{primary.email} is already in an active group.", code="ALREADY_IN_GROUP")
    if type == "family" and max_seats is not None:
        raise Problem(
            422,
            "Only corporate groups have seats.",
            code="VALIDATION_FAILED",
            errors={"max_seats": ["Only for corporate groups."]},
        )
    group = session.scalar(
        select(BillingGroup).where(BillingGroup.primary_email == primary.email).with_for_update()
    )
    if group is None:
        group = BillingGroup(primary_email=primary.email)
        session.add(group)
    group.type = type
    group.group_name = group_name
    group.company_name = company_name
    group.max_seats = max_seats
    group.is_active = True
    group.primary_stripe_customer_id = primary.stripe_customer_id
    group.primary_stripe_subscription_id = primary.stripe_subscription_id
    session.flush()
    session.add(
        GroupMember(
            billing_group_id=group.id,
            member_email=primary.email,
            relationship="primary",
            is_primary=True,
            member_tier=primary.tier,
            is_active=True,
        )
    )
    primary.family_group_id = group.id
    session.flush()
    _publish_updated(session, runtime, group)
    audit.record(
        session,
        actor,
        "group.created",
        "billing_group",
        group.id,
        resource_name=group.group_name or group.company_name,
        details={"type": type, "primary_email": primary.email, "max_seats": max_seats},
    )
    return group


def update_group(
    session: Session, runtime: Runtime, actor: Actor, group: BillingGroup, changes: dict[str, Any]
) -> None:
    if "max_seats" in changes and changes["max_seats"] is not None:
        if group.type != "corporate":
            raise Problem(
                422,
                "Only corporate groups have seats.",
                code="VALIDATION_FAILED",
                errors={"max_seats": ["Only for corporate groups."]},
            )
        if changes["max_seats"] < seat_count(group):
            raise Problem(409, "More members than that are in the group already.", code="SEATS_FULL")
    changed = {k: v for k, v in changes.items() if getattr(group, k) != v}
    if not changed:
        return
    for key, value in changed.items():
        setattr(group, key, value)
    _publish_updated(session, runtime, group)
    audit.record(
        session, actor, "group.updated", "billing_group", group.id, details={"changed": sorted(changed)}
    )


def add_member(
    session: Session,
    runtime: Runtime,
    actor: Actor,
    group: BillingGroup,
    user: User,
    *,
    relationship: str | None,
    tier: str | None,
) -> GroupMember:
    """Add a member; billing adds the subscription item (family add-on or corporate seat) from
    membership.group.member_added and answers with billing.group_item.added or .failed."""
    if not group.is_active:
        raise Problem(409, "The group is not active.", code="GROUP_INACTIVE")
    if user.status in statuses.FINAL_STATUSES:
        raise Problem(409, f"The member is {user.status}.", code="STATE_CONFLICT")
    if active_group_of(session, user.email) is not None:
        raise Problem(409, f"{user.email} is already in an active group.", code="ALREADY_IN_GROUP")
    if rules.has_own_subscription(user.status, user.billing_provider, user.stripe_subscription_id):
        raise Problem(409, f"{user.email} pays for their own membership.", code="HAS_OWN_SUBSCRIPTION")
    if rules.seats_full(group.type, group.max_seats, seat_count(group)):
        raise Problem(409, f"All {group.max_seats} seats are taken.", code="SEATS_FULL")
    primary = session.scalar(select(User).where(User.email == group.primary_email))
    tier_slug = tier or ("corporate" if group.type == "corporate" else (primary.tier if primary else None))
    tier_row = member_actions.tier_by_slug(session, tier_slug) if tier_slug else None
    product = (
        session.scalar(select(FamilyAddOnProduct).where(FamilyAddOnProduct.tier_name == tier_row.slug))
        if tier_row is not None and group.type == "family"
        else None
    )
    if group.type == "family" and tier_row is not None and product is None:
        raise Problem(
            409, f"There is no family add-on for the {tier_row.slug} tier.", code="NO_ADD_ON_PRODUCT"
        )
    price = (
        product.price_cents
        if product
        else (rules.seat_price_cents(seat_count(group) + 1) if group.type == "corporate" else None)
    )
    row = GroupMember(
        billing_group_id=group.id,
        member_email=user.email,
        relationship=relationship,
        is_primary=False,
        member_tier=tier_row.slug if tier_row else None,
        add_on_price_cents=price,
        is_active=True,
    )
    session.add(row)
    user.family_group_id = group.id
    session.flush()
    session.refresh(group)
    runtime.publish(
        session,
        "membership.group.member_added",
        {
            "group_id": group.id,
            "group_type": group.type,
            "primary_email": group.primary_email,
            "primary_stripe_customer_id": group.primary_stripe_customer_id,
            "primary_stripe_subscription_id": group.primary_stripe_subscription_id,
            "member_id": user.id,
            "member_email": user.email,
            "tier": row.member_tier,
            "relationship": relationship,
            "add_on_price_cents": price,
            "add_on_stripe_price_id": product.stripe_price_id if product else None,
            "seat_count": seat_count(group),
            "max_seats": group.max_seats,
        },
    )
    _publish_updated(session, runtime, group)
    audit.record(
        session,
        actor,
        "group.member_added",
        "billing_group",
        group.id,
        resource_name=user.email,
        details={"member_email": user.email, "tier": row.member_tier, "price_cents": price},
    )
    return row


def remove_member(
    session: Session, runtime: Runtime, actor: Actor, group: BillingGroup, email: str, *, now: datetime
) -> None:
    row = next((m for m in group.members if m.member_email == email and m.is_active), None)
    if row is None:
        raise Problem(404, "That person is not in this group.", code="NOT_FOUND")
    if row.is_primary:
        raise Problem(409, "The primary member cannot leave their own group.", code="PRIMARY_CANNOT_LEAVE")
    row.is_active = False
    row.removed_at = now
    user = session.scalar(select(User).where(User.email == email))
    if user is not None and user.family_group_id == group.id:
        user.family_group_id = None
    session.flush()
    session.refresh(group)
    runtime.publish(
        session,
        "membership.group.member_removed",
        {
            "group_id": group.id,
            "group_type": group.type,
            "primary_email": group.primary_email,
            "primary_stripe_subscription_id": group.primary_stripe_subscription_id,
            "member_id": user.id if user else None,
            "member_email": email,
            "stripe_subscription_item_id": row.stripe_subscription_item_id,
            "seat_count": seat_count(group),
        },
    )
    _publish_updated(session, runtime, group)
    audit.record(
        session,
        actor,
        "group.member_removed",
        "billing_group",
        group.id,
        resource_name=email,
        details={"member_email": email},
    )


def dissolve(
    session: Session, runtime: Runtime, actor: Actor, group: BillingGroup, *, now: datetime, reason: str
) -> None:
    """Deactivate a group and every membership in it (a primary's cancellation, archive or merge)."""
    if not group.is_active:
        return
    group.is_active = False
    emails = [m.member_email for m in active_members(group)]
    session.execute(
        update(GroupMember)
        .where(GroupMember.billing_group_id == group.id, GroupMember.is_active)
        .values(is_active=False, removed_at=now)
    )
    session.execute(update(User).where(User.family_group_id == group.id).values(family_group_id=None))
    _publish_updated(session, runtime, group)
    runtime.publish(
        session,
        "membership.notification.requested",
        {
            "audience": "staff",
            "type": "group_dissolved",
            "title": "Billing group deactivated",
            "message": f"The {group.type} group of {group.primary_email} was deactivated ({reason}); "
            f"{max(len(emails) - 1, 0)} other member(s) left it.",
            "link": None,
            "urgent": False,
            "channels": ["in_app"],
        },
    )
    audit.record(
        session,
        actor,
        "group.deactivated",
        "billing_group",
        group.id,
        details={"reason": reason, "members": emails},
    )


def cascade_primary_status(
    session: Session, runtime: Runtime, actor: Actor, primary: User, new_status: str, *, now: datetime
) -> None:
    """A primary's status change reaches the sub-members' status (never their billing provider);
    a primary who leaves the club takes the group with them."""
    group = session.scalar(
        select(BillingGroup)
        .where(BillingGroup.primary_email == primary.email, BillingGroup.is_active)
        .with_for_update()
    )
    if group is None:
        return
    target = _CASCADE_FINAL.get(new_status, new_status)
    others = [m.member_email for m in active_members(group) if not m.is_primary]
    users = (
        session.scalars(select(User).where(User.email.in_(others)).order_by(User.email)).all()
        if others
        else []
    )
    for user in users:
        if user.status != target and statuses.can_transition(user.status, target):
            member_actions.change_status(
                session,
                runtime,
                actor,
                user,
                target,
                now=now,
                reason=f"group primary {new_status}",
                cascade=False,
            )
    if new_status in _DISSOLVING:
        dissolve(session, runtime, actor, group, now=now, reason=f"primary {new_status}")


def leave_all(
    session: Session, runtime: Runtime, actor: Actor, user: User, *, now: datetime, reason: str
) -> None:
    """Take a member out of their group before they are archived or merged."""
    row = active_group_of(session, user.email)
    if row is None:
        return
    group = get(session, row.billing_group_id, lock=True)
    if row.is_primary:
        target = "cancelled"
        for other in session.scalars(
            select(User).where(
                User.email.in_([m.member_email for m in active_members(group) if not m.is_primary])
            )
        ).all():
            if other.status != target and statuses.can_transition(other.status, target):
                member_actions.change_status(
                    session,
                    runtime,
                    actor,
                    other,
                    target,
                    now=now,
                    reason=f"group primary {reason}",
                    cascade=False,
                )
        dissolve(session, runtime, actor, group, now=now, reason=f"primary {reason}")
    else:
        remove_member(session, runtime, actor, group, user.email, now=now)


def activate_member(
    session: Session, runtime: Runtime, actor: Actor, email: str, *, now: datetime, item_id: str | None
) -> None:
    """billing.group_item.added: the member becomes active with group, tier and provider family_addon."""
    row = active_group_of(session, email)
    user = session.scalar(select(User).where(User.email == email).with_for_update())
    if row is None or user is None:
        return
    row.stripe_subscription_item_id = item_id
    if row.member_tier and user.tier != row.member_tier:
        member_actions.set_tier(session, runtime, actor, user, row.member_tier)
    if user.billing_provider != "family_addon":
        member_actions.update_profile(session, runtime, actor, user, {"billing_provider": "family_addon"})
    if user.status != "active" and statuses.can_transition(user.status, "active"):
        member_actions.change_status(
            session, runtime, actor, user, "active", now=now, reason="group item added", cascade=False
        )


def group_item_failed(session: Session, runtime: Runtime, actor: Actor, email: str, *, now: datetime) -> None:
    """billing.group_item.failed: back to pending with no tier."""
    user = session.scalar(select(User).where(User.email == email).with_for_update())
    if user is None:
        return
    member_actions.set_tier(session, runtime, actor, user, None)
    if statuses.can_transition(user.status, "pending"):
        member_actions.change_status(
            session, runtime, actor, user, "pending", now=now, reason="group item failed", cascade=False
        )


def count_groups(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(BillingGroup)) or 0)
