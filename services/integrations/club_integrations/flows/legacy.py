"""Legacy imports: every import this service runs is a `legacy_import_jobs` row; the legacy
point-of-sale export is published line by line for billing (integrations.legacy_purchase.imported)."""

from __future__ import annotations

import hashlib
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from club_shared.runtime import Runtime

from ..domain import legacy
from ..models import LegacyImportJob
from . import common

IMPORTED = "integrations.legacy_purchase.imported"
MAX_ERRORS_KEPT = 200


def import_purchases(
    runtime: Runtime, session: Session, filename: str, content: bytes, by: str | None, now: datetime
) -> tuple[LegacyImportJob, bool]:
    """The job, and whether this file was imported before (then nothing changed)."""
    digest = hashlib.sha256(content).hexdigest()
    earlier = session.scalar(
        select(LegacyImportJob)
        .where(
            LegacyImportJob.import_type == "legacy_purchases",
            LegacyImportJob.file_sha256 == digest,
            LegacyImportJob.status == "completed",
        )
        .limit(1)
    )
    if earlier is not None:
        return earlier, True
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise legacy.LegacyRefused("The file is not UTF-8 text.") from None
    lines, errors = legacy.parse(text, common.placeholder_patterns(session))
    if not lines:
        detail = f" (line {errors[0][0]}: {errors[0][1]})" if errors else ""
        raise legacy.LegacyRefused(f"No row of the file can be imported{detail}.")
    job = LegacyImportJob(
        import_type="legacy_purchases", filename=filename, file_sha256=digest, started_by=by, started_at=now
    )
    session.add(job)
    session.flush()
    seen: set[tuple[str, int]] = set()
    skipped = 0
    for line in lines:
        key = (line.source_sale_id, line.line_no)
        if key in seen:
            skipped += 1
            continue
        seen.add(key)
        runtime.publish(
            session,
            IMPORTED,
            {
                "import_job_id": job.id,
                "source_sale_id": line.source_sale_id,
                "line_no": line.line_no,
                "member_email": line.member_email,
                "purchased_on": line.purchased_on.isoformat(),
                "category": line.category,
                "item_name": line.item_name,
                "quantity": line.quantity,
                "amount_cents": line.amount_cents,
                "is_comp": line.is_comp,
            },
        )
    kept = [{"line": n, "message": m} for n, m in errors[:MAX_ERRORS_KEPT]]
    job.records_processed = len(lines) + len(errors)
    job.records_imported = len(lines) - skipped
    job.records_skipped = skipped
    job.failed_rows = kept
    job.status = "completed"
    job.completed_at = now
    return job, False
