"""Card-expiry warnings (domain.md §10): on the first day of each club month, each subscriber whose
default card (as Stripe keeps it) expires at the end of that month is warned once, through
notifications; other days, other cards and lapsed subscriptions say nothing."""

from __future__ import annotations

import uuid
from datetime import date

from billing_support import outbox

from club_billing.jobs import SCHEDULE, BillingJobs
from club_billing.models import BillingCustomer


def _subscriber(db, fake, exp: tuple[int, int] | None, status: str = "active") -> str:
    email = f"card.{uuid.uuid4().hex[:8]}@example.com"
    params: dict = {"email": email}
    if exp is not None:
        method = fake.create_payment_method(
            {"type": "card", "card": {"number": "4000056655665556", "exp_month": exp[1], "exp_year": exp[0]}}
        )
        params["payment_method"] = method["id"]
    customer = fake.create_customer(params)
    with db.transaction() as session:
        session.add(
            BillingCustomer(email=email, stripe_customer_id=customer["id"], subscription_status=status)
        )
    return email


def _warned(db, email) -> list[dict]:
    return outbox(db, "billing.notification.requested", email=email, type="card_expiring")


def test_subscribers_whose_card_expires_this_month_are_warned_on_the_first(runtime, db, stripe_fake):
    assert any(s.name == "card_expiry" for s in SCHEDULE)
    fake = stripe_fake.fake
    expiring = _subscriber(db, fake, (2031, 3))
    later = _subscriber(db, fake, (2031, 4))
    lapsed = _subscriber(db, fake, (2031, 3), status="canceled")
    default_visa = _subscriber(db, fake, None)  # Stripe's test Visa, valid for years
    jobs = BillingJobs(runtime)
    with db.transaction() as session:
        jobs.card_expiry(session, {"period": "2031-03-02"})  # not the first: nothing
    assert _warned(db, expiring) == []
    with db.transaction() as session:
        jobs.card_expiry(session, {"period": date(2031, 3, 1).isoformat()})
    [warning] = _warned(db, expiring)
    assert warning["audience"] == "member" and set(warning["channels"]) == {"in_app", "push", "email"}
    assert "ending 5556" in warning["message"] and "end of March" in warning["message"]
    assert warning["link"] == "/billing"
    assert [_warned(db, e) for e in (later, lapsed, default_visa)] == [[], [], []]
