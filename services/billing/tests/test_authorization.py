"""Who may call each route. The table must name every route the app has: a new route without a row
fails here until someone decides who may call it."""

from __future__ import annotations

import pytest

#: (method, rule) → anyone | member (any signed-in caller, their own money) | staff | signed-webhook
ROUTES = {
    ("GET", "/api/v1/fees/booking-requests/<int:booking_id>"): "member",
    ("POST", "/api/v1/fees/preview"): "member",
    ("POST", "/api/v1/payments/booking-requests/<int:booking_id>/pay"): "member",
    (
        "POST",
        "/api/v1/payments/booking-requests/<int:booking_id>/lines/<string(maxlength=12):line_key>/cash",
    ): "staff",
    (
        "POST",
        "/api/v1/payments/booking-requests/<int:booking_id>/lines/<string(maxlength=12):line_key>/mark-paid",
    ): "staff",
    (
        "POST",
        "/api/v1/payments/booking-requests/<int:booking_id>/lines/<string(maxlength=12):line_key>/waive",
    ): "staff",
    ("GET", "/api/v1/payments/booking-requests/<int:booking_id>/audit"): "staff",
    ("GET", "/api/v1/billing/balance"): "member",
    ("GET", "/api/v1/billing/status"): "staff",
    ("POST", "/api/v1/day-passes/checkout"): "anyone",
    ("GET", "/api/v1/day-passes"): "staff",
    ("GET", "/api/v1/day-passes/<string(maxlength=80):code>"): "staff",
    ("POST", "/api/v1/day-passes/<string(maxlength=80):code>/redeem"): "staff",
    ("POST", "/api/v1/day-passes/<string(maxlength=80):code>/refund"): "staff",
    ("POST", "/api/v1/webhooks/stripe"): "signed-webhook",
}


def _app_routes(app) -> set[tuple[str, str]]:
    found = set()
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/"):
            for method in rule.methods - {"HEAD", "OPTIONS"}:
                found.add((method, rule.rule))
    return found


def test_every_route_is_in_the_table(app):
    routes = _app_routes(app)
    assert routes - set(ROUTES) == set(), "routes nobody decided the callers of"
    assert set(ROUTES) - routes == set(), "rows for routes that no longer exist"


def _url(rule: str) -> str:
    return (
        rule.replace("<int:booking_id>", "1")
        .replace("<string(maxlength=12):line_key>", "p1")
        .replace("<string(maxlength=80):code>", "dp_missing")
    )


@pytest.mark.parametrize(("method", "rule"), sorted(ROUTES))
def test_callers(client, auth, method, rule):
    who = ROUTES[(method, rule)]
    url = _url(rule)
    body = {} if method == "POST" else None
    anonymous = client.open(url, method=method, json=body)
    if who == "anyone":
        assert anonymous.status_code not in (401, 403)
        return
    if who == "signed-webhook":
        assert anonymous.status_code == 400
        return
    assert anonymous.status_code == 401, (method, rule)
    assert anonymous.mimetype == "application/problem+json"
    member = client.open(url, method=method, json=body, headers=auth("member@example.com"))
    instructor = client.open(
        url, method=method, json=body, headers=auth("pro@club.example", "golf_instructor")
    )
    staff = client.open(url, method=method, json=body, headers=auth("desk@club.example", "staff"))
    admin = client.open(url, method=method, json=body, headers=auth("boss@club.example", "admin"))
    if who == "staff":
        assert member.status_code == 403 and instructor.status_code == 403, (method, rule)
    else:
        assert member.status_code not in (401, 403), (method, rule)
    assert staff.status_code not in (401, 403) and admin.status_code not in (401, 403), (method, rule)
    assert staff.status_code < 500 and member.status_code < 500


def test_a_member_never_sees_another_members_money(client, auth, deliver):
    from billing_support import approved, booking_data, member_event, next_id

    owner = f"own.{next_id()}@example.com"
    deliver("membership.member.created", member_event(owner, "social"))
    booking_id = next_id()
    deliver("booking.request.approved", approved(booking_data(booking_id, owner)))
    stranger = auth("eve@example.com")
    assert client.get(f"/api/v1/fees/booking-requests/{booking_id}", headers=stranger).status_code == 404
    assert (
        client.post(f"/api/v1/payments/booking-requests/{booking_id}/pay", headers=stranger).status_code
        == 404
    )
    assert client.get(f"/api/v1/billing/balance?email={owner}", headers=stranger).status_code == 404
