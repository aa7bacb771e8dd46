"""Who may call a view, checked before the request body is read. Put these right under the route."""

from flask import request

from club_shared.auth import ROLES, Identity, current_identity, require_role
from club_shared.problems import Problem

#: any signed-in caller; the view then works on the caller's own money only
signed_in = require_role(*ROLES)
#: staff users (every staff role: staff, admin, golf_instructor)
staff_only = require_role("staff")
#: admins only
admin_only = require_role("admin")


def is_staff(identity: Identity) -> bool:
    """Staff of any role (staff, admin, golf_instructor), as domain.md and require_role("staff") mean it."""
    return identity.is_staff


def caller() -> Identity:
    return current_identity()


def client_ip() -> str | None:
    return request.headers.get("X-Forwarded-For", request.remote_addr or "").split(",")[0].strip() or None


def not_found(what: str) -> Problem:
    return Problem(404, f"No such {what}.", code="NOT_FOUND")
