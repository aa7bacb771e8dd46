"""Resources, closures, blocks and the availability API against the real database."""

from club_booking.testing import outbox, problem

STAFF = "sam.staff@club.example"


def busy_of(body, resource_id):
    [entry] = [r for r in body["resources"] if r["resource_id"] == resource_id]
    return entry


def hhmm(iso):
    return iso[11:16]


def test_the_seed_has_four_bays_and_a_conference_room(client):
    listed = client.get("/api/v1/resources")
    assert listed.status_code == 200
    got = [(r["id"], r["name"], r["type"], r["trackman_bay_ref"]) for r in listed.get_json()]
    assert got == [
        (1, "Bay 1", "simulator", "1"),
        (2, "Bay 2", "simulator", "2"),
        (3, "Bay 3", "simulator", "3"),
        (4, "Bay 4", "simulator", "4"),
        (5, "Conference Room", "conference_room", None),
    ]
    problem(client.get("/api/v1/resources/99"), 404)


def test_admins_manage_resources(client, auth):
    body = {"name": "Bay 5", "type": "golf_simulator", "trackman_bay_ref": "5"}
    problem(client.post("/api/v1/resources", json=body, headers=auth(STAFF, "staff")), 403)
    made = client.post("/api/v1/resources", json=body, headers=auth("boss@club.example", "admin"))
    assert made.status_code == 201 and made.get_json()["type"] == "simulator"
    rid = made.get_json()["id"]
    assert rid == 6
    off = client.patch(
        f"/api/v1/resources/{rid}", json={"is_active": False}, headers=auth("boss@club.example", "admin")
    )
    assert off.get_json()["is_active"] is False
    assert rid not in [r["id"] for r in client.get("/api/v1/resources").get_json()]
    problem(
        client.post("/api/v1/resources", json=body | {"name": "Bay 1"}, headers=auth("b@c.de", "admin")), 409
    )


def test_availability_needs_a_token_and_a_valid_date(client, auth):
    problem(client.get("/api/v1/availability?date=2026-06-12"), 401)
    problem(client.get("/api/v1/availability?date=2026-02-30", headers=auth("ann@example.com")), 422)
    problem(client.get("/api/v1/availability", headers=auth("ann@example.com")), 422)
    problem(
        client.get("/api/v1/availability?date=2026-06-12&resource_id=77", headers=auth("ann@example.com")),
        404,
    )


def test_business_hours_in_club_time_and_monday_closed(client, auth):
    friday = client.get("/api/v1/availability?date=2026-06-12", headers=auth("ann@example.com")).get_json()
    assert friday["timezone"] == "America/Los_Angeles"
    bay = busy_of(friday, 1)
    assert bay["open"] == {"start": "2026-06-12T08:30:00-07:00", "end": "2026-06-12T22:00:00-07:00"}
    assert bay["free"] == [bay["open"]]
    assert all(slot["available"] for slot in bay["slots"]) and len(bay["slots"]) == 27
    monday = client.get("/api/v1/availability?date=2026-06-15&resource_id=2", headers=auth("ann@example.com"))
    [only] = monday.get_json()["resources"]
    assert only["open"] is None and only["free"] == [] and only["slots"] == []


def test_an_overnight_closure_on_all_bays_blocks_both_days(client, auth, rt):
    # Example 9's closure: 06-12 22:00–06:00 on all_bays.
    made = client.post(
        "/api/v1/closures",
        json={
            "title": "Re-turfing",
            "start_date": "2026-06-12",
            "start_time": "22:00",
            "end_time": "06:00",
            "affected_areas": "all_bays",
            "notice_type": "Maintenance",
            "reason": "Maintenance",
        },
        headers=auth(STAFF, "staff"),
    )
    assert made.status_code == 201, made.get_data(as_text=True)
    closure = made.get_json()
    assert closure["resource_ids"] == [1, 2, 3, 4]
    assert closure["is_full_day"] is False and closure["closure_date"] == "2026-06-12"
    assert closure["needs_review"] is False
    [event] = outbox(rt, "booking.closure.created")
    assert event["resource_ids"] == [1, 2, 3, 4] and event["start_time"] == "22:00"
    assert outbox(rt, "booking.audit.recorded")[0]["action"] == "closure_created"

    friday = client.get("/api/v1/availability?date=2026-06-12", headers=auth("ann@example.com")).get_json()
    bay3 = busy_of(friday, 3)
    assert [(b["kind"], hhmm(b["start"]), hhmm(b["end"])) for b in bay3["busy"]] == [
        ("closure", "22:00", "06:00")
    ]
    assert bay3["free"] == [{"start": "2026-06-12T08:30:00-07:00", "end": "2026-06-12T22:00:00-07:00"}]
    assert busy_of(friday, 5)["busy"] == []
    saturday = client.get("/api/v1/availability?date=2026-06-13", headers=auth("ann@example.com")).get_json()
    assert [hhmm(b["end"]) for b in busy_of(saturday, 1)["busy"]] == ["06:00"]

    # Deleting it frees the bays; deleting again changes nothing.
    assert client.delete(f"/api/v1/closures/{closure['id']}", headers=auth(STAFF, "staff")).status_code == 204
    assert client.delete(f"/api/v1/closures/{closure['id']}", headers=auth(STAFF, "staff")).status_code == 204
    assert len(outbox(rt, "booking.closure.deleted")) == 1
    again = client.get("/api/v1/availability?date=2026-06-12", headers=auth("ann@example.com")).get_json()
    assert busy_of(again, 3)["busy"] == []
    problem(client.get(f"/api/v1/closures/{closure['id']}", headers=auth("ann@example.com")), 404)


