"""/api/v1/closure-reasons"""

from __future__ import annotations

from flask_smorest import Blueprint
from sqlalchemy import select

from club_shared.problems import Problem
from club_shared.web import runtime

from ..flows.publishing import audit
from ..models import ClosureReason
from ..schemas import ClosureReasonIn, ClosureReasonOut
from .common import caller, signed_in, staff_only, unit_of_work

blp = Blueprint(
    "closure_reasons", __name__, url_prefix="/api/v1/closure-reasons", description="Reasons for closures"
)


@blp.get("")
@signed_in
@blp.response(200, ClosureReasonOut(many=True))
def list_reasons():
    caller()
    with unit_of_work() as session:
        return session.scalars(
            select(ClosureReason)
            .where(ClosureReason.is_active.is_(True))
            .order_by(ClosureReason.sort_order, ClosureReason.label)
        ).all()


@blp.post("")
@staff_only
@blp.arguments(ClosureReasonIn)
@blp.response(201, ClosureReasonOut)
def create_reason(body):
    label = body["label"].strip()
    with unit_of_work() as session:
        existing = session.scalar(select(ClosureReason).where(ClosureReason.label == label))
        if existing is not None:
            if existing.is_active:
                raise Problem(409, "That reason exists.", code="LABEL_TAKEN")
            existing.is_active, existing.sort_order = True, body["sort_order"]
            reason = existing
        else:
            reason = ClosureReason(label=label, sort_order=body["sort_order"])
            session.add(reason)
        session.flush()
        audit(session, runtime(), caller().email, "closure_reason_added", "closure_reason", reason.id, body)
        return reason


@blp.delete("/<int(max=2147483647):reason_id>")
@staff_only
@blp.response(204)
def delete_reason(reason_id: int):
    with unit_of_work() as session:
        reason = session.get(ClosureReason, reason_id)
        if reason is None:
            raise Problem(404, "No such reason.")
        if reason.is_active:
            reason.is_active = False
            audit(session, runtime(), caller().email, "closure_reason_removed", "closure_reason", reason.id)
