"""Form submissions and applications (domain.md §8.3): form types, what a submission's fields mean,
the dedupe rule, the status machines, and the allow-list of fields sent to HubSpot."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

FORM_TYPES = ("membership", "private-hire", "event-inquiry", "guest-checkin", "contact", "tour-request")
PULL_WINDOW = timedelta(days=30)
DEDUPE_WINDOW = timedelta(minutes=5)

#: form name keywords → type, for forms staff have not configured
_NAME_HINTS = (
    ("tour", "tour-request"),
    ("private", "private-hire"),
    ("hire", "private-hire"),
    ("event", "event-inquiry"),
    ("guest", "guest-checkin"),
    ("check-in", "guest-checkin"),
    ("membership", "membership"),
    ("application", "membership"),
    ("apply", "membership"),
    ("contact", "contact"),
)

KNOWN_FIELDS = {
    "email": "email",
    "firstname": "first_name",
    "first_name": "first_name",
    "lastname": "last_name",
    "last_name": "last_name",
    "phone": "phone",
    "mobilephone": "phone",
}
TIER_FIELDS = ("membership_tier", "tier", "membership_interest", "desired_membership")

#: fields our own forms may send on to HubSpot (anything else stays with us)
OUTBOUND_ALLOWED = {
    "email",
    "firstname",
    "lastname",
    "phone",
    "company",
    "message",
    "membership_tier",
    "event_date",
    "guest_count",
    "preferred_date",
    "preferred_time",
}

APPLICATION_MOVES: dict[str, tuple[str, ...]] = {
    "new": ("read", "reviewing", "declined", "archived"),
    "read": ("reviewing", "approved", "declined", "archived"),
    "reviewing": ("approved", "declined", "archived"),
    "approved": ("invited", "declined", "archived"),
    "invited": ("converted", "archived"),
    "converted": ("archived",),
    "declined": ("archived",),
    "archived": (),
}
OTHER_MOVES: dict[str, tuple[str, ...]] = {"new": ("read", "archived"), "read": ("archived",), "archived": ()}


class FormRefused(ValueError):
    def __init__(self, status: int, code: str, detail: str):
        super().__init__(detail)
        self.status, self.code = status, code


def type_from_name(name: str | None) -> str | None:
    lowered = (name or "").lower()
    for hint, form_type in _NAME_HINTS:
        if hint in lowered:
            return form_type
    return None


@dataclass(frozen=True)
class Submission:
    hubspot_submission_id: str | None
    submitted_at: datetime
    email: str | None
    first_name: str | None
    last_name: str | None
    phone: str | None
    requested_tier: str | None
    data: dict[str, Any]
    extra: dict[str, Any]


def parse_submission(
    values: Iterable[Mapping[str, Any]],
    submitted_at: datetime,
    submission_id: str | None,
    page_url: str | None = None,
) -> Submission:
    """HubSpot's `values` ([{name, value}]) → the fields we know, the rest kept as metadata."""
    data: dict[str, Any] = {}
    for item in values:
        name = str(item.get("name", "")).strip()
        if name:
            data[name] = item.get("value")
    known: dict[str, str | None] = {}
    extra: dict[str, Any] = {}
    for name, value in data.items():
        ours = KNOWN_FIELDS.get(name.lower())
        if ours and not known.get(ours):
            known[ours] = str(value).strip() if value is not None else None
        elif name.lower() not in TIER_FIELDS:
            extra[name] = value
    email = (known.get("email") or "").strip().lower() or None
    if email and not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", email):
        email = None
    tier = next((str(data[f]).strip().lower() for f in data if f.lower() in TIER_FIELDS and data[f]), None)
    if page_url:
        extra["page_url"] = page_url
    return Submission(
        hubspot_submission_id=submission_id,
        submitted_at=submitted_at,
        email=email,
        first_name=known.get("first_name"),
        last_name=known.get("last_name"),
        phone=known.get("phone"),
        requested_tier=tier,
        data=data,
        extra=extra,
    )


def is_near_duplicate(a: datetime, b: datetime) -> bool:
    """Same e-mail and type within ±5 minutes: one submission."""
    return abs(a - b) <= DEDUPE_WINDOW


def check_move(form_type: str, current: str, target: str) -> None:
    moves = APPLICATION_MOVES if form_type == "membership" else OTHER_MOVES
    if target not in moves.get(current, ()):
        raise FormRefused(
            409, "STATE_CONFLICT", f"A {current} {form_type} submission cannot become {target}."
        )


def outbound_fields(
    fields: Mapping[str, Any], allowed_by_form: Iterable[str] | None = None
) -> dict[str, str]:
    """Only allow-listed fields (and, when the form's fields are known, only those) go to HubSpot."""
    form_fields = {f.lower() for f in allowed_by_form} if allowed_by_form else None
    out = {}
    for name, value in fields.items():
        key = name.lower()
        if (
            key in OUTBOUND_ALLOWED
            and (form_fields is None or key in form_fields)
            and value not in (None, "")
        ):
            out[key] = str(value)
    return out
