"""Members: create, read, search, change (profile, status, tier, e-mail), link e-mails, archive, merge."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from club_shared.problems import Problem
from club_shared.runtime import Runtime

from ..domain import emails as email_rules
from ..domain import statuses
from ..domain.actors import Actor
from ..domain.tiers import base_slug, change_direction
from ..models import (
    AccountDeletionRequest,
    BillingGroup,
    BugReport,
    DataExportRequest,
    GroupMember,
    MagicLink,
    MemberDispute,
    MemberNote,
    MembershipTier,
    RefreshSession,
    StaffUser,
    User,
    UserLinkedEmail,
)
from . import audit
from . import settings as settings_actions

PROFILE_FIELDS = (
    "first_name",
    "last_name",
    "phone",
    "email_opt_in",
    "sms_opt_in",
    "push_opt_in",
    "marketing_opt_in",
)
STAFF_PROFILE_FIELDS = (
    *PROFILE_FIELDS,
    "billing_provider",
    "stripe_customer_id",
    "stripe_subscription_id",
    "hubspot_id",
    "trial_ends_at",
    "role",
)


def snapshot(user: User) -> dict[str, Any]:
    """The member as every member event carries it."""
    return {
        "member_id": user.id,
        "email": user.email,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "name": user.name,
        "phone": user.phone,
        "role": statuses.role_of(user.role),
        "status": user.status,
        "tier": user.tier,
        "tier_id": user.tier_id,
        "billing_provider": user.billing_provider,
        "family_group_id": user.family_group_id,
        "linked_emails": [link.linked_email for link in user.linked_emails],
        "waiver_version": user.waiver_version,
        "waiver_signed_at": _iso(user.waiver_signed_at),
        "trial_ends_at": _iso(user.trial_ends_at),
        "stripe_customer_id": user.stripe_customer_id,
        "stripe_subscription_id": user.stripe_subscription_id,
        "hubspot_id": user.hubspot_id,
        "email_opt_in": user.email_opt_in,
        "sms_opt_in": user.sms_opt_in,
        "push_opt_in": user.push_opt_in,
        "marketing_opt_in": user.marketing_opt_in,
        "email_delivery_status": user.email_delivery_status,
        "archived_at": _iso(user.archived_at),
        "created_at": _iso(user.created_at),
    }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _refresh(session: Session, user: User) -> User:
    session.flush()
    session.refresh(user)
    return user


# ------------------------------------------------------------------------------------------------
# Look-ups
# ------------------------------------------------------------------------------------------------


def get(session: Session, member_id: str, *, lock: bool = False) -> User:
    query = select(User).where(User.id == member_id)
    if lock:
        query = query.with_for_update()
    user = session.scalar(query)
    if user is None:
        raise Problem(404, "No such member.", code="NOT_FOUND")
    return user


def resolve_email(session: Session, email: str, *, include_final: bool = False) -> User | None:
    """The member an address belongs to: their own e-mail, a linked e-mail or an alias-domain twin.
    A placeholder address belongs to nobody; a merged member resolves to the survivor."""
    patterns = settings_actions.get(session, "club.placeholder_email_patterns")
    if email_rules.is_placeholder(email, patterns):
        return None
    candidates = email_rules.alias_candidates(email, settings_actions.get(session, "club.alias_domains"))
    user = session.scalar(
        select(User)
        .where(User.email.in_(candidates))
        .order_by(User.status == "merged", User.created_at)
        .limit(1)
    )
    if user is None or user.status == "merged":
        primary = session.scalar(
            select(UserLinkedEmail.primary_email).where(UserLinkedEmail.linked_email.in_(candidates)).limit(1)
        )
        if primary is not None:
            user = session.scalar(select(User).where(User.email == primary)) or user
    hops = 0
    while user is not None and user.status == "merged" and user.merged_into and hops < 5:
        user = session.get(User, user.merged_into)
        hops += 1
    if user is not None and not include_final and user.status in statuses.FINAL_STATUSES:
        return user if user.status == "archived" else None
    return user


def email_owner(session: Session, email: str) -> str | None:
    """The id of the member whose own or linked e-mail `email` is (exact, no aliases)."""
    owner = session.scalar(select(User.id).where(User.email == email))
    if owner:
        return owner
    primary = session.scalar(
        select(UserLinkedEmail.primary_email).where(UserLinkedEmail.linked_email == email)
    )
    return session.scalar(select(User.id).where(User.email == primary)) if primary else None


def tier_by_slug(session: Session, slug: str) -> MembershipTier:
    tier = session.scalar(select(MembershipTier).where(MembershipTier.slug == base_slug(slug)))
    if tier is None:
        raise Problem(
            422, f"There is no tier {slug!r}.", code="UNKNOWN_TIER", errors={"tier": ["Unknown tier."]}
        )
    return tier


def search(
    session: Session,
    *,
    q: str | None = None,
    email: str | None = None,
    tier: str | None = None,
    status: list[str] | None = None,
    include_archived: bool = False,
    page: int = 1,
    page_size: int = 25,
) -> tuple[list[User], int]:
    query = select(User)
    if q:
        pattern = f"%{_escape_like(q.strip().lower())}%"
        linked = select(UserLinkedEmail.primary_email).where(
            UserLinkedEmail.linked_email.like(pattern, escape="\\")
        )
        query = query.where(
            or_(
                func.lower(User.name).like(pattern, escape="\\"),
                User.email.like(pattern, escape="\\"),
                User.phone.like(pattern, escape="\\"),
                User.email.in_(linked),
            )
        )
    if email:
        found = resolve_email(session, email, include_final=True)
        query = query.where(User.id == (found.id if found else None))
    if tier:
        query = query.where(User.tier == base_slug(tier))
    if status:
        query = query.where(User.status.in_(status))
    elif not include_archived:
        query = query.where(User.status.not_in(statuses.FINAL_STATUSES))
    total = session.scalar(select(func.count()).select_from(query.subquery()))
    items = session.scalars(
        query.order_by(func.lower(User.name), User.email).offset((page - 1) * page_size).limit(page_size)
    ).all()
    return list(items), int(total or 0)


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


# ------------------------------------------------------------------------------------------------
# Create and update
# ------------------------------------------------------------------------------------------------


def ensure_email_free(session: Session, email: str, *, for_member: str | None = None) -> None:
    owner = email_owner(session, email)
    if owner is not None and owner != for_member:
        raise Problem(409, f"The e-mail {email} already belongs to a member.", code="EMAIL_TAKEN")


def create(
    session: Session,
    runtime: Runtime,
    actor: Actor,
    *,
    email: str,
    first_name: str,
    last_name: str,
    phone: str | None = None,
    tier: str | None = None,
    status: str = "pending",
    billing_provider: str = "stripe",
    role: str = "member",
    trial_ends_at: datetime | None = None,
    audit_action: str = "member.created",
) -> User:
    email = email_rules.normalise(email)
    ensure_email_free(session, email)
    if email_rules.is_placeholder(email, settings_actions.get(session, "club.placeholder_email_patterns")):
        raise Problem(
            422,
            "A placeholder address cannot identify a member.",
            code="PLACEHOLDER_EMAIL",
            errors={"email": ["This address is a placeholder."]},
        )
    tier_row = tier_by_slug(session, tier) if tier else None
    user = User(
        email=email,
        first_name=first_name.strip(),
        last_name=last_name.strip(),
        name=f"{first_name.strip()} {last_name.strip()}".strip(),
        phone=(phone or "").strip() or None,
        status=status,
        role=role,
        tier=tier_row.slug if tier_row else None,
        tier_id=tier_row.id if tier_row else None,
        billing_provider=billing_provider,
        trial_ends_at=trial_ends_at,
    )
    session.add(user)
    _refresh(session, user)
    runtime.publish(session, "membership.member.created", snapshot(user))
    if actor.type != "system":
        audit.record(
            session, actor, audit_action, "member", user.id, resource_name=user.name, details={"email": email}
        )
    return user


def update_profile(
    session: Session, runtime: Runtime, actor: Actor, user: User, changes: dict[str, Any]
) -> list[str]:
    changed = []
    for field, value in changes.items():
        if isinstance(value, str):
            value = value.strip() or (None if field == "phone" else value.strip())
        if getattr(user, field) != value:
            setattr(user, field, value)
            changed.append(field)
    if not changed:
        return []
    if {"first_name", "last_name"} & set(changed):
        user.name = f"{user.first_name} {user.last_name}".strip()
    _refresh(session, user)
    runtime.publish(session, "membership.member.updated", {**snapshot(user), "changed": sorted(changed)})
    if actor.type == "staff":
        audit.record(
            session,
            actor,
            "member.updated",
            "member",
            user.id,
            resource_name=user.name,
            details={"changed": sorted(changed)},
        )
    return changed


# ------------------------------------------------------------------------------------------------
# Status and tier
# ------------------------------------------------------------------------------------------------


def change_status(
    session: Session,
    runtime: Runtime,
    actor: Actor,
    user: User,
    new_status: str,
    *,
    now: datetime,
    reason: str | None = None,
    cascade: bool = True,
    extra: dict[str, Any] | None = None,
) -> bool:
    """Move a member to `new_status` by the transition table, guarded: an UPDATE that only matches
    the status we saw, if the table allows the move from it. Repeating a change is a no-op (False).
    Leaving the access statuses revokes the member's sessions; a group primary's change cascades."""
    observed = user.status
    if observed == new_status:
        return False
    if not statuses.can_transition(observed, new_status):
        raise Problem(
            409,
            f"A member cannot go from {observed} to {new_status}.",
            code="STATE_CONFLICT",
            current_status=observed,
        )
    values: dict[str, Any] = {"status": new_status, **(extra or {})}
    if new_status == "archived":
        values["archived_at"] = now
    changed = session.execute(
        update(User)
        .where(User.id == user.id, User.status == observed)
        .values(**values)
        .returning(User.id)
        .execution_options(synchronize_session=False)
    ).first()
    if changed is None:
        raise Problem(
            409, "The member's status changed meanwhile; reload and try again.", code="STATE_CONFLICT"
        )
    session.refresh(user)
    runtime.publish(
        session,
        "membership.member.status_changed",
        {**snapshot(user), "old_status": observed, "new_status": new_status, "reason": reason},
    )
    if actor.type != "system" or reason:
        audit.record(
            session,
            actor,
            "member.status_changed",
            "member",
            user.id,
            resource_name=user.name,
            details={"from": observed, "to": new_status, "reason": reason},
        )
    if statuses.has_access(observed) and not statuses.has_access(new_status):
        from . import signin as session_actions

        session_actions.revoke_all(
            session, runtime, user.email, member_id=user.id, reason=f"status:{new_status}"
        )
    if cascade:
        from . import groups as group_actions

        group_actions.cascade_primary_status(session, runtime, actor, user, new_status, now=now)
    return True


def set_tier(session: Session, runtime: Runtime, actor: Actor, user: User, slug: str | None) -> bool:
    """Give the member a tier (or none); `tier` and `tier_id` always agree."""
    new = tier_by_slug(session, slug) if slug else None
    if (new.id if new else None) == user.tier_id:
        return False
    old = session.get(MembershipTier, user.tier_id) if user.tier_id else None
    user.tier_id = new.id if new else None
    user.tier = new.slug if new else None
    if old is not None and new is None:
        user.last_tier = old.slug
    session.execute(
        update(GroupMember)
        .where(GroupMember.member_email == user.email, GroupMember.is_active)
        .values(member_tier=user.tier)
    )
    _refresh(session, user)
    runtime.publish(
        session,
        "membership.member.tier_changed",
        {
            **snapshot(user),
            "old_tier": old.slug if old else None,
            "new_tier": user.tier,
            "direction": change_direction(old.rank if old else None, new.rank if new else None),
        },
    )
    audit.record(
        session,
        actor,
        "member.tier_changed",
        "member",
        user.id,
        resource_name=user.name,
        details={"from": old.slug if old else None, "to": user.tier},
    )
    return True


# ------------------------------------------------------------------------------------------------
# E-mails
# ------------------------------------------------------------------------------------------------


def change_email(session: Session, runtime: Runtime, actor: Actor, user: User, new_email: str) -> bool:
    """One operation (domain.md §2.3): every e-mail-keyed row we own moves to the new address, the
    old one stays only as a linked e-mail, and membership.member.email_changed tells the others."""
    new_email = email_rules.normalise(new_email)
    old_email = user.email
    if new_email == old_email:
        return False
    ensure_email_free(session, new_email, for_member=user.id)
    if email_rules.is_placeholder(
        new_email, settings_actions.get(session, "club.placeholder_email_patterns")
    ):
        raise Problem(422, "A placeholder address cannot identify a member.", code="PLACEHOLDER_EMAIL")
    session.execute(UserLinkedEmail.__table__.delete().where(UserLinkedEmail.linked_email == new_email))
    rewrites = (
        (UserLinkedEmail.__table__, UserLinkedEmail.primary_email),
        (GroupMember.__table__, GroupMember.member_email),
        (BillingGroup.__table__, BillingGroup.primary_email),
        (MemberNote.__table__, MemberNote.member_email),
        (RefreshSession.__table__, RefreshSession.subject_email),
        (StaffUser.__table__, StaffUser.email),
        (BugReport.__table__, BugReport.user_email),
        (AccountDeletionRequest.__table__, AccountDeletionRequest.email),
        (DataExportRequest.__table__, DataExportRequest.user_email),
        (MemberDispute.__table__, MemberDispute.member_email),
    )
    session.execute(update(User).where(User.id == user.id).values(email=new_email))
    for table, column in rewrites:
        session.execute(table.update().where(column == old_email).values({column.key: new_email}))
    # Codes sent to the old address no longer sign anyone in.
    session.execute(
        update(MagicLink).where(MagicLink.email == old_email, ~MagicLink.is_used).values(is_used=True)
    )
    session.add(UserLinkedEmail(primary_email=new_email, linked_email=old_email, source="email_change"))
    session.flush()
    session.refresh(user)
    runtime.publish(
        session,
        "membership.member.email_changed",
        {"member_id": user.id, "old_email": old_email, "new_email": new_email},
    )
    audit.record(
        session,
        actor,
        "member.email_changed",
        "member",
        user.id,
        resource_name=user.name,
        details={"from": old_email, "to": new_email},
    )
    return True


def add_linked_email(
    session: Session, runtime: Runtime, actor: Actor, user: User, email: str, source: str = "manual"
) -> UserLinkedEmail:
    email = email_rules.normalise(email)
    existing = session.scalar(select(UserLinkedEmail).where(UserLinkedEmail.linked_email == email))
    if existing is not None and existing.primary_email == user.email:
        return existing
    ensure_email_free(session, email)
    if email_rules.is_placeholder(email, settings_actions.get(session, "club.placeholder_email_patterns")):
        raise Problem(422, "A placeholder address cannot identify a member.", code="PLACEHOLDER_EMAIL")
    link = UserLinkedEmail(primary_email=user.email, linked_email=email, source=source)
    session.add(link)
    session.flush()
    session.refresh(user)
    runtime.publish(
        session,
        "membership.member.linked_email_added",
        {"member_id": user.id, "email": user.email, "linked_email": email, "source": source},
    )
    audit.record(
        session,
        actor,
        "member.linked_email_added",
        "member",
        user.id,
        resource_name=user.name,
        details={"linked_email": email, "source": source},
    )
    return link


def remove_linked_email(session: Session, runtime: Runtime, actor: Actor, user: User, email: str) -> None:
    email = email_rules.normalise(email)
    link = session.scalar(
        select(UserLinkedEmail).where(
            UserLinkedEmail.linked_email == email, UserLinkedEmail.primary_email == user.email
        )
    )
    if link is None:
        raise Problem(404, "That e-mail is not linked to this member.", code="NOT_FOUND")
    session.delete(link)
    session.flush()
    session.refresh(user)
    runtime.publish(
        session,
        "membership.member.linked_email_removed",
        {"member_id": user.id, "email": user.email, "linked_email": email, "source": link.source},
    )
    audit.record(
        session,
        actor,
        "member.linked_email_removed",
        "member",
        user.id,
        resource_name=user.name,
        details={"linked_email": email},
    )


# ------------------------------------------------------------------------------------------------
# Archive and merge
# ------------------------------------------------------------------------------------------------


def archive(
    session: Session, runtime: Runtime, actor: Actor, user: User, *, now: datetime, reason: str | None
) -> bool:
    """Archive: final. Billing cancels the subscription and booking the future bookings, from
    membership.member.archived; here the sessions go and the member leaves any group."""
    previous = user.status
    if previous == "archived":
        return False
    if previous == "merged":
        raise Problem(409, "A merged member cannot be archived.", code="STATE_CONFLICT")
    from . import groups as group_actions

    group_actions.leave_all(session, runtime, actor, user, now=now, reason="archived")
    change_status(
        session, runtime, actor, user, "archived", now=now, reason=reason or "archived", cascade=False
    )
    runtime.publish(session, "membership.member.archived", {**snapshot(user), "previous_status": previous})
    from . import signin as session_actions

    session_actions.revoke_all(session, runtime, user.email, member_id=user.id, reason="archived")
    return True


def merge(session: Session, runtime: Runtime, actor: Actor, user: User, into: User, *, now: datetime) -> bool:
    """Merge `user` into `into`: `user` becomes `merged` and every address of theirs a linked e-mail
    of the survivor."""
    if user.id == into.id:
        raise Problem(422, "A member cannot be merged into themselves.", code="SAME_MEMBER")
    if user.status == "merged" and user.merged_into == into.id:
        return False
    if into.status in statuses.FINAL_STATUSES:
        raise Problem(409, f"The surviving member is {into.status}.", code="STATE_CONFLICT")
    moved = [user.email] + [link.linked_email for link in user.linked_emails]
    from . import groups as group_actions

    group_actions.leave_all(session, runtime, actor, user, now=now, reason="merged")
    change_status(
        session,
        runtime,
        actor,
        user,
        "merged",
        now=now,
        reason=f"merged into {into.email}",
        cascade=False,
        extra={"merged_into": into.id},
    )
    session.execute(
        update(UserLinkedEmail)
        .where(UserLinkedEmail.primary_email == user.email)
        .values(primary_email=into.email, source="merge")
    )
    session.add(UserLinkedEmail(primary_email=into.email, linked_email=user.email, source="merge"))
    session.flush()
    session.refresh(into)
    runtime.publish(
        session,
        "membership.member.merged",
        {
            "member_id": user.id,
            "email": user.email,
            "into_member_id": into.id,
            "into_email": into.email,
            "moved_emails": moved,
        },
    )
    audit.record(
        session,
        actor,
        "member.merged",
        "member",
        user.id,
        resource_name=user.name,
        details={"into": into.id, "into_email": into.email, "moved_emails": moved},
    )
    from . import signin as session_actions

    session_actions.revoke_all(session, runtime, user.email, member_id=user.id, reason="merged")
    return True
