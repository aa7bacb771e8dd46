"""Stripe webhook ordering (domain.md §6.5): plain rules, no SQL.

Events are ordered per Stripe object and family by priority; an event of lower priority than one
already applied to the same object, or of equal priority with an earlier Stripe `created`, is out of
order and skipped. `charge.refunded` belongs to its payment intent's family.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

PRIORITIES: dict[str, tuple[str, int]] = {
    "payment_intent.created": ("payment_intent", 1),
    "payment_intent.processing": ("payment_intent", 2),
    "payment_intent.requires_action": ("payment_intent", 3),
    "payment_intent.succeeded": ("payment_intent", 10),
    "payment_intent.payment_failed": ("payment_intent", 10),
    "payment_intent.canceled": ("payment_intent", 10),
    "charge.refunded": ("payment_intent", 20),
    "invoice.created": ("invoice", 1),
    "invoice.finalized": ("invoice", 2),
    "invoice.payment_succeeded": ("invoice", 10),
    "invoice.payment_failed": ("invoice", 10),
    "invoice.paid": ("invoice", 11),
    "invoice.voided": ("invoice", 20),
    "customer.subscription.created": ("subscription", 1),
    "customer.subscription.updated": ("subscription", 5),
    "customer.subscription.paused": ("subscription", 8),
    "customer.subscription.resumed": ("subscription", 9),
    "customer.subscription.deleted": ("subscription", 20),
}


@dataclass(frozen=True)
class Ordering:
    family: str | None
    object_id: str | None
    priority: int | None


def ordering_of(event: dict[str, Any]) -> Ordering:
    obj = (event.get("data") or {}).get("object") or {}
    family, priority = PRIORITIES.get(event.get("type", ""), (None, None))
    object_id = obj.get("id") if isinstance(obj, dict) else None
    if event.get("type") == "charge.refunded":
        object_id = obj.get("payment_intent") or object_id
    return Ordering(family, object_id if isinstance(object_id, str) else None, priority)


def out_of_order(
    priority: int | None, created: datetime | None, applied: list[tuple[int, datetime | None]]
) -> bool:
    """Whether an event is older than what was already applied to its object in its family."""
    if priority is None:
        return False
    for seen_priority, seen_created in applied:
        if seen_priority > priority:
            return True
        if (
            seen_priority == priority
            and created is not None
            and seen_created is not None
            and created < seen_created
        ):
            return True
    return False


#: Stripe subscription status → the member status membership sets (§2.2), for reference and tests.
MEMBER_STATUS_FOR = {
    "active": "active",
    "trialing": "trialing",
    "past_due": "past_due",
    "unpaid": "suspended",
    "canceled": "cancelled",
    "paused": "frozen",
    "incomplete": "pending",
    "incomplete_expired": "pending",
}

SUBSCRIPTION_EVENTS = (
    "customer.subscription.created",
    "customer.subscription.updated",
    "customer.subscription.paused",
    "customer.subscription.resumed",
    "customer.subscription.deleted",
)
