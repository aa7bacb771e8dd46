"""The integrations service's HTTP API: one blueprint per resource."""

from .forms import blp as forms
from .hubspot import blp as hubspot
from .hubspot_webhooks import blp as hubspot_webhooks
from .imports import blp as imports
from .integrity import blp as integrity
from .tours import blp as tours
from .trackman import blp as trackman
from .trackman_webhooks import blp as trackman_webhooks

BLUEPRINTS = [trackman_webhooks, trackman, hubspot_webhooks, hubspot, forms, tours, imports, integrity]
