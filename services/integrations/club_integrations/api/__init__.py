"""The integrations service's HTTP API: one blueprint per resource."""

from .hubspot import blp as hubspot
from .tours import blp as tours
from .trackman import blp as trackman
from .trackman_webhooks import blp as trackman_webhooks

BLUEPRINTS = [trackman_webhooks, trackman, hubspot, tours]
