"""Stripe through its official client, pointed at a configurable base URL (a fake in tests).

Without STRIPE_SECRET_KEY the service still starts: card payments, invoices at Stripe, Checkout and
subscriptions are off (503 problem+json), while fees, cash, waivers and balances keep working.
In CLUB_ENV=development the webhook secret defaults to `whsec_clubhouse_dev`.
"""

from __future__ import annotations

import logging
from functools import cached_property
from typing import Any

import stripe

from club_shared.config import Settings
from club_shared.problems import Problem

log = logging.getLogger(__name__)

DEV_WEBHOOK_SECRET = "whsec_clubhouse_dev"
WEBHOOK_TOLERANCE_S = 300
CARD_FEATURES = (
    "card payments",
    "booking invoices at Stripe",
    "Checkout (day passes)",
    "refunds",
    "subscriptions",
)


class StripeGateway:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.api_base = settings.stripe_api_base.rstrip("/")
        self.secret_key = settings.stripe_secret_key
        self.webhook_secret = settings.stripe_webhook_secret or (
            DEV_WEBHOOK_SECRET if settings.is_development else None
        )

    @property
    def enabled(self) -> bool:
        return bool(self.secret_key)

    def off_features(self) -> list[str]:
        off = [] if self.enabled else list(CARD_FEATURES)
        if not self.webhook_secret:
            off.append("Stripe webhooks")
        return off

    def announce(self) -> None:
        off = self.off_features()
        if off:
            log.warning(
                "Stripe features are off: %s (set STRIPE_SECRET_KEY / STRIPE_WEBHOOK_SECRET)",
                ", ".join(off),
                extra={"features_off": off},
            )
        else:
            log.info("Stripe is on", extra={"api_base": self.api_base})

    def require(self) -> None:
        """Refuse a card feature while Stripe is not configured."""
        if not self.enabled:
            raise Problem(
                503,
                "Card payments are not available: Stripe is not configured. Cash and waivers still work.",
                code="PAYMENTS_UNAVAILABLE",
            )

    @cached_property
    def client(self) -> stripe.StripeClient:
        if not self.enabled:
            raise RuntimeError("Stripe is not configured")
        base = self.api_base
        return stripe.StripeClient(
            self.secret_key,
            base_addresses={"api": base, "files": base, "connect": base, "meter_events": base},
            max_network_retries=2,
        )

    @property
    def v1(self) -> Any:
        return self.client.v1

    def verify(self, payload: bytes, signature: str | None) -> dict[str, Any]:
        """The event of a signed webhook body: Stripe's scheme (t=…,v1=…; HMAC-SHA256 of `t.body`;
        any of several v1 signatures; 300 s tolerance). Raises Problem 400 on a bad signature."""
        if not self.webhook_secret:
            raise Problem(503, "Stripe webhooks are not configured.", code="WEBHOOKS_UNAVAILABLE")
        if not signature:
            raise Problem(400, "The Stripe-Signature header is missing.", code="INVALID_SIGNATURE")
        try:
            stripe.WebhookSignature.verify_header(
                payload.decode("utf-8"), signature, self.webhook_secret, WEBHOOK_TOLERANCE_S
            )
        except (stripe.SignatureVerificationError, UnicodeDecodeError, ValueError) as exc:
            raise Problem(
                400, f"The Stripe signature does not verify: {exc}", code="INVALID_SIGNATURE"
            ) from None
        import json

        try:
            event = json.loads(payload)
        except ValueError:
            raise Problem(400, "The webhook body is not JSON.", code="BAD_REQUEST") from None
        if not isinstance(event, dict) or not isinstance(event.get("id"), str) or "type" not in event:
            raise Problem(400, "The webhook body is not a Stripe event.", code="BAD_REQUEST")
        return event


_gateways: dict[int, StripeGateway] = {}


def gateway_for(settings: Settings) -> StripeGateway:
    """One gateway (and client) per settings object."""
    key = id(settings)
    if key not in _gateways:
        _gateways[key] = StripeGateway(settings)
    return _gateways[key]
