"""Events the integrations service consumes: its read models (members, settings), booking's answers
to TrackMan bookings, and what it mirrors to HubSpot and the calendars."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, func, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from club_shared.clubtime import utcnow
from club_shared.events import Event

from .flows import trackman
from .models import (
    ClubSetting,
    Member,
    MemberEmail,
    TrackmanBaySlot,
    TrackmanUnmatchedBooking,
    TrackmanWebhookEvent,
)

_MEMBER_COLUMNS = (
    "email",
    "first_name",
    "last_name",
    "phone",
    "role",
    "status",
    "tier",
    "billing_provider",
    "hubspot_id",
)


# --- members ----------------------------------------------------------------------------------------


def upsert_member(session: Session, data: dict[str, Any]) -> Member:
    """Bring the member read model up to date with a snapshot (only the fields it carries)."""
    member = session.get(Member, data["member_id"], with_for_update=True)
    snapshot = {
        k: v
        for k, v in data.items()
        if k
        not in (
            "changed",
            "old_status",
            "new_status",
            "old_tier",
            "new_tier",
            "direction",
            "reason",
            "previous_status",
        )
    }
    if member is None:
        # An address that moved to this member id frees itself from any earlier row first.
        session.execute(
            delete(Member).where(Member.email == data["email"], Member.member_id != data["member_id"])
        )
        member = Member(member_id=data["member_id"], email=data["email"], snapshot={})
        session.add(member)
    for column in _MEMBER_COLUMNS:
        if column in data:
            setattr(member, column, data[column])
    if "new_status" in data:
        member.status = data["new_status"]
    if "new_tier" in data:
        member.tier = data["new_tier"]
    member.snapshot = {**(member.snapshot or {}), **snapshot}
    member.archived = bool(data.get("archived_at")) or member.status in ("archived", "merged")
    member.updated_at = utcnow()
    session.flush()
    _keep_email(session, data["member_id"], data["email"], primary=True)
    for linked in data.get("linked_emails") or []:
        _keep_email(session, data["member_id"], linked, primary=False)
    return member


def _keep_email(session: Session, member_id: str, email: str, *, primary: bool) -> None:
    session.execute(
        insert(MemberEmail)
        .values(email=email, member_id=member_id, is_primary=primary)
        .on_conflict_do_update(
            index_elements=[MemberEmail.email], set_={"member_id": member_id, "is_primary": primary}
        )
    )


def member_changed(session: Session, event: Event) -> None:
    upsert_member(session, event.data)


def member_archived(session: Session, event: Event) -> None:
    member = upsert_member(session, event.data)
    member.archived = True


def email_changed(session: Session, event: Event) -> None:
    data = event.data
    member = session.get(Member, data["member_id"], with_for_update=True)
    session.execute(delete(MemberEmail).where(MemberEmail.email == data["old_email"]))
    if member is not None:
        session.execute(
            delete(Member).where(Member.email == data["new_email"], Member.member_id != member.member_id)
        )
        member.email = data["new_email"]
        session.flush()
    _keep_email(session, data["member_id"], data["new_email"], primary=True)


def linked_email_added(session: Session, event: Event) -> None:
    _keep_email(session, event.data["member_id"], event.data["linked_email"], primary=False)


def linked_email_removed(session: Session, event: Event) -> None:
    session.execute(
        delete(MemberEmail).where(
            MemberEmail.email == event.data["linked_email"], MemberEmail.member_id == event.data["member_id"]
        )
    )


def member_merged(session: Session, event: Event) -> None:
    data = event.data
    member = session.get(Member, data["member_id"])
    if member is not None:
        member.archived = True
        member.status = "merged"
    for email in data["moved_emails"]:
        _keep_email(session, data["into_member_id"], email, primary=email == data["into_email"])


def member_deleted(session: Session, event: Event) -> None:
    """Erasure: forget the member and the personal data kept about their addresses."""
    data = event.data
    emails = sorted({data["email"], *data["linked_emails"]})
    session.execute(
        delete(MemberEmail).where(
            MemberEmail.email.in_(emails) | (MemberEmail.member_id == data["member_id"])
        )
    )
    session.execute(delete(Member).where(Member.member_id == data["member_id"]))
    session.execute(
        update(TrackmanBaySlot).where(TrackmanBaySlot.customer_email.in_(emails)).values(customer_email=None)
    )
    session.execute(
        update(TrackmanUnmatchedBooking)
        .where(
            TrackmanUnmatchedBooking.customer_email.in_(emails)
            | TrackmanUnmatchedBooking.resolved_email.in_(emails)
        )
        .values(customer_email=None, customer_name=None, resolved_email=None, booking_data={})
    )
    session.execute(
        update(TrackmanWebhookEvent)
        .where(TrackmanWebhookEvent.booking["customer_email"].astext.in_(emails))
        .values(booking=func.jsonb_set(TrackmanWebhookEvent.booking, "{customer_email}", "null"))
    )
    session.execute(
        update(TrackmanWebhookEvent)
        .where(TrackmanWebhookEvent.matched_member_email.in_(emails))
        .values(matched_member_email=None)
    )


# --- settings ---------------------------------------------------------------------------------------


def setting_updated(session: Session, event: Event) -> None:
    data = event.data
    session.execute(
        insert(ClubSetting)
        .values(key=data["key"], value=data["value"], updated_at=func.now())
        .on_conflict_do_update(
            index_elements=[ClubSetting.key], set_={"value": data["value"], "updated_at": func.now()}
        )
    )


# --- booking's answers to TrackMan bookings ----------------------------------------------------------


def trackman_match_succeeded(session: Session, event: Event) -> None:
    trackman.match_succeeded(session, event.data, utcnow())


def trackman_match_failed(session: Session, event: Event) -> None:
    trackman.match_failed(session, event.data, utcnow())


HANDLERS: dict = {
    "membership.member.created": member_changed,
    "membership.member.updated": member_changed,
    "membership.member.status_changed": member_changed,
    "membership.member.tier_changed": member_changed,
    "membership.member.archived": member_archived,
    "membership.member.email_changed": email_changed,
    "membership.member.linked_email_added": linked_email_added,
    "membership.member.linked_email_removed": linked_email_removed,
    "membership.member.merged": member_merged,
    "membership.member.deleted": member_deleted,
    "membership.setting.updated": setting_updated,
    "booking.trackman_match.succeeded": trackman_match_succeeded,
    "booking.trackman_match.failed": trackman_match_failed,
}
