"""Legacy purchases: upserted by (source sale id, line); re-importing a file changes nothing."""

from __future__ import annotations

from datetime import UTC, datetime, time
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from club_shared.clubtime import utcnow

from ..domain.legacy import LegacyRow, parse
from ..models import LegacyImportRun, LegacyPurchase


def upsert(session: Session, row: LegacyRow, import_job_id: int | None) -> str:
    """imported | updated | unchanged"""
    existing = session.scalars(
        select(LegacyPurchase)
        .where(LegacyPurchase.source_sale_id == row.source_sale_id, LegacyPurchase.line_no == row.line_no)
        .with_for_update()
    ).first()
    values = {
        "email": row.email,
        "product_type": row.product_type,
        "amount": Decimal(row.amount_cents) / 100,
        "amount_cents": row.amount_cents,
        "purchase_date": datetime.combine(row.purchase_date, time(12), tzinfo=UTC),
        "category": row.category,
        "is_comp": row.is_comp,
        "linked_session_id": row.linked_session_id,
    }
    if existing is None:
        session.add(
            LegacyPurchase(
                source_sale_id=row.source_sale_id, line_no=row.line_no, import_job_id=import_job_id, **values
            )
        )
        session.flush()
        return "imported"
    if all(getattr(existing, key) == value for key, value in values.items()):
        return "unchanged"
    for key, value in values.items():
        setattr(existing, key, value)
    existing.import_job_id = import_job_id
    return "updated"


def import_csv(session: Session, filename: str, text: str, imported_by: str | None) -> LegacyImportRun:
    run = LegacyImportRun(filename=filename[:300], status="running", imported_by=imported_by, rejected=[])
    session.add(run)
    session.flush()
    rows, rejected, problems = parse(text)
    if problems:
        run.status, run.rejected = "failed", [{"row": 0, "reason": p} for p in problems]
        run.finished_at = utcnow()
        return run
    counts = {"imported": 0, "updated": 0, "unchanged": 0}
    for _number, row in rows:
        counts[upsert(session, row, run.id)] += 1
    run.total_rows = len(rows) + len(rejected)
    run.imported_rows = counts["imported"] + counts["updated"]
    run.unchanged_rows = counts["unchanged"]
    run.failed_rows = len(rejected)
    run.rejected = [{"row": r.row, "reason": r.reason, "values": r.raw} for r in rejected]
    run.status = "completed"
    run.finished_at = utcnow()
    return run


def from_event(session: Session, data: dict) -> str:
    """integrations.legacy_purchase.imported: one row parsed by integrations."""
    from datetime import date

    purchased = data["purchased_on"]
    row = LegacyRow(
        source_sale_id=data["source_sale_id"],
        line_no=data["line_no"],
        email=(data.get("member_email") or "unknown@legacy.invalid").lower(),
        purchase_date=purchased if isinstance(purchased, date) else date.fromisoformat(purchased),
        category=data.get("category"),
        product_type=(data.get("item_name") or data.get("category") or "unknown")[:100],
        amount_cents=data["amount_cents"],
        is_comp=data["is_comp"],
        linked_session_id=None,
    )
    return upsert(session, row, data["import_job_id"])
