"""Rules for creating a booking request (domain.md §4.4) that need no database."""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass
from datetime import date, timedelta

MAX_MINUTES = 480
MAX_OTHERS = 3  # participants besides the owner

#: The durations a member may pick, by declared players (simulators) or for the conference room.
SIMULATOR_CHOICES: dict[int, tuple[int, ...]] = {
    1: tuple(range(30, 241, 30)),
    2: (60, 120, 180, 240),
    3: (90, 120, 150, 180, 270),
    4: (120, 180, 240),
}
CONFERENCE_CHOICES: tuple[int, ...] = tuple(range(30, 241, 30))

_PLACEHOLDER_NAME = re.compile(
    r"^\s*(guest\s*\d*|guest\s*\(.*\)|empty\s*slot.*|tbd|unknown)\s*$", re.IGNORECASE
)


class RuleBroken(ValueError):
    """A request that breaks a rule: `code` is the problem code, `status` the HTTP status."""

    def __init__(self, status: int, code: str, detail: str):
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail


def normalise_resource_type(value: str) -> str:
    return "simulator" if value == "golf_simulator" else value


def check_duration(resource_type: str, declared_players: int, minutes: int, *, by_staff: bool) -> None:
    """Any booking is 1–480 real minutes; a member picks one of the offered choices."""
    if not 1 <= minutes <= MAX_MINUTES:
        raise RuleBroken(422, "INVALID_DURATION", f"A booking lasts 1 to {MAX_MINUTES} minutes.")
    if by_staff:
        return
    choices = (
        CONFERENCE_CHOICES if resource_type == "conference_room" else SIMULATOR_CHOICES[declared_players]
    )
    if minutes not in choices:
        what = (
            "the conference room" if resource_type == "conference_room" else f"{declared_players} player(s)"
        )
        raise RuleBroken(
            422,
            "INVALID_DURATION",
            f"For {what} choose one of {', '.join(map(str, choices))} minutes.",
        )


def last_bookable_day(today: date, window_days: int) -> date:
    return today + timedelta(days=window_days)


def check_window(day: date, today: date, window_days: int) -> None:
    """The booking window counts club days: today + window is the last bookable date."""
    last = last_bookable_day(today, window_days)
    if day > last:
        raise RuleBroken(
            422,
            "BOOKING_WINDOW",
            f"Your membership books up to {window_days} days ahead: the last bookable date is {last.isoformat()}.",
        )


def is_placeholder_email(email: str | None, patterns: tuple[str, ...]) -> bool:
    """Addresses that never identify a person (domain.md §1)."""
    if not email:
        return True
    return any(fnmatch.fnmatchcase(email.lower(), pattern) for pattern in patterns)


def is_placeholder_guest(name: str | None, email: str | None, patterns: tuple[str, ...]) -> bool:
    """`Guest 1`, `Guest (pending…)` or no e-mail: charged, never on a pass (domain.md §5.2)."""
    return is_placeholder_email(email, patterns) or bool(name and _PLACEHOLDER_NAME.match(name))


@dataclass(frozen=True)
class Player:
    type: str  # member | guest
    email: str | None
    name: str | None
    member_id: str | None = None
    is_staff: bool = False
    is_placeholder: bool = False


def check_roster(declared_players: int, others: list[Player]) -> None:
    if len(others) > MAX_OTHERS:
        raise RuleBroken(422, "TOO_MANY_PARTICIPANTS", f"At most {MAX_OTHERS} participants besides you.")
    if declared_players < 1 + len(others):
        raise RuleBroken(
            422,
            "PLAYER_COUNT",
            f"declared_player_count is {declared_players} but the roster names {1 + len(others)} players.",
        )
