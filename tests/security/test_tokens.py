"""Tokens that must not get in (issue 10 item 5): forged with another key, expired, `alg: none`,
HS256 "signed" with the public key as the HMAC secret, an unknown `kid`, the wrong issuer, and a role
the token claims that the key never signed — each against one protected route of every service,
through the gateway: 401 problem+json."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import pytest

from club_shared.auth import Identity, generate_key_pair, key_id, sign_access_token

from .conftest import assert_problem

# one protected route of each service, and the role that may call it
PROTECTED = {
    "membership": ("/api/v1/me", "member"),
    "booking": ("/api/v1/closures", "member"),
    "billing": ("/api/v1/billing/balance", "member"),
    "integrations": ("/api/v1/trackman/webhook-events", "staff"),
    "notifications": ("/api/v1/notifications", "member"),
}


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _parts(token: str) -> tuple[dict, dict, str]:
    header, payload, signature = token.split(".")
    pad = lambda s: s + "=" * (-len(s) % 4)  # noqa: E731
    return (
        json.loads(base64.urlsafe_b64decode(pad(header))),
        json.loads(base64.urlsafe_b64decode(pad(payload))),
        signature,
    )


def _claims(role: str, **over) -> dict:
    now = int(time.time())
    return {
        "sub": "4242",
        "email": "intruder@example.com",
        "role": role,
        "iss": "clubhouse",
        "iat": now,
        "exp": now + 600,
        **over,
    }


def _hs256(header: dict, claims: dict, secret: bytes) -> str:
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    digest = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(digest)}"


def hostile_tokens(keys, role: str) -> dict[str, str]:
    private, public = keys
    identity = Identity("4242", "intruder@example.com", role)
    other_private, _ = generate_key_pair()
    good = sign_access_token(private, "clubhouse", Identity("4242", "intruder@example.com", "member"), 600)
    header, payload, signature = _parts(good)
    # the member's genuinely signed token with its role raised: the signature no longer covers it
    raised = {**payload, "role": "admin"}
    tampered = f"{good.split('.')[0]}.{_b64(json.dumps(raised).encode())}.{signature}"
    # a kid the suite never published, signed by a key it never had
    unknown_kid = sign_access_token(other_private, "clubhouse", identity, 600)
    h, p, s = _parts(unknown_kid)
    unknown_kid = (
        f"{_b64(json.dumps({**h, 'kid': 'not-a-key-we-know'}).encode())}.{unknown_kid.split('.', 2)[1]}.{s}"
    )
    return {
        "forged_with_another_key": sign_access_token(other_private, "clubhouse", identity, 600),
        # another key, but naming our key's kid: the signature must still be checked against ours
        "forged_naming_our_kid": _with_kid(
            sign_access_token(other_private, "clubhouse", identity, 600), key_id(public)
        ),
        "expired": sign_access_token(private, "clubhouse", identity, -120),
        "alg_none": f"{_b64(json.dumps({'alg': 'none', 'typ': 'JWT'}).encode())}."
        f"{_b64(json.dumps(_claims(role)).encode())}.",
        "alg_none_with_kid": f"{_b64(json.dumps({'alg': 'none', 'typ': 'JWT', 'kid': key_id(public)}).encode())}."
        f"{_b64(json.dumps(_claims(role)).encode())}.",
        "hs256_public_key_as_secret": _hs256(
            {"alg": "HS256", "typ": "JWT", "kid": key_id(public)}, _claims(role), public.encode()
        ),
        "hs256_public_key_no_kid": _hs256({"alg": "HS256", "typ": "JWT"}, _claims(role), public.encode()),
        "unknown_kid": unknown_kid,
        "wrong_issuer": sign_access_token(private, "not-clubhouse", identity, 600),
        "role_raised_after_signing": tampered,
        "garbage": "not.a.token",
        "empty_signature": f"{good.rsplit('.', 1)[0]}.",
    }


def _with_kid(token: str, kid: str) -> str:
    header, _, signature = _parts(token)
    head, payload, sig = token.split(".")
    return f"{_b64(json.dumps({**header, 'kid': kid}).encode())}.{payload}.{sig}"


@pytest.mark.parametrize("service", sorted(PROTECTED))
def test_a_genuine_token_gets_past_the_door(client, keys, service):
    path, role = PROTECTED[service]
    genuine = sign_access_token(keys[0], "clubhouse", Identity("4242", "intruder@example.com", role), 600)
    response = client.get(path, headers={"Authorization": f"Bearer {genuine}"})
    assert response.status_code not in (401, 403), response.get_data(as_text=True)[:300]


@pytest.mark.parametrize("service", sorted(PROTECTED))
def test_hostile_tokens_are_401_problems_on_every_service(client, keys, service):
    path, role = PROTECTED[service]
    for name, hostile in hostile_tokens(keys, role).items():
        response = client.get(path, headers={"Authorization": f"Bearer {hostile}"})
        problem = assert_problem(response, 401)
        assert problem.get("code") in (None, "INVALID_TOKEN", "UNAUTHENTICATED", "UNAUTHORIZED"), (
            name,
            problem,
        )


@pytest.mark.parametrize("service", sorted(PROTECTED))
def test_no_token_and_malformed_headers_are_401(client, service):
    path, _ = PROTECTED[service]
    for headers in (
        {},
        {"Authorization": "Bearer"},
        {"Authorization": "Basic YWRtaW46YWRtaW4="},
        {"Authorization": "Bearer " + "a" * 10_000},
    ):
        assert_problem(client.get(path, headers=headers), 401)
