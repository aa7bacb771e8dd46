"""/api/v1/account: a member's data export and account deletion."""

from __future__ import annotations

import json

from flask import Response
from flask_smorest import Blueprint
from sqlalchemy import select

from club_shared.auth import current_identity
from club_shared.problems import Problem
from club_shared.web import runtime

from ..actions import account as actions
from ..actions import members as member_actions
from ..context import actor, admin_only, now, signed_in, staff_only
from ..models import AccountDeletionRequest, DataExportRequest
from ..schemas import DeletionCreate, DeletionOut, DeletionQuery, ExportOut

blp = Blueprint(
    "account", __name__, url_prefix="/api/v1/account", description="Data export and account deletion"
)


def _me(session, *, lock: bool = False):
    try:
        return member_actions.get(session, current_identity().subject, lock=lock)
    except Problem:
        raise Problem(404, "Your account no longer exists.", code="NOT_FOUND") from None


def _export_view(session, request: DataExportRequest) -> dict:
    actions.check_deadline(session, request, now=now())
    missing = actions.missing_parts(session, request)
    return {
        **{
            c: getattr(request, c)
            for c in (
                "id",
                "status",
                "requested_at",
                "completed_at",
                "expires_at",
                "download_url",
                "failure_reason",
            )
        },
        "parts_received": [s for s in actions.EXPECTED_PARTS if s not in missing],
        "parts_missing": missing,
    }


def _my_export(session, export_id: int) -> DataExportRequest:
    request = session.get(DataExportRequest, export_id, with_for_update=True)
    if request is None or request.user_id != current_identity().subject:
        raise Problem(404, "No such export.", code="NOT_FOUND")
    return request


@blp.post("/exports")
@signed_in
@blp.response(202, ExportOut)
def request_export():
    """Gather all your data from every service (profile, bookings, participations, RSVPs,
    enrolments, payments, notifications…); poll the export until it is completed."""
    with runtime().db.transaction() as session:
        user = _me(session, lock=True)
        request = actions.request_export(session, runtime(), actor(), user, now=now())
        return _export_view(session, request)


@blp.get("/exports")
@signed_in
@blp.response(200, ExportOut(many=True))
def list_exports():
    with runtime().db.transaction() as session:
        rows = session.scalars(
            select(DataExportRequest)
            .where(DataExportRequest.user_id == current_identity().subject)
            .order_by(DataExportRequest.id.desc())
            .with_for_update()
        ).all()
        return [_export_view(session, r) for r in rows]


@blp.get("/exports/<int:export_id>")
@signed_in
@blp.response(200, ExportOut)
def get_export(export_id: int):
    with runtime().db.transaction() as session:
        return _export_view(session, _my_export(session, export_id))


@blp.get("/exports/<int:export_id>/download")
@signed_in
@blp.response(200)
def download_export(export_id: int):
    """The whole export as one JSON document: `export` (what and when) and one object per service."""
    with runtime().db.transaction() as session:
        request = _my_export(session, export_id)
        actions.check_deadline(session, request, now=now())
        if request.status != "completed":
            raise Problem(409, f"The export is {request.status}.", code="EXPORT_NOT_READY")
        if request.expires_at is not None and request.expires_at <= now():
            raise Problem(410, "The download link has expired; ask for a new export.", code="EXPORT_EXPIRED")
        body = json.dumps(actions.document(session, request), indent=2)
    return Response(
        body,
        mimetype="application/json",
        headers={"Content-Disposition": f'attachment; filename="clubhouse-data-{export_id}.json"'},
    )


@blp.post("/deletion")
@signed_in
@blp.arguments(DeletionCreate)
@blp.response(201, DeletionOut)
def request_deletion(body):
    """Ask for your account to be deleted (one pending request; staff complete it within 7
    business days)."""
    with runtime().db.transaction() as session:
        request = actions.request_deletion(
            session, runtime(), actor(), _me(session, lock=True), reason=body["reason"]
        )
        return _deletion_view(request)


@blp.get("/deletion")
@signed_in
@blp.response(200, DeletionOut)
def my_deletion():
    with runtime().db.transaction() as session:
        request = session.scalar(
            select(AccountDeletionRequest)
            .where(AccountDeletionRequest.user_id == current_identity().subject)
            .order_by(AccountDeletionRequest.id.desc())
            .limit(1)
        )
        if request is None:
            raise Problem(404, "You have not asked for your account to be deleted.", code="NOT_FOUND")
        return _deletion_view(request)


@blp.delete("/deletion")
@signed_in
@blp.response(200, DeletionOut)
def cancel_deletion():
    with runtime().db.transaction() as session:
        return _deletion_view(actions.cancel_deletion(session, actor(), _me(session, lock=True)))


def _deletion_view(request: AccountDeletionRequest) -> dict:
    view = {c.key: getattr(request, c.key) for c in AccountDeletionRequest.__table__.columns}
    view["due_by"] = (
        actions.add_business_days(request.requested_at.date(), actions.DELETION_BUSINESS_DAYS)
        if request.status == "pending"
        else None
    )
    return view


@blp.get("/deletion-requests")
@staff_only
@blp.arguments(DeletionQuery, location="query")
@blp.response(200, DeletionOut(many=True))
def list_deletion_requests(query):
    with runtime().db.transaction() as session:
        stmt = select(AccountDeletionRequest)
        if query.get("status"):
            stmt = stmt.where(AccountDeletionRequest.status == query["status"])
        stmt = stmt.order_by(AccountDeletionRequest.requested_at, AccountDeletionRequest.id)
        rows = session.scalars(
            stmt.offset((query["page"] - 1) * query["page_size"]).limit(query["page_size"])
        ).all()
        return [_deletion_view(r) for r in rows]


@blp.post("/deletion-requests/<int:request_id>/complete")
@admin_only
@blp.response(200, DeletionOut)
def complete_deletion(request_id: int):
    """Erase the member (membership.member.deleted: every service erases or anonymises theirs)."""
    with runtime().db.transaction() as session:
        return _deletion_view(actions.complete_deletion(session, runtime(), actor(), request_id, now=now()))
