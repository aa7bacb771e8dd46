"""Sign-in (domain.md §2.6, §15 examples 22 and 23): codes and links, sessions and tokens, the limits
shared by every replica through the database, the lockout, and failing closed."""

from __future__ import annotations

import logging
import threading

import jwt
import pytest
from sqlalchemy import select, text, update

from club_membership.actions import signin
from club_membership.models import StaffUser, User
from club_shared.auth import TokenVerifier, key_id


def _code_event(outbox, email):
    events = outbox("membership.signin.code_issued", email=email)
    assert events, f"no code was issued to {email}"
    return events[-1]


def _ask(client, email, ip):
    return client.post("/api/v1/auth/codes", json={"email": email}, headers={"X-Real-IP": ip})


def _answer(client, email, code, ip):
    return client.post(
        "/api/v1/auth/sessions", json={"email": email, "code": code}, headers={"X-Real-IP": ip}
    )


def test_the_whole_sign_in_flow(client, make_member, outbox, ip, keys, problem):
    ann = make_member(status="active", tier="premium")
    where = ip()
    asked = _ask(client, f"  {ann.email.upper()} ", where)
    assert asked.status_code == 202
    assert "dev_code" not in asked.get_json()
    event = _code_event(outbox, ann.email)
    assert event["first_name"] == "Ann" and len(event["code"]) == 6
    assert f"code={event['code']}" in event["link_url"] and "sign-in?" in event["link_url"]

    signed = _answer(client, ann.email, event["code"], where)
    assert signed.status_code == 201, signed.get_data(as_text=True)
    body = signed.get_json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 900
    assert body["user"] == {
        "id": ann.id,
        "email": ann.email,
        "role": "member",
        "tier": "premium",
        "status": "active",
        "first_name": "Ann",
        "last_name": "Lee",
    }
    # Every service verifies the token itself with the public key; the header names the key.
    identity = TokenVerifier(keys[1], "clubhouse").verify(body["access_token"])
    assert (identity.subject, identity.email, identity.role) == (ann.id, ann.email, "member")
    assert jwt.get_unverified_header(body["access_token"])["kid"] == key_id(keys[1])
    bearer = {"Authorization": f"Bearer {body['access_token']}"}
    assert client.get("/api/v1/me", headers=bearer).get_json()["id"] == ann.id

    # The code is single use.
    problem(_answer(client, ann.email, event["code"], where), 401, "CODE_USED")

    # Refresh: a new pair; the old refresh token then ends the session (it may have been copied).
    refreshed = client.post("/api/v1/auth/refresh", json={"refresh_token": body["refresh_token"]})
    assert refreshed.status_code == 200
    newer = refreshed.get_json()
    assert newer["refresh_token"] != body["refresh_token"]
    problem(
        client.post("/api/v1/auth/refresh", json={"refresh_token": body["refresh_token"]}),
        401,
        "REFRESH_REUSED",
    )
    problem(
        client.post("/api/v1/auth/refresh", json={"refresh_token": newer["refresh_token"]}),
        401,
        "SESSION_REVOKED",
    )
    assert outbox("membership.session.revoked", email=ann.email)[-1]["reason"] == "refresh_reuse"


def test_sessions_are_listed_revoked_and_signed_out(client, make_member, outbox, ip, problem):
    ann, bo = make_member(), make_member()
    pairs = []
    for person in (ann, ann, bo):
        where = ip()
        _ask(client, person.email, where)
        pairs.append(
            _answer(client, person.email, _code_event(outbox, person.email)["code"], where).get_json()
        )
    first, second, bos = pairs
    bearer = {"Authorization": f"Bearer {second['access_token']}"}
    listed = client.get("/api/v1/auth/sessions", headers=bearer).get_json()
    assert len(listed) == 2 and [s["current"] for s in listed] == [True, False]
    first_sid = first["refresh_token"].split(".")[0]
    bo_sid = bos["refresh_token"].split(".")[0]
    problem(client.delete(f"/api/v1/auth/sessions/{bo_sid}", headers=bearer), 404)
    assert client.delete(f"/api/v1/auth/sessions/{first_sid}", headers=bearer).status_code == 204
    problem(client.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]}), 401)
    assert client.delete("/api/v1/auth/sessions/current", headers=bearer).status_code == 204
    problem(client.post("/api/v1/auth/refresh", json={"refresh_token": second["refresh_token"]}), 401)
    assert (
        client.post("/api/v1/auth/refresh", json={"refresh_token": bos["refresh_token"]}).status_code == 200
    )


