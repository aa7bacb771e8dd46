"""Check-in by QR code or member card and walk-in visits (domain.md §4.8), as plain Python."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from .events import Refused

#: A repeated scan of the same member this soon after a visit is the same visit.
REPEAT_WINDOW = timedelta(minutes=2)

_MEMBER_CODE = re.compile(r"^\s*MEMBER:\s*([A-Za-z0-9_.@-]{1,64})\s*$", re.IGNORECASE)


def member_id_from_code(code: str) -> str:
    """The member id of a scanned `MEMBER:<user id>` code (the app's QR code and the member card);
    anything else — a day pass's `DAYPASS:<id>` included — is 422 INVALID_CODE."""
    found = _MEMBER_CODE.match(code)
    if found is None:
        if code.strip().upper().startswith("DAYPASS:"):
            raise Refused(
                422, "A day pass is redeemed as a day pass, not as a member check-in.", "INVALID_CODE"
            )
        raise Refused(422, "Not a member code (MEMBER:<id>).", "INVALID_CODE")
    return found.group(1)


def is_repeat_scan(last_visit_at: datetime | None, now: datetime) -> bool:
    return last_visit_at is not None and now - last_visit_at < REPEAT_WINDOW
