"""/api/v1/content: FAQs and the gallery (staff edit), the café menu and staff training guides
(admins edit), and the liability waiver (admins publish versions). Public reads, except training."""

from __future__ import annotations

from typing import Any

from flask import request
from flask_smorest import Blueprint
from marshmallow import Schema, fields
from sqlalchemy import select
from sqlalchemy.orm import Session

from club_shared.auth import current_identity
from club_shared.problems import Problem
from club_shared.web import runtime

from ..actions import audit
from ..actions import waiver as waiver_actions
from ..context import actor, admin_only, public, staff_only
from ..models import CafeItem, Faq, GalleryImage, TrainingSection
from ..schemas import (
    CafeIn,
    CafeOut,
    FaqIn,
    FaqOut,
    GalleryIn,
    GalleryOut,
    TrainingIn,
    TrainingOut,
    WaiverOut,
    WaiverPublish,
)

blp = Blueprint("content", __name__, url_prefix="/api/v1/content", description="Club content")


class ContentQuery(Schema):
    include_inactive = fields.Boolean(load_default=False, metadata={"description": "staff only"})
    category = fields.String()


def _cafe_event(session: Session, item: CafeItem, *, deleted: bool = False) -> None:
    runtime().publish(
        session,
        "membership.cafe_item.updated",
        {
            "item_id": item.id,
            "name": item.name,
            "category": item.category,
            "price_cents": item.price_cents,
            "description": item.description,
            "is_active": item.is_active and not deleted,
            "deleted": deleted,
            "stripe_product_id": item.stripe_product_id,
        },
    )


def _wants_inactive(query: dict[str, Any]) -> bool:
    if not query.get("include_inactive"):
        return False
    if not request.headers.get("Authorization"):
        return False
    return current_identity().is_staff


def _register(
    kind: str, model, schema_in, schema_out, *, read, write, unique: tuple[str, ...], on_change=None
):
    """GET list (read), POST (write), PATCH and DELETE by id (write) for one kind of content."""
    label = kind.rstrip("s") if kind != "gallery" else "gallery image"

    def load(session: Session, item_id: int):
        item = session.get(model, item_id, with_for_update=True)
        if item is None:
            raise Problem(404, f"No such {label}.", code="NOT_FOUND")
        return item

    def ensure_unique(session: Session, values: dict[str, Any], item_id: int | None = None) -> None:
        for column in unique:
            if column in values:
                clash = session.scalar(
                    select(model.id).where(
                        getattr(model, column) == values[column], model.id != (item_id or -1)
                    )
                )
                if clash:
                    raise Problem(409, f"Another {label} has that {column}.", code="CONFLICT")

    @blp.get(f"/{kind}", endpoint=f"list_{kind}")
    @read
    @blp.arguments(ContentQuery, location="query")
    @blp.response(200, schema_out(many=True))
    def list_items(query):
        with runtime().db.transaction() as session:
            stmt = select(model).order_by(model.sort_order, model.id)
            if hasattr(model, "is_active") and not _wants_inactive(query):
                stmt = stmt.where(model.is_active)
            if query.get("category") and hasattr(model, "category"):
                stmt = stmt.where(model.category == query["category"])
            if model is TrainingSection and current_identity().role != "admin":
                stmt = stmt.where(~TrainingSection.admin_only)
            return session.scalars(stmt).all()

    @blp.post(f"/{kind}", endpoint=f"create_{kind}")
    @write
    @blp.arguments(schema_in)
    @blp.response(201, schema_out)
    def create_item(body):
        with runtime().db.transaction() as session:
            ensure_unique(session, body)
            item = model(**body)
            session.add(item)
            session.flush()
            if on_change:
                on_change(session, item)
            audit.record(session, actor(), f"{kind}.created", kind, item.id, resource_name=_title(item))
            return item

    @blp.patch(f"/{kind}/<int:item_id>", endpoint=f"update_{kind}")
    @write
    @blp.arguments(type(f"{schema_in.__name__}Patch", (schema_in,), {})(partial=True))
    @blp.response(200, schema_out)
    def update_item(body, item_id: int):
        with runtime().db.transaction() as session:
            item = load(session, item_id)
            ensure_unique(session, body, item_id)
            for key, value in body.items():
                setattr(item, key, value)
            session.flush()
            session.refresh(item)
            if on_change and body:
                on_change(session, item)
            audit.record(
                session,
                actor(),
                f"{kind}.updated",
                kind,
                item.id,
                resource_name=_title(item),
                details={"changed": sorted(body)},
            )
            return item

    @blp.delete(f"/{kind}/<int:item_id>", endpoint=f"delete_{kind}")
    @write
    @blp.response(204)
    def delete_item(item_id: int):
        with runtime().db.transaction() as session:
            item = load(session, item_id)
            if on_change:
                on_change(session, item, deleted=True)
            session.delete(item)
            audit.record(session, actor(), f"{kind}.deleted", kind, item_id, resource_name=_title(item))


def _title(item) -> str | None:
    return getattr(item, "title", None) or getattr(item, "name", None) or getattr(item, "question", None)


_register("faqs", Faq, FaqIn, FaqOut, read=public, write=staff_only, unique=())
_register("gallery", GalleryImage, GalleryIn, GalleryOut, read=public, write=staff_only, unique=())
_register(
    "cafe", CafeItem, CafeIn, CafeOut, read=public, write=admin_only, unique=("name",), on_change=_cafe_event
)
_register(
    "training",
    TrainingSection,
    TrainingIn,
    TrainingOut,
    read=staff_only,
    write=admin_only,
    unique=("guide_id", "title"),
)


@blp.get("/waiver")
@public
@blp.response(200, WaiverOut)
def current_waiver():
    """The liability waiver members must sign (its `version` is what they sign)."""
    with runtime().db.transaction() as session:
        return waiver_actions.current(session)


@blp.post("/waiver")
@admin_only
@blp.arguments(WaiverPublish)
@blp.response(201, WaiverOut)
def publish_waiver(body):
    """Publish a new waiver version: every member must sign it before booking, RSVP or enrolment
    (membership.setting.updated `waiver.current_version` tells the other services)."""
    with runtime().db.transaction() as session:
        return waiver_actions.publish(session, runtime(), actor(), title=body["title"], body=body["body"])
