"""Guest-pass arithmetic (domain.md §5.4): allocation, availability, periods."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

RESET_AT = time(3, 0)
RESET_WINDOW_END = time(8, 0)


@dataclass(frozen=True)
class PassBalance:
    total: int
    used: int
    held: int

    @property
    def available(self) -> int:
        return max(0, self.total - self.used - self.held)


def allocation(per_period: int | None, used: int) -> int:
    """The period's allocation: the tier's passes, never below what is already used; a member whose
    tier cannot be resolved gets 0 (never a default)."""
    return max(per_period or 0, used)


def to_hold(named_guests: int, balance: PassBalance) -> int:
    return max(0, min(named_guests, balance.available))


def period_key(now: datetime, tz: ZoneInfo, period: str) -> str:
    """The key of the period `now` is in; periods start at 03:00 club time on the 1st of the month
    (monthly, `YYYY-MM`) or on 1 January (yearly, `YYYY`)."""
    local = now.astimezone(tz)
    if period == "yearly":
        start = datetime(local.year, 1, 1, 3, 0, tzinfo=tz)
        return str(local.year if local >= start else local.year - 1)
    start = datetime(local.year, local.month, 1, 3, 0, tzinfo=tz)
    if local >= start:
        return f"{local.year:04d}-{local.month:02d}"
    previous = local.replace(day=1) - timedelta(days=1)
    return f"{previous.year:04d}-{previous.month:02d}"


def in_reset_window(now: datetime, tz: ZoneInfo, period: str) -> bool:
    """The reset runs between 03:00 and 08:00 club time on the period's first day."""
    local = now.astimezone(tz)
    first_day = local.day == 1 and (period != "yearly" or local.month == 1)
    return first_day and RESET_AT <= local.time() < RESET_WINDOW_END
