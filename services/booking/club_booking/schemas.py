"""Request and response bodies of the booking API (marshmallow; JSON in snake_case, times ISO 8601,
club-time dates and wall-clock times as `YYYY-MM-DD` and `HH:MM`)."""

from __future__ import annotations

import re
from datetime import date, time

from marshmallow import EXCLUDE, RAISE, Schema, ValidationError, fields, validate, validates_schema

from club_shared.fields import EmailAddress

from .domain.status import STATUSES
from .domain.timeranges import parse_wall_time


class _In(Schema):
    class Meta:
        unknown = RAISE


WALL_TIME = r"^(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$"
MAX_ID = 2**31 - 1


class WallTime(fields.String):
    """A club wall-clock time `HH:MM`; `24:00` means midnight."""

    default_error_messages = {"wall_time": "Not a wall-clock time (HH:MM)."}

    def __init__(self, **kwargs):
        kwargs.setdefault("metadata", {"pattern": WALL_TIME})
        super().__init__(**kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        if not re.match(WALL_TIME, text):
            raise self.make_error("wall_time")
        return parse_wall_time(text)

    def _serialize(self, value, attr, obj, **kwargs):
        return value.strftime("%H:%M") if isinstance(value, time) else value


class ClubDate(fields.Date):
    """A club date, 1900–2199 (bookings live well inside; the range keeps every instant of the day
    representable with a whole-minute offset)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("validate", validate.Range(min=date(1900, 1, 1), max=date(2199, 12, 31)))
        kwargs.setdefault("metadata", {"pattern": r"^(19|2[01])[0-9]{2}-"})
        super().__init__(**kwargs)


class Int(fields.Integer):
    """A JSON integer: 3 or 3.0, never "3", 3.5 or true."""

    def _validated(self, value):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.make_error("invalid", input=value)
        if isinstance(value, float) and not value.is_integer():
            raise self.make_error("invalid", input=value)
        return super()._validated(value)


def Id(**kwargs):  # noqa: N802 - a field factory, read like a field class
    return Int(validate=validate.Range(min=1, max=MAX_ID), **kwargs)


def QueryId(**kwargs):  # noqa: N802
    """An id in a query string (where every value is text)."""
    return fields.Integer(validate=validate.Range(min=1, max=MAX_ID), **kwargs)


class Bool(fields.Boolean):
    """true or false, nothing else (not 0, 1 or "yes")."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, bool):
            raise self.make_error("invalid", input=value)
        return value


# --- resources ---------------------------------------------------------------------------------


class ResourceOut(Schema):
    id = fields.Integer()
    name = fields.String()
    type = fields.String()
    description = fields.String(allow_none=True)
    is_active = fields.Boolean()
    sort_order = fields.Integer()
    capacity = fields.Integer()
    slot_minutes = fields.Integer()
    trackman_bay_ref = fields.String(allow_none=True)


class ResourceIn(_In):
    name = fields.String(required=True, validate=validate.Length(min=1, max=100))
    type = fields.String(
        required=True, validate=validate.OneOf(["simulator", "golf_simulator", "conference_room"])
    )
    description = fields.String(load_default=None, validate=validate.Length(max=2000))
    sort_order = Int(load_default=100, validate=validate.Range(min=0, max=10_000))
    slot_minutes = Int(load_default=30, validate=validate.OneOf([15, 30, 60]))
    trackman_bay_ref = fields.String(load_default=None, validate=validate.Length(min=1, max=20))


class ResourcePatch(_In):
    name = fields.String(validate=validate.Length(min=1, max=100))
    description = fields.String(allow_none=True, validate=validate.Length(max=2000))
    is_active = Bool()
    sort_order = Int(validate=validate.Range(min=0, max=10_000))
    slot_minutes = Int(validate=validate.OneOf([15, 30, 60]))
    trackman_bay_ref = fields.String(allow_none=True, validate=validate.Length(min=1, max=20))


# --- closures, reasons, blocks ------------------------------------------------------------------


class ClosureReasonOut(Schema):
    id = fields.Integer()
    label = fields.String()
    sort_order = fields.Integer()
    is_active = fields.Boolean()


class ClosureReasonIn(_In):
    label = fields.String(required=True, validate=validate.Length(min=1, max=100))
    sort_order = Int(load_default=100, validate=validate.Range(min=0, max=10_000))


class ClosureIn(_In):
    title = fields.String(required=True, validate=validate.Length(min=1, max=200))
    reason = fields.String(load_default=None, validate=validate.Length(max=100))
    member_notice = fields.String(load_default=None, validate=validate.Length(max=2000))
    notice_type = fields.String(load_default=None, validate=validate.Length(min=1, max=50))
    start_date = ClubDate(required=True)
    end_date = ClubDate(load_default=None)
    start_time = WallTime(load_default=None)
    end_time = WallTime(load_default=None)
    affected_areas = fields.Raw(load_default=None)
    notify_members = Bool(load_default=False)

    @validates_schema
    def _areas_shape(self, data, **kwargs):
        areas = data.get("affected_areas")
        if areas is None:
            return
        if isinstance(areas, str):
            if len(areas) > 500:
                raise ValidationError("Too long.", "affected_areas")
        elif isinstance(areas, list):
            if len(areas) > 50 or not all(
                isinstance(a, str | int) and not isinstance(a, bool) for a in areas
            ):
                raise ValidationError("A list of area names or resource ids.", "affected_areas")
        else:
            raise ValidationError("A comma list or an array of areas.", "affected_areas")


class ClosureOut(Schema):
    id = fields.Integer()
    title = fields.String()
    reason = fields.String(allow_none=True)
    member_notice = fields.String(allow_none=True)
    notice_type = fields.String(allow_none=True)
    start_date = fields.Date()
    end_date = fields.Date()
    start_time = WallTime(allow_none=True)
    end_time = WallTime(allow_none=True)
    affected_areas = fields.String()
    resource_ids = fields.List(fields.Integer())
    notify_members = fields.Boolean()
    is_active = fields.Boolean()
    needs_review = fields.Boolean()
    closure_date = fields.Date()
    is_full_day = fields.Boolean()
    affects_all_resources = fields.Boolean()
    created_by = fields.String(allow_none=True)
    created_at = fields.AwareDateTime()
    affected_booking_ids = fields.List(fields.Integer())


class ClosureQuery(_In):
    from_date = ClubDate(data_key="from", load_default=None)
    to_date = ClubDate(data_key="to", load_default=None)


class BlockIn(_In):
    resource_id = Id(required=True)
    block_date = ClubDate(required=True)
    start_time = WallTime(required=True)
    end_time = WallTime(required=True)
    block_type = fields.String(
        load_default="blocked", validate=validate.OneOf(["blocked", "event", "wellness", "lesson"])
    )
    notes = fields.String(load_default=None, validate=validate.Length(max=1000))


class BlockOut(Schema):
    id = fields.Integer()
    resource_id = fields.Integer()
    block_date = fields.Date()
    start_time = WallTime()
    end_time = WallTime()
    starts_at = fields.AwareDateTime()
    ends_at = fields.AwareDateTime()
    block_type = fields.String()
    closure_id = fields.Integer(allow_none=True)
    notes = fields.String(allow_none=True)
    created_by = fields.String(allow_none=True)


class BlockQuery(_In):
    date = ClubDate(required=True)
    resource_id = QueryId(load_default=None)


# --- availability ------------------------------------------------------------------------------


class AvailabilityQuery(_In):
    date = ClubDate(required=True)
    resource_id = QueryId(load_default=None)


class SpanOut(Schema):
    start = fields.AwareDateTime()
    end = fields.AwareDateTime()


class BusyOut(SpanOut):
    kind = fields.String()
    mine = fields.Boolean()
    booking_id = fields.Integer(allow_none=True)
    status = fields.String(allow_none=True)
    owner_email = fields.String(allow_none=True)
    session_id = fields.Integer(allow_none=True)
    block_type = fields.String(allow_none=True)
    closure_id = fields.Integer(allow_none=True)


class SlotOut(SpanOut):
    available = fields.Boolean()


class ResourceDayOut(Schema):
    resource_id = fields.Integer()
    name = fields.String()
    type = fields.String()
    slot_minutes = fields.Integer()
    open = fields.Nested(SpanOut, allow_none=True)
    busy = fields.List(fields.Nested(BusyOut))
    free = fields.List(fields.Nested(SpanOut))
    slots = fields.List(fields.Nested(SlotOut))


class AvailabilityOut(Schema):
    date = fields.Date()
    timezone = fields.String()
    resources = fields.List(fields.Nested(ResourceDayOut))


# --- booking requests --------------------------------------------------------------------------


class ParticipantIn(_In):
    type = fields.String(required=True, validate=validate.OneOf(["member", "guest"]))
    email = EmailAddress(load_default=None, allow_none=True)
    name = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=200))
    user_id = fields.String(load_default=None, allow_none=True, validate=validate.Length(min=1, max=64))

    @validates_schema
    def _who(self, data, **kwargs):
        if data["type"] == "member" and not (data.get("email") or data.get("user_id")):
            raise ValidationError("A member is named by email or user_id.", "email")
        if data["type"] == "guest" and not (data.get("email") or (data.get("name") or "").strip()):
            raise ValidationError("A guest has a name or an email.", "name")


