"""Who may call each route. The table must name every route the app has: a new route without a row
fails here until someone decides who may call it."""

from __future__ import annotations

import pytest

#: (method, rule) → who: anyone | signed-in (any role, their own data) | staff (staff, admin,
#: golf_instructor... as require_role("staff") allows) | admin (admins only) | signed-webhook (the
#: provider's signature)
ROUTES = {
    ("GET", "/api/v1/notifications"): "signed-in",
    ("POST", "/api/v1/notifications"): "staff",
    ("GET", "/api/v1/notifications/unread-count"): "signed-in",
    ("POST", "/api/v1/notifications/<int:notification_id>/read"): "signed-in",
    ("POST", "/api/v1/notifications/read-all"): "signed-in",
    ("GET", "/api/v1/push-subscriptions/config"): "anyone",
    ("GET", "/api/v1/push-subscriptions"): "signed-in",
    ("POST", "/api/v1/push-subscriptions"): "signed-in",
    ("DELETE", "/api/v1/push-subscriptions/<int:subscription_id>"): "signed-in",
    ("POST", "/api/v1/push-subscriptions/unsubscribe"): "signed-in",
    ("GET", "/api/v1/announcements"): "signed-in",
    ("GET", "/api/v1/announcements/banner"): "signed-in",
    ("POST", "/api/v1/announcements"): "staff",
    ("PATCH", "/api/v1/announcements/<int:announcement_id>"): "staff",
    ("DELETE", "/api/v1/announcements/<int:announcement_id>"): "staff",
    ("GET", "/api/v1/notices"): "signed-in",
    ("POST", "/api/v1/notices/dismiss"): "signed-in",
    ("POST", "/api/v1/notices/dismiss-all"): "signed-in",
    ("GET", "/api/v1/notices/types"): "signed-in",
    ("POST", "/api/v1/notices/types"): "staff",
    ("PATCH", "/api/v1/notices/types/<int:notice_type_id>"): "staff",
    ("GET", "/api/v1/communications"): "staff",
    ("POST", "/api/v1/communications"): "staff",
    ("GET", "/api/v1/communications/channels"): "staff",
    ("POST", "/api/v1/webhooks/email"): "signed-webhook",
    ("GET", "/api/v1/notifications/fee-waivers"): "admin",
    ("POST", "/api/v1/notifications/fee-waivers/<int:waiver_id>/review"): "admin",
}


def _app_routes(app) -> set[tuple[str, str]]:
    found = set()
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/"):
            continue
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            found.add((method, rule.rule))
    return found


def test_every_route_is_in_the_table(app):
    routes = _app_routes(app)
    assert routes - set(ROUTES) == set(), "routes nobody decided the callers of"
    assert set(ROUTES) - routes == set(), "rows for routes that no longer exist"


def _url(rule: str) -> str:
    return (
        rule.replace("<int:notification_id>", "1")
        .replace("<int:subscription_id>", "1")
        .replace("<int:announcement_id>", "1")
        .replace("<int:notice_type_id>", "1")
        .replace("<int:waiver_id>", "1")
    )


@pytest.mark.parametrize(("method", "rule"), sorted(ROUTES))
def test_callers(client, auth, method, rule):
    who = ROUTES[(method, rule)]
    url = _url(rule)
    anonymous = client.open(url, method=method, json={} if method in ("POST", "PATCH", "PUT") else None)
    if who == "anyone":
        assert anonymous.status_code not in (401, 403)
        return
    if who == "signed-webhook":
        assert anonymous.status_code in (400, 503)
        return
    assert anonymous.status_code == 401, (method, rule, anonymous.get_data(as_text=True))
    assert anonymous.mimetype == "application/problem+json"
    member = client.open(
        url,
        method=method,
        headers=auth("member@example.com"),
        json={} if method != "GET" and method != "DELETE" else None,
    )
    if who == "admin":
        assert member.status_code == 403, (method, rule)
        for role in ("staff", "admin"):
            caller = client.open(
                url,
                method=method,
                headers=auth(f"{role}@example.com", role),
                json={} if method not in ("GET", "DELETE") else None,
            )
            assert (caller.status_code == 403) == (role == "staff"), (method, rule, role)
    elif who == "staff":
        assert member.status_code == 403, (method, rule)
        staff = client.open(
            url,
            method=method,
            headers=auth("desk@example.com", "staff"),
            json={} if method not in ("GET", "DELETE") else None,
        )
        assert staff.status_code not in (401, 403), (method, rule)
    else:
        assert member.status_code not in (401, 403), (method, rule)
