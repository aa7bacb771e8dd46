"""The worker's background work: Stripe calls after the causing transaction, and scheduled jobs.

Every Stripe call that moves money carries an idempotency key from our own ids, so a job that
fails half-way and runs again never charges, refunds or creates anything twice.
"""

from __future__ import annotations

import logging
from datetime import date, time, timedelta
from typing import Any

import stripe
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from club_shared.clubtime import today, utcnow
from club_shared.jobs import Daily, Every, JobRunner, Scheduled, alert_by_event, enqueue
from club_shared.runtime import Runtime

from .flows import cards, catalog, groups, invoices, payments, privacy, subscriptions
from .flows.runtime_access import publish
from .models import JOBS, StripePaymentIntent, WebhookProcessedEvent
from .stripe_gateway import StripeGateway, gateway_for

log = logging.getLogger(__name__)

#: Claims of Stripe webhook events are kept 30 days (§6.5).
WEBHOOK_CLAIMS_KEPT = timedelta(days=30)

SCHEDULE = (
    Scheduled("grace_period", Daily(time(10, 0))),
    Scheduled("integrity", Daily(time(0, 0))),
    Scheduled("purge_webhook_claims", Daily(time(4, 30))),
    Scheduled("reconcile_intents", Every(timedelta(minutes=15))),
    Scheduled("card_expiry", Daily(time(10, 15))),
)


