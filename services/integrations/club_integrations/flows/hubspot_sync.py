"""What each HubSpot queue operation sends (domain.md §8.2): contact properties with the tier and
status labels, the deal's stage and line items, payments, day passes, companies.

Each operation reads what it needs in a short transaction, calls HubSpot outside any transaction,
and records what HubSpot answered in another. It returns the job's outcome.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import delete, select

from club_shared.clubtime import utcnow
from club_shared.runtime import Runtime

from ..domain import hubspot as rules
from ..models import HubspotDeal, HubspotLineItem, HubspotProductMapping, Member
from ..outside.hubspot import HubspotClient
from . import common


class Executor:
    def __init__(self, runtime: Runtime, client: HubspotClient):
        self.runtime = runtime
        self.client = client

    def run(self, action: str, entity_id: str, payload: dict[str, Any]) -> str:
        if action != "delete_contact":
            with self.runtime.db.transaction() as session:
                if common.excluded(session, entity_id):  # queued before the person was deleted
                    return "excluded"
        return getattr(self, action)(entity_id, payload)

    def delete_contact(self, email: str, payload: dict[str, Any]) -> str:
        """Erasure: the contact HubSpot has for the member, and any under their other addresses."""
        if payload.get("hubspot_id"):
            self.client.purge_contact(payload["hubspot_id"], by_email=False)
        for address in (email, *payload.get("linked_emails", ())):
            self.client.purge_contact(address, by_email=True)
        return "deleted"

    # --- contacts ----------------------------------------------------------------------------------

    def _member(self, email: str) -> tuple[dict[str, Any], dict[str, str]] | None:
        with self.runtime.db.transaction() as session:
            member = common.member_for_email(session, email)
            if member is None:
                return None
            return _snapshot(member), common.setting(session, "hubspot.tier_labels") or {}

    def _push_contact(self, email: str, old_email: str | None = None) -> tuple[str, dict[str, Any]] | None:
        found = self._member(email)
        if found is None:
            return None
        snapshot, labels = found
        properties = rules.contact_properties(snapshot, labels)
        existing = self.client.find_contact(snapshot["email"])
        if existing is None and old_email:
            existing = self.client.find_contact(old_email)
        if existing:
            contact_id = existing[0]
            self.client.update_contact(contact_id, properties)
        else:
            contact_id = self.client.create_contact(properties)
        with self.runtime.db.transaction() as session:
            member = session.get(Member, snapshot["member_id"])
            if member is not None and member.hubspot_id != contact_id:
                member.hubspot_id = contact_id
        return contact_id, snapshot

    def create_contact(self, email: str, payload: dict[str, Any]) -> str:
        return "sent" if self._push_contact(email) else "skipped"

    def update_contact(self, email: str, payload: dict[str, Any]) -> str:
        return "sent" if self._push_contact(email, payload.get("old_email")) else "skipped"

    def sync_tier(self, email: str, payload: dict[str, Any]) -> str:
        """Tier and status on the contact, then the deal's stage (line items removed when lost)."""
        pushed = self._push_contact(email)
        if pushed is None:
            return "skipped"
        contact_id, snapshot = pushed
        self._sync_deal(contact_id, snapshot)
        return "sent"

    def _sync_deal(self, contact_id: str, snapshot: dict[str, Any]) -> None:
        with self.runtime.db.transaction() as session:
            stages = common.setting(session, "hubspot.deal_stages") or {}
        stage = rules.deal_stage(snapshot.get("status"), stages)
        deals = self.client.deals_for_contact(contact_id)
        if not deals or stage is None:
            return  # we never create deals
        deal_id, props = deals[0]
        stage_name, stage_id = stage
        if props.get("dealstage") != stage_id:
            self.client.update_deal(deal_id, {"dealstage": stage_id})
        self._mirror_deal(deal_id, contact_id, snapshot["email"], props, stage_name, stage_id)
        if stage_name == "closed_lost":
            for item_id, _item in self.client.line_items_for_deal(deal_id):
                self.client.archive_line_item(item_id)
            with self.runtime.db.transaction() as session:
                session.execute(delete(HubspotLineItem).where(HubspotLineItem.hubspot_deal_id == deal_id))
        elif stage_name == "closed_won":
            self._membership_line_item(deal_id, snapshot.get("tier"))

    def _mirror_deal(self, deal_id, contact_id, email, props, stage_name, stage_id, payment=None) -> None:
        with self.runtime.db.transaction() as session:
            deal = session.scalar(
                select(HubspotDeal).where(HubspotDeal.hubspot_deal_id == deal_id).with_for_update()
            )
            if deal is None:
                deal = HubspotDeal(hubspot_deal_id=deal_id)
                session.add(deal)
            deal.member_email = email
            deal.hubspot_contact_id = contact_id
            deal.deal_name = props.get("dealname")
            deal.pipeline = props.get("pipeline")
            deal.amount = _decimal(props.get("amount"))
            if stage_id:
                deal.stage, deal.stage_name = stage_id, stage_name
            deal.last_payment_status = payment or rules.payment_status(deal.stage_name)
            deal.synced_at = deal.updated_at = utcnow()

    def _membership_line_item(self, deal_id: str, tier: str | None) -> None:
        """The deal carries the tier's membership product (hubspot_product_mappings), once."""
        if not tier:
            return
        with self.runtime.db.transaction() as session:
            mapping = session.scalar(
                select(HubspotProductMapping).where(
                    HubspotProductMapping.internal_product_type == "membership",
                    HubspotProductMapping.tier_slug == tier,
                    HubspotProductMapping.is_active.is_(True),
                )
            )
            if mapping is None:
                return
            product_id, name, price = (
                mapping.hubspot_product_id,
                mapping.product_name,
                mapping.unit_price_cents,
            )
            frequency = mapping.billing_frequency
        existing = self.client.line_items_for_deal(deal_id)
        for item_id, item in existing:
            if item.get("hs_product_id") == product_id:
                break
            self.client.archive_line_item(item_id)  # another tier's product: replaced
        else:
            properties = {"hs_product_id": product_id, "quantity": "1", "name": name or f"{tier} membership"}
            if price is not None:
                properties["price"] = f"{price / 100:.2f}"
            if frequency and frequency != "one_time":
                properties["recurringbillingfrequency"] = frequency
            item_id = self.client.create_line_item(deal_id, properties)
        with self.runtime.db.transaction() as session:
            session.execute(
                delete(HubspotLineItem).where(
                    HubspotLineItem.hubspot_deal_id == deal_id,
                    HubspotLineItem.hubspot_line_item_id != item_id,
                )
            )
            row = session.scalar(
                select(HubspotLineItem).where(HubspotLineItem.hubspot_line_item_id == item_id)
            )
            if row is None:
                session.add(
                    HubspotLineItem(
                        hubspot_line_item_id=item_id,
                        hubspot_deal_id=deal_id,
                        hubspot_product_id=product_id,
                        product_name=name or f"{tier} membership",
                        quantity=1,
                        unit_price_cents=price,
                        amount=Decimal(price) / 100 if price is not None else None,
                        tier_slug=tier,
                        status="synced",
                    )
                )

    # --- payments, day passes, companies -----------------------------------------------------------

    def sync_payment(self, email: str, payload: dict[str, Any]) -> str:
        """The member's deal records the last payment (current, overdue or failed)."""
        found = self.client.find_contact(email)
        if found is None:
            return "skipped"
        contact_id = found[0]
        deals = self.client.deals_for_contact(contact_id)
        if not deals:
            return "skipped"
        deal_id, props = deals[0]
        status = {"succeeded": "current", "failed": "failed", "overdue": "overdue"}.get(
            payload.get("status"), "unknown"
        )
        self.client.update_deal(deal_id, {"last_payment_status": status})
        self._mirror_deal(deal_id, contact_id, email, props, None, None, payment=status)
        return "sent"

    def sync_day_pass(self, email: str, payload: dict[str, Any]) -> str:
        """A day-pass buyer is a contact; a tour-request deal moves on to visited_day_pass."""
        properties = {"email": email, "last_day_pass_purchase": str(payload.get("purchased_on") or "")}
        for ours, theirs in (("first_name", "firstname"), ("last_name", "lastname"), ("phone", "phone")):
            if payload.get(ours):
                properties[theirs] = payload[ours]
        existing = self.client.find_contact(email)
        contact_id = existing[0] if existing else self.client.create_contact(properties)
        if existing:
            self.client.update_contact(contact_id, properties)
        with self.runtime.db.transaction() as session:
            stages = common.setting(session, "hubspot.deal_stages") or {}
        for deal_id, props in self.client.deals_for_contact(contact_id):
            if props.get("dealstage") in (stages.get("day_pass_tour_request"), stages.get("tour_booked")):
                self.client.update_deal(deal_id, {"dealstage": stages["visited_day_pass"]})
                self._mirror_deal(
                    deal_id, contact_id, email, props, "visited_day_pass", stages["visited_day_pass"]
                )
        return "sent"

    def sync_company(self, entity_id: str, payload: dict[str, Any]) -> str:
        """Find the company by domain or name, else create it; associate the primary contact."""
        name, domain = payload.get("company_name"), payload.get("domain")
        company_id = self.client.find_company(name, domain)
        if company_id is None:
            properties = {k: v for k, v in (("name", name), ("domain", domain)) if v}
            company_id = self.client.create_company(properties)
        if payload.get("primary_email"):
            contact = self.client.find_contact(payload["primary_email"])
            if contact:
                self.client.associate("contacts", contact[0], "companies", company_id)
        return "sent"

    def sync_tour(self, email: str, payload: dict[str, Any]) -> str:
        """A booked tour moves the visitor's tour-request deal to tour_booked (never a new deal)."""
        found = self.client.find_contact(email)
        if found is None:
            return "skipped"
        contact_id = found[0]
        with self.runtime.db.transaction() as session:
            stages = common.setting(session, "hubspot.deal_stages") or {}
        deals = self.client.deals_for_contact(contact_id)
        moving = rules.tour_booked_deals(deals, stages)
        for deal_id, props in deals:
            if deal_id in moving:
                self.client.update_deal(deal_id, {"dealstage": stages["tour_booked"]})
                self._mirror_deal(deal_id, contact_id, email, props, "tour_booked", stages["tour_booked"])
        return "sent" if moving else "skipped"

    def enrich_event_deal(self, entity_id: str, payload: dict[str, Any]) -> str:
        """Event enquiries: a deal of HubSpot's gets the event's details (never a new deal)."""
        deal_id = payload.get("hubspot_deal_id")
        if not deal_id:
            return "skipped"
        properties = {k: str(v) for k, v in (payload.get("properties") or {}).items()}
        if properties:
            self.client.update_deal(deal_id, properties)
        return "sent"


def _snapshot(member: Member) -> dict[str, Any]:
    snapshot = dict(member.snapshot or {})
    for column in (
        "member_id",
        "email",
        "first_name",
        "last_name",
        "phone",
        "status",
        "tier",
        "billing_provider",
    ):
        snapshot[column] = getattr(member, column)
    return snapshot


def _decimal(value: Any) -> Decimal | None:
    try:
        return Decimal(str(value)) if value not in (None, "") else None
    except ArithmeticError:
        return None
