"""The outside systems: the e-mail provider (the Resend SDK, pointed at `EMAIL_API_BASE`) and web
push (pywebpush with VAPID keys). Each channel says whether it is on, and why not."""

from __future__ import annotations

import base64
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

import requests

from club_shared.config import Settings

log = logging.getLogger(__name__)

HTTP_TIMEOUT_S = 10
#: A VAPID token is signed once per push service and reused (RFC 8292 § 2 allows it) until an hour
#: before it expires: signing every push cost more than encrypting it.
VAPID_TOKEN_LIFETIME_S = 12 * 3600
VAPID_TOKEN_RENEW_S = 3600


class DeliveryError(Exception):
    """A delivery that did not happen. `permanent` ones are not retried; `retry_after` (s) is the
    other side's own wish when it said 429."""

    def __init__(self, message: str, *, permanent: bool = False, retry_after: str | None = None):
        super().__init__(message)
        self.permanent = permanent
        self.retry_after = retry_after


@dataclass(frozen=True)
class Attachment:
    filename: str
    content: bytes
    content_type: str
    content_id: str | None = None  # inline image, referenced as cid:<content_id>


class EmailChannel:
    """E-mail through Resend's API with the official SDK. The SDK's configuration is module-wide,
    so it is set under a lock for each send (one process may hold more than one runtime in tests)."""

    _sdk_lock = threading.Lock()

    def __init__(self, settings: Settings):
        self.base_url = settings.email_api_base.rstrip("/")
        self.api_key = settings.email_api_key
        self.sender = settings.email_from
        missing = [
            name
            for name, value in (("EMAIL_API_KEY", self.api_key), ("EMAIL_FROM", self.sender))
            if not value
        ]
        self.off_reason = f"{' and '.join(missing)} not set" if missing else None

    @property
    def enabled(self) -> bool:
        return self.off_reason is None

    def send(
        self,
        *,
        to: str,
        subject: str,
        html: str,
        text: str,
        idempotency_key: str,
        tags: dict[str, str] | None = None,
        attachments: tuple[Attachment, ...] = (),
    ) -> str:
        """Send one e-mail; the provider's message id."""
        import resend
        from resend.http_client_requests import RequestsClient

        params: dict[str, Any] = {
            "from": self.sender,
            "to": [to],
            "subject": subject,
            "html": html,
            "text": text,
        }
        if tags:
            params["tags"] = [{"name": k, "value": v} for k, v in tags.items()]
        if attachments:
            params["attachments"] = [
                {
                    "filename": a.filename,
                    "content": base64.b64encode(a.content).decode(),
                    "content_type": a.content_type,
                    **({"content_id": a.content_id} if a.content_id else {}),
                }
                for a in attachments
            ]
        with self._sdk_lock:
            resend.api_key = self.api_key
            resend.api_url = self.base_url
            if (
                not isinstance(resend.default_http_client, RequestsClient)
                or getattr(resend.default_http_client, "_timeout", None) != HTTP_TIMEOUT_S
            ):
                resend.default_http_client = RequestsClient(timeout=HTTP_TIMEOUT_S)
            try:
                sent = resend.Emails.send(params, {"idempotency_key": idempotency_key})
            except resend.exceptions.ResendError as exc:
                code = int(exc.code) if str(exc.code).isdigit() else 500
                retry_after = (exc.headers or {}).get("retry-after") or (exc.headers or {}).get("Retry-After")
                # 4xx other than 429 will not get better by trying again (bad address, bad key…).
                permanent = 400 <= code < 500 and code != 429
                raise DeliveryError(
                    f"provider answered {code}: {exc.message}", permanent=permanent, retry_after=retry_after
                ) from None
            except (RuntimeError, requests.RequestException) as exc:
                raise DeliveryError(f"provider unreachable: {exc}") from None
        return str(sent["id"])


@dataclass(frozen=True)
class PushResult:
    status: str  # sent | gone | retry
    retry_after: str | None = None
    detail: str = ""


