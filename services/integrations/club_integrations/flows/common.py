"""Small units of work every flow shares: settings, members by e-mail, audit and staff alerts."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from club_shared.runtime import Runtime

from ..domain import settings as club_settings
from ..models import BUS, ClubSetting, Member, MemberEmail, SyncExclusion


class Publisher:
    """Publishes as the integrations service where no Runtime is at hand (event handlers)."""

    def publish(self, session: Session, event_type: str, data: dict[str, Any]):
        from club_shared.bus import publish

        return publish(session, BUS, event_type, data, producer="integrations")


PUBLISHER = Publisher()


def setting(session: Session, key: str) -> Any:
    row = session.get(ClubSetting, key)
    return club_settings.value({key: row.value} if row else {}, key)


def placeholder_patterns(session: Session) -> list[str]:
    return list(setting(session, "club.placeholder_email_patterns") or [])


def real_email(session: Session, email: str | None) -> str | None:
    return club_settings.real_email(email, placeholder_patterns(session))


def member_for_email(session: Session, email: str | None) -> Member | None:
    """The member an address belongs to: primary or linked, through alias domains."""
    if not email:
        return None
    candidates = club_settings.alias_candidates(email, setting(session, "club.alias_domains") or [])
    member_id = session.scalar(
        select(MemberEmail.member_id).where(MemberEmail.email.in_(candidates)).limit(1)
    )
    if member_id is None:
        member_id = session.scalar(select(Member.member_id).where(Member.email.in_(candidates)).limit(1))
    return session.get(Member, member_id) if member_id else None


def excluded(session: Session, email: str | None) -> bool:
    """An address of a deleted person: never synced to or from HubSpot again."""
    if not email:
        return False
    return session.get(SyncExclusion, club_settings.normalise_email(email) or email) is not None


def audit(runtime: Runtime, session: Session, data: dict[str, Any]) -> None:
    runtime.publish(session, "integrations.audit.recorded", data)


def system_audit(
    runtime: Runtime, session: Session, action: str, resource_type: str, resource_id: Any, **details
):
    audit(
        runtime,
        session,
        {
            "actor_type": "system",
            "actor_email": None,
            "action": action,
            "resource_type": resource_type,
            "resource_id": None if resource_id is None else str(resource_id)[:100],
            "details": details,
            "ip_address": None,
            "user_agent": None,
        },
    )


def alert_staff(
    runtime: Runtime,
    session: Session,
    type_: str,
    title: str,
    message: str,
    *,
    link: str | None = None,
    urgent=False,
) -> None:
    runtime.publish(
        session,
        "integrations.notification.requested",
        {
            "audience": "staff",
            "email": None,
            "type": type_,
            "title": title[:200],
            "message": message,
            "link": link,
            "urgent": urgent,
            "channels": [],
        },
    )
