"""/api/v1/members: the member directory (staff), and a member's own record (the member)."""

from __future__ import annotations

from datetime import timedelta

from flask_smorest import Blueprint

from club_shared.auth import current_identity
from club_shared.problems import Problem
from club_shared.web import runtime

from ..actions import members as actions
from ..context import actor, admin_only, now, signed_in, staff_only
from ..schemas import (
    Archive,
    EmailChange,
    LinkedEmailCreate,
    LinkedEmailOut,
    Member,
    MemberCreate,
    MemberPage,
    MemberSearch,
    MemberUpdate,
    Merge,
    StatusChange,
    TierChange,
)

blp = Blueprint("members", __name__, url_prefix="/api/v1/members", description="Club members")


def own_or_staff(session, member_id: str, *, lock: bool = False):
    """The member, if the caller is staff or is that member; another member's record is a 404."""
    identity = current_identity()
    if not identity.is_staff and identity.subject != member_id:
        raise Problem(404, "No such member.", code="NOT_FOUND")
    return actions.get(session, member_id, lock=lock)


@blp.get("")
@staff_only
@blp.arguments(MemberSearch, location="query")
@blp.response(200, MemberPage)
def search_members(query):
    """Search the directory by name, e-mail (through linked e-mails), tier and status."""
    with runtime().db.transaction() as session:
        items, total = actions.search(session, **query)
        return {"items": items, "total": total, "page": query["page"], "page_size": query["page_size"]}


@blp.post("")
@staff_only
@blp.arguments(MemberCreate)
@blp.response(201, Member)
def create_member(body):
    """Add a member (a staff invite: `pending` until their subscription starts); publishes
    membership.member.created."""
    trial_days = body.pop("trial_days", None)
    status = body.pop("status") or ("trialing" if trial_days else "pending")
    with runtime().db.transaction() as session:
        return actions.create(
            session,
            runtime(),
            actor(),
            status=status,
            trial_ends_at=now() + timedelta(days=trial_days) if trial_days else None,
            **body,
        )


@blp.get("/<member_id>")
@signed_in
@blp.response(200, Member)
def get_member(member_id: str):
    """A member's record: staff see anyone's, a member only their own."""
    with runtime().db.transaction() as session:
        return own_or_staff(session, member_id)


@blp.patch("/<member_id>")
@staff_only
@blp.arguments(MemberUpdate)
@blp.response(200, Member)
def update_member(body, member_id: str):
    """Change profile and billing fields; publishes membership.member.updated."""
    with runtime().db.transaction() as session:
        user = actions.get(session, member_id, lock=True)
        actions.update_profile(session, runtime(), actor(), user, body)
        return user


@blp.post("/<member_id>/status")
@admin_only
@blp.arguments(StatusChange)
@blp.response(200, Member)
def change_status(body, member_id: str):
    """Move a member to another status by the transition table (409 STATE_CONFLICT otherwise)."""
    with runtime().db.transaction() as session:
        user = actions.get(session, member_id)
        actions.change_status(
            session, runtime(), actor(), user, body["status"], now=now(), reason=body["reason"]
        )
        return user


@blp.put("/<member_id>/tier")
@admin_only
@blp.arguments(TierChange)
@blp.response(200, Member)
def change_tier(body, member_id: str):
    """Give the member a tier (or none); publishes membership.member.tier_changed."""
    with runtime().db.transaction() as session:
        user = actions.get(session, member_id, lock=True)
        if user.status in ("archived", "merged"):
            raise Problem(409, f"The member is {user.status}.", code="STATE_CONFLICT")
        actions.set_tier(session, runtime(), actor(), user, body["tier"])
        return user


@blp.post("/<member_id>/email")
@staff_only
@blp.arguments(EmailChange)
@blp.response(200, Member)
def change_email(body, member_id: str):
    """Change the member's e-mail everywhere: the old one stays as a linked e-mail."""
    with runtime().db.transaction() as session:
        user = actions.get(session, member_id, lock=True)
        if user.status in ("archived", "merged"):
            raise Problem(409, f"The member is {user.status}.", code="STATE_CONFLICT")
        actions.change_email(session, runtime(), actor(), user, body["email"])
        return user


@blp.get("/<member_id>/linked-emails")
@signed_in
@blp.response(200, LinkedEmailOut(many=True))
def list_linked_emails(member_id: str):
    with runtime().db.transaction() as session:
        return own_or_staff(session, member_id).linked_emails


@blp.post("/<member_id>/linked-emails")
@staff_only
@blp.arguments(LinkedEmailCreate)
@blp.response(201, LinkedEmailOut)
def add_linked_email(body, member_id: str):
    with runtime().db.transaction() as session:
        user = actions.get(session, member_id, lock=True)
        if user.status in ("archived", "merged"):
            raise Problem(409, f"The member is {user.status}.", code="STATE_CONFLICT")
        return actions.add_linked_email(session, runtime(), actor(), user, body["email"], body["source"])


@blp.delete("/<member_id>/linked-emails/<email>")
@staff_only
@blp.response(204)
def remove_linked_email(member_id: str, email: str):
    with runtime().db.transaction() as session:
        user = actions.get(session, member_id, lock=True)
        actions.remove_linked_email(session, runtime(), actor(), user, email)


@blp.post("/<member_id>/archive")
@admin_only
@blp.arguments(Archive)
@blp.response(200, Member)
def archive_member(body, member_id: str):
    """Archive (final): sessions end, groups are left; billing and booking clean up from
    membership.member.archived."""
    with runtime().db.transaction() as session:
        user = actions.get(session, member_id, lock=True)
        actions.archive(session, runtime(), actor(), user, now=now(), reason=body["reason"])
        return user


@blp.post("/<member_id>/merge")
@admin_only
@blp.arguments(Merge)
@blp.response(200, Member)
def merge_member(body, member_id: str):
    """Merge this member into another: the survivor keeps every address as a linked e-mail."""
    with runtime().db.transaction() as session:
        ids = sorted({member_id, body["into_member_id"]})
        locked = {mid: actions.get(session, mid, lock=True) for mid in ids}  # in id order: no deadlock
        user, into = locked[member_id], locked[body["into_member_id"]]
        actions.merge(session, runtime(), actor(), user, into, now=now())
        return into
