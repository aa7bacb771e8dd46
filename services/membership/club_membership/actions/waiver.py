"""The liability waiver: its versions, and members signing the current one (domain.md §2.3).

Booking, RSVP and enrolment answer 403 WAIVER_REQUIRED until a member has signed
`waiver.current_version`: other services know the current version from membership.setting.updated
and each member's signed version from the member events' `waiver_version`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from club_shared.problems import Problem
from club_shared.runtime import Runtime

from ..domain.actors import Actor
from ..models import User, WaiverVersion
from . import audit
from . import members as member_actions
from . import settings as settings_actions


def current(session: Session) -> WaiverVersion:
    version = settings_actions.get(session, "waiver.current_version")
    waiver = session.get(WaiverVersion, version)
    if waiver is None:
        raise Problem(503, "No waiver has been published.", code="WAIVER_MISSING")
    return waiver


def status_of(session: Session, user: User) -> dict[str, Any]:
    version = settings_actions.get(session, "waiver.current_version")
    return {
        "current_version": version,
        "signed_version": user.waiver_version,
        "signed_at": user.waiver_signed_at,
        "needs_signature": user.waiver_version != version,
    }


def sign(
    session: Session, runtime: Runtime, actor: Actor, user: User, version: int, *, now: datetime
) -> bool:
    current_version = settings_actions.get(session, "waiver.current_version")
    if version != current_version:
        raise Problem(
            409,
            f"The current waiver is version {current_version}; read and sign that one.",
            code="WAIVER_VERSION_MISMATCH",
            current_version=current_version,
        )
    if user.waiver_version == version:
        return False
    member_actions.update_profile(
        session, runtime, actor, user, {"waiver_version": version, "waiver_signed_at": now}
    )
    audit.record(
        session,
        actor,
        "waiver.signed",
        "member",
        user.id,
        resource_name=user.name,
        details={"version": version},
    )
    return True


def publish(session: Session, runtime: Runtime, actor: Actor, *, title: str, body: str) -> WaiverVersion:
    """A new waiver version: from now on every member must sign it."""
    latest = session.scalar(select(func.coalesce(func.max(WaiverVersion.version), 0)))
    waiver = WaiverVersion(version=int(latest) + 1, title=title, body=body, published_by=actor.email)
    session.add(waiver)
    session.flush()
    settings_actions.put(session, runtime, actor, "waiver.current_version", waiver.version, internal=True)
    audit.record(session, actor, "waiver.published", "waiver", waiver.version, resource_name=title)
    return waiver
