"""Booking's answers to integrations.trackman.booking_received (domain.md §7).

Booking publishes these; integrations consumes them (unmatched bookings for staff, import-run counts)
and notifications too. They sit in this module until booking's own catalog module (events/booking.py)
takes them over with the same names and fields.
"""

from marshmallow import RAISE, Schema, fields, validate


class _Strict(Schema):
    class Meta:
        unknown = RAISE


class TrackmanMatchSucceeded(_Strict):
    trackman_booking_id = fields.String(required=True)
    booking_id = fields.Integer(required=True)
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


SCHEMAS = {
    ("booking.trackman_match.succeeded", 1): TrackmanMatchSucceeded,
    ("booking.trackman_match.failed", 1): TrackmanMatchFailed,
}
