"""/api/v1/trackman: the webhook log, unmatched bookings, the bay-slot cache (staff)."""

from __future__ import annotations

from flask import request
from flask_smorest import Blueprint
from marshmallow import RAISE
from sqlalchemy import select

from club_shared.auth import current_identity
from club_shared.problems import Problem
from club_shared.web import accepts, runtime

from ..context import audit, now, staff_only
from ..flows import common, trackman_import
from ..flows import trackman as flows
from ..models import TrackmanBaySlot, TrackmanImportRun, TrackmanUnmatchedBooking, TrackmanWebhookEvent
from ..schemas import (
    Backfill,
    BaySlot,
    BaySlotQuery,
    Count,
    ImportQuery,
    ImportRun,
    Page,
    Resolve,
    RetryResult,
    Unmatched,
    UnmatchedQuery,
    WebhookEvent,
    WebhookEventQuery,
)

blp = Blueprint("trackman", __name__, url_prefix="/api/v1/trackman", description="TrackMan (staff)")
SECURITY = [{"bearerAuth": []}]


@blp.get("/webhook-events")
@staff_only
@blp.arguments(WebhookEventQuery, location="query", unknown=RAISE)
@blp.response(200, WebhookEvent(many=True))
@blp.doc(security=SECURITY)
def list_webhook_events(query):
    """The webhook log, newest first (payloads redacted)."""
    statement = select(TrackmanWebhookEvent)
    if query.get("status"):
        statement = statement.where(TrackmanWebhookEvent.status == query["status"])
    if query.get("trackman_booking_id"):
        statement = statement.where(TrackmanWebhookEvent.trackman_booking_id == query["trackman_booking_id"])
    if query["unmatched_only"]:
        statement = statement.where(
            TrackmanWebhookEvent.status == "processed", TrackmanWebhookEvent.matched_booking_id.is_(None)
        )
    with runtime().db.transaction() as session:
        return session.scalars(
            statement.order_by(TrackmanWebhookEvent.id.desc()).limit(query["limit"]).offset(query["offset"])
        ).all()


@blp.post("/webhook-events/<int:event_id>/retry")
@staff_only
@blp.response(200, RetryResult)
@blp.doc(security=SECURITY)
def retry_webhook_event(event_id: int):
    """Process a stored event again (booking re-matches it)."""
    rt = runtime()
    with rt.db.transaction() as session:
        row = session.get(TrackmanWebhookEvent, event_id, with_for_update=True)
        if row is None:
            raise Problem(404, "No such webhook event.")
        if row.status in ("duplicate", "ignored"):
            raise Problem(409, f"A {row.status} event is not processed.", code="STATE_CONFLICT")
        outcome = flows.retry(rt, session, row, now())
        common.audit(
            rt,
            session,
            audit("trackman_webhook_retried", "trackman_webhook_event", event_id, outcome=outcome),
        )
    return {"id": event_id, "outcome": outcome}


@blp.post("/webhook-events/backfill")
@staff_only
@blp.arguments(Backfill)
@blp.response(200, Count)
@blp.doc(security=SECURITY)
def backfill(body):
    """Send booking again every TrackMan booking received in the range that is still not matched."""
    rt = runtime()
    with rt.db.transaction() as session:
        count = flows.backfill(rt, session, body["since"], body["until"], now())
        common.audit(
            rt,
            session,
            audit(
                "trackman_backfill",
                "trackman_webhook_event",
                None,
                since=body["since"].isoformat(),
                until=body["until"].isoformat(),
                count=count,
            ),
        )
    return {"count": count}


@blp.get("/unmatched")
@staff_only
@blp.arguments(UnmatchedQuery, location="query", unknown=RAISE)
@blp.response(200, Unmatched(many=True))
@blp.doc(security=SECURITY)
def list_unmatched(query):
    """Unmatched TrackMan bookings (unresolved by default), by date and time."""
    statement = select(TrackmanUnmatchedBooking)
    if query["status"] != "all":
        statement = statement.where(TrackmanUnmatchedBooking.status == query["status"])
    if query.get("date"):
        statement = statement.where(TrackmanUnmatchedBooking.booking_date == query["date"])
    statement = statement.order_by(
        TrackmanUnmatchedBooking.booking_date,
        TrackmanUnmatchedBooking.start_time,
        TrackmanUnmatchedBooking.id,
    )
    with runtime().db.transaction() as session:
        return session.scalars(statement.limit(query["limit"]).offset(query["offset"])).all()


@blp.get("/unmatched/<int:item_id>")
@staff_only
@blp.response(200, Unmatched)
@blp.doc(security=SECURITY)
def get_unmatched(item_id: int):
    with runtime().db.transaction() as session:
        item = session.get(TrackmanUnmatchedBooking, item_id)
        if item is None:
            raise Problem(404, "No such unmatched booking.")
        return item


