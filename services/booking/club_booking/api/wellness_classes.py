"""/api/v1/wellness-classes: wellness classes (staff create) and enrolments with a waitlist."""

from __future__ import annotations

from flask_smorest import Blueprint
from sqlalchemy import select

from club_shared.problems import Problem
from club_shared.web import runtime

from ..flows import wellness as flow
from ..flows.publishing import audit
from ..models import WellnessClass, WellnessEnrollment
from ..schemas import (
    EnrollIn,
    EnrollmentOut,
    WellnessClassIn,
    WellnessClassOut,
    WellnessClassPatch,
    WellnessQuery,
)
from .common import caller, now, signed_in, staff_only, unit_of_work

blp = Blueprint(
    "wellness_classes", __name__, url_prefix="/api/v1/wellness-classes", description="Wellness classes"
)

ID = "<int(max=2147483647):class_id>"


def _out(session, cls: WellnessClass) -> dict:
    data = {c.key: getattr(cls, c.key) for c in WellnessClass.__table__.columns}
    counted = flow.counts(session, cls.id)
    data["confirmed_count"] = counted.get("confirmed", 0)
    data["waitlist_count"] = counted.get("waitlisted", 0)
    return data


@blp.get("")
@signed_in
@blp.arguments(WellnessQuery, location="query")
@blp.response(200, WellnessClassOut(many=True))
def list_classes(query):
    caller()
    with unit_of_work() as session:
        q = select(WellnessClass)
        if query["from_date"]:
            q = q.where(WellnessClass.class_date >= query["from_date"])
        if query["to_date"]:
            q = q.where(WellnessClass.class_date <= query["to_date"])
        rows = session.scalars(q.order_by(WellnessClass.starts_at, WellnessClass.id).limit(500)).all()
        return [_out(session, c) for c in rows]


@blp.get(f"/{ID}")
@signed_in
@blp.response(200, WellnessClassOut)
def get_class(class_id: int):
    caller()
    with unit_of_work() as session:
        cls = session.get(WellnessClass, class_id)
        if cls is None:
            raise Problem(404, "No such class.", code="UNKNOWN_CLASS")
        return _out(session, cls)


@blp.post("")
@staff_only
@blp.arguments(WellnessClassIn)
@blp.response(201, WellnessClassOut(many=True))
def create_class(body):
    """A class, or with `repeat` {every_days, count} a recurring class's occurrences."""
    who = caller()
    with unit_of_work() as session:
        made = flow.create_classes(session, runtime(), body, who.email)
        audit(session, runtime(), who.email, "wellness_class_created", "wellness_class", made[0].id, body)
        return [_out(session, c) for c in made]


@blp.patch(f"/{ID}")
@staff_only
@blp.arguments(WellnessClassPatch)
@blp.response(200, WellnessClassOut)
def update_class(body, class_id: int):
    """Edit a class (times, capacity, instructor, …); its blocks move with it. A capacity below the
    seats taken is 409 CAPACITY_BELOW_ENROLMENTS; added seats go to the waitlist. Publishes
    booking.wellness_class.updated when anything changed."""
    who = caller()
    with unit_of_work() as session:
        cls = flow.update_class(session, runtime(), class_id, body, who.email, now())
        audit(session, runtime(), who.email, "wellness_class_updated", "wellness_class", class_id, body)
        return _out(session, cls)


@blp.get(f"/{ID}/enrollments")
@staff_only
@blp.response(200, EnrollmentOut(many=True))
def list_enrollments(class_id: int):
    with unit_of_work() as session:
        if session.get(WellnessClass, class_id) is None:
            raise Problem(404, "No such class.", code="UNKNOWN_CLASS")
        return session.scalars(
            select(WellnessEnrollment)
            .where(WellnessEnrollment.class_id == class_id)
            .order_by(WellnessEnrollment.id)
        ).all()


@blp.post(f"/{ID}/enroll")
@signed_in
@blp.arguments(EnrollIn)
@blp.response(201, EnrollmentOut)
@blp.alt_response(200, schema=EnrollmentOut, description="Already enrolled or waitlisted: unchanged")
def enroll(body, class_id: int):
    """A seat (booking.enrollment.confirmed) or, when full, a waitlist place
    (booking.enrollment.waitlisted); 409 CLASS_FULL without a waitlist."""
    who = caller()
    with unit_of_work() as session:
        row, changed = flow.enrol(session, runtime(), class_id, who, body.get("member_email"), now())
        if changed and who.is_staff and body.get("member_email"):
            audit(session, runtime(), who.email, "enrollment_added", "wellness_enrollment", row.id, body)
        return row, 201 if changed else 200


@blp.post(f"/{ID}/enroll/cancel")
@signed_in
@blp.arguments(EnrollIn)
@blp.response(200, EnrollmentOut)
def cancel_enrollment(body, class_id: int):
    """Give up a seat or waitlist place; a seat freed before the late-cancel window goes to the
    oldest waitlisted member (booking.enrollment.promoted)."""
    who = caller()
    with unit_of_work() as session:
        row = flow.cancel(session, runtime(), class_id, who, body.get("member_email"), now())
        if who.is_staff and body.get("member_email"):
            audit(session, runtime(), who.email, "enrollment_cancelled", "wellness_enrollment", row.id, body)
        return row


@blp.post(f"/{ID}/cancel")
@staff_only
@blp.response(200, WellnessClassOut)
def cancel_class(class_id: int):
    """Cancel a class and every enrolment in it (each member told); repeating it changes nothing."""
    who = caller()
    with unit_of_work() as session:
        cls = flow.cancel_class(session, runtime(), class_id, who.email, now())
        audit(session, runtime(), who.email, "wellness_class_cancelled", "wellness_class", class_id)
        return _out(session, cls)
