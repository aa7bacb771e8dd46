"""A fake web-push service: what FCM, Mozilla autopush or Apple's service do with a push message.

For each POST to a subscription's endpoint it checks, as a real push service does:
- the VAPID `Authorization: vapid t=<JWT>,k=<public key>` header (RFC 8292): an ES256 JWT signed by
  the key in `k`, which must be the application server key the subscription was made with, with
  `aud` = this service's origin, `exp` in the future and no more than 24 h away, and a `sub` that is
  a mailto: or https: contact;
- `TTL` present, `Content-Encoding: aes128gcm`;
and then decrypts the body (RFC 8291) with the subscription's private key and auth secret, as the
browser would. It answers 201 Created, or what the test asked for (404, 410, 429 with Retry-After,
500...), and records every message it accepted.
"""

from __future__ import annotations

import base64
import json
import os
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import http_ece
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from werkzeug.wrappers import Request, Response

from .server import LocalServer


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def vapid_key_pair() -> tuple[str, str]:
    """A VAPID key pair as the club's settings hold it: (private raw base64url, public point base64url)."""
    key = ec.generate_private_key(ec.SECP256R1())
    private = b64url(key.private_numbers().private_value.to_bytes(32, "big"))
    public = b64url(
        key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
    )
    return private, public


@dataclass
class Received:
    token: str
    payload: bytes
    headers: dict[str, str]
    claims: dict[str, Any]
    received_at: float = field(default_factory=time.time)

    @property
    def json(self) -> dict[str, Any]:
        return json.loads(self.payload)


@dataclass
class _Subscription:
    private_key: ec.EllipticCurvePrivateKey
    auth: bytes
    application_server_key: str | None
    answers: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    gone: bool = False


class FakePushService:
    def __init__(self):
        self._subscriptions: dict[str, _Subscription] = {}
        self.received: list[Received] = []
        self.refused: list[tuple[str, int, str]] = []  # (token, status, why)
        self._changed = threading.Condition()
        self._server = LocalServer(self._wsgi)
        self.url = self._server.url

    def start(self) -> FakePushService:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    # --- what a browser does ----------------------------------------------------------------------

    def subscribe(self, application_server_key: str | None) -> dict[str, Any]:
        """A new browser subscription (as PushManager.subscribe returns it, in JSON)."""
        token = uuid.uuid4().hex
        key = ec.generate_private_key(ec.SECP256R1())
        auth = os.urandom(16)
        self._subscriptions[token] = _Subscription(key, auth, application_server_key)
        public = key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        return {
            "endpoint": f"{self.url}/push/{token}",
            "keys": {"p256dh": b64url(public), "auth": b64url(auth)},
        }

    # --- what a test asks for ---------------------------------------------------------------------

    def answer_next(self, endpoint: str, status: int, headers: dict[str, str] | None = None) -> None:
        self._subscriptions[_token(endpoint)].answers.append((status, headers or {}))

    def expire(self, endpoint: str) -> None:
        """The browser unsubscribed: the endpoint answers 410 Gone from now on."""
        self._subscriptions[_token(endpoint)].gone = True

    def messages_for(self, endpoint: str) -> list[Received]:
        token = _token(endpoint)
        with self._changed:
            return [r for r in self.received if r.token == token]

    def wait_for(self, predicate, timeout: float = 10.0):
        """Block until predicate(self) is truthy (woken by each request); return its value."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while not (result := predicate(self)):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError("the fake push service did not see what was expected")
                self._changed.wait(remaining)
            return result

    # --- the push service -------------------------------------------------------------------------

    def _wsgi(self, environ, start_response):
        request = Request(environ)
        response = self._handle(request)
        with self._changed:
            self._changed.notify_all()
        return response(environ, start_response)

    def _refuse(self, token: str, status: int, why: str) -> Response:
        with self._changed:
            self.refused.append((token, status, why))
        return Response(why, status=status)

    def _handle(self, request: Request) -> Response:
        parts = request.path.strip("/").split("/")
        if request.method != "POST" or len(parts) != 2 or parts[0] != "push":
            return Response("not found", status=404)
        token = parts[1]
        subscription = self._subscriptions.get(token)
        if subscription is None or subscription.gone:
            return self._refuse(token, 410 if subscription else 404, "no such subscription")
        if subscription.answers:
            status, headers = subscription.answers.pop(0)
            with self._changed:
                self.refused.append((token, status, "asked for by the test"))
            return Response("", status=status, headers=headers)
        try:
            claims = self._check_vapid(request.headers.get("Authorization", ""), subscription)
        except (ValueError, jwt.PyJWTError) as exc:
            return self._refuse(
                token, 401 if "Authorization" not in request.headers else 403, f"VAPID: {exc}"
            )
        if request.headers.get("TTL") is None or not request.headers["TTL"].isdigit():
            return self._refuse(token, 400, "TTL header missing")
        if request.headers.get("Content-Encoding") != "aes128gcm":
            return self._refuse(token, 415, "Content-Encoding must be aes128gcm")
        body = request.get_data()
        if len(body) > 4096:
            return self._refuse(token, 413, "payload too large")
        try:
            payload = http_ece.decrypt(
                body, private_key=subscription.private_key, auth_secret=subscription.auth, version="aes128gcm"
            )
        except Exception as exc:  # any decryption failure is the sender's fault
            return self._refuse(token, 400, f"cannot decrypt: {exc}")
        with self._changed:
            self.received.append(Received(token, payload, dict(request.headers), claims))
        return Response("", status=201, headers={"Location": f"{self.url}/messages/{uuid.uuid4().hex}"})

    def _check_vapid(self, header: str, subscription: _Subscription) -> dict[str, Any]:
        scheme, _, params = header.partition(" ")
        if scheme.lower() != "vapid":
            raise ValueError(f"scheme {scheme or 'missing'}, not vapid")
        values = dict(part.strip().split("=", 1) for part in params.split(",") if "=" in part)
        if "t" not in values or "k" not in values:
            raise ValueError("t and k are required")
        if subscription.application_server_key and values["k"].rstrip(
            "="
        ) != subscription.application_server_key.rstrip("="):
            raise ValueError("k is not the application server key of this subscription")
        public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), unb64url(values["k"]))
        claims = jwt.decode(
            values["t"],
            public,
            algorithms=["ES256"],
            audience=self.url,
            options={"require": ["aud", "exp", "sub"]},
        )
        if claims["exp"] > time.time() + 24 * 3600:
            raise ValueError("exp is more than 24 hours away")
        if not str(claims["sub"]).startswith(("mailto:", "https:")):
            raise ValueError("sub must be a mailto: or https: contact")
        return claims


def _token(endpoint: str) -> str:
    return endpoint.rstrip("/").rsplit("/", 1)[-1]
