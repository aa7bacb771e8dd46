"""Products and prices, discount rules as coupons, invoices and payments lists, the transaction
report, legacy purchase imports, and the audit events of staff actions."""

from __future__ import annotations

import uuid

from billing_support import approved, booking_data, member_event, next_id, outbox
from sqlalchemy import select

from club_billing.domain.discounts import Discount, best_discount, discounted_cents
from club_billing.models import DiscountRule, LegacyPurchase, StripeProduct

ADMIN = "boss@club.example"
STAFF = "desk@club.example"


def test_highest_applicable_discount_wins_without_stacking():
    rules = [Discount("FAMILY", 20), Discount("STAFF", 50, is_active=False), Discount("VETERAN", 15)]
    assert best_discount(rules, ["FAMILY", "VETERAN"]).tag == "FAMILY"
    assert best_discount(rules, ["STAFF"]) is None
    assert best_discount(rules, []) is None
    assert discounted_cents(7500, best_discount(rules, ["FAMILY", "VETERAN"])) == 6000


def test_products_are_public_and_admins_change_prices(client, auth, db, run_jobs, stripe_fake):
    listed = client.get("/api/v1/products").get_json()
    assert {"day-pass-golf-sim", "day-pass-coworking", "guest-pass", "simulator-overage-30min"} <= {
        p["slug"] for p in listed
    }
    url = "/api/v1/products/day-pass-coworking"
    assert client.patch(url, json={"price_cents": 4000}, headers=auth(STAFF, "staff")).status_code == 403
    assert client.patch(url, json={"price_cents": -1}, headers=auth(ADMIN, "admin")).status_code == 422
    try:
        changed = client.patch(url, json={"price_cents": 4000}, headers=auth(ADMIN, "admin"))
        assert changed.status_code == 200 and changed.get_json()["price_cents"] == 4000
        run_jobs()
        with db.transaction() as session:
            product = session.scalars(
                select(StripeProduct).where(StripeProduct.slug == "day-pass-coworking")
            ).one()
            price = stripe_fake.fake.objects["price"][product.stripe_price_id]
        assert price["unit_amount"] == 4000 and price["lookup_key"] == "day-pass-coworking"
        assert outbox(db, "billing.product.updated", slug="day-pass-coworking")[-1]["price_cents"] == 4000
        [audit] = [a for a in outbox(db, "billing.audit.recorded") if a["action"] == "product_updated"][-1:]
        assert audit["actor_email"] == ADMIN and audit["actor_type"] == "staff"
    finally:
        client.patch(url, json={"price_cents": 3500}, headers=auth(ADMIN, "admin"))


def test_discount_rules_are_pushed_as_coupons(client, auth, db, run_jobs, stripe_fake):
    tag = f"SENIOR{uuid.uuid4().hex[:4].upper()}"
    saved = client.put(
        "/api/v1/discount-rules",
        json={"discount_tag": tag, "name": "Seniors", "discount_percent": 15},
        headers=auth(ADMIN, "admin"),
    )
    assert saved.status_code == 200, saved.get_data(as_text=True)
    assert saved.get_json()["coupon_id"] == f"{tag}_15PCT"
    run_jobs()
    run_jobs()
    assert stripe_fake.fake.objects["coupon"][f"{tag}_15PCT"]["percent_off"] == 15
    with db.transaction() as session:
        rule = session.scalars(select(DiscountRule).where(DiscountRule.discount_tag == tag)).one()
        assert rule.stripe_coupon_id == f"{tag}_15PCT"
    best = client.post(
        "/api/v1/discount-rules/best",
        json={"tags": [tag, "NOPE"], "amount_cents": 10000},
        headers=auth(ADMIN, "admin"),
    ).get_json()
    assert best["discount_tag"] == tag and best["amount_cents"] == 8500
    bad = client.put(
        "/api/v1/discount-rules",
        json={"discount_tag": "lower", "name": "x", "discount_percent": 150},
        headers=auth(ADMIN, "admin"),
    )
    assert bad.status_code == 422


def test_invoices_and_payments_are_the_callers_own(client, auth, deliver, email, run_jobs):
    deliver("membership.member.created", member_event(email, "social"))
    booking_id = next_id()
    deliver("booking.request.approved", approved(booking_data(booking_id, email, minutes=60)))
    run_jobs()
    client.post(f"/api/v1/payments/booking-requests/{booking_id}/pay", headers=auth(email))
    run_jobs()
    mine = client.get("/api/v1/invoices", headers=auth(email)).get_json()
    assert [i["booking_request_id"] for i in mine] == [booking_id] and mine[0]["status"] == "paid"
    payments = client.get("/api/v1/billing/payments", headers=auth(email)).get_json()
    assert payments[0]["status"] == "succeeded" and payments[0]["amount_cents"] == 5000
    assert client.get(f"/api/v1/invoices?email={email}", headers=auth("eve@example.com")).status_code == 404
    assert client.get(f"/api/v1/invoices?email={email}", headers=auth(STAFF, "staff")).status_code == 200
    report = client.get("/api/v1/billing/reports/transactions", headers=auth(ADMIN, "admin"))
    assert report.status_code == 200
    assert client.get("/api/v1/billing/reports/transactions", headers=auth(STAFF, "staff")).status_code == 403


