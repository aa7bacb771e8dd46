"""`Idempotency-Key` on creating POSTs (IETF draft "The Idempotency-Key HTTP Header Field", as
Stripe does it): a create cut off mid-flight (a 502 from the proxy when a web process dies) can be
retried with the same key and is done at most once.

The first outcome — the created resource or a 4xx problem — is stored in the transaction that
produced it, keyed by the caller and the key, and replayed to a repeat with the same request. A
transaction-scoped advisory lock on (caller, key) serialises the repeats across processes: a repeat
while the first is still running is told so (409) rather than waiting on it. Requests refused before
the handler runs (authentication, an invalid body) store nothing and may be retried as they are.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable

from flask import Response, current_app, request
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from club_shared.problems import PROBLEM_JSON, Problem, problem_response

from ..models import IdempotencyKey
from .common import slot_taken, unit_of_work

REPLAYED = "Idempotent-Replayed"


def fingerprint() -> str:
    """The request as a digest: method, path and the body as canonical JSON (key order and spacing
    are not a different request)."""
    body = json.dumps(request.get_json(silent=True), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(f"{request.method} {request.path}\n{body}".encode()).hexdigest()


def once(subject: str, key: str, status: int, create: Callable[[Session], dict]) -> Response:
    """Answer with `create(session)` dumped (the JSON body of a `status` response), at most once
    per (subject, key): a repeat replays the first answer."""
    digest = fingerprint()
    with unit_of_work() as session:
        held = session.scalar(
            text("SELECT pg_try_advisory_xact_lock(7210104, hashtext(:key))"), {"key": f"{subject} {key}"}
        )
        if not held:
            raise Problem(
                409,
                "A request with this Idempotency-Key is still in progress; retry it shortly.",
                code="IDEMPOTENCY_KEY_IN_USE",
                headers={"Retry-After": "1"},
            )
        stored = session.get(IdempotencyKey, (subject, key))
        if stored is not None:
            if stored.fingerprint != digest:
                raise Problem(
                    422,
                    "This Idempotency-Key was used for a different request; use a new key.",
                    code="IDEMPOTENCY_KEY_REUSED",
                )
            return replay(stored.status_code, stored.response)
        try:
            with session.begin_nested():
                body = create(session)
                session.flush()
        except IntegrityError as exc:
            problem = slot_taken(exc)
            if problem is None:
                raise
            status, body = outcome(problem)
        except Problem as problem:
            if not 400 <= problem.status < 500:
                raise
            status, body = outcome(problem)
        session.add(
            IdempotencyKey(subject=subject, key=key, fingerprint=digest, status_code=status, response=body)
        )
    return respond(status, body)


def outcome(problem: Problem) -> tuple[int, dict]:
    """A refused create's status and problem document, to be stored and answered."""
    response = problem_response(
        problem.status, problem.detail, code=problem.code, title=problem.title, **problem.extra
    )
    return problem.status, json.loads(response.get_data())


def respond(status: int, body: dict) -> Response:
    response = current_app.json.response(body)
    response.status_code = status
    if status >= 400:
        response.mimetype = PROBLEM_JSON
    return response


def replay(status: int, body: dict) -> Response:
    response = respond(status, body)
    response.headers[REPLAYED] = "true"
    return response
