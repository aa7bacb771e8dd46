"""/api/v1/webhooks/trackman: TrackMan's booking events (both payload versions, HMAC-signed)."""

from __future__ import annotations

import json

from flask import request
from flask_smorest import Blueprint

from club_shared.problems import Problem
from club_shared.web import accepts, runtime

from ..context import now
from ..domain import trackman
from ..flows import trackman as flows
from ..schemas import Accepted

blp = Blueprint(
    "trackman_webhooks",
    __name__,
    url_prefix="/api/v1/webhooks/trackman",
    description="TrackMan booking webhooks (x-trackman-signature: HMAC-SHA256 of the body)",
)


@blp.post("")
@accepts("application/json", "text/plain")
@blp.response(
    200, Accepted, description="Stored (or recognised as a duplicate); booking is told through the outbox."
)
@blp.alt_response(400, description="The body is not JSON.")
@blp.alt_response(401, description="The signature is missing or wrong.")
@blp.alt_response(
    503, description="TRACKMAN_WEBHOOK_SECRET is not configured (required outside development)."
)
def receive():
    """Verify the signature against the raw body, store the event (personal data redacted), drop
    duplicates, and publish what booking must match; answers at once."""
    rt = runtime()
    secret = rt.settings.trackman_webhook_secret
    raw = request.get_data(cache=False)
    if secret:
        if not trackman.signature_valid(secret, raw, request.headers.get(trackman.SIGNATURE_HEADER)):
            raise Problem(401, "The TrackMan signature is missing or wrong.", code="INVALID_SIGNATURE")
    elif rt.settings.env not in ("development", "test"):
        raise Problem(
            503, "TrackMan webhooks are off: TRACKMAN_WEBHOOK_SECRET is not set.", code="TRACKMAN_DISABLED"
        )
    try:
        payload = json.loads(raw)
    except (ValueError, RecursionError):
        raise Problem(400, "The body is not JSON.", code="INVALID_BODY") from None
    with rt.db.transaction() as session:
        result = flows.receive_webhook(rt, session, payload, now())
    return {"status": result.outcome, "event_id": result.event_id, "detail": result.detail}