class IdempotencyKeyHeader(Schema):
    """The optional `Idempotency-Key` of a create (IETF draft "The Idempotency-Key HTTP Header
    Field"): other headers are none of this schema's business."""

    class Meta:
        unknown = EXCLUDE

    idempotency_key = fields.String(
        data_key="Idempotency-Key",
        validate=validate.Regexp(
            r"^[\x21-\x7e]{1,255}$", error="An Idempotency-Key is 1 to 255 visible ASCII characters."
        ),
        metadata={
            "description": "Any unique string (a UUID) per logical create, the same on each retry: a "
            "repeat with the same body within 24 hours replays the first answer (header "
            "`Idempotent-Replayed: true`) instead of creating again; the same key with another body "
            "is a 422 IDEMPOTENCY_KEY_REUSED, and a repeat while the first is in progress a 409 "
            "IDEMPOTENCY_KEY_IN_USE."
        },
    )


class BookingRequestIn(_In):
    resource_id = Id(load_default=None, allow_none=True)
    resource_type = fields.String(
        load_default=None,
        allow_none=True,
        validate=validate.OneOf(["simulator", "golf_simulator", "conference_room"]),
    )
    date = ClubDate(required=True)
    start_time = WallTime(required=True)
    duration_minutes = Int(required=True, validate=validate.Range(min=1, max=480))
    declared_player_count = Int(load_default=1, validate=validate.Range(min=1, max=4))
    participants = fields.List(
        fields.Nested(ParticipantIn), load_default=list, validate=validate.Length(max=4)
    )
    notes = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=1000))
    member_notes = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=280))
    member_email = EmailAddress(
        load_default=None, allow_none=True, metadata={"description": "staff: book for this member"}
    )
    guardian_name = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=200))
    guardian_relationship = fields.String(
        load_default=None, allow_none=True, validate=validate.Length(max=100)
    )
    guardian_consent = Bool(load_default=False)


