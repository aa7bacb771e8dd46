"""Fees per booking (domain.md §5.3): from booking's fee input to snapshots, billing.fees.calculated,
the invoice plan and the cascade to the member's later bookings that day."""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import date, datetime
from typing import Any

from sqlalchemy import and_, bindparam, delete, func, or_, select, text, update
from sqlalchemy.orm import Session

from club_shared.events import Event

from ..domain.fees import (
    NOT_USAGE_STATUSES,
    FeeInput,
    FeeLine,
    FeeResult,
    Player,
    TierRules,
    compute_fees,
)
from ..models import BillingBooking, BookingFeeSnapshot, BookingUsage
from . import readmodels
from .runtime_access import publish

log = logging.getLogger(__name__)

#: Later bookings recomputed after a change (§5.3).
CASCADE_LIMIT = 10
#: Payment statuses billing itself sets; they win over booking's older `pending`.
SETTLED = ("paid", "waived", "refunded")


#: Minutes allocated per e-mail that club date on that resource type by bookings that start earlier
#: (equal start: lower booking id first), cancelled/declined/expired ones excluded.
_USED_BEFORE = (
    select(BookingUsage.email, func.sum(BookingUsage.minutes))
    .where(
        BookingUsage.email.in_(bindparam("emails", expanding=True)),
        BookingUsage.club_date == bindparam("club_date"),
        BookingUsage.resource_type == bindparam("resource_type"),
        BookingUsage.counts,
        BookingUsage.booking_id != bindparam("booking_id"),
        or_(
            BookingUsage.starts_at < bindparam("starts_at"),
            and_(
                BookingUsage.starts_at == bindparam("starts_at"),
                BookingUsage.booking_id < bindparam("booking_id"),
            ),
        ),
    )
    .group_by(BookingUsage.email)
)


def used_before_minutes(
    session: Session, emails, club_date: date, resource_type: str, starts_at: datetime, booking_id: int
) -> dict[str, int]:
    """Each e-mail's minutes used earlier that day (absent: none), in one query for all players."""
    emails = sorted(set(emails))
    if not emails:
        return {}
    rows = session.execute(
        _USED_BEFORE,
        {
            "emails": emails,
            "club_date": club_date,
            "resource_type": resource_type,
            "starts_at": starts_at,
            "booking_id": booking_id,
        },
    )
    return {email: int(minutes) for email, minutes in rows}


class DayUsage:
    """The counting usage of some members on one club date and resource type, read once for a
    cascade (one query per new set of e-mails, not one per later booking priced) and kept current
    as the cascade reprices bookings: the same sums as `used_before_minutes`, taken in memory."""

    def __init__(self, session: Session, club_date: date, resource_type: str):
        self.session, self.club_date, self.resource_type = session, club_date, resource_type
        self.rows: dict[str, list[tuple[datetime, int, int]]] = {}  # email → (starts_at, booking id, minutes)

    def minutes_before(self, emails, starts_at: datetime, booking_id: int) -> dict[str, int]:
        missing = sorted({e for e in emails if e not in self.rows})
        if missing:
            for email in missing:
                self.rows[email] = []
            for email, starts, other, minutes in self.session.execute(
                select(
                    BookingUsage.email, BookingUsage.starts_at, BookingUsage.booking_id, BookingUsage.minutes
                ).where(
                    BookingUsage.email.in_(missing),
                    BookingUsage.club_date == self.club_date,
                    BookingUsage.resource_type == self.resource_type,
                    BookingUsage.counts,
                )
            ):
                self.rows[email].append((starts, other, minutes))
        return {
            email: sum(
                minutes
                for starts, other, minutes in self.rows[email]
                if other != booking_id
                and (starts < starts_at or (starts == starts_at and other < booking_id))
            )
            for email in set(emails)
        }

    def replace(self, booking: BillingBooking, result: FeeResult) -> None:
        """The booking's usage as `recompute` just wrote it."""
        for email, rows in self.rows.items():
            rows[:] = [row for row in rows if row[1] != booking.booking_id]
            if email in result.allocations and booking.status not in NOT_USAGE_STATUSES:
                rows.append((booking.starts_at, booking.booking_id, result.allocations[email]))


