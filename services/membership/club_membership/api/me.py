"""/api/v1/me: the signed-in member's own record and waiver."""

from __future__ import annotations

from flask_smorest import Blueprint

from club_shared.auth import current_identity
from club_shared.problems import Problem
from club_shared.web import runtime

from ..actions import members as actions
from ..actions import waiver as waiver_actions
from ..context import actor, now, signed_in
from ..schemas import Member, MeUpdate, WaiverSign, WaiverStatus

blp = Blueprint("me", __name__, url_prefix="/api/v1/me", description="The signed-in member")


def _me(session, *, lock: bool = False):
    identity = current_identity()
    try:
        return actions.get(session, identity.subject, lock=lock)
    except Problem:
        raise Problem(404, "Your account no longer exists.", code="NOT_FOUND") from None


@blp.get("")
@signed_in
@blp.response(200, Member)
def get_me():
    with runtime().db.transaction() as session:
        return _me(session)


@blp.patch("")
@signed_in
@blp.arguments(MeUpdate)
@blp.response(200, Member)
def update_me(body):
    """Change your name, phone and notification choices; `app_installed: true` ticks the checklist."""
    with runtime().db.transaction() as session:
        user = _me(session, lock=True)
        if body.pop("app_installed", False) and user.app_installed_at is None:
            body["app_installed_at"] = now()
        actions.update_profile(session, runtime(), actor(), user, body)
        return user


@blp.get("/waiver")
@signed_in
@blp.response(200, WaiverStatus)
def my_waiver():
    """Whether you have signed the current liability waiver."""
    with runtime().db.transaction() as session:
        return waiver_actions.status_of(session, _me(session))


@blp.post("/waiver")
@signed_in
@blp.arguments(WaiverSign)
@blp.response(200, WaiverStatus)
def sign_waiver(body):
    """Sign the current waiver (send its version: signing an older one is a 409)."""
    with runtime().db.transaction() as session:
        user = _me(session, lock=True)
        waiver_actions.sign(session, runtime(), actor(), user, body["version"], now=now())
        return waiver_actions.status_of(session, user)