class ApproveIn(_In):
    resource_id = Id(load_default=None, allow_none=True)
    trackman_booking_id = fields.String(
        load_default=None, allow_none=True, validate=validate.Regexp(r"^[0-9]{1,20}$", error="A numeric id.")
    )
    staff_notes = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=2000))


class DeclineIn(_In):
    reason = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=1000))


class CancelIn(_In):
    reason = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=1000))
    force = Bool(
        load_default=False, metadata={"description": "staff: cancel at once even if linked to TrackMan"}
    )
    as_member = Bool(
        load_default=False, metadata={"description": "staff acting as the member: the member's rules"}
    )


class RosterIn(_In):
    declared_player_count = Int(load_default=None, allow_none=True, validate=validate.Range(min=1, max=4))
    participants = fields.List(fields.Nested(ParticipantIn), required=True, validate=validate.Length(max=4))
    override_reason = fields.String(
        load_default=None,
        allow_none=True,
        validate=validate.Length(min=1, max=500),
        metadata={"description": "staff: edit a roster that is locked by a payment"},
    )


class RescheduleIn(_In):
    resource_id = Id(load_default=None, allow_none=True)
    date = ClubDate(required=True)
    start_time = WallTime(required=True)
    duration_minutes = Int(required=True, validate=validate.Range(min=1, max=480))


