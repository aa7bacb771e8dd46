"""/api/v1/billing-groups: family and corporate groups (staff), and a member's own group."""

from __future__ import annotations

from flask_smorest import Blueprint
from sqlalchemy import func, select

from club_shared.auth import current_identity
from club_shared.problems import Problem
from club_shared.web import runtime

from ..actions import groups as actions
from ..actions import members as member_actions
from ..context import actor, now, signed_in, staff_only
from ..models import BillingGroup, GroupMember, User
from ..schemas import GroupCreate, GroupMemberAdd, GroupOut, GroupQuery, GroupUpdate

blp = Blueprint(
    "billing_groups", __name__, url_prefix="/api/v1/billing-groups", description="Family and corporate groups"
)


@blp.get("")
@staff_only
@blp.arguments(GroupQuery, location="query")
@blp.response(200, GroupOut(many=True))
def list_groups(query):
    with runtime().db.transaction() as session:
        stmt = select(BillingGroup)
        if query.get("type"):
            stmt = stmt.where(BillingGroup.type == query["type"])
        if not query["include_inactive"]:
            stmt = stmt.where(BillingGroup.is_active)
        stmt = (
            stmt.order_by(BillingGroup.id)
            .offset((query["page"] - 1) * query["page_size"])
            .limit(query["page_size"])
        )
        return session.scalars(stmt).all()


@blp.post("")
@staff_only
@blp.arguments(GroupCreate)
@blp.response(201, GroupOut)
def create_group(body):
    """Make a group with its primary member (409 if they are in an active group already)."""
    with runtime().db.transaction() as session:
        primary = member_actions.get(session, body.pop("primary_member_id"), lock=True)
        return actions.create(session, runtime(), actor(), primary=primary, **body)


@blp.get("/<int:group_id>")
@signed_in
@blp.response(200, GroupOut)
def get_group(group_id: int):
    """A group: staff see any, a member only the group they are in."""
    identity = current_identity()
    with runtime().db.transaction() as session:
        if not identity.is_staff:
            email = session.scalar(select(User.email).where(User.id == identity.subject))
            mine = session.scalar(
                select(func.count())
                .select_from(GroupMember)
                .where(
                    GroupMember.billing_group_id == group_id,
                    GroupMember.member_email == email,
                    GroupMember.is_active,
                )
            )
            if not mine:
                raise Problem(404, "No such billing group.", code="NOT_FOUND")
        return actions.get(session, group_id)


@blp.patch("/<int:group_id>")
@staff_only
@blp.arguments(GroupUpdate)
@blp.response(200, GroupOut)
def update_group(body, group_id: int):
    with runtime().db.transaction() as session:
        group = actions.get(session, group_id, lock=True)
        actions.update_group(session, runtime(), actor(), group, body)
        return group


@blp.post("/<int:group_id>/members")
@staff_only
@blp.arguments(GroupMemberAdd)
@blp.response(201, GroupOut)
def add_member(body, group_id: int):
    """Add a person (made a pending member if new: then first and last name are needed). 409 if
    they are in an active group, pay for their own membership, or the corporate seats are full.
    Billing adds the add-on or seat from membership.group.member_added."""
    with runtime().db.transaction() as session:
        group = actions.get(session, group_id, lock=True)
        user = member_actions.resolve_email(session, body["email"])
        if user is None:
            if not body.get("first_name") or not body.get("last_name"):
                raise Problem(
                    422,
                    "A new member needs a first and last name.",
                    code="VALIDATION_FAILED",
                    errors={"json": {"first_name": ["Required for a new member."]}},
                )
            user = member_actions.create(
                session,
                runtime(),
                actor(),
                email=body["email"],
                first_name=body["first_name"],
                last_name=body["last_name"],
                status="pending",
            )
        actions.add_member(
            session, runtime(), actor(), group, user, relationship=body["relationship"], tier=body["tier"]
        )
        return group


@blp.delete("/<int:group_id>/members/<email>")
@staff_only
@blp.response(204)
def remove_member(group_id: int, email: str):
    with runtime().db.transaction() as session:
        group = actions.get(session, group_id, lock=True)
        actions.remove_member(session, runtime(), actor(), group, email.strip().lower(), now=now())
