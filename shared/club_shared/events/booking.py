"""Events published by the booking service.

Most request events carry the same `Booking` body: what billing needs to price the booking (the fee
input of domain.md §5.3: ids, status, resource type, club date, start instant, duration, declared
count, roster version, participants with type, e-mail, slot, staff/placeholder/pass flags and payment
status, and the `source` of the change) and what notifications needs to tell people (names, the
resource, wall-clock times). Dates are club dates `YYYY-MM-DD`, wall-clock times `HH:MM` in club time,
instants ISO 8601 UTC.

Ad-hoc alerts to staff use the shared `booking.notification.requested` (events/common.py).
"""

from marshmallow import RAISE, Schema, fields, validate

PARTICIPANT_TYPES = ("owner", "member", "guest")
PAYMENT_STATUSES = ("pending", "paid", "waived", "refunded")
RESOURCE_TYPES = ("simulator", "conference_room")
FEE_SOURCES = (
    "booking_preview",
    "approval",
    "roster_change",
    "check_in",
    "admin_override",
    "cascade",
    "system_recalc",
    "trackman_import",
    "trackman_webhook",
    "staff_add_member",
    "staff_add_guest",
    "reschedule",
    "cancellation",
    "status_change",
)


class _Strict(Schema):
    class Meta:
        unknown = RAISE


class Participant(_Strict):
    participant_id = fields.Integer(required=True, allow_none=True)  # None before the session exists
    type = fields.String(required=True, validate=validate.OneOf(PARTICIPANT_TYPES))
    user_id = fields.String(required=True, allow_none=True)
    guest_id = fields.Integer(load_default=None, allow_none=True)
    email = fields.Email(required=True, allow_none=True)
    name = fields.String(required=True, allow_none=True)
    slot = fields.Integer(required=True, validate=validate.Range(min=1, max=4))
    is_staff = fields.Boolean(required=True)
    is_placeholder = fields.Boolean(required=True)
    #: Covered by a guest pass: held (before the session) or converted/consumed (after).
    used_guest_pass = fields.Boolean(required=True)
    payment_status = fields.String(required=True, allow_none=True, validate=validate.OneOf(PAYMENT_STATUSES))


class Booking(_Strict):
    booking_id = fields.Integer(required=True)
    session_id = fields.Integer(required=True, allow_none=True)
    status = fields.String(required=True)
    source = fields.String(required=True, validate=validate.OneOf(FEE_SOURCES))
    member_id = fields.String(required=True, allow_none=True)
    member_email = fields.Email(required=True)
    member_name = fields.String(required=True, allow_none=True)
    resource_id = fields.Integer(required=True, allow_none=True)
    resource_name = fields.String(required=True, allow_none=True)
    resource_type = fields.String(required=True, validate=validate.OneOf(RESOURCE_TYPES))
    date = fields.Date(required=True)
    start_time = fields.String(required=True)
    end_time = fields.String(required=True)
    starts_at = fields.AwareDateTime(required=True)
    ends_at = fields.AwareDateTime(required=True)
    duration_minutes = fields.Integer(required=True)
    declared_player_count = fields.Integer(required=True, validate=validate.Range(min=1, max=4))
    roster_version = fields.Integer(required=True)
    trackman_booking_id = fields.String(required=True, allow_none=True)
    participants = fields.List(fields.Nested(Participant), required=True)


class RequestCreated(Booking):
    created_by = fields.Email(required=True, allow_none=True)


class RequestConfirmed(Booking):
    reason = fields.String(required=True, validate=validate.OneOf(["conference_room", "trackman"]))


class RequestApproved(Booking):
    reviewed_by = fields.String(required=True)


class RequestDeclined(Booking):
    reviewed_by = fields.String(required=True)
    reason = fields.String(required=True, allow_none=True)


class PreviousTimes(_Strict):
    resource_id = fields.Integer(required=True, allow_none=True)
    date = fields.Date(required=True)
    start_time = fields.String(required=True)
    end_time = fields.String(required=True)
    starts_at = fields.AwareDateTime(required=True)
    ends_at = fields.AwareDateTime(required=True)
    duration_minutes = fields.Integer(required=True)


class RequestRescheduled(Booking):
    changed_by = fields.String(required=True)
    previous = fields.Nested(PreviousTimes, required=True)


class RequestCheckedIn(Booking):
    checked_in_by = fields.String(required=True)


