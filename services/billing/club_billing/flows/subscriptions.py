"""Membership subscriptions at Stripe: customers, the payment-failure grace period (domain.md §2.3).

The grace period (3 days): billing.membership_payment.failed starts it; a reminder e-mail with a
billing-portal link goes out daily at 10:00 club time, at most 3; after 3 reminders and at least 3
club days, billing.grace_period.expired (membership terminates). A payment succeeding clears it.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..models import BillingAuditLog, BillingCustomer
from .runtime_access import publish

GRACE_DAYS = 3
MAX_REMINDERS = 3


def customer_by(
    session: Session, *, customer_id: str | None = None, email: str | None = None
) -> BillingCustomer | None:
    if customer_id:
        found = session.scalars(
            select(BillingCustomer).where(BillingCustomer.stripe_customer_id == customer_id).with_for_update()
        ).first()
        if found is not None:
            return found
    if email:
        return session.scalars(
            select(BillingCustomer).where(BillingCustomer.email == email).with_for_update()
        ).first()
    return None


def ensure_customer_row(session: Session, email: str, customer_id: str | None) -> BillingCustomer:
    customer = customer_by(session, customer_id=customer_id, email=email)
    if customer is None:
        customer = BillingCustomer(email=email, stripe_customer_id=customer_id, payment_failure_count=0)
        session.add(customer)
        session.flush()
    elif customer_id and not customer.stripe_customer_id:
        customer.stripe_customer_id = customer_id
    return customer


def start_grace(session: Session, customer: BillingCustomer, now: datetime) -> None:
    if customer.grace_period_start is None:
        customer.grace_period_start = now
        customer.grace_reminders_sent = 0
        customer.last_grace_reminder_on = None
        audit(session, customer.email, "grace_period_started", {"at": now.isoformat()}, "system")


def clear_grace(session: Session, customer: BillingCustomer) -> None:
    if customer.grace_period_start is not None:
        audit(
            session,
            customer.email,
            "grace_period_cleared",
            {"reminders_sent": customer.grace_reminders_sent},
            "system",
        )
    customer.grace_period_start = None
    customer.grace_reminders_sent = 0
    customer.last_grace_reminder_on = None


def run_grace_period(session: Session, tz: ZoneInfo, now: datetime) -> list[str]:
    """The 10:00 run: expire finished grace periods, send today's reminders. Returns what it did."""
    today = now.astimezone(tz).date()
    done = []
    customers = session.scalars(
        select(BillingCustomer)
        .where(BillingCustomer.grace_period_start.is_not(None))
        .order_by(BillingCustomer.id)
        .with_for_update(skip_locked=True)
    ).all()
    for customer in customers:
        started = customer.grace_period_start.astimezone(tz).date()
        if customer.grace_reminders_sent >= MAX_REMINDERS and (today - started).days >= GRACE_DAYS:
            publish(
                session,
                "billing.grace_period.expired",
                {
                    "email": customer.email,
                    "customer_id": customer.stripe_customer_id,
                    "subscription_id": customer.stripe_subscription_id,
                    "grace_period_start": customer.grace_period_start,
                    "reminders_sent": customer.grace_reminders_sent,
                },
            )
            audit(session, customer.email, "grace_period_expired", {"on": today.isoformat()}, "system")
            clear_grace(session, customer)
            done.append(f"expired:{customer.email}")
        elif customer.grace_reminders_sent < MAX_REMINDERS and customer.last_grace_reminder_on != today:
            customer.grace_reminders_sent += 1
            customer.last_grace_reminder_on = today
            publish(
                session,
                "billing.notification.requested",
                {
                    "audience": "member",
                    "email": customer.email,
                    "type": "membership_payment_failed",
                    "title": "Your membership payment failed",
                    "message": (
                        "We could not collect your membership payment. Please update your card in the billing "
                        f"portal (reminder {customer.grace_reminders_sent} of {MAX_REMINDERS})."
                    ),
                    "link": "/billing/portal",
                    "channels": ["in_app", "email"],
                },
            )
            done.append(f"reminded:{customer.email}")
    return done


def audit(session: Session, email: str | None, action: str, details: dict, performed_by: str | None) -> None:
    session.add(
        BillingAuditLog(
            member_email=email, action_type=action, action_details=details, performed_by=performed_by
        )
    )
