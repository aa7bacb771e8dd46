"""Tokens replayed after sign-out (issue 10 item 5), through the gateway. Sign-out deletes the refresh
session (DESIGN.md: stored, revocable): its refresh token is refused from then on, on every path that
takes one. The access token is a short-lived signed JWT that every service verifies by itself, so it is
not revocable: it is held to its ≤ 15-minute life instead (the residual risk, stated)."""

from __future__ import annotations

import jwt

from .conftest import assert_problem


def _sign_in(suite, client, email, ip):
    assert (
        client.post("/api/v1/auth/codes", json={"email": email}, environ_base={"REMOTE_ADDR": ip}).status_code
        == 202
    )
    outbox = suite.runtimes["membership"].tables.outbox
    with suite.runtimes["membership"].db.transaction() as session:
        rows = session.execute(
            outbox.select()
            .where(outbox.c.event_type == "membership.signin.code_issued")
            .order_by(outbox.c.id.desc())
            .limit(100)
        ).all()
    code = next(r.envelope["data"]["code"] for r in rows if r.envelope["data"].get("email") == email)
    signed = client.post(
        "/api/v1/auth/sessions", json={"email": email, "code": code}, environ_base={"REMOTE_ADDR": ip}
    )
    assert signed.status_code == 201, signed.get_data(as_text=True)
    return signed.get_json()


def test_a_refresh_token_is_dead_after_sign_out(suite, client, make_member):
    member, _ = make_member(status="active")
    tokens = _sign_in(suite, client, member["email"], "192.0.2.41")
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    assert client.delete("/api/v1/auth/sessions/current", headers=bearer).status_code == 204
    for _ in range(2):  # replayed, and replayed again
        assert_problem(
            client.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}), 401
        )


def test_a_refresh_token_is_single_use_or_at_least_stays_tied_to_its_session(suite, client, make_member):
    member, _ = make_member(status="active")
    tokens = _sign_in(suite, client, member["email"], "192.0.2.42")
    refreshed = client.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert refreshed.status_code == 200, refreshed.get_data(as_text=True)
    new = refreshed.get_json()
    bearer = {"Authorization": f"Bearer {new['access_token']}"}
    assert client.delete("/api/v1/auth/sessions/current", headers=bearer).status_code == 204
    # whichever refresh token the client kept, the session is gone
    for old in {tokens["refresh_token"], new.get("refresh_token") or tokens["refresh_token"]}:
        assert_problem(client.post("/api/v1/auth/refresh", json={"refresh_token": old}), 401)


def test_access_tokens_are_short_lived_and_name_their_session(suite, client, make_member):
    member, _ = make_member(status="active")
    tokens = _sign_in(suite, client, member["email"], "192.0.2.43")
    claims = jwt.decode(tokens["access_token"], options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] <= 900
    assert claims.get("sid"), "an access token names the session it came from"
