"""/api/v1/members"""

from __future__ import annotations

from club_shared.problems import Problem
from club_shared.web import runtime
from flask_smorest import Blueprint
from sqlalchemy import select

from ..models import User
from ..schemas import Member, MemberCreate

blp = Blueprint("members", __name__, url_prefix="/api/v1/members", description="Club members")


@blp.post("")
@blp.arguments(MemberCreate)
@blp.response(201, Member)
def create_member(body):
    """Add a member; publishes membership.member.created in the same transaction."""
    email = body["email"]
    with runtime().db.transaction() as session:
        if session.scalar(select(User.id).where(User.email == email)):
            raise Problem(409, f"A member with e-mail {email} already exists.", code="EMAIL_TAKEN")
        member = User(
            email=email,
            first_name=body["first_name"].strip(),
            last_name=body["last_name"].strip(),
            tier=body["tier"],
            status="pending",
        )
        session.add(member)
        session.flush()
        runtime().publish(
            session,
            "membership.member.created",
            {
                "member_id": member.id,
                "email": member.email,
                "first_name": member.first_name,
                "last_name": member.last_name,
                "tier": member.tier,
                "status": member.status,
            },
        )
    return member


@blp.get("/<member_id>")
@blp.response(200, Member)
def get_member(member_id: str):
    with runtime().db.transaction() as session:
        member = session.get(User, member_id)
        if member is None:
            raise Problem(404, "No such member.")
        return member
