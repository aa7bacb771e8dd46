"""/api/v1/staff: staff users (admins manage them; staff see the list)."""

from __future__ import annotations

from flask_smorest import Blueprint

from club_shared.web import runtime

from ..actions import staff as actions
from ..context import actor, admin_only, now, staff_only
from ..schemas import StaffCreate, StaffOut, StaffQuery, StaffUpdate

blp = Blueprint("staff", __name__, url_prefix="/api/v1/staff", description="Staff users")


@blp.get("")
@staff_only
@blp.arguments(StaffQuery, location="query")
@blp.response(200, StaffOut(many=True))
def list_staff(query):
    with runtime().db.transaction() as session:
        return actions.listing(session, include_inactive=query["include_inactive"])


@blp.post("")
@admin_only
@blp.arguments(StaffCreate)
@blp.response(201, StaffOut)
def create_staff(body):
    """Add a staff user (staff, admin or golf_instructor); publishes membership.staff.updated."""
    with runtime().db.transaction() as session:
        return actions.create(session, runtime(), actor(), **body)


@blp.patch("/<int:staff_id>")
@admin_only
@blp.arguments(StaffUpdate)
@blp.response(200, StaffOut)
def update_staff(body, staff_id: int):
    """Change a role, a name or deactivate (which ends their sessions). The last admin stays."""
    with runtime().db.transaction() as session:
        staff = actions.get(session, staff_id, lock=True)
        actions.update(session, runtime(), actor(), staff, body, now=now())
        return staff
