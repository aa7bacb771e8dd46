"""Legacy imports (domain.md §6.7, §14): every import is a legacy_import_jobs row; a point-of-sale
export is published line by line for billing; a rerun changes nothing; calendar syncs on demand."""

from __future__ import annotations

import io
import uuid

import pytest

HEADER = "Sale ID,Line,Email,Date,Category,Item,Qty,Amount,Comp\n"


def upload(client, auth, content: str, filename: str = "pos.csv"):
    return client.post(
        "/api/v1/imports/legacy-purchases",
        data={"file": (io.BytesIO(content.encode()), filename)},
        headers=auth(),
        content_type="multipart/form-data",
    )


def test_a_sales_export_is_published_for_billing_once(client, auth, outbox):
    sale = f"S{uuid.uuid4().hex[:6]}"
    content = (
        HEADER
        + "\n".join(
            [
                f"{sale},1,Ann@Example.com,2024-03-01,Cafe,Latte,2,$9.50,",
                f'{sale},2,ann@example.com,2024-03-01,Pro Shop,Glove,1,"1,024.00",',
                f"{sale}b,,anonymous@club.example,3/2/2024,Comp,Water,1,0,yes",
                f"{sale}c,1,bo@example.com,not a date,Cafe,Tea,1,3.00,",
            ]
        )
        + "\n"
    )
    response = upload(client, auth, content)
    assert response.status_code == 201, response.get_data(as_text=True)
    job = response.get_json()
    assert (job["import_type"], job["status"], job["records_processed"], job["records_imported"]) == (
        "legacy_purchases",
        "completed",
        4,
        3,
    )
    assert [r["line"] for r in job["failed_rows"]] == [5]
    lines = outbox("integrations.legacy_purchase.imported", import_job_id=job["id"])
    assert [
        (p["source_sale_id"], p["line_no"], p["member_email"], p["amount_cents"], p["quantity"], p["is_comp"])
        for p in lines
    ] == [
        (sale, 1, "ann@example.com", 950, 2, False),
        (sale, 2, "ann@example.com", 102400, 1, False),
        (f"{sale}b", 1, None, 0, 1, True),
    ]
    assert lines[2]["purchased_on"] == "2024-03-02"
    again = upload(client, auth, content, filename="pos (copy).csv")
    assert again.status_code == 200 and again.get_json()["already_imported"] is True
    assert len(outbox("integrations.legacy_purchase.imported")) == 3
    listed = client.get("/api/v1/imports?import_type=legacy_purchases", headers=auth()).get_json()
    assert job["id"] in [j["id"] for j in listed]
    assert client.get(f"/api/v1/imports/{job['id']}", headers=auth()).get_json()["filename"] == "pos.csv"


@pytest.mark.parametrize(
    "content", ["", "a,b\n1,2\n", HEADER + "X,1,a@example.com,2024-01-01,Cafe,Tea,1,abc,\n"]
)
def test_exports_that_cannot_be_imported_change_nothing(client, auth, outbox, content):
    response = upload(client, auth, content)
    assert response.status_code == 422 and response.get_json()["code"] == "INVALID_CSV"
    assert outbox() == []


def test_trackman_imports_are_listed_too(client, auth, clock):
    from datetime import datetime
    from zoneinfo import ZoneInfo

    clock.set(datetime(2026, 7, 4, 12, tzinfo=ZoneInfo("America/Los_Angeles")))
    row = f"tm{uuid.uuid4().hex[:6]},Ann,ann@example.com,2026-07-20,10:00,11:00,60,Booked,1,1,\n"
    body = "Booking ID,User Name,Email,Booked Date,Start,End,Duration,Status,Bay,Player Count,Notes\n" + row
    client.post(
        "/api/v1/trackman/imports?filename=t.csv", data=body, headers={**auth(), "Content-Type": "text/csv"}
    )
    listed = client.get("/api/v1/imports?import_type=trackman_csv", headers=auth()).get_json()
    assert listed[0]["filename"] == "t.csv"


def test_calendar_syncs_on_demand_or_503_when_off(client, make_app, calendar_settings, auth):
    assert (
        client.post("/api/v1/imports/calendars/sync", headers=auth()).get_json()["code"]
        == "CALENDAR_DISABLED"
    )
    assert client.post("/api/v1/imports/eventbrite/sync", headers=auth()).status_code == 503
    status = client.get("/api/v1/imports/calendars", headers=auth()).get_json()
    assert status["google_enabled"] is False and status["eventbrite_enabled"] is False
    on = make_app(**calendar_settings).test_client()
    assert on.post("/api/v1/imports/calendars/sync", headers=auth()).status_code == 202
    assert on.post("/api/v1/imports/eventbrite/sync", headers=auth()).status_code == 202
    assert on.get("/api/v1/imports/calendars", headers=auth()).get_json()["google_enabled"] is True
