"""/api/v1/resources: the bays and rooms."""

from __future__ import annotations

from flask_smorest import Blueprint
from sqlalchemy import select

from club_shared.problems import Problem
from club_shared.web import runtime

from ..flows.publishing import audit
from ..models import Resource
from ..schemas import ResourceIn, ResourceOut, ResourcePatch
from .common import admin_only, caller, unit_of_work

blp = Blueprint("resources", __name__, url_prefix="/api/v1/resources", description="Bays and rooms")


@blp.get("")
@blp.response(200, ResourceOut(many=True))
def list_resources():
    """Every active resource (public)."""
    with unit_of_work() as session:
        return session.scalars(
            select(Resource).where(Resource.is_active.is_(True)).order_by(Resource.sort_order, Resource.id)
        ).all()


@blp.get("/<int(max=2147483647):resource_id>")
@blp.response(200, ResourceOut)
def get_resource(resource_id: int):
    with unit_of_work() as session:
        resource = session.get(Resource, resource_id)
        if resource is None:
            raise Problem(404, "No such resource.")
        return resource


@blp.post("")
@admin_only
@blp.arguments(ResourceIn)
@blp.response(201, ResourceOut)
def create_resource(body):
    """Add a bay or room (admin)."""
    kind = "simulator" if body["type"] == "golf_simulator" else body["type"]
    with unit_of_work() as session:
        if session.scalar(select(Resource.id).where(Resource.name == body["name"].strip())):
            raise Problem(409, "A resource with that name exists.", code="NAME_TAKEN")
        resource = Resource(**{**body, "name": body["name"].strip(), "type": kind})
        session.add(resource)
        session.flush()
        audit(session, runtime(), caller().email, "resource_created", "resource", resource.id, body)
        return resource


@blp.patch("/<int(max=2147483647):resource_id>")
@admin_only
@blp.arguments(ResourcePatch)
@blp.response(200, ResourceOut)
def update_resource(body, resource_id: int):
    with unit_of_work() as session:
        resource = session.get(Resource, resource_id)
        if resource is None:
            raise Problem(404, "No such resource.")
        for key, value in body.items():
            setattr(resource, key, value)
        session.flush()
        audit(session, runtime(), caller().email, "resource_updated", "resource", resource.id, body)
        return resource