def test_staff_line_actions_publish_audit_events(client, auth, deliver, db, email):
    deliver("membership.member.created", member_event(email, "social"))
    booking_id = next_id()
    deliver("booking.request.approved", approved(booking_data(booking_id, email, minutes=60)))
    key = f"p{booking_id * 10 + 1}"
    client.post(
        f"/api/v1/payments/booking-requests/{booking_id}/lines/{key}/waive",
        json={"reason": "birthday"},
        headers=auth(STAFF, "staff"),
    )
    audits = [a for a in outbox(db, "billing.audit.recorded") if a["resource_id"] == f"{booking_id}:{key}"]
    assert [(a["action"], a["actor_email"], a["details"]["reason"]) for a in audits] == [
        ("payment_waived", STAFF, "birthday")
    ]
    # admins review each waiver (notifications reminds them of those left unreviewed)
    [waived] = [w for w in outbox(db, "billing.fee.waived") if w["booking_request_id"] == booking_id]
    assert (waived["line_key"], waived["member_email"], waived["waived_by"], waived["reason"]) == (
        key,
        email,
        STAFF,
        "birthday",
    )
    assert waived["amount_cents"] == 5000 and waived["club_date"]
    client.post(
        f"/api/v1/payments/booking-requests/{booking_id}/lines/{key}/waive",
        json={"reason": "birthday"},
        headers=auth(STAFF, "staff"),
    )
    assert len([w for w in outbox(db, "billing.fee.waived") if w["booking_request_id"] == booking_id]) == 1


CSV = """sale_id,line_no,email,purchase_date,category,product_type,amount,is_comp
S-{n},1,Ann@Example.com,2024-05-01,Cafe,Latte,4.50,false
S-{n},2,ann@example.com,2024-05-01,Golf,Sim hour,50,no
S-{n},3,bad-email,2024-05-01,Golf,Sim hour,50,no
S-{n},4,bo@example.com,2024-13-01,Golf,Sim hour,50,no
S-{n},5,bo@example.com,2024-05-02,Golf,Comp hour,0,yes
S-{n},5,bo@example.com,2024-05-02,Golf,Comp hour,0,yes
S-{n},6,bo@example.com,2024-05-02,Golf,Odd,1.234,no
"""


def test_legacy_csv_import_reports_rejected_rows_and_is_idempotent(client, auth, db):
    n = uuid.uuid4().hex[:8]
    body = CSV.format(n=n).encode()
    url = "/api/v1/billing/legacy-purchases/imports?filename=pos.csv"
    headers = {**auth(ADMIN, "admin"), "Content-Type": "text/csv"}
    first = client.post(url, data=body, headers=headers)
    assert first.status_code == 201, first.get_data(as_text=True)
    run = first.get_json()
    assert (run["status"], run["total_rows"], run["imported_rows"], run["failed_rows"]) == (
        "completed",
        7,
        3,
        4,
    )
    reasons = {r["row"]: r["reason"] for r in run["rejected"]}
    assert "email" in reasons[3] and "purchase_date" in reasons[4] and "duplicate" in reasons[6]
    assert "two decimals" in reasons[7]
    again = client.post(url, data=body, headers=headers).get_json()
    assert (again["imported_rows"], again["unchanged_rows"]) == (0, 3)
    with db.transaction() as session:
        rows = session.scalars(select(LegacyPurchase).where(LegacyPurchase.source_sale_id == f"S-{n}")).all()
    assert sorted((r.line_no, r.amount_cents, r.is_comp, r.email) for r in rows) == [
        (1, 450, False, "ann@example.com"),
        (2, 5000, False, "ann@example.com"),
        (5, 0, True, "bo@example.com"),
    ]
    fetched = client.get(
        f"/api/v1/billing/legacy-purchases/imports/{run['id']}", headers=auth(ADMIN, "admin")
    )
    assert fetched.get_json()["failed_rows"] == 4
    missing = client.post(url, data=b"sale_id,email\nx,y\n", headers=headers)
    assert missing.status_code == 422 and missing.get_json()["code"] == "INVALID_CSV"
    assert (
        client.post(url, data=body, headers={**auth(STAFF, "staff"), "Content-Type": "text/csv"}).status_code
        == 403
    )


def test_legacy_purchase_events_from_integrations(deliver, db):
    n = uuid.uuid4().hex[:8]
    data = {
        "import_job_id": 7,
        "source_sale_id": f"T-{n}",
        "line_no": 1,
        "member_email": "cy@example.com",
        "purchased_on": "2023-01-02",
        "category": "Golf",
        "item_name": "Lesson",
        "quantity": 1,
        "amount_cents": 9000,
        "is_comp": False,
    }
    deliver("integrations.legacy_purchase.imported", data, times=2)
    deliver("integrations.legacy_purchase.imported", data)
    with db.transaction() as session:
        [row] = session.scalars(select(LegacyPurchase).where(LegacyPurchase.source_sale_id == f"T-{n}")).all()
    assert (row.amount_cents, row.product_type, row.import_job_id) == (9000, "Lesson", 7)


def test_cafe_items_are_mirrored_as_one_time_products(deliver, db, run_jobs, stripe_fake):
    item_id = int(uuid.uuid4().int % 1_000_000)
    data = {
        "item_id": item_id,
        "name": "Flat white",
        "category": "Coffee",
        "price_cents": 450,
        "description": None,
        "is_active": True,
        "deleted": False,
        "stripe_product_id": None,
    }
    deliver("membership.cafe_item.updated", data, times=2)
    run_jobs()
    with db.transaction() as session:
        product = session.scalars(select(StripeProduct).where(StripeProduct.slug == f"cafe-{item_id}")).one()
    assert product.product_type == "one_time" and product.stripe_price_id
    assert stripe_fake.fake.objects["price"][product.stripe_price_id]["unit_amount"] == 450
    [published] = [
        p for p in outbox(db, "billing.product.updated", slug=f"cafe-{item_id}") if p["stripe_price_id"]
    ]
    assert published["stripe_product_id"] == product.stripe_product_id
