"""Example 24: the payment-failure grace period, run by the scheduled job at 10:00 club time."""

from __future__ import annotations

import uuid
from datetime import datetime
from zoneinfo import ZoneInfo

from billing_support import outbox
from sqlalchemy import select

from club_billing.flows import subscriptions
from club_billing.models import BillingCustomer

TZ = ZoneInfo("America/Los_Angeles")


def _at(day: int, hour: int) -> datetime:
    return datetime(2026, 9, day, hour, 0, tzinfo=TZ)


def _customer(db, email):
    with db.transaction() as session:
        customer = subscriptions.ensure_customer_row(session, email, f"cus_{uuid.uuid4().hex[:8]}")
        customer.stripe_subscription_id = "sub_dee"
        subscriptions.start_grace(session, customer, _at(1, 8))


def _run(db, day):
    with db.transaction() as session:
        return subscriptions.run_grace_period(session, TZ, _at(day, 10))


def test_three_reminders_then_expired(db):
    email = f"dee.{uuid.uuid4().hex[:8]}@example.com"
    _customer(db, email)
    done = []
    for day in (1, 1, 2, 3, 4, 4):
        done += [d for d in _run(db, day) if email in d]
    assert done == [f"reminded:{email}"] * 3 + [f"expired:{email}"]
    reminders = [n for n in outbox(db, "billing.notification.requested", email=email)]
    assert len(reminders) == 3 and all(r["type"] == "membership_payment_failed" for r in reminders)
    [expired] = outbox(db, "billing.grace_period.expired", email=email)
    assert expired["reminders_sent"] == 3


def test_a_payment_on_day_3_clears_it(db):
    email = f"dee.{uuid.uuid4().hex[:8]}@example.com"
    _customer(db, email)
    _run(db, 1)
    _run(db, 2)
    with db.transaction() as session:
        customer = session.scalars(select(BillingCustomer).where(BillingCustomer.email == email)).one()
        subscriptions.clear_grace(session, customer)
    assert not [d for d in _run(db, 3) + _run(db, 4) if email in d]
    assert not outbox(db, "billing.grace_period.expired", email=email)


def test_the_schedule_fires_once_per_club_day(jobs):
    from datetime import UTC

    fired = jobs.fire_due(datetime(2030, 1, 2, 18, 30, tzinfo=UTC))  # 10:30 in Los Angeles
    again = jobs.fire_due(datetime(2030, 1, 2, 19, 30, tzinfo=UTC))
    assert "grace_period" in fired and "grace_period" not in again
