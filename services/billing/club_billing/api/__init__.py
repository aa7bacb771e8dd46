"""The billing service's HTTP API: one blueprint per resource."""

from .balance import blp as balance
from .day_passes import blp as day_passes
from .fees import blp as fees
from .payments import blp as payments
from .webhooks import blp as webhooks

BLUEPRINTS = [fees, payments, balance, day_passes, webhooks]
