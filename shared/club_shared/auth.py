"""Identity: every service verifies access tokens itself, with the public key (DESIGN.md § Identity).

Access tokens are EdDSA (Ed25519) JWTs signed by the membership service. Nothing here trusts a
header set by another hop.

Key rotation: each token names its signing key in the `kid` header (the key's RFC 7638 thumbprint)
and a verifier accepts every public key listed in JWT_PUBLIC_KEY (PEM blocks, concatenated). To
rotate: (1) add the new public key beside the old one in JWT_PUBLIC_KEY for every service and roll
them out; (2) switch membership's JWT_PRIVATE_KEY to the new private key; (3) once
ACCESS_TOKEN_TTL_S has passed, remove the old public key. Membership publishes the accepted keys as
a JWKS at GET /api/v1/auth/keys.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import re
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from flask import current_app, g, request

from .problems import Problem

ALGORITHM = "EdDSA"
ROLES = ("member", "staff", "admin", "golf_instructor")
STAFF_ROLES = ("staff", "admin", "golf_instructor")

_PEM_BLOCK = re.compile(r"-----BEGIN PUBLIC KEY-----.+?-----END PUBLIC KEY-----", re.DOTALL)


@dataclass(frozen=True)
class Identity:
    subject: str  # the member's or staff user's id
    email: str
    role: str
    #: the refresh session the token was issued from (`sid` claim), when there is one
    session_id: str | None = None

    @property
    def is_staff(self) -> bool:
        return self.role in STAFF_ROLES


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _raw_public_bytes(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def _thumbprint(public_key: Ed25519PublicKey) -> str:
    canonical = json.dumps(
        {"crv": "Ed25519", "kty": "OKP", "x": _b64url(_raw_public_bytes(public_key))},
        separators=(",", ":"),
        sort_keys=True,
    )
    return _b64url(hashlib.sha256(canonical.encode()).digest())


def key_id(public_key_pem: str) -> str:
    """The key's `kid`: its RFC 7638 JWK thumbprint (the same for the same key everywhere)."""
    [kid] = load_public_keys(public_key_pem)
    return kid


def load_public_keys(pem_text: str) -> dict[str, Ed25519PublicKey]:
    """Every Ed25519 public key in `pem_text` (one PEM block or several, concatenated), by `kid`."""
    keys: dict[str, Ed25519PublicKey] = {}
    for block in _PEM_BLOCK.findall(pem_text) or [pem_text]:
        key = serialization.load_pem_public_key(block.encode())
        if not isinstance(key, Ed25519PublicKey):
            raise ValueError("access-token keys must be Ed25519")
        keys[_thumbprint(key)] = key
    return keys


def jwks(pem_text: str) -> dict[str, Any]:
    """The accepted public keys as a JSON Web Key Set (RFC 7517, OKP keys of RFC 8037)."""
    return {
        "keys": [
            {
                "kty": "OKP",
                "crv": "Ed25519",
                "x": _b64url(_raw_public_bytes(key)),
                "kid": kid,
                "alg": ALGORITHM,
                "use": "sig",
            }
            for kid, key in load_public_keys(pem_text).items()
        ]
    }


class TokenVerifier:
    """Verifies access tokens against one or more public keys (several while keys rotate).

    A token names its key in the `kid` header; a token without one (signed before rotation support)
    is tried against every accepted key.
    """

    def __init__(self, public_key_pem: str, issuer: str):
        self._keys = load_public_keys(public_key_pem)
        self._issuer = issuer

    @property
    def key_ids(self) -> tuple[str, ...]:
        return tuple(self._keys)

    def verify(self, token: str) -> Identity:
        try:
            kid = jwt.get_unverified_header(token).get("kid")
            if kid is not None:
                if kid not in self._keys:
                    raise jwt.InvalidTokenError("signed with a key that is not accepted")
                candidates = [self._keys[kid]]
            else:
                candidates = list(self._keys.values())
            claims: dict[str, Any] = {}
            for index, key in enumerate(candidates):
                try:
                    claims = self._decode(token, key)
                    break
                except jwt.InvalidSignatureError:
                    if index == len(candidates) - 1:
                        raise
            role = claims.get("role")
            if role not in ROLES:
                raise jwt.InvalidTokenError("unknown role")
            sid = claims.get("sid")
            return Identity(
                subject=str(claims["sub"]),
                email=str(claims.get("email", "")),
                role=role,
                session_id=str(sid) if sid is not None else None,
            )
        except jwt.PyJWTError as exc:
            raise Problem(401, f"Invalid access token: {exc}", code="INVALID_TOKEN") from None

    def _decode(self, token: str, key: Ed25519PublicKey) -> dict[str, Any]:
        return jwt.decode(
            token,
            key,
            algorithms=[ALGORITHM],
            issuer=self._issuer,
            options={"require": ["exp", "iat", "sub", "iss"]},
        )


def sign_access_token(
    private_key_pem: str,
    issuer: str,
    identity: Identity,
    ttl_s: int,
    *,
    extra_claims: dict[str, Any] | None = None,
) -> str:
    """An access token for `identity`, naming the signing key in its `kid` header."""
    now = int(time.time())
    key = serialization.load_pem_private_key(private_key_pem.encode(), password=None)
    claims = {
        **(extra_claims or {}),
        "iss": issuer,
        "sub": identity.subject,
        "email": identity.email,
        "role": identity.role,
        "iat": now,
        "exp": now + ttl_s,
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode(claims, key, algorithm=ALGORITHM, headers={"kid": _thumbprint(key.public_key())})


def generate_key_pair() -> tuple[str, str]:
    """A new Ed25519 key pair as (private PEM, public PEM)."""
    private = Ed25519PrivateKey.generate()
    private_pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public_pem = (
        private.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private_pem, public_pem


def development_key_pair(data_dir: Path) -> tuple[str, str]:
    """The key pair of a development data folder, made on first use."""
    keys = data_dir / "keys"
    private_path, public_path = keys / "jwt-private.pem", keys / "jwt-public.pem"
    if not private_path.exists():
        keys.mkdir(parents=True, exist_ok=True)
        private_pem, public_pem = generate_key_pair()
        private_path.write_text(private_pem)
        private_path.chmod(0o600)
        public_path.write_text(public_pem)
    return private_path.read_text(), public_path.read_text()


def current_identity() -> Identity:
    """The caller, verified from the bearer token (401 when there is none or it is bad)."""
    if "identity" not in g:
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Problem(401, "A bearer access token is required.", code="UNAUTHENTICATED")
        verifier: TokenVerifier | None = current_app.extensions["club"].verifier
        if verifier is None:
            raise Problem(503, "Token verification is not configured.", code="AUTH_UNAVAILABLE")
        g.identity = verifier.verify(token.strip())
    return g.identity


def require_role(*roles: str):
    """Allow the view only to callers holding one of `roles`. "staff" means every staff role
    (domain.md: staff is an active staff user of any role), so admins and golf instructors too."""
    allowed = set(roles) | (set(STAFF_ROLES) if "staff" in roles else set())

    def decorate(view):
        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            identity = current_identity()
            if identity.role not in allowed:
                raise Problem(403, "Your role may not do this.", code="FORBIDDEN")
            return view(*args, **kwargs)

        return wrapper

    return decorate