def test_rotating_the_signing_key_keeps_sessions_when_the_hash_key_is_separate(
    service_runtime, make_app, make_member, outbox, ip, problem
):
    """SIGNIN_HASH_KEY keys the stored hashes: a new signing key verifies nothing stored under the
    old one otherwise, so every refresh session would end with the rotation."""
    from club_shared.auth import generate_key_pair

    ann = make_member()
    new_private, new_public = generate_key_pair()

    def replica(private_key: str, public_key: str, hash_key: str | None):
        runtime = service_runtime(
            "membership", jwt_private_key=private_key, jwt_public_key=public_key, signin_hash_key=hash_key
        )
        return make_app(runtime).test_client()

    before = replica(*signin_keys(service_runtime), "a-separate-secret")
    where = ip()
    _ask(before, ann.email, where)
    pair = _answer(before, ann.email, _code_event(outbox, ann.email)["code"], where).get_json()

    after = replica(new_private, new_public, "a-separate-secret")
    refreshed = after.post("/api/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]})
    assert refreshed.status_code == 200, refreshed.get_data(as_text=True)
    assert jwt.get_unverified_header(refreshed.get_json()["access_token"])["kid"] == key_id(new_public)

    # Without the separate key the hashes follow the signing key, and rotating it ends the session.
    rotated_again, public_again = generate_key_pair()
    derived = replica(rotated_again, public_again, None)
    problem(
        derived.post("/api/v1/auth/refresh", json={"refresh_token": refreshed.get_json()["refresh_token"]}),
        401,
    )


def signin_keys(service_runtime) -> tuple[str, str]:
    settings = service_runtime("membership").settings
    return settings.jwt_private_key, settings.jwt_public_key


@pytest.mark.parametrize("status", [None, "pending", "suspended", "cancelled", "archived"])
def test_only_members_with_access_get_a_code_and_the_answer_never_tells(
    client, make_member, emails, outbox, ip, status
):
    """An unknown e-mail, or a member without access, gets the same 202 and no e-mail."""
    address = (
        emails() if status is None else make_member(status="active" if status == "archived" else status).email
    )
    if status == "archived":
        from club_membership.models import User as UserRow

        with client.application.extensions["club"].db.transaction() as session:
            session.execute(update(UserRow).where(UserRow.email == address).values(status="archived"))
    known = make_member(status="active")
    a, b = _ask(client, address, ip()), _ask(client, known.email, ip())
    assert (a.status_code, a.get_json()) == (b.status_code, b.get_json()) == (202, b.get_json())
    assert outbox("membership.signin.code_issued", email=address) == []


@pytest.mark.parametrize("status", ["trialing", "past_due"])
def test_trialing_and_past_due_members_sign_in(client, make_member, outbox, ip, status):
    person = make_member(status=status)
    where = ip()
    _ask(client, person.email, where)
    assert _answer(client, person.email, _code_event(outbox, person.email)["code"], where).status_code == 201


def test_a_linked_email_signs_the_member_in(client, staff, make_member, emails, outbox, ip):
    ann = make_member()
    other = emails()
    client.post(f"/api/v1/members/{ann.id}/linked-emails", headers=staff.headers, json={"email": other})
    where = ip()
    _ask(client, other, where)
    signed = _answer(client, other, _code_event(outbox, other)["code"], where).get_json()
    assert signed["user"]["id"] == ann.id and signed["user"]["email"] == ann.email


def test_dev_code_only_in_development_mode(service_runtime, make_app, make_member, emails, ip):
    dev = make_app(service_runtime("membership", env="development")).test_client()
    ann = make_member()
    known = _ask(dev, ann.email, ip()).get_json()
    unknown = _ask(dev, emails(), ip()).get_json()
    assert len(known["dev_code"]) == 6 and "dev_code" not in unknown
    assert known["message"] == unknown["message"]
    where = ip()
    code = _ask(dev, ann.email, where).get_json()["dev_code"]
    assert _answer(dev, ann.email, code, where).status_code == 201


def test_the_link_token_signs_in_once(client, make_member, outbox, ip, problem):
    ann = make_member()
    _ask(client, ann.email, ip())
    token = _code_event(outbox, ann.email)["link_token"]
    signed = client.post("/api/v1/auth/sessions", json={"token": token}, headers={"X-Real-IP": ip()})
    assert signed.status_code == 201 and signed.get_json()["user"]["id"] == ann.id
    problem(
        client.post("/api/v1/auth/sessions", json={"token": token}, headers={"X-Real-IP": ip()}),
        401,
        "CODE_USED",
    )
    problem(
        client.post("/api/v1/auth/sessions", json={"token": "x" * 43}, headers={"X-Real-IP": ip()}),
        401,
        "INVALID_TOKEN",
    )


@pytest.mark.parametrize(
    "body",
    [
        {"email": "a@example.com", "code": "12345"},
        {"email": "a@example.com", "code": "abcdef"},
        {"email": "a@example.com"},
        {"code": "123456"},
        {"email": "a@example.com", "code": "123456", "token": "x" * 20},
        {"email": "nope", "code": "123456"},
        {},
    ],
)
def test_bad_sign_in_bodies_are_422(client, body, problem):
    problem(client.post("/api/v1/auth/sessions", json=body), 422)


def test_bad_refresh_tokens_are_401(client, problem):
    for token in ("garbage", "sid.secret", "." * 5):
        problem(client.post("/api/v1/auth/refresh", json={"refresh_token": token}), 401)
    problem(client.post("/api/v1/auth/refresh", json={}), 422)


# ------------------------------------------------------------------------------------------------
# §15 example 22: code requests, across two replicas
# ------------------------------------------------------------------------------------------------


def test_code_requests_are_limited_per_email_and_address_across_replicas(
    service_runtime, make_app, make_member, outbox, clock, ip, problem
):
    replica_a = make_app(service_runtime("membership")).test_client()
    replica_b = make_app(service_runtime("membership")).test_client()
    ann = make_member()
    ip_a, ip_b = ip(), ip()
    codes = []
    for replica, minute in ((replica_a, 0), (replica_b, 3), (replica_a, 5)):
        clock.set(2026, 6, 1, 17, minute)  # 10:00, 10:03, 10:05 club time
        assert _ask(replica, ann.email, ip_a).status_code == 202
        codes.append(_code_event(outbox, ann.email)["code"])
    clock.set(2026, 6, 1, 17, 6)
    refused = problem(_ask(replica_b, ann.email, ip_a), 429, "RATE_LIMITED")
    assert refused["retry_after_seconds"] == 540
    assert _ask(replica_b, ann.email, ip_a).headers["Retry-After"] == "540"
    assert len(outbox("membership.signin.code_issued", email=ann.email)) == 3
    assert _ask(replica_a, ann.email, ip_b).status_code == 202  # another pair; the e-mail's cap is 10
    clock.set(2026, 6, 1, 17, 15)
    assert _ask(replica_a, ann.email, ip_a).status_code == 202  # a new window
    # Only the newest code is valid.
    newest = _code_event(outbox, ann.email)["code"]
    if codes[0] != newest:
        problem(_answer(replica_b, ann.email, codes[0], ip_a), 401, "CODE_USED")
    assert _answer(replica_b, ann.email, newest, ip_a).status_code == 201


def test_an_email_gets_at_most_ten_codes_a_window_and_an_address_twenty(
    make_member, client, clock, ip, emails, problem
):
    clock.set(2026, 6, 2, 12)
    ann = make_member()
    addresses = [ip() for _ in range(11)]
    for n in range(10):
        assert _ask(client, ann.email, addresses[n]).status_code == 202
    problem(_ask(client, ann.email, addresses[10]), 429)
    shared_ip = ip()
    for _ in range(20):
        assert _ask(client, emails(), shared_ip).status_code == 202
    problem(_ask(client, emails(), shared_ip), 429)


# ------------------------------------------------------------------------------------------------
# §15 example 23: the lockout
# ------------------------------------------------------------------------------------------------


def test_five_wrong_codes_lock_out_even_the_right_one(
    service_runtime, make_app, make_member, outbox, clock, ip, problem
):
    replicas = [make_app(service_runtime("membership")).test_client() for _ in range(2)]
    ann = make_member()
    where = ip()
    clock.set(2026, 6, 3, 17, 20)  # 10:20: the code is valid until 10:35
    _ask(replicas[0], ann.email, where)
    code = _code_event(outbox, ann.email)["code"]
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    for minute in range(21, 26):  # 10:21 … 10:25, alternating replicas
        clock.set(2026, 6, 3, 17, minute)
        problem(_answer(replicas[minute % 2], ann.email, wrong, where), 401, "INVALID_CODE")
    clock.set(2026, 6, 3, 17, 30)
    locked = _answer(replicas[0], ann.email, code, where)
    problem(locked, 429, "RATE_LIMITED")
    assert locked.headers["Retry-After"] == "600"  # until 10:40
    clock.set(2026, 6, 3, 17, 40)
    problem(_answer(replicas[1], ann.email, code, where), 401, "CODE_EXPIRED")  # not consumed, but expired
    # A new code works once the lock is over.
    _ask(replicas[1], ann.email, where)
    assert _answer(replicas[0], ann.email, _code_event(outbox, ann.email)["code"], where).status_code == 201


def test_the_lock_holds_for_that_email_and_address_only(make_member, client, outbox, clock, ip, problem):
    ann = make_member()
    where, elsewhere = ip(), ip()
    clock.set(2026, 6, 4, 18)
    _ask(client, ann.email, elsewhere)
    code = _code_event(outbox, ann.email)["code"]
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    for _ in range(5):
        _answer(client, ann.email, wrong, where)
    problem(_answer(client, ann.email, code, where), 429)
    assert _answer(client, ann.email, code, elsewhere).status_code == 201


def test_the_limit_store_unreadable_fails_closed(runtime, client, make_member, ip, monkeypatch, problem):
    """While `rate_limits` cannot be read (here: held under an exclusive lock), sign-in answers 503."""
    monkeypatch.setattr(signin, "LIMIT_LOCK_TIMEOUT_MS", 200)
    ann = make_member()
    holding, release = threading.Event(), threading.Event()

    def hold():
        with runtime.db.engine.connect() as conn, conn.begin():
            conn.execute(text("LOCK TABLE rate_limits IN ACCESS EXCLUSIVE MODE"))
            holding.set()
            release.wait(10)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert holding.wait(5)
        refused = problem(_ask(client, ann.email, ip()), 503, "RATE_LIMIT_UNAVAILABLE")
        assert refused["status"] == 503
        problem(_answer(client, ann.email, "123456", ip()), 503)
    finally:
        release.set()
        holder.join()
    assert _ask(client, ann.email, ip()).status_code == 202


# ------------------------------------------------------------------------------------------------
# Staff, inactive accounts, secrets
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["admin", "staff", "golf_instructor"])
def test_staff_sign_in_ensures_a_vip_active_member_row(client, runtime, emails, outbox, ip, role):
    address = emails("desk")
    with runtime.db.transaction() as session:
        session.add(StaffUser(email=address, name="Dee Desk", role=role))
    where = ip()
    _ask(client, address, where)
    signed = _answer(client, address, _code_event(outbox, address)["code"], where).get_json()
    assert signed["user"]["role"] == role
    with runtime.db.transaction() as session:
        user = session.scalar(select(User).where(User.email == address))
        assert (user.status, user.tier, user.first_name) == ("active", "vip", "Dee")
        assert user.role == ("admin" if role == "admin" else "staff")


