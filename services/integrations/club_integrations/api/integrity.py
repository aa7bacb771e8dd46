"""/api/v1/integrity: every service's check runs, the issues they found, and staff resolving,
ignoring (24 h, 1 week, 30 days) and reopening them (staff)."""

from __future__ import annotations

from flask_smorest import Blueprint
from marshmallow import RAISE
from sqlalchemy import select

from club_shared.auth import current_identity
from club_shared.problems import Problem
from club_shared.web import runtime

from ..context import audit, now, staff_only
from ..flows import common
from ..flows import integrity as flows
from ..models import IntegrityAuditLog, IntegrityCheckHistory, IntegrityIgnore, IntegrityIssue
from ..schemas import (
    IgnoreIssue,
    IntegrityAudit,
    IntegrityRun,
    IntegrityRunQuery,
    Issue,
    IssueQuery,
    Page,
    ResolveIssue,
)

blp = Blueprint("integrity", __name__, url_prefix="/api/v1/integrity", description="Integrity checks (staff)")
SECURITY = [{"bearerAuth": []}]


def _with_ignore(session, issues):
    keys = [i.issue_key for i in issues]
    ignores = {
        g.issue_key: g.expires_at
        for g in session.scalars(
            select(IntegrityIgnore).where(
                IntegrityIgnore.issue_key.in_(keys), IntegrityIgnore.expires_at > now()
            )
        )
    }
    for issue in issues:
        issue.ignored_until = ignores.get(issue.issue_key)
    return issues


@blp.get("/runs")
@staff_only
@blp.arguments(IntegrityRunQuery, location="query", unknown=RAISE)
@blp.response(200, IntegrityRun(many=True))
@blp.doc(security=SECURITY)
def list_runs(query):
    statement = select(IntegrityCheckHistory)
    if query.get("service"):
        statement = statement.where(IntegrityCheckHistory.service == query["service"])
    with runtime().db.transaction() as session:
        return session.scalars(
            statement.order_by(IntegrityCheckHistory.run_at.desc(), IntegrityCheckHistory.id.desc())
            .limit(query["limit"])
            .offset(query["offset"])
        ).all()


@blp.post("/runs")
@staff_only
@blp.response(
    201, IntegrityRun, description="Integrations' own checks, run now; the others are asked to run theirs."
)
@blp.doc(security=SECURITY)
def run_now():
    rt = runtime()
    by = current_identity().email
    with rt.db.transaction() as session:
        history = flows.request_all(rt, session, by, now())
        common.audit(rt, session, audit("integrity_run_requested", "integrity_run", history.run_id))
        return history


@blp.get("/issues")
@staff_only
@blp.arguments(IssueQuery, location="query", unknown=RAISE)
@blp.response(200, Issue(many=True))
@blp.doc(security=SECURITY)
def list_issues(query):
    """Open issues by default, ignored ones left out unless asked for."""
    statement = select(IntegrityIssue)
    if query["status"] != "all":
        statement = statement.where(IntegrityIssue.status == query["status"])
    for key, column in (
        ("service", IntegrityIssue.source_service),
        ("severity", IntegrityIssue.severity),
        ("category", IntegrityIssue.category),
    ):
        if query.get(key):
            statement = statement.where(column == query[key])
    if not query["include_ignored"]:
        statement = statement.where(
            ~select(IntegrityIgnore.id)
            .where(IntegrityIgnore.issue_key == IntegrityIssue.issue_key, IntegrityIgnore.expires_at > now())
            .exists()
        )
    statement = statement.order_by(IntegrityIssue.last_seen_at.desc(), IntegrityIssue.id)
    with runtime().db.transaction() as session:
        return _with_ignore(
            session, session.scalars(statement.limit(query["limit"]).offset(query["offset"])).all()
        )


def _issue(session, issue_id: int) -> IntegrityIssue:
    issue = session.get(IntegrityIssue, issue_id, with_for_update=True)
    if issue is None:
        raise Problem(404, "No such issue.")
    return issue


@blp.get("/issues/<int:issue_id>")
@staff_only
@blp.response(200, Issue)
@blp.doc(security=SECURITY)
def get_issue(issue_id: int):
    with runtime().db.transaction() as session:
        return _with_ignore(session, [_issue(session, issue_id)])[0]


@blp.post("/issues/<int:issue_id>/resolve")
@staff_only
@blp.arguments(ResolveIssue)
@blp.response(200, Issue)
@blp.doc(security=SECURITY)
def resolve(body, issue_id: int):
    rt = runtime()
    with rt.db.transaction() as session:
        issue = _issue(session, issue_id)
        if flows.resolve(session, issue, current_identity().email, body.get("note"), now()):
            common.audit(rt, session, audit("integrity_issue_resolved", "integrity_issue", issue.issue_key))
        return _with_ignore(session, [issue])[0]


@blp.post("/issues/<int:issue_id>/ignore")
@staff_only
@blp.arguments(IgnoreIssue)
@blp.response(200, Issue)
@blp.doc(security=SECURITY)
def ignore(body, issue_id: int):
    rt = runtime()
    with rt.db.transaction() as session:
        issue = _issue(session, issue_id)
        flows.ignore(session, issue, current_identity().email, body["duration"], body["reason"], now())
        common.audit(
            rt,
            session,
            audit(
                "integrity_issue_ignored",
                "integrity_issue",
                issue.issue_key,
                duration=body["duration"],
                reason=body["reason"],
            ),
        )
        session.flush()
        return _with_ignore(session, [issue])[0]


@blp.post("/issues/<int:issue_id>/reopen")
@staff_only
@blp.response(200, Issue)
@blp.doc(security=SECURITY)
def reopen(issue_id: int):
    rt = runtime()
    with rt.db.transaction() as session:
        issue = _issue(session, issue_id)
        try:
            flows.reopen(session, issue, current_identity().email, now())
        except flows.IntegrityRefused as exc:
            raise Problem(exc.status, str(exc), code=exc.code) from None
        common.audit(rt, session, audit("integrity_issue_reopened", "integrity_issue", issue.issue_key))
        session.flush()
        return _with_ignore(session, [issue])[0]


@blp.get("/audit")
@staff_only
@blp.arguments(Page, location="query", unknown=RAISE)
@blp.response(200, IntegrityAudit(many=True))
@blp.doc(security=SECURITY)
def audit_log(query):
    with runtime().db.transaction() as session:
        return session.scalars(
            select(IntegrityAuditLog)
            .order_by(IntegrityAuditLog.id.desc())
            .limit(query["limit"])
            .offset(query["offset"])
        ).all()
