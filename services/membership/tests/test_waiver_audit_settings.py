"""The waiver, the club-wide audit log (membership's own entries and other services' events) and
the typed settings."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from club_membership.models import AdminAuditLog, AppSetting
from club_shared.events import make_event

# ------------------------------------------------------------------------------------------------
# Waiver
# ------------------------------------------------------------------------------------------------


def test_members_sign_the_current_waiver_and_a_new_version_asks_again(
    client, admin, make_member, outbox, problem
):
    current = client.get("/api/v1/content/waiver").get_json()
    assert current["title"] and current["body"] and current["version"] >= 1
    ann = make_member()
    status = client.get("/api/v1/me/waiver", headers=ann.headers).get_json()
    assert status == {
        "current_version": current["version"],
        "signed_version": None,
        "signed_at": None,
        "needs_signature": True,
    }
    problem(
        client.post("/api/v1/me/waiver", headers=ann.headers, json={"version": current["version"] + 1}),
        409,
        "WAIVER_VERSION_MISMATCH",
    )
    signed = client.post(
        "/api/v1/me/waiver", headers=ann.headers, json={"version": current["version"]}
    ).get_json()
    assert signed["needs_signature"] is False and signed["signed_version"] == current["version"]
    assert outbox("membership.member.updated", member_id=ann.id)[-1]["waiver_version"] == current["version"]

    published = client.post(
        "/api/v1/content/waiver", headers=admin.headers, json={"title": "Waiver 2", "body": "New terms."}
    )
    assert published.status_code == 201 and published.get_json()["version"] == current["version"] + 1
    setting = outbox("membership.setting.updated", key="waiver.current_version")[-1]
    assert setting["value"] == current["version"] + 1
    assert client.get("/api/v1/me/waiver", headers=ann.headers).get_json()["needs_signature"] is True
    problem(
        client.put("/api/v1/settings/waiver.current_version", headers=admin.headers, json={"value": 1}),
        409,
        "SETTING_READ_ONLY",
    )
    problem(client.post("/api/v1/me/waiver", headers=ann.headers, json={"version": "1"}), 422)


# ------------------------------------------------------------------------------------------------
# Audit log
# ------------------------------------------------------------------------------------------------


def test_membership_staff_actions_are_audited_with_address_and_agent(client, staff, emails, db):
    address = emails()
    client.post(
        "/api/v1/members",
        headers={**staff.headers, "X-Real-IP": "203.0.113.9", "User-Agent": "StaffConsole/2.1"},
        json={"email": address, "first_name": "Au", "last_name": "Dit"},
    )
    with db() as session:
        entry = session.scalar(
            select(AdminAuditLog).where(
                AdminAuditLog.action == "member.created", AdminAuditLog.actor_email == staff.email
            )
        )
    assert (entry.actor_type, entry.staff_email, entry.resource_type) == ("staff", staff.email, "member")
    assert (entry.ip_address, entry.user_agent, entry.source_service) == (
        "203.0.113.9",
        "StaffConsole/2.1",
        "membership",
    )
    assert entry.details == {"email": address}


def _audit_event(service: str, actor: str, **extra):
    data = {
        "actor_type": "staff",
        "actor_email": actor,
        "action": "booking_approved",
        "resource_type": "booking",
        "resource_id": "b-42",
        "resource_name": "Bay 2, Saturday 10:00",
        "details": {"fees_cents": 2500},
        "ip_address": "198.51.100.7",
        "user_agent": "Console",
        **extra,
    }
    return make_event(f"{service}.audit.recorded", data, producer=service)


def test_other_services_audit_events_are_stored_once(deliver, db, emails):
    actor = emails("desk")
    event = _audit_event("booking", actor)
    deliver(event)
    deliver(event)  # redelivered: the inbox and the unique event id keep one row
    with db() as session:
        rows = session.scalars(select(AdminAuditLog).where(AdminAuditLog.event_id == event.event_id)).all()
    assert len(rows) == 1
    row = rows[0]
    assert (row.source_service, row.action, row.resource_id, row.details) == (
        "booking",
        "booking_approved",
        "b-42",
        {"fees_cents": 2500},
    )
    assert row.created_at == event.occurred_at


def test_staff_query_the_log_by_actor_resource_and_time(client, staff, deliver, emails):
    actor = emails("desk")
    events = [
        _audit_event(s, actor, resource_id=f"r-{uuid.uuid4().hex[:6]}")
        for s in ("booking", "billing", "integrations")
    ]
    deliver(*events)

    def found(**query):
        response = client.get("/api/v1/audit-log", headers=staff.headers, query_string=query)
        assert response.status_code == 200, response.get_data(as_text=True)
        return response.get_json()

    everything = found(actor=actor)
    assert everything["total"] == 3
    assert [i["source_service"] for i in everything["items"]] == [
        "integrations",
        "billing",
        "booking",
    ]  # newest first
    assert found(actor=actor, source_service="billing")["total"] == 1
    assert (
        found(resource_type="booking", resource_id=events[0].data["resource_id"])["items"][0]["actor_email"]
        == actor
    )
    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    assert found(actor=actor, since=later)["total"] == 0
    assert found(actor=actor, until=later)["total"] == 3
    bad = client.get(
        "/api/v1/audit-log",
        headers=staff.headers,
        query_string={"since": later, "until": "2020-01-01T00:00:00+00:00"},
    )
    assert bad.status_code == 422


# ------------------------------------------------------------------------------------------------
# Settings
# ------------------------------------------------------------------------------------------------


def test_settings_have_defaults_types_and_events(client, admin, staff, outbox, db, problem):
    listed = {s["key"]: s for s in client.get("/api/v1/settings", headers=staff.headers).get_json()}
    assert listed["scheduling.grace_period_days"]["value"] == 3
    assert listed["booking.expiry_grace_minutes"]["default"] == 20
    assert listed["privacy.export_link_days"]["value"] == 7
    changed = client.put("/api/v1/settings/scheduling.nudge_hour", headers=admin.headers, json={"value": 9})
    assert (
        changed.status_code == 200
        and changed.get_json()["value"] == 9
        and not changed.get_json()["is_default"]
    )
    assert outbox("membership.setting.updated", key="scheduling.nudge_hour")[-1]["value"] == 9
    reset = client.delete("/api/v1/settings/scheduling.nudge_hour", headers=admin.headers)
    assert reset.get_json()["value"] == 10 and reset.get_json()["is_default"]


@pytest.mark.parametrize(
    "key, value",
    [
        ("scheduling.nudge_hour", 24),
        ("scheduling.nudge_hour", "10"),
        ("scheduling.nudge_hour", True),
        ("club.timezone", "Mars/Olympus"),
        ("club.alias_domains", ["not a domain"]),
        ("guest_passes.reset_period", "weekly"),
        ("booking.business_hours", {"mon": ["20:00", "08:00"]}),
        ("booking.business_hours", {"someday": None}),
        ("contact.email", "nope"),
    ],
)
def test_a_bad_setting_is_422_and_changes_nothing(client, admin, db, key, value, problem):
    with db() as session:
        before = session.scalar(select(AppSetting.value).where(AppSetting.key == key))
    problem(
        client.put(f"/api/v1/settings/{key}", headers=admin.headers, json={"value": value}),
        422,
        "SETTING_INVALID",
    )
    with db() as session:
        assert session.scalar(select(AppSetting.value).where(AppSetting.key == key)) == before


def test_unknown_settings_and_the_public_subset(client, admin, problem):
    problem(client.put("/api/v1/settings/no.such.key", headers=admin.headers, json={"value": 1}), 404)
    problem(client.put("/api/v1/settings/club.name", headers=admin.headers, json={}), 422)
    client.put("/api/v1/settings/contact.phone", headers=admin.headers, json={"value": "+1 555 0100"})
    public = client.get("/api/v1/settings/public").get_json()
    assert public["contact.phone"] == "+1 555 0100" and public["club.timezone"] == "America/Los_Angeles"
    assert "hubspot.deal_stages" not in public and "club.alias_domains" not in public
    hours = public["booking.business_hours"]
    assert hours["mon"] is None and hours["fri"] == ["08:30", "22:00"]


def test_system_settings_are_read_only_for_admins(client, admin, db):
    from club_membership.models import SystemSetting

    with db() as session:
        if (
            session.scalar(
                select(func.count())
                .select_from(SystemSetting)
                .where(SystemSetting.key == "last_guest_pass_reset")
            )
            == 0
        ):
            session.add(SystemSetting(key="last_guest_pass_reset", value="2026-06"))
    rows = {
        r["key"]: r["value"] for r in client.get("/api/v1/settings/system", headers=admin.headers).get_json()
    }
    assert rows["last_guest_pass_reset"] == "2026-06"
