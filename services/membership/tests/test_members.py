"""Members: create, read, update, search, statuses and their transitions, e-mails, archive, merge."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from club_membership.models import RefreshSession, User, UserLinkedEmail


def test_staff_create_a_member_with_a_normalised_email(client, staff, emails, outbox, problem):
    address = emails()
    response = client.post(
        "/api/v1/members",
        headers=staff.headers,
        json={
            "email": f"  {address.upper()} ",
            "first_name": " Dana ",
            "last_name": "Park",
            "tier": "premium",
        },
    )
    assert response.status_code == 201, response.get_data(as_text=True)
    member = response.get_json()
    assert member["email"] == address
    assert (member["first_name"], member["name"], member["status"]) == ("Dana", "Dana Park", "pending")
    assert (member["tier"], member["billing_provider"]) == ("premium", "stripe")
    [event] = outbox("membership.member.created", member_id=member["id"])
    assert (event["email"], event["first_name"], event["tier"]) == (address, "Dana", "premium")

    again = client.post(
        "/api/v1/members", headers=staff.headers, json={"email": address, "first_name": "D", "last_name": "P"}
    )
    problem(again, 409, "EMAIL_TAKEN")


def test_a_trial_member_is_trialing_until_the_chosen_day(client, staff, emails, clock):
    clock.set(2026, 5, 1, 17)
    response = client.post(
        "/api/v1/members",
        headers=staff.headers,
        json={"email": emails(), "first_name": "T", "last_name": "R", "tier": "core", "trial_days": 14},
    )
    assert response.status_code == 201
    assert response.get_json()["status"] == "trialing"
    assert response.get_json()["trial_ends_at"].startswith("2026-05-15T17:00")


@pytest.mark.parametrize(
    "body, field",
    [
        ({"email": "not-an-email", "first_name": "A", "last_name": "B"}, "email"),
        ({"email": "a@example.com", "first_name": "", "last_name": "B"}, "first_name"),
        ({"email": "a@example.com", "first_name": "A" * 101, "last_name": "B"}, "first_name"),
        ({"email": "a@example.com", "first_name": "A"}, "last_name"),
        ({"email": "a@example.com", "first_name": "A", "last_name": "B", "status": "archived"}, "status"),
        ({"email": "a@example.com", "first_name": "A", "last_name": "B", "trial_days": 9}, "trial_days"),
        ({"email": "a@example.com", "first_name": "A", "last_name": "B", "surprise": 1}, "surprise"),
        ({"email": ["a@example.com"], "first_name": "A", "last_name": "B"}, "email"),
    ],
)
def test_bad_member_input_is_422_and_creates_nothing(client, staff, db, body, field, problem):
    with db() as session:
        before = session.scalar(select(func.count()).select_from(User))
    body = problem(client.post("/api/v1/members", headers=staff.headers, json=body), 422)
    assert field in body["errors"]["json"]
    with db() as session:
        assert session.scalar(select(func.count()).select_from(User)) == before


def test_an_unknown_tier_is_422(client, staff, emails, problem):
    response = client.post(
        "/api/v1/members",
        headers=staff.headers,
        json={"email": emails(), "first_name": "A", "last_name": "B", "tier": "platinum"},
    )
    problem(response, 422, "UNKNOWN_TIER")


def test_not_json_is_415_and_broken_json_is_400(client, staff, problem):
    problem(client.post("/api/v1/members", headers=staff.headers, data="x=1", content_type="text/plain"), 415)
    problem(
        client.post(
            "/api/v1/members", headers=staff.headers, data="{not json", content_type="application/json"
        ),
        400,
    )


def test_a_member_reads_their_own_record_and_not_anothers(client, make_member, problem):
    ann, bo = make_member(), make_member()
    own = client.get(f"/api/v1/members/{ann.id}", headers=ann.headers)
    assert own.status_code == 200 and own.get_json()["email"] == ann.email
    problem(client.get(f"/api/v1/members/{bo.id}", headers=ann.headers), 404)
    problem(client.get(f"/api/v1/members/{bo.id}/linked-emails", headers=ann.headers), 404)
    me = client.get("/api/v1/me", headers=ann.headers)
    assert me.get_json()["id"] == ann.id


def test_a_member_updates_their_profile_but_not_their_billing(client, make_member, outbox, problem):
    ann = make_member()
    response = client.patch(
        "/api/v1/me",
        headers=ann.headers,
        json={"first_name": "Annie", "phone": " 555-0100 ", "app_installed": True},
    )
    assert response.status_code == 200
    body = response.get_json()
    assert (body["name"], body["phone"]) == ("Annie Lee", "555-0100")
    assert body["app_installed_at"] is not None
    [event] = outbox("membership.member.updated", member_id=ann.id)
    assert set(event["changed"]) == {"first_name", "phone", "app_installed_at"}
    problem(client.patch("/api/v1/me", headers=ann.headers, json={"billing_provider": "comped"}), 422)
    problem(client.patch("/api/v1/me", headers=ann.headers, json={"tier": "vip"}), 422)


def test_staff_update_a_member_and_an_unchanged_update_publishes_nothing(client, staff, make_member, outbox):
    ann = make_member()
    first = client.patch(
        f"/api/v1/members/{ann.id}", headers=staff.headers, json={"billing_provider": "manual"}
    )
    assert first.get_json()["billing_provider"] == "manual"
    client.patch(f"/api/v1/members/{ann.id}", headers=staff.headers, json={"billing_provider": "manual"})
    assert len(outbox("membership.member.updated", member_id=ann.id)) == 1


def test_search_by_name_email_linked_email_tier_and_status(client, staff, make_member, emails):
    marker = emails().split("@")[0].split(".")[1]
    ann = make_member(first_name="Ann", last_name=f"Zed{marker}", tier="premium")
    bo = make_member(first_name="Bo", last_name=f"Zed{marker}", tier="core", status="pending")
    linked = emails()
    client.post(f"/api/v1/members/{ann.id}/linked-emails", headers=staff.headers, json={"email": linked})

    def ids(**query):
        response = client.get("/api/v1/members", headers=staff.headers, query_string=query)
        assert response.status_code == 200, response.get_data(as_text=True)
        return [m["id"] for m in response.get_json()["items"]]

    assert ids(q=f"zed{marker}") == [ann.id, bo.id]
    assert ids(q=f"zed{marker}", tier="premium") == [ann.id]
    assert ids(q=f"zed{marker}", status="pending") == [bo.id]
    assert ids(email=linked.upper()) == [ann.id]
    assert ids(q=linked.split("@")[0]) == [ann.id]
    paged = client.get(
        "/api/v1/members",
        headers=staff.headers,
        query_string={"q": f"zed{marker}", "page_size": 1, "page": 2},
    )
    assert paged.get_json()["total"] == 2 and [m["id"] for m in paged.get_json()["items"]] == [bo.id]
    assert ids(q="100%_\\") == []


def test_search_refuses_bad_paging(client, staff, problem):
    problem(client.get("/api/v1/members", headers=staff.headers, query_string={"page_size": 1000}), 422)
    problem(client.get("/api/v1/members", headers=staff.headers, query_string={"status": "bogus"}), 422)


# ------------------------------------------------------------------------------------------------
# Statuses
# ------------------------------------------------------------------------------------------------


def test_allowed_status_change_publishes_and_repeating_it_is_a_no_op(client, admin, make_member, outbox):
    ann = make_member(status="active")
    first = client.post(
        f"/api/v1/members/{ann.id}/status",
        headers=admin.headers,
        json={"status": "suspended", "reason": "unpaid"},
    )
    assert first.status_code == 200 and first.get_json()["status"] == "suspended"
    again = client.post(
        f"/api/v1/members/{ann.id}/status", headers=admin.headers, json={"status": "suspended"}
    )
    assert again.status_code == 200
    [event] = outbox("membership.member.status_changed", member_id=ann.id)
    assert (event["old_status"], event["new_status"], event["reason"]) == ("active", "suspended", "unpaid")


@pytest.mark.parametrize(
    "start, target",
    [("pending", "past_due"), ("declined", "active"), ("active", "pending"), ("frozen", "trialing")],
)
def test_an_illegal_transition_is_409_and_changes_nothing(
    client, admin, make_member, outbox, user_row, problem, start, target
):
    ann = make_member(status=start)
    problem(
        client.post(f"/api/v1/members/{ann.id}/status", headers=admin.headers, json={"status": target}),
        409,
        "STATE_CONFLICT",
    )
    assert user_row(ann.id).status == start
    assert outbox("membership.member.status_changed", member_id=ann.id) == []


def test_archived_and_merged_are_final(client, admin, make_member, problem):
    ann = make_member()
    client.post(f"/api/v1/members/{ann.id}/archive", headers=admin.headers, json={})
    problem(
        client.post(f"/api/v1/members/{ann.id}/status", headers=admin.headers, json={"status": "active"}), 409
    )
    problem(
        client.post(f"/api/v1/members/{ann.id}/status", headers=admin.headers, json={"status": "archived"}),
        422,
    )


def test_a_concurrent_status_change_loses_with_409(runtime, make_member, problem):
    """The guard is in the UPDATE: a change based on a status that is no longer there is refused."""
    from club_membership.actions import members as actions
    from club_membership.domain.actors import SYSTEM
    from club_shared.clubtime import utcnow
    from club_shared.problems import Problem

    ann = make_member(status="active")
    with runtime.db.transaction() as first:
        stale = actions.get(first, ann.id)  # sees active
        with runtime.db.transaction() as second:
            actions.change_status(
                second, runtime, SYSTEM, actions.get(second, ann.id), "frozen", now=utcnow()
            )
        with pytest.raises(Problem) as refused:
            actions.change_status(first, runtime, SYSTEM, stale, "suspended", now=utcnow())
        assert refused.value.code == "STATE_CONFLICT"


def test_leaving_the_access_statuses_ends_the_members_sessions(client, admin, make_member, db, outbox):
    ann = make_member(status="active")
    from datetime import timedelta

    from club_shared.clubtime import utcnow

    with db() as session:
        session.add(
            RefreshSession(
                sid=f"s-{ann.id}",
                sess={"member_id": ann.id},
                expire=utcnow() + timedelta(days=1),
                subject_email=ann.email,
                role="member",
                created_at=utcnow(),
            )
        )
    client.post(f"/api/v1/members/{ann.id}/status", headers=admin.headers, json={"status": "suspended"})
    with db() as session:
        assert session.get(RefreshSession, f"s-{ann.id}") is None
    [revoked] = outbox("membership.session.revoked", email=ann.email)
    assert revoked["reason"] == "status:suspended"


# ------------------------------------------------------------------------------------------------
# Tier, e-mail, linked e-mails
# ------------------------------------------------------------------------------------------------


def test_tier_change_keeps_slug_and_id_together_and_says_which_way(
    client, admin, make_member, outbox, user_row
):
    ann = make_member(tier="core")
    up = client.put(
        f"/api/v1/members/{ann.id}/tier", headers=admin.headers, json={"tier": "premium-founding"}
    )
    assert up.status_code == 200 and up.get_json()["tier"] == "premium"
    client.put(f"/api/v1/members/{ann.id}/tier", headers=admin.headers, json={"tier": None})
    events = outbox("membership.member.tier_changed", member_id=ann.id)
    assert [(e["old_tier"], e["new_tier"], e["direction"]) for e in events] == [
        ("core", "premium", "upgrade"),
        ("premium", None, "cleared"),
    ]
    row = user_row(ann.id)
    assert (row.tier, row.tier_id, row.last_tier) == (None, None, "premium")


def test_an_email_change_moves_everything_and_keeps_the_old_address_linked(
    client, staff, make_member, emails, outbox, db
):
    ann = make_member()
    old, new = ann.email, emails()
    response = client.post(
        f"/api/v1/members/{ann.id}/email", headers=staff.headers, json={"email": new.upper()}
    )
    assert response.status_code == 200
    assert response.get_json()["email"] == new
    assert response.get_json()["linked_emails"] == [old]
    [event] = outbox("membership.member.email_changed", member_id=ann.id)
    assert (event["old_email"], event["new_email"]) == (old, new)
    search = client.get("/api/v1/members", headers=staff.headers, query_string={"email": old})
    assert [m["id"] for m in search.get_json()["items"]] == [ann.id]


def test_an_email_in_use_by_another_member_is_409(client, staff, make_member, problem, user_row):
    ann, bo = make_member(), make_member()
    problem(
        client.post(f"/api/v1/members/{ann.id}/email", headers=staff.headers, json={"email": bo.email}),
        409,
        "EMAIL_TAKEN",
    )
    problem(
        client.post(
            f"/api/v1/members/{ann.id}/linked-emails", headers=staff.headers, json={"email": bo.email}
        ),
        409,
        "EMAIL_TAKEN",
    )
    assert user_row(ann.id).email == ann.email


def test_linked_emails_and_alias_domains_resolve_to_the_member(runtime, make_member, emails):
    from club_membership.actions import members as actions
    from club_membership.actions import settings as settings_actions
    from club_membership.domain.actors import SYSTEM

    local = emails().split("@")[0]
    ann = make_member(email=f"{local}@alias-one.test")
    with runtime.db.transaction() as session:
        settings_actions.put(
            session, runtime, SYSTEM, "club.alias_domains", ["alias-one.test", "alias-two.test"]
        )
    try:
        with runtime.db.transaction() as session:
            assert actions.resolve_email(session, f" {local.upper()}@ALIAS-TWO.test").id == ann.id
            assert actions.resolve_email(session, "anonymous@example.com") is None
            assert actions.resolve_email(session, "unmatched-42@club.test") is None
    finally:
        with runtime.db.transaction() as session:
            settings_actions.reset(session, runtime, SYSTEM, "club.alias_domains")


def test_placeholder_addresses_never_become_members(client, staff, problem):
    response = client.post(
        "/api/v1/members",
        headers=staff.headers,
        json={"email": "someone@trackman.local", "first_name": "A", "last_name": "B"},
    )
    problem(response, 422, "PLACEHOLDER_EMAIL")


def test_linked_email_add_and_remove(client, staff, make_member, emails, outbox, db, problem):
    ann = make_member()
    other = emails()
    added = client.post(
        f"/api/v1/members/{ann.id}/linked-emails",
        headers=staff.headers,
        json={"email": other, "source": "trackman_resolution"},
    )
    assert added.status_code == 201 and added.get_json()["source"] == "trackman_resolution"
    assert outbox("membership.member.linked_email_added", member_id=ann.id)[0]["linked_email"] == other
    listed = client.get(f"/api/v1/members/{ann.id}/linked-emails", headers=ann.headers)
    assert [row["linked_email"] for row in listed.get_json()] == [other]
    assert (
        client.delete(f"/api/v1/members/{ann.id}/linked-emails/{other}", headers=staff.headers).status_code
        == 204
    )
    problem(client.delete(f"/api/v1/members/{ann.id}/linked-emails/{other}", headers=staff.headers), 404)
    with db() as session:
        assert session.scalar(select(UserLinkedEmail).where(UserLinkedEmail.linked_email == other)) is None


# ------------------------------------------------------------------------------------------------
# Archive and merge
# ------------------------------------------------------------------------------------------------


def test_archive_is_final_publishes_and_is_idempotent(client, admin, make_member, outbox):
    ann = make_member(status="active")
    first = client.post(
        f"/api/v1/members/{ann.id}/archive", headers=admin.headers, json={"reason": "moved away"}
    )
    assert first.status_code == 200
    body = first.get_json()
    assert body["status"] == "archived" and body["archived_at"]
    assert client.post(f"/api/v1/members/{ann.id}/archive", headers=admin.headers, json={}).status_code == 200
    [event] = outbox("membership.member.archived", member_id=ann.id)
    assert event["previous_status"] == "active"


def test_archived_members_leave_the_directory_unless_asked_for(client, staff, admin, make_member, emails):
    marker = emails().split(".")[1][:8]
    ann = make_member(last_name=f"Arch{marker}")
    client.post(f"/api/v1/members/{ann.id}/archive", headers=admin.headers, json={})
    plain = client.get("/api/v1/members", headers=staff.headers, query_string={"q": f"arch{marker}"})
    assert plain.get_json()["total"] == 0
    archived = client.get(
        "/api/v1/members", headers=staff.headers, query_string={"q": f"arch{marker}", "status": "archived"}
    )
    assert archived.get_json()["total"] == 1


def test_merge_moves_every_address_to_the_survivor(
    client, admin, staff, make_member, emails, outbox, problem
):
    old, survivor = make_member(), make_member()
    extra = emails()
    client.post(f"/api/v1/members/{old.id}/linked-emails", headers=staff.headers, json={"email": extra})
    merged = client.post(
        f"/api/v1/members/{old.id}/merge", headers=admin.headers, json={"into_member_id": survivor.id}
    )
    assert merged.status_code == 200, merged.get_data(as_text=True)
    assert sorted(merged.get_json()["linked_emails"]) == sorted([old.email, extra])
    [event] = outbox("membership.member.merged", member_id=old.id)
    assert event["into_member_id"] == survivor.id and sorted(event["moved_emails"]) == sorted(
        [old.email, extra]
    )
    found = client.get("/api/v1/members", headers=staff.headers, query_string={"email": old.email})
    assert [m["id"] for m in found.get_json()["items"]] == [survivor.id]
    problem(
        client.post(
            f"/api/v1/members/{survivor.id}/merge",
            headers=admin.headers,
            json={"into_member_id": survivor.id},
        ),
        422,
    )
    problem(
        client.post(
            f"/api/v1/members/{survivor.id}/merge", headers=admin.headers, json={"into_member_id": old.id}
        ),
        409,
    )
