"""Request and response bodies of the integrations API."""

from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from club_shared.fields import EmailAddress


class _Strict(Schema):
    class Meta:
        unknown = "raise"


class Page(_Strict):
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=500))
    offset = fields.Integer(load_default=0, validate=validate.Range(min=0, max=1_000_000))


class Accepted(Schema):
    status = fields.String()
    event_id = fields.Integer(allow_none=True)
    detail = fields.String(allow_none=True)


# --- TrackMan ---------------------------------------------------------------------------------------


class WebhookEventQuery(Page):
    status = fields.String(
        validate=validate.OneOf(("received", "processed", "duplicate", "ignored", "failed"))
    )
    trackman_booking_id = fields.String(validate=validate.Length(max=50))
    unmatched_only = fields.Boolean(load_default=False)


class WebhookEvent(Schema):
    id = fields.Integer()
    event_type = fields.String()
    raw_event_type = fields.String(allow_none=True)
    payload_version = fields.Integer()
    payload = fields.Dict()
    status = fields.String()
    dedup_key = fields.String(allow_none=True)
    duplicate_of = fields.Integer(allow_none=True)
    trackman_booking_id = fields.String(allow_none=True)
    received_at = fields.AwareDateTime()
    processed_at = fields.AwareDateTime(allow_none=True)
    processing_error = fields.String(allow_none=True)
    matched_booking_id = fields.Integer(allow_none=True)
    matched_member_email = fields.String(allow_none=True)
    match_rule = fields.String(allow_none=True)
    retry_count = fields.Integer()


class Backfill(_Strict):
    since = fields.AwareDateTime(required=True, format="iso")
    until = fields.AwareDateTime(required=True, format="iso")

    @validates_schema
    def _ordered(self, data, **_kwargs):
        if data["until"] <= data["since"]:
            raise ValidationError("until must be after since.", "until")


class Count(Schema):
    count = fields.Integer()


class RetryResult(Schema):
    id = fields.Integer()
    outcome = fields.String()


class UnmatchedQuery(Page):
    status = fields.String(
        load_default="unresolved",
        validate=validate.OneOf(("unresolved", "resolved", "matched", "cancelled", "all")),
    )
    date = fields.Date()


class Unmatched(Schema):
    id = fields.Integer()
    trackman_booking_id = fields.String()
    status = fields.String()
    reason = fields.String()
    candidate_booking_ids = fields.List(fields.Integer())
    resource_id = fields.Integer(allow_none=True)
    bay_ref = fields.String(allow_none=True)
    booking_date = fields.Date(allow_none=True)
    start_time = fields.Time(allow_none=True, format="%H:%M")
    end_time = fields.Time(allow_none=True, format="%H:%M")
    customer_email = fields.String(allow_none=True)
    customer_name = fields.String(allow_none=True)
    player_count = fields.Integer(allow_none=True)
    booking_id = fields.Integer(allow_none=True)
    session_id = fields.Integer(allow_none=True)
    is_event = fields.Boolean()
    resolution = fields.String(allow_none=True)
    resolved_email = fields.String(allow_none=True)
    remember_email = fields.Boolean()
    resolved_by = fields.String(allow_none=True)
    resolved_booking_id = fields.Integer(allow_none=True)
    resolved_at = fields.AwareDateTime(allow_none=True)
    note = fields.String(allow_none=True)
    created_at = fields.AwareDateTime()


class Resolve(_Strict):
    """Assign a member by e-mail (never by name), mark a private event, or redeem a visitor's day pass."""

    resolution = fields.String(
        load_default="member", validate=validate.OneOf(("member", "event", "day_pass"))
    )
    member_email = EmailAddress(load_default=None, allow_none=True)
    #: remember the booking's e-mail as one of the member's linked e-mails (source trackman_resolution)
    remember_email = fields.Boolean(load_default=False)
    day_pass_purchase_id = fields.Integer(load_default=None, allow_none=True, validate=validate.Range(min=1))
    note = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=1000))

    @validates_schema
    def _complete(self, data, **_kwargs):
        if data["resolution"] == "member" and not data.get("member_email"):
            raise ValidationError("A member is assigned by e-mail.", "member_email")
        if data["resolution"] == "day_pass" and not data.get("day_pass_purchase_id"):
            raise ValidationError("Name the day pass to redeem.", "day_pass_purchase_id")
        if data["resolution"] != "member" and data.get("remember_email"):
            raise ValidationError("Only an e-mail assigned to a member can be remembered.", "remember_email")


