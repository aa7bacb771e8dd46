"""Events the integrations service consumes: its read models (members, settings), booking's answers
to TrackMan bookings, and what it mirrors to HubSpot and the calendars."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import delete, func, literal_column, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from club_shared.clubtime import utcnow
from club_shared.events import Event
from club_shared.jobs import enqueue as enqueue_job

from .domain import hubspot as hubspot_rules
from .flows import forms, integrity, trackman
from .flows.common import PUBLISHER
from .flows.hubspot_queue import enqueue
from .models import (
    JOBS,
    ClubSetting,
    EventbriteAttendeeState,
    FormSubmission,
    HubspotDeal,
    HubspotSyncQueue,
    HubspotWebhookEvent,
    Member,
    MemberEmail,
    SyncExclusion,
    Tour,
    TrackmanBaySlot,
    TrackmanImportRow,
    TrackmanUnmatchedBooking,
    TrackmanWebhookEvent,
)

_MEMBER_COLUMNS = (
    "email",
    "first_name",
    "last_name",
    "phone",
    "role",
    "status",
    "tier",
    "billing_provider",
    "hubspot_id",
)


# --- members ----------------------------------------------------------------------------------------


def upsert_member(session: Session, data: dict[str, Any]) -> Member:
    """Bring the member read model up to date with a snapshot (only the fields it carries)."""
    member = session.get(Member, data["member_id"], with_for_update=True)
    snapshot = {
        k: v
        for k, v in data.items()
        if k
        not in (
            "changed",
            "old_status",
            "new_status",
            "old_tier",
            "new_tier",
            "direction",
            "reason",
            "previous_status",
        )
    }
    if member is None:
        # An address that moved to this member id frees itself from any earlier row first.
        session.execute(
            delete(Member).where(Member.email == data["email"], Member.member_id != data["member_id"])
        )
        member = Member(member_id=data["member_id"], email=data["email"], snapshot={})
        session.add(member)
    for column in _MEMBER_COLUMNS:
        if column in data:
            setattr(member, column, data[column])
    if "new_status" in data:
        member.status = data["new_status"]
    if "new_tier" in data:
        member.tier = data["new_tier"]
    member.snapshot = {**(member.snapshot or {}), **snapshot}
    member.archived = bool(data.get("archived_at")) or member.status in ("archived", "merged")
    member.updated_at = utcnow()
    session.flush()
    _keep_email(session, data["member_id"], data["email"], primary=True)
    for linked in data.get("linked_emails") or []:
        _keep_email(session, data["member_id"], linked, primary=False)
    return member


def _keep_email(session: Session, member_id: str, email: str, *, primary: bool) -> None:
    session.execute(
        insert(MemberEmail)
        .values(email=email, member_id=member_id, is_primary=primary)
        .on_conflict_do_update(
            index_elements=[MemberEmail.email], set_={"member_id": member_id, "is_primary": primary}
        )
    )


def member_created(session: Session, event: Event) -> None:
    upsert_member(session, event.data)
    email = event.data["email"]
    enqueue(session, "create_contact", email, key=hubspot_rules.member_creation_key(email))


def member_updated(session: Session, event: Event) -> None:
    upsert_member(session, event.data)
    email = event.data["email"]
    enqueue(session, "update_contact", email, key=f"contact_update_{email}")


def member_status_changed(session: Session, event: Event) -> None:
    """Status is ours to tell HubSpot: contact status and lifecycle, and the deal's stage."""
    data = event.data
    upsert_member(session, data)
    key = f"status_sync_{data['email']}_{data['old_status']}_to_{data['new_status']}"
    enqueue(session, "sync_tier", data["email"], {"reason": "status"}, key=key)
    if data["new_status"] == "active":
        forms.member_activated(session, data["email"], utcnow())  # an invited applicant converted


def member_tier_changed(session: Session, event: Event) -> None:
    data = event.data
    upsert_member(session, data)
    key = hubspot_rules.tier_sync_key(data["email"], data["old_tier"], data["new_tier"])
    enqueue(session, "sync_tier", data["email"], {"reason": "tier"}, key=key)


