"""Tiers, their limits and the comparison table (domain.md §2.1)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

UNLIMITED_MINUTES = 999

#: The limit columns: every tier event carries them; with `limits_source = stripe` they are read-only.
LIMIT_COLUMNS = (
    "daily_sim_minutes",
    "guest_passes_per_period",
    "booking_window_days",
    "daily_conf_room_minutes",
    "can_book_simulators",
    "can_book_conference",
    "can_book_wellness",
    "has_group_lessons",
    "has_extended_sessions",
    "has_private_lesson",
    "has_simulator_guest_passes",
    "has_discounted_merch",
    "unlimited_access",
    "guest_fee_cents",
)

#: Comparison-table keys bound to a tier column: they display the column and take no values.
BOUND_FEATURES = {
    "daily_golf_time": "daily_sim_minutes",
    "guest_passes": "guest_passes_per_period",
    "booking_window": "booking_window_days",
    "golf_simulators": "can_book_simulators",
    "conference_room": "can_book_conference",
    "group_lessons": "has_group_lessons",
    "extended_sessions": "has_extended_sessions",
    "private_lessons": "has_private_lesson",
    "sim_guest_passes": "has_simulator_guest_passes",
    "discounted_merch": "has_discounted_merch",
}
VALUE_TYPES = ("boolean", "number", "text")
FOUNDING_SUFFIX = "-founding"
#: the keyword order in which a Stripe product name decides a tier (domain.md §2.1)
PRODUCT_KEYWORDS = ("vip", "premium", "corporate", "core", "social")


def is_unlimited(minutes: int, unlimited_access: bool) -> bool:
    return unlimited_access or minutes >= UNLIMITED_MINUTES


def base_slug(slug: str) -> str:
    """`core-founding` is the tier `core` at a founding price."""
    slug = slug.strip().lower()
    return slug.removesuffix(FOUNDING_SUFFIX) if slug.endswith(FOUNDING_SUFFIX) else slug


def tier_from_product_name(name: str) -> str | None:
    lowered = name.lower()
    return next((keyword for keyword in PRODUCT_KEYWORDS if keyword in lowered), None)


def change_direction(old_rank: int | None, new_rank: int | None) -> str:
    if new_rank is None:
        return "cleared"
    if old_rank is None:
        return "assigned"
    return "upgrade" if new_rank > old_rank else "downgrade"


@dataclass(frozen=True)
class TypedValue:
    value: str | None
    value_boolean: bool | None = None
    value_number: Decimal | None = None
    value_text: str | None = None


class ValueTypeError(ValueError):
    pass


def typed_value(value_type: str, raw: Any) -> TypedValue:
    """A comparison-table value checked against its feature's type (None clears it)."""
    if raw is None:
        return TypedValue(value=None)
    if value_type == "boolean":
        if not isinstance(raw, bool):
            raise ValueTypeError("This feature takes true or false.")
        return TypedValue(value="true" if raw else "false", value_boolean=raw)
    if value_type == "number":
        if isinstance(raw, bool) or not isinstance(raw, int | float | str):
            raise ValueTypeError("This feature takes a number.")
        try:
            number = Decimal(str(raw))
        except InvalidOperation:
            raise ValueTypeError("This feature takes a number.") from None
        if not number.is_finite() or abs(number) >= Decimal("1e10"):
            raise ValueTypeError("The number is out of range.")
        number = number.quantize(Decimal("0.01"))
        return TypedValue(value=_plain(number), value_number=number)
    if value_type == "text":
        if not isinstance(raw, str) or len(raw) > 200:
            raise ValueTypeError("This feature takes text of at most 200 characters.")
        return TypedValue(value=raw, value_text=raw)
    raise ValueTypeError(f"Unknown value type {value_type}.")


def _plain(number: Decimal) -> str:
    text = format(number, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def value_out(value_type: str, value_boolean, value_number, value_text):
    if value_type == "boolean":
        return value_boolean
    if value_type == "number":
        if value_number is None:
            return None
        return int(value_number) if value_number == int(value_number) else float(value_number)
    return value_text


def bound_value(feature_key: str, column: str, tier: dict[str, Any]):
    """What a bound feature shows for a tier: the column's value, or "unlimited"."""
    value = tier[column]
    if column == "daily_sim_minutes" and is_unlimited(value, tier["unlimited_access"]):
        return "unlimited"
    if column == "daily_conf_room_minutes" and is_unlimited(value, tier["unlimited_access"]):
        return "unlimited"
    return value
