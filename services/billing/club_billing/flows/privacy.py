"""A member's billing data: their share of a data export (domain.md §2.3), their erasure on account
deletion (money records are kept for the books, anonymised), and billing's nightly integrity checks
(§11)."""

from __future__ import annotations

import hashlib
import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.orm import Session

from club_shared.clubtime import utcnow

from ..models import (
    BillingAuditLog,
    BillingBooking,
    BillingCustomer,
    BillingMember,
    BookingFeeSnapshot,
    BookingInvoice,
    BookingUsage,
    DayPassPurchase,
    LegacyPurchase,
    StripePaymentIntent,
)
from . import readmodels
from .runtime_access import publish

EXPORTED = {
    "booking_fees": (BillingBooking, BillingBooking.member_email),
    "booking_invoices": (BookingInvoice, BookingInvoice.member_email),
    "payments": (StripePaymentIntent, StripePaymentIntent.customer_email),
    "day_pass_purchases": (DayPassPurchase, DayPassPurchase.email),
    "billing_customers": (BillingCustomer, BillingCustomer.email),
    "legacy_purchases": (LegacyPurchase, LegacyPurchase.email),
    "billing_audit_log": (BillingAuditLog, BillingAuditLog.member_email),
}
_SKIP = {"fee_input", "data"}


