"""The booking service's HTTP API: one blueprint per resource."""

from .availability import blp as availability
from .availability_blocks import blp as availability_blocks
from .booking_requests import blp as booking_requests
from .closure_reasons import blp as closure_reasons
from .closures import blp as closures
from .resources import blp as resources

BLUEPRINTS = [resources, availability, closures, closure_reasons, availability_blocks, booking_requests]
