"""/api/v1/webhooks/stripe: Stripe's signed events (domain.md §6.5)."""

from __future__ import annotations

import logging

from flask import jsonify, request
from flask_smorest import Blueprint

from club_shared.problems import Problem
from club_shared.web import accepts, runtime

from ..flows import webhooks
from ..stripe_gateway import gateway_for

log = logging.getLogger(__name__)

blp = Blueprint(
    "stripe_webhooks",
    __name__,
    url_prefix="/api/v1/webhooks/stripe",
    description="Stripe's webhook events (signature verified on the raw body)",
)


@blp.post("")
@accepts("application/json", "text/plain")
@blp.response(200, description="Processed, a duplicate, or skipped as out of order (`outcome`).")
@blp.alt_response(400, description="Missing or wrong Stripe-Signature, or not a Stripe event.")
@blp.alt_response(500, description="Handling failed: the claim is released and Stripe retries.")
@blp.alt_response(503, description="STRIPE_WEBHOOK_SECRET is not configured.")
def receive():
    """Verify the signature on the raw body (300 s tolerance, any of several v1 signatures), claim the
    event id once, skip an event older than what was applied to its object, and apply it in one
    transaction with its outbox events. A handler error answers 500 and releases the claim."""
    gateway = gateway_for(runtime().settings)
    payload = request.get_data(cache=False)
    event = gateway.verify(payload, request.headers.get("Stripe-Signature"))
    try:
        with runtime().db.transaction() as session:
            outcome = webhooks.process(session, event)
    except Problem:
        raise
    except Exception:
        log.exception(
            "Stripe webhook handling failed",
            extra={"stripe_event": event.get("id"), "type": event.get("type")},
        )
        raise Problem(
            500, "Handling the event failed; Stripe will retry it.", code="WEBHOOK_FAILED"
        ) from None
    return jsonify(received=True, event_id=event["id"], outcome=outcome)
