from __future__ import annotations

import pytest
from flask import Flask
from flask_smorest import Api, Blueprint
from marshmallow import Schema, fields

from club_gateway import openapi


def spec(paths=None, schemas=None, **extra) -> dict:
    doc = {"openapi": "3.1.0", "info": {"title": "t", "version": "v1"}, "paths": paths or {}}
    if schemas is not None:
        doc["components"] = {"schemas": schemas}
    doc.update(extra)
    return doc


def get_op(ref: str, tags=("things",)) -> dict:
    return {
        "get": {
            "tags": list(tags),
            "responses": {"200": {"content": {"application/json": {"schema": {"$ref": ref}}}}},
        }
    }


ERROR = {"type": "object", "properties": {"detail": {"type": "string"}}}


def test_paths_and_components_are_merged_with_a_tag_per_service():
    merged = openapi.merge(
        {
            "membership": spec({"/api/v1/members": get_op("#/components/schemas/Member")}, {"Member": {}}),
            "booking": spec({"/api/v1/resources": get_op("#/components/schemas/Resource")}, {"Resource": {}}),
        },
        warn=pytest.fail,
    )
    assert list(merged["paths"]) == ["/api/v1/members", "/api/v1/resources"]
    assert merged["paths"]["/api/v1/members"]["get"]["tags"] == ["membership"]
    assert merged["paths"]["/api/v1/resources"]["get"]["tags"] == ["booking"]
    assert [t["name"] for t in merged["tags"]] == ["membership", "booking"]
    assert set(merged["components"]["schemas"]) == {"Member", "Resource"}
    assert merged["openapi"] == "3.1.0"


def test_equal_components_are_shared_not_renamed():
    merged = openapi.merge(
        {
            "membership": spec({"/api/v1/members": get_op("#/components/schemas/Error")}, {"Error": ERROR}),
            "booking": spec({"/api/v1/resources": get_op("#/components/schemas/Error")}, {"Error": ERROR}),
        }
    )
    assert merged["components"]["schemas"] == {"Error": ERROR}


def test_colliding_components_get_the_service_name_and_references_follow():
    member_a = {"type": "object", "properties": {"tier": {"type": "string"}}}
    member_b = {"type": "object", "properties": {"bays": {"type": "integer"}}}
    # Same content, but it points at the colliding Member: it must be split too.
    wrapper = {"type": "array", "items": {"$ref": "#/components/schemas/Member"}}
    merged = openapi.merge(
        {
            "membership": spec(
                {"/api/v1/members": get_op("#/components/schemas/Members")},
                {"Member": member_a, "Members": wrapper, "Error": ERROR},
            ),
            "booking": spec(
                {"/api/v1/guests": get_op("#/components/schemas/Members")},
                {"Member": member_b, "Members": wrapper, "Error": ERROR},
            ),
        }
    )
    schemas = merged["components"]["schemas"]
    assert set(schemas) == {
        "MembershipMember",
        "BookingMember",
        "MembershipMembers",
        "BookingMembers",
        "Error",
    }
    assert schemas["MembershipMembers"]["items"] == {"$ref": "#/components/schemas/MembershipMember"}
    assert schemas["BookingMembers"]["items"] == {"$ref": "#/components/schemas/BookingMember"}
    response = merged["paths"]["/api/v1/guests"]["get"]["responses"]["200"]
    assert response["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/BookingMembers"
    }


def test_renamed_security_schemes_are_renamed_in_requirements():
    membership = spec({"/api/v1/members": get_op("#/components/schemas/X")}, {"X": {}})
    membership["components"]["securitySchemes"] = {"auth": {"type": "http", "scheme": "bearer"}}
    membership["security"] = [{"auth": []}]
    booking = spec({"/api/v1/resources": get_op("#/components/schemas/X")}, {"X": {}})
    booking["components"]["securitySchemes"] = {"auth": {"type": "apiKey", "in": "header", "name": "K"}}
    merged = openapi.merge({"membership": membership, "booking": booking})
    assert set(merged["components"]["securitySchemes"]) == {"MembershipAuth", "BookingAuth"}
    assert merged["paths"]["/api/v1/members"]["get"]["security"] == [{"MembershipAuth": []}]
    assert "security" not in merged["paths"]["/api/v1/resources"]["get"]
    assert "security" not in merged


def test_paths_the_gateway_sends_elsewhere_are_dropped_with_a_warning():
    warnings = []
    merged = openapi.merge(
        {"membership": spec({"/api/v1/members": get_op("#/x"), "/api/v1/resources": get_op("#/x")})},
        warn=warnings.append,
    )
    assert list(merged["paths"]) == ["/api/v1/members"]
    assert "/api/v1/resources" in warnings[0]


def test_services_without_endpoints_merge_to_a_valid_document():
    merged = openapi.merge({"billing": spec()})
    assert merged["paths"] == {}
    assert merged["tags"] == [{"name": "billing", "description": "t"}]
    assert "components" not in merged


def test_no_services_at_all():
    merged = openapi.merge({})
    assert merged["paths"] == {} and merged["openapi"] == openapi.DEFAULT_OPENAPI_VERSION


class ThingSchema(Schema):
    id = fields.Int()


def smorest_app(prefix: str) -> Flask:
    app = Flask(__name__)
    app.config.update(
        API_TITLE="stand-in",
        API_VERSION="v1",
        OPENAPI_VERSION="3.1.0",
        OPENAPI_URL_PREFIX="/",
        OPENAPI_JSON_PATH="openapi.json",
    )
    api = Api(app)
    blp = Blueprint("things", __name__, url_prefix=f"/api/v1/{prefix}")

    @blp.route("/<int:thing_id>")
    @blp.response(200, ThingSchema)
    def get_thing(thing_id):
        return {"id": thing_id}

    api.register_blueprint(blp)
    return app


def test_specs_are_fetched_from_flask_smorest_apps():
    specs = {
        "booking": openapi.fetch_spec(smorest_app("resources")),
        "billing": openapi.fetch_spec(smorest_app("fees")),
    }
    merged = openapi.merge(specs)
    assert set(merged["paths"]) == {"/api/v1/resources/{thing_id}", "/api/v1/fees/{thing_id}"}
    assert "Thing" in merged["components"]["schemas"]


def test_missing_service_module_is_skipped_unless_strict(monkeypatch):
    from club_gateway import routes

    monkeypatch.setitem(routes.BY_NAME, "ghost", routes.Service("ghost", 9999, ()))
    warnings = []
    assert openapi.load_specs(["ghost"], warn=warnings.append) == {}
    assert "club_ghost.app does not exist" in warnings[0]
    with pytest.raises(openapi.ServiceMissing):
        openapi.load_specs(["ghost"], strict=True)
