"""The notifications service's HTTP API: one blueprint per resource."""

from .email_webhooks import blp as email_webhooks
from .notifications import blp as notifications
from .push_subscriptions import blp as push_subscriptions

BLUEPRINTS = [notifications, push_subscriptions, email_webhooks]
