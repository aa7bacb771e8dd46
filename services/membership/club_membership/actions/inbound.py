"""What other services' events do to members (domain.md §2.2, §2.3, §8.2): Stripe subscriptions
and payments through billing, disputes, checkouts, invited applications, HubSpot profile fills,
first bookings and e-mail delivery.

These run inside the consumer's transaction. A change the transition table does not allow is not
an error here (the event is old news, or staff already moved the member): it is logged and skipped,
so one stale event never blocks the queue.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from club_shared.bus import publish
from club_shared.events import Event

from ..domain import emails as email_rules
from ..domain import statuses
from ..domain.actors import Actor
from ..models import BUS, MemberDispute, MemberNote, SyncExclusion, User
from . import groups as group_actions
from . import members as member_actions

log = logging.getLogger(__name__)


class _BusRuntime:
    """What the actions need of a runtime, inside a handler: publishing into our outbox."""

    service = "membership"

    def publish(self, session: Session, event_type: str, data: dict[str, Any]):
        return publish(session, BUS, event_type, data, producer="membership")


RUNTIME = _BusRuntime()
STRIPE = Actor(type="system", email=None, role=None, user_agent="billing (Stripe)")

#: Stripe subscription status → member status (domain.md §2.2); canceled is handled apart
STRIPE_STATUS = {
    "active": "active",
    "trialing": "trialing",
    "past_due": "past_due",
    "unpaid": "suspended",
    "paused": "frozen",
    "incomplete": "pending",
    "incomplete_expired": "pending",
}
#: statuses from which only a new subscription brings a member back
_ENDED = frozenset({"cancelled", "terminated", "former_member", "expired", "declined"})


def _find(session: Session, *, email: str | None, customer_id: str | None) -> User | None:
    user = None
    if customer_id:
        user = session.scalar(select(User).where(User.stripe_customer_id == customer_id).with_for_update())
    if user is None and email:
        found = member_actions.resolve_email(session, email)
        if found is not None:
            user = session.scalar(select(User).where(User.id == found.id).with_for_update())
    if user is not None and user.status in statuses.FINAL_STATUSES:
        return None
    return user


def _move(
    session: Session, user: User, target: str, *, now: datetime, reason: str, extra: dict | None = None
) -> bool:
    if user.status == target:
        if extra:
            for key, value in extra.items():
                setattr(user, key, value)
        return False
    if not statuses.can_transition(user.status, target):
        log.info(
            "status change skipped",
            extra={"member_id": user.id, "from": user.status, "to": target, "reason": reason},
        )
        return False
    return member_actions.change_status(
        session, RUNTIME, STRIPE, user, target, now=now, reason=reason, extra=extra
    )


def _staff_alert(
    session: Session, title: str, message: str, *, urgent: bool = False, kind: str = "membership_alert"
) -> None:
    RUNTIME.publish(
        session,
        "membership.notification.requested",
        {
            "audience": "staff",
            "type": kind,
            "title": title,
            "message": message,
            "link": None,
            "urgent": urgent,
            "channels": ["in_app", "push"] if urgent else ["in_app"],
        },
    )


def subscription_updated(session: Session, event: Event) -> None:
    data = event.data
    user = _find(session, email=data["email"], customer_id=data["customer_id"])
    if user is None or user.billing_provider != "stripe":
        return  # only Stripe-billed members follow Stripe
    now = event.occurred_at
    sub_id = data["subscription_id"]
    current = user.stripe_subscription_id
    new_subscription = current is None or current != sub_id
    if current and current != sub_id and statuses.has_access(user.status):
        log.info(
            "event for a subscription that is not the member's current one", extra={"member_id": user.id}
        )
        return
    if data["customer_id"] and not user.stripe_customer_id:
        user.stripe_customer_id = data["customer_id"]
    stripe_status = data["stripe_status"]
    if stripe_status == "canceled":
        if current and current != sub_id:
            return
        target = "paused" if user.status == "trialing" else "cancelled"
        last = user.tier
        if _move(
            session,
            user,
            target,
            now=now,
            reason="subscription cancelled",
            extra={"stripe_subscription_id": None, "stripe_subscription_status": "canceled"},
        ):
            if last:
                member_actions.set_tier(session, RUNTIME, STRIPE, user, None)
                user.last_tier = last
            if target == "cancelled" and user.family_group_id:
                _staff_alert(
                    session,
                    "Group primary cancelled",
                    f"{user.name}'s group members were cancelled with them.",
                )
        return
    target = STRIPE_STATUS[stripe_status]
    if user.status in _ENDED and not (new_subscription and statuses.has_access(target)):
        return  # an old subscription never revives an ended membership
    if (
        statuses.has_access(target)
        and not statuses.has_access(user.status)
        and user.status
        not in (
            # a suspension (admin pause, dispute) is lifted by its own rule, never by a renewal
            "pending",
            "inactive",
            "non-member",
            "visitor",
            "frozen",
            "paused",
            *_ENDED,
        )
    ):
        return
    user.stripe_subscription_id = sub_id
    user.stripe_subscription_status = stripe_status
    if data.get("trial_end"):
        user.trial_ends_at = data["trial_end"]
    if statuses.has_access(target) and data.get("tier_slug") and data["tier_slug"] != user.tier:
        member_actions.set_tier(session, RUNTIME, STRIPE, user, data["tier_slug"])
    _move(session, user, target, now=now, reason=f"stripe {stripe_status}")


def _current_subscription(user: User, subscription_id: str | None) -> bool:
    return (
        not subscription_id
        or not user.stripe_subscription_id
        or user.stripe_subscription_id == subscription_id
    )


def membership_payment_failed(session: Session, event: Event) -> None:
    data = event.data
    user = _find(session, email=data["email"], customer_id=data["customer_id"])
    if (
        user is None
        or user.billing_provider != "stripe"
        or not _current_subscription(user, data["subscription_id"])
    ):
        return
    extra = {"grace_period_start": user.grace_period_start or data["occurred_at"]}
    if user.status == "past_due":
        if user.grace_period_start is None:
            user.grace_period_start = data["occurred_at"]
        return
    _move(session, user, "past_due", now=event.occurred_at, reason="membership payment failed", extra=extra)


def membership_payment_succeeded(session: Session, event: Event) -> None:
    data = event.data
    user = _find(session, email=data["email"], customer_id=data["customer_id"])
    if (
        user is None
        or user.billing_provider != "stripe"
        or not _current_subscription(user, data["subscription_id"])
    ):
        return
    user.grace_period_start = None
    user.grace_email_count = 0
    if data.get("tier_slug") and data["tier_slug"] != user.tier:
        member_actions.set_tier(session, RUNTIME, STRIPE, user, data["tier_slug"])
    if user.status in ("past_due", "grace_period", "unpaid"):
        _move(session, user, "active", now=event.occurred_at, reason="membership payment succeeded")


def grace_period_expired(session: Session, event: Event) -> None:
    data = event.data
    user = _find(session, email=data["email"], customer_id=data["customer_id"])
    if user is None or user.status != "past_due":
        return
    last = user.tier
    if _move(
        session,
        user,
        "terminated",
        now=event.occurred_at,
        reason="grace period expired",
        extra={"grace_period_start": None},
    ):
        if last:
            member_actions.set_tier(session, RUNTIME, STRIPE, user, None)
            user.last_tier = last
        _staff_alert(
            session,
            "Membership terminated",
            f"{user.name} ({user.email}): the grace period ran out unpaid.",
            urgent=True,
            kind="membership_terminated",
        )


def dispute_opened(session: Session, event: Event) -> None:
    data = event.data
    user = _find(session, email=data["email"], customer_id=data["customer_id"])
    if user is None:
        return
    dispute = session.get(MemberDispute, data["dispute_id"])
    if dispute is None:
        session.add(
            MemberDispute(
                dispute_id=data["dispute_id"],
                member_email=user.email,
                status="open",
                amount_cents=data["amount_cents"],
                opened_at=event.occurred_at,
            )
        )
    _move(session, user, "suspended", now=event.occurred_at, reason="payment dispute opened")
    _staff_alert(
        session,
        "Payment dispute opened",
        f"{user.name} ({user.email}) disputed {data['amount_cents'] / 100:.2f}: membership suspended.",
        urgent=True,
        kind="dispute_opened",
    )


def dispute_closed(session: Session, event: Event) -> None:
    data = event.data
    user = _find(session, email=data["email"], customer_id=data["customer_id"])
    if user is None:
        return
    dispute = session.get(MemberDispute, data["dispute_id"], with_for_update=True)
    if dispute is None:
        dispute = MemberDispute(
            dispute_id=data["dispute_id"],
            member_email=user.email,
            status="open",
            amount_cents=data["amount_cents"],
            opened_at=event.occurred_at,
        )
        session.add(dispute)
    dispute.status = data.get("outcome") or "lost"
    dispute.closed_at = event.occurred_at
    session.flush()
    if dispute.status != "won" or user.status != "suspended":
        return
    others_open = session.scalar(
        select(MemberDispute.dispute_id).where(
            MemberDispute.member_email == user.email, MemberDispute.status == "open"
        )
    )
    if others_open or user.stripe_subscription_status in ("past_due", "unpaid", "canceled"):
        return
    _move(session, user, "active", now=event.occurred_at, reason="dispute won")


def _excluded(session: Session, email: str) -> bool:
    return session.scalar(select(SyncExclusion.id).where(SyncExclusion.email == email)) is not None


def _names(email: str, first: str | None, last: str | None) -> tuple[str, str]:
    local = email.split("@")[0].replace(".", " ").replace("_", " ").strip() or email
    return (first or local.split(" ")[0].title())[:100], (last or "")[:100]


def checkout_completed(session: Session, event: Event) -> None:
    """A sign-up checkout makes (or completes) a pending member; a corporate one also its group."""
    data = event.data
    if (
        data["purpose"] not in ("subscription", "activation_link", "staff_invite", "company_name")
        or not data["email"]
    ):
        return
    email = email_rules.normalise(data["email"])
    if _excluded(session, email):
        return
    meta = data.get("metadata") or {}
    user = _find(session, email=email, customer_id=data["customer_id"])
    if user is None:
        if member_actions.resolve_email(session, email, include_final=True) is not None:
            return  # archived or merged: a checkout does not bring them back
        first, last = _names(email, meta.get("first_name"), meta.get("last_name"))
        user = member_actions.create(
            session, RUNTIME, STRIPE, email=email, first_name=first, last_name=last, status="pending"
        )
    if data["customer_id"] and not user.stripe_customer_id:
        user.stripe_customer_id = data["customer_id"]
    if data["subscription_id"] and not user.stripe_subscription_id:
        user.stripe_subscription_id = data["subscription_id"]
    company = meta.get("company_name")
    if company and group_actions.active_group_of(session, user.email) is None:
        try:
            seats = max(int(meta.get("quantity", "1")), 1)
        except ValueError:
            seats = 1
        group_actions.create(
            session,
            RUNTIME,
            STRIPE,
            primary=user,
            type="corporate",
            group_name=company,
            company_name=company,
            max_seats=seats,
        )


def application_invited(session: Session, event: Event) -> None:
    data = event.data
    email = email_rules.normalise(data["email"])
    if (
        _excluded(session, email)
        or member_actions.resolve_email(session, email, include_final=True) is not None
    ):
        return
    first, last = _names(email, data["first_name"], data["last_name"])
    actor = Actor(type="staff", email=data["invited_by"], role="staff")
    tier = data["tier"]
    try:
        member_actions.tier_by_slug(session, tier) if tier else None
    except Exception:
        tier = None
    member_actions.create(
        session,
        RUNTIME,
        actor,
        email=email,
        first_name=first,
        last_name=last,
        phone=data["phone"],
        tier=tier,
        status="pending",
        audit_action="member.invited",
    )


PROFILE_FROM_HUBSPOT = {
    "firstname": "first_name",
    "first_name": "first_name",
    "lastname": "last_name",
    "last_name": "last_name",
    "phone": "phone",
}
OPT_INS_FROM_HUBSPOT = {"email_opt_in", "sms_opt_in", "push_opt_in", "marketing_opt_in"}


def hubspot_contact_updated(session: Session, event: Event) -> None:
    """HubSpot fills blank profile fields only; opt-ins overwrite; merged contacts' e-mails become
    linked e-mails; a changed note becomes a member note. Never status or tier."""
    data = event.data
    user = _find(session, email=data["email"], customer_id=None)
    if user is None:
        return
    changes: dict[str, Any] = {}
    for key, value in data["profile"].items():
        column = PROFILE_FROM_HUBSPOT.get(key)
        if column and value and not (getattr(user, column) or "").strip():
            changes[column] = value.strip()[: 100 if column != "phone" else 40]
    for key, value in data["opt_ins"].items():
        if key in OPT_INS_FROM_HUBSPOT:
            changes[key] = value
    if not user.hubspot_id:
        changes["hubspot_id"] = data["hubspot_id"]
    if changes:
        member_actions.update_profile(session, RUNTIME, STRIPE, user, changes)
    for merged in data["merged_emails"]:
        merged = email_rules.normalise(merged)
        if merged != user.email and member_actions.email_owner(session, merged) is None:
            member_actions.add_linked_email(session, RUNTIME, STRIPE, user, merged, source="hubspot_merge")
    if data.get("note"):
        digest = data.get("note_hash") or hashlib.sha256(data["note"].encode()).hexdigest()
        exists = session.scalar(
            select(MemberNote.id).where(
                MemberNote.member_email == user.email, MemberNote.content_hash == digest
            )
        )
        if not exists:
            session.add(
                MemberNote(
                    member_email=user.email, note=data["note"], created_by="hubspot", content_hash=digest
                )
            )


def first_booking(session: Session, event: Event) -> None:
    """booking.request.created: the onboarding checklist's first booking."""
    user = _find(session, email=event.data["member_email"], customer_id=None)
    if user is not None and user.first_booking_at is None:
        user.first_booking_at = event.occurred_at


