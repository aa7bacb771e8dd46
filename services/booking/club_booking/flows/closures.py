"""Facility closures and manual availability blocks (domain.md §3)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from club_shared.problems import Problem
from club_shared.runtime import Runtime

from ..domain import closures as rules
from ..domain.status import OCCUPYING
from ..domain.timeranges import wall_span
from ..models import AvailabilityBlock, BookingRequest, FacilityClosure, Resource
from ..queries import active_resources
from .publishing import notify_staff


def _hhmm(value) -> str | None:
    return value.strftime("%H:%M") if value is not None else None


def closure_resource_ids(session: Session, closure_id: int) -> list[int]:
    return sorted(
        set(
            session.scalars(
                select(AvailabilityBlock.resource_id).where(AvailabilityBlock.closure_id == closure_id)
            )
        )
    )


def create_closure(session: Session, rt: Runtime, body: dict[str, Any], actor_email: str) -> dict[str, Any]:
    """Write the closure and a block per affected resource and day; mark bookings already in the
    range (they keep their status) and alert staff; publish booking.closure.created."""
    start_date = body["start_date"]
    end_date = body.get("end_date") or start_date
    try:
        days = rules.closure_days(start_date, end_date)
        start_time, end_time = rules.daily_times(body.get("start_time"), body.get("end_time"))
        areas_given = body.get("affected_areas") is not None
        areas = rules.normalise_areas(body.get("affected_areas"))
        refs = [rules.ResourceRef(r.id, r.type, r.trackman_bay_ref) for r in active_resources(session)]
        resource_ids = rules.affected_resources(areas, refs)
    except (ValueError, rules.InvalidAreas) as exc:
        raise Problem(422, str(exc), code="INVALID_CLOSURE") from None
    whole_day = body.get("start_time") is None
    closure = FacilityClosure(
        title=body["title"].strip(),
        reason=body.get("reason"),
        member_notice=body.get("member_notice"),
        notice_type=body.get("notice_type"),
        start_date=start_date,
        end_date=end_date,
        start_time=None if whole_day else start_time,
        end_time=None if whole_day else end_time,
        affected_areas=areas,
        notify_members=bool(body.get("notify_members")),
        needs_review=not areas_given or not body.get("notice_type"),
        closure_date=start_date,
        is_full_day=whole_day,
        affects_all_resources="entire_facility" in areas.split(","),
        created_by=actor_email,
    )
    session.add(closure)
    session.flush()
    affected: set[int] = set()
    for day in days:
        span = wall_span(day, start_time, end_time, rt.tz)
        for resource_id in resource_ids:
            session.execute(
                pg_insert(AvailabilityBlock)
                .values(
                    resource_id=resource_id,
                    block_date=day,
                    start_time=start_time,
                    end_time=end_time,
                    starts_at=span.start,
                    ends_at=span.end,
                    block_type="closure",
                    closure_id=closure.id,
                    notes=closure.title,
                    created_by=actor_email,
                )
                .on_conflict_do_nothing()
            )
        if resource_ids:
            affected.update(
                session.scalars(
                    select(BookingRequest.id).where(
                        BookingRequest.resource_id.in_(resource_ids),
                        BookingRequest.status.in_(OCCUPYING),
                        BookingRequest.starts_at < span.end,
                        BookingRequest.ends_at > span.start,
                    )
                )
            )
    if affected:
        session.execute(
            update(BookingRequest).where(BookingRequest.id.in_(affected)).values(closure_id=closure.id)
        )
        notify_staff(
            session,
            rt,
            "closure",
            f"Closure '{closure.title}' covers {len(affected)} booking(s)",
            "Bookings already in the closed time keep their status; review them: "
            + ", ".join(f"#{i}" for i in sorted(affected)),
        )
    data = {
        "closure_id": closure.id,
        "title": closure.title,
        "reason": closure.reason,
        "notice_type": closure.notice_type,
        "member_notice": closure.member_notice,
        "start_date": start_date.isoformat(),
        "end_date": end_date.isoformat(),
        "start_time": _hhmm(closure.start_time),
        "end_time": _hhmm(closure.end_time),
        "affected_areas": closure.affected_areas,
        "resource_ids": resource_ids,
        "notify_members": closure.notify_members,
        "needs_review": closure.needs_review,
        "affected_booking_ids": sorted(affected),
        "created_by": actor_email,
    }
    rt.publish(session, "booking.closure.created", data)
    return {"closure": closure, "resource_ids": resource_ids, "affected_booking_ids": sorted(affected)}


def delete_closure(session: Session, rt: Runtime, closure_id: int, actor_email: str, now: datetime) -> bool:
    """Deactivate the closure and remove its blocks; False when it was already deleted (a no-op)."""
    closure = session.scalar(
        select(FacilityClosure).where(FacilityClosure.id == closure_id).with_for_update()
    )
    if closure is None:
        raise Problem(404, "No such closure.")
    if not closure.is_active:
        return False
    resource_ids = closure_resource_ids(session, closure.id)
    session.execute(delete(AvailabilityBlock).where(AvailabilityBlock.closure_id == closure.id))
    closure.is_active = False
    closure.deleted_at = now
    rt.publish(
        session,
        "booking.closure.deleted",
        {
            "closure_id": closure.id,
            "title": closure.title,
            "resource_ids": resource_ids,
            "calendar_event_id": closure.calendar_event_id,
            "deleted_by": actor_email,
        },
    )
    return True


def add_block(
    session: Session, rt: Runtime, body: dict[str, Any], actor_email: str
) -> tuple[AvailabilityBlock, bool]:
    """A manual block; (block, created). A block inside an existing one on that resource is skipped:
    the existing one is returned with created False."""
    resource = session.get(Resource, body["resource_id"])
    if resource is None or not resource.is_active:
        raise Problem(404, "No such resource.", code="UNKNOWN_RESOURCE")
    if body["start_time"] == body["end_time"] and body["start_time"].hour + body["start_time"].minute:
        raise Problem(422, "A block's start and end must differ.", code="INVALID_BLOCK")
    span = wall_span(body["block_date"], body["start_time"], body["end_time"], rt.tz)
    container = session.scalar(
        select(AvailabilityBlock)
        .where(
            AvailabilityBlock.resource_id == resource.id,
            AvailabilityBlock.starts_at <= span.start,
            AvailabilityBlock.ends_at >= span.end,
        )
        .order_by(AvailabilityBlock.id)
        .limit(1)
    )
    if container is not None:
        return container, False
    block = AvailabilityBlock(
        resource_id=resource.id,
        block_date=body["block_date"],
        start_time=body["start_time"],
        end_time=body["end_time"],
        starts_at=span.start,
        ends_at=span.end,
        block_type=body.get("block_type") or "blocked",
        notes=body.get("notes"),
        created_by=actor_email,
    )
    session.add(block)
    session.flush()
    return block, True
