"""/api/v1/sessions: who occupies a resource when, with the frozen roster (staff)."""

from __future__ import annotations

from flask_smorest import Blueprint
from marshmallow import Schema, fields
from sqlalchemy import select

from club_shared.problems import Problem
from club_shared.web import runtime

from ..domain.timeranges import day_span
from ..models import BookingParticipant, BookingRequest, BookingSession
from ..schemas import ClubDate, ParticipantOut, QueryId, WallTime, _In
from .common import local, staff_only, unit_of_work

blp = Blueprint("sessions", __name__, url_prefix="/api/v1/sessions", description="Sessions and rosters")


class SessionQuery(_In):
    date = ClubDate(required=True)
    resource_id = QueryId(load_default=None)


class SessionOut(Schema):
    id = fields.Integer()
    resource_id = fields.Integer()
    session_date = fields.Date()
    start_time = WallTime()
    end_time = WallTime()
    starts_at = fields.AwareDateTime()
    ends_at = fields.AwareDateTime()
    duration_minutes = fields.Integer()
    source = fields.String()
    trackman_booking_id = fields.String(allow_none=True)
    needs_review = fields.Boolean()
    is_unmatched = fields.Boolean()
    cancelled_at = fields.AwareDateTime(allow_none=True)
    booking_ids = fields.List(fields.Integer())
    participants = fields.List(fields.Nested(ParticipantOut))


def _out(session, ses: BookingSession) -> dict:
    data = {c.key: getattr(ses, c.key) for c in BookingSession.__table__.columns}
    for key in ("starts_at", "ends_at", "cancelled_at"):
        data[key] = local(data[key])
    data["booking_ids"] = list(
        session.scalars(
            select(BookingRequest.id).where(BookingRequest.session_id == ses.id).order_by(BookingRequest.id)
        )
    )
    data["participants"] = [
        {
            "participant_id": p.id,
            "type": p.participant_type,
            "user_id": p.user_id,
            "email": p.email,
            "name": p.display_name,
            "slot": p.slot_number,
            "is_staff": p.is_staff,
            "is_placeholder": p.is_placeholder,
            "used_guest_pass": p.used_guest_pass,
            "payment_status": p.payment_status,
            "cached_fee_cents": p.cached_fee_cents,
        }
        for p in session.scalars(
            select(BookingParticipant)
            .where(BookingParticipant.session_id == ses.id)
            .order_by(BookingParticipant.slot_number, BookingParticipant.id)
        )
    ]
    return data


@blp.get("")
@staff_only
@blp.arguments(SessionQuery, location="query")
@blp.response(200, SessionOut(many=True))
def list_sessions(query):
    """Sessions touching a club day (cancelled ones included, marked)."""
    span = day_span(query["date"], runtime().tz)
    with unit_of_work() as session:
        q = select(BookingSession).where(
            BookingSession.starts_at < span.end, BookingSession.ends_at > span.start
        )
        if query["resource_id"]:
            q = q.where(BookingSession.resource_id == query["resource_id"])
        return [
            _out(session, s) for s in session.scalars(q.order_by(BookingSession.starts_at, BookingSession.id))
        ]


@blp.get("/<int(max=2147483647):session_id>")
@staff_only
@blp.response(200, SessionOut)
def get_session(session_id: int):
    with unit_of_work() as session:
        ses = session.get(BookingSession, session_id)
        if ses is None:
            raise Problem(404, "No such session.")
        return _out(session, ses)
