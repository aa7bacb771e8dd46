"""The notifications service's HTTP API: one blueprint per resource."""

from .notifications import blp as notifications

BLUEPRINTS = [notifications]
