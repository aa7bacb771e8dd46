"""Sign-in brute force (issue 10 item 5, domain.md §2.6 and §15 example 23), through the gateway and a
second membership instance sharing the database: guessing codes meets the lockout — 429 problem+json
with Retry-After, on either instance, even for the right code — and the answers never tell a known
e-mail from an unknown one."""

from __future__ import annotations

import itertools
import uuid

import pytest
from sqlalchemy import text
from werkzeug.test import Client

from .conftest import assert_problem

_addresses = itertools.count(1)


def fresh_ip() -> str:
    n = next(_addresses)
    return f"198.51.{100 + n // 250}.{n % 250 + 1}"


@pytest.fixture(scope="module")
def replica(security_settings, suite):
    """Another membership app instance: its own runtime and connection pool, the same database."""
    from club_membership.app import create_app, make_runtime

    runtime = make_runtime(security_settings("membership"))
    yield Client(create_app(runtime=runtime))
    runtime.close()


def _ask(client, email, ip):
    return client.post("/api/v1/auth/codes", json={"email": email}, environ_base={"REMOTE_ADDR": ip})


def _answer(client, email, code, ip, via_gateway=True):
    environ = {"REMOTE_ADDR": ip} if via_gateway else {}
    headers = {} if via_gateway else {"X-Real-IP": ip}
    return client.post(
        "/api/v1/auth/sessions", json={"email": email, "code": code}, environ_base=environ, headers=headers
    )


def _issued_code(suite, email: str) -> str:
    membership = suite.runtimes["membership"]
    outbox = membership.tables.outbox
    with membership.db.transaction() as session:
        rows = session.execute(
            outbox.select()
            .where(outbox.c.event_type == "membership.signin.code_issued")
            .order_by(outbox.c.id.desc())
        ).all()
    for row in rows:
        if row.envelope["data"].get("email") == email:
            return row.envelope["data"]["code"]
    raise AssertionError(f"no code issued to {email}")


def test_guessing_codes_meets_the_lockout_across_instances(suite, client, replica, make_member):
    member, _ = make_member(status="active")
    email, ip = member["email"], fresh_ip()
    assert _ask(client, email, ip).status_code == 202
    code = _issued_code(suite, email)
    wrong = [f"{(int(code) + n) % 1_000_000:06d}" for n in range(1, 6)]
    for attempt, guess in enumerate(wrong):
        # alternate: the gateway's membership instance, then the replica (which trusts X-Real-IP as
        # the gateway sets it)
        response = (
            _answer(client, email, guess, ip)
            if attempt % 2 == 0
            else _answer(replica, email, guess, ip, via_gateway=False)
        )
        assert_problem(response, 401)
    for response in (
        _answer(client, email, code, ip),
        _answer(replica, email, code, ip, via_gateway=False),
        _answer(client, email, "000000", ip),
    ):
        problem = assert_problem(response, 429)
        assert problem.get("code") == "RATE_LIMITED"
        assert int(response.headers["Retry-After"]) > 0
    # nothing signed in: no session was created for the member
    with suite.runtimes["membership"].db.transaction() as session:
        sessions = session.execute(
            text("select count(*) from sessions where subject_email = :e"), {"e": email}
        ).scalar()
    assert sessions == 0


def test_code_requests_are_limited_too(client, make_member):
    member, _ = make_member(status="active")
    ip = fresh_ip()
    answers = [_ask(client, member["email"], ip) for _ in range(4)]
    assert [a.status_code for a in answers[:3]] == [202, 202, 202]
    assert_problem(answers[3], 429)
    assert int(answers[3].headers["Retry-After"]) > 0


def test_the_answers_never_tell_a_known_email_from_an_unknown_one(suite, client, make_member):
    member, _ = make_member(status="active")
    unknown = f"nobody.{uuid.uuid4().hex[:8]}@example.com"
    known_ask, unknown_ask = _ask(client, member["email"], fresh_ip()), _ask(client, unknown, fresh_ip())
    assert (known_ask.status_code, known_ask.get_json()) == (unknown_ask.status_code, unknown_ask.get_json())
    assert known_ask.status_code == 202
    # a wrong code: the same problem whether or not the address is a member (and has a code pending)
    known = _answer(client, member["email"], "123456", fresh_ip())
    stranger = _answer(client, unknown, "123456", fresh_ip())
    never_asked = _answer(client, f"nobody.{uuid.uuid4().hex[:8]}@example.com", "123456", fresh_ip())

    def strip(response):
        return {
            k: v for k, v in response.get_json().items() if k not in ("instance", "request_id", "trace_id")
        }

    assert known.status_code == stranger.status_code == never_asked.status_code == 401
    assert strip(known) == strip(stranger) == strip(never_asked)
    # and the lockout comes for unknown addresses just the same, so it cannot be used as an oracle
    ip = fresh_ip()
    statuses = [_answer(client, unknown, f"{n:06d}", ip).status_code for n in range(6)]
    assert statuses == [401] * 5 + [429]
