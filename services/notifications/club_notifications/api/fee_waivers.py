"""/api/v1/notifications/fee-waivers: the admins' review of the fee lines staff waived (domain.md §10, §12)."""

from __future__ import annotations

from flask_smorest import Blueprint
from marshmallow import RAISE
from sqlalchemy import func, select

from club_shared.audit import audit_data
from club_shared.auth import current_identity, require_role
from club_shared.problems import Problem
from club_shared.web import runtime

from ..models import FeeWaiver
from ..schemas import FeeWaiverOut, FeeWaiverQuery

blp = Blueprint(
    "fee_waivers",
    __name__,
    url_prefix="/api/v1/notifications/fee-waivers",
    description="Fee waivers awaiting an admin's review (admins)",
)

admin_only = require_role("admin")


@blp.get("")
@admin_only
@blp.arguments(FeeWaiverQuery, location="query", unknown=RAISE)
@blp.response(200, FeeWaiverOut(many=True))
@blp.doc(security=[{"bearerAuth": []}])
def list_fee_waivers(query):
    """The review queue, oldest waiver first (or, with `reviewed=true`, the reviewed ones)."""
    with runtime().db.transaction() as session:
        statement = select(FeeWaiver)
        if query["reviewed"]:
            statement = statement.where(FeeWaiver.reviewed_at.is_not(None)).order_by(
                FeeWaiver.reviewed_at.desc(), FeeWaiver.id.desc()
            )
        else:
            statement = statement.where(FeeWaiver.reviewed_at.is_(None)).order_by(
                FeeWaiver.waived_at, FeeWaiver.id
            )
        return session.scalars(statement.limit(query["limit"]).offset(query["offset"])).all()


@blp.post("/<int:waiver_id>/review")
@admin_only
@blp.response(200, FeeWaiverOut)
@blp.doc(security=[{"bearerAuth": []}])
def review_fee_waiver(waiver_id: int):
    """An admin has looked at the waiver: it leaves the queue. Reviewing it again changes nothing."""
    with runtime().db.transaction() as session:
        waiver = session.get(FeeWaiver, waiver_id, with_for_update=True)
        if waiver is None:
            raise Problem(404, "No such fee waiver.", code="NOT_FOUND")
        if waiver.reviewed_at is None:
            waiver.reviewed_at = func.now()
            waiver.reviewed_by = current_identity().email
            session.flush()
            session.refresh(waiver)
            runtime().publish(
                session,
                "notifications.audit.recorded",
                audit_data(
                    "fee_waiver_reviewed",
                    "fee_waiver",
                    f"{waiver.booking_id}:{waiver.line_key}",
                    resource_name=waiver.member_email,
                    details={"amount_cents": waiver.amount_cents, "waived_by": waiver.waived_by},
                ),
            )
        return waiver
