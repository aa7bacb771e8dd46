"""Events the membership service consumes.

- `<service>.audit.recorded` from every other service → `admin_audit_log` (once per event id).
- `<service>.data_export.part_written` from every service → the parts of a member's data export.
- billing: subscriptions, membership payments, grace expiry, disputes, checkouts → status and tier
  (Stripe-billed members only); booking: first booking, walk-in visits (`lifetime_visits`);
  integrations: invited applicants, HubSpot profile fills; notifications: bounces and complaints
  (`actions/inbound.py`).
"""

from __future__ import annotations

from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from club_shared.config import SERVICES
from club_shared.events import Event

from .actions import inbound
from .models import AdminAuditLog

OTHER_SERVICES = tuple(s for s in SERVICES if s != "membership")


def on_audit_recorded(session: Session, event: Event) -> None:
    data = event.data
    session.execute(
        insert(AdminAuditLog)
        .values(
            event_id=event.event_id,
            source_service=event.producer,
            actor_type=data["actor_type"],
            actor_email=data.get("actor_email"),
            staff_email=data.get("actor_email") if data["actor_type"] == "staff" else None,
            action=data["action"],
            resource_type=data["resource_type"],
            resource_id=data.get("resource_id"),
            resource_name=data.get("resource_name"),
            details=data.get("details") or {},
            ip_address=data.get("ip_address"),
            user_agent=data.get("user_agent"),
            created_at=event.occurred_at,
        )
        .on_conflict_do_nothing(index_elements=[AdminAuditLog.event_id])
    )


def on_data_export_part(session: Session, event: Event) -> None:
    from .actions import account

    account.store_part(session, event)


HANDLERS = {
    **{f"{service}.audit.recorded": on_audit_recorded for service in OTHER_SERVICES},
    **{f"{service}.data_export.part_written": on_data_export_part for service in OTHER_SERVICES},
    "billing.subscription.updated": inbound.subscription_updated,
    "billing.membership_payment.failed": inbound.membership_payment_failed,
    "billing.membership_payment.succeeded": inbound.membership_payment_succeeded,
    "billing.grace_period.expired": inbound.grace_period_expired,
    "billing.dispute.opened": inbound.dispute_opened,
    "billing.dispute.closed": inbound.dispute_closed,
    "billing.checkout.completed": inbound.checkout_completed,
    "billing.group_item.added": inbound.group_item_added,
    "billing.group_item.failed": inbound.group_item_failed,
    "booking.request.created": inbound.first_booking,
    "booking.visit.recorded": inbound.visit_recorded,
    "integrations.application.invited": inbound.application_invited,
    "integrations.hubspot.contact_updated": inbound.hubspot_contact_updated,
    "notifications.email.bounced": inbound.email_bounced,
    "notifications.email.complained": inbound.email_complained,
}