class RequestCancelled(Booking):
    cancelled_by = fields.String(required=True)
    actor_type = fields.String(
        required=True, validate=validate.OneOf(["member", "staff", "trackman", "system"])
    )
    previous_status = fields.String(required=True)
    #: When the member asked (the moment the late-cancel rule looks at).
    requested_at = fields.AwareDateTime(required=True)
    late = fields.Boolean(required=True)
    #: Paid participant charges are to be refunded (an early member cancel, or staff/TrackMan).
    refund_eligible = fields.Boolean(required=True)


class RequestCancellationRequested(Booking):
    requested_by = fields.String(required=True)
    requested_at = fields.AwareDateTime(required=True)


class RequestExpired(Booking):
    pass


class RequestAttended(Booking):
    marked_by = fields.String(required=True)


class RequestNoShowMarked(Booking):
    marked_by = fields.String(required=True)


class RosterChanged(Booking):
    changed_by = fields.String(required=True)
    previous_roster_version = fields.Integer(required=True)


class SessionCreated(_Strict):
    session_id = fields.Integer(required=True)
    resource_id = fields.Integer(required=True)
    resource_type = fields.String(required=True, validate=validate.OneOf(RESOURCE_TYPES))
    date = fields.Date(required=True)
    start_time = fields.String(required=True)
    end_time = fields.String(required=True)
    starts_at = fields.AwareDateTime(required=True)
    ends_at = fields.AwareDateTime(required=True)
    duration_minutes = fields.Integer(required=True)
    source = fields.String(required=True)
    trackman_booking_id = fields.String(required=True, allow_none=True)
    booking_ids = fields.List(fields.Integer(), required=True)


class PassParticipant(_Strict):
    participant_id = fields.Integer(required=True, allow_none=True)
    name = fields.String(required=True, allow_none=True)
    email = fields.Email(required=True, allow_none=True)


class GuestPassChanged(_Strict):
    """A member's guest passes moved: held for a request, converted at its session, consumed at
    check-in, released (hold dropped), refunded (used passes given back)."""

    member_email = fields.Email(required=True)
    booking_id = fields.Integer(required=True, allow_none=True)
    passes = fields.Integer(required=True, validate=validate.Range(min=0))
    total_passes = fields.Integer(required=True)
    used_passes = fields.Integer(required=True)
    held_passes = fields.Integer(required=True)
    available_passes = fields.Integer(required=True)
    period_key = fields.String(required=True, allow_none=True)
    guests = fields.List(fields.Nested(PassParticipant), required=True)


class ClosureCreated(_Strict):
    closure_id = fields.Integer(required=True)
    title = fields.String(required=True)
    reason = fields.String(required=True, allow_none=True)
    notice_type = fields.String(required=True, allow_none=True)
    member_notice = fields.String(required=True, allow_none=True)
    start_date = fields.Date(required=True)
    end_date = fields.Date(required=True)
    start_time = fields.String(required=True, allow_none=True)
    end_time = fields.String(required=True, allow_none=True)
    affected_areas = fields.String(required=True)
    resource_ids = fields.List(fields.Integer(), required=True)
    notify_members = fields.Boolean(required=True)
    needs_review = fields.Boolean(required=True)
    #: Bookings already in the range: they keep their status, staff are told.
    affected_booking_ids = fields.List(fields.Integer(), required=True)
    created_by = fields.String(required=True, allow_none=True)


class ClosureDeleted(_Strict):
    closure_id = fields.Integer(required=True)
    title = fields.String(required=True)
    resource_ids = fields.List(fields.Integer(), required=True)
    calendar_event_id = fields.String(required=True, allow_none=True)
    deleted_by = fields.String(required=True, allow_none=True)


# --- answers to integrations.trackman.booking_received (domain.md §7) ----------------------------


class TrackmanMatchSucceeded(_Strict):
    trackman_booking_id = fields.String(required=True)
    #: none when TrackMan's booking became a session of ours without a request (a lesson, a block)
    booking_id = fields.Integer(required=True, allow_none=True)
    session_id = fields.Integer(load_default=None, allow_none=True)
    member_email = fields.Email(load_default=None, allow_none=True)
    #: trackman_id | auto_approved | linked | bay_time | marker | merged_unmatched | lesson
    rule = fields.String(required=True, validate=validate.Length(max=50))
    newly_linked = fields.Boolean(load_default=False)
    webhook_event_id = fields.Integer(load_default=None, allow_none=True)
    import_run_id = fields.Integer(load_default=None, allow_none=True)


