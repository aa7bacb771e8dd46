"""/api/v1/auth: sign-in by e-mailed code or link, refresh, sign-out, sessions, the public keys."""

from __future__ import annotations

from flask_smorest import Blueprint
from sqlalchemy import select

from club_shared.auth import current_identity, jwks
from club_shared.problems import Problem
from club_shared.web import runtime

from ..actions import settings as settings_actions
from ..actions import signin
from ..context import client_ip, now, public, signed_in, user_agent
from ..models import RefreshSession, User
from ..schemas import CodeAccepted, CodeRequest, Jwks, RefreshRequest, SessionCreate, SessionOut, TokenPair

blp = Blueprint("auth", __name__, url_prefix="/api/v1/auth", description="Sign-in and sessions")

ACCEPTED = "If that address belongs to a member or staff, a sign-in code is on its way."


def _app_url() -> str:
    configured = getattr(runtime().settings, "app_base_url", None)
    if configured:
        return configured
    with runtime().db.transaction() as session:
        return settings_actions.get(session, "club.app_url")


@blp.post("/codes")
@public
@blp.arguments(CodeRequest)
@blp.response(202, CodeAccepted)
def request_code(body):
    """E-mail a 6-digit code and a one-click link (15 minutes, single use). Always 202 with the
    same body: whether the address may sign in is never revealed (in development mode the body
    also carries `dev_code`). 3 requests per 15 minutes per e-mail and address; 429 beyond."""
    code = signin.request_code(runtime(), body["email"], client_ip(), now(), app_url=_app_url())
    answer = {"message": ACCEPTED}
    if code is not None and runtime().settings.is_development:
        answer["dev_code"] = code
    return answer


@blp.post("/sessions")
@public
@blp.arguments(SessionCreate)
@blp.response(201, TokenPair)
def create_session(body):
    """Exchange `{email, code}` (or the link's `{token}`) for an access token (15 minutes) and a
    refresh token (a stored session, 7 days). 5 wrong codes lock the e-mail and address for 15
    minutes (429 with Retry-After; even a right code is refused meanwhile)."""
    if "token" in body:
        return signin.sign_in_with_token(
            runtime(), body["token"], ip=client_ip(), user_agent=user_agent(), now=now()
        )
    return signin.sign_in_with_code(
        runtime(), body["email"], body["code"], ip=client_ip(), user_agent=user_agent(), now=now()
    )


@blp.post("/refresh")
@public
@blp.arguments(RefreshRequest)
@blp.response(200, TokenPair)
def refresh(body):
    """A new access token, and a new refresh token in place of the one sent (which stops working;
    sending it again ends the session)."""
    return signin.refresh(runtime(), body["refresh_token"], now=now())


@blp.get("/sessions")
@signed_in
@blp.response(200, SessionOut(many=True))
def list_sessions():
    """The caller's signed-in sessions."""
    identity = current_identity()
    with runtime().db.transaction() as session:
        email = session.scalar(select(User.email).where(User.id == identity.subject)) or identity.email
        rows = signin.sessions_of(session, email, now())
        for row in rows:
            row.current = row.sid == identity.session_id
        return rows


@blp.delete("/sessions/current")
@signed_in
@blp.response(204)
def sign_out():
    """End the session this access token came from."""
    identity = current_identity()
    if identity.session_id is None:
        return
    with runtime().db.transaction() as session:
        row = session.get(RefreshSession, identity.session_id, with_for_update=True)
        if row is not None and row.sess.get("member_id") == identity.subject:
            signin.revoke(session, runtime(), row, reason="sign_out")


@blp.delete("/sessions/<sid>")
@signed_in
@blp.response(204)
def revoke_session(sid: str):
    """End one of the caller's sessions (another's is a 404)."""
    identity = current_identity()
    with runtime().db.transaction() as session:
        row = session.get(RefreshSession, sid[:64], with_for_update=True)
        if row is None or row.sess.get("member_id") != identity.subject:
            raise Problem(404, "No such session.", code="NOT_FOUND")
        signin.revoke(session, runtime(), row, reason="revoked")


@blp.get("/keys")
@public
@blp.response(200, Jwks)
def keys():
    """The public keys access tokens are verified with (JWKS; more than one while keys rotate)."""
    key = runtime().public_key
    if not key:
        raise Problem(503, "No verification key is configured.", code="AUTH_UNAVAILABLE")
    return jwks(key)
