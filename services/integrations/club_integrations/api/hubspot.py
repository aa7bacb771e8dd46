"""/api/v1/hubspot: the sync queue, deals, product mappings, the member sync (staff)."""

from __future__ import annotations

from flask_smorest import Blueprint
from marshmallow import RAISE
from sqlalchemy import func, select, update

from club_shared.auth import current_identity
from club_shared.jobs import enqueue as enqueue_job
from club_shared.problems import Problem
from club_shared.web import runtime

from ..context import audit, now, staff_only
from ..flows import common, hubspot_inbound
from ..flows.hubspot_queue import enqueue
from ..models import JOBS, HubspotDeal, HubspotProductMapping, HubspotPullState, HubspotSyncQueue
from ..outside.hubspot import hubspot_enabled, writes_enabled
from ..schemas import (
    Deal,
    DealQuery,
    Dismiss,
    Enqueue,
    Enqueued,
    HubspotStatus,
    Page,
    ProductMapping,
    ProductMappingIn,
    QueueJob,
    QueueQuery,
)

blp = Blueprint("hubspot", __name__, url_prefix="/api/v1/hubspot", description="HubSpot sync (staff)")
SECURITY = [{"bearerAuth": []}]


def _require_hubspot() -> None:
    if not hubspot_enabled(runtime().settings):
        raise Problem(503, "HubSpot is off: HUBSPOT_ACCESS_TOKEN is not set.", code="HUBSPOT_DISABLED")


@blp.get("/status")
@staff_only
@blp.response(200, HubspotStatus)
@blp.doc(security=SECURITY)
def status():
    """Whether HubSpot is on (and writes), the queue by status, and the pulls' last runs."""
    settings = runtime().settings
    with runtime().db.transaction() as session:
        counts = dict(
            session.execute(
                select(HubspotSyncQueue.status, func.count()).group_by(HubspotSyncQueue.status)
            ).all()
        )
        pulls = [
            {
                "name": p.name,
                "last_run_at": p.last_run_at.isoformat() if p.last_run_at else None,
                "last_success_at": p.last_success_at.isoformat() if p.last_success_at else None,
                "last_error": p.last_error,
            }
            for p in session.scalars(select(HubspotPullState).order_by(HubspotPullState.name))
        ]
    return {
        "enabled": hubspot_enabled(settings),
        "writes_enabled": writes_enabled(settings),
        "webhooks_enabled": bool(settings.hubspot_webhook_secret),
        "queue": counts,
        "pulls": pulls,
    }


@blp.get("/queue")
@staff_only
@blp.arguments(QueueQuery, location="query", unknown=RAISE)
@blp.response(200, QueueJob(many=True))
@blp.doc(security=SECURITY)
def list_queue(query):
    statement = select(HubspotSyncQueue)
    if query.get("status"):
        statement = statement.where(HubspotSyncQueue.status == query["status"])
    if query.get("entity_id"):
        statement = statement.where(HubspotSyncQueue.entity_id == query["entity_id"])
    with runtime().db.transaction() as session:
        return session.scalars(
            statement.order_by(HubspotSyncQueue.id.desc()).limit(query["limit"]).offset(query["offset"])
        ).all()


@blp.post("/queue")
@staff_only
@blp.arguments(Enqueue)
@blp.response(201, Enqueued)
@blp.alt_response(200, schema=Enqueued, description="The same work is already queued: skipped.")
@blp.doc(security=SECURITY)
def add_to_queue(body):
    """Queue a sync for a member now (e.g. after fixing their record)."""
    _require_hubspot()
    rt = runtime()
    with rt.db.transaction() as session:
        email = body["email"]
        key = {"create_contact": f"member_creation_{email}", "update_contact": f"contact_update_{email}"}.get(
            body["action"]
        )
        if body["action"] == "sync_tier":
            key = f"manual_tier_sync_{email}"
        job_id = enqueue(session, body["action"], email, body["payload"], key=key, now=now())
        if job_id is not None:
            common.audit(
                rt,
                session,
                audit(
                    "hubspot_sync_queued", "hubspot_sync_queue", job_id, operation=body["action"], email=email
                ),
            )
    if job_id is None:
        return {"id": None, "status": "skipped"}, 200
    return {"id": job_id, "status": "pending"}, 201


