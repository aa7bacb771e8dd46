"""Events billing consumes (domain.md §13): booking's fee inputs and membership's members and tiers.

Each handler runs in the consumer's transaction next to the inbox record (a redelivery is a no-op).
Handlers only write rows, outbox events and jobs: Stripe is called by the jobs, after the commit.
"""

from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.orm import Session

from club_shared.events import Event
from club_shared.jobs import enqueue

from .flows import catalog, fees, legacy, payments, privacy, readmodels
from .models import JOBS, TierRule

# --- booking -------------------------------------------------------------------------------------


def on_fee_input(session: Session, event: Event) -> None:
    """Every booking event with the fee input: recompute when it is newer, cascade."""
    fees.apply_booking_event(session, event)


def on_cancelled(session: Session, event: Event) -> None:
    booking = fees.apply_booking_event(session, event)
    if booking is None:  # stale: a newer input was applied already
        return
    payments.on_cancelled(
        session,
        booking,
        refund_eligible=bool(event.data.get("refund_eligible")),
        actor=event.data.get("cancelled_by"),
    )


def on_declined_or_expired(session: Session, event: Event) -> None:
    booking = fees.apply_booking_event(session, event)
    if booking is not None:
        payments.on_cancelled(session, booking, refund_eligible=False, actor=event.data.get("reviewed_by"))


# --- membership ----------------------------------------------------------------------------------


def on_member(session: Session, event: Event) -> None:
    readmodels.upsert_member(session, event.data)


def on_member_email_changed(session: Session, event: Event) -> None:
    readmodels.rewrite_email(session, event.data["old_email"], event.data["new_email"])


def on_linked_email_added(session: Session, event: Event) -> None:
    readmodels.add_linked_email(session, event.data["email"], event.data["linked_email"])


def on_linked_email_removed(session: Session, event: Event) -> None:
    readmodels.remove_linked_email(session, event.data["email"], event.data["linked_email"])


def on_member_merged(session: Session, event: Event) -> None:
    data = event.data
    for email in data["moved_emails"]:
        readmodels.add_linked_email(session, data["into_email"], email)
    readmodels.upsert_member(session, {"email": data["email"], "status": "merged"})


def on_tier(session: Session, event: Event) -> None:
    readmodels.upsert_tier(session, event.data)


def on_tier_deleted(session: Session, event: Event) -> None:
    session.execute(update(TierRule).where(TierRule.slug == event.data["slug"]).values(is_active=False))


def on_group_member_added(session: Session, event: Event) -> None:
    """The subscription item is added at Stripe by a job, after this transaction."""
    enqueue(session, JOBS, "add_group_item", dict(event.data), max_retries=8)


def on_group_member_removed(session: Session, event: Event) -> None:
    enqueue(session, JOBS, "remove_group_item", dict(event.data), max_retries=8)


def on_cafe_item(session: Session, event: Event) -> None:
    """Café items are sold as one-time Stripe products `cafe-<item id>` (synced by a job)."""
    catalog.mirror_cafe_item(session, event.data)


def on_data_export(session: Session, event: Event) -> None:
    privacy.export_part(session, event.data)


def on_member_deleted(session: Session, event: Event) -> None:
    privacy.erase(session, event.data)


# --- integrations --------------------------------------------------------------------------------


def on_legacy_purchase(session: Session, event: Event) -> None:
    legacy.from_event(session, event.data)


def on_integrity_requested(session: Session, event: Event) -> None:
    privacy.run_integrity(session, run_id=event.data["run_id"], trigger="on_demand")


FEE_INPUT_EVENTS = (
    "booking.request.created",
    "booking.request.confirmed",
    "booking.request.approved",
    "booking.request.rescheduled",
    "booking.request.checked_in",
    "booking.request.cancellation_requested",
    "booking.request.attended",
    "booking.request.no_show_marked",
    "booking.session.roster_changed",
)

HANDLERS = {
    **{event_type: on_fee_input for event_type in FEE_INPUT_EVENTS},
    "booking.request.cancelled": on_cancelled,
    "booking.request.declined": on_declined_or_expired,
    "booking.request.expired": on_declined_or_expired,
    "membership.member.created": on_member,
    "membership.member.updated": on_member,
    "membership.member.status_changed": on_member,
    "membership.member.tier_changed": on_member,
    "membership.member.archived": on_member,
    "membership.member.email_changed": on_member_email_changed,
    "membership.member.linked_email_added": on_linked_email_added,
    "membership.member.linked_email_removed": on_linked_email_removed,
    "membership.member.merged": on_member_merged,
    "membership.tier.created": on_tier,
    "membership.tier.updated": on_tier,
    "membership.tier.deleted": on_tier_deleted,
    "membership.group.member_added": on_group_member_added,
    "membership.group.member_removed": on_group_member_removed,
    "membership.cafe_item.updated": on_cafe_item,
    "membership.data_export.requested": on_data_export,
    "membership.member.deleted": on_member_deleted,
    "integrations.legacy_purchase.imported": on_legacy_purchase,
    "integrations.integrity.requested": on_integrity_requested,
}
