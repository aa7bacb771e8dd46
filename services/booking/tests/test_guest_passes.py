"""Guest passes (domain.md §5.4) and acceptance examples 3, 5, 7a, 15 and 16 (the booking side:
holds, conversion, consumption, refunds, periods, allocation edges)."""

import threading
from datetime import UTC, datetime

import pytest
from sqlalchemy import select, text

from club_booking.flows import passes
from club_booking.models import GuestPass, PassRedemptionLog
from club_booking.testing import LA, deliver, outbox, problem

STAFF = "sam.staff@club.example"


def at(day, wall="12:00"):
    return datetime.fromisoformat(f"{day}T{wall}").replace(tzinfo=LA).astimezone(UTC)


def book(client, headers, **fields):
    body = {"resource_id": 1, "date": "2026-04-21", "start_time": "10:00", "duration_minutes": 120}
    body.update(fields)
    made = client.post("/api/v1/booking-requests", json=body, headers=headers)
    assert made.status_code == 201, made.get_data(as_text=True)
    return made.get_json()


def act(client, headers, booking_id, action, **body):
    return client.post(f"/api/v1/booking-requests/{booking_id}/{action}", json=body, headers=headers)


def balance(client, headers, email=None):
    query = f"?member_email={email}" if email else ""
    return client.get(f"/api/v1/guest-passes{query}", headers=headers).get_json()


def set_passes(rt, email, total, used, key):
    """A member's pass account as earlier activity left it (booking's own table)."""
    with rt.db.transaction() as session:
        session.execute(
            text(
                "INSERT INTO guest_passes (member_email, total_passes, used_passes, period_key)"
                " VALUES (:e, :t, :u, :k) ON CONFLICT (member_email) DO UPDATE"
                " SET total_passes = :t, used_passes = :u, period_key = :k"
            ),
            {"e": email, "t": total, "u": used, "k": key},
        )


def guests(*names):
    return [{"type": "guest", "name": n, "email": f"{n.lower()}@example.com"} for n in names]


def all_paid(rt, booking):
    """billing.fees.calculated: nobody owes anything."""
    deliver(
        rt,
        "billing.fees.calculated",
        {
            "booking_request_id": booking["id"],
            "session_id": booking["session_id"],
            "member_email": booking["user_email"],
            "roster_version": booking["roster_version"],
            "fees_version": 1,
            "total_cents": 0,
            "participants": [
                {
                    "participant_id": p["participant_id"],
                    "email": p["email"],
                    "minutes": 40,
                    "overage_cents": 0,
                    "guest_fee_cents": 0,
                    "total_cents": 0,
                    "guest_pass_used": p["used_guest_pass"],
                    "payment_status": "pending",
                }
                for p in booking["participants"]
            ],
        },
    )


def test_example_15_the_guest_pass_lifecycle(client, rt, member, auth, clock):
    staff = auth(STAFF, "staff")
    clock.at("2026-03-20")
    member("core@example.com", "core")
    me = auth("core@example.com")
    with rt.db.transaction() as session:
        passes.lock_account(session, rt, "core@example.com", at("2026-03-20"))
        session.execute(text("UPDATE guest_passes SET used_passes = 3"))
    # 04-01 03:00: the reset → total 4, used 0.
    with rt.db.transaction() as session:
        assert passes.reset_period(session, rt, at("2026-04-01", "03:00")) == 1
    clock.at("2026-04-10", "10:00")
    assert balance(client, me) | {"holds": []} == balance(client, me) | {
        "total_passes": 4,
        "used_passes": 0,
        "held_passes": 0,
        "available_passes": 4,
        "period_key": "2026-04",
        "holds": [],
    }
    booking = book(
        client,
        staff,
        member_email="core@example.com",
        declared_player_count=3,
        participants=guests("Gil", "Hal"),
    )
    now = balance(client, me)
    assert (now["held_passes"], now["available_passes"]) == (2, 2)
    assert now["holds"][0]["expires_at"].startswith("2026-05-10")
    clock.at("2026-04-12")
    approved = act(client, staff, booking["id"], "approve").get_json()
    now = balance(client, me)
    assert (now["used_passes"], now["held_passes"], now["available_passes"]) == (2, 0, 2)
    assert [p["used_guest_pass"] for p in approved["participants"]] == [False, True, True]
    clock.at("2026-04-21", "09:55")
    all_paid(rt, approved)
    checked = act(client, staff, booking["id"], "check-in")
    assert checked.status_code == 200, checked.get_data(as_text=True)
    assert [(p["payment_status"], p["cached_fee_cents"]) for p in checked.get_json()["participants"][1:]] == [
        ("waived", 0),
        ("waived", 0),
    ]
    [consumed] = outbox(rt, "booking.guest_pass.consumed")
    assert consumed["passes"] == 2 and consumed["member_email"] == "core@example.com"
    assert [g["name"] for g in consumed["guests"]] == ["Gil", "Hal"]
    with rt.db.transaction() as session:
        reasons = session.scalars(select(PassRedemptionLog.reason).order_by(PassRedemptionLog.id)).all()
    assert reasons == ["reset", "hold_converted", "consumed", "consumed"]
    assert act(client, staff, booking["id"], "check-in").status_code == 200  # idempotent
    assert len(outbox(rt, "booking.guest_pass.consumed")) == 1
    # 05-01 03:00: used 0, total 4, key 2026-05; a second run that day changes nothing.
    with rt.db.transaction() as session:
        assert passes.reset_period(session, rt, at("2026-05-01", "02:59")) == 0
        assert passes.reset_period(session, rt, at("2026-05-01", "03:00")) == 1
        assert passes.reset_period(session, rt, at("2026-05-01", "07:00")) == 0
        account = session.scalar(select(GuestPass))
        assert (account.total_passes, account.used_passes, account.period_key) == (4, 0, "2026-05")


