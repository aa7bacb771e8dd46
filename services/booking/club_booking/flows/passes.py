"""Guest passes (domain.md §5.4): hold at request, convert at session, consume at check-in, release on
cancel/decline/expiry, refund on a refunding cancel, reset each period. Every change locks the
member's row, and the table's checks keep `0 ≤ used ≤ total`."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from club_shared.runtime import Runtime

from .. import queries
from ..domain import passes as rules
from ..models import (
    BookingParticipant,
    BookingRequest,
    GuestPass,
    GuestPassHold,
    MemberProfile,
    PassRedemptionLog,
)


def tier_allowance(session: Session, email: str) -> int | None:
    """The member's passes per period, or None when their tier cannot be resolved (→ 0)."""
    person = queries.person_by_email(session, email)
    tier = queries.tier(session, person.tier) if person else None
    return tier.guest_passes_per_period if tier is not None else None


def held(session: Session, email: str, now: datetime, *, exclude_booking: int | None = None) -> int:
    query = select(func.coalesce(func.sum(GuestPassHold.passes_held), 0)).where(
        GuestPassHold.member_email == email, GuestPassHold.expires_at > now
    )
    if exclude_booking is not None:
        query = query.where(GuestPassHold.booking_id != exclude_booking)
    return int(session.scalar(query) or 0)


def lock_account(session: Session, rt: Runtime, email: str, now: datetime) -> GuestPass:
    """The member's pass row, created at their allocation if missing, row-locked; rolled into the
    current period if the reset has not reached it yet."""
    period = queries.settings(session).guest_pass_reset_period
    key = rules.period_key(now, rt.tz, period)
    session.execute(
        pg_insert(GuestPass)
        .values(
            member_email=email,
            total_passes=rules.allocation(tier_allowance(session, email), 0),
            used_passes=0,
            period_key=key,
            last_reset_at=now,
        )
        .on_conflict_do_nothing(index_elements=["member_email"])
    )
    account = session.scalar(select(GuestPass).where(GuestPass.member_email == email).with_for_update())
    session.refresh(account)
    if account.period_key != key:
        _reset(session, account, key, now)
    return account


def _reset(session: Session, account: GuestPass, key: str, now: datetime) -> None:
    used = account.used_passes
    account.used_passes = 0
    account.total_passes = rules.allocation(tier_allowance(session, account.member_email), 0)
    account.period_key = key
    account.last_reset_at = now
    session.add(
        PassRedemptionLog(
            member_email=account.member_email, quantity=-used, reason="reset", location="system"
        )
    )
    session.flush()


def balance(session: Session, account: GuestPass, now: datetime, *, exclude_booking: int | None = None):
    return rules.PassBalance(
        account.total_passes,
        account.used_passes,
        held(session, account.member_email, now, exclude_booking=exclude_booking),
    )


def _event(
    session: Session, rt: Runtime, kind: str, account: GuestPass, booking_id, n: int, now, guests=()
) -> None:
    b = balance(session, account, now)
    rt.publish(
        session,
        f"booking.guest_pass.{kind}",
        {
            "member_email": account.member_email,
            "booking_id": booking_id,
            "passes": n,
            "total_passes": b.total,
            "used_passes": b.used,
            "held_passes": b.held,
            "available_passes": b.available,
            "period_key": account.period_key,
            "guests": list(guests),
        },
    )


def hold(session: Session, rt: Runtime, req: BookingRequest, named_guests: int, now: datetime) -> int:
    """Hold min(named guests, available) for the request; the number held (0: the guests pay)."""
    if named_guests <= 0:
        return 0
    account = lock_account(session, rt, req.user_email, now)
    n = rules.to_hold(named_guests, balance(session, account, now))
    if n:
        days = queries.settings(session).guest_pass_hold_days
        session.add(
            GuestPassHold(
                member_email=req.user_email,
                booking_id=req.id,
                passes_held=n,
                expires_at=now + timedelta(days=days),
            )
        )
        session.flush()
        _event(session, rt, "held", account, req.id, n, now)
    return n


def release(session: Session, rt: Runtime, req: BookingRequest, now: datetime) -> int:
    """Drop the request's hold (cancel, decline, expiry); the number released."""
    hold_row = session.scalar(select(GuestPassHold).where(GuestPassHold.booking_id == req.id))
    if hold_row is None:
        return 0
    account = lock_account(session, rt, hold_row.member_email, now)
    n = hold_row.passes_held
    session.delete(hold_row)
    session.flush()
    _event(session, rt, "released", account, req.id, n, now)
    return n


def convert(session: Session, rt: Runtime, req: BookingRequest, now: datetime) -> int:
    """At session creation: used += min(held, named guests still on the roster); the hold goes; those
    guests get `used_guest_pass` (fee 0)."""
    hold_row = session.scalar(select(GuestPassHold).where(GuestPassHold.booking_id == req.id))
    if hold_row is None:
        return 0
    account = lock_account(session, rt, hold_row.member_email, now)
    guests = session.scalars(
        select(BookingParticipant)
        .where(
            BookingParticipant.session_id == req.session_id,
            BookingParticipant.participant_type == "guest",
            BookingParticipant.is_placeholder.is_(False),
            BookingParticipant.used_guest_pass.is_(False),
        )
        .order_by(BookingParticipant.slot_number)
    ).all()
    session.delete(hold_row)
    session.flush()
    n = min(hold_row.passes_held, len(guests), max(0, account.total_passes - account.used_passes))
    if n:
        account.used_passes += n
        for guest in guests[:n]:
            guest.used_guest_pass = True
            guest.cached_fee_cents = 0
        session.add(
            PassRedemptionLog(
                member_email=account.member_email, quantity=n, reason="hold_converted", booking_id=req.id
            )
        )
        session.flush()
    _event(session, rt, "converted", account, req.id, n, now, _guests(guests[:n]))
    return n


