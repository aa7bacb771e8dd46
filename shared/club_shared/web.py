"""The Flask app every service builds on: OpenAPI, problem+json errors, request ids, health, metrics."""

from __future__ import annotations

import copy
import http
import logging
import re
import time
import uuid
from collections.abc import Iterable

from flask import Flask, Response, current_app, g, jsonify, request
from flask_smorest import Api, Blueprint
from flask_smorest.utils import prepare_response
from marshmallow import INCLUDE, Schema, fields
from sqlalchemy.exc import DataError, IntegrityError, OperationalError
from werkzeug.exceptions import HTTPException

from . import logs, tracing
from .problems import PROBLEM_JSON, Problem, problem_response
from .runtime import Runtime

log = logging.getLogger(__name__)

_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_BODY_METHODS = {"POST", "PUT", "PATCH"}
JSON_ONLY = ("application/json",)


class ProblemSchema(Schema):
    """RFC 9457 problem details, as every error response of the suite carries them (and extension
    members such as `errors`, `request_id` or `retry_after_seconds`)."""

    class Meta:
        unknown = INCLUDE

    type = fields.String(required=True, metadata={"example": "urn:clubhouse:problem:STATE_CONFLICT"})
    title = fields.String(required=True)
    status = fields.Integer(required=True)
    detail = fields.String(required=True)
    code = fields.String(required=True)
    errors = fields.Dict(metadata={"description": "Validation messages by location and field"})


class ProblemApi(Api):
    """flask-smorest's Api, answering and documenting every HTTP error as application/problem+json."""

    ERROR_SCHEMA = ProblemSchema

    def _register_responses(self):
        for status in http.HTTPStatus:
            response = {"description": status.phrase}
            if status >= 400:
                response["schema"] = self.ERROR_SCHEMA
            prepare_response(response, self.spec, PROBLEM_JSON)
            self.spec.components.response(status.name, response, lazy=True)
        response = {"description": "Default error response", "schema": self.ERROR_SCHEMA}
        prepare_response(response, self.spec, PROBLEM_JSON)
        self.spec.components.response(self.DEFAULT_ERROR_RESPONSE_NAME, response, lazy=True)

    def handle_http_exception(self, error: HTTPException):
        extra = {}
        messages = (getattr(error, "data", None) or {}).get("messages")
        if messages:
            extra["errors"] = messages
        detail = error.description or ""
        if error.code == 422:
            detail = "The request does not match the schema."
        response = problem_response(error.code or 500, detail, **extra)
        if error.code == 405 and hasattr(error, "valid_methods") and error.valid_methods:
            response.headers["Allow"] = ", ".join(error.valid_methods)
        return response


#: the documented body of each media type a view `accepts`; uploads come as the multipart field `file`
_BODY_SCHEMAS = {
    "application/json": {"type": "object"},
    "multipart/form-data": {
        "type": "object",
        "properties": {"file": {"type": "string", "format": "binary"}},
        "required": ["file"],
    },
}


def accepts(*mimetypes: str):
    """Let a view take request bodies other than JSON (CSV uploads, signed webhooks), read raw by
    the view; its OpenAPI operation documents them, so clients and fuzzers can send them."""

    def decorate(view):
        view.club_accepts = mimetypes
        view._apidoc = copy.deepcopy(getattr(view, "_apidoc", {}))
        body = view._apidoc.setdefault("manual_doc", {}).setdefault("requestBody", {"required": True})
        content = body.setdefault("content", {})
        for mimetype in mimetypes:
            content.setdefault(mimetype, {"schema": _BODY_SCHEMAS.get(mimetype, {"type": "string"})})
        return view

    return decorate


def build_app(runtime: Runtime, *, title: str, blueprints: Iterable[Blueprint]) -> Flask:
    settings = runtime.settings
    if settings.env != "test":
        logs.configure_logging(settings.service, settings.log_level)
    tracing.configure(settings.service, settings.otel_exporter_otlp_endpoint)
    app = Flask(f"club_{settings.service}")
    app.config.update(
        API_TITLE=title,
        API_VERSION="v1",
        OPENAPI_VERSION="3.1.0",
        OPENAPI_URL_PREFIX="/",
        OPENAPI_JSON_PATH="openapi.json",
        MAX_CONTENT_LENGTH=settings.max_body_bytes,
        JSON_SORT_KEYS=False,
    )
    app.extensions["club"] = runtime
    api = ProblemApi(
        app,
        spec_kwargs={
            "components": {
                "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}}
            }
        },
    )
    for blueprint in blueprints:
        api.register_blueprint(blueprint)
    _register_request_hooks(app)
    _register_error_handlers(app)
    _register_operational_routes(app, runtime)
    return app


