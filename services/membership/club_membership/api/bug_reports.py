"""/api/v1/bug-reports: anyone signed in reports; staff resolve (open → resolved, and back)."""

from __future__ import annotations

from flask_smorest import Blueprint
from sqlalchemy import select, update

from club_shared.auth import current_identity
from club_shared.problems import Problem
from club_shared.web import runtime

from ..actions import audit
from ..context import actor, now, signed_in, staff_only
from ..models import BugReport, User
from ..schemas import BugReportCreate, BugReportOut, BugReportQuery, BugReportUpdate

blp = Blueprint("bug_reports", __name__, url_prefix="/api/v1/bug-reports", description="Bug reports")


def _email(session) -> str:
    identity = current_identity()
    return session.scalar(select(User.email).where(User.id == identity.subject)) or identity.email


@blp.post("")
@signed_in
@blp.arguments(BugReportCreate)
@blp.response(201, BugReportOut)
def report(body):
    with runtime().db.transaction() as session:
        item = BugReport(user_email=_email(session), **body)
        session.add(item)
        session.flush()
        session.refresh(item)
        return item


@blp.get("")
@signed_in
@blp.arguments(BugReportQuery, location="query")
@blp.response(200, BugReportOut(many=True))
def list_reports(query):
    """Staff see every report; a member their own."""
    with runtime().db.transaction() as session:
        stmt = select(BugReport)
        if not current_identity().is_staff:
            stmt = stmt.where(BugReport.user_email == _email(session))
        if query.get("status"):
            stmt = stmt.where(BugReport.status == query["status"])
        stmt = stmt.order_by(BugReport.created_at.desc(), BugReport.id.desc())
        return session.scalars(
            stmt.offset((query["page"] - 1) * query["page_size"]).limit(query["page_size"])
        ).all()


@blp.patch("/<int:report_id>")
@staff_only
@blp.arguments(BugReportUpdate)
@blp.response(200, BugReportOut)
def update_report(body, report_id: int):
    with runtime().db.transaction() as session:
        item = session.get(BugReport, report_id)
        if item is None:
            raise Problem(404, "No such bug report.", code="NOT_FOUND")
        target = body.get("status")
        if target and target != item.status:
            source = "open" if target == "resolved" else "resolved"
            values = (
                {"status": "resolved", "resolved_by": actor().email, "resolved_at": now()}
                if target == "resolved"
                else {"status": "open", "resolved_by": None, "resolved_at": None}
            )
            moved = session.execute(
                update(BugReport)
                .where(BugReport.id == report_id, BugReport.status == source)
                .values(**values)
            ).rowcount
            if not moved:
                raise Problem(409, "The report changed meanwhile.", code="STATE_CONFLICT")
        if "staff_notes" in body:
            session.execute(
                update(BugReport).where(BugReport.id == report_id).values(staff_notes=body["staff_notes"])
            )
        session.refresh(item)
        audit.record(session, actor(), "bug_report.updated", "bug_report", report_id, details=body)
        return item
