"""E-mail: templates (escaped, with a text part), delivery through the Resend SDK to a fake provider,
communication logs, the signed delivery webhook, suppression after a bounce or complaint, sign-in
codes kept only until sent."""

from __future__ import annotations

import json
import time
import uuid

import pytest
from notifications_support import jobs_for
from sqlalchemy import select

from club_notifications import notify
from club_notifications.domain import emails
from club_notifications.domain.messages import Email, signin_code
from club_notifications.models import JOBS, CommunicationLog, EmailEvent, EmailSuppression, PendingSecret

EVIL = '<script>alert("x")</script> & <b>bold</b>'


def _queue(db, to, template="welcome", context=None, **kw):
    with db.transaction() as session:
        entry = notify.queue_email(session, to, Email(template, context or {"first_name": "Ann"}), **kw)
        return entry.id if entry else None


def _log(db, log_id) -> CommunicationLog:
    with db.transaction() as session:
        return session.get(CommunicationLog, log_id)


CONTEXTS = {
    "signin_code": {"code": "123456", "link": "https://app.example.com/s?t=1", "expires_in_minutes": 15},
    "welcome": {"first_name": EVIL},
    "booking_approved": {"first_name": EVIL, "resource": EVIL, "when": EVIL, "booking_id": 1},
    "booking_declined": {"first_name": EVIL, "resource": EVIL, "when": EVIL, "reason": EVIL},
    "booking_cancelled": {"first_name": EVIL, "resource": EVIL, "when": EVIL, "by": "staff"},
    "booking_reminder": {"first_name": EVIL, "title": EVIL, "when": EVIL},
    "payment_receipt": {"first_name": EVIL, "amount": "$25.00", "description": EVIL},
    "payment_failed": {"first_name": EVIL, "amount": "$25.00", "description": EVIL, "reason": EVIL},
    "grace_reminder": {"first_name": EVIL, "days_left": 2},
    "day_pass": {"product": EVIL, "pass_code": "DP-1", "valid_until": EVIL, "purchase_id": 1},
    "event_cancelled": {"first_name": EVIL, "title": EVIL, "when": EVIL},
    "wellness_cancelled": {"title": EVIL, "when": EVIL},
    "tour_confirmation": {"visitor_name": EVIL, "when": EVIL},
    "first_visit": {"first_name": EVIL},
    "notice": {"title": EVIL, "message": EVIL, "link": "/bookings/1"},
}


def test_every_template_has_a_test_context():
    assert set(CONTEXTS) == set(emails.TEMPLATES)


@pytest.mark.parametrize("template", sorted(emails.TEMPLATES))
def test_templates_escape_every_value_and_have_a_text_part(template):
    rendered = emails.render(template, CONTEXTS[template], app_url="https://app.example.com")
    assert "<script>" not in rendered.html and "<b>bold</b>" not in rendered.html
    if template != "signin_code":
        assert "&lt;script&gt;" in rendered.html
    assert rendered.text.strip() and "<p>" not in rendered.text
    assert "\n" not in rendered.subject and len(rendered.subject) <= 250


def test_a_queued_email_reaches_the_provider_and_is_logged(live_runtime, email, email_provider, jobs):
    log_id = _queue(live_runtime.db, email, "booking_approved", CONTEXTS["booking_approved"])
    assert _log(live_runtime.db, log_id).status == "queued"
    jobs.drain()
    [sent] = email_provider.sent_to(email)
    assert sent.body["from"] == "Clubhouse <club@example.com>"
    assert sent.body["subject"].startswith("Booking approved")
    assert "&lt;script&gt;" in sent.body["html"] and EVIL in sent.body["text"]
    assert sent.headers["Idempotency-Key"] == f"communication-{log_id}"
    entry = _log(live_runtime.db, log_id)
    assert (entry.status, entry.provider_message_id, entry.type, entry.direction) == (
        "sent",
        sent.id,
        "email",
        "outbound",
    )
    assert entry.subject == sent.body["subject"] and entry.body == sent.body["text"]