class BookingQuery(_In):
    status = fields.List(fields.String(validate=validate.OneOf(list(STATUSES))), load_default=list)
    date = ClubDate(load_default=None)
    from_date = ClubDate(data_key="from", load_default=None)
    to_date = ClubDate(data_key="to", load_default=None)
    member_email = EmailAddress(load_default=None)
    resource_id = QueryId(load_default=None)
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=500))


class ParticipantOut(Schema):
    participant_id = fields.Integer(allow_none=True)
    type = fields.String()
    user_id = fields.String(allow_none=True)
    email = fields.String(allow_none=True)
    name = fields.String(allow_none=True)
    slot = fields.Integer()
    is_staff = fields.Boolean()
    is_placeholder = fields.Boolean()
    used_guest_pass = fields.Boolean()
    payment_status = fields.String(allow_none=True)
    cached_fee_cents = fields.Integer(allow_none=True)


class FeesOut(Schema):
    ready = fields.Boolean()
    total_cents = fields.Integer(allow_none=True)
    roster_version = fields.Integer(allow_none=True)
    outstanding_cents = fields.Integer(allow_none=True)


class BookingOut(Schema):
    id = fields.Integer()
    status = fields.String()
    user_id = fields.String(allow_none=True)
    user_email = fields.String()
    user_name = fields.String(allow_none=True)
    resource_id = fields.Integer(allow_none=True)
    resource_type = fields.String()
    date = fields.Date(attribute="request_date")
    start_time = WallTime()
    end_time = WallTime()
    duration_minutes = fields.Integer()
    starts_at = fields.AwareDateTime()
    ends_at = fields.AwareDateTime()
    declared_player_count = fields.Integer()
    participants = fields.List(fields.Nested(ParticipantOut))
    notes = fields.String(allow_none=True)
    member_notes = fields.String(allow_none=True)
    staff_notes = fields.String(allow_none=True)
    session_id = fields.Integer(allow_none=True)
    trackman_booking_id = fields.String(allow_none=True)
    closure_id = fields.Integer(allow_none=True)
    roster_version = fields.Integer()
    fees = fields.Nested(FeesOut)
    source = fields.String()
    created_by = fields.String(allow_none=True)
    reviewed_by = fields.String(allow_none=True)
    reviewed_at = fields.AwareDateTime(allow_none=True)
    cancellation_pending_at = fields.AwareDateTime(allow_none=True)
    cancelled_at = fields.AwareDateTime(allow_none=True)
    cancelled_by = fields.String(allow_none=True)
    checked_in_at = fields.AwareDateTime(allow_none=True)
    stripe_invoice_id = fields.String(allow_none=True)
    invoice_status = fields.String(allow_none=True)
    created_at = fields.AwareDateTime()


# --- club events, RSVPs, wellness classes, calendar feeds ---------------------------------------

EVENT_CATEGORY_NAMES = ("Social", "Golf", "Wellness", "Business", "Member", "Community")


class EventIn(_In):
    title = fields.String(required=True, validate=validate.Length(min=1, max=200))
    description = fields.String(load_default=None, validate=validate.Length(max=10000))
    date = ClubDate(required=True)
    start_time = WallTime(required=True)
    end_time = WallTime(required=True)
    location = fields.String(load_default=None, validate=validate.Length(max=200))
    category = fields.String(load_default="Social", validate=validate.OneOf(EVENT_CATEGORY_NAMES))
    image_url = fields.Url(load_default=None, validate=validate.Length(max=1000))
    max_capacity = Int(load_default=None, allow_none=True, validate=validate.Range(min=0, max=100000))
    visibility = fields.String(load_default="public", validate=validate.OneOf(["public", "members", "staff"]))
    requires_rsvp = Bool(load_default=False)
    source = fields.String(load_default="manual", validate=validate.OneOf(["manual", "eventbrite", "google"]))
    eventbrite_id = fields.String(load_default=None, validate=validate.Length(min=1, max=100))
    google_calendar_id = fields.String(load_default=None, validate=validate.Length(min=1, max=200))
    block_bays = Bool(load_default=False)
    block_conference_room = Bool(load_default=False)


