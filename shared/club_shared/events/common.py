"""Event types that every service publishes under its own name, with one shared schema each.

- `<service>.audit.recorded`: one staff (or member, or system) action, for the club-wide audit log
  that membership keeps (domain.md §11). Build the data with `club_shared.audit.audit_data`.
- `<service>.data_export.part_written`: a service's share of a member's data export, answering
  `membership.data_export.requested` (domain.md §2.3). `part` is a JSON object whose keys are the
  service's tables (or read models) and whose values are the member's rows in them.
- `<service>.notification.requested`: ask notifications to tell a member or the staff something.
- `<service>.integrity.checked`: a service checked its own data (domain.md §11); integrations records
  the run and tracks the issues.
"""

from __future__ import annotations

from marshmallow import RAISE, Schema, fields, validate

from ..config import SERVICES


class _Strict(Schema):
    class Meta:
        unknown = RAISE


class AuditRecorded(_Strict):
    actor_type = fields.String(required=True, validate=validate.OneOf(("staff", "member", "system")))
    actor_email = fields.String(required=True, allow_none=True, validate=validate.Length(max=320))
    action = fields.String(required=True, validate=validate.Length(min=1, max=100))
    resource_type = fields.String(required=True, validate=validate.Length(min=1, max=50))
    resource_id = fields.String(required=True, allow_none=True, validate=validate.Length(max=100))
    resource_name = fields.String(allow_none=True, validate=validate.Length(max=300))
    details = fields.Dict(keys=fields.String(), load_default=dict)
    ip_address = fields.String(allow_none=True, validate=validate.Length(max=64))
    user_agent = fields.String(allow_none=True, validate=validate.Length(max=500))


class DataExportPartWritten(_Strict):
    request_id = fields.Integer(required=True)
    email = fields.Email(required=True)
    service = fields.String(required=True, validate=validate.OneOf(SERVICES))
    #: {table or read model name: [rows as JSON objects]}: empty lists for tables without rows
    part = fields.Dict(keys=fields.String(), required=True)


class NotificationRequested(_Strict):
    #: member: the one member at `email`; staff: every active staff user; admins: every admin
    audience = fields.String(required=True, validate=validate.OneOf(("member", "staff", "admins")))
    email = fields.Email(allow_none=True, load_default=None)
    type = fields.String(required=True, validate=validate.Length(min=1, max=50))
    title = fields.String(required=True, validate=validate.Length(min=1, max=200))
    message = fields.String(required=True)
    link = fields.String(allow_none=True, load_default=None)
    urgent = fields.Boolean(load_default=False)
    #: in_app, push, email; none given means the type's defaults
    channels = fields.List(
        fields.String(validate=validate.OneOf(("in_app", "push", "email"))), load_default=list
    )


class IntegrityIssue(_Strict):
    #: `<table>_<record id>` is the issue key; the same record found again is the same issue
    table = fields.String(required=True, validate=validate.Length(min=1, max=100))
    record_id = fields.String(required=True, validate=validate.Length(min=1, max=100))
    description = fields.String(required=True)
    details = fields.Dict(keys=fields.String(), load_default=dict)


class IntegrityCheckResult(_Strict):
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    category = fields.String(
        required=True,
        validate=validate.OneOf(
            ("orphan_record", "sync_mismatch", "data_quality", "booking_issue", "billing_issue")
        ),
    )
    severity = fields.String(required=True, validate=validate.OneOf(("critical", "high", "medium", "low")))
    #: error: the check could not run (its issues are then left as they were)
    status = fields.String(required=True, validate=validate.OneOf(("ok", "issues", "error")))
    error = fields.String(load_default=None, allow_none=True)
    issues = fields.List(fields.Nested(IntegrityIssue), required=True)


class IntegrityChecked(_Strict):
    """`<service>.integrity.checked`: a service checked its own data (nightly at 00:00 club time, or on
    demand); integrations records the run and tracks the issues."""

    run_id = fields.String(required=True, validate=validate.Length(min=1, max=100))
    checked_at = fields.AwareDateTime(required=True, format="iso")
    trigger = fields.String(required=True, validate=validate.OneOf(("scheduled", "on_demand")))
    checks = fields.List(fields.Nested(IntegrityCheckResult), required=True)


def per_service_schemas() -> dict[tuple[str, int], type[Schema]]:
    schemas: dict[tuple[str, int], type[Schema]] = {}
    for service in SERVICES:
        schemas[(f"{service}.audit.recorded", 1)] = AuditRecorded
        schemas[(f"{service}.data_export.part_written", 1)] = DataExportPartWritten
        schemas[(f"{service}.notification.requested", 1)] = NotificationRequested
        schemas[(f"{service}.integrity.checked", 1)] = IntegrityChecked
    return schemas


SCHEMAS = per_service_schemas()
