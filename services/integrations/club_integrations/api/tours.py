"""/api/v1/tours: free 30-minute slots and booking (public); the tour list and moves (staff)."""

from __future__ import annotations

from flask import request
from flask_smorest import Blueprint
from marshmallow import RAISE
from sqlalchemy import select

from club_shared.auth import current_identity
from club_shared.problems import Problem
from club_shared.web import runtime

from ..context import audit, now, staff_only
from ..domain import tours as rules
from ..flows import common
from ..flows import tours as flows
from ..models import Tour
from ..schemas import Tour as TourOut
from ..schemas import TourAvailabilityQuery, TourBook, TourCancel, TourPublic, TourQuery, TourSlot, TourUpdate

blp = Blueprint("tours", __name__, url_prefix="/api/v1/tours", description="Club tours")
SECURITY = [{"bearerAuth": []}]


def _refused(exc: rules.TourRefused) -> Problem:
    return Problem(exc.status, str(exc), code=exc.code)


def _out(tour: Tour) -> Tour:
    tour.stale = rules.is_stale(tour.status, tour.ends_at, now())
    return tour


@blp.get("/availability")
@blp.arguments(TourAvailabilityQuery, location="query", unknown=RAISE)
@blp.response(200, TourSlot(many=True))
def availability(query):
    """Free 30-minute tour slots on a club date (tour hours, minus tours and the tours calendar)."""
    rt = runtime()
    with rt.db.transaction() as session:
        return flows.availability(rt, session, query["date"], now())


@blp.post("")
@blp.arguments(TourBook)
@blp.response(201, TourPublic)
@blp.alt_response(409, description="SLOT_TAKEN: someone booked that slot first.")
@blp.alt_response(422, description="OUTSIDE_TOUR_HOURS or TOUR_IN_PAST.")
def book(body):
    """Book a tour (anyone; staff booking for a visitor are recorded as the source)."""
    by = None
    if request.headers.get("Authorization"):
        identity = current_identity()
        by = identity.email if identity.is_staff else None
    rt = runtime()
    with rt.db.transaction() as session:
        try:
            tour = flows.book(rt, session, body, now(), by=by)
        except rules.TourRefused as exc:
            raise _refused(exc) from None
        if by:
            common.audit(rt, session, audit("tour_booked", "tour", tour.id, visitor_email=tour.visitor_email))
        return tour


@blp.get("")
@staff_only
@blp.arguments(TourQuery, location="query", unknown=RAISE)
@blp.response(200, TourOut(many=True))
@blp.doc(security=SECURITY)
def list_tours(query):
    """Tours by time; `stale` marks past tours still scheduled."""
    statement = select(Tour)
    if query.get("date"):
        statement = statement.where(Tour.tour_date == query["date"])
    if query.get("status"):
        statement = statement.where(Tour.status == query["status"])
    if query["stale_only"]:
        statement = statement.where(Tour.status == "scheduled", Tour.ends_at <= now())
    statement = statement.order_by(Tour.scheduled_at.asc().nulls_first(), Tour.id)
    with runtime().db.transaction() as session:
        return [_out(t) for t in session.scalars(statement.limit(query["limit"]).offset(query["offset"]))]


@blp.get("/<int:tour_id>")
@staff_only
@blp.response(200, TourOut)
@blp.doc(security=SECURITY)
def get_tour(tour_id: int):
    with runtime().db.transaction() as session:
        tour = session.get(Tour, tour_id)
        if tour is None:
            raise Problem(404, "No such tour.")
        return _out(tour)


@blp.patch("/<int:tour_id>")
@staff_only
@blp.arguments(TourUpdate)
@blp.response(200, TourOut)
@blp.doc(security=SECURITY)
def update_tour(body, tour_id: int):
    """Schedule a pending tour, move a scheduled one, or correct the visitor's details."""
    rt = runtime()
    with rt.db.transaction() as session:
        tour = session.get(Tour, tour_id, with_for_update=True)
        if tour is None:
            raise Problem(404, "No such tour.")
        try:
            if "date" in body:
                flows.reschedule(rt, session, tour, body["date"], body["start_time"], now())
        except rules.TourRefused as exc:
            raise _refused(exc) from None
        for key in ("visitor_name", "visitor_email", "visitor_phone", "notes"):
            if key in body:
                setattr(tour, key, body[key])
        tour.updated_at = now()
        changes = {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in body.items()}
        common.audit(rt, session, audit("tour_updated", "tour", tour.id, **changes))
        return _out(tour)


def _action(tour_id: int, action: str, reason: str | None = None) -> Tour:
    rt = runtime()
    by = current_identity().email
    with rt.db.transaction() as session:
        tour = session.get(Tour, tour_id, with_for_update=True)
        if tour is None:
            raise Problem(404, "No such tour.")
        try:
            changed = flows.move(session, tour, action, now(), by=by, reason=reason)
        except rules.TourRefused as exc:
            raise _refused(exc) from None
        if changed:
            common.audit(
                rt, session, audit(f"tour_{action}", "tour", tour.id, visitor_email=tour.visitor_email)
            )
        return _out(tour)


@blp.post("/<int:tour_id>/check-in")
@staff_only
@blp.response(200, TourOut)
@blp.doc(security=SECURITY)
def check_in(tour_id: int):
    """The visitor arrived (audited); checking in twice changes nothing."""
    return _action(tour_id, "check_in")


@blp.post("/<int:tour_id>/complete")
@staff_only
@blp.response(200, TourOut)
@blp.doc(security=SECURITY)
def complete(tour_id: int):
    return _action(tour_id, "complete")


@blp.post("/<int:tour_id>/no-show")
@staff_only
@blp.response(200, TourOut)
@blp.doc(security=SECURITY)
def no_show(tour_id: int):
    return _action(tour_id, "no_show")


@blp.post("/<int:tour_id>/cancel")
@staff_only
@blp.arguments(TourCancel)
@blp.response(200, TourOut)
@blp.doc(security=SECURITY)
def cancel(body, tour_id: int):
    return _action(tour_id, "cancel", body.get("reason"))