class EventPatch(_In):
    title = fields.String(validate=validate.Length(min=1, max=200))
    description = fields.String(allow_none=True, validate=validate.Length(max=10000))
    date = ClubDate()
    start_time = WallTime()
    end_time = WallTime()
    location = fields.String(allow_none=True, validate=validate.Length(max=200))
    category = fields.String(validate=validate.OneOf(EVENT_CATEGORY_NAMES))
    image_url = fields.Url(allow_none=True, validate=validate.Length(max=1000))
    max_capacity = Int(allow_none=True, validate=validate.Range(min=0, max=100000))
    visibility = fields.String(validate=validate.OneOf(["public", "members", "staff"]))
    requires_rsvp = Bool()
    block_bays = Bool()
    block_conference_room = Bool()
    needs_review = Bool()


class EventQuery(_In):
    from_date = ClubDate(data_key="from", load_default=None)
    to_date = ClubDate(data_key="to", load_default=None)
    include_archived = Bool(load_default=False)


class EventOut(Schema):
    id = fields.Integer()
    title = fields.String()
    description = fields.String(allow_none=True)
    date = fields.Date(attribute="event_date")
    start_time = WallTime()
    end_time = WallTime()
    starts_at = fields.AwareDateTime()
    ends_at = fields.AwareDateTime()
    location = fields.String(allow_none=True)
    category = fields.String()
    image_url = fields.String(allow_none=True)
    max_capacity = fields.Integer(allow_none=True)
    visibility = fields.String()
    requires_rsvp = fields.Boolean()
    source = fields.String()
    eventbrite_id = fields.String(allow_none=True)
    google_calendar_id = fields.String(allow_none=True)
    block_bays = fields.Boolean()
    block_conference_room = fields.Boolean()
    needs_review = fields.Boolean()
    conflict_detected = fields.Boolean()
    locally_edited = fields.Boolean()
    is_active = fields.Boolean()
    archived_at = fields.AwareDateTime(allow_none=True)
    seats_taken = fields.Integer()
    my_rsvp_status = fields.String(allow_none=True)


class RsvpIn(_In):
    guest_count = Int(load_default=0, validate=validate.Range(min=0, max=20))
    member_email = EmailAddress(load_default=None)


class RsvpCancelIn(_In):
    member_email = EmailAddress(load_default=None)


class RsvpOut(Schema):
    id = fields.Integer()
    event_id = fields.Integer()
    user_email = fields.String()
    matched_user_id = fields.String(allow_none=True)
    attendee_name = fields.String(allow_none=True)
    status = fields.String()
    source = fields.String()
    guest_count = fields.Integer()
    checked_in = fields.Boolean()
    created_at = fields.AwareDateTime()
    cancelled_at = fields.AwareDateTime(allow_none=True)


class RepeatIn(_In):
    every_days = Int(load_default=7, validate=validate.Range(min=1, max=31))
    count = Int(required=True, validate=validate.Range(min=1, max=104))


class WellnessClassIn(_In):
    title = fields.String(required=True, validate=validate.Length(min=1, max=200))
    instructor = fields.String(load_default=None, validate=validate.Length(max=200))
    category = fields.String(required=True, validate=validate.Length(min=1, max=50))
    date = ClubDate(required=True)
    start_time = WallTime(required=True)
    duration_minutes = Int(required=True, validate=validate.Range(min=5, max=600))
    capacity = Int(required=True, validate=validate.Range(min=0, max=1000))
    waitlist_enabled = Bool(load_default=True)
    location = fields.String(load_default=None, validate=validate.Length(max=200))
    google_calendar_id = fields.String(load_default=None, validate=validate.Length(min=1, max=200))
    block_bays = Bool(load_default=False)
    block_conference_room = Bool(load_default=False)
    repeat = fields.Nested(RepeatIn, load_default=None)