def member_archived(session: Session, event: Event) -> None:
    member = upsert_member(session, event.data)
    member.archived = True


def email_changed(session: Session, event: Event) -> None:
    data = event.data
    member = session.get(Member, data["member_id"], with_for_update=True)
    session.execute(delete(MemberEmail).where(MemberEmail.email == data["old_email"]))
    if member is not None:
        session.execute(
            delete(Member).where(Member.email == data["new_email"], Member.member_id != member.member_id)
        )
        member.email = data["new_email"]
        session.flush()
    _keep_email(session, data["member_id"], data["new_email"], primary=True)
    enqueue(
        session,
        "update_contact",
        data["new_email"],
        {"old_email": data["old_email"]},
        key=f"contact_update_{data['new_email']}",
    )


def linked_email_added(session: Session, event: Event) -> None:
    _keep_email(session, event.data["member_id"], event.data["linked_email"], primary=False)


def linked_email_removed(session: Session, event: Event) -> None:
    session.execute(
        delete(MemberEmail).where(
            MemberEmail.email == event.data["linked_email"], MemberEmail.member_id == event.data["member_id"]
        )
    )


def member_merged(session: Session, event: Event) -> None:
    data = event.data
    member = session.get(Member, data["member_id"])
    if member is not None:
        member.archived = True
        member.status = "merged"
    for email in data["moved_emails"]:
        _keep_email(session, data["into_member_id"], email, primary=email == data["into_email"])


def member_deleted(session: Session, event: Event) -> None:
    """Erasure: forget the member and the personal data kept about their addresses, keep the
    addresses out of every later sync, and have HubSpot delete the contact (through the queue)."""
    data = event.data
    emails = sorted({data["email"], *data["linked_emails"]})
    member = session.get(Member, data["member_id"])
    hubspot_id = member.hubspot_id if member is not None else None
    session.execute(
        insert(SyncExclusion)
        .values([{"email": e.lower(), "reason": "account_deleted"} for e in emails])
        .on_conflict_do_nothing(index_elements=[SyncExclusion.email])
    )
    session.execute(
        delete(MemberEmail).where(
            MemberEmail.email.in_(emails) | (MemberEmail.member_id == data["member_id"])
        )
    )
    session.execute(delete(Member).where(Member.member_id == data["member_id"]))
    session.execute(
        update(TrackmanBaySlot).where(TrackmanBaySlot.customer_email.in_(emails)).values(customer_email=None)
    )
    session.execute(
        update(TrackmanUnmatchedBooking)
        .where(
            TrackmanUnmatchedBooking.customer_email.in_(emails)
            | TrackmanUnmatchedBooking.resolved_email.in_(emails)
        )
        .values(customer_email=None, customer_name=None, resolved_email=None, booking_data={})
    )
    session.execute(
        update(TrackmanWebhookEvent)
        .where(TrackmanWebhookEvent.booking["customer_email"].astext.in_(emails))
        .values(
            booking=TrackmanWebhookEvent.booking.op("-")(
                literal_column("ARRAY['customer_email', 'customer_name', 'players', 'notes']")
            )
        )
    )
    session.execute(
        update(TrackmanWebhookEvent)
        .where(TrackmanWebhookEvent.matched_member_email.in_(emails))
        .values(matched_member_email=None)
    )
    on_calendar = session.scalars(
        select(Tour.id).where(Tour.visitor_email.in_(emails), Tour.google_calendar_id.is_not(None))
    ).all()
    session.execute(
        update(Tour)
        .where(Tour.visitor_email.in_(emails))
        .values(visitor_email=None, visitor_name="Deleted member", visitor_phone=None, notes=None)
    )
    for tour_id in on_calendar:  # the tours calendar shows the visitor's name and phone
        enqueue_job(session, JOBS, "calendar_push_tour", {"tour_id": tour_id})
    session.execute(delete(EventbriteAttendeeState).where(EventbriteAttendeeState.email.in_(emails)))
    session.execute(delete(FormSubmission).where(FormSubmission.email.in_(emails)))
    session.execute(
        update(TrackmanImportRow)
        .where(TrackmanImportRow.data["customer_email"].astext.in_(emails))
        .values(
            data=TrackmanImportRow.data.op("-")(
                literal_column("ARRAY['customer_email', 'customer_name', 'players', 'notes']")
            )
        )
    )
    session.execute(
        update(HubspotDeal)
        .where(HubspotDeal.member_email.in_(emails))
        .values(member_email=None, deal_name=None)
    )
    if hubspot_id:
        session.execute(
            update(HubspotWebhookEvent)
            .where(
                HubspotWebhookEvent.object_id == hubspot_id,
                HubspotWebhookEvent.subscription_type.startswith("contact."),
            )
            .values(payload=HubspotWebhookEvent.payload.op("-")("propertyValue"))
        )
    session.execute(
        update(HubspotSyncQueue)
        .where(
            HubspotSyncQueue.entity_id.in_(emails),
            HubspotSyncQueue.action != "delete_contact",
            HubspotSyncQueue.status.in_(("pending", "failed")),
        )
        .values(status="completed", outcome="erased", payload={})
    )
    session.execute(
        update(HubspotSyncQueue)
        .where(
            HubspotSyncQueue.entity_id.in_(emails),
            HubspotSyncQueue.action != "delete_contact",
            HubspotSyncQueue.payload != {},
        )
        .values(payload={})
    )
    enqueue(
        session,
        "delete_contact",
        data["email"],
        {"hubspot_id": hubspot_id, "linked_emails": sorted(set(emails) - {data["email"]})},
        key=hubspot_rules.contact_deletion_key(data["member_id"]),
    )