def visit_recorded(session: Session, event: Event) -> None:
    """booking.visit.recorded: a walk-in visit counts toward the member's lifetime visits (the
    consumer's inbox makes a redelivered event count once)."""
    user = _find(session, email=event.data["member_email"], customer_id=None)
    if user is not None:
        user.lifetime_visits += 1


def email_bounced(session: Session, event: Event) -> None:
    user = _find(session, email=event.data["email"], customer_id=None)
    if user is not None and user.email_delivery_status != "bounced":
        member_actions.update_profile(session, RUNTIME, STRIPE, user, {"email_delivery_status": "bounced"})


def email_complained(session: Session, event: Event) -> None:
    user = _find(session, email=event.data["email"], customer_id=None)
    if user is not None:
        member_actions.update_profile(
            session, RUNTIME, STRIPE, user, {"email_delivery_status": "complained", "marketing_opt_in": False}
        )


def group_item_added(session: Session, event: Event) -> None:
    """billing.group_item.added: the member is active with group, tier and provider family_addon."""
    group_actions.activate_member(
        session,
        RUNTIME,
        STRIPE,
        email_rules.normalise(event.data["member_email"]),
        now=event.occurred_at,
        item_id=event.data["subscription_item_id"],
    )


def group_item_failed(session: Session, event: Event) -> None:
    """billing.group_item.failed: back to pending with no tier; staff are told."""
    email = email_rules.normalise(event.data["member_email"])
    group_actions.group_item_failed(session, RUNTIME, STRIPE, email, now=event.occurred_at)
    _staff_alert(
        session,
        "Group member not added",
        f"Billing could not add {email} to the group of "
        f"{event.data['primary_email']}: {event.data.get('reason') or 'no reason given'}.",
    )
