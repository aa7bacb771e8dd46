"""The booking service's HTTP API: one blueprint per resource."""

from .availability import blp as availability
from .availability_blocks import blp as availability_blocks
from .booking_requests import blp as booking_requests
from .calendars import blp as calendar_feeds
from .closure_reasons import blp as closure_reasons
from .closures import blp as closures
from .events import blp as events
from .guest_passes import blp as guest_passes
from .resources import blp as resources
from .sessions import blp as sessions
from .visits import blp as visits
from .wellness_classes import blp as wellness_classes

BLUEPRINTS = [
    resources,
    availability,
    closures,
    closure_reasons,
    availability_blocks,
    booking_requests,
    sessions,
    guest_passes,
    events,
    wellness_classes,
    calendar_feeds,
    visits,
]
