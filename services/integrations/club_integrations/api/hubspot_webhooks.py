"""/api/v1/webhooks/hubspot: HubSpot's webhooks, signature v3, stored and applied before the answer."""

from __future__ import annotations

import json

from flask import request
from flask_smorest import Blueprint

from club_shared.problems import Problem
from club_shared.web import runtime

from ..context import now
from ..domain import hubspot as rules
from ..flows import hubspot_inbound
from ..schemas import Accepted

blp = Blueprint(
    "hubspot_webhooks",
    __name__,
    url_prefix="/api/v1/webhooks/hubspot",
    description="HubSpot webhooks (X-HubSpot-Signature-v3)",
)


def _uris() -> list[str]:
    """The URL HubSpot called, as the signature covers it (behind TLS termination, https)."""
    url = request.url
    uris = [url]
    if url.startswith("http://"):
        uris.append("https://" + url[len("http://") :])
    return uris


@blp.post("")
@blp.response(200, Accepted, description="Every event stored (and applied) — only then the 200.")
@blp.alt_response(400, description="The body is not a JSON array of events.")
@blp.alt_response(401, description="The signature is missing, wrong or older than 5 minutes.")
@blp.alt_response(503, description="HUBSPOT_WEBHOOK_SECRET is not configured.")
def receive():
    rt = runtime()
    secret = rt.settings.hubspot_webhook_secret
    if not secret:
        raise Problem(
            503, "HubSpot webhooks are off: HUBSPOT_WEBHOOK_SECRET is not set.", code="HUBSPOT_DISABLED"
        )
    raw = request.get_data(cache=False)
    try:
        body = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise Problem(400, "The body is not UTF-8.", code="INVALID_BODY") from None
    current_ms = int(now().timestamp() * 1000)
    if not rules.webhook_valid(
        secret,
        request.method,
        _uris(),
        body,
        request.headers.get("X-HubSpot-Request-Timestamp"),
        request.headers.get("X-HubSpot-Signature-v3"),
        current_ms,
    ):
        raise Problem(401, "The HubSpot signature is missing, wrong or too old.", code="INVALID_SIGNATURE")
    try:
        events = json.loads(body)
    except (ValueError, RecursionError):
        raise Problem(400, "The body is not JSON.", code="INVALID_BODY") from None
    if not isinstance(events, list) or not all(isinstance(e, dict) and "eventId" in e for e in events):
        raise Problem(400, "Expected a JSON array of events.", code="INVALID_BODY")
    if len(events) > 1000:
        raise Problem(400, "Too many events in one delivery.", code="INVALID_BODY")
    with rt.db.transaction() as session:
        counts = hubspot_inbound.receive_webhook(rt, session, events, now())
    return {
        "status": "stored",
        "event_id": None,
        "detail": f"{counts['stored']} stored, {counts['duplicate']} duplicate",
    }
