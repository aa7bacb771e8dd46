"""/api/v1/availability: free and busy time per resource on one club day."""

from __future__ import annotations

import json

from flask import Response
from flask_smorest import Blueprint

from club_shared.problems import Problem
from club_shared.web import runtime

from .. import queries
from ..domain.availability import merge
from ..domain.timeranges import day_span
from ..schemas import AvailabilityOut, AvailabilityQuery
from .common import caller, signed_in, unit_of_work

blp = Blueprint("availability", __name__, url_prefix="/api/v1/availability", description="Free and busy time")


class _ClubTimes(dict):
    """Instants as club-time ISO strings, each converted once: the five resources of a day share
    their slot boundaries, and a day is a few hundred of them."""

    def __init__(self, tz):
        super().__init__()
        self.tz = tz

    def __missing__(self, instant):
        self[instant] = text = instant.astimezone(self.tz).isoformat()
        return text

    def span(self, span) -> dict[str, str]:
        return {"start": self[span.start], "end": self[span.end]}


@blp.get("")
@signed_in
@blp.arguments(AvailabilityQuery, location="query")
@blp.response(200, AvailabilityOut)
def availability(query):
    """Hours, closures, blocks and bookings merged into free and busy intervals, in club time.
    A member's own bookings show as theirs; everyone else's only as taken."""
    who = caller()
    tz = runtime().tz
    day = query["date"]
    whole_day = day_span(day, tz)
    with unit_of_work() as session:
        resources = queries.active_resources(session, query["resource_id"])
        if query["resource_id"] is not None and not resources:
            raise Problem(404, "No such resource.")
        settings = queries.settings(session)
        mine = queries.emails_of(session, who.email) if who.email else set()
        busy = queries.occupancy(session, [r.id for r in resources], whole_day)
    open_span = settings.business_hours.span(day, tz)
    club_span = _ClubTimes(tz).span
    out = []
    for resource in resources:
        merged = merge(whole_day, open_span, busy[resource.id], resource.slot_minutes)
        items = []
        for b in merged.busy:
            own = b.details.get("owner_email") in mine
            item = {**club_span(b.span), "kind": b.kind, "mine": own}
            if who.is_staff or own:
                item.update(
                    {k: b.details.get(k) for k in ("booking_id", "status", "owner_email", "session_id")}
                )
            if b.kind in ("block", "closure"):
                item.update(block_type=b.details.get("block_type"), closure_id=b.details.get("closure_id"))
            items.append(item)
        out.append(
            {
                "resource_id": resource.id,
                "name": resource.name,
                "type": resource.type,
                "slot_minutes": resource.slot_minutes,
                "open": club_span(open_span) if open_span else None,
                "busy": items,
                "free": [club_span(s) for s in merged.free],
                "slots": [{**club_span(s.span), "available": s.available} for s in merged.slots],
            }
        )
    # Dumped here rather than by the schema (which documents it): a day is a few hundred small
    # objects, and this is the hottest read of the club.
    body = {"date": day.isoformat(), "timezone": tz.key, "resources": out}
    return Response(json.dumps(body, separators=(",", ":")), mimetype="application/json")
