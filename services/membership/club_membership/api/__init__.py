"""The membership service's HTTP API: one blueprint per resource."""

from .auth import blp as auth
from .billing_groups import blp as billing_groups
from .family_add_ons import blp as family_add_ons
from .me import blp as me
from .members import blp as members
from .staff import blp as staff
from .tier_features import blp as tier_features
from .tiers import blp as tiers

BLUEPRINTS = [auth, me, members, staff, tiers, tier_features, family_add_ons, billing_groups]