def test_day_pass_carries_its_qr_code_inline(live_runtime, email, email_provider, jobs):
    _queue(live_runtime.db, email, "day_pass", CONTEXTS["day_pass"])
    jobs.drain()
    [sent] = email_provider.sent_to(email)
    [attachment] = sent.body["attachments"]
    assert attachment["content_id"] == "day-pass-qr" and attachment["content_type"] == "image/png"
    assert 'src="cid:day-pass-qr"' in sent.body["html"]


def test_provider_refusals_and_outages(live_runtime, email, email_provider, jobs):
    email_provider.answer_next(422, "validation_error")
    refused = _queue(live_runtime.db, email)
    jobs.drain()
    assert _log(live_runtime.db, refused).status == "failed"  # a 4xx does not get better by retrying

    email_provider.answer_next(429, "rate_limit_exceeded", {"Retry-After": "90"})
    limited = _queue(live_runtime.db, "b." + email)
    jobs.drain()
    entry = _log(live_runtime.db, limited)
    assert entry.status == "retrying" and "429" in entry.error
    [retry] = [j for j in jobs_for(live_runtime.db, "email", log_id=limited) if j.status == "pending"]
    assert retry.payload["attempt"] == 1
    with live_runtime.db.transaction() as session:
        session.execute(
            JOBS.job_queue.update()
            .where(JOBS.job_queue.c.id == retry.id)
            .values(scheduled_for=retry.created_at)
        )
    jobs.drain()
    assert _log(live_runtime.db, limited).status == "sent"
    assert len(email_provider.sent_to("b." + email)) == 1


def test_email_off_is_recorded_not_lost(runtime, email):
    from club_notifications.jobs import make_jobs

    log_id = _queue(runtime.db, email)
    [job] = jobs_for(runtime.db, "email", log_id=log_id)
    with runtime.db.transaction() as session:
        make_jobs(runtime).jobs["email"](session, job.payload)
    entry = _log(runtime.db, log_id)
    assert entry.status == "skipped" and "EMAIL_API_KEY" in entry.error


def test_signin_codes_are_kept_only_until_sent(live_runtime, email, email_provider, jobs):
    secret = {"code": "482913", "link": "https://app.example.com/signin?t=tok"}
    log_id = _queue(live_runtime.db, email, "signin_code", signin_code().context, secret=secret)
    [job] = jobs_for(live_runtime.db, "email", log_id=log_id)
    assert "482913" not in json.dumps(job.payload)
    jobs.drain()
    [sent] = email_provider.sent_to(email)
    assert (
        "482913" in sent.body["html"] and "482913" in sent.body["text"] and "482913" in sent.body["subject"]
    )
    entry = _log(live_runtime.db, log_id)
    assert entry.status == "sent" and "482913" not in (entry.subject + entry.body)
    with live_runtime.db.transaction() as session:
        assert session.get(PendingSecret, job.payload["secret_id"]) is None


def test_a_code_not_sent_within_its_life_is_dropped(live_runtime, email, email_provider, jobs):
    from datetime import timedelta

    email_provider.answer_next(503)
    log_id = _queue(
        live_runtime.db,
        email,
        "signin_code",
        signin_code().context,
        secret={"code": "111222", "link": ""},
        secret_ttl=timedelta(seconds=30),
    )
    [job] = jobs_for(live_runtime.db, "email", log_id=log_id)[:1]
    jobs.drain()
    assert _log(live_runtime.db, log_id).status == "retrying"
    with live_runtime.db.transaction() as session:
        session.execute(
            PendingSecret.__table__.update().values(
                expires_at=PendingSecret.expires_at - timedelta(minutes=1)
            )
        )
        session.execute(
            JOBS.job_queue.update()
            .where(JOBS.job_queue.c.status == "pending")
            .values(scheduled_for=JOBS.job_queue.c.created_at)
        )
    jobs.drain()
    entry = _log(live_runtime.db, log_id)
    assert entry.status == "expired" and "111222" not in (entry.subject or "") + (entry.body or "")
    assert email_provider.sent_to(email) == []
    with live_runtime.db.transaction() as session:
        assert session.get(PendingSecret, job.payload["secret_id"]) is None


# --- the delivery webhook ----------------------------------------------------------------------------


def _post(client, body, headers):
    return client.post("/api/v1/webhooks/email", data=body, headers=headers)


