"""Events published by the integrations service.

Integrations never writes another service's tables: it publishes what it learns from TrackMan,
HubSpot, Google Calendar and Eventbrite, and the owner applies it (DESIGN.md § Services).

Club dates are `YYYY-MM-DD`, wall-clock times `HH:MM` in club time, instants ISO 8601 UTC.
"""

from __future__ import annotations

from marshmallow import RAISE, Schema, fields, validate

_HHMM = validate.Regexp(r"^([01]\d|2[0-3]):[0-5]\d$")


class _Strict(Schema):
    class Meta:
        unknown = RAISE


# ------------------------------------------------------------------------------------------------
# TrackMan (domain.md §7): integrations parses and stores, booking matches
# ------------------------------------------------------------------------------------------------

TRACKMAN_SOURCES = ("webhook", "csv_import", "retry", "backfill")


class TrackmanPlayer(_Strict):
    """A player listed in a CSV row's notes (`M|email|first|last`, `G|email|first|last`)."""

    type = fields.String(required=True, validate=validate.OneOf(("member", "guest")))
    email = fields.Email(required=True, allow_none=True)
    first_name = fields.String(required=True, allow_none=True)
    last_name = fields.String(required=True, allow_none=True)


class TrackmanBookingReceived(_Strict):
    """A TrackMan booking was created or changed: booking matches it (by TrackMan id, else e-mail +
    date + start ±600 s, else bay + date + start) and answers with booking.trackman_match.*."""

    trackman_booking_id = fields.String(required=True, validate=validate.Length(min=1, max=50))
    #: the normalised TrackMan type: booking.created | booking.updated | booking.confirmed | …
    event_type = fields.String(required=True, validate=validate.Length(max=50))
    source = fields.String(required=True, validate=validate.OneOf(TRACKMAN_SOURCES))
    webhook_event_id = fields.Integer(required=True, allow_none=True)
    import_run_id = fields.Integer(required=True, allow_none=True)
    bay_ref = fields.String(required=True, allow_none=True)
    #: booking's resource for the bay ref (TRACKMAN_BAY_RESOURCES), none when the bay is unknown
    resource_id = fields.Integer(required=True, allow_none=True)
    date = fields.Date(required=True)
    start_time = fields.String(required=True, validate=_HHMM)
    end_time = fields.String(required=True, validate=_HHMM)
    starts_at = fields.AwareDateTime(required=True, format="iso")
    ends_at = fields.AwareDateTime(required=True, format="iso")
    duration_minutes = fields.Integer(required=True, validate=validate.Range(min=1))
    #: none when TrackMan sent none or a placeholder (never matched, never notified)
    customer_email = fields.Email(required=True, allow_none=True)
    customer_name = fields.String(required=True, allow_none=True)
    player_count = fields.Integer(required=True, allow_none=True, validate=validate.Range(min=0))
    status = fields.String(required=True, validate=validate.OneOf(("booked", "confirmed", "attended")))
    #: booking.block: the bay is blocked by TrackMan (no customer)
    is_block = fields.Boolean(required=True)
    external_booking_id = fields.String(required=True, allow_none=True)
    players = fields.List(fields.Nested(TrackmanPlayer), load_default=list)
    notes = fields.String(load_default=None, allow_none=True)
    #: CSV rows: approved if in the future, attended if past (linked rows are forced to approved)
    target_status = fields.String(
        load_default=None, allow_none=True, validate=validate.OneOf(("approved", "attended"))
    )
    #: CSV rows in the past are recorded as paid
    record_as_paid = fields.Boolean(load_default=False)


class TrackmanBookingCancelled(_Strict):
    """TrackMan cancelled or deleted a booking: booking runs its cancel path (domain.md §4.7), with
    `cancelled_at` as the moment TrackMan cancelled."""

    trackman_booking_id = fields.String(required=True, validate=validate.Length(min=1, max=50))
    event_type = fields.String(required=True, validate=validate.Length(max=50))
    source = fields.String(required=True, validate=validate.OneOf(TRACKMAN_SOURCES))
    webhook_event_id = fields.Integer(required=True, allow_none=True)
    import_run_id = fields.Integer(required=True, allow_none=True)
    bay_ref = fields.String(required=True, allow_none=True)
    resource_id = fields.Integer(required=True, allow_none=True)
    date = fields.Date(required=True, allow_none=True)
    start_time = fields.String(required=True, allow_none=True, validate=_HHMM)
    end_time = fields.String(required=True, allow_none=True, validate=_HHMM)
    starts_at = fields.AwareDateTime(required=True, allow_none=True, format="iso")
    ends_at = fields.AwareDateTime(required=True, allow_none=True, format="iso")
    customer_email = fields.Email(required=True, allow_none=True)
    cancelled_at = fields.AwareDateTime(required=True, format="iso")


