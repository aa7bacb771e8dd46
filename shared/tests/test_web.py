"""Every error the HTTP layer can produce is application/problem+json, and none is a 500 for bad input."""

import pytest
from flask import request
from flask_smorest import Blueprint
from marshmallow import Schema, fields
from sqlalchemy import text

from club_shared.problems import Problem
from club_shared.web import accepts, build_app, runtime

blp = Blueprint("things", __name__, url_prefix="/api/v1/things")


class Thing(Schema):
    name = fields.String(required=True)
    count = fields.Integer(required=True)


@blp.post("")
@blp.arguments(Thing)
@blp.response(201, Thing)
def create_thing(body):
    return body


@blp.post("/upload")
@accepts("multipart/form-data", "text/csv")
@blp.response(200)
def upload():
    return {"bytes": len(request.get_data())}


@blp.get("/boom")
def boom():
    raise RuntimeError("a bug")


@blp.get("/conflict")
def conflict():
    raise Problem(409, "Already approved.", code="STATE_CONFLICT")


@blp.get("/huge-int")
def huge_int():
    with runtime().db.transaction() as session:
        session.execute(text("SELECT CAST(:n AS integer)"), {"n": 10**12})


@pytest.fixture(scope="module")
def client(service_runtime):
    app = build_app(service_runtime("membership"), title="test", blueprints=[blp])
    return app.test_client()


def assert_problem(response, status, code=None):
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    body = response.get_json(force=True)
    assert body["status"] == status
    assert {"type", "title", "detail"} <= set(body)
    if code:
        assert body["type"].endswith(code)
    return body


def test_success_carries_a_request_id(client):
    response = client.post("/api/v1/things", json={"name": "a", "count": 1})
    assert response.status_code == 201
    assert len(response.headers["X-Request-ID"]) == 32


def test_a_given_request_id_is_echoed_and_a_hostile_one_replaced(client):
    assert client.get("/healthz", headers={"X-Request-ID": "abc-123"}).headers["X-Request-ID"] == "abc-123"
    replaced = client.get("/healthz", headers={"X-Request-ID": "<script>"}).headers["X-Request-ID"]
    assert replaced != "<script>" and len(replaced) == 32


def test_unknown_route_is_404(client):
    assert_problem(client.get("/api/v1/nowhere"), 404, "NOT_FOUND")


def test_wrong_method_is_405_with_allow(client):
    response = client.delete("/api/v1/things")
    assert_problem(response, 405, "METHOD_NOT_ALLOWED")
    assert "POST" in response.headers["Allow"]


def test_validation_errors_are_422_with_field_messages(client):
    body = assert_problem(
        client.post("/api/v1/things", json={"name": 5, "extra": 1}), 422, "VALIDATION_FAILED"
    )
    assert set(body["errors"]["json"]) == {"name", "count", "extra"}


@pytest.mark.parametrize("payload", [b"{not json", b'{"name": "a", "count": 1', b"\xff\xfe"])
def test_broken_json_is_400(client, payload):
    assert_problem(client.post("/api/v1/things", data=payload, content_type="application/json"), 400)


def test_deeply_nested_json_is_400(client):
    payload = "[" * 100_000 + "]" * 100_000
    response = client.post("/api/v1/things", data=payload, content_type="application/json")
    assert response.status_code in (400, 413)
    assert response.mimetype == "application/problem+json"


def test_wrong_content_type_is_415(client):
    assert_problem(client.post("/api/v1/things", data="name=a", content_type="text/plain"), 415)


def test_a_wrong_method_is_405_whatever_the_body(client):
    response = client.put("/api/v1/things", data=b"a,b\n", content_type="text/csv")
    assert_problem(response, 405, "METHOD_NOT_ALLOWED")
    assert "POST" in response.headers["Allow"]
    assert_problem(client.post("/api/v1/nowhere", data=b"a,b\n", content_type="text/csv"), 404)


def test_a_body_a_view_accepts_is_documented(client):
    operation = client.get("/openapi.json").get_json()["paths"]["/api/v1/things/upload"]["post"]
    content = operation["requestBody"]["content"]
    assert content["text/csv"]["schema"] == {"type": "string"}
    assert content["multipart/form-data"]["schema"]["properties"]["file"]["format"] == "binary"
    assert client.post("/api/v1/things/upload", data=b"a,b\n", content_type="text/csv").status_code == 200


def test_too_large_is_413(client):
    big = b'{"name": "' + b"x" * 2_000_000 + b'", "count": 1}'
    assert_problem(client.post("/api/v1/things", data=big, content_type="application/json"), 413)


def test_a_raised_problem_keeps_its_code(client):
    assert_problem(client.get("/api/v1/things/conflict"), 409, "STATE_CONFLICT")


def test_a_value_the_database_refuses_is_422_not_500(client):
    assert_problem(client.get("/api/v1/things/huge-int"), 422, "INVALID_VALUE")


def test_a_bug_is_a_500_problem_without_details(client):
    body = assert_problem(client.get("/api/v1/things/boom"), 500, "INTERNAL_ERROR")
    assert "a bug" not in body["detail"]


def test_health_and_readiness(client):
    assert client.get("/healthz").get_json()["status"] == "ok"
    ready = client.get("/readyz")
    assert ready.status_code == 200, ready.get_data(as_text=True)
    assert ready.get_json()["checks"] == {"database": "ok", "broker": "ok"}


def test_metrics_are_exposed(client):
    client.get("/healthz")
    response = client.get("/metrics")
    assert response.status_code == 200
    assert b"club_http_request_duration_seconds" in response.data


def test_readiness_fails_with_503_when_the_database_is_unreachable(settings_for):
    from dataclasses import replace

    from club_membership.app import make_runtime

    settings = settings_for("membership")
    down = make_runtime(replace(settings, database_url="postgresql://postgres@127.0.0.1:1/postgres"))
    app = build_app(down, title="test", blueprints=[])
    body = assert_problem(app.test_client().get("/readyz"), 503, "NOT_READY")
    assert body["checks"]["database"].startswith("unavailable")
