"""Check-in at the door: staff scan a member's QR code or member card
(POST /api/v1/booking-requests/check-in: their booking today, else a walk-in visit) and list a day's
walk-ins (GET /api/v1/usage/visits). Both live under booking's gateway prefixes."""

from __future__ import annotations

from flask_smorest import Blueprint
from sqlalchemy import select

from club_shared.web import runtime

from ..domain.timeranges import day_span
from ..flows import visits as flow
from ..flows.publishing import audit
from ..models import WalkInVisit
from ..schemas import CheckInIn, CheckInOut, VisitOut, VisitQuery
from .booking_requests import out as booking_out
from .common import caller, local, now, staff_only, unit_of_work

blp = Blueprint(
    "visits", __name__, url_prefix="/api/v1", description="Check-in at the door and walk-in visits"
)


def _visit(visit: WalkInVisit) -> dict:
    data = {c.key: getattr(visit, c.key) for c in WalkInVisit.__table__.columns}
    data["visited_at"] = local(visit.visited_at)
    return data


@blp.post("/booking-requests/check-in")
@staff_only
@blp.arguments(CheckInIn)
@blp.response(201, CheckInOut)
@blp.alt_response(200, schema=CheckInOut, description="A booking checked in, or a repeated scan: nothing new")
def check_in(body):
    """Scan `MEMBER:<id>` (or give `member_email`): the member's booking today is checked in (402
    OUTSTANDING_BALANCE while anyone owes money), else a walk-in visit is recorded (201,
    booking.visit.recorded); a scan within two minutes of the last visit is the same visit."""
    who = caller()
    with unit_of_work() as session:
        arrival = flow.arrive(
            session, runtime(), who, now(), code=body["code"], member_email=body["member_email"]
        )
        if arrival.repeated:
            status = 200
        elif arrival.kind == "booking":
            audit(session, runtime(), who.email, "booking_checked_in", "booking", arrival.booking.id, body)
            status = 200
        else:
            audit(session, runtime(), who.email, "walk_in_recorded", "walk_in_visit", arrival.visit.id, body)
            status = 201
        return {
            "kind": arrival.kind,
            "repeated": arrival.repeated,
            "booking": booking_out(session, arrival.booking) if arrival.booking is not None else None,
            "visit": _visit(arrival.visit) if arrival.visit is not None else None,
        }, status


@blp.get("/usage/visits")
@staff_only
@blp.arguments(VisitQuery, location="query")
@blp.response(200, VisitOut(many=True))
def list_visits(query):
    """The walk-in visits of a club day (today when no `date`), earliest first."""
    tz = runtime().tz
    day = query["date"] or now().astimezone(tz).date()
    span = day_span(day, tz)
    with unit_of_work() as session:
        rows = session.scalars(
            select(WalkInVisit)
            .where(WalkInVisit.visited_at >= span.start, WalkInVisit.visited_at < span.end)
            .order_by(WalkInVisit.visited_at, WalkInVisit.id)
            .limit(1000)
        ).all()
        return [_visit(v) for v in rows]
