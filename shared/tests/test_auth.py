import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from club_shared.auth import Identity, TokenVerifier, generate_key_pair, sign_access_token
from club_shared.problems import Problem

ANN = Identity(subject="m-1", email="ann@example.com", role="member")


def test_a_token_signed_by_membership_verifies(keys):
    private, public = keys
    token = sign_access_token(private, "clubhouse", ANN, ttl_s=60)
    assert TokenVerifier(public, "clubhouse").verify(token) == ANN


@pytest.mark.parametrize(
    "tamper", ["expired", "other_key", "other_issuer", "hs256", "none", "garbage", "bad_role"]
)
def test_forged_or_stale_tokens_are_401(keys, tamper):
    private, public = keys
    now = int(time.time())
    claims = {
        "iss": "clubhouse",
        "sub": "m-1",
        "email": "a@b.c",
        "role": "member",
        "iat": now,
        "exp": now + 60,
    }
    if tamper == "expired":
        token = jwt.encode(
            {**claims, "exp": now - 1}, serialization.load_pem_private_key(private.encode(), None), "EdDSA"
        )
    elif tamper == "other_key":
        token = sign_access_token(generate_key_pair()[0], "clubhouse", ANN, 60)
    elif tamper == "other_issuer":
        token = sign_access_token(private, "elsewhere", ANN, 60)
    elif tamper == "hs256":
        token = jwt.encode(claims, "secret", "HS256")
    elif tamper == "none":
        token = jwt.encode(claims, None, algorithm="none")
    elif tamper == "garbage":
        token = "not.a.token"
    else:
        token = jwt.encode(
            {**claims, "role": "superuser"},
            serialization.load_pem_private_key(private.encode(), None),
            "EdDSA",
        )
    with pytest.raises(Problem) as exc:
        TokenVerifier(public, "clubhouse").verify(token)
    assert exc.value.status == 401


def test_an_rsa_token_is_refused(keys):
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = int(time.time())
    token = jwt.encode(
        {"iss": "clubhouse", "sub": "x", "role": "admin", "iat": now, "exp": now + 60}, rsa_key, "RS256"
    )
    with pytest.raises(Problem):
        TokenVerifier(keys[1], "clubhouse").verify(token)
