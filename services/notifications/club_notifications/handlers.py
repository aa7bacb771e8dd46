"""Events the notifications service turns into messages (who hears what, §10 and §13).

Each handler runs in the consumer's transaction, next to the inbox record that makes a redelivery a
no-op; it only writes rows (the in-app notification, read models, delivery jobs). Push and e-mail
leave later, from the job runner, after this transaction has committed.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from club_shared.events import Event

from . import notify
from .domain import messages


def on_member_created(session: Session, event: Event) -> None:
    data = event.data
    notify.notify_member(session, data["email"], messages.welcome(data["first_name"]))


HANDLERS = {
    "membership.member.created": on_member_created,
}