def test_webhook_without_a_secret_is_off(client, email_provider):
    body, headers = email_provider.webhook("email.delivered", "e1", ["a@example.com"])
    assert _post(client, body, headers).status_code == 503


def test_webhook_signatures_are_verified(live_client, live_runtime, email_provider):
    body, headers = email_provider.webhook("email.delivered", str(uuid.uuid4()), ["a@example.com"])
    forged = {**headers, "svix-signature": "v1," + "A" * 44}
    other_secret = email_provider.sign(body, secret="whsec_" + "QUJD" * 8)
    stale = email_provider.sign(body, timestamp=int(time.time()) - 3600)
    for bad in (forged, other_secret, stale, {"content-type": "application/json"}):
        response = _post(live_client, body, bad)
        assert response.status_code == 400 and response.mimetype == "application/problem+json"
    assert _post(live_client, body + " ", headers).status_code == 400  # the body was changed
    with live_runtime.db.transaction() as session:
        assert session.scalar(select(EmailEvent).where(EmailEvent.event_id == headers["svix-id"])) is None
    assert _post(live_client, body, headers).get_json() == {"status": "stored"}
    assert _post(live_client, body, headers).get_json() == {"status": "duplicate"}


def test_delivered_updates_the_log(live_client, live_runtime, email, email_provider, jobs):
    log_id = _queue(live_runtime.db, email)
    jobs.drain()
    message_id = _log(live_runtime.db, log_id).provider_message_id
    body, headers = email_provider.webhook("email.delivered", message_id, [email])
    assert _post(live_client, body, headers).status_code == 200
    assert _log(live_runtime.db, log_id).status == "delivered"


def test_a_bounce_suppresses_the_address_and_tells_membership(
    live_client, live_runtime, email, email_provider, jobs
):
    log_id = _queue(live_runtime.db, email)
    jobs.drain()
    message_id = _log(live_runtime.db, log_id).provider_message_id
    body, headers = email_provider.webhook(
        "email.bounced",
        message_id,
        [email.upper()],
        data={"bounce": {"type": "Permanent", "message": "no such user"}},
    )
    assert _post(live_client, body, headers).status_code == 200
    assert _post(live_client, body, headers).get_json() == {"status": "duplicate"}
    outbox = live_runtime.tables.outbox
    with live_runtime.db.transaction() as session:
        assert session.get(EmailSuppression, email).reason == "bounced"
        [event] = (
            session.execute(
                select(outbox.c.envelope).where(outbox.c.event_type == "notifications.email.bounced")
            )
            .scalars()
            .all()[-1:]
        )
    assert event["data"]["email"] == email and event["data"]["provider_message_id"] == message_id
    assert _log(live_runtime.db, log_id).status == "bounced"
    # nothing more is sent to the address
    later = _queue(live_runtime.db, email)
    jobs.drain()
    assert _log(live_runtime.db, later).status == "suppressed"
    assert len(email_provider.sent_to(email)) == 1


def test_a_complaint_suppresses_and_a_soft_bounce_does_not(live_client, live_runtime, email, email_provider):
    soft, soft_headers = email_provider.webhook(
        "email.bounced", "m1", ["soft." + email], data={"bounce": {"type": "Transient"}}
    )
    assert _post(live_client, soft, soft_headers).status_code == 200
    complaint, headers = email_provider.webhook("email.complained", "m2", [email])
    assert _post(live_client, complaint, headers).status_code == 200
    outbox = live_runtime.tables.outbox
    with live_runtime.db.transaction() as session:
        assert session.get(EmailSuppression, "soft." + email) is None
        assert session.get(EmailSuppression, email).reason == "complained"
        types = session.scalars(
            select(outbox.c.event_type).where(outbox.c.envelope["data"]["email"].astext == email)
        ).all()
    assert types == ["notifications.email.complained"]


def test_webhook_bodies_that_are_signed_but_wrong_are_refused(live_client, email_provider):
    for body in ("[1, 2]", '{"type": 5}', '{"type": "email.sent"}', '"text"'):
        response = _post(live_client, body, email_provider.sign(body))
        assert response.status_code == 400, body
