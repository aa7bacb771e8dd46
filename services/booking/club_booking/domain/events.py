"""Rules of club events, RSVPs and wellness enrolments (domain.md §9), as plain Python."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class Refused(Exception):
    status: int
    detail: str
    code: str


def check_rsvp_capacity(max_capacity: int | None, seats_taken: int, seats_wanted: int) -> None:
    """An RSVP takes one seat for the member and one per guest; `max_capacity` None is unlimited.
    Full (confirmed seats would pass the capacity) → 409 AT_CAPACITY."""
    if max_capacity is None:
        return
    if seats_taken + seats_wanted > max_capacity:
        left = max(max_capacity - seats_taken, 0)
        detail = "This event is full." if left == 0 else f"Only {left} place(s) are left at this event."
        raise Refused(409, detail, "AT_CAPACITY")


def check_rsvp_open(*, is_active: bool, starts_at: datetime, now: datetime) -> None:
    if not is_active:
        raise Refused(409, "This event has been cancelled.", "EVENT_CANCELLED")
    if starts_at <= now:
        raise Refused(409, "This event has already started.", "EVENT_STARTED")


def enrolment_status(*, confirmed: int, capacity: int, waitlist_enabled: bool) -> str:
    """'confirmed' while a seat is free, 'waitlisted' when full and the class keeps a waitlist,
    else 409 CLASS_FULL."""
    if confirmed < capacity:
        return "confirmed"
    if waitlist_enabled:
        return "waitlisted"
    raise Refused(409, "This class is full.", "CLASS_FULL")


def check_class_capacity(capacity: int, confirmed: int) -> None:
    """A class's capacity may not drop below the seats already given: nobody loses a confirmed
    seat to an edit (staff cancel enrolments first) → 409 CAPACITY_BELOW_ENROLMENTS."""
    if capacity < confirmed:
        raise Refused(
            409,
            f"{confirmed} seat(s) are already taken; cancel enrolments before lowering the capacity to {capacity}.",
            "CAPACITY_BELOW_ENROLMENTS",
        )


def is_late_cancel(starts_at: datetime, now: datetime, late_cancel_minutes: int) -> bool:
    """Inside the late-cancel window before the class: a freed seat stays free for anyone to take
    (nobody on the waitlist is promoted into a class about to start)."""
    return now >= starts_at - timedelta(minutes=late_cancel_minutes)


def occurrences(first: datetime, *, every_days: int, count: int) -> list[int]:
    """Day offsets of a recurring class's occurrences (the first one included)."""
    if every_days < 1 or count < 1:
        raise Refused(
            422, "A recurring class repeats at least every day, at least once.", "INVALID_RECURRENCE"
        )
    return [i * every_days for i in range(count)]
