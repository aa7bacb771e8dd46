"""/api/v1/invoices (booking invoices) and /api/v1/billing/... admin records: payment intents,
the transaction report, and legacy purchase imports."""

from __future__ import annotations

from flask import request
from flask_smorest import Blueprint
from marshmallow import RAISE, Schema, fields, validate
from sqlalchemy import func, select

from club_shared.audit import publish_audit
from club_shared.problems import Problem
from club_shared.web import accepts, runtime

from ..flows import legacy, readmodels
from ..models import BookingInvoice, LegacyImportRun, StripePaymentIntent, StripeTransactionCache
from ..schemas import InvoiceOut
from ._access import admin_only, caller, is_staff, signed_in

invoices = Blueprint("invoices", __name__, url_prefix="/api/v1/invoices", description="Booking invoices")
records = Blueprint("billing_records", __name__, url_prefix="/api/v1/billing", description="Billing records")


class _In(Schema):
    class Meta:
        unknown = RAISE


class OwnQuery(_In):
    email = fields.Email(load_default=None, metadata={"description": "staff only"})
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))


class InvoiceRow(InvoiceOut):
    booking_request_id = fields.Integer(attribute="booking_id")
    member_email = fields.String()
    created_at = fields.DateTime()


class IntentRow(Schema):
    stripe_payment_intent_id = fields.String(allow_none=True)
    customer_email = fields.String(allow_none=True)
    amount_cents = fields.Integer()
    amount_refunded_cents = fields.Integer()
    status = fields.String()
    payment_type = fields.String()
    booking_id = fields.Integer(allow_none=True)
    failure_reason = fields.String(allow_none=True)
    created_at = fields.DateTime()


class ReportQuery(_In):
    since = fields.AwareDateTime(load_default=None)
    until = fields.AwareDateTime(load_default=None)


class ReportRow(Schema):
    type = fields.String()
    status = fields.String(allow_none=True)
    count = fields.Integer()
    amount_cents = fields.Integer()


class ImportRun(Schema):
    id = fields.Integer()
    filename = fields.String()
    status = fields.String()
    total_rows = fields.Integer()
    imported_rows = fields.Integer()
    unchanged_rows = fields.Integer()
    failed_rows = fields.Integer()
    rejected = fields.List(fields.Dict())
    imported_by = fields.String(allow_none=True)
    created_at = fields.DateTime()
    finished_at = fields.DateTime(allow_none=True)


def _own_email(query) -> str:
    identity = caller()
    email = (query.get("email") or identity.email).lower()
    if email != identity.email.lower() and not is_staff(identity):
        raise Problem(404, "Nothing of that member's is yours to see.", code="NOT_FOUND")
    return email


@invoices.get("")
@signed_in
@invoices.arguments(OwnQuery, location="query", unknown=RAISE)
@invoices.response(200, InvoiceRow(many=True))
@invoices.doc(security=[{"bearerAuth": []}])
def list_invoices(query):
    """The caller's booking invoices, newest first (staff: any member's with `email`)."""
    email = _own_email(query)
    with runtime().db.transaction() as session:
        member = readmodels.find_member(session, email)
        email = member.email if member else email
        return session.scalars(
            select(BookingInvoice)
            .where(BookingInvoice.member_email == email)
            .order_by(BookingInvoice.id.desc())
            .limit(query["limit"])
        ).all()


@records.get("/payments")
@signed_in
@records.arguments(OwnQuery, location="query", unknown=RAISE)
@records.response(200, IntentRow(many=True))
@records.doc(security=[{"bearerAuth": []}])
def list_payments(query):
    """The caller's payments (payment intents mirrored from Stripe), newest first."""
    email = _own_email(query)
    with runtime().db.transaction() as session:
        return session.scalars(
            select(StripePaymentIntent)
            .where(StripePaymentIntent.customer_email == email)
            .order_by(StripePaymentIntent.id.desc())
            .limit(query["limit"])
        ).all()


@records.get("/reports/transactions")
@admin_only
@records.arguments(ReportQuery, location="query", unknown=RAISE)
@records.response(200, ReportRow(many=True))
@records.doc(security=[{"bearerAuth": []}])
def transactions_report(query):
    """Totals of the Stripe transaction cache by object type and status (admin)."""
    cache = StripeTransactionCache
    statement = (
        select(
            cache.type,
            cache.status,
            func.count().label("count"),
            func.coalesce(func.sum(cache.amount_cents), 0),
        )
        .group_by(cache.type, cache.status)
        .order_by(cache.type, cache.status)
    )
    if query.get("since"):
        statement = statement.where(cache.cached_at >= query["since"])
    if query.get("until"):
        statement = statement.where(cache.cached_at < query["until"])
    with runtime().db.transaction() as session:
        rows = session.execute(statement).all()
    return [{"type": t, "status": s, "count": c, "amount_cents": int(a)} for t, s, c, a in rows]


@records.post("/legacy-purchases/imports")
@admin_only
@accepts("text/csv", "text/plain")
@records.response(201, ImportRun)
@records.doc(
    security=[{"bearerAuth": []}],
    parameters=[{"in": "query", "name": "filename", "schema": {"type": "string"}}],
)
def import_legacy(**_):
    """Import a CSV of past purchases (body text/csv): upserted by sale id + line (re-importing
    changes nothing); the run records counts and every rejected row with its reason."""
    try:
        text = request.get_data(cache=False).decode("utf-8-sig")
    except UnicodeDecodeError:
        raise Problem(400, "The CSV is not UTF-8.", code="INVALID_BODY") from None
    if not text.strip():
        raise Problem(400, "The CSV is empty.", code="INVALID_BODY")
    filename = (request.args.get("filename") or "upload.csv")[:300]
    with runtime().db.transaction() as session:
        run = legacy.import_csv(session, filename, text, caller().email)
        publish_audit(
            session,
            "legacy_purchases_imported",
            "legacy_import_run",
            run.id,
            resource_name=filename,
            details={
                "imported": run.imported_rows,
                "unchanged": run.unchanged_rows,
                "failed": run.failed_rows,
            },
        )
        if run.status == "failed":
            raise Problem(422, "; ".join(r["reason"] for r in run.rejected), code="INVALID_CSV")
        return run


@records.get("/legacy-purchases/imports/<int:run_id>")
@admin_only
@records.response(200, ImportRun)
@records.doc(security=[{"bearerAuth": []}])
def get_import(run_id: int):
    with runtime().db.transaction() as session:
        run = session.get(LegacyImportRun, run_id)
        if run is None:
            raise Problem(404, "No such import.", code="NOT_FOUND")
        return run
