"""Integrity (domain.md §11): integrations' own checks, every service's runs recorded in
`integrity_check_history`, issues tracked (first and last seen, resolved when a run no longer finds
them), ignores with expiry, staff resolve / ignore / reopen, all in `integrity_audit_log`."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from club_shared.runtime import Runtime

from ..domain import integrity as rules
from ..models import (
    HubspotDeal,
    HubspotLineItem,
    HubspotSyncQueue,
    IntegrityAuditLog,
    IntegrityCheckHistory,
    IntegrityIgnore,
    IntegrityIssue,
    Member,
    Tour,
    TrackmanUnmatchedBooking,
)
from . import common

CHECKED = "integrations.integrity.checked"
REQUESTED = "integrations.integrity.requested"


class IntegrityRefused(ValueError):
    def __init__(self, status: int, code: str, detail: str):
        super().__init__(detail)
        self.status, self.code = status, code


def _rows(session: Session, model) -> list[dict[str, Any]]:
    return [
        {c.key: getattr(row, c.key) for c in model.__mapper__.column_attrs}
        for row in session.scalars(select(model))
    ]


def own_checks(session: Session, now: datetime) -> list[dict[str, Any]]:
    """Deal Stage Drift, Deals Without Line Items, HubSpot ID Duplicates, HubSpot Sync Mismatch,
    Duplicate Tour Sources, Stale Past Tours, Unmatched Trackman Bookings."""
    members = _rows(session, Member)
    by_email = {m["email"]: m for m in members}
    deals = _rows(session, HubspotDeal)
    with_items = set(session.scalars(select(HubspotLineItem.hubspot_deal_id).distinct()))
    dead = [
        {"id": j.id, "action": j.action, "entity_id": j.entity_id, "last_error": j.last_error}
        for j in session.scalars(select(HubspotSyncQueue).where(HubspotSyncQueue.status == "dead"))
    ]
    tours = _rows(session, Tour)
    unmatched = _rows(session, TrackmanUnmatchedBooking)
    stages = common.setting(session, "hubspot.deal_stages") or {}
    checks = []
    for build in (
        lambda: rules.deal_stage_drift(deals, by_email, stages),
        lambda: rules.deals_without_line_items(deals, with_items),
        lambda: rules.hubspot_id_duplicates(members),
        lambda: rules.hubspot_sync_mismatch(dead),
        lambda: rules.duplicate_tour_sources(tours),
        lambda: rules.stale_past_tours(tours, now),
        lambda: rules.unmatched_trackman(unmatched, now),
    ):
        checks.append(build().result())
    return checks


def run_own(
    runtime: Runtime, session: Session, now: datetime, trigger: str, run_id: str | None = None
) -> IntegrityCheckHistory:
    data = {
        "run_id": run_id or uuid.uuid4().hex,
        "checked_at": now.isoformat(),
        "trigger": trigger,
        "checks": own_checks(session, now),
    }
    runtime.publish(session, CHECKED, data)
    return record(runtime, session, "integrations", data, now)


def record(
    runtime: Runtime, session: Session, service: str, data: dict[str, Any], now: datetime
) -> IntegrityCheckHistory:
    """A service's run: history, issues opened, seen again or resolved (a check that errored leaves
    its issues as they were). Idempotent by (service, run id)."""
    existing = session.scalar(
        select(IntegrityCheckHistory).where(
            IntegrityCheckHistory.service == service, IntegrityCheckHistory.run_id == data["run_id"]
        )
    )
    if existing is not None:
        return existing
    checked_at = datetime.fromisoformat(str(data["checked_at"]))
    seen: dict[str, tuple[dict, dict]] = {}
    ran_ok: set[str] = set()
    for check in data["checks"]:
        if check["status"] == "error":
            continue
        ran_ok.add(check["name"])
        for issue in check["issues"]:
            seen.setdefault(rules.issue_key(issue["table"], issue["record_id"]), (check, issue))
    new = resolved = 0
    for key, (check, issue) in seen.items():
        row = session.scalar(select(IntegrityIssue).where(IntegrityIssue.issue_key == key).with_for_update())
        if row is None:
            session.add(
                IntegrityIssue(
                    issue_key=key,
                    issue_type=check["name"],
                    status="open",
                    severity=check["severity"],
                    category=check["category"],
                    source_service=service,
                    description=issue["description"],
                    details={
                        "table": issue["table"],
                        "record_id": issue["record_id"],
                        **(issue.get("details") or {}),
                    },
                    first_detected_at=checked_at,
                    last_seen_at=checked_at,
                )
            )
            new += 1
            continue
        if row.status == "resolved":  # back again
            row.status, row.resolved_at, row.resolved_by, row.resolution_note = "open", None, None, None
            new += 1
        row.issue_type, row.severity, row.category = check["name"], check["severity"], check["category"]
        row.description = issue["description"]
        row.details = {
            "table": issue["table"],
            "record_id": issue["record_id"],
            **(issue.get("details") or {}),
        }
        row.last_seen_at = max(row.last_seen_at, checked_at)
        row.times_seen += 1
    for row in session.scalars(
        select(IntegrityIssue)
        .where(IntegrityIssue.source_service == service, IntegrityIssue.status == "open")
        .with_for_update()
    ):
        if row.issue_key not in seen and row.issue_type in ran_ok:
            row.status, row.resolved_at, row.resolved_by = "resolved", checked_at, "system"
            row.resolution_note = "No longer found."
            resolved += 1
    history = IntegrityCheckHistory(
        run_id=data["run_id"],
        service=service,
        trigger=data["trigger"],
        run_at=checked_at,
        received_at=now,
        issues_found=len(seen),
        new_issues=new,
        resolved_issues=resolved,
        summary=[
            {
                "name": c["name"],
                "category": c["category"],
                "severity": c["severity"],
                "status": c["status"],
                "issues": len(c["issues"]),
                "error": c.get("error"),
            }
            for c in data["checks"]
        ],
    )
    session.add(history)
    session.flush()
    _alert(runtime, session, service, data, new)
    return history


def _alert(runtime: Runtime, session: Session, service: str, data: dict[str, Any], new: int) -> None:
    serious = [c for c in data["checks"] if c["severity"] in ("critical", "high") and c["issues"]]
    failed = [c["name"] for c in data["checks"] if c["status"] == "error"]
    if not new and not failed:
        return
    if not serious and not failed:
        return
    lines = [f"- {c['name']}: {len(c['issues'])} ({c['severity']})" for c in serious]
    lines += [f"- {name}: could not run" for name in failed]
    common.alert_staff(
        runtime,
        session,
        "system",
        f"Integrity: {service} has {new} new issue(s)",
        "\n".join(lines),
        link="/staff/integrity",
    )


# --- staff ------------------------------------------------------------------------------------------


def _audit(session: Session, action: str, key: str | None, by: str, **details: Any) -> None:
    session.add(IntegrityAuditLog(action=action, issue_key=key, details=details, performed_by=by))


def active_ignore(session: Session, key: str, now: datetime) -> IntegrityIgnore | None:
    return session.scalar(
        select(IntegrityIgnore).where(IntegrityIgnore.issue_key == key, IntegrityIgnore.expires_at > now)
    )


def resolve(session: Session, issue: IntegrityIssue, by: str, note: str | None, now: datetime) -> bool:
    if issue.status == "resolved":
        return False
    issue.status, issue.resolved_at, issue.resolved_by, issue.resolution_note = "resolved", now, by, note
    _audit(session, "resolve", issue.issue_key, by, note=note)
    return True


def ignore(
    session: Session, issue: IntegrityIssue, by: str, duration: str, reason: str, now: datetime
) -> IntegrityIgnore:
    row = session.scalar(
        select(IntegrityIgnore).where(IntegrityIgnore.issue_key == issue.issue_key).with_for_update()
    )
    expires = now + rules.IGNORE_FOR[duration]
    if row is None:
        row = IntegrityIgnore(
            issue_key=issue.issue_key, ignored_by=by, reason=reason, ignored_at=now, expires_at=expires
        )
        session.add(row)
    else:
        row.ignored_by, row.reason, row.ignored_at, row.expires_at = by, reason, now, expires
    _audit(
        session,
        "ignore",
        issue.issue_key,
        by,
        duration=duration,
        reason=reason,
        expires_at=expires.isoformat(),
    )
    return row


def reopen(session: Session, issue: IntegrityIssue, by: str, now: datetime) -> bool:
    """Back to open: a resolved issue, or an ignored one (the ignore is lifted)."""
    changed = False
    ignored = active_ignore(session, issue.issue_key, now)
    if ignored is not None:
        ignored.expires_at = now
        changed = True
    if issue.status == "resolved":
        issue.status, issue.resolved_at, issue.resolved_by, issue.resolution_note = "open", None, None, None
        changed = True
    if not changed:
        raise IntegrityRefused(409, "STATE_CONFLICT", "The issue is open and not ignored.")
    _audit(session, "reopen", issue.issue_key, by)
    return True


def request_all(runtime: Runtime, session: Session, by: str, now: datetime) -> IntegrityCheckHistory:
    """Staff asked for checks now: ours run at once, every other service is asked to run its own."""
    run_id = uuid.uuid4().hex
    history = run_own(runtime, session, now, "on_demand", run_id)
    runtime.publish(session, REQUESTED, {"run_id": run_id, "requested_by": by})
    _audit(session, "run", None, by, run_id=run_id)
    return history
