"""The two entry points (§10): notify a member, notify all staff; and queueing an e-mail.

Everything here runs inside the caller's transaction (an event handler's, or a request's) and only
writes rows: the in-app notification, and jobs for push and e-mail that the worker runs after that
transaction commits. A delivery that fails later never touches the in-app notification.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case, exists, func, insert, literal, select
from sqlalchemy.orm import Session

from club_shared.clubtime import utcnow
from club_shared.jobs import enqueue

from .domain import rules
from .domain.messages import Email, Message
from .models import (
    JOBS,
    CommunicationLog,
    EmailSuppression,
    Notification,
    PendingSecret,
    PushSubscription,
    StaffRecipient,
)


def notify_member(session: Session, email: str, message: Message) -> Notification | None:
    """The in-app row (and push / e-mail jobs as the message asks), or None when nothing is sent:
    a placeholder address, or the same title to the same person about the same thing < 60 s ago.

    This runs for every event of a busy consumer, so it keeps to few statements: the lock (which
    also asks whether the member has a browser subscribed), then one insert that is skipped when it
    would be a duplicate."""
    email = rules.normalise_email(email)
    if rules.is_placeholder(email):
        return None
    notification = None
    if message.in_app:
        # Serialise concurrent writers of the same (user, title, related id) so the dedupe holds: the
        # insert is a statement of its own, taken after the lock, so it sees what such a writer committed.
        key = rules.dedupe_key(email, message.title, message.related_id)
        subscribed = session.execute(
            select(
                func.pg_advisory_xact_lock(func.hashtextextended(key, 0)),
                exists().where(PushSubscription.user_email == email),
            )
        ).one()[1]
        title = message.title[:200]
        values = {
            "user_email": email,
            "type": message.type,
            "title": title,
            "message": message.message,
            "related_id": message.related_id,
            "related_type": message.related_type,
            "link": message.link,
            "is_read": False,
        }
        columns = Notification.__table__.c
        recent = exists().where(
            Notification.user_email == email,
            Notification.title == title,
            Notification.related_id.is_not_distinct_from(message.related_id),
            Notification.created_at > func.now() - rules.DEDUPE_WINDOW,
        )
        notification = session.execute(
            insert(Notification)
            .from_select(
                list(values), select(*(literal(v, columns[k].type) for k, v in values.items())).where(~recent)
            )
            .returning(Notification)
        ).scalar_one_or_none()
        if notification is None:
            return None
        if message.push and subscribed:
            enqueue(session, JOBS, "push", {"notification_id": notification.id}, priority=rules.PUSH_PRIORITY)
    if message.email is not None:
        queue_email(session, email, message.email)
    return notification


def notify_staff(session: Session, message: Message) -> list[Notification]:
    """Every active staff user (the read model of membership.staff.updated)."""
    staff = session.scalars(select(StaffRecipient.email).where(StaffRecipient.is_active)).all()
    return [n for n in (notify_member(session, email, message) for email in staff) if n is not None]


def notify_admins(session: Session, message: Message) -> list[Notification]:
    """Every active admin (the staff read model's role)."""
    admins = session.scalars(
        select(StaffRecipient.email).where(StaffRecipient.is_active, StaffRecipient.role == "admin")
    ).all()
    return [n for n in (notify_member(session, email, message) for email in admins) if n is not None]


def has_push_subscription(session: Session, email: str) -> bool:
    return bool(session.scalar(select(exists().where(PushSubscription.user_email == email))))


def is_suppressed(session: Session, email: str) -> bool:
    return bool(session.scalar(select(exists().where(EmailSuppression.email == email))))


def queue_email(
    session: Session,
    to: str,
    email: Email,
    *,
    secret: dict[str, Any] | None = None,
    secret_ttl: timedelta = rules.SIGNIN_CODE_TTL,
) -> CommunicationLog | None:
    """Record the e-mail in `communication_logs` (queued) and a job that sends it. A secret (a sign-in
    code) goes into `pending_secrets`, deleted when sent or expired; the job names only its row."""
    to = rules.normalise_email(to)
    if rules.is_placeholder(to):
        return None
    entry = session.execute(
        insert(CommunicationLog)
        .values(
            member_email=to,
            type="email",
            direction="outbound",
            # In the insert itself: one round trip for every e-mail a busy consumer queues.
            status=case((exists().where(EmailSuppression.email == to), "suppressed"), else_="queued"),
            template=email.template,
            created_by="system",
        )
        .returning(CommunicationLog)
    ).scalar_one()
    if entry.status == "suppressed":
        return entry
    payload: dict[str, Any] = {"log_id": entry.id, "template": email.template, "context": email.context}
    if secret is not None:
        held = PendingSecret(value=secret, expires_at=utcnow() + secret_ttl)
        session.add(held)
        session.flush()
        payload["secret_id"] = held.id
    enqueue(session, JOBS, "email", payload)
    return entry


def now_in_db(session: Session) -> datetime:
    return session.scalar(select(func.now()))