def _merge_status(from_booking: str | None, ours: str | None) -> str | None:
    if from_booking in ("paid", "refunded"):
        return from_booking
    if ours in SETTLED:
        return ours
    return from_booking


def build_players(
    session: Session,
    *,
    booking_id: int,
    member_email: str,
    club_date: date,
    resource_type: str,
    starts_at: datetime,
    participants: list[dict[str, Any]],
    previous: dict[str, FeeLine],
    tiers: dict[str, TierRules] | None = None,
    day: DayUsage | None = None,
) -> tuple[Player, ...]:
    tiers = tiers if tiers is not None else readmodels.tier_rules(session)
    raw = list(participants)
    if not any(p["type"] == "owner" for p in raw):
        raw.insert(0, {"type": "owner", "slot": 1, "email": member_email, "participant_id": None})
    # Every member player's read-model row, then their earlier usage: two queries, not two per player.
    seats = []
    for p in raw:
        email = readmodels.normalise(p.get("email"))
        if p["type"] == "owner" and not email:
            email = readmodels.normalise(member_email)
        seats.append((p, email, p["type"] in ("owner", "member") or bool(p.get("user_id"))))
    members = readmodels.find_members(session, [email for _p, email, is_member in seats if is_member])
    found = [members.get(email) if is_member and email else None for _p, email, is_member in seats]
    primaries = [
        member.email if member is not None else email
        for (_p, email, _m), member in zip(seats, found, strict=True)
    ]
    member_emails = [
        primary
        for (_p, _e, is_member), primary in zip(seats, primaries, strict=True)
        if is_member and primary
    ]
    used = (
        day.minutes_before(member_emails, starts_at, booking_id)
        if day is not None
        else used_before_minutes(session, member_emails, club_date, resource_type, starts_at, booking_id)
    )
    players = []
    for (p, _email, is_member), member, primary in zip(seats, found, primaries, strict=True):
        ptype = p["type"]
        tier = tiers.get(member.tier) if member is not None and member.tier else None
        is_staff = bool(p.get("is_staff")) or readmodels.is_staff_member(member)
        player = Player(
            type=ptype,
            slot=p.get("slot") or 1,
            participant_id=p.get("participant_id"),
            email=primary,
            name=p.get("name"),
            user_id=p.get("user_id") or (member.member_id if member is not None else None),
            is_staff=is_staff,
            is_placeholder=bool(p.get("is_placeholder")),
            pass_covered=bool(p.get("used_guest_pass")),
            payment_status=None,
            tier=tier,
            in_access_status=readmodels.member_in_access(member) if is_member else False,
            used_before=used.get(primary, 0) if is_member else 0,
        )
        ours = previous.get(player.key)
        status = _merge_status(p.get("payment_status"), ours.payment_status if ours else None)
        players.append(replace(player, payment_status=status))
    return tuple(players)


def fee_input_for(
    session: Session, booking: BillingBooking, previous: dict[str, FeeLine], day: DayUsage | None = None
) -> FeeInput:
    data = booking.fee_input
    rate, guest_pass_price = readmodels.fee_prices(session)
    return FeeInput(
        status=booking.status,
        resource_type=booking.resource_type,
        duration_minutes=booking.duration_minutes,
        declared_player_count=booking.declared_player_count,
        players=build_players(
            session,
            booking_id=booking.booking_id,
            member_email=booking.member_email,
            club_date=booking.club_date,
            resource_type=booking.resource_type,
            starts_at=booking.starts_at,
            participants=data.get("participants", []),
            previous=previous,
            day=day,
        ),
        overage_rate_cents=rate,
        default_guest_fee_cents=guest_pass_price,
    )


def previous_lines(booking: BillingBooking) -> dict[str, FeeLine]:
    return {raw["key"]: FeeLine.from_dict(raw) for raw in booking.lines or []}