class TrackmanMatchFailed(_Strict):
    """No booking matched: booking made an unmatched session (blocking the bay) unless the row was
    skipped; integrations keeps it in `trackman_unmatched_bookings` for staff."""

    trackman_booking_id = fields.String(required=True)
    reason = fields.String(
        required=True, validate=validate.OneOf(("no_match", "ambiguous", "no_email", "skipped"))
    )
    candidate_booking_ids = fields.List(fields.Integer(), required=True)
    booking_id = fields.Integer(load_default=None, allow_none=True)
    session_id = fields.Integer(load_default=None, allow_none=True)
    webhook_event_id = fields.Integer(load_default=None, allow_none=True)
    import_run_id = fields.Integer(load_default=None, allow_none=True)
    resource_id = fields.Integer(load_default=None, allow_none=True)
    date = fields.Date(load_default=None, allow_none=True)
    start_time = fields.String(load_default=None, allow_none=True)
    end_time = fields.String(load_default=None, allow_none=True)
    customer_email = fields.Email(load_default=None, allow_none=True)
    customer_name = fields.String(load_default=None, allow_none=True)
    player_count = fields.Integer(load_default=None, allow_none=True)


# --- club events, RSVPs, wellness enrolments (domain.md §9) -------------------------------------


class ClubEventChanged(_Strict):
    """booking.event.created / updated / cancelled (cancelled = archived by staff)."""

    event_id = fields.Integer(required=True)
    title = fields.String(required=True)
    category = fields.String(required=True)
    location = fields.String(required=True, allow_none=True)
    date = fields.Date(required=True)
    start_time = fields.String(required=True)
    end_time = fields.String(required=True)
    starts_at = fields.AwareDateTime(required=True)
    ends_at = fields.AwareDateTime(required=True)
    max_capacity = fields.Integer(required=True, allow_none=True)
    visibility = fields.String(required=True, validate=validate.OneOf(("public", "members", "staff")))
    requires_rsvp = fields.Boolean(required=True)
    source = fields.String(required=True, validate=validate.OneOf(("manual", "eventbrite", "google")))
    eventbrite_id = fields.String(required=True, allow_none=True)
    google_calendar_id = fields.String(required=True, allow_none=True)
    #: Resources the event blocks (availability blocks of type 'event'); [] once cancelled.
    blocked_resource_ids = fields.List(fields.Integer(), required=True)
    archived = fields.Boolean(required=True)
    changed_by = fields.String(required=True, allow_none=True)
    #: Members holding a confirmed RSVP (told when the event moves or is cancelled).
    attendee_emails = fields.List(fields.Email(), required=True)


class RsvpChanged(_Strict):
    """booking.rsvp.confirmed / cancelled."""

    rsvp_id = fields.Integer(required=True)
    event_id = fields.Integer(required=True)
    event_title = fields.String(required=True)
    member_id = fields.String(required=True, allow_none=True)
    member_email = fields.Email(required=True)
    member_name = fields.String(required=True, allow_none=True)
    status = fields.String(required=True, validate=validate.OneOf(("confirmed", "cancelled", "waitlisted")))
    guest_count = fields.Integer(required=True)
    source = fields.String(required=True, validate=validate.OneOf(("local", "eventbrite")))
    location = fields.String(required=True, allow_none=True)
    date = fields.Date(required=True)
    start_time = fields.String(required=True)
    starts_at = fields.AwareDateTime(required=True)
    changed_by = fields.String(required=True, allow_none=True)


class EnrollmentChanged(_Strict):
    """booking.enrollment.confirmed / waitlisted / promoted / cancelled."""

    enrollment_id = fields.Integer(required=True)
    class_id = fields.Integer(required=True)
    class_title = fields.String(required=True)
    category = fields.String(required=True)
    instructor = fields.String(required=True, allow_none=True)
    member_id = fields.String(required=True, allow_none=True)
    member_email = fields.Email(required=True)
    member_name = fields.String(required=True, allow_none=True)
    status = fields.String(required=True, validate=validate.OneOf(("confirmed", "waitlisted", "cancelled")))
    previous_status = fields.String(required=True, allow_none=True)
    date = fields.Date(required=True)
    start_time = fields.String(required=True)
    starts_at = fields.AwareDateTime(required=True)
    duration_minutes = fields.Integer(required=True)
    #: A cancellation inside the late-cancel window (the seat stays free, nobody is promoted).
    late = fields.Boolean(required=True)
    changed_by = fields.String(required=True, allow_none=True)


