"""RFC 9457 problem details: the one shape of every error the suite returns."""

from __future__ import annotations

import json
from typing import Any

from flask import Response

PROBLEM_JSON = "application/problem+json"

#: The code (end of the problem `type`) used when a handler raises a bare HTTP status.
DEFAULT_CODES = {
    400: "BAD_REQUEST",
    401: "UNAUTHENTICATED",
    402: "PAYMENT_REQUIRED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    406: "NOT_ACCEPTABLE",
    409: "STATE_CONFLICT",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
    422: "VALIDATION_FAILED",
    429: "RATE_LIMITED",
    500: "INTERNAL_ERROR",
    503: "SERVICE_UNAVAILABLE",
}


class Problem(Exception):
    """Raise from anywhere in a request to answer with a problem document."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        code: str | None = None,
        title: str | None = None,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ):
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.code = code or DEFAULT_CODES.get(status, "ERROR")
        self.title = title
        #: response headers, e.g. {"Retry-After": "540"} on a 429 or 503
        self.headers = dict(headers or {})
        self.extra = extra


def problem_type(code: str) -> str:
    return f"urn:clubhouse:problem:{code}"


def problem_response(
    status: int, detail: str, *, code: str | None = None, title: str | None = None, **extra: Any
) -> Response:
    from werkzeug.http import HTTP_STATUS_CODES

    code = code or DEFAULT_CODES.get(status, "ERROR")
    body = {
        "type": problem_type(code),
        "title": title or HTTP_STATUS_CODES.get(status, "Error"),
        "status": status,
        "detail": detail,
        "code": code,
        **extra,
    }
    return Response(json.dumps(body), status=status, mimetype=PROBLEM_JSON)
