"""The authorization table: every route of the membership service and who may call it.

- anonymous: anyone; member: any signed-in caller (a member sees and changes only their own
  records: another member's answers 404, tested beside each resource); staff: any staff role
  (staff, admin, golf_instructor); admin: admins only.
- No token, a malformed token, a token signed by another key or an expired one: 401. A member on a
  staff route: 403. Staff on an admin route: 403.

Adding a route without adding it here fails `test_every_route_is_in_the_table`.
"""

from __future__ import annotations

import re
import time
import uuid

import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from club_shared.auth import Identity, generate_key_pair, sign_access_token

ANONYMOUS, MEMBER, STAFF, ADMIN = "anonymous", "member", "staff", "admin"

ROUTES: dict[tuple[str, str], str] = {
    # sign-in
    ("POST", "/api/v1/auth/codes"): ANONYMOUS,
    ("POST", "/api/v1/auth/sessions"): ANONYMOUS,
    ("POST", "/api/v1/auth/refresh"): ANONYMOUS,
    ("GET", "/api/v1/auth/keys"): ANONYMOUS,
    ("GET", "/api/v1/auth/sessions"): MEMBER,
    ("DELETE", "/api/v1/auth/sessions/current"): MEMBER,
    ("DELETE", "/api/v1/auth/sessions/<sid>"): MEMBER,
    # the signed-in member
    ("GET", "/api/v1/me"): MEMBER,
    ("PATCH", "/api/v1/me"): MEMBER,
    ("GET", "/api/v1/me/waiver"): MEMBER,
    ("POST", "/api/v1/me/waiver"): MEMBER,
    # members
    ("GET", "/api/v1/members"): STAFF,
    ("POST", "/api/v1/members"): STAFF,
    ("GET", "/api/v1/members/<member_id>"): MEMBER,
    ("PATCH", "/api/v1/members/<member_id>"): STAFF,
    ("POST", "/api/v1/members/<member_id>/status"): ADMIN,
    ("PUT", "/api/v1/members/<member_id>/tier"): ADMIN,
    ("POST", "/api/v1/members/<member_id>/email"): STAFF,
    ("GET", "/api/v1/members/<member_id>/linked-emails"): MEMBER,
    ("POST", "/api/v1/members/<member_id>/linked-emails"): STAFF,
    ("DELETE", "/api/v1/members/<member_id>/linked-emails/<email>"): STAFF,
    ("POST", "/api/v1/members/<member_id>/archive"): ADMIN,
    ("POST", "/api/v1/members/<member_id>/merge"): ADMIN,
    ("GET", "/api/v1/members/<member_id>/notes"): STAFF,
    ("POST", "/api/v1/members/<member_id>/notes"): STAFF,
    ("PATCH", "/api/v1/members/<member_id>/notes/<int:note_id>"): STAFF,
    ("DELETE", "/api/v1/members/<member_id>/notes/<int:note_id>"): STAFF,
    # staff
    ("GET", "/api/v1/staff"): STAFF,
    ("POST", "/api/v1/staff"): ADMIN,
    ("PATCH", "/api/v1/staff/<int:staff_id>"): ADMIN,
    # billing groups
    ("GET", "/api/v1/billing-groups"): STAFF,
    ("POST", "/api/v1/billing-groups"): STAFF,
    ("GET", "/api/v1/billing-groups/<int:group_id>"): MEMBER,
    ("PATCH", "/api/v1/billing-groups/<int:group_id>"): STAFF,
    ("POST", "/api/v1/billing-groups/<int:group_id>/members"): STAFF,
    ("DELETE", "/api/v1/billing-groups/<int:group_id>/members/<email>"): STAFF,
    # tiers and the comparison table
    ("GET", "/api/v1/tiers"): ANONYMOUS,
    ("GET", "/api/v1/tiers/comparison"): ANONYMOUS,
    ("GET", "/api/v1/tiers/<ref>"): ANONYMOUS,
    ("POST", "/api/v1/tiers"): ADMIN,
    ("POST", "/api/v1/tiers/republish"): ADMIN,
    ("PATCH", "/api/v1/tiers/<ref>"): ADMIN,
    ("DELETE", "/api/v1/tiers/<ref>"): ADMIN,
    ("GET", "/api/v1/tier-features"): ANONYMOUS,
    ("POST", "/api/v1/tier-features"): ADMIN,
    ("PATCH", "/api/v1/tier-features/<int:feature_id>"): ADMIN,
    ("DELETE", "/api/v1/tier-features/<int:feature_id>"): ADMIN,
    ("PUT", "/api/v1/tier-features/<int:feature_id>/values/<tier_ref>"): ADMIN,
    ("GET", "/api/v1/family-add-ons"): ANONYMOUS,
    ("PUT", "/api/v1/family-add-ons/<tier_ref>"): ADMIN,
    # content
    ("GET", "/api/v1/content/faqs"): ANONYMOUS,
    ("POST", "/api/v1/content/faqs"): STAFF,
    ("PATCH", "/api/v1/content/faqs/<int:item_id>"): STAFF,
    ("DELETE", "/api/v1/content/faqs/<int:item_id>"): STAFF,
    ("GET", "/api/v1/content/gallery"): ANONYMOUS,
    ("POST", "/api/v1/content/gallery"): STAFF,
    ("PATCH", "/api/v1/content/gallery/<int:item_id>"): STAFF,
    ("DELETE", "/api/v1/content/gallery/<int:item_id>"): STAFF,
    ("GET", "/api/v1/content/cafe"): ANONYMOUS,
    ("POST", "/api/v1/content/cafe"): ADMIN,
    ("PATCH", "/api/v1/content/cafe/<int:item_id>"): ADMIN,
    ("DELETE", "/api/v1/content/cafe/<int:item_id>"): ADMIN,
    ("GET", "/api/v1/content/training"): STAFF,
    ("POST", "/api/v1/content/training"): ADMIN,
    ("PATCH", "/api/v1/content/training/<int:item_id>"): ADMIN,
    ("DELETE", "/api/v1/content/training/<int:item_id>"): ADMIN,
    ("GET", "/api/v1/content/waiver"): ANONYMOUS,
    ("POST", "/api/v1/content/waiver"): ADMIN,
    # settings
    ("GET", "/api/v1/settings"): STAFF,
    ("GET", "/api/v1/settings/public"): ANONYMOUS,
    ("GET", "/api/v1/settings/system"): ADMIN,
    ("PUT", "/api/v1/settings/<key>"): ADMIN,
    ("DELETE", "/api/v1/settings/<key>"): ADMIN,
    # audit log, bug reports
    ("GET", "/api/v1/audit-log"): STAFF,
    ("POST", "/api/v1/bug-reports"): MEMBER,
    ("GET", "/api/v1/bug-reports"): MEMBER,
    ("PATCH", "/api/v1/bug-reports/<int:report_id>"): STAFF,
    # account: data export and deletion
    ("POST", "/api/v1/account/exports"): MEMBER,
    ("GET", "/api/v1/account/exports"): MEMBER,
    ("GET", "/api/v1/account/exports/<int:export_id>"): MEMBER,
    ("GET", "/api/v1/account/exports/<int:export_id>/download"): MEMBER,
    ("POST", "/api/v1/account/deletion"): MEMBER,
    ("GET", "/api/v1/account/deletion"): MEMBER,
    ("DELETE", "/api/v1/account/deletion"): MEMBER,
    ("GET", "/api/v1/account/deletion-requests"): STAFF,
    ("POST", "/api/v1/account/deletion-requests/<int:request_id>/complete"): ADMIN,
}

