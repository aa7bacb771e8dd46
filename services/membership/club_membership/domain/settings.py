"""The settings registry (domain.md §2.7): every admin-edited key with its type, default and category.

`app_settings` stores a key only once an admin changed it; a key never stored reads as its default.
Values are JSON; `validate` refuses a value of the wrong shape with a message for the admin.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .emails import DEFAULT_PLACEHOLDER_PATTERNS


class SettingError(ValueError):
    pass


@dataclass(frozen=True)
class SettingSpec:
    key: str
    category: str
    default: Any
    check: Callable[[Any], Any]
    description: str
    public: bool = False  # readable by anyone (contact details, hours)
    read_only: bool = False  # changed by its own operation, not through the settings API
    extra: dict = field(default_factory=dict)


def _integer(low: int, high: int) -> Callable[[Any], int]:
    def check(value):
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise SettingError(f"an integer from {low} to {high}")
        return value

    return check


def _string(max_length: int = 500, pattern: str | None = None) -> Callable[[Any], str]:
    def check(value):
        if not isinstance(value, str) or len(value) > max_length:
            raise SettingError(f"text of at most {max_length} characters")
        if pattern and value and not re.fullmatch(pattern, value):
            raise SettingError("text in the expected format")
        return value.strip()

    return check


def _one_of(*choices: str) -> Callable[[Any], str]:
    def check(value):
        if value not in choices:
            raise SettingError(f"one of {', '.join(choices)}")
        return value

    return check


def _string_list(item_pattern: str, max_items: int = 50) -> Callable[[Any], list[str]]:
    def check(value):
        if not isinstance(value, list) or len(value) > max_items:
            raise SettingError(f"a list of at most {max_items} items")
        items = []
        for item in value:
            if not isinstance(item, str) or not re.fullmatch(item_pattern, item.strip().lower()):
                raise SettingError("a list of well-formed entries")
            items.append(item.strip().lower())
        return items

    return check


def _timezone(value):
    if not isinstance(value, str):
        raise SettingError("an IANA time zone name")
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise SettingError("an IANA time zone name such as America/Los_Angeles") from None
    return value


_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


def _business_hours(value):
    if not isinstance(value, dict) or set(value) - set(_DAYS):
        raise SettingError('an object with days mon…sun, each null (closed) or ["HH:MM", "HH:MM"]')
    hours = {}
    for day in _DAYS:
        span = value.get(day)
        if span is None:
            hours[day] = None
            continue
        if (
            not isinstance(span, list)
            or len(span) != 2
            or not all(isinstance(t, str) and _HHMM.match(t) for t in span)
            or span[0] >= span[1]
        ):
            raise SettingError(f'{day}: null or ["HH:MM", "HH:MM"] with the opening before the closing')
        hours[day] = span
    return hours


def _string_map(value):
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) and len(v) <= 200 for k, v in value.items()
    ):
        raise SettingError("an object of text values")
    return value


_DOMAIN = r"[a-z0-9.-]+\.[a-z]{2,}"
_HOUR = _integer(0, 23)

REGISTRY: dict[str, SettingSpec] = {
    spec.key: spec
    for spec in (
        SettingSpec(
            "club.timezone", "club", "America/Los_Angeles", _timezone, "The club's time zone.", public=True
        ),
        SettingSpec("club.name", "club", "Clubhouse", _string(100), "The club's name.", public=True),
        SettingSpec(
            "club.app_url",
            "club",
            "http://127.0.0.1:8080",
            _string(300, r"https?://\S+"),
            "The member app's address (sign-in links).",
        ),
        SettingSpec(
            "club.alias_domains",
            "club",
            [],
            _string_list(_DOMAIN),
            "E-mail domains that are aliases of one another.",
        ),
        SettingSpec(
            "club.placeholder_email_patterns",
            "club",
            list(DEFAULT_PLACEHOLDER_PATTERNS),
            _string_list(r"[a-z0-9*?@._+-]+"),
            "E-mail patterns that never identify a person.",
        ),
        SettingSpec(
            "booking.business_hours",
            "booking",
            {
                "mon": None,
                "tue": ["08:30", "20:00"],
                "wed": ["08:30", "20:00"],
                "thu": ["08:30", "20:00"],
                "fri": ["08:30", "22:00"],
                "sat": ["08:30", "22:00"],
                "sun": ["08:30", "18:00"],
            },
            _business_hours,
            "Opening hours by weekday (null: closed).",
            public=True,
        ),
        SettingSpec(
            "booking.expiry_grace_minutes",
            "booking",
            20,
            _integer(0, 1440),
            "Pending requests expire this long after their start.",
        ),
        SettingSpec(
            "booking.autocomplete_after_minutes",
            "booking",
            30,
            _integer(0, 1440),
            "Approved bookings complete this long after their end.",
        ),
        SettingSpec(
            "booking.late_cancel_minutes",
            "booking",
            60,
            _integer(0, 10080),
            "A member cancel closer than this to the start is late.",
        ),
        SettingSpec(
            "guest_passes.reset_period",
            "guest_passes",
            "monthly",
            _one_of("monthly", "yearly"),
            "When guest passes reset.",
        ),
        SettingSpec(
            "guest_passes.hold_days",
            "guest_passes",
            30,
            _integer(1, 365),
            "How long a guest-pass hold lasts.",
        ),
        SettingSpec(
            "scheduling.reminder_hour", "scheduling", 18, _HOUR, "Booking reminders go out at this club hour."
        ),
        SettingSpec(
            "scheduling.morning_closure_hour", "scheduling", 8, _HOUR, "The staff closure digest's hour."
        ),
        SettingSpec("scheduling.grace_hour", "scheduling", 10, _HOUR, "Grace-period reminders' hour."),
        SettingSpec("scheduling.nudge_hour", "scheduling", 10, _HOUR, "Onboarding nudges' hour."),
        SettingSpec(
            "scheduling.nudge_max", "scheduling", 3, _integer(0, 10), "Onboarding nudges per member at most."
        ),
        SettingSpec(
            "scheduling.grace_period_days",
            "scheduling",
            3,
            _integer(1, 60),
            "Club days of grace after a failed membership payment.",
        ),
        SettingSpec(
            "privacy.export_link_days",
            "privacy",
            7,
            _integer(1, 90),
            "How long a data-export download stays available.",
        ),
        SettingSpec(
            "cleanup.notification_retention_days",
            "cleanup",
            30,
            _integer(1, 3650),
            "Notifications older than this are deleted.",
        ),
        SettingSpec(
            "tours.hours",
            "tours",
            {"start": "10:00", "end": "17:00"},
            _string_map,
            "Hours in which tours can be booked.",
        ),
        SettingSpec(
            "waiver.current_version",
            "waiver",
            1,
            _integer(1, 1_000_000),
            "The waiver version members must have signed (changes when a new waiver is published).",
            public=True,
            read_only=True,
        ),
        SettingSpec("contact.phone", "contact", "", _string(40), "The club's phone number.", public=True),
        SettingSpec(
            "contact.email",
            "contact",
            "",
            _string(320, r"[^@\s]+@[^@\s]+\.[^@\s]+"),
            "The club's e-mail address.",
            public=True,
        ),
        SettingSpec(
            "contact.address", "contact", "", _string(300), "The club's street address.", public=True
        ),
        SettingSpec("social.instagram", "social", "", _string(300), "Instagram link.", public=True),
        SettingSpec("social.facebook", "social", "", _string(300), "Facebook link.", public=True),
        SettingSpec(
            "hubspot.tier_labels",
            "hubspot",
            {
                "social": "Social Membership",
                "core": "Core Membership",
                "premium": "Premium Membership",
                "corporate": "Corporate Membership",
                "vip": "VIP Membership",
                "core-founding": "Core Membership Founding Members",
                "premium-founding": "Premium Membership Founding Members",
                "social-founding": "Social Membership Founding Members",
            },
            _string_map,
            "HubSpot `membership_tier` labels by tier slug.",
        ),
        SettingSpec(
            "hubspot.deal_stages",
            "hubspot",
            {
                "day_pass_tour_request": "2414796536",
                "tour_booked": "2413968103",
                "visited_day_pass": "2414796537",
                "application_submitted": "2414797498",
                "billing_setup": "2825519819",
                "closed_won": "closedwon",
                "payment_declined": "2825519820",
                "closed_lost": "closedlost",
            },
            _string_map,
            "HubSpot deal stage ids.",
        ),
    )
}


def spec_for(key: str) -> SettingSpec:
    try:
        return REGISTRY[key]
    except KeyError:
        raise SettingError(f"unknown setting {key}") from None


def validate(key: str, value: Any) -> Any:
    """The value as it is stored, or SettingError naming what the key takes."""
    spec = spec_for(key)
    try:
        return spec.check(value)
    except SettingError as exc:
        raise SettingError(f"{key} takes {exc}") from None
