"""A fake HubSpot speaking HubSpot's REST API, and signing webhooks as HubSpot does (signature v3).

CRM objects (`contacts`, `deals`, `line_items`, `companies`, `meetings`, `notes`, `calls`, `emails`,
`communications`) under `/crm/v3/objects/<type>`: create (POST), read (GET /<id>), page (GET with
`limit`, `after`, `properties`, `associations`), update (PATCH /<id>), archive (DELETE /<id>) and
search (POST /search with `filterGroups` of EQ / GT / GTE / IN filters, `associations.contact`
included, `sorts`, `after`). A contact whose e-mail exists already → 409 CONFLICT with "Existing ID:".
GDPR deletion: `POST /crm/v3/objects/contacts/gdpr-delete` (`objectId`, optional `idProperty` email).
Associations: `PUT /crm/v4/objects/<from>/<id>/associations/default/<to>/<id>`.
Forms: `GET /marketing/v3/forms`, `GET /form-integrations/v1/submissions/forms/<guid>` (paged),
`POST /submissions/v3/integration/submit/<portal>/<guid>`.

Every call needs `Authorization: Bearer <token>` (else 401 INVALID_AUTHENTICATION, HubSpot's error
shape). `fail_next(status, times, retry_after=...)` makes the next calls answer an error (429 with
Retry-After, 401, 403 MISSING_SCOPES, 500, 502...). `calls` records every request.

`webhook(...)` builds a webhook delivery: a JSON array of events with `X-HubSpot-Signature-v3` =
base64(HMAC-SHA256(client secret, method + uri + body + timestamp)) and
`X-HubSpot-Request-Timestamp` (ms).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from werkzeug.wrappers import Request, Response

from .server import LocalServer

OBJECT_TYPES = (
    "contacts",
    "deals",
    "line_items",
    "companies",
    "meetings",
    "notes",
    "calls",
    "emails",
    "communications",
    "products",
)
_SINGULAR = {
    "contact": "contacts",
    "deal": "deals",
    "line_item": "line_items",
    "company": "companies",
    "meeting": "meetings",
    "0-1": "contacts",
    "0-3": "deals",
    "0-8": "line_items",
    "0-2": "companies",
}


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class Call:
    method: str
    path: str
    query: dict[str, str]
    body: Any
    status: int


@dataclass
class _Failure:
    status: int
    times: int
    retry_after: str | None
    body: dict[str, Any] | None
    paths: tuple[str, ...] = ()


@dataclass
class Form:
    id: str
    name: str
    form_type: str = "hubspot"
    fields: list[str] = field(default_factory=lambda: ["email", "firstname", "lastname"])


class FakeHubSpot:
    def __init__(self, token: str = "pat-test-token", client_secret: str = "hubspot-client-secret"):
        self.token = token
        self.client_secret = client_secret
        self.objects: dict[str, dict[str, dict[str, Any]]] = {t: {} for t in OBJECT_TYPES}
        self.associations: dict[tuple[str, str, str], list[str]] = {}
        self.forms: list[Form] = []
        self.submissions: dict[str, list[dict[str, Any]]] = {}
        self.submitted: list[dict[str, Any]] = []
        #: ids of contacts GDPR-deleted, and the e-mails HubSpot will not take again
        self.purged: list[str] = []
        self.blocklist: set[str] = set()
        self.calls: list[Call] = []
        self._failures: list[_Failure] = []
        self._ids = itertools.count(1001)
        self._lock = threading.Lock()
        self._server = LocalServer(self._wsgi)
        self.url = self._server.url

    def start(self) -> FakeHubSpot:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    def reset(self) -> None:
        """Forget every object, form, call and failure (one server for many tests)."""
        with self._lock:
            self.objects = {t: {} for t in OBJECT_TYPES}
            self.associations.clear()
            self.forms.clear()
            self.submissions.clear()
            self.submitted.clear()
            self.purged.clear()
            self.blocklist.clear()
            self.calls.clear()
            self._failures.clear()

    # --- what tests set up and look at -------------------------------------------------------------

    def fail_next(
        self,
        status: int,
        times: int = 1,
        *,
        retry_after: int | str | None = None,
        body: dict[str, Any] | None = None,
        paths: tuple[str, ...] = (),
    ) -> None:
        """The next `times` calls (to any of `paths`, when given) answer `status`."""
        with self._lock:
            self._failures.append(
                _Failure(status, times, None if retry_after is None else str(retry_after), body, paths)
            )

    def clear_failures(self) -> None:
        with self._lock:
            self._failures.clear()

    def add(self, object_type: str, properties: dict[str, Any], **associations: list[str]) -> str:
        """An object as if someone made it in HubSpot; associations by type: contacts=[id]."""
        with self._lock:
            obj = self._new(object_type, properties)
            for to_type, ids in associations.items():
                for to_id in ids:
                    self._associate(object_type, obj["id"], to_type, to_id)
            return obj["id"]

    def contact(self, email: str) -> dict[str, Any] | None:
        for obj in self.objects["contacts"].values():
            if (obj["properties"].get("email") or "").lower() == email.lower() and not obj["archived"]:
                return obj
        return None

    def writes(self) -> list[Call]:
        """Calls that changed something (searches are reads)."""
        return [
            c
            for c in self.calls
            if c.method in ("POST", "PATCH", "PUT", "DELETE")
            and not c.path.endswith("/search")
            and c.status < 400
        ]

    def add_form(self, form_id: str, name: str, fields: list[str] | None = None) -> Form:
        form = Form(form_id, name, fields=fields or ["email", "firstname", "lastname", "message"])
        self.forms.append(form)
        self.submissions.setdefault(form_id, [])
        return form

    def add_submission(
        self,
        form_id: str,
        values: dict[str, str],
        *,
        submitted_at: datetime | None = None,
        conversion_id: str | None = None,
    ) -> str:
        conversion_id = conversion_id or str(uuid.uuid4())
        when = submitted_at or datetime.now(UTC)
        self.submissions.setdefault(form_id, []).append(
            {
                "conversionId": conversion_id,
                "submittedAt": int(when.timestamp() * 1000),
                "values": [{"name": k, "value": v} for k, v in values.items()],
                "pageUrl": "https://club.example/apply",
            }
        )
        return conversion_id

    # --- webhooks --------------------------------------------------------------------------------

    def sign(self, method: str, uri: str, body: str, timestamp: str) -> str:
        digest = hmac.new(
            self.client_secret.encode(), f"{method}{uri}{body}{timestamp}".encode(), hashlib.sha256
        )
        return base64.b64encode(digest.digest()).decode()

    def webhook(
        self,
        uri: str,
        events: list[dict[str, Any]],
        *,
        timestamp_ms: int | None = None,
        secret: str | None = None,
    ) -> tuple[bytes, dict[str, str]]:
        """The body and headers HubSpot posts to `uri` (the full URL it calls)."""
        body = json.dumps(events)
        timestamp = str(timestamp_ms if timestamp_ms is not None else int(time.time() * 1000))
        signer = FakeHubSpot(client_secret=secret) if secret else self
        headers = {
            "Content-Type": "application/json",
            "X-HubSpot-Signature-v3": signer.sign("POST", uri, body, timestamp),
            "X-HubSpot-Request-Timestamp": timestamp,
            "X-HubSpot-Signature-Version": "v3",
        }
        return body.encode(), headers

    @staticmethod
    def event(subscription_type: str, object_id: str | int, **extra: Any) -> dict[str, Any]:
        return {
            "eventId": int(uuid.uuid4().int % 10**9),
            "subscriptionId": 1,
            "portalId": 62515,
            "appId": 1,
            "occurredAt": int(time.time() * 1000),
            "subscriptionType": subscription_type,
            "attemptNumber": 0,
            "objectId": int(object_id),
            "changeSource": "CRM",
            **extra,
        }

    # --- the server --------------------------------------------------------------------------------

    def _wsgi(self, environ, start_response):
        request = Request(environ)
        try:
            body = request.get_json(silent=True) if request.data else None
        except Exception:
            body = None
        response = self._answer(request, body)
        with self._lock:
            self.calls.append(
                Call(request.method, request.path, dict(request.args), body, response.status_code)
            )
        return response(environ, start_response)

    def _answer(self, request: Request, body: Any) -> Response:
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return self._error(401, "Authentication credentials not found.", "INVALID_AUTHENTICATION")
        with self._lock:
            failure = next(
                (
                    f
                    for f in self._failures
                    if not f.paths or any(request.path.startswith(p) for p in f.paths)
                ),
                None,
            )
            if failure is not None:
                failure.times -= 1
                if failure.times <= 0:
                    self._failures.remove(failure)
        if failure is not None:
            return self._failure(failure)
        parts = [p for p in request.path.split("/") if p]
        with self._lock:
            try:
                return self._route(request, parts, body)
            except KeyError:
                return self._error(404, "Resource not found", "OBJECT_NOT_FOUND")

    def _failure(self, failure: _Failure) -> Response:
        categories = {401: "INVALID_AUTHENTICATION", 403: "MISSING_SCOPES", 429: "RATE_LIMITS"}
        response = self._error(
            failure.status,
            (failure.body or {}).get("message", f"Fake failure {failure.status}"),
            categories.get(failure.status, "INTERNAL_ERROR"),
            extra=failure.body,
        )
        if failure.retry_after is not None:
            response.headers["Retry-After"] = failure.retry_after
        return response

    def _route(self, request: Request, parts: list[str], body: Any) -> Response:
        method = request.method
        if parts[:3] == ["crm", "v3", "objects"] and len(parts) >= 4:
            object_type = _SINGULAR.get(parts[3], parts[3])
            if object_type not in self.objects:
                raise KeyError(object_type)
            rest = parts[4:]
            if rest == ["search"] and method == "POST":
                return self._search(object_type, body or {})
            if rest == ["batch", "read"] and method == "POST":
                ids = [i["id"] for i in (body or {}).get("inputs", [])]
                found = [
                    self._view(self.objects[object_type][i], (body or {}).get("properties"))
                    for i in ids
                    if i in self.objects[object_type]
                ]
                return self._json(
                    200,
                    {
                        "status": "COMPLETE",
                        "results": found,
                        "startedAt": _now_iso(),
                        "completedAt": _now_iso(),
                    },
                )
            if rest == ["gdpr-delete"] and method == "POST" and object_type == "contacts":
                return self._gdpr_delete(body or {})
            if not rest and method == "POST":
                return self._create(object_type, body or {})
            if not rest and method == "GET":
                return self._page(object_type, request)
            if len(rest) == 1:
                obj = self.objects[object_type][rest[0]]
                if obj["archived"]:
                    raise KeyError(rest[0])
                if method == "GET":
                    return self._json(
                        200,
                        self._view(
                            obj,
                            _csv(request.args.getlist("properties")),
                            _csv(request.args.getlist("associations")),
                            object_type,
                        ),
                    )
                if method == "PATCH":
                    obj["properties"].update(
                        {k: _text(v) for k, v in (body or {}).get("properties", {}).items()}
                    )
                    obj["updatedAt"] = _now_iso()
                    return self._json(200, self._view(obj))
                if method == "DELETE":
                    obj["archived"] = True
                    return Response(status=204)
        if parts[:3] == ["crm", "v4", "objects"] and method == "PUT" and len(parts) == 9:
            _crm, _v4, _objects, from_type, from_id, _assoc, _default, to_type, to_id = parts
            self._associate(
                _SINGULAR.get(from_type, from_type), from_id, _SINGULAR.get(to_type, to_type), to_id
            )
            return self._json(
                200, {"status": "COMPLETE", "results": [], "startedAt": _now_iso(), "completedAt": _now_iso()}
            )
        if parts == ["marketing", "v3", "forms"] and method == "GET":
            return self._json(
                200,
                {
                    "results": [
                        {
                            "id": f.id,
                            "name": f.name,
                            "formType": f.form_type,
                            "archived": False,
                            "createdAt": _now_iso(),
                            "updatedAt": _now_iso(),
                            "fieldGroups": [
                                {
                                    "groupType": "default_group",
                                    "richTextType": "text",
                                    "fields": [
                                        {"name": n, "fieldType": "single_line_text"} for n in f.fields
                                    ],
                                }
                            ],
                        }
                        for f in self.forms
                    ]
                },
            )
        if (
            parts[:4] == ["form-integrations", "v1", "submissions", "forms"]
            and len(parts) == 5
            and method == "GET"
        ):
            items = sorted(self.submissions[parts[4]], key=lambda s: -s["submittedAt"])  # newest first
            return self._paged(items, request, limit_max=50)
        if parts[:3] == ["submissions", "v3", "integration"] and method == "POST":
            self.submitted.append({"portal": parts[4], "form": parts[5], "body": body})
            return self._json(200, {"inlineMessage": "Thanks for submitting the form."})
        raise KeyError(request.path)

    # --- objects -------------------------------------------------------------------------------

    def _new(self, object_type: str, properties: dict[str, Any]) -> dict[str, Any]:
        object_id = str(next(self._ids))
        now = _now_iso()
        props = {k: _text(v) for k, v in properties.items()}
        props.setdefault("hs_object_id", object_id)
        props.setdefault("createdate", now)
        props["hs_lastmodifieddate"] = now
        obj = {"id": object_id, "properties": props, "createdAt": now, "updatedAt": now, "archived": False}
        self.objects[object_type][object_id] = obj
        return obj

    def _create(self, object_type: str, body: dict[str, Any]) -> Response:
        properties = body.get("properties") or {}
        if object_type == "contacts":
            email = properties.get("email")
            if not email:
                return self._error(
                    400, "Property values were not valid: email is required", "VALIDATION_ERROR"
                )
            existing = self.contact(email)
            if existing:
                return self._error(409, f"Contact already exists. Existing ID: {existing['id']}", "CONFLICT")
        obj = self._new(object_type, properties)
        for association in body.get("associations") or []:
            to_id = str(association["to"]["id"])
            to_type = _SINGULAR.get(str(association.get("toObjectType", "")), "deals")
            self._associate(object_type, obj["id"], to_type, to_id)
        return self._json(201, self._view(obj))

    def _gdpr_delete(self, body: dict[str, Any]) -> Response:
        """Permanent deletion, by id or (`idProperty` email) by e-mail; an unknown e-mail is
        blocklisted, an unknown id is 404."""
        object_id = str(body.get("objectId") or "")
        if body.get("idProperty") == "email":
            found = self.contact(object_id)
            self.blocklist.add(object_id.lower())
            if found is None:
                return Response(status=204)
        else:
            found = self.objects["contacts"].get(object_id)
            if found is None:
                raise KeyError(object_id)
        del self.objects["contacts"][found["id"]]
        for key in [k for k in self.associations if k[0] == "contacts" and k[1] == found["id"]]:
            del self.associations[key]
        self.purged.append(found["id"])
        return Response(status=204)

    def _associate(self, from_type: str, from_id: str, to_type: str, to_id: str) -> None:
        for a, ai, b, bi in ((from_type, from_id, to_type, to_id), (to_type, to_id, from_type, from_id)):
            linked = self.associations.setdefault((a, str(ai), b), [])
            if str(bi) not in linked:
                linked.append(str(bi))

    def _view(
        self,
        obj: dict[str, Any],
        properties: list[str] | None = None,
        associations: list[str] | None = None,
        object_type: str | None = None,
    ) -> dict[str, Any]:
        props = obj["properties"]
        if properties:
            props = {
                k: props.get(k)
                for k in set(properties) | {"hs_object_id", "createdate", "hs_lastmodifieddate"}
            }
        view = {
            "id": obj["id"],
            "properties": props,
            "createdAt": obj["createdAt"],
            "updatedAt": obj["updatedAt"],
            "archived": obj["archived"],
        }
        if associations and object_type:
            view["associations"] = {}
            for to_type in associations:
                to_type = _SINGULAR.get(to_type, to_type)
                ids = self.associations.get((object_type, obj["id"], to_type), [])
                if ids:
                    view["associations"][to_type] = {
                        "results": [{"id": i, "type": f"{object_type[:-1]}_to_{to_type[:-1]}"} for i in ids]
                    }
        return view

    def _live(self, object_type: str) -> list[dict[str, Any]]:
        return [o for o in self.objects[object_type].values() if not o["archived"]]

    def _page(self, object_type: str, request: Request) -> Response:
        properties = _csv(request.args.getlist("properties"))
        associations = _csv(request.args.getlist("associations"))
        items = [self._view(o, properties, associations, object_type) for o in self._live(object_type)]
        return self._paged(items, request, limit_max=100)

    def _paged(self, items: list[dict[str, Any]], request: Request, limit_max: int) -> Response:
        limit = min(int(request.args.get("limit", 10)), limit_max)
        start = int(request.args.get("after") or 0)
        page = items[start : start + limit]
        body: dict[str, Any] = {"results": page}
        if start + limit < len(items):
            body["paging"] = {"next": {"after": str(start + limit), "link": "?after=" + str(start + limit)}}
        return self._json(200, body)

    def _search(self, object_type: str, body: dict[str, Any]) -> Response:
        def matches(obj: dict[str, Any], spec: dict[str, Any]) -> bool:
            name, op = spec["propertyName"], spec.get("operator", "EQ")
            if name.startswith("associations."):
                to_type = _SINGULAR.get(name.split(".", 1)[1], name.split(".", 1)[1] + "s")
                value = self.associations.get((object_type, obj["id"], to_type), [])
                return str(spec.get("value")) in value
            value = obj["properties"].get(name)
            if op == "EQ":
                return value is not None and str(value).lower() == str(spec.get("value")).lower()
            if op == "NEQ":
                return value is None or str(value).lower() != str(spec.get("value")).lower()
            if op == "IN":
                return value is not None and str(value).lower() in [
                    str(v).lower() for v in spec.get("values", [])
                ]
            if op == "HAS_PROPERTY":
                return value not in (None, "")
            if op in ("GT", "GTE", "LT", "LTE"):
                if value in (None, ""):
                    return False
                left, right = _comparable(value), _comparable(spec.get("value"))
                return {"GT": left > right, "GTE": left >= right, "LT": left < right, "LTE": left <= right}[
                    op
                ]
            if op == "CONTAINS_TOKEN":
                return value is not None and str(spec.get("value")).lower().strip("*") in str(value).lower()
            return False

        groups = body.get("filterGroups") or []
        found = [
            o
            for o in self._live(object_type)
            if not groups or any(all(matches(o, f) for f in g.get("filters", [])) for g in groups)
        ]
        for sort in reversed(body.get("sorts") or []):
            if isinstance(sort, dict):
                key, descending = sort.get("propertyName"), sort.get("direction") == "DESCENDING"
            else:
                key, descending = str(sort).lstrip("-"), str(sort).startswith("-")
            found.sort(key=lambda o, k=key: _comparable(o["properties"].get(k) or ""), reverse=descending)
        limit = min(int(body.get("limit") or 10), 200)
        start = int(body.get("after") or 0)
        page = [self._view(o, body.get("properties")) for o in found[start : start + limit]]
        result: dict[str, Any] = {"total": len(found), "results": page}
        if start + limit < len(found):
            result["paging"] = {"next": {"after": str(start + limit)}}
        return self._json(200, result)

    @staticmethod
    def _json(status: int, body: Any) -> Response:
        return Response(json.dumps(body), status=status, mimetype="application/json")

    def _error(
        self, status: int, message: str, category: str, extra: dict[str, Any] | None = None
    ) -> Response:
        body = {
            "status": "error",
            "message": message,
            "correlationId": str(uuid.uuid4()),
            "category": category,
            **{k: v for k, v in (extra or {}).items() if k != "message"},
        }
        return self._json(status, body)


def _csv(values: list[str] | str | None) -> list[str] | None:
    """A list parameter, given repeated (`properties=a&properties=b`) or comma-separated, or both."""
    if isinstance(values, str):
        values = [values]
    found = [v for value in values or [] for v in value.split(",") if v]
    return found or None


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _comparable(value: Any) -> Any:
    text = str(value)
    try:
        return float(text)
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000
    except ValueError:
        return text