class CheckInIn(_In):
    """A scanned code (`MEMBER:<id>`, from the app or the member card) or, without one, the member's
    e-mail as staff looked them up."""

    code = fields.String(load_default=None, validate=validate.Length(min=1, max=200))
    member_email = EmailAddress(load_default=None)

    @validates_schema
    def _one(self, data, **kwargs):
        if (data.get("code") is None) == (data.get("member_email") is None):
            raise ValidationError("Give a scanned code or a member e-mail, not both.", "code")


class VisitOut(Schema):
    id = fields.Integer()
    member_id = fields.String()
    member_email = fields.String()
    visited_at = fields.AwareDateTime()
    checked_in_by = fields.String()
    method = fields.String()


class CheckInOut(Schema):
    #: `booking`: the member's booking today was checked in; `visit`: a walk-in visit
    kind = fields.String()
    repeated = fields.Boolean()
    booking = fields.Nested(BookingOut, allow_none=True)
    visit = fields.Nested(VisitOut, allow_none=True)


class VisitQuery(_In):
    date = ClubDate(load_default=None)


class WellnessClassPatch(_In):
    title = fields.String(validate=validate.Length(min=1, max=200))
    instructor = fields.String(allow_none=True, validate=validate.Length(max=200))
    category = fields.String(validate=validate.Length(min=1, max=50))
    date = ClubDate()
    start_time = WallTime()
    duration_minutes = Int(validate=validate.Range(min=5, max=600))
    capacity = Int(validate=validate.Range(min=0, max=1000))
    waitlist_enabled = Bool()
    location = fields.String(allow_none=True, validate=validate.Length(max=200))
    block_bays = Bool()
    block_conference_room = Bool()


class WellnessQuery(_In):
    from_date = ClubDate(data_key="from", load_default=None)
    to_date = ClubDate(data_key="to", load_default=None)


class WellnessClassOut(Schema):
    id = fields.Integer()
    series_id = fields.String(allow_none=True)
    google_calendar_id = fields.String(allow_none=True)
    title = fields.String()
    instructor = fields.String(allow_none=True)
    category = fields.String()
    date = fields.Date(attribute="class_date")
    start_time = WallTime()
    duration_minutes = fields.Integer()
    starts_at = fields.AwareDateTime()
    ends_at = fields.AwareDateTime()
    capacity = fields.Integer()
    waitlist_enabled = fields.Boolean()
    status = fields.String()
    location = fields.String(allow_none=True)
    block_bays = fields.Boolean()
    block_conference_room = fields.Boolean()
    confirmed_count = fields.Integer()
    waitlist_count = fields.Integer()


class EnrollIn(_In):
    member_email = EmailAddress(load_default=None)


class EnrollmentOut(Schema):
    id = fields.Integer()
    class_id = fields.Integer()
    user_email = fields.String()
    member_id = fields.String(allow_none=True)
    status = fields.String()
    waitlisted_at = fields.AwareDateTime(allow_none=True)
    promoted_at = fields.AwareDateTime(allow_none=True)
    cancelled_at = fields.AwareDateTime(allow_none=True)
    created_at = fields.AwareDateTime()


class FeedOut(Schema):
    id = fields.Integer()
    kind = fields.Function(
        lambda f: "member" if (f["member_email"] if isinstance(f, dict) else f.member_email) else "resource"
    )
    member_email = fields.String(allow_none=True)
    resource_id = fields.Integer(allow_none=True)
    created_at = fields.AwareDateTime()
    revoked_at = fields.AwareDateTime(allow_none=True)


class FeedIssuedOut(FeedOut):
    token = fields.String()
    url = fields.String()


class FeedTokenQuery(_In):
    token = fields.String(load_default=None, validate=validate.Length(max=200))
