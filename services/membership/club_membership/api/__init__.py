"""The membership service's HTTP API: one blueprint per resource."""

from .account import blp as account
from .audit_log import blp as audit_log
from .auth import blp as auth
from .billing_groups import blp as billing_groups
from .bug_reports import blp as bug_reports
from .content import blp as content
from .family_add_ons import blp as family_add_ons
from .me import blp as me
from .member_notes import blp as member_notes
from .members import blp as members
from .settings import blp as settings
from .staff import blp as staff
from .tier_features import blp as tier_features
from .tiers import blp as tiers

BLUEPRINTS = [
    auth,
    me,
    members,
    member_notes,
    staff,
    tiers,
    tier_features,
    family_add_ons,
    billing_groups,
    content,
    settings,
    audit_log,
    bug_reports,
    account,
]
