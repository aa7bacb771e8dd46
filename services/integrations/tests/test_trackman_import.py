"""TrackMan CSV import (domain.md §7): rows published for booking to match, placeholders ignored,
players from the notes, statuses by past/future, counts from booking's answers, reruns change
nothing."""

from __future__ import annotations

import io
import uuid
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from club_integrations.domain import trackman_csv
from club_integrations.models import LegacyImportJob, TrackmanImportRun

PT = ZoneInfo("America/Los_Angeles")
RECEIVED = "integrations.trackman.booking_received"
CANCELLED = "integrations.trackman.booking_cancelled"
HEADER = "Booking ID,User Name,Email,Booked Date,Start,End,Duration,Status,Bay,Player Count,Notes\n"


def ids(n: int) -> list[str]:
    base = uuid.uuid4().int % 10**8
    return [f"csv{base + i}" for i in range(n)]


def upload(client, auth, content: str, filename: str = "export.csv"):
    return client.post(
        "/api/v1/trackman/imports",
        data={"file": (io.BytesIO(content.encode()), filename)},
        headers=auth(),
        content_type="multipart/form-data",
    )


@pytest.fixture
def file(clock):
    clock.set(datetime(2026, 7, 4, 12, 0, tzinfo=PT))
    a, b, c, d, e = ids(5)
    rows = [
        # past, attended: attended and paid; players from the notes in the pipe format
        f'{a},Ann Lee,ann@example.com,2026-07-01,14:00,15:00,60,Attended,Bay 3,2,"M|ann@example.com|Ann|Lee\nG|none|Sam|Park"',
        # future, confirmed: approved; a placeholder e-mail is ignored; colon format in the notes
        f"{b},Walk In,anonymous@club.example,07/10/2026,2:30 PM,3:30 PM,60,Confirmed,2,,M: bo@example.com | Bo Kim; G: none | Cy",
        # cancelled
        f"{c},Dee,dee@example.com,2026-07-11,09:00,,90,Cancelled,1,1,",
        # crosses midnight
        f"{d},Eve,eve@example.com,2026-07-12,23:30,00:30,60,Booked,4,1,",
        # bad: unknown status
        f"{e},Fay,fay@example.com,2026-07-12,10:00,11:00,60,Maybe,1,1,",
        # bad: no time
        f"{e}x,Fay,fay@example.com,2026-07-12,,11:00,60,Booked,1,1,",
    ]
    return (a, b, c, d, e), HEADER + "\n".join(rows) + "\n"


def test_an_export_is_parsed_published_and_counted(client, auth, file, outbox, deliver, db):
    (a, b, c, d, _e), content = file
    response = upload(client, auth, content)
    assert response.status_code == 201, response.get_data(as_text=True)
    run = response.get_json()
    assert run["status"] == "completed" and run["filename"] == "export.csv"
    assert (run["records_processed"], run["records_published"], run["invalid"], run["unchanged"]) == (
        6,
        4,
        2,
        0,
    )
    assert [err["line"] for err in run["errors"]] == [6, 7]
    assert run["imported_by"] == "desk@club.example"

    [past] = outbox(RECEIVED, trackman_booking_id=a)
    assert past["source"] == "csv_import" and past["import_run_id"] == run["id"]
    assert (past["date"], past["start_time"], past["end_time"], past["resource_id"]) == (
        "2026-07-01",
        "14:00",
        "15:00",
        3,
    )
    assert past["target_status"] == "attended" and past["record_as_paid"] is True
    assert past["customer_email"] == "ann@example.com" and past["customer_name"] == "Ann Lee"
    assert past["players"] == [
        {"type": "member", "email": "ann@example.com", "first_name": "Ann", "last_name": "Lee"},
        {"type": "guest", "email": None, "first_name": "Sam", "last_name": "Park"},
    ]
    [future] = outbox(RECEIVED, trackman_booking_id=b)
    assert future["customer_email"] is None  # placeholder ignored
    assert (future["date"], future["start_time"]) == ("2026-07-10", "14:30")
    assert future["target_status"] == "approved" and future["record_as_paid"] is False
    assert future["player_count"] == 2  # counted from the notes
    assert future["players"][0] == {
        "type": "member",
        "email": "bo@example.com",
        "first_name": "Bo",
        "last_name": "Kim",
    }
    [cancel] = outbox(CANCELLED, trackman_booking_id=c)
    assert cancel["source"] == "csv_import" and cancel["start_time"] == "09:00"
    [night] = outbox(RECEIVED, trackman_booking_id=d)
    assert night["duration_minutes"] == 60 and night["end_time"] == "00:30"

    # booking answers: counts grow
    deliver(
        "booking.trackman_match.succeeded",
        {"trackman_booking_id": a, "booking_id": 1, "rule": "linked", "import_run_id": run["id"]},
    )
    deliver(
        "booking.trackman_match.failed",
        {
            "trackman_booking_id": b,
            "reason": "no_email",
            "candidate_booking_ids": [],
            "import_run_id": run["id"],
        },
    )
    deliver(
        "booking.trackman_match.failed",
        {
            "trackman_booking_id": d,
            "reason": "skipped",
            "candidate_booking_ids": [5, 6],
            "import_run_id": run["id"],
        },
    )
    counted = client.get(f"/api/v1/trackman/imports/{run['id']}", headers=auth()).get_json()
    assert (counted["records_matched"], counted["unmatched"], counted["skipped"]) == (1, 1, 1)
    unmatched = client.get("/api/v1/trackman/unmatched?date=2026-07-10", headers=auth()).get_json()
    assert b in [i["trackman_booking_id"] for i in unmatched]
    assert d not in [
        i["trackman_booking_id"]
        for i in client.get("/api/v1/trackman/unmatched?status=all&limit=500", headers=auth()).get_json()
    ]

    with db.transaction() as session:
        job = session.scalar(
            select(LegacyImportJob).where(
                LegacyImportJob.id
                == select(TrackmanImportRun.legacy_import_job_id)
                .where(TrackmanImportRun.id == run["id"])
                .scalar_subquery()
            )
        )
    assert job.import_type == "trackman_csv" and job.status == "completed"
    assert (job.records_processed, job.records_imported) == (6, 4)
    assert len(job.failed_rows) == 2