#: values for path parameters: ids that exist nowhere, so an allowed call changes nothing
PATH_VALUES = {
    "member_id": lambda: str(uuid.uuid4()),
    "sid": lambda: "no-such-session",
    "email": lambda: "nobody@example.com",
    "ref": lambda: "no-such-tier",
    "tier_ref": lambda: "no-such-tier",
    "feature_id": lambda: "999999",
    "group_id": lambda: "999999",
    "staff_id": lambda: "999999",
    "note_id": lambda: "999999",
    "report_id": lambda: "999999",
    "request_id": lambda: "999999",
    "export_id": lambda: "999999",
    "item_id": lambda: "999999",
    "key": lambda: "club.name",
    "kind": lambda: "faqs",
}
RANK = {ANONYMOUS: 0, MEMBER: 1, STAFF: 2, ADMIN: 3}


def _routes(app) -> dict[tuple[str, str], str]:
    found = {}
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/"):
            continue
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            found[(method, rule.rule)] = rule.endpoint
    return found


def _url(path: str) -> str:
    return re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", lambda m: PATH_VALUES[m.group(1)](), path)


def test_every_route_is_in_the_table(app):
    found = _routes(app)
    missing = sorted(set(found) - set(ROUTES))
    stale = sorted(set(ROUTES) - set(found))
    assert not missing, f"routes missing from the authorization table: {missing}"
    assert not stale, f"routes in the table that no longer exist: {stale}"


def test_each_view_is_guarded_at_its_level(app):
    for route, endpoint in _routes(app).items():
        view = app.view_functions[endpoint]
        assert getattr(view, "club_access", None) == ROUTES[route], route


def _call(client, method, path, headers=None):
    kwargs = {"headers": headers or {}}
    if method in ("POST", "PUT", "PATCH"):
        kwargs["json"] = {}
    return client.open(_url(path), method=method, **kwargs)


@pytest.fixture
def callers(make_member, make_staff):
    return {
        MEMBER: make_member().headers,
        "golf_instructor": make_staff("golf_instructor").headers,
        STAFF: make_staff("staff").headers,
        ADMIN: make_staff("admin").headers,
    }


def _bad_tokens(keys) -> dict[str, dict[str, str]]:
    other_key = generate_key_pair()[0]
    forged = sign_access_token(other_key, "clubhouse", Identity("x", "x@example.com", "admin"), 900)
    expired = jwt.encode(
        {
            "iss": "clubhouse",
            "sub": "x",
            "role": "admin",
            "iat": int(time.time()) - 2000,
            "exp": int(time.time()) - 1000,
        },
        serialization.load_pem_private_key(keys[0].encode(), None),
        "EdDSA",
    )
    return {
        "none": {},
        "not bearer": {"Authorization": "Basic YWRtaW46YWRtaW4="},
        "garbage": {"Authorization": "Bearer not.a.token"},
        "other key": {"Authorization": f"Bearer {forged}"},
        "expired": {"Authorization": f"Bearer {expired}"},
    }


@pytest.mark.parametrize(("method", "path"), sorted(ROUTES))
def test_who_may_call_each_route(client, callers, keys, method, path, problem):
    level = ROUTES[(method, path)]
    if level != ANONYMOUS:
        for name, headers in _bad_tokens(keys).items():
            response = _call(client, method, path, headers)
            assert response.status_code == 401, (name, response.get_data(as_text=True))
            problem(response, 401)
    for caller in (MEMBER, "golf_instructor", STAFF, ADMIN):
        caller_rank = RANK[STAFF] if caller == "golf_instructor" else RANK[caller]
        response = _call(client, method, path, callers[caller])
        if caller_rank < RANK[level]:
            problem(response, 403, "FORBIDDEN")
        else:
            assert response.status_code not in (401, 403), (caller, response.get_data(as_text=True))
            assert response.status_code < 500, (caller, response.get_data(as_text=True))
