"""Staff actions for the club-wide audit log (domain.md §11).

Every service publishes `<service>.audit.recorded` in the transaction of the action; membership
stores it in `admin_audit_log` (once per event id). Inside a request:

    from club_shared.audit import publish_audit
    publish_audit(session, "closure_created", "closure", closure.id, resource_name=closure.title,
                  details={"areas": areas})
"""

from __future__ import annotations

from typing import Any

from flask import has_request_context, request
from sqlalchemy.orm import Session

from .auth import Identity, current_identity


def audit_data(
    action: str,
    resource_type: str,
    resource_id: Any = None,
    *,
    resource_name: str | None = None,
    details: dict[str, Any] | None = None,
    identity: Identity | None = None,
    actor_type: str | None = None,
) -> dict[str, Any]:
    """The `<service>.audit.recorded` data for the calling user (or `identity`; without either, the
    system), with the caller's address and user agent when there is a request."""
    if identity is None and has_request_context():
        try:
            identity = current_identity()
        except Exception:  # an anonymous request (a webhook): the system acts
            identity = None
    ip = user_agent = None
    if has_request_context():
        ip = request.headers.get("X-Real-IP", "").strip() or request.remote_addr or None
        user_agent = request.user_agent.string or None
    return {
        "actor_type": actor_type
        or ("system" if identity is None else ("staff" if identity.is_staff else "member")),
        "actor_email": identity.email if identity else None,
        "action": action[:100],
        "resource_type": resource_type[:50],
        "resource_id": None if resource_id is None else str(resource_id)[:100],
        "resource_name": resource_name[:300] if resource_name else None,
        "details": details or {},
        "ip_address": ip[:64] if ip else None,
        "user_agent": user_agent[:500] if user_agent else None,
    }


def publish_audit(
    session: Session, action: str, resource_type: str, resource_id: Any = None, **kwargs
) -> None:
    """Publish `<this service>.audit.recorded` in `session`'s transaction (inside a request)."""
    from flask import current_app

    runtime = current_app.extensions["club"]
    runtime.publish(
        session, f"{runtime.service}.audit.recorded", audit_data(action, resource_type, resource_id, **kwargs)
    )
