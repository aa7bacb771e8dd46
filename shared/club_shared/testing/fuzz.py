"""What the schemathesis runs hold the suite to, shared by the in-process run (tests/fuzz) and the
one through nginx (tests/stack): no 5xx but an honest 503, errors as problem+json, and every
response (status, content type, headers, body) as documented.

Left out: whether a schema-valid request is accepted (business rules refuse many, with a documented
4xx), whether a lenient parse is refused (unknown query parameters are ignored, JSON 0/1 read as
booleans), and `Allow` on paths that share a template (/tiers/comparison and /tiers/{ref}).
"""

from __future__ import annotations

import schemathesis
from schemathesis import checks

from ..problems import PROBLEM_JSON

NOT_HELD = [
    checks.positive_data_acceptance,
    checks.negative_data_rejection,
    checks.allow_header_conformance,
    checks.not_a_server_error,  # replaced by the stricter-about-what-matters check below
]


def _content_type(response) -> str:
    value = next((v for k, v in response.headers.items() if k.lower() == "content-type"), "")
    if isinstance(value, list):
        value = value[0] if value else ""
    return value


def no_server_error_but_an_honest_503(ctx, response, case):
    """No 5xx, except the documented 503 problem that says a feature is off or a dependency down
    (card payments without a Stripe key, e-mail webhooks without a signing secret, …)."""
    status = response.status_code
    honest = status == 503 and _content_type(response).startswith(PROBLEM_JSON)
    if status >= 500 and not honest:
        raise AssertionError(f"server error {status}: {response.text[:500]}")


def errors_are_problems(ctx, response, case):
    """Every 4xx and 5xx, whoever answered it (a service or the gateway), is problem+json."""
    if response.status_code >= 400 and not _content_type(response).startswith(PROBLEM_JSON):
        raise AssertionError(
            f"{response.status_code} as {_content_type(response)!r}, not {PROBLEM_JSON}: {response.text[:300]}"
        )


@schemathesis.serializer("text/csv")
def _csv(ctx, value) -> bytes:
    """CSV uploads (documented as a string body): sent as the generated text."""
    return value if isinstance(value, bytes) else str(value).encode()


HELD = [no_server_error_but_an_honest_503, errors_are_problems]


def call(case, **kwargs):
    """Send `case` and hold the response to the checks above."""
    case.call_and_validate(excluded_checks=NOT_HELD, additional_checks=HELD, **kwargs)
