"""The notifications service's HTTP API: one blueprint per resource."""

from .announcements import blp as announcements
from .communications import blp as communications
from .email_webhooks import blp as email_webhooks
from .fee_waivers import blp as fee_waivers
from .notices import blp as notices
from .notifications import blp as notifications
from .push_subscriptions import blp as push_subscriptions

BLUEPRINTS = [
    notifications,
    push_subscriptions,
    announcements,
    notices,
    communications,
    email_webhooks,
    fee_waivers,
]