def apply_booking_event(session: Session, event: Event) -> BillingBooking | None:
    """A booking event that carries the fee input: update the read model, recompute, cascade.
    Stale inputs (older roster version, or the same version from an earlier event) are ignored."""
    data = event.data
    booking_id = data["booking_id"]
    club_date = data["date"] if isinstance(data["date"], date) else date.fromisoformat(data["date"])
    # the member-day locks first, then the row: the same order as a cascade takes them
    lock_member_days(
        session, club_date, [data["member_email"], *(p.get("email") for p in data["participants"])]
    )
    booking = session.get(BillingBooking, booking_id, with_for_update=True)
    occurred_at = event.occurred_at
    if booking is not None and (
        data["roster_version"] < booking.roster_version
        or (data["roster_version"] == booking.roster_version and occurred_at < booking.input_at)
    ):
        log.info("stale fee input ignored", extra={"booking_id": booking_id, "event_id": str(event.event_id)})
        return None
    starts_at = (
        data["starts_at"]
        if isinstance(data["starts_at"], datetime)
        else datetime.fromisoformat(data["starts_at"])
    )
    values = {
        "session_id": data.get("session_id"),
        "member_email": readmodels.normalise(data["member_email"]),
        "member_name": data.get("member_name"),
        "status": data["status"],
        "resource_type": data["resource_type"],
        "resource_id": data.get("resource_id"),
        "club_date": club_date,
        "starts_at": starts_at,
        "duration_minutes": data["duration_minutes"],
        "declared_player_count": data["declared_player_count"],
        "roster_version": data["roster_version"],
        "trackman_booking_id": data.get("trackman_booking_id"),
        "fee_input": dict(data),
        "input_at": occurred_at,
    }
    if booking is None:
        # added by recompute once its fees are known: one INSERT, no UPDATE right after it
        booking = BillingBooking(booking_id=booking_id, lines=[], total_cents=0, fees_version=0, **values)
    else:
        for key, value in values.items():
            setattr(booking, key, value)
    result, earlier_emails = recompute(session, booking, source=data.get("source"))
    cascade(session, booking, earlier_emails | set(result.allocations))
    return booking


def lock_member_days(session: Session, club_date: date, emails) -> None:
    """One fee computation at a time per member and club date (in a stable order, so no deadlock):
    a booking's earlier-usage sum must see every earlier booking of that day that was computed."""
    # A lock already taken in this (sub)transaction is held until its end: not asked for again.
    transaction = session.get_nested_transaction() or session.get_transaction()
    held = session.info.get("billing_fee_locks")
    if held is None or held[0] is not transaction:
        held = (transaction, set())
        session.info["billing_fee_locks"] = held
    keys = sorted({f"fees:{e.strip().lower()}:{club_date.isoformat()}" for e in emails if e} - held[1])
    if keys:
        # one round trip; unnest keeps the array's (sorted) order
        session.execute(_LOCK_KEYS, {"keys": keys})
        held[1].update(keys)


_LOCK_KEYS = text(
    "SELECT count(pg_advisory_xact_lock(hashtext(key))) FROM unnest(CAST(:keys AS text[])) AS key"
)


def recompute(
    session: Session, booking: BillingBooking, *, source: str | None, result: FeeResult | None = None
) -> tuple[FeeResult, set[str]]:
    """The fees (`result`: already computed from the booking as it is) and the e-mails the booking's
    usage was allocated to before (a new booking, one not yet in the session, has none, nor
    snapshots nor an invoice: nothing to read or replace)."""
    new = booking not in session
    if result is None:
        previous = previous_lines(booking)
        # the booking's new input is written with its fees, in one UPDATE (its own row is not read)
        with session.no_autoflush:
            result = compute_fees(fee_input_for(session, booking, previous), previous)
    booking.lines = [line.as_dict() for line in result.lines]
    booking.total_cents = result.total_cents
    booking.fees_version = (booking.fees_version or 0) + 1
    booking.source = source
    if new:
        session.add(booking)
    earlier_emails = _write_usage(session, booking, result, new=new)
    _write_snapshot(session, booking, result, source, new=new)
    publish(session, "billing.fees.calculated", fees_calculated_data(booking))
    from . import invoices

    invoices.plan(session, booking, new=new)
    return result, earlier_emails


def _write_usage(session: Session, booking: BillingBooking, result: FeeResult, *, new: bool) -> set[str]:
    """Replace the booking's usage rows; the e-mails of the rows replaced."""
    earlier = (
        set()
        if new
        else set(
            session.scalars(
                delete(BookingUsage)
                .where(BookingUsage.booking_id == booking.booking_id)
                .returning(BookingUsage.email)
            )
        )
    )
    counts = booking.status not in NOT_USAGE_STATUSES
    for email, minutes in result.allocations.items():
        session.add(
            BookingUsage(
                booking_id=booking.booking_id,
                email=email,
                club_date=booking.club_date,
                resource_type=booking.resource_type,
                starts_at=booking.starts_at,
                minutes=minutes,
                counts=counts,
            )
        )
    session.flush()
    return earlier


