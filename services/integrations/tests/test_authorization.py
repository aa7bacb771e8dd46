"""Who may call each route. The table must name every route the app has: a new route without a row
fails here until someone decides who may call it."""

from __future__ import annotations

import re

import pytest

#: (method, rule) → anyone | signed-in | staff | signed-webhook (the sender's signature)
ROUTES = {
    ("POST", "/api/v1/webhooks/trackman"): "signed-webhook",
    ("GET", "/api/v1/trackman/webhook-events"): "staff",
    ("POST", "/api/v1/trackman/webhook-events/<int:event_id>/retry"): "staff",
    ("POST", "/api/v1/trackman/webhook-events/backfill"): "staff",
    ("GET", "/api/v1/trackman/unmatched"): "staff",
    ("GET", "/api/v1/trackman/unmatched/<int:item_id>"): "staff",
    ("POST", "/api/v1/trackman/unmatched/<int:item_id>/resolve"): "staff",
    ("GET", "/api/v1/trackman/bay-slots"): "staff",
    ("POST", "/api/v1/trackman/imports"): "staff",
    ("GET", "/api/v1/trackman/imports"): "staff",
    ("GET", "/api/v1/trackman/imports/<int:run_id>"): "staff",
    ("GET", "/api/v1/hubspot/status"): "staff",
    ("GET", "/api/v1/hubspot/queue"): "staff",
    ("POST", "/api/v1/hubspot/queue"): "staff",
    ("POST", "/api/v1/hubspot/queue/<int:job_id>/retry"): "staff",
    ("POST", "/api/v1/hubspot/pulls/<name>"): "staff",
    ("POST", "/api/v1/hubspot/meetings/<meeting_id>/dismiss"): "staff",
    ("POST", "/api/v1/webhooks/hubspot"): "signed-webhook",
    ("POST", "/api/v1/forms/<form_type>/submissions"): "anyone",
    ("GET", "/api/v1/forms/submissions"): "staff",
    ("GET", "/api/v1/forms/submissions/<int:submission_id>"): "staff",
    ("POST", "/api/v1/forms/submissions/<int:submission_id>/status"): "staff",
    ("POST", "/api/v1/forms/submissions/<int:submission_id>/invite"): "staff",
    ("GET", "/api/v1/forms/configs"): "staff",
    ("PUT", "/api/v1/forms/configs"): "staff",
    ("POST", "/api/v1/forms/pull"): "staff",
    ("GET", "/api/v1/imports"): "staff",
    ("GET", "/api/v1/imports/<int:job_id>"): "staff",
    ("POST", "/api/v1/imports/legacy-purchases"): "staff",
    ("GET", "/api/v1/imports/calendars"): "staff",
    ("POST", "/api/v1/imports/calendars/sync"): "staff",
    ("POST", "/api/v1/imports/eventbrite/sync"): "staff",
    ("GET", "/api/v1/integrity/runs"): "staff",
    ("POST", "/api/v1/integrity/runs"): "staff",
    ("GET", "/api/v1/integrity/issues"): "staff",
    ("GET", "/api/v1/integrity/issues/<int:issue_id>"): "staff",
    ("POST", "/api/v1/integrity/issues/<int:issue_id>/resolve"): "staff",
    ("POST", "/api/v1/integrity/issues/<int:issue_id>/ignore"): "staff",
    ("POST", "/api/v1/integrity/issues/<int:issue_id>/reopen"): "staff",
    ("GET", "/api/v1/integrity/audit"): "staff",
    ("GET", "/api/v1/hubspot/deals"): "staff",
    ("GET", "/api/v1/hubspot/product-mappings"): "staff",
    ("PUT", "/api/v1/hubspot/product-mappings"): "staff",
    ("DELETE", "/api/v1/hubspot/product-mappings/<int:mapping_id>"): "staff",
    ("GET", "/api/v1/tours/availability"): "anyone",
    ("POST", "/api/v1/tours"): "anyone",
    ("GET", "/api/v1/tours"): "staff",
    ("GET", "/api/v1/tours/<int:tour_id>"): "staff",
    ("PATCH", "/api/v1/tours/<int:tour_id>"): "staff",
    ("POST", "/api/v1/tours/<int:tour_id>/check-in"): "staff",
    ("POST", "/api/v1/tours/<int:tour_id>/complete"): "staff",
    ("POST", "/api/v1/tours/<int:tour_id>/no-show"): "staff",
    ("POST", "/api/v1/tours/<int:tour_id>/cancel"): "staff",
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
    return re.sub(r"<(?:int:)?[a-z_]+>", "1", rule)


#: routes taking a non-JSON body (CSV uploads): probed without one
NON_JSON = {("POST", "/api/v1/trackman/imports"), ("POST", "/api/v1/imports/legacy-purchases")}


def _body(method: str, rule: str = ""):
    return {} if method in ("POST", "PATCH", "PUT") and (method, rule) not in NON_JSON else None


@pytest.mark.parametrize(("method", "rule"), sorted(ROUTES))
def test_callers(make_app, auth, method, rule):
    who = ROUTES[(method, rule)]
    client = make_app(trackman_webhook_secret="s", hubspot_webhook_secret="s").test_client()
    url = _url(rule)
    anonymous = client.open(url, method=method, json=_body(method, rule))
    if who == "anyone":
        assert anonymous.status_code not in (401, 403), (method, rule)
        return
    if who == "signed-webhook":
        assert anonymous.status_code in (400, 401, 503), (method, rule, anonymous.status_code)
        return
    assert anonymous.status_code == 401, (method, rule, anonymous.get_data(as_text=True))
    assert anonymous.mimetype == "application/problem+json"
    member = client.open(
        url, method=method, headers=auth("member@example.com", "member"), json=_body(method, rule)
    )
    if who == "staff":
        assert member.status_code == 403, (method, rule)
        staff = client.open(
            url, method=method, headers=auth("desk@club.example", "staff"), json=_body(method, rule)
        )
        assert staff.status_code not in (401, 403), (method, rule)
    else:
        assert member.status_code not in (401, 403), (method, rule)
