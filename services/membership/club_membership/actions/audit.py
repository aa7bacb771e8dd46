"""Membership's own entries in the club-wide audit log (written in the same transaction as the change)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.orm import Session

from ..domain.actors import Actor
from ..models import AdminAuditLog


def record(
    session: Session,
    actor: Actor,
    action: str,
    resource_type: str,
    resource_id: Any = None,
    *,
    resource_name: str | None = None,
    details: dict[str, Any] | None = None,
    source_service: str = "membership",
    event_id: uuid.UUID | None = None,
) -> AdminAuditLog:
    entry = AdminAuditLog(
        staff_email=actor.email if actor.type == "staff" else None,
        actor_type=actor.type,
        actor_email=actor.email,
        action=action,
        resource_type=resource_type,
        resource_id=None if resource_id is None else str(resource_id)[:100],
        resource_name=(resource_name or None) and resource_name[:300],
        details=details or {},
        ip_address=actor.ip_address,
        user_agent=actor.user_agent,
        source_service=source_service,
        event_id=event_id or uuid.uuid4(),
    )
    session.add(entry)
    return entry
