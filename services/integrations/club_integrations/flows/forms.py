"""Forms (domain.md §8.3): the 30-minute pull of HubSpot form submissions into `form_submissions`
(deduped by submission id, else e-mail + type ±5 minutes), form configs, our own submissions sent on
with allow-listed fields only, applications and their invitation."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from club_shared.jobs import enqueue as enqueue_job
from club_shared.runtime import Runtime

from ..domain import forms as rules
from ..domain.forms import FormRefused
from ..models import JOBS, FormSubmission, HubspotFormConfig, Tour
from ..outside.hubspot import HubspotClient, HubspotError, ms_to_datetime, writes_enabled
from . import common, hubspot_pull

INVITED = "integrations.application.invited"


# --- configs ----------------------------------------------------------------------------------------


def refresh_configs(runtime: Runtime, client: HubspotClient, now: datetime) -> int:
    """Cache HubSpot's forms: configured types keep their form; unconfigured types take a form whose
    name says what it is."""
    forms = client.forms()
    added = 0
    with runtime.db.transaction() as session:
        configs = {c.form_type: c for c in session.scalars(select(HubspotFormConfig))}
        by_id = {c.hubspot_form_id: c for c in configs.values()}
        for form in forms:
            fields = [
                f.get("name")
                for g in form.get("fieldGroups") or []
                for f in g.get("fields") or []
                if f.get("name")
            ]
            config = by_id.get(form.get("id"))
            if config is None:
                form_type = rules.type_from_name(form.get("name"))
                if form_type is None or form_type in configs:
                    continue
                config = HubspotFormConfig(form_type=form_type, hubspot_form_id=form["id"])
                session.add(config)
                configs[form_type] = config
                added += 1
            config.form_name = form.get("name")
            config.fields = fields
            config.hubspot_portal_id = config.hubspot_portal_id or runtime.settings.hubspot_portal_id
            config.synced_at = now
    return added


# --- the pull ---------------------------------------------------------------------------------------


def pull(runtime: Runtime, client: HubspotClient, now: datetime) -> int:
    """Every configured form's submissions of the last 30 days; the number stored."""
    refresh_configs(runtime, client, now)
    with runtime.db.transaction() as session:
        configs = [(c.form_type, c.hubspot_form_id) for c in session.scalars(select(HubspotFormConfig))]
    stored = 0
    try:
        for form_type, form_id in configs:
            after = None
            while True:
                page, after = client.form_submissions(form_id, after)
                recent = True
                with runtime.db.transaction() as session:
                    for item in page:
                        submitted_at = ms_to_datetime(item.get("submittedAt"))
                        if submitted_at is None:
                            continue
                        if submitted_at < now - rules.PULL_WINDOW:
                            recent = False
                            continue
                        submission = rules.parse_submission(
                            item.get("values") or [],
                            submitted_at,
                            item.get("conversionId"),
                            item.get("pageUrl"),
                        )
                        if store(runtime, session, form_type, submission, now, source="hubspot") is not None:
                            stored += 1
                if not after or not recent:
                    break
    except HubspotError as exc:
        hubspot_pull.record(runtime, "forms", now, error=exc.failure.message)
        raise
    hubspot_pull.record(runtime, "forms", now)
    return stored


def store(
    runtime: Runtime,
    session: Session,
    form_type: str,
    submission: rules.Submission,
    now: datetime,
    *,
    source: str,
) -> FormSubmission | None:
    """Keep a submission once: by HubSpot's submission id, else by e-mail + type within ±5 minutes.
    A deleted person's old submissions pulled from HubSpot are not taken in again."""
    if source == "hubspot" and common.excluded(session, submission.email):
        return None
    if submission.hubspot_submission_id and session.scalar(
        select(FormSubmission.id).where(
            FormSubmission.hubspot_submission_id == submission.hubspot_submission_id
        )
    ):
        return None
    if submission.email:
        near = session.scalars(
            select(FormSubmission).where(
                FormSubmission.email == submission.email,
                FormSubmission.form_type == form_type,
                FormSubmission.submitted_at.between(
                    submission.submitted_at - rules.DEDUPE_WINDOW,
                    submission.submitted_at + rules.DEDUPE_WINDOW,
                ),
            )
        ).first()
        if near is not None:
            if near.hubspot_submission_id is None and submission.hubspot_submission_id:
                near.hubspot_submission_id = submission.hubspot_submission_id  # ours, now seen in HubSpot
            return None
    row = session.scalar(
        insert(FormSubmission)
        .values(
            form_type=form_type,
            email=submission.email,
            first_name=submission.first_name,
            last_name=submission.last_name,
            phone=submission.phone,
            data=submission.data,
            metadata_=submission.extra,
            submitted_at=submission.submitted_at,
            hubspot_submission_id=submission.hubspot_submission_id,
            requested_tier=submission.requested_tier,
            source=source,
            status="new",
            created_at=now,
        )
        .on_conflict_do_nothing(index_elements=[FormSubmission.hubspot_submission_id])
        .returning(FormSubmission)
    )
    if row is None:
        return None
    if form_type == "tour-request":
        name = (
            " ".join(p for p in (submission.first_name, submission.last_name) if p)
            or submission.email
            or "Visitor"
        )
        session.add(
            Tour(
                visitor_name=name[:200],
                visitor_email=submission.email,
                visitor_phone=submission.phone,
                status="pending",
                source="form",
                form_submission_id=row.id,
                notes=str(submission.extra.get("message") or "")[:1000] or None,
                created_at=now,
                updated_at=now,
            )
        )
    if form_type in ("membership", "tour-request", "private-hire", "event-inquiry"):
        who = submission.email or "someone"
        common.alert_staff(
            runtime,
            session,
            "info",
            f"New {form_type.replace('-', ' ')} form",
            f"{who} sent the {form_type} form.",
            link=f"/staff/forms/{row.id}",
        )
    return row


