"""Content (FAQs, gallery, café, training), member notes, bug reports, account deletion and the data
export gathered from every service."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from club_membership.actions import account as account_actions
from club_membership.models import Base, CafeItem, Faq, RefreshSession, SyncExclusion, User
from club_shared.clubtime import utcnow
from club_shared.config import SERVICES
from club_shared.events import make_event

# ------------------------------------------------------------------------------------------------
# Content
# ------------------------------------------------------------------------------------------------


def test_faqs_public_read_staff_write_and_inactive_hidden(client, staff, problem):
    question = f"Do you have lockers? {uuid.uuid4().hex[:6]}"
    created = client.post(
        "/api/v1/content/faqs", headers=staff.headers, json={"question": question, "answer": "Yes."}
    )
    assert created.status_code == 201
    faq = created.get_json()
    assert question in [f["question"] for f in client.get("/api/v1/content/faqs").get_json()]
    client.patch(f"/api/v1/content/faqs/{faq['id']}", headers=staff.headers, json={"is_active": False})
    assert question not in [f["question"] for f in client.get("/api/v1/content/faqs").get_json()]
    hidden = client.get(
        "/api/v1/content/faqs", headers=staff.headers, query_string={"include_inactive": "true"}
    ).get_json()
    assert question in [f["question"] for f in hidden]
    assert question not in [
        f["question"]
        for f in client.get("/api/v1/content/faqs", query_string={"include_inactive": "true"}).get_json()
    ]
    assert client.delete(f"/api/v1/content/faqs/{faq['id']}", headers=staff.headers).status_code == 204
    problem(client.delete(f"/api/v1/content/faqs/{faq['id']}", headers=staff.headers), 404)


@pytest.mark.parametrize(
    "kind, body",
    [
        ("faqs", {"question": "", "answer": "x"}),
        ("faqs", {"question": "q", "answer": "x", "sort_order": "first"}),
        ("gallery", {"title": "t", "url": "javascript:alert(1)"}),
        ("gallery", {"title": "t", "url": "not a url"}),
    ],
)
def test_bad_content_is_422_and_stores_nothing(client, staff, db, kind, body, problem):
    model = (
        Faq
        if kind == "faqs"
        else __import__("club_membership.models", fromlist=["GalleryImage"]).GalleryImage
    )
    with db() as session:
        before = session.scalar(select(func.count()).select_from(model))
    problem(client.post(f"/api/v1/content/{kind}", headers=staff.headers, json=body), 422)
    with db() as session:
        assert session.scalar(select(func.count()).select_from(model)) == before


def test_cafe_items_are_admin_edited_in_cents_and_mirrored_by_event(
    client, admin, staff, outbox, db, problem
):
    name = f"Flat white {uuid.uuid4().hex[:6]}"
    problem(
        client.post(
            "/api/v1/content/cafe",
            headers=staff.headers,
            json={"category": "Coffee", "name": name, "price_cents": 450},
        ),
        403,
    )
    item = client.post(
        "/api/v1/content/cafe",
        headers=admin.headers,
        json={"category": "Coffee", "name": name, "price_cents": 450},
    ).get_json()
    with db() as session:
        assert str(session.get(CafeItem, item["id"]).price) == "4.50"
    problem(
        client.post(
            "/api/v1/content/cafe",
            headers=admin.headers,
            json={"category": "Coffee", "name": name, "price_cents": 1},
        ),
        409,
    )
    problem(
        client.post(
            "/api/v1/content/cafe",
            headers=admin.headers,
            json={"category": "Soup", "name": "x", "price_cents": 1},
        ),
        422,
    )
    problem(
        client.post(
            "/api/v1/content/cafe",
            headers=admin.headers,
            json={"category": "Coffee", "name": "y", "price_cents": 4.5},
        ),
        422,
    )
    client.patch(f"/api/v1/content/cafe/{item['id']}", headers=admin.headers, json={"price_cents": 500})
    client.delete(f"/api/v1/content/cafe/{item['id']}", headers=admin.headers)
    events = outbox("membership.cafe_item.updated", item_id=item["id"])
    assert [(e["price_cents"], e["deleted"]) for e in events] == [(450, False), (500, False), (500, True)]


def test_training_guides_are_for_staff_and_admin_only_ones_for_admins(client, admin, staff, problem):
    guide = f"g-{uuid.uuid4().hex[:6]}"
    secret = f"s-{uuid.uuid4().hex[:6]}"
    client.post(
        "/api/v1/content/training",
        headers=admin.headers,
        json={"title": guide, "guide_id": guide, "content": "Open up."},
    )
    client.post(
        "/api/v1/content/training",
        headers=admin.headers,
        json={"title": secret, "guide_id": secret, "content": "Cash.", "admin_only": True},
    )
    staff_view = [
        g["guide_id"] for g in client.get("/api/v1/content/training", headers=staff.headers).get_json()
    ]
    admin_view = [
        g["guide_id"] for g in client.get("/api/v1/content/training", headers=admin.headers).get_json()
    ]
    assert guide in staff_view and secret not in staff_view
    assert guide in admin_view and secret in admin_view
    problem(client.get("/api/v1/content/training"), 401)
    problem(
        client.post(
            "/api/v1/content/training",
            headers=admin.headers,
            json={"title": "x", "guide_id": guide, "content": "x"},
        ),
        409,
    )


# ------------------------------------------------------------------------------------------------
# Notes and bug reports
# ------------------------------------------------------------------------------------------------


def test_staff_notes_on_a_member_pinned_first_and_not_twice(client, staff, make_member, problem):
    ann = make_member()
    url = f"/api/v1/members/{ann.id}/notes"
    first = client.post(url, headers=staff.headers, json={"note": "Prefers bay 3."}).get_json()
    client.post(url, headers=staff.headers, json={"note": "Left-handed clubs.", "is_pinned": True})
    problem(
        client.post(url, headers=staff.headers, json={"note": "  prefers BAY 3. "}), 409, "DUPLICATE_NOTE"
    )
    notes = client.get(url, headers=staff.headers).get_json()
    assert [n["note"] for n in notes] == ["Left-handed clubs.", "Prefers bay 3."]
    assert notes[0]["created_by"] == staff.email
    client.patch(
        f"{url}/{first['id']}", headers=staff.headers, json={"is_pinned": True, "note": "Prefers bay 4."}
    )
    bo = make_member()
    problem(
        client.patch(
            f"/api/v1/members/{bo.id}/notes/{first['id']}", headers=staff.headers, json={"is_pinned": False}
        ),
        404,
    )
    assert client.delete(f"{url}/{first['id']}", headers=staff.headers).status_code == 204
    problem(client.get(url, headers=ann.headers), 403)


def test_bug_reports_open_to_resolved_and_members_see_their_own(client, staff, make_member, problem):
    ann, bo = make_member(), make_member()
    report = client.post(
        "/api/v1/bug-reports",
        headers=ann.headers,
        json={"description": "The calendar is blank.", "page_url": "/book"},
    ).get_json()
    client.post("/api/v1/bug-reports", headers=bo.headers, json={"description": "Other."})
    mine = client.get("/api/v1/bug-reports", headers=ann.headers).get_json()
    assert [r["id"] for r in mine] == [report["id"]] and mine[0]["user_email"] == ann.email
    resolved = client.patch(
        f"/api/v1/bug-reports/{report['id']}",
        headers=staff.headers,
        json={"status": "resolved", "staff_notes": "Cache."},
    )
    body = resolved.get_json()
    assert (body["status"], body["resolved_by"], body["staff_notes"]) == ("resolved", staff.email, "Cache.")
    assert (
        client.patch(
            f"/api/v1/bug-reports/{report['id']}", headers=staff.headers, json={"status": "resolved"}
        ).status_code
        == 200
    )
    reopened = client.patch(
        f"/api/v1/bug-reports/{report['id']}", headers=staff.headers, json={"status": "open"}
    ).get_json()
    assert reopened["status"] == "open" and reopened["resolved_at"] is None
    problem(
        client.patch(f"/api/v1/bug-reports/{report['id']}", headers=staff.headers, json={"status": "closed"}),
        422,
    )
    problem(client.post("/api/v1/bug-reports", headers=ann.headers, json={"description": ""}), 422)


# ------------------------------------------------------------------------------------------------
# Account deletion
# ------------------------------------------------------------------------------------------------


def test_one_pending_deletion_per_member_and_it_can_be_cancelled(client, make_member, outbox, problem):
    ann = make_member()
    asked = client.post("/api/v1/account/deletion", headers=ann.headers, json={"reason": "Moving"})
    assert asked.status_code == 201 and asked.get_json()["status"] == "pending" and asked.get_json()["due_by"]
    problem(client.post("/api/v1/account/deletion", headers=ann.headers, json={}), 409, "DELETION_PENDING")
    staff_told = outbox("membership.notification.requested", type="account_deletion_requested")
    assert any(ann.email in e["message"] for e in staff_told)
    assert client.delete("/api/v1/account/deletion", headers=ann.headers).get_json()["status"] == "cancelled"
    problem(client.delete("/api/v1/account/deletion", headers=ann.headers), 404)
    assert client.post("/api/v1/account/deletion", headers=ann.headers, json={}).status_code == 201


def test_completing_a_deletion_erases_the_member_everywhere(
    client, admin, staff, make_member, emails, outbox, db, problem
):
    ann = make_member()
    linked = emails()
    client.post(f"/api/v1/members/{ann.id}/linked-emails", headers=staff.headers, json={"email": linked})
    with db() as session:
        session.add(
            RefreshSession(
                sid=f"d-{ann.id}",
                sess={"member_id": ann.id},
                expire=utcnow() + timedelta(days=1),
                subject_email=ann.email,
                role="member",
                created_at=utcnow(),
            )
        )
    request = client.post("/api/v1/account/deletion", headers=ann.headers, json={}).get_json()
    listed = client.get(
        "/api/v1/account/deletion-requests", headers=staff.headers, query_string={"status": "pending"}
    ).get_json()
    assert request["id"] in [r["id"] for r in listed]
    problem(
        client.post(f"/api/v1/account/deletion-requests/{request['id']}/complete", headers=staff.headers), 403
    )
    done = client.post(f"/api/v1/account/deletion-requests/{request['id']}/complete", headers=admin.headers)
    assert done.status_code == 200 and done.get_json()["status"] == "completed"
    again = client.post(f"/api/v1/account/deletion-requests/{request['id']}/complete", headers=admin.headers)
    assert again.status_code == 200
    [deleted] = outbox("membership.member.deleted", member_id=ann.id)
    assert (deleted["email"], deleted["linked_emails"]) == (ann.email, [linked])
    with db() as session:
        user = session.get(User, ann.id)
        assert (user.status, user.first_name, user.phone) == ("archived", "Deleted", None)
        assert ann.email not in user.email
        assert session.get(RefreshSession, f"d-{ann.id}") is None
        excluded = set(
            session.scalars(select(SyncExclusion.email).where(SyncExclusion.email.in_([ann.email, linked])))
        )
    assert excluded == {ann.email, linked}
    assert (
        client.get("/api/v1/members", headers=staff.headers, query_string={"email": ann.email}).get_json()[
            "total"
        ]
        == 0
    )


# ------------------------------------------------------------------------------------------------
# Data export
# ------------------------------------------------------------------------------------------------


def _part(service: str, request_id: int, email: str, part: dict):
    return make_event(
        f"{service}.data_export.part_written",
        {"request_id": request_id, "email": email, "service": service, "part": part},
        producer=service,
    )


def test_a_data_export_is_gathered_from_every_service(client, make_member, outbox, deliver, problem):
    ann = make_member()
    asked = client.post("/api/v1/account/exports", headers=ann.headers)
    assert asked.status_code == 202
    export = asked.get_json()
    assert export["status"] == "processing" and export["parts_received"] == ["membership"]
    [requested] = outbox("membership.data_export.requested", member_id=ann.id)
    assert requested["request_id"] == export["id"] and requested["emails"] == [ann.email]
    problem(client.post("/api/v1/account/exports", headers=ann.headers), 409, "EXPORT_IN_PROGRESS")
    problem(
        client.get(f"/api/v1/account/exports/{export['id']}/download", headers=ann.headers),
        409,
        "EXPORT_NOT_READY",
    )

    others = [s for s in SERVICES if s != "membership"]
    for service in others[:-1]:
        deliver(_part(service, export["id"], ann.email, {f"{service}_rows": [{"id": 1}]}))
    waiting = client.get(f"/api/v1/account/exports/{export['id']}", headers=ann.headers).get_json()
    assert waiting["status"] == "processing" and waiting["parts_missing"] == [others[-1]]
    deliver(_part(others[-1], export["id"], ann.email, {"notifications": []}))
    done = client.get(f"/api/v1/account/exports/{export['id']}", headers=ann.headers).get_json()
    assert done["status"] == "completed" and done["parts_missing"] == [] and done["expires_at"]
    assert outbox("membership.notification.requested", email=ann.email)[-1]["type"] == "data_export_ready"

    download = client.get(done["download_url"], headers=ann.headers)
    assert download.status_code == 200 and "attachment" in download.headers["Content-Disposition"]
    document = download.get_json()
    assert set(document) == {"export", *SERVICES}
    assert document["membership"]["users"][0]["email"] == ann.email
    assert document["booking"] == {"booking_rows": [{"id": 1}]}
    problem(client.get(done["download_url"], headers=make_member().headers), 404)


def test_a_part_missing_after_an_hour_fails_the_export_and_the_link_expires(
    client, make_member, deliver, clock, problem
):
    ann = make_member()
    clock.at = utcnow() - timedelta(hours=1)
    export = client.post("/api/v1/account/exports", headers=ann.headers).get_json()
    clock.at = utcnow()
    failed = client.get(f"/api/v1/account/exports/{export['id']}", headers=ann.headers).get_json()
    assert failed["status"] == "failed" and "booking" in failed["failure_reason"]
    # A fresh export completes, and its link lasts privacy.export_link_days (7).
    fresh = client.post("/api/v1/account/exports", headers=ann.headers).get_json()
    deliver(*[_part(s, fresh["id"], ann.email, {}) for s in SERVICES if s != "membership"])
    assert (
        client.get(f"/api/v1/account/exports/{fresh['id']}/download", headers=ann.headers).status_code == 200
    )
    clock.advance(days=8)
    problem(
        client.get(f"/api/v1/account/exports/{fresh['id']}/download", headers=ann.headers),
        410,
        "EXPORT_EXPIRED",
    )


def test_a_part_from_the_wrong_producer_or_request_is_ignored(client, make_member, deliver, runtime):
    ann = make_member()
    export = client.post("/api/v1/account/exports", headers=ann.headers).get_json()
    forged = make_event(
        "booking.data_export.part_written",
        {"request_id": export["id"], "email": ann.email, "service": "billing", "part": {}},
        producer="booking",
    )
    deliver(forged, _part("booking", 99_999_999, ann.email, {}))
    view = client.get(f"/api/v1/account/exports/{export['id']}", headers=ann.headers).get_json()
    assert view["parts_received"] == ["membership"]


#: membership's tables that hold nothing about a member worth exporting, and why
NOT_EXPORTED = {
    "magic_links": "hashed one-time codes, gone within the day",
    "rate_limits": "counters keyed by hashed-free e-mail + address, gone within the day",
    "sync_exclusions": "only ever holds the addresses of people already deleted",
    "data_export_parts": "the export itself",
    "outbox": "events in flight",
    "inbox": "event ids",
}
PERSON_COLUMNS = {
    "email",
    "user_email",
    "member_email",
    "primary_email",
    "subject_email",
    "actor_email",
    "user_id",
    "linked_email",
}


def test_the_membership_part_leaves_out_no_table_about_a_person(runtime, make_member):
    """Every table of ours with a column naming a person is in the export, or listed above."""
    ann = make_member()
    with runtime.db.transaction() as session:
        part = account_actions.membership_part(session, session.get(User, ann.id))
    about_people = {
        table.name
        for table in Base.metadata.tables.values()
        if PERSON_COLUMNS & {c.name for c in table.columns} or table.name == "users"
    }
    assert about_people - set(part) - set(NOT_EXPORTED) == set()
    assert all(isinstance(rows, list) for rows in part.values())