class BaySlotQuery(_Strict):
    date = fields.Date(required=True)
    include_cancelled = fields.Boolean(load_default=False)


class BaySlot(Schema):
    id = fields.Integer()
    resource_id = fields.Integer(allow_none=True)
    trackman_bay_id = fields.String(allow_none=True)
    bay_name = fields.String(allow_none=True)
    slot_date = fields.Date()
    start_time = fields.Time(format="%H:%M")
    end_time = fields.Time(format="%H:%M")
    starts_at = fields.AwareDateTime()
    ends_at = fields.AwareDateTime()
    status = fields.String()
    trackman_booking_id = fields.String()
    customer_email = fields.String(allow_none=True)
    player_count = fields.Integer(allow_none=True)


class ImportQuery(_Strict):
    filename = fields.String(validate=validate.Length(min=1, max=255))


class ImportRun(Schema):
    id = fields.Integer()
    filename = fields.String()
    status = fields.String()
    started_at = fields.AwareDateTime()
    completed_at = fields.AwareDateTime(allow_none=True)
    records_processed = fields.Integer()
    records_published = fields.Integer()
    records_matched = fields.Integer()
    unmatched = fields.Integer()
    skipped = fields.Integer()
    unchanged = fields.Integer()
    invalid = fields.Integer()
    errors = fields.List(fields.Dict())
    imported_by = fields.String(allow_none=True)
    already_imported = fields.Boolean()


# --- HubSpot -----------------------------------------------------------------------------------------


class QueueQuery(Page):
    status = fields.String(validate=validate.OneOf(("pending", "processing", "completed", "failed", "dead")))
    entity_id = fields.String(validate=validate.Length(max=320))


class QueueJob(Schema):
    id = fields.Integer()
    entity_type = fields.String()
    entity_id = fields.String()
    action = fields.String()
    payload = fields.Dict()
    status = fields.String()
    outcome = fields.String(allow_none=True)
    priority = fields.Integer()
    idempotency_key = fields.String(allow_none=True)
    retry_count = fields.Integer()
    max_retries = fields.Integer()
    next_retry_at = fields.AwareDateTime()
    last_error = fields.String(allow_none=True)
    locked_at = fields.AwareDateTime(allow_none=True)
    created_at = fields.AwareDateTime()
    completed_at = fields.AwareDateTime(allow_none=True)


class Enqueue(_Strict):
    action = fields.String(
        required=True,
        validate=validate.OneOf(
            ("create_contact", "update_contact", "sync_tier", "sync_payment", "sync_day_pass")
        ),
    )
    email = EmailAddress(required=True)
    payload = fields.Dict(load_default=dict)


class Enqueued(Schema):
    id = fields.Integer(allow_none=True)
    status = fields.String()


class HubspotStatus(Schema):
    enabled = fields.Boolean()
    writes_enabled = fields.Boolean()
    webhooks_enabled = fields.Boolean()
    queue = fields.Dict(keys=fields.String(), values=fields.Integer())
    pulls = fields.List(fields.Dict())


class DealQuery(Page):
    email = EmailAddress()


class Deal(Schema):
    id = fields.Integer()
    hubspot_deal_id = fields.String()
    member_email = fields.String(allow_none=True)
    deal_name = fields.String(allow_none=True)
    stage = fields.String(allow_none=True)
    stage_name = fields.String(allow_none=True)
    amount_cents = fields.Integer(allow_none=True)
    last_payment_status = fields.String()
    synced_at = fields.AwareDateTime(allow_none=True)


class ProductMappingIn(_Strict):
    hubspot_product_id = fields.String(required=True, validate=validate.Length(min=1, max=40))
    internal_product_type = fields.String(
        required=True, validate=validate.OneOf(("membership", "fee", "pass"))
    )
    tier_slug = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=60))
    product_name = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=300))
    unit_price_cents = fields.Integer(load_default=None, allow_none=True, validate=validate.Range(min=0))
    billing_frequency = fields.String(
        load_default=None,
        allow_none=True,
        validate=validate.OneOf(("monthly", "quarterly", "annually", "one_time")),
    )