class PushChannel:
    """Web push (RFC 8030/8291/8292) through pywebpush, signed with the club's VAPID key."""

    def __init__(self, settings: Settings):
        self.public_key = settings.vapid_public_key
        self.subject = settings.vapid_subject
        self._private_key = settings.vapid_private_key
        self.allow_plain_http = settings.env in ("development", "test")
        missing = [
            name
            for name, value in (
                ("VAPID_PRIVATE_KEY", self._private_key),
                ("VAPID_PUBLIC_KEY", self.public_key),
                ("VAPID_SUBJECT", self.subject),
            )
            if not value
        ]
        self.off_reason = f"{' and '.join(missing)} not set" if missing else None
        self._vapid = None
        self._local = threading.local()
        self._tokens: dict[str, tuple[int, dict[str, str]]] = {}  # audience → (expiry, VAPID headers)
        self._tokens_lock = threading.Lock()
        if not missing:
            self._vapid = _load_vapid(self._private_key)

    @property
    def enabled(self) -> bool:
        return self.off_reason is None

    def endpoint_allowed(self, endpoint: str) -> bool:
        """Push services are public HTTPS endpoints; plain HTTP only for local fakes in dev and test."""
        url = urlparse(endpoint)
        if url.scheme == "https" and url.netloc:
            return True
        return self.allow_plain_http and url.scheme == "http" and bool(url.netloc)

    def _vapid_headers(self, endpoint: str) -> dict[str, str]:
        url = urlparse(endpoint)
        audience = f"{url.scheme}://{url.netloc}"
        now = int(time.time())
        with self._tokens_lock:
            expires, headers = self._tokens.get(audience, (0, {}))
            if expires - now < VAPID_TOKEN_RENEW_S:
                expires = now + VAPID_TOKEN_LIFETIME_S
                headers = self._vapid.sign({"sub": self.subject, "aud": audience, "exp": expires})
                self._tokens[audience] = (expires, headers)
        return headers

    def _session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
        return session

    def send(
        self,
        endpoint: str,
        keys: dict[str, str],
        payload: bytes,
        *,
        ttl: int,
        urgency: str,
        topic: str | None,
    ) -> PushResult:
        from pywebpush import WebPusher, WebPushException

        headers = {"Urgency": urgency, **self._vapid_headers(endpoint)}
        if topic:
            headers["Topic"] = _topic(topic)
        try:
            response = WebPusher({"endpoint": endpoint, "keys": keys}, requests_session=self._session()).send(
                payload, headers, ttl=ttl, content_encoding="aes128gcm", timeout=HTTP_TIMEOUT_S
            )
        except requests.RequestException as exc:
            return PushResult("retry", detail=f"unreachable: {type(exc).__name__}")
        except (WebPushException, ValueError, TypeError) as exc:  # keys that are not a P-256 point…
            raise DeliveryError(f"subscription unusable: {exc}", permanent=True) from None
        code = response.status_code
        if code in (404, 410):
            return PushResult("gone", detail=f"{code}")
        if code == 429 or code >= 500:
            return PushResult("retry", retry_after=response.headers.get("Retry-After"), detail=f"{code}")
        if code > 202:
            raise DeliveryError(f"push service answered {code}", permanent=True)
        return PushResult("sent")


def _topic(tag: str) -> str:
    """RFC 8030 Topic: at most 32 characters of the URL-safe base64 alphabet."""
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in tag)
    return safe[:32]


def _load_vapid(private_key: str):
    from py_vapid import Vapid

    if "-----BEGIN" in private_key:
        return Vapid.from_pem(private_key.encode())
    return Vapid.from_string(private_key.strip())


def describe(email: EmailChannel, push: PushChannel) -> dict[str, dict[str, Any]]:
    return {
        "email": {"enabled": email.enabled, "reason": email.off_reason},
        "push": {"enabled": push.enabled, "reason": push.off_reason, "public_key": push.public_key},
    }


def announce(email: EmailChannel, push: PushChannel) -> None:
    """Say at start which channels are off, and why (the service runs without them)."""
    for name, channel in (("e-mail", email), ("web push", push)):
        if channel.enabled:
            log.info(f"{name} is on")
        else:
            log.warning(f"{name} is OFF: {channel.off_reason}; in-app notifications still work")


@dataclass(frozen=True)
class ChannelSet:
    email: EmailChannel
    push: PushChannel

    @classmethod
    def from_settings(cls, settings: Settings) -> ChannelSet:
        return cls(EmailChannel(settings), PushChannel(settings))
