"""/api/v1/forms: the club site's forms (public), submissions and applications, form configs (staff)."""

from __future__ import annotations

from flask_smorest import Blueprint
from marshmallow import RAISE
from sqlalchemy import select

from club_shared.auth import current_identity
from club_shared.jobs import enqueue as enqueue_job
from club_shared.problems import Problem
from club_shared.web import runtime

from ..context import audit, now, staff_only
from ..domain.forms import FormRefused
from ..flows import common
from ..flows import forms as flows
from ..models import JOBS, FormSubmission, HubspotFormConfig
from ..outside.hubspot import hubspot_enabled
from ..schemas import (
    FORM_TYPES,
    FormConfig,
    FormConfigIn,
    FormPost,
    Invite,
    Page,
    Submission,
    SubmissionAccepted,
    SubmissionMove,
    SubmissionQuery,
)

blp = Blueprint("forms", __name__, url_prefix="/api/v1/forms", description="Forms and applications")
SECURITY = [{"bearerAuth": []}]


def _refused(exc: FormRefused) -> Problem:
    return Problem(exc.status, str(exc), code=exc.code)


@blp.post("/<form_type>/submissions")
@blp.arguments(FormPost)
@blp.response(201, SubmissionAccepted)
@blp.alt_response(409, description="DUPLICATE_SUBMISSION: the same e-mail sent this form within 5 minutes.")
def submit(body, form_type: str):
    """Send one of the club's forms (anyone). Kept here, and sent on to HubSpot with allow-listed
    fields only."""
    if form_type not in FORM_TYPES:
        raise Problem(404, f"No form {form_type}.")
    rt = runtime()
    with rt.db.transaction() as session:
        try:
            row = flows.submit_local(rt, session, form_type, body["fields"], now())
        except FormRefused as exc:
            raise _refused(exc) from None
        return {"id": row.id, "status": "received"}


@blp.get("/submissions")
@staff_only
@blp.arguments(SubmissionQuery, location="query", unknown=RAISE)
@blp.response(200, Submission(many=True))
@blp.doc(security=SECURITY)
def list_submissions(query):
    statement = select(FormSubmission)
    for key in ("form_type", "status", "email"):
        if query.get(key):
            statement = statement.where(getattr(FormSubmission, key) == query[key])
    statement = statement.order_by(FormSubmission.submitted_at.desc(), FormSubmission.id.desc())
    with runtime().db.transaction() as session:
        return session.scalars(statement.limit(query["limit"]).offset(query["offset"])).all()


@blp.get("/submissions/<int:submission_id>")
@staff_only
@blp.response(200, Submission)
@blp.doc(security=SECURITY)
def get_submission(submission_id: int):
    """A submission; a new one is read once staff have opened it."""
    with runtime().db.transaction() as session:
        row = session.get(FormSubmission, submission_id, with_for_update=True)
        if row is None:
            raise Problem(404, "No such submission.")
        if row.status == "new":
            flows.move(session, row, "read", current_identity().email, now())
        return row


@blp.post("/submissions/<int:submission_id>/status")
@staff_only
@blp.arguments(SubmissionMove)
@blp.response(200, Submission)
@blp.doc(security=SECURITY)
def move_submission(body, submission_id: int):
    """Applications: new → read → reviewing → approved → invited → converted, or declined/archived;
    other forms: new → read → archived."""
    if body["status"] in ("invited", "converted"):
        raise Problem(
            422, "Invite through /invite; conversion follows the member's activation.", code="USE_INVITE"
        )
    rt = runtime()
    with rt.db.transaction() as session:
        row = session.get(FormSubmission, submission_id, with_for_update=True)
        if row is None:
            raise Problem(404, "No such submission.")
        previous = row.status
        try:
            changed = flows.move(session, row, body["status"], current_identity().email, now())
        except FormRefused as exc:
            raise _refused(exc) from None
        if changed:
            common.audit(
                rt,
                session,
                audit(
                    "form_submission_status", "form_submission", row.id, previous=previous, status=row.status
                ),
            )
        return row


@blp.post("/submissions/<int:submission_id>/invite")
@staff_only
@blp.arguments(Invite)
@blp.response(200, Submission)
@blp.doc(security=SECURITY)
def invite(body, submission_id: int):
    """Invite an approved applicant: membership creates a pending member, billing an activation checkout."""
    rt = runtime()
    with rt.db.transaction() as session:
        row = session.get(FormSubmission, submission_id, with_for_update=True)
        if row is None:
            raise Problem(404, "No such submission.")
        try:
            changed = flows.invite(rt, session, row, body.get("tier"), current_identity().email, now())
        except FormRefused as exc:
            raise _refused(exc) from None
        if changed:
            common.audit(
                rt,
                session,
                audit(
                    "application_invited", "form_submission", row.id, email=row.email, tier=row.requested_tier
                ),
            )
        return row


@blp.get("/configs")
@staff_only
@blp.arguments(Page, location="query", unknown=RAISE)
@blp.response(200, FormConfig(many=True))
@blp.doc(security=SECURITY)
def list_configs(query):
    with runtime().db.transaction() as session:
        return session.scalars(select(HubspotFormConfig).order_by(HubspotFormConfig.form_type)).all()


@blp.put("/configs")
@staff_only
@blp.arguments(FormConfigIn)
@blp.response(200, FormConfig)
@blp.doc(security=SECURITY)
def put_config(body):
    """Which HubSpot form is which of our form types."""
    rt = runtime()
    with rt.db.transaction() as session:
        config = session.scalar(
            select(HubspotFormConfig)
            .where(HubspotFormConfig.form_type == body["form_type"])
            .with_for_update()
        )
        if config is None:
            config = HubspotFormConfig(form_type=body["form_type"], hubspot_form_id=body["hubspot_form_id"])
            session.add(config)
        config.hubspot_form_id = body["hubspot_form_id"]
        config.hubspot_portal_id = body.get("hubspot_portal_id") or config.hubspot_portal_id
        session.flush()
        common.audit(rt, session, audit("form_config_saved", "hubspot_form_config", config.id, **body))
        return config


@blp.post("/pull")
@staff_only
@blp.response(202, SubmissionAccepted)
@blp.doc(security=SECURITY)
def pull():
    """Pull HubSpot's form submissions now, in the worker."""
    rt = runtime()
    if not hubspot_enabled(rt.settings):
        raise Problem(503, "HubSpot is off: HUBSPOT_ACCESS_TOKEN is not set.", code="HUBSPOT_DISABLED")
    with rt.db.transaction() as session:
        job_id = enqueue_job(session, JOBS, "hubspot_forms", {"manual": True})
    return {"id": job_id, "status": "queued"}
