"""/api/v1/webhooks/email: the e-mail provider's signed delivery events (Resend, signed the Svix way)."""

from __future__ import annotations

import logging
from datetime import datetime

from flask import request
from flask_smorest import Blueprint
from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert

from club_shared.problems import Problem
from club_shared.web import runtime

from ..domain import rules
from ..models import CommunicationLog, EmailEvent, EmailSuppression

log = logging.getLogger(__name__)

blp = Blueprint(
    "email_webhooks",
    __name__,
    url_prefix="/api/v1/webhooks/email",
    description="Delivery events from the e-mail provider (signature verified)",
)

#: provider event → the communication log's status (others are stored but change nothing)
STATUS_FOR = {
    "email.sent": "sent",
    "email.delivered": "delivered",
    "email.bounced": "bounced",
    "email.complained": "complained",
    "email.failed": "failed",
}


@blp.post("")
@blp.response(200, description="Stored (or already stored: the same event id is stored once).")
@blp.alt_response(400, description="Signature, timestamp or body refused.")
@blp.alt_response(503, description="EMAIL_WEBHOOK_SECRET is not configured.")
def receive():
    """Verify the svix-id / svix-timestamp / svix-signature headers against the raw body, store the
    event once, and stop e-mailing an address that bounced or complained."""
    import resend

    secret = runtime().settings.email_webhook_secret
    if not secret:
        raise Problem(503, "The e-mail webhook is not configured.", code="WEBHOOK_DISABLED")
    try:
        raw = request.get_data(cache=False).decode("utf-8")
    except UnicodeDecodeError:
        raise Problem(400, "The body is not UTF-8.", code="INVALID_BODY") from None
    headers = {
        "id": request.headers.get("svix-id", ""),
        "timestamp": request.headers.get("svix-timestamp", ""),
        "signature": request.headers.get("svix-signature", ""),
    }
    try:
        payload = resend.Webhooks.verify({"payload": raw, "headers": headers, "webhook_secret": secret})
    except ValueError as exc:
        raise Problem(400, f"Webhook refused: {exc}", code="INVALID_SIGNATURE") from None
    if (
        not isinstance(payload, dict)
        or not isinstance(payload.get("type"), str)
        or not isinstance(payload.get("data"), dict)
    ):
        raise Problem(400, "The event has no type or data.", code="INVALID_BODY")
    event_id = headers["id"][:200]
    event_type = payload["type"][:50]
    data = payload["data"]
    recipients = data.get("to") or []
    if isinstance(recipients, str):
        recipients = [recipients]
    addresses = [rules.normalise_email(r) for r in recipients if isinstance(r, str) and "@" in r][:50]
    message_id = data.get("email_id") if isinstance(data.get("email_id"), str) else None
    occurred_at = _instant(payload.get("created_at")) or _instant(data.get("created_at"))

    rt = runtime()
    with rt.db.transaction() as session:
        stored = session.execute(
            insert(EmailEvent)
            .values(
                event_id=event_id,
                email=addresses[0] if addresses else None,
                event_type=event_type,
                occurred_at=occurred_at,
                provider_message_id=message_id[:200] if message_id else None,
            )
            .on_conflict_do_nothing(index_elements=[EmailEvent.event_id])
            .returning(EmailEvent.id)
        ).first()
        if stored is None:
            return {"status": "duplicate"}
        status = STATUS_FOR.get(event_type)
        if status and message_id:
            session.execute(
                update(CommunicationLog)
                .where(CommunicationLog.provider_message_id == message_id)
                .values(status=status)
            )
        bounce = data.get("bounce") if isinstance(data.get("bounce"), dict) else {}
        hard_bounce = event_type == "email.bounced" and str(bounce.get("type", "")).lower() != "transient"
        if hard_bounce or event_type == "email.complained":
            reason = "bounced" if hard_bounce else "complained"
            when = occurred_at or session.scalar(select(func.now()))
            for address in addresses:
                added = session.execute(
                    insert(EmailSuppression)
                    .values(email=address, reason=reason, event_id=event_id)
                    .on_conflict_do_nothing(index_elements=[EmailSuppression.email])
                    .returning(EmailSuppression.email)
                ).first()
                if added is None:
                    continue
                if hard_bounce:
                    rt.publish(
                        session,
                        "notifications.email.bounced",
                        {
                            "email": address,
                            "occurred_at": when.isoformat(),
                            "bounce_type": _text(bounce.get("type"), 50),
                            "detail": _text(bounce.get("message"), 1000),
                            "provider_message_id": message_id,
                        },
                    )
                else:
                    rt.publish(
                        session,
                        "notifications.email.complained",
                        {
                            "email": address,
                            "occurred_at": when.isoformat(),
                            "provider_message_id": message_id,
                        },
                    )
    return {"status": "stored"}


def _instant(value) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace(" ", "T", 1))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else None


def _text(value, limit: int) -> str | None:
    return str(value)[:limit] if value is not None else None
