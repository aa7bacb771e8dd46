"""Sign-in rules (domain.md §2.6): codes, link tokens, sessions, and the limits that guard them."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

CODE_TTL = timedelta(minutes=15)
SESSION_TTL = timedelta(days=7)
WINDOW = timedelta(minutes=15)
LOCKOUT = timedelta(minutes=15)


@dataclass(frozen=True)
class Limit:
    limit_type: str
    maximum: int
    #: on reaching `maximum`, lock until the hit + LOCKOUT (instead of until the window ends)
    locks: bool = False

    def key(self, email: str | None, ip: str | None) -> str:
        parts = {"email": email or "", "ip": ip or ""}
        scope = self.limit_type.split(":", 1)[1]
        return f"{self.limit_type}|" + "|".join(parts[p] for p in scope.split("+"))


#: code requests per fixed 15-minute window
CODE_REQUEST_LIMITS = (
    Limit("code:email+ip", 3),
    Limit("code:email", 10),
    Limit("code:ip", 20),
)
#: failed verifications per fixed 15-minute window; the 5th per e-mail + IP locks for 15 minutes
FAILED_VERIFY_LIMITS = (
    Limit("fail:email+ip", 5, locks=True),
    Limit("fail:email", 20),
    Limit("fail:ip", 15),
)
#: unknown link tokens (there is no e-mail to count them by)
FAILED_TOKEN_LIMITS = (Limit("fail:ip", 15),)


def new_code() -> str:
    return f"{secrets.randbelow(1_000_000):06d}"


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def keyed_hash(key: bytes, *parts: str) -> str:
    """HMAC-SHA256 of the parts: what we store instead of a code, a link token or a refresh secret."""
    return hmac.new(key, "\x1f".join(parts).encode(), hashlib.sha256).hexdigest()


def code_hash(key: bytes, email: str, code: str) -> str:
    return keyed_hash(key, "code", email, code)


def link_hash(key: bytes, token: str) -> str:
    return keyed_hash(key, "link", token)


def secret_hash(key: bytes, secret: str) -> str:
    return keyed_hash(key, "refresh", secret)


def derive_key(secret: str) -> bytes:
    """The key of our keyed hashes, from a secret only membership holds."""
    return hashlib.sha256(b"clubhouse-signin\x00" + secret.encode()).digest()


def retry_after_seconds(until: datetime, now: datetime) -> int:
    return max(1, int((until - now).total_seconds() + 0.999))


def split_refresh_token(token: str) -> tuple[str, str] | None:
    sid, dot, secret = token.partition(".")
    if not dot or not sid or not secret or len(sid) > 64 or len(secret) > 200:
        return None
    return sid, secret