def use_for_participant(
    session: Session, rt: Runtime, req: BookingRequest, participant, now: datetime
) -> bool:
    """Put a pass on one named guest after the session exists (staff or the member): True when a
    pass was free, False when none is left (the guest pays)."""
    account = lock_account(session, rt, req.user_email, now)
    if balance(session, account, now).available <= 0:
        return False
    account.used_passes += 1
    participant.used_guest_pass = True
    participant.cached_fee_cents = 0
    session.add(
        PassRedemptionLog(
            member_email=account.member_email,
            quantity=1,
            reason="admin_adjust",
            booking_id=req.id,
            participant_id=participant.id,
        )
    )
    session.flush()
    _event(session, rt, "converted", account, req.id, 1, now, _guests([participant]))
    return True


def consume(session: Session, rt: Runtime, req: BookingRequest, by: str, now: datetime) -> int:
    """At check-in or auto-complete (idempotent): each named guest on a pass is `waived`, fee 0, with
    a log row; booking.guest_pass.consumed tells the owner."""
    if req.session_id is None:
        return 0
    guests = session.scalars(
        select(BookingParticipant)
        .where(
            BookingParticipant.session_id == req.session_id,
            BookingParticipant.participant_type == "guest",
            BookingParticipant.is_placeholder.is_(False),
            BookingParticipant.used_guest_pass.is_(True),
            BookingParticipant.pass_consumed_at.is_(None),
        )
        .order_by(BookingParticipant.slot_number)
        .with_for_update()
    ).all()
    if not guests:
        return 0
    account = lock_account(session, rt, req.user_email, now)
    for guest in guests:
        guest.payment_status = "waived"
        guest.cached_fee_cents = 0
        guest.pass_consumed_at = now
        session.add(
            PassRedemptionLog(
                member_email=account.member_email,
                quantity=1,
                reason="consumed",
                booking_id=req.id,
                participant_id=guest.id,
                redeemed_by=by,
                location="front_desk",
            )
        )
    session.flush()
    _event(session, rt, "consumed", account, req.id, len(guests), now, _guests(guests))
    return len(guests)


def refund(session: Session, rt: Runtime, req: BookingRequest, now: datetime) -> int:
    """Give back the booking's converted or consumed passes (once per booking; never below 0)."""
    if req.session_id is None or req.passes_refunded_at is not None:
        return 0
    guests = session.scalars(
        select(BookingParticipant).where(
            BookingParticipant.session_id == req.session_id,
            BookingParticipant.participant_type == "guest",
            BookingParticipant.used_guest_pass.is_(True),
        )
    ).all()
    req.passes_refunded_at = now
    if not guests:
        return 0
    account = lock_account(session, rt, req.user_email, now)
    n = min(len(guests), account.used_passes)
    account.used_passes -= n
    session.add(
        PassRedemptionLog(
            member_email=account.member_email, quantity=-n, reason="refunded", booking_id=req.id
        )
    )
    session.flush()
    _event(session, rt, "refunded", account, req.id, n, now, _guests(guests))
    return n


def _guests(participants) -> list[dict[str, Any]]:
    return [{"participant_id": p.id, "name": p.display_name, "email": p.email} for p in participants]


def reallocate(session: Session, email: str, tier_slug: str | None) -> None:
    """A member's tier changed: total = max(the new tier's passes, used) (0 if the tier is unknown)."""
    account = session.scalar(select(GuestPass).where(GuestPass.member_email == email).with_for_update())
    if account is None:
        return
    tier = queries.tier(session, tier_slug)
    account.total_passes = rules.allocation(
        tier.guest_passes_per_period if tier else None, account.used_passes
    )


def reallocate_tier(session: Session, slug: str) -> None:
    """A tier's limits changed: every member on it gets the new allocation (never below used)."""
    emails = session.scalars(select(MemberProfile.email).where(MemberProfile.tier == slug))
    for email in list(emails):
        reallocate(session, email, slug)


def reset_period(session: Session, rt: Runtime, now: datetime) -> int:
    """The period's reset: every account not yet in the current period gets used 0 and its
    allocation; active holds survive. A second run in the period changes nothing. The number reset."""
    period = queries.settings(session).guest_pass_reset_period
    key = rules.period_key(now, rt.tz, period)
    stale = session.scalars(
        select(GuestPass)
        .where(GuestPass.period_key.is_distinct_from(key))
        .order_by(GuestPass.id)
        .with_for_update(skip_locked=True)
    ).all()
    for account in stale:
        _reset(session, account, key, now)
    return len(stale)


def purge_expired_holds(session: Session, now: datetime) -> int:
    return session.execute(delete(GuestPassHold).where(GuestPassHold.expires_at <= now)).rowcount or 0
