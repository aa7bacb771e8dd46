"""/api/v1/closures: facility closures (staff write, everyone signed in reads)."""

from __future__ import annotations

from flask_smorest import Blueprint
from sqlalchemy import select

from club_shared.problems import Problem
from club_shared.web import runtime

from ..flows import closures as flow
from ..flows.publishing import audit
from ..models import FacilityClosure
from ..schemas import ClosureIn, ClosureOut, ClosureQuery
from .common import caller, now, signed_in, staff_only, unit_of_work

blp = Blueprint("closures", __name__, url_prefix="/api/v1/closures", description="Facility closures")


def _out(session, closure: FacilityClosure, affected=None) -> dict:
    data = {c.key: getattr(closure, c.key) for c in FacilityClosure.__table__.columns}
    data["resource_ids"] = flow.closure_resource_ids(session, closure.id) if closure.is_active else []
    data["affected_booking_ids"] = affected or []
    return data


@blp.get("")
@signed_in
@blp.arguments(ClosureQuery, location="query")
@blp.response(200, ClosureOut(many=True))
def list_closures(query):
    """Active closures, optionally those touching [from, to]."""
    caller()
    with unit_of_work() as session:
        q = select(FacilityClosure).where(FacilityClosure.is_active.is_(True))
        if query["from_date"]:
            q = q.where(FacilityClosure.end_date >= query["from_date"])
        if query["to_date"]:
            q = q.where(FacilityClosure.start_date <= query["to_date"])
        rows = session.scalars(q.order_by(FacilityClosure.start_date, FacilityClosure.id).limit(500)).all()
        return [_out(session, c) for c in rows]


@blp.get("/<int(max=2147483647):closure_id>")
@signed_in
@blp.response(200, ClosureOut)
def get_closure(closure_id: int):
    caller()
    with unit_of_work() as session:
        closure = session.get(FacilityClosure, closure_id)
        if closure is None or not closure.is_active:
            raise Problem(404, "No such closure.")
        return _out(session, closure)


@blp.post("")
@staff_only
@blp.arguments(ClosureIn)
@blp.response(201, ClosureOut)
def create_closure(body):
    """Close resources over a date range (whole days or a daily time range, which may wrap past
    midnight). Writes a block per affected resource and day; publishes booking.closure.created."""
    who = caller()
    with unit_of_work() as session:
        made = flow.create_closure(session, runtime(), body, who.email)
        closure = made["closure"]
        audit(session, runtime(), who.email, "closure_created", "closure", closure.id, body)
        return _out(session, closure, made["affected_booking_ids"])


@blp.delete("/<int(max=2147483647):closure_id>")
@staff_only
@blp.response(204)
def delete_closure(closure_id: int):
    """Remove a closure and its blocks (repeating it changes nothing)."""
    who = caller()
    with unit_of_work() as session:
        if flow.delete_closure(session, runtime(), closure_id, who.email, now()):
            audit(session, runtime(), who.email, "closure_deleted", "closure", closure_id)