def test_inactive_staff_cannot_sign_in(client, runtime, emails, outbox, ip):
    address = emails("gone")
    with runtime.db.transaction() as session:
        session.add(StaffUser(email=address, name="Gone", role="staff", is_active=False))
    assert _ask(client, address, ip()).status_code == 202
    assert outbox("membership.signin.code_issued", email=address) == []


def test_a_member_suspended_after_asking_cannot_use_the_code(client, admin, make_member, outbox, ip, problem):
    ann = make_member()
    where = ip()
    _ask(client, ann.email, where)
    code = _code_event(outbox, ann.email)["code"]
    client.post(f"/api/v1/members/{ann.id}/status", headers=admin.headers, json={"status": "suspended"})
    problem(_answer(client, ann.email, code, where), 403, "ACCOUNT_INACTIVE")


def test_the_code_is_never_logged_and_leaves_the_outbox_once_sent(
    client, runtime, make_member, outbox, ip, caplog
):
    ann, bo = make_member(), make_member()
    with caplog.at_level(logging.DEBUG):
        _ask(client, ann.email, ip())
    event = _code_event(outbox, ann.email)
    for record in caplog.records:
        assert event["code"] not in record.getMessage() and event["link_token"] not in str(record.__dict__)
    table = runtime.tables.outbox
    with runtime.db.transaction() as session:
        session.execute(
            update(table).where(table.c.event_type == signin.SIGNIN_EVENT).values(sent_at=text("now()"))
        )
    _ask(client, bo.email, ip())  # the next request purges what has been sent
    assert outbox("membership.signin.code_issued", email=ann.email) == []
    assert len(outbox("membership.signin.code_issued", email=bo.email)) == 1


def test_the_public_keys_are_published_as_a_jwks(client, keys):
    body = client.get("/api/v1/auth/keys").get_json()
    assert [k["kid"] for k in body["keys"]] == [key_id(keys[1])]
    assert body["keys"][0]["crv"] == "Ed25519"
