"""TrackMan CSV import: parse, record the run, publish each changed row for booking to match.

A rerun of the same file (same bytes) returns the earlier run and changes nothing; a row whose
booking is already as the row says (same status and content as last processed) is `unchanged`.
"""

from __future__ import annotations

import hashlib
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from club_shared.runtime import Runtime

from ..domain import trackman_csv
from ..models import LegacyImportJob, TrackmanImportRow, TrackmanImportRun
from . import common
from . import trackman as flows

MAX_ERRORS_KEPT = 200


class ImportRefused(ValueError):
    pass


def import_csv(
    runtime: Runtime, session: Session, filename: str, content: bytes, by: str | None, now: datetime
) -> tuple[TrackmanImportRun, bool]:
    """The run and whether it was already imported (then nothing changed)."""
    digest = hashlib.sha256(content).hexdigest()
    earlier = session.scalar(
        select(TrackmanImportRun)
        .where(TrackmanImportRun.file_sha256 == digest, TrackmanImportRun.status == "completed")
        .order_by(TrackmanImportRun.id.desc())
        .limit(1)
    )
    if earlier is not None:
        return earlier, True
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ImportRefused("The file is not UTF-8 text.") from None
    try:
        rows, errors = trackman_csv.parse(text, runtime.tz, now, common.placeholder_patterns(session))
    except trackman_csv.CsvRefused as exc:
        raise ImportRefused(str(exc)) from None
    if not rows:
        detail = f" (line {errors[0].line}: {errors[0].message})" if errors else ""
        raise ImportRefused(f"No row of the file can be imported{detail}.")

    job = LegacyImportJob(
        import_type="trackman_csv", filename=filename, file_sha256=digest, started_by=by, started_at=now
    )
    session.add(job)
    session.flush()
    run = TrackmanImportRun(
        filename=filename, file_sha256=digest, imported_by=by, started_at=now, legacy_import_job_id=job.id
    )
    session.add(run)
    session.flush()
    published = unchanged = 0
    for row in rows:
        if flows.already_current(session, row.event):
            unchanged += 1
            session.add(
                TrackmanImportRow(
                    run_id=run.id,
                    line=row.line,
                    outcome="unchanged",
                    trackman_booking_id=row.event.booking.trackman_booking_id,
                )
            )
            continue
        data = flows.process(
            runtime,
            session,
            None,
            row.event,
            source="csv_import",
            now=now,
            import_run_id=run.id,
            extra={"target_status": row.target_status, "record_as_paid": row.record_as_paid},
        )
        session.add(
            TrackmanImportRow(
                run_id=run.id,
                line=row.line,
                outcome="published",
                data=data,
                trackman_booking_id=row.event.booking.trackman_booking_id,
            )
        )
        published += 1
    kept = [{"line": e.line, "message": e.message} for e in errors[:MAX_ERRORS_KEPT]]
    run.records_processed = len(rows) + len(errors)
    run.records_published = published
    run.unchanged = unchanged
    run.invalid = len(errors)
    run.errors = kept
    run.status = "completed"
    run.completed_at = now
    job.records_processed = run.records_processed
    job.records_imported = published
    job.records_skipped = unchanged
    job.failed_rows = kept
    job.status = "completed"
    job.completed_at = now
    return run, False
