"""The authorization table: every route of the booking service with the least role that may call it.
A route missing from the table fails the test; each route is called anonymously and as a member,
staff member, golf instructor and admin, and must refuse exactly those below its level (401 for no
token, 403 for a role too low) — and never refuse those at or above it."""

import re

import pytest

ANONYMOUS, MEMBER, STAFF, ADMIN = "anonymous", "member", "staff", "admin"

TABLE = {
    ("GET", "/api/v1/resources"): ANONYMOUS,
    ("GET", "/api/v1/resources/<id>"): ANONYMOUS,
    ("POST", "/api/v1/resources"): ADMIN,
    ("PATCH", "/api/v1/resources/<id>"): ADMIN,
    ("GET", "/api/v1/availability"): MEMBER,
    ("GET", "/api/v1/closures"): MEMBER,
    ("GET", "/api/v1/closures/<id>"): MEMBER,
    ("POST", "/api/v1/closures"): STAFF,
    ("DELETE", "/api/v1/closures/<id>"): STAFF,
    ("GET", "/api/v1/closure-reasons"): MEMBER,
    ("POST", "/api/v1/closure-reasons"): STAFF,
    ("DELETE", "/api/v1/closure-reasons/<id>"): STAFF,
    ("GET", "/api/v1/availability-blocks"): STAFF,
    ("POST", "/api/v1/availability-blocks"): STAFF,
    ("DELETE", "/api/v1/availability-blocks/<id>"): STAFF,
    ("POST", "/api/v1/booking-requests"): MEMBER,
    ("GET", "/api/v1/booking-requests"): MEMBER,
    ("GET", "/api/v1/booking-requests/<id>"): MEMBER,
    ("POST", "/api/v1/booking-requests/<id>/approve"): STAFF,
    ("POST", "/api/v1/booking-requests/<id>/decline"): STAFF,
    ("POST", "/api/v1/booking-requests/<id>/cancel"): MEMBER,
    ("POST", "/api/v1/booking-requests/<id>/check-in"): STAFF,
    ("POST", "/api/v1/booking-requests/<id>/no-show"): STAFF,
    ("POST", "/api/v1/booking-requests/<id>/attended"): STAFF,
    ("PUT", "/api/v1/booking-requests/<id>/participants"): MEMBER,
    ("POST", "/api/v1/booking-requests/<id>/reschedule"): STAFF,
    ("POST", "/api/v1/booking-requests/<id>/participants/<id>/guest-pass"): MEMBER,
    ("GET", "/api/v1/sessions"): STAFF,
    ("GET", "/api/v1/sessions/<id>"): STAFF,
    ("GET", "/api/v1/guest-passes"): MEMBER,
    ("POST", "/api/v1/booking-requests/check-in"): STAFF,
    ("GET", "/api/v1/usage/visits"): STAFF,
    ("GET", "/api/v1/events"): MEMBER,
    ("GET", "/api/v1/events/<id>"): MEMBER,
    ("POST", "/api/v1/events"): STAFF,
    ("PATCH", "/api/v1/events/<id>"): STAFF,
    ("POST", "/api/v1/events/<id>/archive"): STAFF,
    ("GET", "/api/v1/events/<id>/rsvps"): STAFF,
    ("POST", "/api/v1/events/<id>/rsvp"): MEMBER,
    ("POST", "/api/v1/events/<id>/rsvp/cancel"): MEMBER,
    ("GET", "/api/v1/wellness-classes"): MEMBER,
    ("GET", "/api/v1/wellness-classes/<id>"): MEMBER,
    ("POST", "/api/v1/wellness-classes"): STAFF,
    ("PATCH", "/api/v1/wellness-classes/<id>"): STAFF,
    ("GET", "/api/v1/wellness-classes/<id>/enrollments"): STAFF,
    ("POST", "/api/v1/wellness-classes/<id>/enroll"): MEMBER,
    ("POST", "/api/v1/wellness-classes/<id>/enroll/cancel"): MEMBER,
    ("POST", "/api/v1/wellness-classes/<id>/cancel"): STAFF,
    ("GET", "/api/v1/events/feeds"): MEMBER,
    ("POST", "/api/v1/events/feeds"): MEMBER,
    ("POST", "/api/v1/events/feeds/<id>/revoke"): MEMBER,
    ("GET", "/api/v1/events/feed/<id>.ics"): ANONYMOUS,
    ("POST", "/api/v1/resources/<id>/calendar-feeds"): STAFF,
    ("GET", "/api/v1/resources/<id>/calendar.ics"): ANONYMOUS,
}

RANK = {ANONYMOUS: 0, MEMBER: 1, STAFF: 2, ADMIN: 3}
CALLERS = [  # (role in the token or None, its rank)
    (None, 0),
    ("member", 1),
    ("staff", 2),
    ("golf_instructor", 2),
    ("admin", 3),
]


def routes(app):
    found = set()
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1/"):
            continue
        path = re.sub(r"<[^>]+>", "<id>", rule.rule)
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            found.add((method, path))
    return found


def test_every_route_is_in_the_table(app):
    assert routes(app) == set(TABLE), {
        "missing from the table": sorted(routes(app) - set(TABLE)),
        "in the table but not served": sorted(set(TABLE) - routes(app)),
    }


@pytest.mark.parametrize(("method", "path"), sorted(TABLE))
def test_who_may_call_each_route(client, auth, method, path):
    level = RANK[TABLE[(method, path)]]
    url = path.replace("<id>", "999999")
    query = (
        "?date=2026-06-12"
        if method == "GET" and path.endswith(("availability", "sessions", "blocks"))
        else ""
    )
    for role, rank in CALLERS:
        headers = auth(f"{role}@club.example", role) if role else {}
        body = {} if method in ("POST", "PUT", "PATCH") else None
        response = client.open(url + query, method=method, json=body, headers=headers)
        if rank < level:
            expected = 401 if role is None else 403
            assert response.status_code == expected, (role, response.get_data(as_text=True))
            assert response.mimetype == "application/problem+json"
        else:
            assert response.status_code not in (401, 403), (role, response.get_data(as_text=True))
            assert response.status_code < 500, (role, response.get_data(as_text=True))


def test_bad_tokens_are_401(client, keys):
    from club_shared.auth import Identity, generate_key_pair, sign_access_token

    foreign = sign_access_token(
        generate_key_pair()[0], "clubhouse", Identity("x", "x@example.com", "admin"), 900
    )
    expired = sign_access_token(keys[0], "clubhouse", Identity("x", "x@example.com", "admin"), -10)
    for token in ("garbage", foreign, expired):
        response = client.get("/api/v1/booking-requests", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401, token
