"""Key rotation: tokens name their key (`kid`), and a verifier accepts every key it is given."""

import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from club_shared.auth import Identity, TokenVerifier, generate_key_pair, jwks, key_id, sign_access_token
from club_shared.problems import Problem

ANN = Identity(subject="m-1", email="ann@example.com", role="member")


def test_old_and_new_keys_are_both_accepted_while_rotating():
    old_private, old_public = generate_key_pair()
    new_private, new_public = generate_key_pair()
    both = TokenVerifier(old_public + new_public, "clubhouse")
    assert set(both.key_ids) == {key_id(old_public), key_id(new_public)}
    for private in (old_private, new_private):
        assert both.verify(sign_access_token(private, "clubhouse", ANN, 60)) == ANN
    after = TokenVerifier(new_public, "clubhouse")
    with pytest.raises(Problem) as refused:
        after.verify(sign_access_token(old_private, "clubhouse", ANN, 60))
    assert refused.value.status == 401


def test_the_kid_header_is_the_keys_thumbprint_and_a_token_without_one_still_verifies():
    private, public = generate_key_pair()
    token = sign_access_token(private, "clubhouse", ANN, 60, extra_claims={"sid": "s-1"})
    assert jwt.get_unverified_header(token)["kid"] == key_id(public)
    verified = TokenVerifier(public, "clubhouse").verify(token)
    assert verified.session_id == "s-1"
    now = int(time.time())
    legacy = jwt.encode(
        {
            "iss": "clubhouse",
            "sub": "m-1",
            "email": "ann@example.com",
            "role": "member",
            "iat": now,
            "exp": now + 60,
        },
        serialization.load_pem_private_key(private.encode(), None),
        "EdDSA",
    )
    other_public = generate_key_pair()[1]
    assert TokenVerifier(other_public + public, "clubhouse").verify(legacy) == ANN


def test_jwks_lists_each_accepted_key():
    publics = [generate_key_pair()[1] for _ in range(2)]
    document = jwks("".join(publics))
    assert [k["kid"] for k in document["keys"]] == [key_id(p) for p in publics]
    assert {k["kty"] for k in document["keys"]} == {"OKP"}
