"""The membership service's HTTP API: one blueprint per resource."""

from .members import blp as members

BLUEPRINTS = [members]