@blp.post("/queue/<int:job_id>/retry")
@staff_only
@blp.response(200, QueueJob)
@blp.doc(security=SECURITY)
def retry_job(job_id: int):
    """Send a dead or failed job again now, with its retries counted from zero."""
    rt = runtime()
    with rt.db.transaction() as session:
        job = session.get(HubspotSyncQueue, job_id, with_for_update=True)
        if job is None:
            raise Problem(404, "No such job.")
        if job.status not in ("dead", "failed"):
            raise Problem(409, f"The job is {job.status}.", code="STATE_CONFLICT")
        if job.status == "dead" and job.idempotency_key:
            taken = session.scalar(
                select(HubspotSyncQueue.id).where(
                    HubspotSyncQueue.idempotency_key == job.idempotency_key,
                    HubspotSyncQueue.status.in_(("pending", "processing", "failed")),
                )
            )
            if taken:
                raise Problem(409, f"Job {taken} does the same work already.", code="STATE_CONFLICT")
        session.execute(
            update(HubspotSyncQueue)
            .where(HubspotSyncQueue.id == job_id)
            .values(
                status="pending",
                retry_count=0,
                next_retry_at=now(),
                outcome=None,
                completed_at=None,
                updated_at=now(),
            )
        )
        common.audit(rt, session, audit("hubspot_job_retried", "hubspot_sync_queue", job_id))
        session.flush()
        session.refresh(job)
        return job


@blp.get("/deals")
@staff_only
@blp.arguments(DealQuery, location="query", unknown=RAISE)
@blp.response(200, Deal(many=True))
@blp.doc(security=SECURITY)
def list_deals(query):
    statement = select(HubspotDeal)
    if query.get("email"):
        statement = statement.where(HubspotDeal.member_email == query["email"])
    with runtime().db.transaction() as session:
        return session.scalars(
            statement.order_by(HubspotDeal.id.desc()).limit(query["limit"]).offset(query["offset"])
        ).all()


@blp.get("/product-mappings")
@staff_only
@blp.arguments(Page, location="query", unknown=RAISE)
@blp.response(200, ProductMapping(many=True))
@blp.doc(security=SECURITY)
def list_product_mappings(query):
    with runtime().db.transaction() as session:
        return session.scalars(
            select(HubspotProductMapping)
            .order_by(HubspotProductMapping.id)
            .limit(query["limit"])
            .offset(query["offset"])
        ).all()


@blp.put("/product-mappings")
@staff_only
@blp.arguments(ProductMappingIn)
@blp.response(200, ProductMapping)
@blp.doc(security=SECURITY)
def put_product_mapping(body):
    """Create or replace the mapping of a HubSpot product (by its id)."""
    rt = runtime()
    with rt.db.transaction() as session:
        mapping = session.scalar(
            select(HubspotProductMapping)
            .where(HubspotProductMapping.hubspot_product_id == body["hubspot_product_id"])
            .with_for_update()
        )
        if mapping is None:
            mapping = HubspotProductMapping(**body)
            session.add(mapping)
        else:
            for key, value in body.items():
                setattr(mapping, key, value)
            mapping.is_active = True
        session.flush()
        common.audit(
            rt, session, audit("hubspot_product_mapping_saved", "hubspot_product_mapping", mapping.id, **body)
        )
        return mapping


@blp.delete("/product-mappings/<int:mapping_id>")
@staff_only
@blp.response(204)
@blp.doc(security=SECURITY)
def delete_product_mapping(mapping_id: int):
    rt = runtime()
    with rt.db.transaction() as session:
        mapping = session.get(HubspotProductMapping, mapping_id)
        if mapping is None:
            raise Problem(404, "No such mapping.")
        mapping.is_active = False
        common.audit(
            rt, session, audit("hubspot_product_mapping_retired", "hubspot_product_mapping", mapping_id)
        )


@blp.post("/meetings/<meeting_id>/dismiss")
@staff_only
@blp.arguments(Dismiss)
@blp.response(200, Enqueued)
@blp.doc(security=SECURITY)
def dismiss_meeting(body, meeting_id: str):
    """Keep a HubSpot meeting out of the tours (a tour made from it, not yet held, is cancelled)."""
    if not meeting_id.isdigit() or len(meeting_id) > 40:
        raise Problem(404, "No such meeting.")
    rt = runtime()
    with rt.db.transaction() as session:
        added = hubspot_inbound.dismiss_meeting(
            session, meeting_id, current_identity().email, body.get("reason"), now()
        )
        if added:
            common.audit(rt, session, audit("hubspot_meeting_dismissed", "hubspot_meeting", meeting_id))
    return {"id": None, "status": "dismissed"}


@blp.post("/pulls/<name>")
@staff_only
@blp.response(202, Enqueued)
@blp.doc(security=SECURITY)
def run_pull(name: str):
    """Run a pull from HubSpot now, in the worker: members, forms, meetings or engagements."""
    kinds = {
        "members": "hubspot_member_sync",
        "forms": "hubspot_forms",
        "meetings": "hubspot_meetings",
        "engagements": "hubspot_engagements",
    }
    if name not in kinds:
        raise Problem(404, f"No pull {name}.")
    _require_hubspot()
    rt = runtime()
    with rt.db.transaction() as session:
        job_id = enqueue_job(session, JOBS, kinds[name], {"manual": True})
        common.audit(rt, session, audit("hubspot_pull_requested", "job", job_id, pull=name))
    return {"id": job_id, "status": "queued"}