def data_export_requested(session: Session, event: Event) -> None:
    """Our share of a member's data export: what we keep under any of their addresses."""
    data = event.data
    emails = sorted(set(data["emails"]) | {data["email"]})

    def rows(model, *conditions) -> list[dict[str, Any]]:
        found = session.scalars(select(model).where(*conditions)).all()
        return [
            {c.key: _plain(getattr(r, c.key)) for c in model.__mapper__.column_attrs if c.key not in _PRIVATE}
            for r in found
        ]

    part = {
        "members": rows(Member, Member.member_id == data["member_id"]),
        "tours": rows(Tour, Tour.visitor_email.in_(emails)),
        "form_submissions": rows(FormSubmission, FormSubmission.email.in_(emails)),
        "hubspot_deals": rows(HubspotDeal, HubspotDeal.member_email.in_(emails)),
        "trackman_bay_slots": rows(TrackmanBaySlot, TrackmanBaySlot.customer_email.in_(emails)),
        "trackman_unmatched_bookings": rows(
            TrackmanUnmatchedBooking,
            TrackmanUnmatchedBooking.customer_email.in_(emails)
            | TrackmanUnmatchedBooking.resolved_email.in_(emails),
        ),
        "trackman_webhook_events": rows(
            TrackmanWebhookEvent,
            TrackmanWebhookEvent.booking["customer_email"].astext.in_(emails)
            | TrackmanWebhookEvent.matched_member_email.in_(emails),
        ),
        "hubspot_sync_queue": rows(HubspotSyncQueue, HubspotSyncQueue.entity_id.in_(emails)),
        "eventbrite_attendees": rows(EventbriteAttendeeState, EventbriteAttendeeState.email.in_(emails)),
    }
    PUBLISHER.publish(
        session,
        "integrations.data_export.part_written",
        {"request_id": data["request_id"], "email": data["email"], "service": "integrations", "part": part},
    )


_PRIVATE = {"hubspot_contact_hash", "booking_data", "snapshot"}


def _plain(value: Any) -> Any:
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


# --- billing and groups, for HubSpot ------------------------------------------------------------------


def membership_payment(session: Session, event: Event) -> None:
    data = event.data
    if not data.get("email"):
        return
    status = "succeeded" if event.type.endswith("succeeded") else "failed"
    enqueue(
        session,
        "sync_payment",
        data["email"],
        {"status": status, "invoice_id": data["invoice_id"], "amount_cents": data["amount_cents"]},
        key=hubspot_rules.payment_sync_key(f"{data['invoice_id']}_{status}"),
    )


