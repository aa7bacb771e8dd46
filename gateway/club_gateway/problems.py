"""RFC 9457 problem documents that the gateway itself answers with.

nginx and the development dispatcher say the same words for the same failure, so a front end sees
one error shape whichever run mode it talks to.
"""

from __future__ import annotations

import json
import re

from werkzeug.http import HTTP_STATUS_CODES

from club_shared.problems import DEFAULT_CODES, PROBLEM_JSON, problem_type

__all__ = [
    "ANSWERED_AS",
    "CODES",
    "DETAILS",
    "PROBLEM_JSON",
    "REQUEST_ID_PATTERN",
    "REQUEST_ID_RE",
    "RETRY_AFTER",
    "problem",
    "problem_json",
]

# A client's X-Request-ID is passed on only if it looks like an id: it lands in logs and in the
# problem bodies nginx writes without escaping, so quotes, spaces and control bytes must not.
REQUEST_ID_PATTERN = r"^[A-Za-z0-9._:-]{1,128}$"
REQUEST_ID_RE = re.compile(REQUEST_ID_PATTERN)

# status -> detail; the title is the standard reason phrase, as in the services' own problems.
DETAILS: dict[int, str] = {
    400: "The gateway could not read the request.",
    404: "No service serves this path.",
    405: "This path does not accept that method.",
    408: "The request was not received in time.",
    413: "The request body is larger than the gateway accepts.",
    414: "The request URI is longer than the gateway accepts.",
    429: "Too many requests; slow down and retry after the given delay.",
    500: "The gateway failed to handle the request.",
    502: "The service behind this path gave an invalid response.",
    503: "The service behind this path is not reachable; retry shortly.",
    504: "The service behind this path did not answer in time.",
}
# nginx's own refusals that a client is told as another problem: a transfer coding other than
# chunked leaves the body's length unknown, a 400 by RFC 9112 § 6.1 (nginx says 501, as HTML).
ANSWERED_AS: dict[int, int] = {501: 400}
# The services' codes (club_shared.problems), plus the ones only a gateway says.
CODES: dict[int, str] = {
    **DEFAULT_CODES,
    408: "REQUEST_TIMEOUT",
    414: "URI_TOO_LONG",
    502: "BAD_GATEWAY",
    504: "GATEWAY_TIMEOUT",
}

# Seconds a client should wait before retrying, sent as Retry-After.
RETRY_AFTER: dict[int, int] = {429: 1, 503: 5}


def problem(status: int, request_id: str | None = None, detail: str | None = None) -> dict:
    """The same shape as club_shared.problems.problem_response, plus the request id."""
    code = CODES[status]
    body: dict = {
        "type": problem_type(code),
        "title": HTTP_STATUS_CODES[status],
        "status": status,
        "detail": detail or DETAILS[status],
        "code": code,
    }
    if request_id is not None:
        body["request_id"] = request_id
    return body


def problem_json(status: int, request_id: str | None = None, detail: str | None = None) -> str:
    return json.dumps(problem(status, request_id, detail), separators=(",", ":"))
