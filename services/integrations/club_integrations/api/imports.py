"""/api/v1/imports: every import this service ran, legacy purchase exports, and the calendar and
Eventbrite syncs (staff)."""

from __future__ import annotations

from flask import request
from flask_smorest import Blueprint
from marshmallow import RAISE
from sqlalchemy import select

from club_shared.auth import current_identity
from club_shared.jobs import enqueue as enqueue_job
from club_shared.problems import Problem
from club_shared.web import accepts, runtime

from ..context import audit, now, staff_only
from ..domain.legacy import LegacyRefused
from ..flows import common, legacy
from ..models import JOBS, CalendarSyncState, LegacyImportJob
from ..outside.calendars import eventbrite_enabled, google_enabled
from ..schemas import CalendarStatus, Enqueued, ImportJob, ImportJobQuery, ImportQuery

blp = Blueprint("imports", __name__, url_prefix="/api/v1/imports", description="Imports and syncs (staff)")
SECURITY = [{"bearerAuth": []}]


@blp.get("")
@staff_only
@blp.arguments(ImportJobQuery, location="query", unknown=RAISE)
@blp.response(200, ImportJob(many=True))
@blp.doc(security=SECURITY)
def list_imports(query):
    """Every import run here (TrackMan CSV, legacy purchases), newest first."""
    statement = select(LegacyImportJob)
    if query.get("import_type"):
        statement = statement.where(LegacyImportJob.import_type == query["import_type"])
    with runtime().db.transaction() as session:
        return session.scalars(
            statement.order_by(LegacyImportJob.id.desc()).limit(query["limit"]).offset(query["offset"])
        ).all()


@blp.get("/<int:job_id>")
@staff_only
@blp.response(200, ImportJob)
@blp.doc(security=SECURITY)
def get_import(job_id: int):
    with runtime().db.transaction() as session:
        job = session.get(LegacyImportJob, job_id)
        if job is None:
            raise Problem(404, "No such import.")
        return job


@blp.post("/legacy-purchases")
@staff_only
@accepts("multipart/form-data", "text/csv")
@blp.arguments(ImportQuery, location="query", unknown=RAISE)
@blp.response(201, ImportJob, description="Each line published for billing (legacy_purchases).")
@blp.alt_response(200, schema=ImportJob, description="This file was imported before: nothing changed.")
@blp.alt_response(422, description="Not a sales export, or no row can be imported.")
@blp.doc(security=SECURITY)
def import_legacy_purchases(query):
    """Upload the old point-of-sale export (sale id, line, email, date, category, item, quantity,
    amount, comp): multipart field `file`, or the body as text/csv with `?filename=`."""
    upload = request.files.get("file")
    if upload is not None:
        filename, content = (upload.filename or query.get("filename") or "purchases.csv")[:255], upload.read()
    elif request.mimetype == "text/csv":
        filename, content = query.get("filename") or "purchases.csv", request.get_data(cache=False)
    else:
        raise Problem(422, "Send the CSV as the multipart field `file`.", code="FILE_REQUIRED")
    rt = runtime()
    with rt.db.transaction() as session:
        try:
            job, again = legacy.import_purchases(
                rt, session, filename, content, current_identity().email, now()
            )
        except LegacyRefused as exc:
            raise Problem(422, str(exc), code="INVALID_CSV") from None
        if not again:
            common.audit(
                rt,
                session,
                audit(
                    "legacy_purchases_imported",
                    "legacy_import_job",
                    job.id,
                    filename=filename,
                    imported=job.records_imported,
                ),
            )
        job.already_imported = again
        return job, 200 if again else 201


@blp.get("/calendars")
@staff_only
@blp.response(200, CalendarStatus)
@blp.doc(security=SECURITY)
def calendar_status():
    """Whether Google Calendar and Eventbrite are on, and each calendar's last sync."""
    settings = runtime().settings
    with runtime().db.transaction() as session:
        states = [
            {
                "calendar": s.calendar,
                "calendar_id": s.calendar_id,
                "last_synced_at": s.last_synced_at.isoformat() if s.last_synced_at else None,
                "last_error": s.last_error,
            }
            for s in session.scalars(select(CalendarSyncState).order_by(CalendarSyncState.calendar))
        ]
    return {
        "google_enabled": google_enabled(settings),
        "eventbrite_enabled": eventbrite_enabled(settings),
        "calendars": states,
    }


@blp.post("/calendars/sync")
@staff_only
@blp.response(202, Enqueued)
@blp.doc(security=SECURITY)
def sync_calendars():
    """Sync the Google calendars now, in the worker."""
    if not google_enabled(runtime().settings):
        raise Problem(
            503,
            "Google Calendar is off: GOOGLE_CALENDAR_ACCESS_TOKEN and GOOGLE_CALENDAR_IDS are not set.",
            code="CALENDAR_DISABLED",
        )
    with runtime().db.transaction() as session:
        job_id = enqueue_job(session, JOBS, "calendar_sync", {"manual": True})
    return {"id": job_id, "status": "queued"}


@blp.post("/eventbrite/sync")
@staff_only
@blp.response(202, Enqueued)
@blp.doc(security=SECURITY)
def sync_eventbrite():
    """Sync Eventbrite's events and attendees now, in the worker."""
    if not eventbrite_enabled(runtime().settings):
        raise Problem(
            503,
            "Eventbrite is off: EVENTBRITE_TOKEN and EVENTBRITE_ORGANIZATION_ID are not set.",
            code="EVENTBRITE_DISABLED",
        )
    with runtime().db.transaction() as session:
        job_id = enqueue_job(session, JOBS, "eventbrite_sync", {"manual": True})
    return {"id": job_id, "status": "queued"}