def day_pass_purchased(session: Session, event: Event) -> None:
    data = event.data
    first, _, last = (data.get("name") or "").partition(" ")
    enqueue(
        session,
        "sync_day_pass",
        data["email"],
        {
            "purchase_id": data["purchase_id"],
            "product_type": data["product_type"],
            "purchased_on": event.occurred_at.date().isoformat(),
            "first_name": first or None,
            "last_name": last or None,
            "phone": data.get("phone"),
        },
        key=hubspot_rules.day_pass_sync_key(data.get("payment_intent_id") or data["purchase_id"]),
    )


def group_updated(session: Session, event: Event) -> None:
    data = event.data
    if data["type"] != "corporate" or not data.get("company_name") or not data["is_active"]:
        return
    domain = data["primary_email"].rpartition("@")[2]
    enqueue(
        session,
        "sync_company",
        f"group:{data['group_id']}",
        {"company_name": data["company_name"], "domain": domain, "primary_email": data["primary_email"]},
        entity_type="company",
        key=f"company_sync_{data['group_id']}_{data['company_name']}",
    )


def visit_recorded(session: Session, event: Event) -> None:
    """A walk-in (§4.8) refreshes the member's contact. §8.2 names no visit property, and HubSpot
    refuses a property its portal lacks, so the visit itself is not sent."""
    email = event.data["member_email"]
    enqueue(session, "update_contact", email, key=f"contact_update_{email}")


# --- closures on the internal calendar ---------------------------------------------------------------


def closure_created(session: Session, event: Event) -> None:
    enqueue_job(session, JOBS, "calendar_push_closure", event.data)


def closure_deleted(session: Session, event: Event) -> None:
    enqueue_job(session, JOBS, "calendar_delete_closure", event.data)


# --- integrity --------------------------------------------------------------------------------------


def integrity_checked(session: Session, event: Event) -> None:
    """Another service checked its own data: record the run and track its issues."""
    service = event.type.split(".", 1)[0]
    integrity.record(PUBLISHER, session, service, event.data, utcnow())


# --- settings ---------------------------------------------------------------------------------------


def setting_updated(session: Session, event: Event) -> None:
    data = event.data
    session.execute(
        insert(ClubSetting)
        .values(key=data["key"], value=data["value"], updated_at=func.now())
        .on_conflict_do_update(
            index_elements=[ClubSetting.key], set_={"value": data["value"], "updated_at": func.now()}
        )
    )


# --- booking's answers to TrackMan bookings ----------------------------------------------------------


def trackman_match_succeeded(session: Session, event: Event) -> None:
    trackman.match_succeeded(session, event.data, utcnow())


def trackman_match_failed(session: Session, event: Event) -> None:
    trackman.match_failed(session, event.data, utcnow())


HANDLERS: dict = {
    "membership.member.created": member_created,
    "membership.member.updated": member_updated,
    "membership.member.status_changed": member_status_changed,
    "membership.member.tier_changed": member_tier_changed,
    "membership.member.archived": member_archived,
    "membership.member.email_changed": email_changed,
    "membership.member.linked_email_added": linked_email_added,
    "membership.member.linked_email_removed": linked_email_removed,
    "membership.member.merged": member_merged,
    "membership.member.deleted": member_deleted,
    "membership.data_export.requested": data_export_requested,
    "membership.setting.updated": setting_updated,
    "membership.group.updated": group_updated,
    "billing.membership_payment.succeeded": membership_payment,
    "billing.membership_payment.failed": membership_payment,
    "billing.day_pass.purchased": day_pass_purchased,
    "booking.visit.recorded": visit_recorded,
    "booking.closure.created": closure_created,
    "booking.closure.deleted": closure_deleted,
    **{
        f"{service}.integrity.checked": integrity_checked
        for service in ("membership", "booking", "billing", "notifications")
    },
    "booking.trackman_match.succeeded": trackman_match_succeeded,
    "booking.trackman_match.failed": trackman_match_failed,
}
