"""The billing service's HTTP API: one blueprint per resource."""

from .balance import blp as balance
from .catalog import discounts, products
from .day_passes import blp as day_passes
from .fees import blp as fees
from .payments import blp as payments
from .records import invoices, records
from .subscriptions import blp as subscriptions
from .webhooks import blp as webhooks

BLUEPRINTS = [
    fees,
    payments,
    invoices,
    balance,
    records,
    day_passes,
    products,
    discounts,
    subscriptions,
    webhooks,
]
