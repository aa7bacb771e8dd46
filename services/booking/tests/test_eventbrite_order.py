"""Integrations syncs Eventbrite events and their attendees separately, so either may arrive first:
an attendee that comes before its event is kept and applied, in arrival order, when the event comes;
one that comes after is applied at once. Both orders end the same."""

from datetime import UTC, datetime

from sqlalchemy import text

from club_booking.jobs import make_jobs
from club_booking.testing import deliver, outbox

from .test_event_imports import STAFF, attendee, synced
from .test_wellness import race


def rsvps(client, auth):
    [event] = client.get("/api/v1/events", headers=auth(STAFF, "staff")).get_json()
    rows = client.get(f"/api/v1/events/{event['id']}/rsvps", headers=auth(STAFF, "staff")).get_json()
    return {r["user_email"]: (r["status"], r["guest_count"], r["matched_user_id"]) for r in rows}


def waiting(rt):
    with rt.db.transaction() as session:
        return session.execute(text("SELECT count(*) FROM pending_eventbrite_attendees")).scalar()


EXPECTED = {
    "ann@example.com": ("confirmed", 1, "u-ann@example.com"),
    "zed@example.com": ("cancelled", 0, None),
}


def deliver_attendees(rt):
    deliver(rt, "integrations.eventbrite.attendee_synced", attendee("ann@example.com", guest_count=3))
    deliver(rt, "integrations.eventbrite.attendee_synced", attendee("ann@example.com", guest_count=1))
    deliver(
        rt,
        "integrations.eventbrite.attendee_synced",
        attendee("zed@example.com", first_name="Zed", status="cancelled", guest_count=0),
    )


def test_attendees_before_their_event_are_kept_and_applied_when_it_arrives(rt, client, auth, member):
    member("ann@example.com", first_name="Ann")
    deliver_attendees(rt)
    assert waiting(rt) == 3
    assert client.get("/api/v1/events", headers=auth(STAFF, "staff")).get_json() == []

    deliver(rt, "integrations.calendar.event_synced", synced("eb-42"))
    assert rsvps(client, auth) == EXPECTED
    assert waiting(rt) == 0
    assert [e["member_email"] for e in outbox(rt, "booking.rsvp.confirmed")] == ["ann@example.com"]

    # The event synced again does not replay anything.
    deliver(rt, "integrations.calendar.event_synced", synced("eb-42", title="Golf social!"))
    assert rsvps(client, auth) == EXPECTED
    assert len(outbox(rt, "booking.rsvp.confirmed")) == 1


def test_attendees_after_their_event_are_applied_at_once(rt, client, auth, member):
    member("ann@example.com", first_name="Ann")
    deliver(rt, "integrations.calendar.event_synced", synced("eb-42"))
    deliver_attendees(rt)
    assert waiting(rt) == 0
    assert rsvps(client, auth) == EXPECTED
    assert [e["member_email"] for e in outbox(rt, "booking.rsvp.confirmed")] == ["ann@example.com"]


def test_an_attendee_of_another_event_waits_for_its_own(rt, client, auth, member):
    deliver(
        rt, "integrations.eventbrite.attendee_synced", attendee("bo@example.com", eventbrite_event_id="eb-7")
    )
    deliver(rt, "integrations.calendar.event_synced", synced("eb-42"))
    assert rsvps(client, auth) == {}
    assert waiting(rt) == 1


def test_attendees_of_an_event_cancelled_before_it_arrived_are_dropped(rt, client, auth):
    deliver(rt, "integrations.eventbrite.attendee_synced", attendee("bo@example.com"))
    deliver(rt, "integrations.calendar.event_synced", synced("eb-42", status="cancelled"))
    assert waiting(rt) == 0
    assert client.get("/api/v1/events", headers=auth(STAFF, "staff")).get_json() == []


def test_an_attendee_racing_its_event_across_two_replicas_is_never_lost(rt, service_runtime, member):
    """Each round the event and one attendee arrive at the same moment on two consumers: the
    attendee is applied whichever commits first."""
    other = service_runtime("booking")
    member("ann@example.com", first_name="Ann")
    try:
        for n in range(8):
            eventbrite_id = f"eb-race-{n}"
            race(
                [
                    lambda i=eventbrite_id: deliver(
                        rt, "integrations.calendar.event_synced", synced(i, title=f"Social {i}")
                    ),
                    lambda i=eventbrite_id: deliver(
                        other,
                        "integrations.eventbrite.attendee_synced",
                        attendee("ann@example.com", eventbrite_event_id=i),
                    ),
                ]
            )
        with rt.db.transaction() as session:
            applied = session.execute(
                text(
                    "SELECT e.eventbrite_id FROM event_rsvps r JOIN events e ON e.id = r.event_id"
                    " WHERE r.user_email = 'ann@example.com' AND r.status = 'confirmed'"
                )
            ).scalars()
            assert sorted(applied) == sorted(f"eb-race-{n}" for n in range(8))
        assert waiting(rt) == 0
    finally:
        other.db.dispose()


def test_attendees_whose_event_never_arrives_are_dropped_after_30_days(rt, service_runtime, client, auth):
    deliver(rt, "integrations.eventbrite.attendee_synced", attendee("old@example.com"))
    deliver(rt, "integrations.eventbrite.attendee_synced", attendee("new@example.com"))
    with rt.db.transaction() as session:
        session.execute(
            text(
                "UPDATE pending_eventbrite_attendees SET received_at = now() - interval '31 days'"
                " WHERE attendee->>'email' = 'old@example.com'"
            )
        )
    # The daily clean-up, as the worker's runner fires and runs it.
    run_at = datetime.now(UTC).replace(hour=20, minute=0)  # after 04:40 club time, the same club day
    runner = make_jobs(service_runtime("booking"), clock=lambda: run_at)
    assert "booking.drop_stale_eventbrite_attendees" in runner.fire_due(run_at)
    runner.run_due()
    runner.db.dispose()
    with rt.db.transaction() as session:
        left = session.execute(text("SELECT attendee->>'email' FROM pending_eventbrite_attendees")).scalars()
        assert list(left) == ["new@example.com"]

    deliver(rt, "integrations.calendar.event_synced", synced("eb-42"))  # the young one still applies
    assert set(rsvps(client, auth)) == {"new@example.com"}