def test_whole_day_closures_over_a_range_and_notices(client, auth):
    made = client.post(
        "/api/v1/closures",
        json={
            "title": "Holiday",
            "start_date": "2026-12-24",
            "end_date": "2026-12-26",
            "affected_areas": ["entire_facility"],
        },
        headers=auth(STAFF, "staff"),
    ).get_json()
    assert made["is_full_day"] and made["affects_all_resources"] and made["needs_review"]  # no notice type
    xmas = client.get("/api/v1/availability?date=2026-12-25", headers=auth("ann@example.com")).get_json()
    for entry in xmas["resources"]:
        assert entry["free"] == [] and [b["kind"] for b in entry["busy"]] == ["closure"]
    notice = client.post(
        "/api/v1/closures",
        json={
            "title": "Parking lot paving",
            "start_date": "2026-12-01",
            "affected_areas": "none",
            "notice_type": "Announcement",
        },
        headers=auth(STAFF, "staff"),
    ).get_json()
    assert notice["resource_ids"] == [] and notice["end_date"] == "2026-12-01"
    listed = client.get(
        "/api/v1/closures?from=2026-12-01&to=2026-12-31", headers=auth("ann@example.com")
    ).get_json()
    assert [c["title"] for c in listed] == ["Parking lot paving", "Holiday"]


def test_bad_closures_are_422_and_change_nothing(client, auth, rt):
    base = {"title": "X", "start_date": "2026-06-12", "affected_areas": "all_bays"}
    for bad in (
        {"affected_areas": "sauna"},
        {"end_date": "2026-06-01"},
        {"start_time": "09:00"},
        {"start_time": "25:00", "end_time": "09:00"},
        {"affected_areas": {"a": 1}},
        {"end_date": "2028-06-01"},
    ):
        problem(client.post("/api/v1/closures", json=base | bad, headers=auth(STAFF, "staff")), 422)
    problem(client.post("/api/v1/closures", json=base, headers=auth("ann@example.com")), 403)
    assert client.get("/api/v1/closures", headers=auth("ann@example.com")).get_json() == []
    assert outbox(rt) == []


def test_manual_blocks_and_a_block_inside_another_is_skipped(client, auth):
    staff = auth(STAFF, "staff")
    made = client.post(
        "/api/v1/availability-blocks",
        json={
            "resource_id": 2,
            "block_date": "2026-06-12",
            "start_time": "12:00",
            "end_time": "14:00",
            "notes": "Fitting",
        },
        headers=staff,
    )
    assert made.status_code == 201
    inner = client.post(
        "/api/v1/availability-blocks",
        json={"resource_id": 2, "block_date": "2026-06-12", "start_time": "12:30", "end_time": "13:00"},
        headers=staff,
    )
    assert inner.status_code == 200 and inner.get_json()["id"] == made.get_json()["id"]
    listed = client.get("/api/v1/availability-blocks?date=2026-06-12", headers=staff).get_json()
    assert len(listed) == 1
    problem(client.get("/api/v1/availability-blocks?date=2026-06-12", headers=auth("ann@example.com")), 403)
    day = client.get(
        "/api/v1/availability?date=2026-06-12&resource_id=2", headers=auth("ann@example.com")
    ).get_json()
    [bay] = day["resources"]
    assert [(b["kind"], hhmm(b["start"]), hhmm(b["end"])) for b in bay["busy"]] == [
        ("block", "12:00", "14:00")
    ]
    assert [hhmm(f["start"]) for f in bay["free"]] == ["08:30", "14:00"]
    assert (
        client.delete(f"/api/v1/availability-blocks/{made.get_json()['id']}", headers=staff).status_code
        == 204
    )
    problem(
        client.post(
            "/api/v1/availability-blocks",
            json={"resource_id": 99, "block_date": "2026-06-12", "start_time": "12:00", "end_time": "14:00"},
            headers=staff,
        ),
        404,
    )


def test_availability_on_both_daylight_saving_days(client, auth):
    spring = client.get(
        "/api/v1/availability?date=2026-03-08&resource_id=1", headers=auth("a@example.com")
    ).get_json()
    [bay] = spring["resources"]
    assert bay["open"] == {"start": "2026-03-08T08:30:00-07:00", "end": "2026-03-08T18:00:00-07:00"}
    fall = client.get(
        "/api/v1/availability?date=2026-11-01&resource_id=1", headers=auth("a@example.com")
    ).get_json()
    [bay] = fall["resources"]
    assert bay["open"] == {"start": "2026-11-01T08:30:00-08:00", "end": "2026-11-01T18:00:00-08:00"}
    assert len(bay["slots"]) == 19


def test_closure_reasons(client, auth):
    listed = client.get("/api/v1/closure-reasons", headers=auth("a@example.com")).get_json()
    assert [r["label"] for r in listed][:2] == ["Maintenance", "Private Event"]
    made = client.post("/api/v1/closure-reasons", json={"label": "Flood"}, headers=auth(STAFF, "staff"))
    assert made.status_code == 201
    problem(
        client.post("/api/v1/closure-reasons", json={"label": "Flood"}, headers=auth(STAFF, "staff")), 409
    )
    assert (
        client.delete(
            f"/api/v1/closure-reasons/{made.get_json()['id']}", headers=auth(STAFF, "staff")
        ).status_code
        == 204
    )
    assert "Flood" not in [
        r["label"] for r in client.get("/api/v1/closure-reasons", headers=auth("a@example.com")).get_json()
    ]