def test_example_15_a_cancel_before_the_day_gives_the_passes_back(client, rt, member, auth, clock):
    staff = auth(STAFF, "staff")
    clock.at("2026-04-10")
    member("core@example.com", "core")
    booking = book(
        client,
        staff,
        member_email="core@example.com",
        declared_player_count=3,
        participants=guests("Gil", "Hal"),
    )
    clock.at("2026-04-12")
    act(client, staff, booking["id"], "approve")
    assert balance(client, auth("core@example.com"))["used_passes"] == 2
    clock.at("2026-04-19")
    assert act(client, auth("core@example.com"), booking["id"], "cancel").status_code == 200
    assert balance(client, auth("core@example.com"))["used_passes"] == 0
    # A second cancel cannot refund twice (409, nothing changes).
    problem(act(client, staff, booking["id"], "cancel"), 409, "STATE_CONFLICT")
    assert len(outbox(rt, "booking.guest_pass.refunded")) == 1


def test_yearly_periods(rt, client, member, auth, clock):
    member("core@example.com", "core")
    with rt.db.transaction() as session:
        session.execute(
            text("UPDATE club_settings SET value = '\"yearly\"' WHERE key = 'guest_passes.reset_period'")
        )
        passes.lock_account(session, rt, "core@example.com", at("2026-05-03"))
        assert session.scalar(select(GuestPass.period_key)) == "2026"
        assert passes.reset_period(session, rt, at("2026-06-01", "03:00")) == 0  # not a period start
        assert passes.reset_period(session, rt, at("2027-01-01", "02:00")) == 0
        assert passes.reset_period(session, rt, at("2027-01-01", "03:00")) == 1
        assert session.scalar(select(GuestPass.period_key)) == "2027"


def test_example_3_a_pass_held_for_the_named_guest_only(client, rt, member, auth, clock):
    clock.at("2026-06-08")
    member("owner@example.com", "core")
    member("bo@example.com", "premium")
    set_passes(rt, "owner@example.com", 4, 1, "2026-06")  # 3 available
    me = auth("owner@example.com")
    booking = book(
        client,
        me,
        date="2026-06-12",
        declared_player_count=4,
        participants=[{"type": "member", "email": "bo@example.com"}, *guests("Cy")],
    )
    assert [(p["type"], p["used_guest_pass"]) for p in booking["participants"]] == [
        ("owner", False),
        ("member", False),
        ("guest", True),
    ]
    [held] = outbox(rt, "booking.guest_pass.held")
    assert (held["passes"], held["available_passes"]) == (1, 2)
    [created] = outbox(rt, "booking.request.created")
    assert created["declared_player_count"] == 4 and len(created["participants"]) == 3  # 1 empty slot
    approved = act(client, auth(STAFF, "staff"), booking["id"], "approve").get_json()
    assert [p["used_guest_pass"] for p in approved["participants"]] == [False, False, True]
    assert balance(client, me)["used_passes"] == 2


def test_example_3_a_placeholder_guest_gets_no_hold(client, rt, member, auth, clock):
    clock.at("2026-06-08")
    member("owner@example.com", "core")
    member("bo@example.com", "premium")
    booking = book(
        client,
        auth("owner@example.com"),
        date="2026-06-12",
        declared_player_count=4,
        participants=[{"type": "member", "email": "bo@example.com"}, {"type": "guest", "name": "Guest 2"}],
    )
    assert booking["participants"][2]["is_placeholder"] and not booking["participants"][2]["used_guest_pass"]
    assert outbox(rt, "booking.guest_pass.held") == []


def test_example_5_passes_run_out(client, rt, member, auth, clock):
    clock.at("2026-06-08")
    member("vip@example.com", "vip")
    set_passes(rt, "vip@example.com", 15, 14, "2026-06")
    booking = book(
        client,
        auth("vip@example.com"),
        date="2026-06-12",
        duration_minutes=240,
        declared_player_count=4,
        participants=guests("Ada", "Ben", "Cal"),
    )
    assert [(p["slot"], p["used_guest_pass"]) for p in booking["participants"][1:]] == [
        (2, True),
        (3, False),
        (4, False),
    ]
    approved = act(client, auth(STAFF, "staff"), booking["id"], "approve").get_json()
    assert [p["used_guest_pass"] for p in approved["participants"][1:]] == [True, False, False]


