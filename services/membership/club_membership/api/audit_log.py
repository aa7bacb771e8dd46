"""/api/v1/audit-log: every staff action of every service (staff read it)."""

from __future__ import annotations

from flask_smorest import Blueprint
from sqlalchemy import func, select

from club_shared.web import runtime

from ..context import staff_only
from ..models import AdminAuditLog
from ..schemas import AuditPage, AuditQuery

blp = Blueprint("audit_log", __name__, url_prefix="/api/v1/audit-log", description="The club-wide audit log")


@blp.get("")
@staff_only
@blp.arguments(AuditQuery, location="query")
@blp.response(200, AuditPage)
def search(query):
    """Newest first; filter by actor e-mail, action, resource (type and id), service, time range."""
    stmt = select(AdminAuditLog)
    if query.get("actor"):
        stmt = stmt.where(AdminAuditLog.actor_email == query["actor"])
    for name in ("action", "resource_type", "resource_id", "source_service"):
        if query.get(name):
            stmt = stmt.where(getattr(AdminAuditLog, name) == query[name])
    if query.get("since"):
        stmt = stmt.where(AdminAuditLog.created_at >= query["since"])
    if query.get("until"):
        stmt = stmt.where(AdminAuditLog.created_at < query["until"])
    with runtime().db.transaction() as session:
        total = session.scalar(select(func.count()).select_from(stmt.subquery()))
        items = session.scalars(
            stmt.order_by(AdminAuditLog.created_at.desc(), AdminAuditLog.id.desc())
            .offset((query["page"] - 1) * query["page_size"])
            .limit(query["page_size"])
        ).all()
        return {"items": items, "total": total, "page": query["page"], "page_size": query["page_size"]}
