"""Billing's card-expiry warning (domain.md §10) reaches the member in-app, by push and by e-mail,
once, even when billing.notification.requested is delivered twice."""

from __future__ import annotations

import uuid

from notifications_support import jobs_for
from sqlalchemy import select

from club_notifications.models import CommunicationLog, Notification, PushSubscription
from club_shared.bus import Verdict


def test_card_expiring_reaches_every_channel_once(deliver, db):
    email = f"card.{uuid.uuid4().hex[:8]}@example.com"
    with db.transaction() as session:
        session.add(
            PushSubscription(
                endpoint=f"https://push.example.com/{uuid.uuid4().hex}", user_email=email, keys={}
            )
        )
    warning = {
        "audience": "member",
        "email": email,
        "type": "card_expiring",
        "title": "Your card expires this month",
        "message": "Your Visa ending 5556 expires at the end of March. Please update your card.",
        "link": "/billing",
        "channels": ["in_app", "push", "email"],
    }
    _event, outcomes = deliver("billing.notification.requested", warning, times=2)
    assert [o.verdict for o in outcomes] == [Verdict.ACK, Verdict.ACK]
    with db.transaction() as session:
        [told] = session.scalars(select(Notification).where(Notification.user_email == email)).all()
        [mail] = session.scalars(select(CommunicationLog).where(CommunicationLog.member_email == email)).all()
    assert (told.type, told.title, told.link) == ("card_expiring", "Your card expires this month", "/billing")
    assert jobs_for(db, "push", notification_id=told.id)
    assert (mail.template, mail.status) == ("notice", "queued")
    [job] = jobs_for(db, "email", log_id=mail.id)
    assert job.payload["context"]["message"] == warning["message"]
