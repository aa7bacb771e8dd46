"""RFC 9457 problem documents that the gateway itself answers with.

nginx and the development dispatcher say the same words for the same failure, so a front end sees
one error shape whichever run mode it talks to.
"""

from __future__ import annotations

import json
import re

PROBLEM_JSON = "application/problem+json"

# A client's X-Request-ID is passed on only if it looks like an id: it lands in logs and in the
# problem bodies nginx writes without escaping, so quotes, spaces and control bytes must not.
REQUEST_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$"
REQUEST_ID_RE = re.compile(REQUEST_ID_PATTERN)

# status -> (title, detail)
PROBLEMS: dict[int, tuple[str, str]] = {
    400: ("Bad Request", "The gateway could not read the request."),
    404: ("Not Found", "No service serves this path."),
    405: ("Method Not Allowed", "This path does not accept that method."),
    408: ("Request Timeout", "The request was not received in time."),
    413: ("Content Too Large", "The request body is larger than the gateway accepts."),
    414: ("URI Too Long", "The request URI is longer than the gateway accepts."),
    429: ("Too Many Requests", "Too many requests; slow down and retry after the given delay."),
    500: ("Internal Server Error", "The gateway failed to handle the request."),
    502: ("Bad Gateway", "The service behind this path gave an invalid response."),
    503: ("Service Unavailable", "The service behind this path is not reachable; retry shortly."),
    504: ("Gateway Timeout", "The service behind this path did not answer in time."),
}

# Seconds a client should wait before retrying, sent as Retry-After.
RETRY_AFTER: dict[int, int] = {429: 1, 503: 5}


def problem(status: int, request_id: str | None = None, detail: str | None = None) -> dict:
    title, default_detail = PROBLEMS[status]
    body: dict = {"type": "about:blank", "title": title, "status": status, "detail": detail or default_detail}
    if request_id is not None:
        body["request_id"] = request_id
    return body


def problem_json(status: int, request_id: str | None = None, detail: str | None = None) -> str:
    return json.dumps(problem(status, request_id, detail), separators=(",", ":"))
