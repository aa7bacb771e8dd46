"""Tours (domain.md §8.3): the status machine, 30-minute slots within the tour hours in club time, and
what makes a tour stale."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from club_shared.clubtime import InvalidLocalTime, to_utc

SLOT = timedelta(minutes=30)
#: status → the statuses it may move to
TRANSITIONS: dict[str, tuple[str, ...]] = {
    "pending": ("scheduled", "cancelled"),
    "scheduled": ("scheduled", "checked_in", "no_show", "cancelled"),
    "checked_in": ("completed",),
    "completed": (),
    "no_show": (),
    "cancelled": (),
}
#: statuses that hold a slot
HOLDING = ("scheduled", "checked_in")
ACTIONS = {  # action → (the statuses it starts from, the status it ends in)
    "check_in": (("scheduled",), "checked_in"),
    "complete": (("checked_in",), "completed"),
    "no_show": (("scheduled",), "no_show"),
    "cancel": (("pending", "scheduled"), "cancelled"),
}


class TourRefused(ValueError):
    def __init__(self, status: int, code: str, detail: str):
        super().__init__(detail)
        self.status, self.code = status, code


@dataclass(frozen=True)
class Slot:
    starts_at: datetime
    ends_at: datetime
    start_time: str
    end_time: str


def hours(setting: Mapping[str, str] | None) -> tuple[time, time]:
    setting = setting or {}
    try:
        return time.fromisoformat(setting.get("start", "10:00")), time.fromisoformat(
            setting.get("end", "17:00")
        )
    except ValueError:
        return time(10, 0), time(17, 0)


def day_slots(day: date, tour_hours: tuple[time, time], tz: ZoneInfo) -> list[Slot]:
    """Every 30-minute slot of the tour hours on a club date (a slot that would not exist — the DST
    gap — is left out)."""
    start, end = tour_hours
    slots = []
    cursor = datetime.combine(day, start)
    last = datetime.combine(day, end)
    while cursor + SLOT <= last:
        try:
            starts_at = to_utc(day, cursor.time(), tz)
        except InvalidLocalTime:
            cursor += SLOT
            continue
        ends_at = starts_at + SLOT
        slots.append(
            Slot(starts_at, ends_at, cursor.strftime("%H:%M"), ends_at.astimezone(tz).strftime("%H:%M"))
        )
        cursor += SLOT
    return slots


def free_slots(
    day: date,
    tour_hours: tuple[time, time],
    busy: Iterable[tuple[datetime, datetime]],
    tz: ZoneInfo,
    now: datetime,
) -> list[Slot]:
    """Slots that start in the future and overlap nothing busy (touching is fine)."""
    busy = list(busy)
    return [
        s
        for s in day_slots(day, tour_hours, tz)
        if s.starts_at > now
        and not any(b_start < s.ends_at and s.starts_at < b_end for b_start, b_end in busy)
    ]


def slot_at(day: date, start: time, tour_hours: tuple[time, time], tz: ZoneInfo) -> Slot:
    """The slot starting at `start` on `day`, or TourRefused when there is none."""
    for slot in day_slots(day, tour_hours, tz):
        if slot.start_time == start.strftime("%H:%M"):
            return slot
    open_, close = tour_hours
    raise TourRefused(
        422,
        "OUTSIDE_TOUR_HOURS",
        f"Tours start on the half hour between {open_.strftime('%H:%M')} and {close.strftime('%H:%M')} "
        "(the last one 30 minutes before closing).",
    )


def is_stale(status: str, ends_at: datetime | None, now: datetime) -> bool:
    """A past tour still scheduled: nobody checked the visitor in or marked a no-show."""
    return status == "scheduled" and ends_at is not None and ends_at <= now


def check_move(current: str, action: str) -> str:
    """The status `action` leads to from `current`; TourRefused(409) when it may not."""
    starts, target = ACTIONS[action]
    if current not in starts:
        raise TourRefused(409, "STATE_CONFLICT", f"A {current} tour cannot be {target.replace('_', ' ')}.")
    return target


def mentions_tour(*texts: str | None) -> bool:
    return any(t and "tour" in t.lower() for t in texts)