def runtime() -> Runtime:
    return current_app.extensions["club"]


def _register_request_hooks(app: Flask) -> None:
    from .metrics import observe_request

    service = app.extensions["club"].service

    @app.before_request
    def start_request():
        incoming = request.headers.get("X-Request-ID", "")
        g.request_id = incoming if _SAFE_REQUEST_ID.match(incoming) else uuid.uuid4().hex
        g.request_id_token = logs.request_id.set(g.request_id)
        g.started = time.perf_counter()
        if tracing.enabled():
            rule = request.url_rule.rule if request.url_rule is not None else "unmatched"
            g.trace = tracing.start_http_span(
                request.method, rule, request.path, request.headers, g.request_id
            )
        # A path or method nothing serves is a 404 or 405 (with Allow), whatever the body is.
        if request.method in _BODY_METHODS and _has_body() and request.routing_exception is None:
            view = app.view_functions.get(request.endpoint or "")
            allowed = getattr(view, "club_accepts", JSON_ONLY)
            if request.mimetype not in allowed:
                raise Problem(415, f"Send the body as {' or '.join(allowed)}.")

    @app.after_request
    def finish_request(response: Response) -> Response:
        response.headers["X-Request-ID"] = g.get("request_id", "")
        # JSON carries what members typed (names with HTML in them): never let a browser sniff it as HTML.
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        g.status = response.status_code
        if "started" in g:
            observe_request(
                service,
                request.method,
                request.url_rule,
                response.status_code,
                time.perf_counter() - g.started,
            )
        return response

    @app.teardown_request
    def forget_request(exc):
        if "trace" in g:
            tracing.end_http_span(g.pop("trace"), g.get("status"), exc)
        token = g.pop("request_id_token", None)
        if token is not None:
            logs.request_id.reset(token)


def _has_body() -> bool:
    return bool(request.content_length) or "chunked" in request.headers.get("Transfer-Encoding", "").lower()


def _register_error_handlers(app: Flask) -> None:
    @app.errorhandler(Problem)
    def on_problem(exc: Problem):
        response = problem_response(exc.status, exc.detail, code=exc.code, title=exc.title, **exc.extra)
        response.headers.update(exc.headers)
        return response

    @app.errorhandler(RecursionError)
    def on_too_deep(_exc):
        return problem_response(400, "The JSON body is nested too deeply.")

    @app.errorhandler(DataError)
    def on_data_error(exc: DataError):
        log.info("value refused by the database", extra={"error": str(exc.orig)})
        return problem_response(422, "A value is out of range or of the wrong kind.", code="INVALID_VALUE")

    @app.errorhandler(IntegrityError)
    def on_integrity_error(exc: IntegrityError):
        log.info("constraint refused a write", extra={"error": str(exc.orig)})
        return problem_response(409, "The change conflicts with existing data.", code="CONFLICT")

    @app.errorhandler(OperationalError)
    def on_database_down(exc: OperationalError):
        log.error("database unavailable", extra={"error": str(exc.orig)})
        response = problem_response(503, "The service's database is unavailable; try again shortly.")
        response.headers["Retry-After"] = "2"
        return response

    @app.errorhandler(Exception)
    def on_unexpected(exc: Exception):
        log.exception("unhandled error")
        return problem_response(500, "Something went wrong on our side; it has been logged.")


def _register_operational_routes(app: Flask, runtime: Runtime) -> None:
    from .metrics import DatabaseCollector, metrics_response

    # The URL is looked up at the first scrape: apps built only for their OpenAPI have no database.
    database_figures = DatabaseCollector(runtime.service, lambda: runtime.db.libpq_url())

    @app.get("/healthz")
    def healthz():
        return jsonify(status="ok", service=runtime.service)

    @app.get("/readyz")
    def readyz():
        checks = {}
        for name, check in (("database", runtime.db.ping), ("broker", runtime.ping_broker)):
            try:
                check()
                checks[name] = "ok"
            except Exception as exc:  # any failure means not ready; say which
                checks[name] = f"unavailable: {type(exc).__name__}"
        if all(v == "ok" for v in checks.values()):
            return jsonify(status="ready", checks=checks)
        return problem_response(503, "Not ready.", code="NOT_READY", checks=checks)

    @app.get("/metrics")
    def metrics():
        return metrics_response(database_figures)