class TrackmanUnmatchedResolved(_Strict):
    """Staff resolved an unmatched TrackMan booking: booking sets the owner (`member`), marks a private
    event (`event`) or redeems a visitor's day pass (`day_pass`); placeholder participants are waived,
    fees recomputed. With `remember_email`, membership links `customer_email` to the member
    (source `trackman_resolution`)."""

    unmatched_id = fields.Integer(required=True)
    trackman_booking_id = fields.String(required=True)
    #: booking's unmatched request and session (from booking.trackman_match.failed)
    booking_id = fields.Integer(required=True, allow_none=True)
    session_id = fields.Integer(required=True, allow_none=True)
    resolution = fields.String(required=True, validate=validate.OneOf(("member", "event", "day_pass")))
    member_email = fields.Email(required=True, allow_none=True)
    member_id = fields.String(required=True, allow_none=True)
    customer_email = fields.Email(required=True, allow_none=True)
    remember_email = fields.Boolean(required=True)
    day_pass_purchase_id = fields.Integer(required=True, allow_none=True)
    resource_id = fields.Integer(required=True, allow_none=True)
    date = fields.Date(required=True, allow_none=True)
    start_time = fields.String(required=True, allow_none=True)
    end_time = fields.String(required=True, allow_none=True)
    player_count = fields.Integer(required=True, allow_none=True)
    resolved_by = fields.String(required=True)
    note = fields.String(required=True, allow_none=True)


# ------------------------------------------------------------------------------------------------
# Calendars and Eventbrite (domain.md §9): booking upserts events, classes, closures, RSVPs
# ------------------------------------------------------------------------------------------------

CALENDARS = ("events", "wellness", "internal", "conference", "tours")


class CalendarEventSynced(_Strict):
    """An outside event as it is now. Booking upserts by (`source`, `external_id`): an event, a
    wellness class, a closure or a conference-room block; a record edited in our app
    (`locally_edited`) is not overwritten; `status` cancelled removes or archives it."""

    source = fields.String(required=True, validate=validate.OneOf(("google", "eventbrite")))
    calendar = fields.String(required=True, allow_none=True, validate=validate.OneOf(CALENDARS))
    calendar_id = fields.String(required=True, allow_none=True)
    external_id = fields.String(required=True, validate=validate.Length(min=1, max=200))
    etag = fields.String(required=True, allow_none=True)
    kind = fields.String(
        required=True, validate=validate.OneOf(("event", "wellness_class", "closure", "block"))
    )
    status = fields.String(required=True, validate=validate.OneOf(("confirmed", "tentative", "cancelled")))
    title = fields.String(required=True)
    description = fields.String(required=True, allow_none=True)
    location = fields.String(required=True, allow_none=True)
    all_day = fields.Boolean(required=True)
    start_date = fields.Date(required=True)
    end_date = fields.Date(required=True)
    start_time = fields.String(required=True, allow_none=True, validate=_HHMM)
    end_time = fields.String(required=True, allow_none=True, validate=_HHMM)
    starts_at = fields.AwareDateTime(required=True, allow_none=True, format="iso")
    ends_at = fields.AwareDateTime(required=True, allow_none=True, format="iso")
    #: wellness: "Category - Title with Instructor"
    category = fields.String(required=True, allow_none=True)
    instructor = fields.String(required=True, allow_none=True)
    max_capacity = fields.Integer(required=True, allow_none=True)
    image_url = fields.String(required=True, allow_none=True)
    updated_at = fields.AwareDateTime(required=True, allow_none=True, format="iso")


class CalendarEventCreated(_Strict):
    """A record of ours was pushed to Google Calendar: its owner stores `calendar_event_id`."""

    record_type = fields.String(
        required=True, validate=validate.OneOf(("event", "wellness_class", "closure", "tour"))
    )
    record_id = fields.Integer(required=True)
    calendar = fields.String(required=True, validate=validate.OneOf(CALENDARS))
    calendar_id = fields.String(required=True)
    calendar_event_id = fields.String(required=True)
    etag = fields.String(required=True, allow_none=True)


class EventbriteAttendeeSynced(_Strict):
    """One person's RSVP to an Eventbrite event (their tickets grouped by e-mail): the first attending
    ticket is the RSVP, extra tickets are `guest_count`, none attending → cancelled. Booking upserts
    `event_rsvps` (source eventbrite) unique per (event, email), matching members by email, then name."""

    eventbrite_event_id = fields.String(required=True)
    email = fields.Email(required=True)
    name = fields.String(required=True, allow_none=True)
    first_name = fields.String(required=True, allow_none=True)
    last_name = fields.String(required=True, allow_none=True)
    status = fields.String(required=True, validate=validate.OneOf(("confirmed", "cancelled")))
    guest_count = fields.Integer(required=True, validate=validate.Range(min=0))
    checked_in = fields.Boolean(required=True)
    ticket_class = fields.String(required=True, allow_none=True)
    order_date = fields.AwareDateTime(required=True, allow_none=True, format="iso")
    attendee_ids = fields.List(fields.String(), required=True)