class ProductMapping(ProductMappingIn):
    class Meta:
        unknown = "exclude"

    id = fields.Integer()
    is_active = fields.Boolean()


# --- tours -------------------------------------------------------------------------------------------


class TourAvailabilityQuery(_Strict):
    date = fields.Date(required=True)


class TourSlot(Schema):
    start_time = fields.String()
    end_time = fields.String()
    starts_at = fields.AwareDateTime()
    ends_at = fields.AwareDateTime()


class TourBook(_Strict):
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    email = EmailAddress(required=True)
    phone = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=40))
    date = fields.Date(required=True)
    start_time = fields.Time(required=True, format="%H:%M")
    notes = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=1000))


class TourPublic(Schema):
    """What a visitor sees of the tour they booked."""

    id = fields.Integer()
    visitor_name = fields.String()
    status = fields.String()
    tour_date = fields.Date(allow_none=True)
    start_time = fields.Time(allow_none=True, format="%H:%M")
    end_time = fields.Time(allow_none=True, format="%H:%M")


class Tour(TourPublic):
    visitor_email = fields.String(allow_none=True)
    visitor_phone = fields.String(allow_none=True)
    scheduled_at = fields.AwareDateTime(allow_none=True)
    ends_at = fields.AwareDateTime(allow_none=True)
    source = fields.String()
    notes = fields.String(allow_none=True)
    hubspot_meeting_id = fields.String(allow_none=True)
    google_calendar_id = fields.String(allow_none=True)
    form_submission_id = fields.Integer(allow_none=True)
    checked_in_at = fields.AwareDateTime(allow_none=True)
    checked_in_by = fields.String(allow_none=True)
    completed_at = fields.AwareDateTime(allow_none=True)
    cancelled_at = fields.AwareDateTime(allow_none=True)
    cancel_reason = fields.String(allow_none=True)
    stale = fields.Boolean()
    created_at = fields.AwareDateTime()


class TourQuery(Page):
    date = fields.Date()
    status = fields.String(
        validate=validate.OneOf(("pending", "scheduled", "checked_in", "completed", "no_show", "cancelled"))
    )
    stale_only = fields.Boolean(load_default=False)


class TourUpdate(_Strict):
    date = fields.Date()
    start_time = fields.Time(format="%H:%M")
    visitor_name = fields.String(validate=validate.Length(min=1, max=200))
    visitor_email = EmailAddress(allow_none=True)
    visitor_phone = fields.String(allow_none=True, validate=validate.Length(max=40))
    notes = fields.String(allow_none=True, validate=validate.Length(max=1000))

    @validates_schema
    def _both(self, data, **_kwargs):
        if ("date" in data) != ("start_time" in data):
            raise ValidationError("A new time needs both date and start_time.", "start_time")


class TourCancel(_Strict):
    reason = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=500))


# --- forms -------------------------------------------------------------------------------------------

FORM_TYPES = ("membership", "private-hire", "event-inquiry", "guest-checkin", "contact", "tour-request")
SUBMISSION_STATUSES = ("new", "read", "reviewing", "approved", "invited", "converted", "declined", "archived")


class FormPost(_Strict):
    """A form of the club's own site: field name → value (e-mail required)."""

    fields = fields.Dict(
        keys=fields.String(validate=validate.Length(min=1, max=100)),
        values=fields.String(allow_none=True, validate=validate.Length(max=5000)),
        required=True,
        validate=validate.Length(min=1, max=50),
    )

    @validates_schema
    def _email(self, data, **_kwargs):
        email = str((data.get("fields") or {}).get("email") or "").strip()
        if "@" not in email or len(email) > 320:
            raise ValidationError("An e-mail address is required.", "fields")


class SubmissionQuery(Page):
    form_type = fields.String(validate=validate.OneOf(FORM_TYPES))
    status = fields.String(validate=validate.OneOf(SUBMISSION_STATUSES))
    email = EmailAddress()


class Submission(Schema):
    id = fields.Integer()
    form_type = fields.String()
    email = fields.String(allow_none=True)
    first_name = fields.String(allow_none=True)
    last_name = fields.String(allow_none=True)
    phone = fields.String(allow_none=True)
    data = fields.Dict()
    metadata = fields.Dict(attribute="metadata_")
    submitted_at = fields.AwareDateTime()
    hubspot_submission_id = fields.String(allow_none=True)
    source = fields.String()
    status = fields.String()
    requested_tier = fields.String(allow_none=True)
    reviewed_by = fields.String(allow_none=True)
    status_changed_at = fields.AwareDateTime(allow_none=True)


