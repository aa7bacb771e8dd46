"""What a request knows about itself: the clock, the caller, the caller's address.

The clock is the app's `CLUB_CLOCK` (a function returning an aware UTC datetime) when a test sets
one, else the real time; every rule that depends on time takes `now` from here.
"""

from __future__ import annotations

from datetime import datetime

from flask import current_app, request

from club_shared.auth import ROLES, current_identity, require_role
from club_shared.clubtime import utcnow

from .domain.actors import Actor

CLOCK_KEY = "CLUB_CLOCK"


def _access(level: str, decorator):
    """`decorator`, and the view documented as needing a bearer token and tagged with its level
    (`club_access`: the authorization table's test compares it with the table)."""

    def apply(view):
        wrapped = decorator(view)
        apidoc = dict(getattr(wrapped, "_apidoc", {}))
        apidoc["manual_doc"] = {**apidoc.get("manual_doc", {}), "security": [{"bearerAuth": []}]}
        wrapped._apidoc = apidoc
        wrapped.club_access = level
        return wrapped

    return apply


#: any signed-in caller (a member acts on their own records only); any staff role; admins only
signed_in = _access("member", require_role(*ROLES))
staff_only = _access("staff", require_role("staff", "golf_instructor"))
admin_only = _access("admin", require_role("admin"))


def public(view):
    view.club_access = "anonymous"
    return view


def now() -> datetime:
    clock = current_app.config.get(CLOCK_KEY)
    return clock() if clock else utcnow()


def client_ip() -> str:
    """The caller's address: the gateway's X-Real-IP (it overwrites any the client sent), else the
    socket's peer."""
    real = request.headers.get("X-Real-IP", "").strip()
    return (real or request.remote_addr or "unknown")[:64]


def user_agent() -> str | None:
    agent = request.user_agent.string
    return agent[:500] if agent else None


def actor() -> Actor:
    identity = current_identity()
    return Actor(
        type="staff" if identity.is_staff else "member",
        email=identity.email,
        role=identity.role,
        member_id=identity.subject,
        ip_address=client_ip(),
        user_agent=user_agent(),
    )


def anonymous_actor() -> Actor:
    return Actor(type="member", email=None, ip_address=client_ip(), user_agent=user_agent())