def _write_snapshot(
    session: Session, booking: BillingBooking, result: FeeResult, source: str | None, *, new: bool
) -> None:
    if not new:
        session.execute(
            update(BookingFeeSnapshot)
            .where(
                BookingFeeSnapshot.booking_id == booking.booking_id, BookingFeeSnapshot.status == "pending"
            )
            .values(status="superseded")
        )
    if booking.status in ("cancelled", "declined", "expired", "cancellation_pending"):
        status = "cancelled"
    elif result.owed_cents() == 0:
        status = "completed"
    else:
        status = "pending"
    session.add(
        BookingFeeSnapshot(
            booking_id=booking.booking_id,
            session_id=booking.session_id,
            participant_fees=booking.lines,
            total_cents=result.total_cents,
            status=status,
            fee_input=booking.fee_input,
            roster_version=booking.roster_version,
            fees_version=booking.fees_version,
            source=source,
        )
    )


def fees_calculated_data(booking: BillingBooking) -> dict[str, Any]:
    return {
        "booking_request_id": booking.booking_id,
        "session_id": booking.session_id,
        "member_email": booking.member_email,
        "roster_version": booking.roster_version,
        "fees_version": booking.fees_version,
        "source": booking.source,
        "total_cents": booking.total_cents,
        "participants": [
            {
                "participant_id": line["participant_id"],
                "key": line["key"],
                "slot": line["slot"],
                "email": line["email"],
                "display_name": line["display_name"],
                "participant_type": line["participant_type"],
                "minutes": line["minutes"],
                "overage_cents": line["overage_cents"],
                "guest_fee_cents": line["guest_fee_cents"],
                "total_cents": line["total_cents"],
                "guest_pass_used": line["guest_pass_used"],
                "payment_status": line["payment_status"],
                "tier": line["tier"],
                "allowance_minutes": line["allowance_minutes"],
                "used_before_minutes": line["used_before_minutes"],
                "is_staff": line["is_staff"],
            }
            for line in booking.lines
        ],
    }


def cascade(session: Session, booking: BillingBooking, emails: set[str]) -> list[int]:
    """Recompute the bookings of these members (the booking's players, before and after the change)
    that start later that club date (at most 10)."""
    if not emails:
        return []
    later = session.scalars(
        select(BillingBooking)
        .where(
            select(BookingUsage.booking_id)
            .where(
                BookingUsage.booking_id == BillingBooking.booking_id,
                BookingUsage.email.in_(emails),
                BookingUsage.counts,
            )
            .exists(),
            BillingBooking.club_date == booking.club_date,
            BillingBooking.resource_type == booking.resource_type,
            BillingBooking.booking_id != booking.booking_id,
            or_(
                BillingBooking.starts_at > booking.starts_at,
                and_(
                    BillingBooking.starts_at == booking.starts_at,
                    BillingBooking.booking_id > booking.booking_id,
                ),
            ),
        )
        .order_by(BillingBooking.starts_at, BillingBooking.booking_id)
        .limit(CASCADE_LIMIT)
        .with_for_update()
    ).all()
    if not later:
        return []
    day = DayUsage(session, booking.club_date, booking.resource_type)
    # every later booking's players at once (a linked address is still looked up when priced)
    day.minutes_before(
        emails
        | {
            readmodels.normalise(p.get("email") or other.member_email)
            for other in later
            for p in other.fee_input.get("participants", [])
        }
        | {other.member_email for other in later},
        booking.starts_at,
        booking.booking_id,
    )
    done = []
    for other in later:
        before = other.total_cents
        previous = previous_lines(other)
        candidate = compute_fees(fee_input_for(session, other, previous, day), previous)
        if candidate.lines == tuple(previous.values()) and before == candidate.total_cents:
            continue
        recompute(session, other, source="cascade", result=candidate)
        day.replace(other, candidate)
        done.append(other.booking_id)
    return done