class WellnessClassChanged(_Strict):
    """booking.wellness_class.updated: staff edited a class (time, capacity, instructor, …)."""

    class_id = fields.Integer(required=True)
    title = fields.String(required=True)
    category = fields.String(required=True)
    instructor = fields.String(required=True, allow_none=True)
    location = fields.String(required=True, allow_none=True)
    date = fields.Date(required=True)
    start_time = fields.String(required=True)
    starts_at = fields.AwareDateTime(required=True)
    ends_at = fields.AwareDateTime(required=True)
    duration_minutes = fields.Integer(required=True)
    capacity = fields.Integer(required=True)
    waitlist_enabled = fields.Boolean(required=True)
    #: Resources the class blocks (availability blocks of type 'wellness').
    blocked_resource_ids = fields.List(fields.Integer(), required=True)
    #: What changed, by field name (`date`, `start_time`, `capacity`, …).
    changed_fields = fields.List(fields.String(), required=True)
    changed_by = fields.String(required=True, allow_none=True)
    #: Members holding a seat or a waitlist place (told when the class moves).
    enrolled_emails = fields.List(fields.Email(), required=True)
    waitlisted_emails = fields.List(fields.Email(), required=True)


class VisitRecorded(_Strict):
    """booking.visit.recorded: a member came in without a booking (walk-in, domain.md §4.8):
    membership counts `lifetime_visits`, integrations syncs HubSpot, notifications greets a
    trialing member's first visit."""

    visit_id = fields.Integer(required=True)
    member_id = fields.String(required=True)
    member_email = fields.Email(required=True)
    member_name = fields.String(required=True, allow_none=True)
    #: The member's status as booking knows it (`trialing` members get the first-visit e-mail).
    member_status = fields.String(required=True)
    visited_at = fields.AwareDateTime(required=True)
    checked_in_by = fields.String(required=True)
    #: `qr` (a scanned `MEMBER:<id>` code) or `manual` (staff looked the member up)
    method = fields.String(required=True, validate=validate.OneOf(("qr", "manual")))
    #: The member's first walk-in visit booking has recorded.
    first_visit = fields.Boolean(required=True)


SCHEMAS = {
    ("booking.request.created", 1): RequestCreated,
    ("booking.request.confirmed", 1): RequestConfirmed,
    ("booking.request.approved", 1): RequestApproved,
    ("booking.request.declined", 1): RequestDeclined,
    ("booking.request.rescheduled", 1): RequestRescheduled,
    ("booking.request.checked_in", 1): RequestCheckedIn,
    ("booking.request.cancelled", 1): RequestCancelled,
    ("booking.request.cancellation_requested", 1): RequestCancellationRequested,
    ("booking.request.expired", 1): RequestExpired,
    ("booking.request.attended", 1): RequestAttended,
    ("booking.request.no_show_marked", 1): RequestNoShowMarked,
    ("booking.session.created", 1): SessionCreated,
    ("booking.session.roster_changed", 1): RosterChanged,
    ("booking.guest_pass.held", 1): GuestPassChanged,
    ("booking.guest_pass.converted", 1): GuestPassChanged,
    ("booking.guest_pass.consumed", 1): GuestPassChanged,
    ("booking.guest_pass.released", 1): GuestPassChanged,
    ("booking.guest_pass.refunded", 1): GuestPassChanged,
    ("booking.closure.created", 1): ClosureCreated,
    ("booking.closure.deleted", 1): ClosureDeleted,
    ("booking.trackman_match.succeeded", 1): TrackmanMatchSucceeded,
    ("booking.trackman_match.failed", 1): TrackmanMatchFailed,
    ("booking.event.created", 1): ClubEventChanged,
    ("booking.event.updated", 1): ClubEventChanged,
    ("booking.event.cancelled", 1): ClubEventChanged,
    ("booking.rsvp.confirmed", 1): RsvpChanged,
    ("booking.rsvp.cancelled", 1): RsvpChanged,
    ("booking.enrollment.confirmed", 1): EnrollmentChanged,
    ("booking.enrollment.waitlisted", 1): EnrollmentChanged,
    ("booking.enrollment.promoted", 1): EnrollmentChanged,
    ("booking.enrollment.cancelled", 1): EnrollmentChanged,
    ("booking.wellness_class.updated", 1): WellnessClassChanged,
    ("booking.visit.recorded", 1): VisitRecorded,
}
