"""The billing service's HTTP API: one blueprint per resource."""

from .balance import blp as balance
from .fees import blp as fees
from .payments import blp as payments

BLUEPRINTS = [fees, payments, balance]
