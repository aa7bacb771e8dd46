"""What a request knows about itself: the clock, the caller, the caller's address, and who may call.

The clock is the app's `CLUB_CLOCK` (a function returning an aware UTC datetime) when a test sets
one, else the real time; every rule that depends on time takes `now` from here.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import current_app, request

from club_shared.auth import ROLES, current_identity, require_role
from club_shared.clubtime import utcnow

CLOCK_KEY = "CLUB_CLOCK"

#: any signed-in caller (the view then works on the caller's own data only)
signed_in = require_role(*ROLES)
#: staff users (staff, admin, golf_instructor)
staff_only = require_role("staff", "golf_instructor")


def now() -> datetime:
    clock = current_app.config.get(CLOCK_KEY)
    return clock() if clock else utcnow()


def client_ip() -> str | None:
    real = request.headers.get("X-Real-IP", "").strip()
    return (real or request.remote_addr or "")[:64] or None


def user_agent() -> str | None:
    agent = request.user_agent.string
    return agent[:500] if agent else None


def audit(action: str, resource_type: str, resource_id: Any = None, **details: Any) -> dict[str, Any]:
    """The data of an `integrations.audit.recorded` event for the calling staff user."""
    identity = current_identity()
    return {
        "actor_type": "staff" if identity.is_staff else "member",
        "actor_email": identity.email or None,
        "action": action,
        "resource_type": resource_type,
        "resource_id": None if resource_id is None else str(resource_id)[:100],
        "details": details,
        "ip_address": client_ip(),
        "user_agent": user_agent(),
    }
