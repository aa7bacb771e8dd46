"""/api/v1/events: club events (staff write, members read what is visible to them) and RSVPs."""

from __future__ import annotations

from flask_smorest import Blueprint
from sqlalchemy import select

from club_shared.problems import Problem
from club_shared.web import runtime

from ..flows import events as flow
from ..flows.publishing import audit
from ..models import ClubEvent, EventRsvp
from ..schemas import EventIn, EventOut, EventPatch, EventQuery, RsvpCancelIn, RsvpIn, RsvpOut
from .common import caller, now, signed_in, staff_only, unit_of_work

blp = Blueprint("events", __name__, url_prefix="/api/v1/events", description="Club events and RSVPs")

ID = "<int(max=2147483647):event_id>"


def _out(session, event: ClubEvent, email: str | None) -> dict:
    data = {c.key: getattr(event, c.key) for c in ClubEvent.__table__.columns}
    data["seats_taken"] = flow.seats_taken(session, event.id)
    data["my_rsvp_status"] = (
        session.scalar(
            select(EventRsvp.status).where(EventRsvp.event_id == event.id, EventRsvp.user_email == email)
        )
        if email
        else None
    )
    return data


@blp.get("")
@signed_in
@blp.arguments(EventQuery, location="query")
@blp.response(200, EventOut(many=True))
def list_events(query):
    """Events touching [from, to] the caller may see (archived ones for staff who ask)."""
    who = caller()
    with unit_of_work() as session:
        q = select(ClubEvent).where(ClubEvent.visibility.in_(flow.visible_to(who)))
        if not (who.is_staff and query["include_archived"]):
            q = q.where(ClubEvent.is_active.is_(True))
        if query["from_date"]:
            q = q.where(ClubEvent.event_date >= query["from_date"])
        if query["to_date"]:
            q = q.where(ClubEvent.event_date <= query["to_date"])
        rows = session.scalars(q.order_by(ClubEvent.starts_at, ClubEvent.id).limit(500)).all()
        return [_out(session, e, who.email.strip().lower()) for e in rows]


@blp.get(f"/{ID}")
@signed_in
@blp.response(200, EventOut)
def get_event(event_id: int):
    who = caller()
    with unit_of_work() as session:
        event = session.get(ClubEvent, event_id)
        if event is None or event.visibility not in flow.visible_to(who):
            raise Problem(404, "No such event.", code="UNKNOWN_EVENT")
        return _out(session, event, who.email.strip().lower())


@blp.post("")
@staff_only
@blp.arguments(EventIn)
@blp.response(201, EventOut)
def create_event(body):
    """Create an event; with block_bays / block_conference_room it blocks those resources for its
    time. Publishes booking.event.created."""
    who = caller()
    with unit_of_work() as session:
        event = flow.create_event(session, runtime(), body, who.email)
        audit(session, runtime(), who.email, "event_created", "event", event.id, body)
        return _out(session, event, None)


@blp.patch(f"/{ID}")
@staff_only
@blp.arguments(EventPatch)
@blp.response(200, EventOut)
def update_event(body, event_id: int):
    """Edit an event; its blocks move with it. Publishes booking.event.updated when anything changed."""
    who = caller()
    with unit_of_work() as session:
        event = flow.update_event(session, runtime(), event_id, body, who.email)
        audit(session, runtime(), who.email, "event_updated", "event", event_id, body)
        return _out(session, event, None)


@blp.post(f"/{ID}/archive")
@staff_only
@blp.response(200, EventOut)
def archive_event(event_id: int):
    """Archive (cancel) an event; its blocks go. Publishes booking.event.cancelled once."""
    who = caller()
    with unit_of_work() as session:
        event = flow.archive_event(session, runtime(), event_id, who.email, now())
        audit(session, runtime(), who.email, "event_archived", "event", event_id)
        return _out(session, event, None)


@blp.get(f"/{ID}/rsvps")
@staff_only
@blp.response(200, RsvpOut(many=True))
def list_rsvps(event_id: int):
    with unit_of_work() as session:
        if session.get(ClubEvent, event_id) is None:
            raise Problem(404, "No such event.", code="UNKNOWN_EVENT")
        return session.scalars(
            select(EventRsvp).where(EventRsvp.event_id == event_id).order_by(EventRsvp.id)
        ).all()


@blp.post(f"/{ID}/rsvp")
@signed_in
@blp.arguments(RsvpIn)
@blp.response(201, RsvpOut)
@blp.alt_response(200, schema=RsvpOut, description="Already confirmed with that guest count: unchanged")
def rsvp(body, event_id: int):
    """Take a place (plus `guest_count` guests' places); 409 AT_CAPACITY when the event is full.
    Staff may RSVP for a member (`member_email`). Publishes booking.rsvp.confirmed."""
    who = caller()
    with unit_of_work() as session:
        row, changed = flow.rsvp(session, runtime(), event_id, who, body, now())
        if changed and who.is_staff and body.get("member_email"):
            audit(session, runtime(), who.email, "rsvp_confirmed", "event_rsvp", row.id, body)
        return row, 201 if changed else 200


@blp.post(f"/{ID}/rsvp/cancel")
@signed_in
@blp.arguments(RsvpCancelIn)
@blp.response(200, RsvpOut)
def cancel_rsvp(body, event_id: int):
    """Give up one's place (repeating it changes nothing). Publishes booking.rsvp.cancelled."""
    who = caller()
    with unit_of_work() as session:
        row = flow.cancel_rsvp(session, runtime(), event_id, who, body.get("member_email"), now())
        if who.is_staff and body.get("member_email"):
            audit(session, runtime(), who.email, "rsvp_cancelled", "event_rsvp", row.id, body)
        return row