class BillingJobs:
    def __init__(self, runtime: Runtime, gateway: StripeGateway | None = None):
        self.runtime = runtime
        self.gateway = gateway or gateway_for(runtime.settings)

    def jobs(self) -> dict[str, Any]:
        return {
            "sync_invoice": self.sync_invoice,
            "refund_payment": self.refund_payment,
            "cancel_payment_intent": self.cancel_payment_intent,
            "grace_period": self.grace_period,
            "card_expiry": self.card_expiry,
            "purge_webhook_claims": self.purge_webhook_claims,
            "reconcile_intents": self.reconcile_intents,
            "sync_product": self.sync_product,
            "push_coupon": self.push_coupon,
            "add_group_item": self.add_group_item,
            "integrity": self.integrity,
            "credit_customer": self.credit_customer,
            "remove_group_item": self.remove_group_item,
        }

    def credit_customer(self, session: Session, payload: dict[str, Any]) -> None:
        """Add funds to the member's account credit (the Stripe customer balance), once per Checkout."""
        if not self.gateway.enabled:
            return
        self.gateway.v1.customers.balance_transactions.create(
            payload["customer_id"],
            params={
                "amount": -payload["amount_cents"],
                "currency": "usd",
                "description": f"Funds added ({payload['checkout_session_id']})",
            },
            options={"idempotency_key": f"credit:{payload['checkout_session_id']}"},
        )
        publish(
            session,
            "billing.notification.requested",
            {
                "audience": "member",
                "email": payload["email"],
                "type": "funds_added",
                "title": "Funds added",
                "message": f"${payload['amount_cents'] / 100:.2f} was added to your account credit.",
                "channels": ["in_app", "email"],
            },
        )

    def integrity(self, session: Session, payload: dict[str, Any]) -> None:
        privacy.run_integrity(session, run_id=f"billing-{payload.get('period', 'now')}", trigger="scheduled")

    def add_group_item(self, session: Session, payload: dict[str, Any]) -> None:
        groups.add_item(session, self.gateway, payload)

    def remove_group_item(self, session: Session, payload: dict[str, Any]) -> None:
        groups.remove_item(session, self.gateway, payload)

    def sync_product(self, session: Session, payload: dict[str, Any]) -> None:
        catalog.sync_product(session, self.gateway, payload["slug"])

    def push_coupon(self, session: Session, payload: dict[str, Any]) -> None:
        catalog.push_coupon(session, self.gateway, payload["tag"])

    def sync_invoice(self, session: Session, payload: dict[str, Any]) -> None:
        invoices.sync_invoice(session, self.gateway, payload["booking_id"])

    def refund_payment(self, session: Session, payload: dict[str, Any]) -> None:
        """Refund one paid intent in full, key `refund:<payment_intent_id>`."""
        intent = session.get(StripePaymentIntent, payload["intent_id"], with_for_update=True)
        if intent is None or intent.status not in ("refunding", "refund_succeeded_sync_failed"):
            return
        if not self.gateway.enabled:
            intent.status = "requires_reconciliation"
            return
        pi = intent.stripe_payment_intent_id
        try:
            refund = self.gateway.v1.refunds.create(
                params={"payment_intent": pi, "metadata": {"booking_id": str(intent.booking_id or "")}},
                options={"idempotency_key": f"refund:{pi}"},
            )
            amount = refund.amount
        except stripe.InvalidRequestError as exc:
            if getattr(exc, "code", None) != "charge_already_refunded":
                raise
            amount = intent.amount_cents
        payments.refund_done(session, intent, amount)

    def cancel_payment_intent(self, session: Session, payload: dict[str, Any]) -> None:
        intent = session.get(StripePaymentIntent, payload["intent_id"])
        if intent is None or not intent.stripe_payment_intent_id or not self.gateway.enabled:
            return
        try:
            self.gateway.v1.payment_intents.cancel(
                intent.stripe_payment_intent_id,
                options={"idempotency_key": f"cancel:{intent.stripe_payment_intent_id}"},
            )
        except stripe.InvalidRequestError as exc:
            if getattr(exc, "code", None) != "payment_intent_unexpected_state":
                raise

    def card_expiry(self, session: Session, payload: dict[str, Any]) -> None:
        period = payload.get("period")
        club_day = date.fromisoformat(period) if isinstance(period, str) else today(self.runtime.tz)
        cards.warn_expiring(session, self.gateway, club_day)

    def grace_period(self, session: Session, payload: dict[str, Any]) -> None:
        subscriptions.run_grace_period(session, self.runtime.tz, utcnow())

    def purge_webhook_claims(self, session: Session, payload: dict[str, Any]) -> None:
        session.execute(
            delete(WebhookProcessedEvent).where(
                WebhookProcessedEvent.processed_at < utcnow() - WEBHOOK_CLAIMS_KEPT
            )
        )

    def reconcile_intents(self, session: Session, payload: dict[str, Any]) -> None:
        """Every 15 minutes: intents pending for more than 5 minutes are checked with Stripe and take
        its status; abandoned ones (more than 2 hours) and any pending after 7 days are cancelled."""
        now = utcnow()
        stale = session.scalars(
            select(StripePaymentIntent)
            .where(
                StripePaymentIntent.status.in_(("pending", "processing", "requires_action")),
                StripePaymentIntent.updated_at < now - timedelta(minutes=5),
            )
            .order_by(StripePaymentIntent.id)
            .limit(100)
            .with_for_update(skip_locked=True)
        ).all()
        for intent in stale:
            if intent.stripe_payment_intent_id and self.gateway.enabled:
                remote = self.gateway.v1.payment_intents.retrieve(intent.stripe_payment_intent_id)
                if remote.status == "succeeded":
                    payments.intent_succeeded(session, intent, remote.amount_received or remote.amount)
                    continue
                if remote.status == "canceled":
                    intent.status = "canceled"
                    continue
                if remote.status in ("processing", "requires_action"):
                    intent.status = remote.status
                error = getattr(remote, "last_payment_error", None)
                if remote.status == "requires_payment_method" and error:
                    payments.payment_failed(session, intent, reason=error.get("message"))
                    continue
            age = now - intent.created_at
            if age > timedelta(days=7) or (age > timedelta(hours=2) and intent.status == "pending"):
                intent.status = "canceled"
                if intent.stripe_payment_intent_id:
                    enqueue(session, JOBS, "cancel_payment_intent", {"intent_id": intent.id})


def make_jobs(runtime: Runtime, *, gateway: StripeGateway | None = None) -> JobRunner:
    billing_jobs = BillingJobs(runtime, gateway)
    billing_jobs.gateway.announce()
    return JobRunner(
        runtime.db,
        JOBS,
        billing_jobs.jobs(),
        runtime.tz,
        SCHEDULE,
        alert=alert_by_event(runtime.publish, runtime.service),
    )