def _json(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


def _row(obj) -> dict[str, Any]:
    return {c.key: _json(getattr(obj, c.key)) for c in obj.__mapper__.column_attrs if c.key not in _SKIP}


def export_part(session: Session, data: dict[str, Any]) -> None:
    emails = sorted({e.lower() for e in [data["email"], *data.get("emails", [])]})
    part: dict[str, list] = {}
    for name, (model, column) in EXPORTED.items():
        rows = session.scalars(select(model).where(column.in_(emails))).all()
        part[name] = [_row(r) for r in rows]
    publish(
        session,
        "billing.data_export.part_written",
        {"request_id": data["request_id"], "email": data["email"], "service": "billing", "part": part},
    )


def anonymised(email: str) -> str:
    return f"deleted-{hashlib.sha256(email.lower().encode()).hexdigest()[:16]}@deleted.invalid"


def erase(session: Session, data: dict[str, Any]) -> None:
    """Account deletion: the read models go; money records stay for the books under an anonymous
    address (the amounts, dates and Stripe ids an accountant needs)."""
    emails = sorted({e.lower() for e in [data["email"], *data.get("linked_emails", [])]})
    target = anonymised(data["email"])
    session.execute(delete(BillingMember).where(BillingMember.email.in_(emails)))
    readmodels.forget_cached(session)
    session.execute(delete(BookingUsage).where(BookingUsage.email.in_(emails)))
    session.execute(
        update(BillingBooking)
        .where(BillingBooking.member_email.in_(emails))
        .values(member_email=target, member_name=None)
    )
    session.execute(
        update(BookingInvoice).where(BookingInvoice.member_email.in_(emails)).values(member_email=target)
    )
    session.execute(
        update(StripePaymentIntent)
        .where(StripePaymentIntent.customer_email.in_(emails))
        .values(customer_email=target)
    )
    session.execute(
        update(DayPassPurchase)
        .where(DayPassPurchase.email.in_(emails))
        .values(email=target, name=None, phone=None)
    )
    session.execute(update(LegacyPurchase).where(LegacyPurchase.email.in_(emails)).values(email=target))
    session.execute(
        update(BillingAuditLog).where(BillingAuditLog.member_email.in_(emails)).values(member_email=target)
    )
    for customer in session.scalars(select(BillingCustomer).where(BillingCustomer.email.in_(emails))):
        customer.email = f"{customer.id}.{target}"
    # participant e-mails inside fee lines
    for booking in session.scalars(
        select(BillingBooking).where(or_(*[BillingBooking.lines.contains([{"email": e}]) for e in emails]))
    ):
        booking.lines = [
            {**line, "email": target} if line.get("email") in emails else line for line in booking.lines
        ]


# ------------------------------------------------------------------------------------------------
# Integrity (nightly 00:00 and on demand)
# ------------------------------------------------------------------------------------------------


def _check(name: str, category: str, severity: str, issues: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "name": name,
        "category": category,
        "severity": severity,
        "status": "issues" if issues else "ok",
        "error": None,
        "issues": issues,
    }


def run_integrity(session: Session, *, run_id: str, trigger: str) -> dict[str, Any]:
    now = utcnow()
    checks = []
    orphan_snapshots = session.scalars(
        select(BookingFeeSnapshot.id)
        .where(
            ~select(BillingBooking.booking_id)
            .where(BillingBooking.booking_id == BookingFeeSnapshot.booking_id)
            .exists()
        )
        .limit(100)
    ).all()
    checks.append(
        _check(
            "Orphaned Fee Snapshots",
            "orphan_record",
            "medium",
            [
                {
                    "table": "booking_fee_snapshots",
                    "record_id": str(i),
                    "description": "snapshot of an unknown booking",
                }
                for i in orphan_snapshots
            ],
        )
    )
    orphan_intents = session.scalars(
        select(StripePaymentIntent.id)
        .where(
            StripePaymentIntent.booking_id.is_not(None),
            ~select(BillingBooking.booking_id)
            .where(BillingBooking.booking_id == StripePaymentIntent.booking_id)
            .exists(),
        )
        .limit(100)
    ).all()
    checks.append(
        _check(
            "Orphaned Payment Intents",
            "orphan_record",
            "high",
            [
                {
                    "table": "stripe_payment_intents",
                    "record_id": str(i),
                    "description": "intent of an unknown booking",
                }
                for i in orphan_intents
            ],
        )
    )
    mismatched = session.execute(
        select(BookingInvoice.booking_id, BookingInvoice.status, BillingBooking.status)
        .join(BillingBooking, BillingBooking.booking_id == BookingInvoice.booking_id)
        .where(
            or_(
                BookingInvoice.status.in_(("draft", "open"))
                & BillingBooking.status.in_(("cancelled", "declined", "expired")),
            )
        )
        .limit(100)
    ).all()
    checks.append(
        _check(
            "Invoice-Booking Reconciliation",
            "billing_issue",
            "high",
            [
                {
                    "table": "booking_invoices",
                    "record_id": str(b),
                    "description": f"invoice {i} on a {s} booking",
                }
                for b, i, s in mismatched
            ],
        )
    )
    lingering = session.execute(
        select(StripePaymentIntent.id, BillingBooking.status)
        .join(BillingBooking, BillingBooking.booking_id == StripePaymentIntent.booking_id)
        .where(
            StripePaymentIntent.status.in_(("pending", "processing", "requires_action")),
            BillingBooking.status.in_(("cancelled", "declined", "expired", "attended", "no_show")),
        )
        .limit(100)
    ).all()
    checks.append(
        _check(
            "Lingering Payment Intents on Final Bookings",
            "billing_issue",
            "medium",
            [
                {
                    "table": "stripe_payment_intents",
                    "record_id": str(i),
                    "description": f"open intent on a {s} booking",
                }
                for i, s in lingering
            ],
        )
    )
    duplicates = session.execute(
        select(func.lower(BillingCustomer.email), func.count())
        .group_by(func.lower(BillingCustomer.email))
        .having(func.count() > 1)
        .limit(100)
    ).all()
    checks.append(
        _check(
            "Duplicate Stripe Customers",
            "data_quality",
            "medium",
            [
                {"table": "billing_customers", "record_id": e, "description": f"{n} customers for one e-mail"}
                for e, n in duplicates
            ],
        )
    )
    unsynced = session.execute(
        select(BillingCustomer.email, BillingCustomer.subscription_status, BillingMember.status)
        .join(BillingMember, BillingMember.email == BillingCustomer.email)
        .where(
            BillingMember.billing_provider == "stripe",
            BillingCustomer.subscription_status.in_(("active", "trialing")),
            BillingMember.status.in_(("cancelled", "terminated", "non-member", "archived")),
        )
        .limit(100)
    ).all()
    checks.append(
        _check(
            "Stripe Subscription Sync",
            "sync_mismatch",
            "high",
            [
                {
                    "table": "billing_customers",
                    "record_id": e,
                    "description": f"subscription {s} but member {m}",
                }
                for e, s, m in unsynced
            ],
        )
    )
    data = {"run_id": run_id, "checked_at": now, "trigger": trigger, "checks": checks}
    publish(session, "billing.integrity.checked", data)
    return data