def test_a_rerun_changes_nothing(client, auth, file, outbox, db):
    (a, *_), content = file
    first = upload(client, auth, content)
    assert first.status_code == 201
    count = len(outbox())
    with db.transaction() as session:
        runs = session.scalar(select(func.count()).select_from(TrackmanImportRun))
    again = upload(client, auth, content, filename="export (1).csv")
    assert again.status_code == 200
    assert again.get_json()["id"] == first.get_json()["id"] and again.get_json()["already_imported"] is True
    assert len(outbox()) == count
    with db.transaction() as session:
        assert session.scalar(select(func.count()).select_from(TrackmanImportRun)) == runs


def test_a_later_export_publishes_only_what_changed(client, auth, file, outbox):
    (a, b, c, d, _e), content = file
    upload(client, auth, content)
    changed = content.replace("23:30,00:30", "22:30,23:30") + "\n"  # a different file: one row moved
    response = upload(client, auth, changed, filename="export-2.csv")
    assert response.status_code == 201
    run = response.get_json()
    assert (run["records_published"], run["unchanged"]) == (1, 3)
    assert [e["start_time"] for e in outbox(RECEIVED, trackman_booking_id=d)] == ["23:30", "22:30"]


def test_a_webhook_already_processed_makes_the_row_unchanged(client, auth, clock, outbox):
    from fakes.trackman import TrackmanSender, v2_payload

    clock.set(datetime(2026, 7, 4, 12, 0, tzinfo=PT))
    [booking] = ids(1)
    TrackmanSender(client.post, None).send(
        v2_payload(
            booking, "2026-07-20T10:00:00-07:00", "2026-07-20T11:00:00-07:00", bay=1, status="confirmed"
        )
    )
    row = f"{booking},Ann,ann@example.com,2026-07-20,10:00,11:00,60,Confirmed,1,1,\n"
    run = upload(client, auth, HEADER + row).get_json()
    assert (run["records_published"], run["unchanged"]) == (0, 1)
    assert len(outbox(RECEIVED, trackman_booking_id=booking)) == 1


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "empty"),
        ("just,some,columns\n1,2,3\n", "Missing columns"),
        (HEADER + "x,Ann,a@example.com,2026-07-01,14:00,15:00,60,Maybe,1,1,\n", "No row"),
    ],
)
def test_files_that_cannot_be_imported_change_nothing(client, auth, content, message, outbox):
    response = upload(client, auth, content)
    assert response.status_code == 422
    assert response.get_json()["code"] == "INVALID_CSV" and message in response.get_json()["detail"]
    assert outbox() == []


def test_text_csv_body_and_a_missing_file(client, auth, clock, outbox):
    clock.set(datetime(2026, 7, 4, 12, 0, tzinfo=PT))
    [booking] = ids(1)
    body = HEADER + f"{booking},Ann,ann@example.com,2026-07-21,10:00,11:00,60,Booked,1,1,\n"
    response = client.post(
        "/api/v1/trackman/imports?filename=july.csv",
        data=body,
        headers={**auth(), "Content-Type": "text/csv"},
    )
    assert response.status_code == 201 and response.get_json()["filename"] == "july.csv"
    missing = client.post(
        "/api/v1/trackman/imports", data={"other": "x"}, headers=auth(), content_type="multipart/form-data"
    )
    assert missing.status_code == 422
    binary = client.post(
        "/api/v1/trackman/imports",
        data={"file": (io.BytesIO(b"\xff\xfe\x00bad"), "x.csv")},
        headers=auth(),
        content_type="multipart/form-data",
    )
    assert binary.status_code == 422
    listed = client.get("/api/v1/trackman/imports", headers=auth()).get_json()
    assert listed[0]["filename"] == "july.csv"


def test_notes_formats():
    players = trackman_csv.notes_players(
        "M|Ann@Example.com|Ann|Lee\nG|none|Sam|Park; M: bo@example.com | Bo Kim\nG: none | Cy\nrandom text\n"
        "G|guest@trackman.local|Gus|G",
        ["*@trackman.local"],
    )
    assert players == [
        {"type": "member", "email": "ann@example.com", "first_name": "Ann", "last_name": "Lee"},
        {"type": "guest", "email": None, "first_name": "Sam", "last_name": "Park"},
        {"type": "member", "email": "bo@example.com", "first_name": "Bo", "last_name": "Kim"},
        {"type": "guest", "email": None, "first_name": "Cy", "last_name": None},
        {"type": "guest", "email": None, "first_name": "Gus", "last_name": "G"},
    ]
