"""The gateway as one WSGI app, for the one-process development mode (`make run`).

It does what nginx does in the other modes, from the same route table: sends `/api/v1/<prefix>…`
to the owning service's app (the path is passed on unchanged: services route the full path),
answers /healthz, /openapi.json and /docs itself, and makes sure every request and response has
an X-Request-ID.
"""

from __future__ import annotations

import json
import logging
import mimetypes
import threading
import uuid
from collections.abc import Callable, Iterable, Mapping
from http import HTTPStatus
from pathlib import Path

from werkzeug.security import safe_join

from club_gateway import routes
from club_gateway.openapi import fetch_spec, merge
from club_gateway.problems import PROBLEM_JSON, REQUEST_ID_RE, RETRY_AFTER, problem_json

WSGIApp = Callable[[dict, Callable], Iterable[bytes]]

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
MAX_BODY_BYTES = 1024 * 1024  # nginx's client_max_body_size 1m

log = logging.getLogger(__name__)


def _swagger_ui_dir() -> Path:
    import swagger_ui_bundle

    return Path(swagger_ui_bundle.swagger_ui_path)


class Gateway:
    def __init__(self, apps: Mapping[str, WSGIApp], max_body_bytes: int = MAX_BODY_BYTES):
        unknown = set(apps) - set(routes.SERVICE_NAMES)
        if unknown:
            raise ValueError(f"not services of the route table: {sorted(unknown)}")
        self.apps = dict(apps)
        self.max_body_bytes = max_body_bytes
        self._openapi: bytes | None = None
        self._openapi_lock = threading.Lock()

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        request_id = environ.get("HTTP_X_REQUEST_ID", "")
        if not REQUEST_ID_RE.match(request_id):
            request_id = uuid.uuid4().hex
        environ["HTTP_X_REQUEST_ID"] = request_id
        # As nginx does: the services see the address that really connected, never a client's claim.
        remote = environ.get("REMOTE_ADDR", "")
        environ["HTTP_X_REAL_IP"] = remote
        environ["HTTP_X_FORWARDED_FOR"] = remote

        def start_with_id(status: str, headers: list[tuple[str, str]], exc_info=None):
            headers = [(k, v) for k, v in headers if k.lower() != "x-request-id"]
            headers.append(("X-Request-ID", request_id))
            return start_response(status, headers, exc_info)

        return self.route(environ, start_with_id, request_id)

    def route(self, environ: dict, start_response: Callable, request_id: str) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        method = environ.get("REQUEST_METHOD", "GET")
        service = routes.find_service(path)
        if service is not None:
            app = self.apps.get(service)
            if app is None:
                return self.problem(
                    start_response, 503, request_id, f"The {service} service is not mounted in this process."
                )
            if self._content_length(environ) > self.max_body_bytes:
                return self.problem(start_response, 413, request_id)
            return app(environ, start_response)

        if method not in ("GET", "HEAD"):
            if path in ("/healthz", "/openapi.json") or path == "/docs" or path.startswith("/docs/"):
                return self.problem(start_response, 405, request_id)
        elif path == "/healthz":
            return self.respond(start_response, 200, b'{"status":"ok"}', "application/json")
        elif path == "/openapi.json":
            return self.respond(start_response, 200, self.openapi(), "application/json")
        elif path in ("/docs", "/docs/"):
            return self.file(start_response, STATIC_DIR / "docs" / "index.html", request_id)
        elif path.startswith("/docs/swagger-ui/"):
            return self.file(
                start_response,
                safe_join(str(_swagger_ui_dir()), path[len("/docs/swagger-ui/") :]),
                request_id,
            )
        elif path.startswith("/docs/"):
            return self.file(start_response, safe_join(str(STATIC_DIR), path[1:]), request_id)
        return self.problem(start_response, 404, request_id)

    def openapi(self) -> bytes:
        """The merged document, built on first use: the apps do not change while we run."""
        with self._openapi_lock:
            if self._openapi is None:
                specs = {}
                for name, app in self.apps.items():
                    try:
                        specs[name] = fetch_spec(app)
                    except (ValueError, json.JSONDecodeError) as exc:
                        log.warning("no OpenAPI document from %s: %s", name, exc)
                self._openapi = json.dumps(merge(specs, warn=log.warning)).encode()
            return self._openapi

    @staticmethod
    def _content_length(environ: dict) -> int:
        try:
            return int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return 0

    @staticmethod
    def respond(
        start_response: Callable,
        status: int,
        body: bytes,
        content_type: str,
        extra: Iterable[tuple[str, str]] = (),
    ) -> list[bytes]:
        headers = [("Content-Type", content_type), ("Content-Length", str(len(body))), *extra]
        start_response(f"{status} {HTTPStatus(status).phrase}", headers)
        return [body]

    def problem(
        self, start_response: Callable, status: int, request_id: str, detail: str | None = None
    ) -> list[bytes]:
        extra = [("Cache-Control", "no-store")]
        if status in RETRY_AFTER:
            extra.append(("Retry-After", str(RETRY_AFTER[status])))
        body = problem_json(status, request_id, detail).encode()
        return self.respond(start_response, status, body, PROBLEM_JSON, extra)

    def file(self, start_response: Callable, path: str | Path | None, request_id: str) -> list[bytes]:
        if path is None or not Path(path).is_file():
            return self.problem(start_response, 404, request_id)
        content_type = mimetypes.guess_type(str(path))[0] or "application/octet-stream"
        return self.respond(start_response, 200, Path(path).read_bytes(), content_type)


def make_gateway_app(apps: dict[str, WSGIApp]) -> WSGIApp:
    """A WSGI app that serves `apps` (service name → WSGI app) behind the gateway's routes."""
    return Gateway(apps)
