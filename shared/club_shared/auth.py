"""Identity: every service verifies access tokens itself, with the public key (DESIGN.md § Identity).

Access tokens are EdDSA (Ed25519) JWTs signed by the membership service. Nothing here trusts a
header set by another hop.
"""

from __future__ import annotations

import functools
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from flask import current_app, g, request

from .problems import Problem

ALGORITHM = "EdDSA"
ROLES = ("member", "staff", "admin", "golf_instructor")
STAFF_ROLES = ("staff", "admin", "golf_instructor")


@dataclass(frozen=True)
class Identity:
    subject: str  # the member's or staff user's id
    email: str
    role: str

    @property
    def is_staff(self) -> bool:
        return self.role in STAFF_ROLES


class TokenVerifier:
    def __init__(self, public_key_pem: str, issuer: str):
        self._key = serialization.load_pem_public_key(public_key_pem.encode())
        self._issuer = issuer

    def verify(self, token: str) -> Identity:
        try:
            claims = jwt.decode(
                token,
                self._key,
                algorithms=[ALGORITHM],
                issuer=self._issuer,
                options={"require": ["exp", "iat", "sub", "iss"]},
            )
            role = claims.get("role")
            if role not in ROLES:
                raise jwt.InvalidTokenError("unknown role")
            return Identity(subject=str(claims["sub"]), email=str(claims.get("email", "")), role=role)
        except jwt.PyJWTError as exc:
            raise Problem(401, f"Invalid access token: {exc}", code="INVALID_TOKEN") from None


def sign_access_token(private_key_pem: str, issuer: str, identity: Identity, ttl_s: int) -> str:
    now = int(time.time())
    key = serialization.load_pem_private_key(private_key_pem.encode(), password=None)
    claims = {
        "iss": issuer,
        "sub": identity.subject,
        "email": identity.email,
        "role": identity.role,
        "iat": now,
        "exp": now + ttl_s,
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode(claims, key, algorithm=ALGORITHM)


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
    """Allow the view only to callers holding one of `roles` (admin may do what staff may)."""
    allowed = set(roles) | ({"admin"} if "staff" in roles else set())

    def decorate(view):
        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            identity = current_identity()
            if identity.role not in allowed:
                raise Problem(403, "Your role may not do this.", code="FORBIDDEN")
            return view(*args, **kwargs)

        return wrapper

    return decorate
