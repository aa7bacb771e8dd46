"""The club settings integrations reads (membership owns them; domain.md §1, §8), with their defaults,
and the e-mail rules of §1: normalised, aliases resolved, placeholders never a person."""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

DEFAULTS: dict[str, Any] = {
    "club.alias_domains": [],
    "club.placeholder_email_patterns": [
        "anonymous@*",
        "unmatched-*",
        "*@trackman.local",
        "bookings@*",
        "noreply@*",
    ],
    "tours.hours": {"start": "10:00", "end": "17:00"},
    "hubspot.tier_labels": {
        "social": "Social Membership",
        "core": "Core Membership",
        "premium": "Premium Membership",
        "corporate": "Corporate Membership",
        "vip": "VIP Membership",
        "core-founding": "Core Membership Founding Members",
        "premium-founding": "Premium Membership Founding Members",
        "social-founding": "Social Membership Founding Members",
    },
    "hubspot.deal_stages": {
        "day_pass_tour_request": "2414796536",
        "tour_booked": "2413968103",
        "visited_day_pass": "2414796537",
        "application_submitted": "2414797498",
        "billing_setup": "2825519819",
        "closed_won": "closedwon",
        "payment_declined": "2825519820",
        "closed_lost": "closedlost",
    },
}


def value(stored: Mapping[str, Any], key: str) -> Any:
    return stored[key] if key in stored and stored[key] is not None else DEFAULTS.get(key)


def normalise_email(email: str | None) -> str | None:
    if email is None:
        return None
    email = email.strip().lower()
    return email or None


def is_placeholder(email: str, patterns: Iterable[str]) -> bool:
    email = email.strip().lower()
    return any(fnmatch.fnmatchcase(email, p.strip().lower()) for p in patterns if p)


def real_email(email: str | None, patterns: Iterable[str]) -> str | None:
    """The address as the identity key, or None for nothing, a malformed address or a placeholder."""
    email = normalise_email(email)
    if not email or "@" not in email or " " in email:
        return None
    local, _, domain = email.rpartition("@")
    if not local or "." not in domain:
        return None
    return None if is_placeholder(email, patterns) else email


def alias_candidates(email: str, alias_domains: Sequence[str]) -> list[str]:
    email = email.strip().lower()
    local, _, domain = email.rpartition("@")
    domains = [d.strip().lower() for d in alias_domains if d and d.strip()]
    if not local or domain not in domains:
        return [email]
    return [email] + [f"{local}@{other}" for other in domains if other != domain]