@blp.post("/unmatched/<int:item_id>/resolve")
@staff_only
@blp.arguments(Resolve)
@blp.response(200, Unmatched)
@blp.doc(security=SECURITY)
def resolve_unmatched(body, item_id: int):
    """Assign a member by e-mail (optionally remembering the booking's e-mail as theirs), mark a
    private event, or redeem a visitor's day pass; booking applies it."""
    rt = runtime()
    by = current_identity().email
    with rt.db.transaction() as session:
        item = session.get(TrackmanUnmatchedBooking, item_id, with_for_update=True)
        if item is None:
            raise Problem(404, "No such unmatched booking.")
        try:
            changed = flows.resolve(rt, session, item, body, by, now())
        except flows.ResolveRefused as exc:
            raise Problem(exc.status, str(exc), code=exc.code) from None
        if changed:
            common.audit(
                rt,
                session,
                audit(
                    "trackman_unmatched_resolved",
                    "trackman_booking",
                    item.trackman_booking_id,
                    resolution=body["resolution"],
                    member_email=item.resolved_email,
                    remember_email=item.remember_email,
                ),
            )
        return item


@blp.get("/bay-slots")
@staff_only
@blp.arguments(BaySlotQuery, location="query", unknown=RAISE)
@blp.response(200, BaySlot(many=True))
@blp.doc(security=SECURITY)
def bay_slots(query):
    """What TrackMan says occupies the bays on a club date."""
    statement = select(TrackmanBaySlot).where(TrackmanBaySlot.slot_date == query["date"])
    if not query["include_cancelled"]:
        statement = statement.where(TrackmanBaySlot.status != "cancelled")
    with runtime().db.transaction() as session:
        return session.scalars(
            statement.order_by(TrackmanBaySlot.resource_id, TrackmanBaySlot.start_time)
        ).all()


@blp.post("/imports")
@staff_only
@accepts("multipart/form-data", "text/csv")
@blp.arguments(ImportQuery, location="query", unknown=RAISE)
@blp.response(201, ImportRun, description="Imported: each changed row goes to booking to match.")
@blp.alt_response(200, schema=ImportRun, description="This file was imported before: nothing changed.")
@blp.alt_response(422, description="Not a TrackMan CSV export, or no row can be imported.")
@blp.doc(security=SECURITY)
def import_csv(query):
    """Upload a TrackMan CSV export (multipart field `file`, or the body as text/csv with
    `?filename=`). Placeholder e-mails are ignored; players are read from the notes."""
    upload = request.files.get("file")
    if upload is not None:
        filename = (upload.filename or query.get("filename") or "trackman.csv")[:255]
        content = upload.read()
    elif request.mimetype == "text/csv":
        filename = query.get("filename") or "trackman.csv"
        content = request.get_data(cache=False)
    else:
        raise Problem(422, "Send the CSV as the multipart field `file`.", code="FILE_REQUIRED")
    if not content.strip():
        raise Problem(422, "The file is empty.", code="INVALID_CSV")
    rt = runtime()
    by = current_identity().email
    with rt.db.transaction() as session:
        try:
            run, again = trackman_import.import_csv(rt, session, filename, content, by, now())
        except trackman_import.ImportRefused as exc:
            raise Problem(422, str(exc), code="INVALID_CSV") from None
        if not again:
            common.audit(
                rt,
                session,
                audit(
                    "trackman_csv_imported",
                    "trackman_import_run",
                    run.id,
                    filename=filename,
                    published=run.records_published,
                    unchanged=run.unchanged,
                    invalid=run.invalid,
                ),
            )
        run.already_imported = again
        return run, 200 if again else 201


@blp.get("/imports")
@staff_only
@blp.arguments(Page, location="query", unknown=RAISE)
@blp.response(200, ImportRun(many=True))
@blp.doc(security=SECURITY)
def list_imports(query):
    with runtime().db.transaction() as session:
        return session.scalars(
            select(TrackmanImportRun)
            .order_by(TrackmanImportRun.id.desc())
            .limit(query["limit"])
            .offset(query["offset"])
        ).all()


@blp.get("/imports/<int:run_id>")
@staff_only
@blp.response(200, ImportRun)
@blp.doc(security=SECURITY)
def get_import(run_id: int):
    """A run, with booking's answers counted as they arrive (matched, unmatched, skipped)."""
    with runtime().db.transaction() as session:
        run = session.get(TrackmanImportRun, run_id)
        if run is None:
            raise Problem(404, "No such import run.")
        return run
