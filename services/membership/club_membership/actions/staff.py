"""Staff users (domain.md §2.5): admins manage them; deactivation ends their sessions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from club_shared.problems import Problem
from club_shared.runtime import Runtime

from ..domain import emails as email_rules
from ..domain import statuses
from ..domain.actors import Actor
from ..models import StaffUser, User
from . import audit, signin
from . import members as member_actions


def listing(session: Session, *, include_inactive: bool) -> list[StaffUser]:
    query = select(StaffUser).order_by(func.lower(StaffUser.name), StaffUser.id)
    if not include_inactive:
        query = query.where(StaffUser.is_active)
    return list(session.scalars(query))


def get(session: Session, staff_id: int, *, lock: bool = False) -> StaffUser:
    query = select(StaffUser).where(StaffUser.id == staff_id)
    staff = session.scalar(query.with_for_update() if lock else query)
    if staff is None:
        raise Problem(404, "No such staff user.", code="NOT_FOUND")
    return staff


def _publish(session: Session, runtime: Runtime, staff: StaffUser) -> None:
    session.flush()
    session.refresh(staff)
    member_id = session.scalar(select(User.id).where(User.email == staff.email))
    runtime.publish(
        session,
        "membership.staff.updated",
        {
            "staff_id": staff.id,
            "email": staff.email,
            "name": staff.name,
            "role": staff.role,
            "is_active": staff.is_active,
            "member_id": member_id,
        },
    )


def create(
    session: Session, runtime: Runtime, actor: Actor, *, email: str, name: str, role: str
) -> StaffUser:
    email = email_rules.normalise(email)
    existing = session.scalar(select(StaffUser).where(StaffUser.email == email).with_for_update())
    if existing is not None:
        if existing.is_active:
            raise Problem(409, f"{email} is staff already.", code="STAFF_EXISTS")
        existing.is_active, existing.name, existing.role = True, name, role  # rehired
        staff = existing
    else:
        staff = StaffUser(email=email, name=name, role=role, is_active=True)
        session.add(staff)
    _publish(session, runtime, staff)
    audit.record(
        session,
        actor,
        "staff.created",
        "staff",
        staff.id,
        resource_name=name,
        details={"email": email, "role": role},
    )
    return staff


def _active_admins(session: Session) -> int:
    return int(
        session.scalar(
            select(func.count()).select_from(StaffUser).where(StaffUser.role == "admin", StaffUser.is_active)
        )
        or 0
    )


def update(
    session: Session,
    runtime: Runtime,
    actor: Actor,
    staff: StaffUser,
    changes: dict[str, Any],
    *,
    now: datetime,
) -> None:
    changed = {k: v for k, v in changes.items() if getattr(staff, k) != v}
    if not changed:
        return
    leaves_admin = (
        staff.role == "admin"
        and staff.is_active
        and (changed.get("role", "admin") != "admin" or changed.get("is_active", True) is False)
    )
    if leaves_admin and _active_admins(session) <= 1:
        raise Problem(409, "The club must keep at least one active admin.", code="LAST_ADMIN")
    for key, value in changed.items():
        setattr(staff, key, value)
    _publish(session, runtime, staff)
    audit.record(
        session,
        actor,
        "staff.updated",
        "staff",
        staff.id,
        resource_name=staff.name,
        details={"changed": changed},
    )
    if "is_active" in changed or "role" in changed:
        # A role is read at sign-in and at each refresh: end the sessions so it applies now.
        signin.revoke_all(
            session,
            runtime,
            staff.email,
            member_id=None,
            reason="staff_deactivated" if changed.get("is_active") is False else "staff_role_changed",
        )
    if changed.get("is_active") is False:
        user = session.scalar(select(User).where(User.email == staff.email).with_for_update())
        if user is not None:
            member_actions.update_profile(session, runtime, actor, user, {"role": "member"})
            # The club's own comped row goes with the job; a paying member keeps their membership.
            if user.billing_provider == "comped" and statuses.can_transition(user.status, "inactive"):
                member_actions.change_status(
                    session, runtime, actor, user, "inactive", now=now, reason="staff deactivated"
                )
