from __future__ import annotations

import pytest
from flask import Flask, jsonify, request
from flask_smorest import Api, Blueprint
from marshmallow import Schema, fields
from werkzeug.test import Client

from club_gateway.dispatcher import make_gateway_app


class ResourceSchema(Schema):
    id = fields.Int()
    name = fields.Str()


def stand_in(service: str, prefix: str) -> Flask:
    """A tiny service: echoes what it was asked, and documents one endpoint."""
    app = Flask(service)
    app.config.update(
        API_TITLE=f"Clubhouse {service}",
        API_VERSION="v1",
        OPENAPI_VERSION="3.1.0",
        OPENAPI_URL_PREFIX="/",
        OPENAPI_JSON_PATH="openapi.json",
    )
    api = Api(app)
    blp = Blueprint(prefix, __name__, url_prefix=f"/api/v1/{prefix}")

    @blp.route("/<int:item_id>")
    @blp.response(200, ResourceSchema)
    def get_item(item_id):
        return {"id": item_id, "name": service}

    api.register_blueprint(blp)

    @app.route(f"/api/v1/{prefix}", methods=["GET", "POST"])
    def echo():
        return jsonify(
            service=service,
            path=request.path,
            query=request.query_string.decode(),
            request_id=request.headers.get("X-Request-ID"),
        ), {"X-Request-ID": "set-by-service"}

    return app


@pytest.fixture
def client() -> Client:
    apps = {
        "membership": stand_in("membership", "members"),
        "booking": stand_in("booking", "resources"),
        "billing": stand_in("billing", "webhooks/stripe"),
    }
    return Client(make_gateway_app(apps))


def assert_problem(response, status: int) -> dict:
    assert response.status_code == status
    assert response.headers["Content-Type"] == "application/problem+json"
    body = response.get_json(force=True)
    assert body["status"] == status and body["title"] and body["detail"] and body["type"]
    assert body["request_id"] == response.headers["X-Request-ID"]
    return body


@pytest.mark.parametrize(
    ("path", "service"),
    [
        ("/api/v1/members", "membership"),
        ("/api/v1/resources", "booking"),
        ("/api/v1/webhooks/stripe", "billing"),
    ],
)
def test_routes_to_the_owning_app_with_the_full_path(client, path, service):
    response = client.get(path, query_string="a=1")
    assert response.status_code == 200
    assert response.get_json() == {
        "service": service,
        "path": path,
        "query": "a=1",
        "request_id": response.headers["X-Request-ID"],
    }


def test_request_id_is_added_when_missing(client):
    response = client.get("/api/v1/members")
    request_id = response.headers["X-Request-ID"]
    assert len(request_id) == 32 and int(request_id, 16) >= 0
    assert response.get_json()["request_id"] == request_id
    assert response.headers.getlist("X-Request-ID") == [request_id]


def test_client_request_id_is_kept_and_bad_ones_replaced(client):
    kept = client.get("/api/v1/members", headers={"X-Request-ID": "front-end-7"})
    assert kept.headers["X-Request-ID"] == "front-end-7"
    assert kept.get_json()["request_id"] == "front-end-7"
    replaced = client.get("/api/v1/members", headers={"X-Request-ID": 'bad "id"'})
    assert replaced.headers["X-Request-ID"] != 'bad "id"'


@pytest.mark.parametrize(
    "path", ["/api/v1/nope", "/api/v1/membersx", "/api/v1/webhooks/other", "/", "/docs/../x"]
)
def test_unknown_paths_are_404_problems(client, path):
    assert_problem(client.get(path), 404)


def test_owned_prefix_without_a_mounted_app_is_503(client):
    body = assert_problem(client.get("/api/v1/notifications"), 503)
    assert "notifications" in body["detail"]


def test_large_bodies_are_413(client):
    assert_problem(client.post("/api/v1/members", data=b"x" * (2 * 1024 * 1024)), 413)
    assert client.post("/api/v1/members", data=b"{}", content_type="application/json").status_code == 200


def test_healthz(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}
    assert response.headers["X-Request-ID"]


def test_gateway_paths_refuse_other_methods(client):
    assert_problem(client.post("/healthz"), 405)


def test_openapi_is_merged_live_from_the_apps(client):
    doc = client.get("/openapi.json").get_json()
    assert set(doc["paths"]) == {
        "/api/v1/members/{item_id}",
        "/api/v1/resources/{item_id}",
        "/api/v1/webhooks/stripe/{item_id}",
    }
    assert doc["paths"]["/api/v1/resources/{item_id}"]["get"]["tags"] == ["booking"]
    assert "Resource" in doc["components"]["schemas"]


def test_openapi_skips_apps_without_a_document():
    plain = Flask("plain")
    doc = Client(make_gateway_app({"booking": plain})).get("/openapi.json").get_json()
    assert doc["paths"] == {}


def test_docs_serve_swagger_ui_from_the_bundle(client):
    for path in ("/docs", "/docs/"):
        page = client.get(path)
        assert page.status_code == 200
        assert page.mimetype == "text/html"
        assert b"/docs/swagger-ui/swagger-ui-bundle.js" in page.data
    assert b"/openapi.json" in client.get("/docs/init.js").data
    bundle = client.get("/docs/swagger-ui/swagger-ui-bundle.js")
    assert bundle.status_code == 200
    assert "javascript" in bundle.mimetype
    assert_problem(client.get("/docs/swagger-ui/../../pyproject.toml"), 404)


def test_unknown_service_names_are_refused():
    with pytest.raises(ValueError):
        make_gateway_app({"payments": Flask("x")})


def test_a_client_cannot_claim_another_address():
    from flask import Flask, jsonify, request
    from werkzeug.test import Client

    from club_gateway.dispatcher import make_gateway_app

    echo = Flask("echo")

    @echo.get("/api/v1/members")
    def who():
        return jsonify(
            real_ip=request.headers.get("X-Real-IP"), forwarded=request.headers.get("X-Forwarded-For")
        )

    client = Client(make_gateway_app({"membership": echo}))
    body = client.get(
        "/api/v1/members",
        headers={"X-Real-IP": "6.6.6.6", "X-Forwarded-For": "6.6.6.6"},
        environ_base={"REMOTE_ADDR": "10.1.2.3"},
    ).get_json()
    assert body == {"real_ip": "10.1.2.3", "forwarded": "10.1.2.3"}
