"""Booking's copies of what membership owns: member profiles (with every e-mail), tier limits and
settings. Fed by membership's events, so booking keeps taking bookings while membership is down.

Member events carry a snapshot; an event older than the one a profile was last written from is
ignored, so a late redelivery never rolls a member back.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from ..models import (
    BookingGuest,
    BookingMember,
    BookingParticipant,
    BookingRequest,
    ClubSetting,
    GuestCheckIn,
    GuestPass,
    GuestPassHold,
    MemberEmail,
    MemberProfile,
    PassRedemptionLog,
    TierLimits,
    UsageLedger,
)

PROFILE_FIELDS = ("first_name", "last_name", "tier", "status", "role")


def _lower(email: str | None) -> str | None:
    return email.strip().lower() if email else email


def upsert_profile(session: Session, data: dict[str, Any], occurred_at: datetime) -> MemberProfile | None:
    """Apply a member snapshot; None when the event is older than what the profile holds."""
    member_id = str(data["member_id"])
    email = _lower(data["email"])
    profile = session.scalar(
        select(MemberProfile).where(MemberProfile.member_id == member_id).with_for_update()
    )
    if profile is not None and profile.event_at is not None and occurred_at < profile.event_at:
        return None
    if profile is None:
        # Another profile may hold this e-mail (a re-created member): the newer one wins it.
        session.execute(delete(MemberEmail).where(MemberEmail.email == email))
        session.execute(
            update(MemberProfile)
            .where(MemberProfile.email == email)
            .values(email=f"superseded+{member_id}.{email}"[:320])
        )
        profile = MemberProfile(member_id=member_id, email=email)
        session.add(profile)
    elif profile.email != email:
        rewrite_email(session, profile.email, email)
        profile.email = email
    for field in PROFILE_FIELDS:
        if field in data and (data[field] is not None or field == "tier"):
            value = data[field]
            setattr(profile, field, value.strip().lower() if field == "tier" and value else value)
    if "waiver_version" in data:
        profile.waiver_version = str(data["waiver_version"]) if data["waiver_version"] is not None else None
    if "waiver_signed_at" in data:
        signed = data["waiver_signed_at"]
        profile.waiver_signed_at = datetime.fromisoformat(signed) if isinstance(signed, str) else signed
    profile.event_at = occurred_at
    session.flush()
    _ensure_email(session, member_id, email, primary=True)
    if "linked_emails" in data:
        wanted = {_lower(e) for e in data["linked_emails"]} - {email}
        session.execute(
            delete(MemberEmail).where(
                MemberEmail.member_id == member_id,
                MemberEmail.is_primary.is_(False),
                MemberEmail.email.not_in(wanted) if wanted else MemberEmail.email.is_not(None),
            )
        )
        for linked in wanted:
            _ensure_email(session, member_id, linked, primary=False)
    return profile


def _ensure_email(session: Session, member_id: str, email: str, *, primary: bool) -> None:
    if primary:
        session.execute(
            update(MemberEmail)
            .where(MemberEmail.member_id == member_id, MemberEmail.email != email)
            .values(is_primary=False)
        )
    session.execute(
        pg_insert(MemberEmail)
        .values(email=email, member_id=member_id, is_primary=primary)
        .on_conflict_do_update(index_elements=["email"], set_={"member_id": member_id, "is_primary": primary})
    )


def add_linked_email(session: Session, member_id: str, email: str) -> None:
    if session.get(MemberProfile, member_id) is not None:
        _ensure_email(session, member_id, _lower(email), primary=False)


def remove_linked_email(session: Session, member_id: str, email: str) -> None:
    session.execute(
        delete(MemberEmail).where(
            MemberEmail.member_id == member_id,
            MemberEmail.email == _lower(email),
            MemberEmail.is_primary.is_(False),
        )
    )


def rewrite_email(session: Session, old: str, new: str) -> None:
    """Rewrite every e-mail-keyed row booking owns from `old` to `new` (one transaction)."""
    old, new = _lower(old), _lower(new)
    if old == new:
        return
    session.execute(update(BookingRequest).where(BookingRequest.user_email == old).values(user_email=new))
    session.execute(update(BookingMember).where(BookingMember.user_email == old).values(user_email=new))
    session.execute(update(BookingGuest).where(BookingGuest.guest_email == old).values(guest_email=new))
    session.execute(update(BookingParticipant).where(BookingParticipant.email == old).values(email=new))
    session.execute(update(GuestPassHold).where(GuestPassHold.member_email == old).values(member_email=new))
    session.execute(update(GuestCheckIn).where(GuestCheckIn.member_email == old).values(member_email=new))
    session.execute(update(GuestCheckIn).where(GuestCheckIn.guest_email == old).values(guest_email=new))
    session.execute(
        update(PassRedemptionLog).where(PassRedemptionLog.member_email == old).values(member_email=new)
    )
    session.execute(update(UsageLedger).where(UsageLedger.user_email == old).values(user_email=new))
    passes_new = session.scalar(select(GuestPass).where(GuestPass.member_email == new))
    passes_old = session.scalar(select(GuestPass).where(GuestPass.member_email == old))
    if passes_old is not None:
        if passes_new is None:
            passes_old.member_email = new
        else:  # both exist (should not): keep the one with more use, so nothing is given back twice
            keep, drop = (
                (passes_old, passes_new)
                if passes_old.used_passes >= passes_new.used_passes
                else (
                    passes_new,
                    passes_old,
                )
            )
            session.delete(drop)
            session.flush()
            keep.member_email = new


def change_email(session: Session, member_id: str, old: str, new: str, occurred_at: datetime) -> None:
    old, new = _lower(old), _lower(new)
    rewrite_email(session, old, new)
    profile = session.get(MemberProfile, member_id)
    if profile is not None:
        profile.email = new
        session.flush()
        _ensure_email(session, member_id, new, primary=True)
        # The old address survives only as a linked e-mail.
        _ensure_email(session, member_id, old, primary=False)


def merge_member(session: Session, member_id: str, into_member_id: str, moved: list[str]) -> None:
    profile = session.get(MemberProfile, member_id)
    if profile is not None:
        profile.status = "merged"
    if session.get(MemberProfile, into_member_id) is not None:
        for email in moved:
            _ensure_email(session, into_member_id, _lower(email), primary=False)


def erase_member(session: Session, member_id: str, emails: list[str]) -> None:
    """Account deletion: the person's profile and passes go; bookings stay for the club's books
    under an anonymous address."""
    anonymous = f"deleted-{member_id}@deleted.invalid"[:320]
    for email in {_lower(e) for e in emails}:
        session.execute(delete(GuestPassHold).where(GuestPassHold.member_email == email))
        session.execute(delete(GuestPass).where(GuestPass.member_email == email))
        rewrite_email(session, email, anonymous)
    session.execute(update(BookingRequest).where(BookingRequest.user_id == member_id).values(user_name=None))
    session.execute(
        update(BookingParticipant)
        .where(BookingParticipant.email == anonymous)
        .values(display_name="Deleted member")
    )
    session.execute(delete(MemberEmail).where(MemberEmail.member_id == member_id))
    session.execute(delete(MemberProfile).where(MemberProfile.member_id == member_id))


def upsert_staff(session: Session, data: dict[str, Any]) -> None:
    """A staff user: their profile gets their role (member when deactivated); staff sign-in gives them
    an active VIP profile if booking has none yet."""
    email = _lower(data["email"])
    role = data["role"] if data["is_active"] else "member"
    profile = session.scalar(
        select(MemberProfile).where(
            MemberProfile.member_id.in_(select(MemberEmail.member_id).where(MemberEmail.email == email))
            | (MemberProfile.email == email)
        )
    )
    if profile is not None:
        profile.role = role
        return
    if not data["is_active"]:
        return
    member_id = data.get("member_id") or f"staff-{data['staff_id']}"
    name = (data.get("name") or "").split(" ", 1)
    session.add(
        MemberProfile(
            member_id=member_id,
            email=email,
            first_name=name[0] or None,
            last_name=name[1] if len(name) > 1 else None,
            tier="vip",
            status="active",
            role=role,
        )
    )
    session.flush()
    _ensure_email(session, member_id, email, primary=True)


TIER_FIELDS = (
    "name",
    "rank",
    "daily_sim_minutes",
    "daily_conf_room_minutes",
    "guest_passes_per_period",
    "booking_window_days",
    "can_book_simulators",
    "can_book_conference",
    "can_book_wellness",
    "unlimited_access",
    "guest_fee_cents",
    "is_active",
)


def upsert_tier(session: Session, data: dict[str, Any], occurred_at: datetime) -> TierLimits | None:
    slug = data["slug"].strip().lower()
    tier = session.scalar(select(TierLimits).where(TierLimits.slug == slug).with_for_update())
    if tier is not None and tier.event_at is not None and occurred_at < tier.event_at:
        return None
    if tier is None:
        tier = TierLimits(slug=slug, name=data.get("name") or slug)
        session.add(tier)
    for field in TIER_FIELDS:
        if field in data and data[field] is not None:
            setattr(tier, field, data[field])
    if data.get("unlimited_sim_minutes") and tier.daily_sim_minutes < 999:
        tier.daily_sim_minutes = 999
    if data.get("unlimited_conf_room_minutes") and tier.daily_conf_room_minutes < 999:
        tier.daily_conf_room_minutes = 999
    tier.event_at = occurred_at
    session.flush()
    return tier


def deactivate_tier(session: Session, slug: str) -> None:
    session.execute(update(TierLimits).where(TierLimits.slug == slug.strip().lower()).values(is_active=False))


def put_setting(session: Session, key: str, value: Any) -> None:
    session.execute(
        pg_insert(ClubSetting)
        .values(key=key, value=value)
        .on_conflict_do_update(
            index_elements=["key"], set_={"value": value, "updated_at": datetime.now().astimezone()}
        )
    )


def current_tier(session: Session, member_id: str) -> str | None:
    return session.scalar(select(MemberProfile.tier).where(MemberProfile.member_id == str(member_id)))