# ------------------------------------------------------------------------------------------------
# HubSpot, applications (domain.md §8)
# ------------------------------------------------------------------------------------------------


class HubspotContactUpdated(_Strict):
    """What HubSpot knows about a member, for membership to apply: `profile` fills blank fields only;
    `opt_ins` overwrite; `merged_emails` become linked e-mails (source hubspot_merge); `note` is a new
    member note when its hash changed. Status and tier are never read from HubSpot."""

    email = fields.Email(required=True)
    hubspot_id = fields.String(required=True)
    profile = fields.Dict(keys=fields.String(), values=fields.String(allow_none=True), required=True)
    opt_ins = fields.Dict(keys=fields.String(), values=fields.Boolean(), required=True)
    merged_emails = fields.List(fields.Email(), required=True)
    note = fields.String(required=True, allow_none=True)
    note_hash = fields.String(required=True, allow_none=True)


class HubspotEngagementReceived(_Strict):
    """An engagement pulled from HubSpot: notifications stores it in `communication_logs`."""

    engagement_id = fields.String(required=True)
    member_email = fields.Email(required=True)
    type = fields.String(required=True, validate=validate.OneOf(("email", "call", "meeting", "note", "sms")))
    direction = fields.String(required=True, validate=validate.OneOf(("inbound", "outbound")))
    subject = fields.String(required=True, allow_none=True)
    body = fields.String(required=True, allow_none=True)
    status = fields.String(required=True, allow_none=True)
    occurred_at = fields.AwareDateTime(required=True, format="iso")


class ApplicationInvited(_Strict):
    """Staff invited a membership applicant: membership creates a pending user, billing an activation
    checkout; billing.checkout.completed (activation_link) → membership activates → converted."""

    submission_id = fields.Integer(required=True)
    email = fields.Email(required=True)
    first_name = fields.String(required=True, allow_none=True)
    last_name = fields.String(required=True, allow_none=True)
    phone = fields.String(required=True, allow_none=True)
    tier = fields.String(required=True, allow_none=True)
    invited_by = fields.String(required=True)


class TourBooked(_Strict):
    """A visitor (or staff for them) booked a tour slot: notifications e-mails the visitor."""

    tour_id = fields.Integer(required=True)
    visitor_name = fields.String(required=True)
    visitor_email = fields.Email(required=True)
    date = fields.Date(required=True)
    start_time = fields.String(required=True, validate=_HHMM)
    end_time = fields.String(required=True, validate=_HHMM)
    starts_at = fields.AwareDateTime(required=True, format="iso")
    source = fields.String(required=True, validate=validate.OneOf(("public", "staff")))


# ------------------------------------------------------------------------------------------------
# Legacy imports and integrity (domain.md §6.7, §11)
# ------------------------------------------------------------------------------------------------


class LegacyPurchaseImported(_Strict):
    """One line of a legacy point-of-sale export: billing stores it in `legacy_purchases`, unique by
    (source_sale_id, line_no)."""

    import_job_id = fields.Integer(required=True)
    source_sale_id = fields.String(required=True, validate=validate.Length(min=1, max=100))
    line_no = fields.Integer(required=True, validate=validate.Range(min=1))
    member_email = fields.Email(required=True, allow_none=True)
    purchased_on = fields.Date(required=True)
    category = fields.String(required=True, allow_none=True)
    item_name = fields.String(required=True)
    quantity = fields.Integer(required=True)
    amount_cents = fields.Integer(required=True)
    is_comp = fields.Boolean(required=True)


class IntegrityRequested(_Strict):
    """Staff asked for integrity checks now: every service runs its checks and publishes
    `<service>.integrity.checked` with this `run_id` and trigger on_demand."""

    run_id = fields.String(required=True, validate=validate.Length(min=1, max=100))
    requested_by = fields.String(required=True)


SCHEMAS = {
    ("integrations.trackman.booking_received", 1): TrackmanBookingReceived,
    ("integrations.trackman.booking_cancelled", 1): TrackmanBookingCancelled,
    ("integrations.trackman.unmatched_resolved", 1): TrackmanUnmatchedResolved,
    ("integrations.calendar.event_synced", 1): CalendarEventSynced,
    ("integrations.calendar.event_created", 1): CalendarEventCreated,
    ("integrations.eventbrite.attendee_synced", 1): EventbriteAttendeeSynced,
    ("integrations.hubspot.contact_updated", 1): HubspotContactUpdated,
    ("integrations.hubspot.engagement_received", 1): HubspotEngagementReceived,
    ("integrations.application.invited", 1): ApplicationInvited,
    ("integrations.tour.booked", 1): TourBooked,
    ("integrations.legacy_purchase.imported", 1): LegacyPurchaseImported,
    ("integrations.integrity.requested", 1): IntegrityRequested,
}