def test_example_7a_a_decline_releases_the_hold(client, rt, member, auth, clock):
    clock.at("2026-06-08")
    member("owner@example.com", "core")
    set_passes(rt, "owner@example.com", 4, 1, "2026-06")
    me = auth("owner@example.com")
    booking = book(client, me, date="2026-06-12", declared_player_count=2, participants=guests("Cy"))
    assert balance(client, me)["available_passes"] == 2
    act(client, auth(STAFF, "staff"), booking["id"], "decline")
    assert balance(client, me)["available_passes"] == 3


def test_example_16_allocation_edges(client, rt, member, auth, clock):
    clock.at("2026-06-08")
    # Premium with 6 used moves to Core: total max(4, 6) = 6, available 0.
    member("pat@example.com", "premium", member_id="u-pat")
    set_passes(rt, "pat@example.com", 8, 6, "2026-06")
    deliver(
        rt,
        "membership.member.tier_changed",
        {
            "member_id": "u-pat",
            "email": "pat@example.com",
            "tier": "core",
            "old_tier": "premium",
            "new_tier": "core",
            "direction": "downgrade",
        },
    )
    now = balance(client, auth("pat@example.com"))
    assert (now["total_passes"], now["used_passes"], now["available_passes"]) == (6, 6, 0)
    # A tier that cannot be resolved → allocation 0 (never a default of 4): no hold, the guests pay.
    member("odd@example.com", "platinum-legacy")
    assert balance(client, auth("odd@example.com"))["total_passes"] == 0
    # Core with 4 used: a request with 2 guests goes ahead, no hold.
    member("full@example.com", "core")
    set_passes(rt, "full@example.com", 4, 4, "2026-06")
    book(
        client,
        auth("full@example.com"),
        date="2026-06-12",
        declared_player_count=3,
        participants=guests("Ada", "Ben"),
    )
    assert outbox(rt, "booking.guest_pass.held") == []


def test_example_16_two_racing_for_the_last_pass(client, app, rt, member, auth, clock):
    clock.at("2026-06-08")
    staff = auth(STAFF, "staff")
    member("last@example.com", "core")
    set_passes(rt, "last@example.com", 4, 4, "2026-06")  # none left: no holds
    bookings = []
    for bay, start, name in ((1, "10:00", "Ada"), (2, "13:00", "Ben")):
        made = book(
            client,
            staff,
            member_email="last@example.com",
            resource_id=bay,
            date="2026-06-12",
            start_time=start,
            duration_minutes=60,
            declared_player_count=2,
            participants=guests(name),
        )
        bookings.append(act(client, staff, made["id"], "approve").get_json())
    assert [b["participants"][1]["used_guest_pass"] for b in bookings] == [False, False]
    set_passes(rt, "last@example.com", 4, 3, "2026-06")  # one pass comes free; both check-ins want it
    barrier = threading.Barrier(2)
    results = []

    def use(b):
        c = app.test_client()
        barrier.wait()
        results.append(
            c.post(
                f"/api/v1/booking-requests/{b['id']}/participants/{b['participants'][1]['participant_id']}/guest-pass",
                headers=staff,
            )
        )

    threads = [threading.Thread(target=use, args=(b,)) for b in bookings]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(r.status_code for r in results) == [200, 409]
    assert [r.get_json()["code"] for r in results if r.status_code == 409] == ["NO_GUEST_PASS"]
    assert balance(client, staff, "last@example.com")["used_passes"] == 4
    assert [e["source"] for e in outbox(rt, "booking.session.roster_changed")] == ["staff_add_guest"]


def test_members_see_only_their_own_passes(client, member, auth, clock):
    member("a@example.com", "core")
    problem(client.get("/api/v1/guest-passes?member_email=b@example.com", headers=auth("a@example.com")), 403)
    assert balance(client, auth(STAFF, "staff"), "a@example.com")["total_passes"] == 4


@pytest.mark.parametrize("period", ["monthly", "yearly"])
def test_period_keys(period):
    from club_booking.domain.passes import in_reset_window, period_key

    assert period_key(at("2026-05-01", "02:59"), LA, period) == ("2026-04" if period == "monthly" else "2026")
    assert period_key(at("2027-01-01", "03:00"), LA, period) == ("2027-01" if period == "monthly" else "2027")
    assert period_key(at("2027-01-01", "02:00"), LA, period) == ("2026-12" if period == "monthly" else "2026")
    assert in_reset_window(at("2026-05-01", "03:00"), LA, "monthly")
    assert not in_reset_window(at("2026-05-01", "08:00"), LA, "monthly")
    assert not in_reset_window(at("2026-05-01", "03:00"), LA, "yearly")
