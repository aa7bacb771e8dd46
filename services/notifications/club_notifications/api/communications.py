"""/api/v1/communications: what was said to a member outside the app (staff)."""

from __future__ import annotations

from flask import current_app
from flask_smorest import Blueprint
from marshmallow import RAISE
from sqlalchemy import select

from club_shared.auth import current_identity
from club_shared.web import runtime

from ..channels import describe
from ..models import CommunicationLog
from ..schemas import ChannelsOut, CommunicationIn, CommunicationOut, CommunicationQuery
from ._access import staff_only

blp = Blueprint(
    "communications",
    __name__,
    url_prefix="/api/v1/communications",
    description="Communication logs: e-mails sent, calls, meetings, notes and SMS (staff)",
)


@blp.get("")
@staff_only
@blp.arguments(CommunicationQuery, location="query", unknown=RAISE)
@blp.response(200, CommunicationOut(many=True))
@blp.doc(security=[{"bearerAuth": []}])
def list_communications(query):
    """A member's communication log, newest first (sign-in code e-mails never show the code)."""
    with runtime().db.transaction() as session:
        return session.scalars(
            select(CommunicationLog)
            .where(CommunicationLog.member_email == query["member_email"])
            .order_by(CommunicationLog.created_at.desc(), CommunicationLog.id.desc())
            .limit(query["limit"])
            .offset(query["offset"])
        ).all()


@blp.post("")
@staff_only
@blp.arguments(CommunicationIn)
@blp.response(201, CommunicationOut)
@blp.doc(security=[{"bearerAuth": []}])
def log_communication(body):
    """Staff log a call, meeting, note or SMS (or an e-mail sent by hand)."""
    with runtime().db.transaction() as session:
        entry = CommunicationLog(**body, status="logged", created_by=current_identity().email)
        session.add(entry)
        session.flush()
        session.refresh(entry)
        return entry


@blp.get("/channels")
@staff_only
@blp.response(200, ChannelsOut)
@blp.doc(security=[{"bearerAuth": []}])
def channels():
    """Which delivery channels are on, and why one is off."""
    configured = current_app.extensions["notification_channels"]
    return describe(configured.email, configured.push)