class SubmissionAccepted(Schema):
    id = fields.Integer()
    status = fields.String()


class SubmissionMove(_Strict):
    status = fields.String(required=True, validate=validate.OneOf(SUBMISSION_STATUSES))


class Invite(_Strict):
    tier = fields.String(load_default=None, allow_none=True, validate=validate.Length(min=1, max=60))


class FormConfigIn(_Strict):
    form_type = fields.String(required=True, validate=validate.OneOf(FORM_TYPES))
    hubspot_form_id = fields.String(required=True, validate=validate.Length(min=1, max=64))
    hubspot_portal_id = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=40))


class FormConfig(Schema):
    id = fields.Integer()
    form_type = fields.String()
    hubspot_form_id = fields.String()
    hubspot_portal_id = fields.String(allow_none=True)
    form_name = fields.String(allow_none=True)
    fields_ = fields.List(fields.String(), attribute="fields", data_key="fields")
    synced_at = fields.AwareDateTime(allow_none=True)


class Dismiss(_Strict):
    reason = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=500))


# --- imports and calendars -----------------------------------------------------------------------------


class ImportJobQuery(Page):
    import_type = fields.String(validate=validate.Length(max=50))


class ImportJob(Schema):
    id = fields.Integer()
    import_type = fields.String()
    filename = fields.String(allow_none=True)
    status = fields.String()
    records_processed = fields.Integer()
    records_imported = fields.Integer()
    records_skipped = fields.Integer()
    failed_rows = fields.List(fields.Dict())
    started_by = fields.String(allow_none=True)
    started_at = fields.AwareDateTime()
    completed_at = fields.AwareDateTime(allow_none=True)
    already_imported = fields.Boolean()


class CalendarStatus(Schema):
    google_enabled = fields.Boolean()
    eventbrite_enabled = fields.Boolean()
    calendars = fields.List(fields.Dict())


# --- integrity ---------------------------------------------------------------------------------------


class IntegrityRunQuery(Page):
    service = fields.String(
        validate=validate.OneOf(("membership", "booking", "billing", "integrations", "notifications"))
    )


class IntegrityRun(Schema):
    id = fields.Integer()
    run_id = fields.String()
    service = fields.String()
    trigger = fields.String()
    run_at = fields.AwareDateTime()
    received_at = fields.AwareDateTime()
    issues_found = fields.Integer()
    new_issues = fields.Integer()
    resolved_issues = fields.Integer()
    summary = fields.List(fields.Dict())


class IssueQuery(Page):
    status = fields.String(load_default="open", validate=validate.OneOf(("open", "resolved", "all")))
    service = fields.String(validate=validate.Length(max=30))
    severity = fields.String(validate=validate.OneOf(("critical", "high", "medium", "low")))
    category = fields.String(
        validate=validate.OneOf(
            ("orphan_record", "sync_mismatch", "data_quality", "booking_issue", "billing_issue")
        )
    )
    include_ignored = fields.Boolean(load_default=False)


class Issue(Schema):
    id = fields.Integer()
    issue_key = fields.String()
    issue_type = fields.String()
    status = fields.String()
    severity = fields.String()
    category = fields.String()
    source_service = fields.String()
    description = fields.String()
    details = fields.Dict()
    first_detected_at = fields.AwareDateTime()
    last_seen_at = fields.AwareDateTime()
    resolved_at = fields.AwareDateTime(allow_none=True)
    resolved_by = fields.String(allow_none=True)
    resolution_note = fields.String(allow_none=True)
    times_seen = fields.Integer()
    ignored_until = fields.AwareDateTime(allow_none=True)


class ResolveIssue(_Strict):
    note = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=2000))


class IgnoreIssue(_Strict):
    duration = fields.String(required=True, validate=validate.OneOf(("24h", "1w", "30d")))
    reason = fields.String(required=True, validate=validate.Length(min=1, max=2000))


class IntegrityAudit(Schema):
    id = fields.Integer()
    action = fields.String()
    issue_key = fields.String(allow_none=True)
    details = fields.Dict()
    performed_by = fields.String()
    created_at = fields.AwareDateTime()
