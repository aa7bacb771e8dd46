"""Events the booking service consumes: membership's members, tiers, settings and staff (read
models), and billing's fees (what each participant owes, for the check-in rule).

Handlers are registered only for event types the catalog lists; the others are written against the
fields domain.md implies and switch on when their producer adds the schema.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from club_shared.events import CATALOG, Event

from .context import handler_runtime
from .flows import fees, imports, lifecycle, passes, readmodels, trackman


def on_member_snapshot(session: Session, event: Event) -> None:
    before = readmodels.current_tier(session, event.data["member_id"])
    profile = readmodels.upsert_profile(session, event.data, event.occurred_at)
    if profile is not None and profile.tier != before:
        passes.reallocate(session, profile.email, profile.tier)


def on_member_archived(session: Session, event: Event) -> None:
    profile = readmodels.upsert_profile(session, event.data, event.occurred_at)

    lifecycle.cancel_future_bookings(
        session, event.data["email"], reason="member archived", now=event.occurred_at
    )
    del profile


def on_email_changed(session: Session, event: Event) -> None:
    d = event.data
    readmodels.change_email(session, d["member_id"], d["old_email"], d["new_email"], event.occurred_at)


def on_linked_email_added(session: Session, event: Event) -> None:
    readmodels.add_linked_email(session, event.data["member_id"], event.data["linked_email"])


def on_linked_email_removed(session: Session, event: Event) -> None:
    readmodels.remove_linked_email(session, event.data["member_id"], event.data["linked_email"])


def on_member_merged(session: Session, event: Event) -> None:
    d = event.data
    readmodels.merge_member(session, d["member_id"], d["into_member_id"], [d["email"], *d["moved_emails"]])


def on_member_deleted(session: Session, event: Event) -> None:
    d = event.data
    readmodels.erase_member(session, d["member_id"], [d["email"], *d.get("linked_emails", [])])


def on_tier_updated(session: Session, event: Event) -> None:
    tier = readmodels.upsert_tier(session, event.data, event.occurred_at)
    if tier is not None:
        passes.reallocate_tier(session, tier.slug)


def on_tier_deleted(session: Session, event: Event) -> None:
    readmodels.deactivate_tier(session, event.data["slug"])


def on_setting_updated(session: Session, event: Event) -> None:
    readmodels.put_setting(session, event.data["key"], event.data["value"])


def on_staff_updated(session: Session, event: Event) -> None:
    readmodels.upsert_staff(session, event.data)


def on_fees_calculated(session: Session, event: Event) -> None:
    fees.apply_fees(session, event.data)


def on_payment_succeeded(session: Session, event: Event) -> None:
    fees.apply_payment(session, event.data, "paid")


def on_payment_refunded(session: Session, event: Event) -> None:
    fees.apply_payment(session, event.data, "refunded")


def on_invoice(session: Session, event: Event) -> None:
    fees.apply_invoice(session, event.data)


def on_trackman_booking(session: Session, event: Event) -> None:
    trackman.booking_received(session, handler_runtime(), event.data, event.occurred_at)


def on_trackman_cancelled(session: Session, event: Event) -> None:
    trackman.booking_cancelled(session, handler_runtime(), event.data)


def on_trackman_resolved(session: Session, event: Event) -> None:
    trackman.unmatched_resolved(session, handler_runtime(), event.data)


def on_calendar_event_synced(session: Session, event: Event) -> None:
    imports.calendar_event_synced(session, handler_runtime(), event.data)


def on_eventbrite_attendee_synced(session: Session, event: Event) -> None:
    imports.eventbrite_attendee_synced(session, handler_runtime(), event.data)


ALL_HANDLERS = {
    "membership.member.created": on_member_snapshot,
    "membership.member.updated": on_member_snapshot,
    "membership.member.status_changed": on_member_snapshot,
    "membership.member.tier_changed": on_member_snapshot,
    "membership.member.archived": on_member_archived,
    "membership.member.email_changed": on_email_changed,
    "membership.member.linked_email_added": on_linked_email_added,
    "membership.member.linked_email_removed": on_linked_email_removed,
    "membership.member.merged": on_member_merged,
    "membership.member.deleted": on_member_deleted,
    "membership.tier.created": on_tier_updated,
    "membership.tier.updated": on_tier_updated,
    "membership.tier.deleted": on_tier_deleted,
    "membership.setting.updated": on_setting_updated,
    "membership.staff.updated": on_staff_updated,
    "billing.fees.calculated": on_fees_calculated,
    "billing.payment.succeeded": on_payment_succeeded,
    "billing.payment.refunded": on_payment_refunded,
    "billing.invoice.created": on_invoice,
    "billing.invoice.paid": on_invoice,
    "billing.invoice.voided": on_invoice,
    "integrations.trackman.booking_received": on_trackman_booking,
    "integrations.trackman.booking_cancelled": on_trackman_cancelled,
    "integrations.trackman.unmatched_resolved": on_trackman_resolved,
    "integrations.calendar.event_synced": on_calendar_event_synced,
    "integrations.eventbrite.attendee_synced": on_eventbrite_attendee_synced,
}

_CATALOGUED = {event_type for event_type, _version in CATALOG}

HANDLERS = {event_type: handler for event_type, handler in ALL_HANDLERS.items() if event_type in _CATALOGUED}
