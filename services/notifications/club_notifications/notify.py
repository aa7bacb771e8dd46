"""The two entry points (§10): notify a member, notify all staff; and queueing an e-mail.

Everything here runs inside the caller's transaction (an event handler's, or a request's) and only
writes rows: the in-app notification, and jobs for push and e-mail that the worker runs after that
transaction commits. A delivery that fails later never touches the in-app notification.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Text, bindparam, case, exists, func, insert, select
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

# Built once: a busy consumer runs these for every event, and building a statement each time cost
# more CPU than running it.
_NOTIFICATION_COLUMNS = (
    "user_email",
    "type",
    "title",
    "message",
    "related_id",
    "related_type",
    "link",
    "is_read",
)
#: Serialises concurrent writers of the same (user, title, related id) so the dedupe holds; also
#: asks whether the member has a browser to push to.
_LOCK_AND_SUBSCRIBED = select(
    func.pg_advisory_xact_lock(func.hashtextextended(bindparam("key", type_=Text), 0)),
    exists().where(PushSubscription.user_email == bindparam("user_email")),
)
#: The in-app row, unless the same title went to the same person about the same thing < 60 s ago.
#: A statement of its own, after the lock: it sees what a concurrent writer committed.
_INSERT_UNLESS_RECENT = select(Notification).from_statement(
    insert(Notification.__table__)
    .from_select(
        _NOTIFICATION_COLUMNS,
        select(
            *(bindparam(name, type_=Notification.__table__.c[name].type) for name in _NOTIFICATION_COLUMNS)
        ).where(
            ~exists().where(
                Notification.user_email == bindparam("user_email"),
                Notification.title == bindparam("title"),
                Notification.related_id.is_not_distinct_from(bindparam("related_id")),
                Notification.created_at > func.now() - rules.DEDUPE_WINDOW,
            )
        ),
    )
    .returning(*Notification.__table__.c)
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
        key = rules.dedupe_key(email, message.title, message.related_id)
        subscribed = session.execute(_LOCK_AND_SUBSCRIBED, {"key": key, "user_email": email}).one()[1]
        notification = session.execute(
            _INSERT_UNLESS_RECENT,
            {
                "user_email": email,
                "type": message.type,
                "title": message.title[:200],
                "message": message.message,
                "related_id": message.related_id,
                "related_type": message.related_type,
                "link": message.link,
                "is_read": False,
            },
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


#: Queued, or suppressed: decided in the insert itself (one round trip for every e-mail queued).
_INSERT_EMAIL_LOG = select(CommunicationLog).from_statement(
    insert(CommunicationLog.__table__)
    .values(
        member_email=bindparam("member_email"),
        type="email",
        direction="outbound",
        status=case(
            (exists().where(EmailSuppression.email == bindparam("member_email")), "suppressed"),
            else_="queued",
        ),
        template=bindparam("template"),
        created_by="system",
    )
    .returning(*CommunicationLog.__table__.c)
)


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
    entry = session.execute(_INSERT_EMAIL_LOG, {"member_email": to, "template": email.template}).scalar_one()
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
