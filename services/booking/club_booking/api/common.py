"""What every booking blueprint shares: the clock, the caller, units of work, club-time output."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

from flask import current_app
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from club_shared.auth import Identity, current_identity, require_role
from club_shared.clubtime import utcnow
from club_shared.problems import Problem
from club_shared.web import runtime

#: SQLSTATE of an exclusion-constraint violation: another booking took the bay first.
EXCLUSION_VIOLATION = "23P01"


def now() -> datetime:
    """The current instant (tests give the app a clock of their own)."""
    return current_app.config.get("CLUB_CLOCK", utcnow)()


def caller() -> Identity:
    return current_identity()


@contextmanager
def unit_of_work() -> Iterator[Session]:
    """A transaction whose exclusion-constraint violation is a 409 SLOT_TAKEN, never a 500: the
    database refused a second booking of the same bay at the same time."""
    try:
        with runtime().db.transaction() as session:
            yield session
    except IntegrityError as exc:
        if (problem := slot_taken(exc)) is not None:
            raise problem from None
        raise


def slot_taken(exc: IntegrityError) -> Problem | None:
    """The 409 SLOT_TAKEN an exclusion-constraint violation means; None for any other violation."""
    if getattr(exc.orig, "sqlstate", None) == EXCLUSION_VIOLATION:
        return Problem(409, "That time on this resource was just taken.", code="SLOT_TAKEN")
    return None


def local(instant: datetime | None) -> datetime | None:
    """An instant as club time (ISO 8601 with the club's offset on output)."""
    return instant.astimezone(runtime().tz) if instant is not None else None


def signed_in(view):
    """Any signed-in caller (member, staff, admin): checked before the body is read, so an anonymous
    caller gets 401 whatever they sent."""

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        current_identity()
        return view(*args, **kwargs)

    return wrapper


#: Staff of any role (staff, golf instructor) and admins (domain.md: "staff" = any staff_users role).
staff_only = require_role("staff", "golf_instructor")
admin_only = require_role("admin")
