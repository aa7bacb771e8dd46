"""Card-expiry warnings (domain.md §10): Stripe keeps the members' cards, so on the first day of each
club month billing asks Stripe for each subscriber's default card and warns those whose card expires
at the end of that month (in-app, push and e-mail, through notifications)."""

from __future__ import annotations

import logging
from datetime import date
from typing import Any

import stripe
from sqlalchemy import select
from sqlalchemy.orm import Session

from ..models import BillingCustomer
from ..stripe_gateway import StripeGateway
from .runtime_access import publish

log = logging.getLogger(__name__)

#: subscriptions that will be charged again, so a card about to expire matters
RENEWING = ("active", "trialing", "past_due")


def default_card(gateway: StripeGateway, customer_id: str) -> dict[str, Any] | None:
    customer = gateway.v1.customers.retrieve(customer_id).to_dict()
    method_id = (customer.get("invoice_settings") or {}).get("default_payment_method")
    if isinstance(method_id, dict):  # expanded
        method_id = method_id.get("id")
    if not method_id:
        return None
    return gateway.v1.payment_methods.retrieve(method_id).to_dict().get("card")


def warn_expiring(session: Session, gateway: StripeGateway, club_day: date) -> int:
    """The number of members warned. Runs on the 1st only (the scheduler claims each day once)."""
    if club_day.day != 1 or not gateway.enabled:
        return 0
    customers = session.execute(
        select(BillingCustomer.email, BillingCustomer.stripe_customer_id)
        .where(
            BillingCustomer.stripe_customer_id.is_not(None),
            BillingCustomer.subscription_status.in_(RENEWING),
        )
        .order_by(BillingCustomer.id)
    ).all()
    warned = 0
    for email, customer_id in customers:
        try:
            card = default_card(gateway, customer_id)
        except stripe.StripeError as exc:  # one customer Stripe cannot answer for never stops the rest
            log.warning("card lookup failed", extra={"customer_id": customer_id, "error": str(exc)})
            continue
        if card is None or (card["exp_year"], card["exp_month"]) != (club_day.year, club_day.month):
            continue
        brand = str(card.get("brand") or "card").title()
        publish(
            session,
            "billing.notification.requested",
            {
                "audience": "member",
                "email": email,
                "type": "card_expiring",
                "title": "Your card expires this month",
                "message": (
                    f"Your {brand} ending {card.get('last4')} expires at the end of {club_day:%B}. "
                    "Please update your card to keep your membership running."
                ),
                "link": "/billing",
                "channels": ["in_app", "push", "email"],
            },
        )
        warned += 1
    return warned
