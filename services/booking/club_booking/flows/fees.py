"""What each participant owes, as billing computed it (billing.fees.calculated): the read model behind
the check-in 402 rule and auto-complete, and the usage ledger."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from ..models import BookingParticipant, BookingRequest, UsageLedger

SETTLED = ("paid", "waived", "refunded")


def apply_fees(session: Session, data: dict[str, Any]) -> bool:
    """Cache the lines of a computation unless an equal or newer one is already cached (ordered by
    roster version, then billing's fees version). False when ignored."""
    req = session.scalar(
        select(BookingRequest).where(BookingRequest.id == data["booking_request_id"]).with_for_update()
    )
    if req is None:
        return False
    incoming = (data["roster_version"], data["fees_version"])
    cached = (req.fees_roster_version, req.fees_version)
    if cached[0] is not None and incoming <= (cached[0], cached[1] or 0):
        return False
    req.fees_roster_version, req.fees_version = incoming
    req.fees_total_cents = data["total_cents"]
    req.fee_lines = data["participants"]
    if req.session_id is not None:
        by_id = {
            p.id: p
            for p in session.scalars(
                select(BookingParticipant).where(BookingParticipant.session_id == req.session_id)
            )
        }
        for line in data["participants"]:
            participant = by_id.get(line.get("participant_id"))
            if participant is None:
                continue
            if participant.payment_status != "paid":  # a paid line is never recomputed
                participant.cached_fee_cents = line["total_cents"]
                if line["payment_status"] in SETTLED:
                    participant.payment_status = line["payment_status"]
        _ledger(session, req, data["participants"], data.get("source"))
    session.flush()
    return True


def _ledger(session: Session, req: BookingRequest, lines: list[dict], source: str | None) -> None:
    """One usage row per session per member, keyed by e-mail."""
    usage_type = "sim_minutes" if req.resource_type == "simulator" else "conf_minutes"
    guest_fees = sum(
        line["guest_fee_cents"]
        for line in lines
        if line.get("participant_type") in ("guest", "empty_slot") or line.get("participant_id") is None
    )
    for line in lines:
        if not line.get("email") or line.get("participant_type") in ("guest", "empty_slot"):
            continue
        is_owner = line["email"] == req.user_email
        method = (
            "waived"
            if line["payment_status"] == "waived"
            else "credit_card"
            if line["payment_status"] == "paid"
            else "guest_pass"
            if line["guest_pass_used"]
            else "unpaid"
        )
        values = {
            "user_email": line["email"],
            "usage_type": usage_type,
            "quantity": line["minutes"],
            "booking_id": req.id,
            "session_id": req.session_id,
            "minutes_charged": line["minutes"],
            "overage_fee_cents": line["overage_cents"],
            "guest_fee_cents": guest_fees if is_owner else line["guest_fee_cents"],
            "tier_at_booking": line.get("tier"),
            "payment_method": method,
            "source": source,
        }
        session.execute(
            pg_insert(UsageLedger)
            .values(**values)
            .on_conflict_do_update(constraint="uq_usage_ledger_session_member", set_=values)
        )


def outstanding(session: Session, req: BookingRequest) -> list[dict[str, Any]]:
    """Who still owes what on this booking: lines above zero whose participant has not paid (empty
    slots are the owner's)."""
    participants = (
        {
            p.id: p
            for p in session.scalars(
                select(BookingParticipant).where(BookingParticipant.session_id == req.session_id)
            )
        }
        if req.session_id
        else {}
    )
    owed = []
    for line in req.fee_lines or []:
        participant = participants.get(line.get("participant_id"))
        status = participant.payment_status if participant is not None else line["payment_status"]
        amount = participant.cached_fee_cents if participant is not None else line["total_cents"]
        if status in SETTLED or not amount:
            continue
        owed.append(
            {
                "participant_id": line.get("participant_id"),
                "email": line.get("email")
                or (None if participant is None else participant.email)
                or req.user_email,
                "name": line.get("display_name")
                or (participant.display_name if participant else "Empty slot"),
                "amount_cents": amount,
            }
        )
    return owed


def fees_ready(req: BookingRequest) -> bool:
    return req.fees_roster_version is not None and req.fees_roster_version >= req.roster_version


def _parse_instant(value):
    from datetime import datetime

    return datetime.fromisoformat(value) if isinstance(value, str) else value


def apply_payment(session: Session, data: dict[str, Any], status: str) -> bool:
    """billing.payment.succeeded (status `paid`) or .refunded (`refunded`): the lines it names are
    settled, on the participants and in the cached lines (empty slots have no participant)."""
    if data.get("booking_request_id") is None:
        return False
    req = session.scalar(
        select(BookingRequest).where(BookingRequest.id == data["booking_request_id"]).with_for_update()
    )
    if req is None:
        return False
    paid_at = _parse_instant(data.get("paid_at"))
    by_participant = {
        line["participant_id"]: line for line in data.get("participants", []) if line.get("participant_id")
    }
    keys = {line["line_key"] for line in data.get("participants", [])}
    if req.session_id is not None and by_participant:
        for participant in session.scalars(
            select(BookingParticipant)
            .where(BookingParticipant.session_id == req.session_id, BookingParticipant.id.in_(by_participant))
            .with_for_update()
        ):
            line = by_participant[participant.id]
            participant.payment_status = status
            if status == "paid":
                participant.paid_at = paid_at
                participant.stripe_payment_intent_id = data.get("payment_intent_id")
                participant.amount_paid_cents = line["amount_cents"]
    if req.fee_lines:
        lines = []
        for line in req.fee_lines:
            key = line.get("key") or (f"p{line['participant_id']}" if line.get("participant_id") else None)
            if key in keys or line.get("participant_id") in by_participant:
                line = {**line, "payment_status": status}
            lines.append(line)
        req.fee_lines = lines
    session.flush()
    return True


def apply_invoice(session: Session, data: dict[str, Any]) -> None:
    req = session.get(BookingRequest, data["booking_request_id"], with_for_update=True)
    if req is not None:
        req.stripe_invoice_id = data["stripe_invoice_id"]
        req.invoice_status = data["status"]
