"""Billing groups: family and corporate (domain.md §2.4)."""

from __future__ import annotations

from .statuses import ACCESS_STATUSES

GROUP_TYPES = ("family", "corporate")

#: (minimum seats, monthly price per seat in cents), best first
SEAT_PRICES = ((50, 24900), (20, 27500), (10, 29900), (5, 32500), (0, 35000))


def seat_price_cents(seats: int) -> int:
    return next(price for minimum, price in SEAT_PRICES if seats >= minimum)


def has_own_subscription(status: str, billing_provider: str, stripe_subscription_id: str | None) -> bool:
    """A member who pays for their own membership cannot join a group as an add-on."""
    return billing_provider == "stripe" and bool(stripe_subscription_id) and status in ACCESS_STATUSES


def seats_full(group_type: str, max_seats: int | None, seats_taken: int) -> bool:
    return group_type == "corporate" and max_seats is not None and seats_taken >= max_seats
