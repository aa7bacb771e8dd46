"""/api/v1/availability-blocks: manual blocks (staff, audited)."""

from __future__ import annotations

from flask_smorest import Blueprint
from sqlalchemy import select

from club_shared.problems import Problem
from club_shared.web import runtime

from ..domain.timeranges import day_span
from ..flows.closures import add_block
from ..flows.publishing import audit
from ..models import AvailabilityBlock
from ..schemas import BlockIn, BlockOut, BlockQuery
from .common import caller, staff_only, unit_of_work

blp = Blueprint(
    "availability_blocks", __name__, url_prefix="/api/v1/availability-blocks", description="Manual blocks"
)


@blp.get("")
@staff_only
@blp.arguments(BlockQuery, location="query")
@blp.response(200, BlockOut(many=True))
def list_blocks(query):
    """Blocks touching a club day (including ones spilling over from the day before)."""
    span = day_span(query["date"], runtime().tz)
    with unit_of_work() as session:
        q = select(AvailabilityBlock).where(
            AvailabilityBlock.starts_at < span.end, AvailabilityBlock.ends_at > span.start
        )
        if query["resource_id"] is not None:
            q = q.where(AvailabilityBlock.resource_id == query["resource_id"])
        return session.scalars(q.order_by(AvailabilityBlock.starts_at, AvailabilityBlock.resource_id)).all()


@blp.post("")
@staff_only
@blp.arguments(BlockIn)
@blp.response(201, BlockOut)
@blp.alt_response(200, schema=BlockOut, description="Inside an existing block: skipped, that block returned")
def create_block(body):
    who = caller()
    with unit_of_work() as session:
        block, created = add_block(session, runtime(), body, who.email)
        if not created:
            return block, 200
        audit(session, runtime(), who.email, "availability_block_added", "availability_block", block.id, body)
        return block


@blp.delete("/<int(max=2147483647):block_id>")
@staff_only
@blp.response(204)
def delete_block(block_id: int):
    who = caller()
    with unit_of_work() as session:
        block = session.get(AvailabilityBlock, block_id)
        if block is None:
            return
        if block.closure_id is not None:
            raise Problem(409, "This block belongs to a closure: delete the closure.", code="CLOSURE_BLOCK")
        session.delete(block)
        audit(session, runtime(), who.email, "availability_block_removed", "availability_block", block_id)
