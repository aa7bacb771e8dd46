"""A fake e-mail provider speaking Resend's API, and signing delivery webhooks as Resend does.

- `POST /emails` with `Authorization: Bearer <key>` and a JSON body (from, to, subject, html and/or
  text, optional attachments and tags) → 200 `{"id": "<uuid>"}`; a missing or wrong key → 401, a
  body without from/to/subject → 422, in Resend's error shape `{statusCode, message, name}`. The
  same `Idempotency-Key` gets the same id and is recorded once. A test can ask for the next answers
  (429 with Retry-After, 500, ...).
- `GET /emails?to=<address>` (same key): what was sent to the address, oldest first, as
  `[{id, subject, text}]` — not Resend's API: how a process other than the test's (a load run's
  locust) reads the sign-in codes members are sent.
- `GET /inbox`, without a key: everything sent, newest first, as `[{id, to, subject, text}]` — for a
  developer's browser on `make stack`, which runs the fake alone when no EMAIL_API_KEY is set:
  `PYTHONPATH=tests python -m fakes.email_provider --port 12112 [--api-key K] [--parent-pid PID]`.
- `webhook(...)`: a delivery event (email.delivered, email.bounced, email.complained...) as Resend
  posts it, with the Svix headers `svix-id`, `svix-timestamp` and `svix-signature` = `v1,` +
  base64(HMAC-SHA256(secret, "<id>.<timestamp>.<body>")), the secret being `whsec_<base64>`.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import hashlib
import hmac
import json
import os
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from werkzeug.wrappers import Request, Response

from .server import LocalServer


@dataclass
class SentEmail:
    id: str
    body: dict[str, Any]
    headers: dict[str, str]

    @property
    def to(self) -> list[str]:
        to = self.body["to"]
        return [to] if isinstance(to, str) else list(to)


class FakeEmailProvider:
    def __init__(self, api_key: str = "re_test_key", port: int = 0):
        self.api_key = api_key
        self.webhook_secret = "whsec_" + base64.b64encode(os.urandom(24)).decode()
        self.sent: list[SentEmail] = []
        self.requests = 0
        self._by_idempotency_key: dict[str, str] = {}
        self._answers: list[tuple[int, dict[str, Any], dict[str, str]]] = []
        self._changed = threading.Condition()
        self._server = LocalServer(self._wsgi, port)
        self.url = self._server.url

    def start(self) -> FakeEmailProvider:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    # --- what a test asks for ---------------------------------------------------------------------

    def answer_next(
        self, status: int, name: str = "application_error", headers: dict[str, str] | None = None
    ) -> None:
        self._answers.append(
            (status, {"statusCode": status, "message": f"forced {status}", "name": name}, headers or {})
        )

    def sent_to(self, address: str) -> list[SentEmail]:
        with self._changed:
            return [m for m in self.sent if address in m.to]

    def wait_for(self, predicate, timeout: float = 10.0):
        deadline = time.monotonic() + timeout
        with self._changed:
            while not (result := predicate(self)):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError("the fake e-mail provider did not see what was expected")
                self._changed.wait(remaining)
            return result

    def webhook(
        self,
        event_type: str,
        email_id: str,
        to: list[str],
        *,
        data: dict[str, Any] | None = None,
        message_id: str | None = None,
        timestamp: int | None = None,
        secret: str | None = None,
    ) -> tuple[str, dict[str, str]]:
        """(body, headers) of a signed delivery event, as Resend would POST it to our webhook."""
        now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
        body = json.dumps(
            {
                "type": event_type,
                "created_at": now,
                "data": {
                    "email_id": email_id,
                    "from": "Clubhouse <club@example.com>",
                    "to": to,
                    "subject": "…",
                    "created_at": now,
                    **(data or {}),
                },
            }
        )
        return body, self.sign(body, message_id=message_id, timestamp=timestamp, secret=secret)

    def sign(
        self,
        body: str,
        *,
        message_id: str | None = None,
        timestamp: int | None = None,
        secret: str | None = None,
    ) -> dict[str, str]:
        message_id = message_id or f"msg_{uuid.uuid4().hex}"
        timestamp = int(time.time()) if timestamp is None else timestamp
        key = base64.b64decode((secret or self.webhook_secret).removeprefix("whsec_"))
        digest = hmac.new(key, f"{message_id}.{timestamp}.{body}".encode(), hashlib.sha256).digest()
        return {
            "svix-id": message_id,
            "svix-timestamp": str(timestamp),
            "svix-signature": "v1," + base64.b64encode(digest).decode(),
            "content-type": "application/json",
        }

    # --- the provider -----------------------------------------------------------------------------

    def _wsgi(self, environ, start_response):
        request = Request(environ)
        response = self._handle(request)
        with self._changed:
            self._changed.notify_all()
        return response(environ, start_response)

    @staticmethod
    def _error(status: int, message: str, name: str, headers: dict[str, str] | None = None) -> Response:
        body = json.dumps({"statusCode": status, "message": message, "name": name})
        return Response(body, status=status, headers=headers or {}, mimetype="application/json")

    def _handle(self, request: Request) -> Response:
        with self._changed:
            self.requests += 1
        if request.path == "/inbox" and request.method == "GET":
            with self._changed:
                inbox = [
                    {"id": m.id, "to": m.to, "subject": m.body["subject"], "text": m.body.get("text")}
                    for m in reversed(self.sent)
                ]
            return Response(json.dumps(inbox, indent=2), mimetype="application/json")
        if request.path != "/emails" or request.method not in ("GET", "POST"):
            return self._error(404, "not found", "not_found")
        if request.headers.get("Authorization") != f"Bearer {self.api_key}":
            return self._error(401, "API key is invalid", "invalid_api_key")
        if request.method == "GET":
            found = [
                {"id": m.id, "subject": m.body["subject"], "text": m.body.get("text")}
                for m in self.sent_to(request.args.get("to", ""))
            ]
            return Response(json.dumps(found), mimetype="application/json")
        if self._answers:
            status, body, headers = self._answers.pop(0)
            return Response(json.dumps(body), status=status, headers=headers, mimetype="application/json")
        try:
            payload = json.loads(request.get_data())
        except ValueError:
            return self._error(422, "The body is not JSON", "validation_error")
        missing = [f for f in ("from", "to", "subject") if not payload.get(f)]
        if missing or not (payload.get("html") or payload.get("text")):
            return self._error(422, f"Missing {missing or 'html or text'}", "validation_error")
        key = request.headers.get("Idempotency-Key")
        with self._changed:
            if key and key in self._by_idempotency_key:
                return Response(
                    json.dumps({"id": self._by_idempotency_key[key]}), mimetype="application/json"
                )
            email_id = str(uuid.uuid4())
            if key:
                self._by_idempotency_key[key] = email_id
            self.sent.append(SentEmail(email_id, payload, dict(request.headers)))
        return Response(json.dumps({"id": email_id}), mimetype="application/json")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=12112)
    parser.add_argument("--api-key", default="re_test_key", help="the bearer key POST /emails expects")
    parser.add_argument("--parent-pid", type=int, default=None, help="stop when this process has gone")
    args = parser.parse_args()
    provider = FakeEmailProvider(args.api_key, args.port).start()
    print(f"fake e-mail provider on {provider.url}, what it was sent at {provider.url}/inbox", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        while args.parent_pid is None or _alive(args.parent_pid):
            time.sleep(1)
    provider.stop()


if __name__ == "__main__":
    main()
