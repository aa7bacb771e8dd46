"""Events the notifications service turns into messages."""

from __future__ import annotations

from club_shared.events import Event
from sqlalchemy.orm import Session

from .domain import messages
from .models import Notification


def on_member_created(session: Session, event: Event) -> None:
    welcome = messages.welcome(event.data["first_name"])
    session.add(
        Notification(
            user_email=event.data["email"], type=welcome.type, title=welcome.title, message=welcome.message
        )
    )


HANDLERS = {
    "membership.member.created": on_member_created,
}
