"""Who may call each route. The table must name every route the app has: a new route without a row
fails here until someone decides who may call it."""

from __future__ import annotations

import pytest

#: (method, rule) → anyone | member (any signed-in caller, their own money) | staff | admin | signed-webhook
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
    ("POST", "/api/v1/payments/booking-requests/<int:booking_id>/payment-link"): "staff",
    ("GET", "/api/v1/billing/balance"): "member",
    ("GET", "/api/v1/billing/status"): "staff",
    ("POST", "/api/v1/day-passes/checkout"): "anyone",
    ("GET", "/api/v1/day-passes"): "staff",
    ("GET", "/api/v1/day-passes/<string(maxlength=80):code>"): "staff",
    ("POST", "/api/v1/day-passes/<string(maxlength=80):code>/redeem"): "staff",
    ("POST", "/api/v1/day-passes/<string(maxlength=80):code>/refund"): "staff",
    ("POST", "/api/v1/webhooks/stripe"): "signed-webhook",
    ("GET", "/api/v1/products"): "anyone",
    ("POST", "/api/v1/billing/subscriptions"): "member",
    ("POST", "/api/v1/billing/portal-session"): "member",
    ("PATCH", "/api/v1/products/<string(maxlength=100):slug>"): "admin",
    ("GET", "/api/v1/discount-rules"): "admin",
    ("PUT", "/api/v1/discount-rules"): "admin",
    ("POST", "/api/v1/discount-rules/best"): "admin",
    ("GET", "/api/v1/invoices"): "member",
    ("GET", "/api/v1/billing/payments"): "member",
    ("GET", "/api/v1/billing/reports/transactions"): "admin",
    ("POST", "/api/v1/billing/legacy-purchases/imports"): "admin",
    ("GET", "/api/v1/billing/legacy-purchases/imports/<int:run_id>"): "admin",
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
        .replace("<string(maxlength=100):slug>", "no-such-product")
        .replace("<int:run_id>", "1")
    )


class _CsvClient:
    def __init__(self, client):
        self.client = client

    def open(self, url, method, json=None, headers=None):
        return self.client.open(
            url, method=method, data=b"sale_id\n", headers={**(headers or {}), "Content-Type": "text/csv"}
        )


@pytest.mark.parametrize(("method", "rule"), sorted(ROUTES))
def test_callers(client, auth, method, rule):
    who = ROUTES[(method, rule)]
    url = _url(rule)
    body = {} if method in ("POST", "PUT", "PATCH") else None
    if rule.endswith("/legacy-purchases/imports"):  # a CSV upload
        client = _CsvClient(client)
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
    if who == "admin":
        assert member.status_code == 403 and instructor.status_code == 403 and staff.status_code == 403
        assert admin.status_code not in (401, 403) and admin.status_code < 500, (method, rule)
        return
    if who == "staff":  # every staff role, golf instructors included (domain.md)
        assert member.status_code == 403, (method, rule)
        assert instructor.status_code not in (401, 403), (method, rule)
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