# --- our own forms --------------------------------------------------------------------------------


def submit_local(
    runtime: Runtime, session: Session, form_type: str, fields: dict[str, Any], now: datetime
) -> FormSubmission:
    """A form posted to us (the club's site): stored, then sent on to HubSpot by the worker."""
    submission = rules.parse_submission([{"name": k, "value": v} for k, v in fields.items()], now, None)
    row = store(runtime, session, form_type, submission, now, source="local")
    if row is None:
        raise FormRefused(409, "DUPLICATE_SUBMISSION", "This form was just sent; it is already with us.")
    session.flush()
    enqueue_job(session, JOBS, "hubspot_submit_form", {"submission_id": row.id, "form_type": form_type})
    return row


def send_local(runtime: Runtime, client: HubspotClient | None, submission_id: int) -> str:
    """Send one of our submissions to HubSpot's form, allow-listed fields only."""
    if client is None:
        return "hubspot_off"
    if not writes_enabled(runtime.settings):
        return "blocked"
    with runtime.db.transaction() as session:
        row = session.get(FormSubmission, submission_id)
        config = session.scalar(select(HubspotFormConfig).where(HubspotFormConfig.form_type == row.form_type))
        if config is None:
            return "no_form"
        fields = rules.outbound_fields(row.data, config.fields or None)
        portal = config.hubspot_portal_id or runtime.settings.hubspot_portal_id
        form_id = config.hubspot_form_id
    if not portal:
        return "no_portal"
    client.submit_form(portal, form_id, fields, {"pageName": "Clubhouse"})
    return "sent"


# --- applications -------------------------------------------------------------------------------------


def move(session: Session, row: FormSubmission, target: str, by: str, now: datetime) -> bool:
    if row.status == target:
        return False
    rules.check_move(row.form_type, row.status, target)
    row.status, row.reviewed_by, row.status_changed_at = target, by, now
    return True


def invite(
    runtime: Runtime, session: Session, row: FormSubmission, tier: str | None, by: str, now: datetime
) -> bool:
    """An approved applicant is invited: membership makes a pending user, billing an activation checkout."""
    if row.form_type != "membership":
        raise FormRefused(409, "NOT_AN_APPLICATION", "Only membership applications are invited.")
    if not row.email:
        raise FormRefused(422, "NO_EMAIL", "The application has no e-mail address to invite.")
    if row.status == "invited":
        return False
    rules.check_move(row.form_type, row.status, "invited")
    row.status, row.reviewed_by, row.status_changed_at = "invited", by, now
    if tier:
        row.requested_tier = tier
    runtime.publish(
        session,
        INVITED,
        {
            "submission_id": row.id,
            "email": row.email,
            "first_name": row.first_name,
            "last_name": row.last_name,
            "phone": row.phone,
            "tier": row.requested_tier,
            "invited_by": by,
        },
    )
    return True


def member_activated(session: Session, email: str, now: datetime) -> int:
    """An invited applicant became an active member: the application is converted."""
    rows = session.scalars(
        select(FormSubmission).where(
            FormSubmission.form_type == "membership",
            FormSubmission.email == email,
            FormSubmission.status == "invited",
        )
    ).all()
    for row in rows:
        row.status, row.status_changed_at = "converted", now
    return len(rows)
