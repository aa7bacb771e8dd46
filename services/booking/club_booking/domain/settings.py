"""The settings booking reads (domain.md §2.7, §3, §4, §5.4), with their defaults."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, time
from typing import Any
from zoneinfo import ZoneInfo

from .timeranges import Span, parse_wall_time, wall_span

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

DEFAULT_HOURS: dict[str, tuple[time, time] | None] = {
    "mon": None,
    "tue": (time(8, 30), time(20, 0)),
    "wed": (time(8, 30), time(20, 0)),
    "thu": (time(8, 30), time(20, 0)),
    "fri": (time(8, 30), time(22, 0)),
    "sat": (time(8, 30), time(22, 0)),
    "sun": (time(8, 30), time(18, 0)),
}


@dataclass(frozen=True)
class BusinessHours:
    by_weekday: Mapping[str, tuple[time, time] | None] = field(default_factory=lambda: dict(DEFAULT_HOURS))

    def for_day(self, day: date) -> tuple[time, time] | None:
        return self.by_weekday.get(WEEKDAYS[day.weekday()])

    def span(self, day: date, tz: ZoneInfo) -> Span | None:
        """The day's opening hours as UTC instants, or None when the club is closed."""
        hours = self.for_day(day)
        return wall_span(day, *hours, tz) if hours else None

    def contains(self, day: date, booking: Span, tz: ZoneInfo) -> bool:
        open_span = self.span(day, tz)
        return open_span is not None and open_span.start <= booking.start and booking.end <= open_span.end

    @classmethod
    def from_setting(cls, value: Any) -> BusinessHours:
        """`{"mon": null, "tue": ["08:30", "20:00"], …}` (membership's form) or with
        `{"open": …, "close": …}` per day; a missing or malformed day keeps its default."""
        hours = dict(DEFAULT_HOURS)
        if isinstance(value, Mapping):
            for day in WEEKDAYS:
                if day not in value:
                    continue
                entry = value[day]
                if entry is None:
                    hours[day] = None
                    continue
                try:
                    opens, closes = (entry["open"], entry["close"]) if isinstance(entry, Mapping) else entry
                    hours[day] = (parse_wall_time(opens), parse_wall_time(closes))
                except (KeyError, TypeError, ValueError, AttributeError):
                    continue
        return cls(hours)

    def to_setting(self) -> dict[str, Any]:
        return {
            day: (
                {"open": hours[0].strftime("%H:%M"), "close": hours[1].strftime("%H:%M")} if hours else None
            )
            for day, hours in self.by_weekday.items()
        }


@dataclass(frozen=True)
class BookingSettings:
    business_hours: BusinessHours = field(default_factory=BusinessHours)
    late_cancel_minutes: int = 60
    expiry_grace_minutes: int = 20
    autocomplete_after_minutes: int = 30
    conference_auto_confirm: bool = True
    max_pending_conference: int = 5
    guest_pass_reset_period: str = "monthly"  # or "yearly"
    guest_pass_hold_days: int = 30
    waiver_current_version: str | None = None
    placeholder_email_patterns: tuple[str, ...] = ("anonymous@*", "unmatched-*", "*@trackman.local")

    @classmethod
    def from_rows(cls, rows: Mapping[str, Any]) -> BookingSettings:
        defaults = cls()

        def number(key: str, default: int) -> int:
            value = rows.get(key)
            return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else default

        def flag(key: str, default: bool) -> bool:
            value = rows.get(key)
            return value if isinstance(value, bool) else default

        period = rows.get("guest_passes.reset_period")
        waiver = rows.get("waiver.current_version")
        patterns = rows.get("club.placeholder_email_patterns")
        return cls(
            business_hours=BusinessHours.from_setting(rows.get("booking.business_hours")),
            late_cancel_minutes=number("booking.late_cancel_minutes", defaults.late_cancel_minutes),
            expiry_grace_minutes=number("booking.expiry_grace_minutes", defaults.expiry_grace_minutes),
            autocomplete_after_minutes=number(
                "booking.autocomplete_after_minutes", defaults.autocomplete_after_minutes
            ),
            conference_auto_confirm=flag("booking.conference_auto_confirm", defaults.conference_auto_confirm),
            max_pending_conference=number("booking.max_pending_conference", defaults.max_pending_conference),
            guest_pass_reset_period=period if period in ("monthly", "yearly") else "monthly",
            guest_pass_hold_days=number("guest_passes.hold_days", defaults.guest_pass_hold_days),
            waiver_current_version=str(waiver) if waiver not in (None, "") else None,
            placeholder_email_patterns=(
                tuple(str(p).lower() for p in patterns)
                if isinstance(patterns, list)
                else defaults.placeholder_email_patterns
            ),
        )


def waiver_signed(signed_version: str | None, signed_at, current_version: str | None) -> bool:
    """Signed at all, and (when the current version is known) that version or a later one."""
    if signed_at is None:
        return False
    if current_version is None:
        return True
    if signed_version is None:
        return False
    try:
        return int(signed_version) >= int(current_version)
    except ValueError:
        return signed_version == current_version
