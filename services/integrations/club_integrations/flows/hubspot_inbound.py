"""HubSpot → our app besides the member sync: signed webhooks (stored and applied before they are
answered), meetings that are tours, and engagements for the communication log."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from club_shared.clubtime import utcnow
from club_shared.runtime import Runtime

from ..domain import hubspot as rules
from ..domain import settings as club_settings
from ..domain import tours as tour_rules
from ..models import DismissedHubspotMeeting, HubspotDeal, HubspotPullState, HubspotWebhookEvent, Member, Tour
from ..outside.hubspot import HubspotClient, HubspotError, ms_to_datetime
from . import common, hubspot_pull, tours

CONTACT_UPDATED = "integrations.hubspot.contact_updated"
ENGAGEMENT = "integrations.hubspot.engagement_received"
MEETING_MATCH = timedelta(minutes=15)


# --- webhooks -------------------------------------------------------------------------------------


def receive_webhook(
    runtime: Runtime, session: Session, events: list[dict[str, Any]], now: datetime
) -> dict[str, int]:
    """Store each event once (by portal + event id) and apply it, in the caller's transaction."""
    counts = {"stored": 0, "duplicate": 0}
    for event in events:
        event_id = f"{event.get('portalId', '')}:{event.get('eventId')}"
        row = session.scalar(
            insert(HubspotWebhookEvent)
            .values(
                event_id=event_id[:60],
                subscription_type=str(event.get("subscriptionType") or "unknown")[:60],
                object_id=str(event.get("objectId"))[:40] if event.get("objectId") is not None else None,
                payload=event,
                occurred_at=ms_to_datetime(event.get("occurredAt")),
                received_at=now,
            )
            .on_conflict_do_nothing(index_elements=[HubspotWebhookEvent.event_id])
            .returning(HubspotWebhookEvent)
        )
        if row is None:
            counts["duplicate"] += 1
            continue
        row.outcome = _apply(runtime, session, event)
        counts["stored"] += 1
    return counts


def _member_by_contact(session: Session, contact_id: Any) -> Member | None:
    return session.scalar(select(Member).where(Member.hubspot_id == str(contact_id)).limit(1))


def _apply(runtime: Runtime, session: Session, event: dict[str, Any]) -> str:
    kind = str(event.get("subscriptionType") or "")
    object_id = event.get("objectId")
    if kind == "contact.propertyChange":
        member = _member_by_contact(session, object_id)
        if member is None:
            return "not_a_member"
        name, value = event.get("propertyName"), event.get("propertyValue")
        watched = (
            set(rules.PROFILE_FROM_HUBSPOT)
            | set(rules.OPT_INS_FROM_HUBSPOT)
            | {
                rules.NOTE_PROPERTY,
                rules.ADDITIONAL_EMAILS,
            }
        )
        if name not in watched:
            return "ignored"
        data = rules.contact_update(str(object_id), {name: value}, member.email)
        runtime.publish(session, CONTACT_UPDATED, data)
        member.hubspot_contact_hash = None  # the next full sync publishes the whole contact again
        return "applied"
    if kind == "contact.merge":
        primary = _member_by_contact(session, event.get("primaryObjectId") or object_id)
        if primary is None:
            return "not_a_member"
        merged_ids = [str(i) for i in event.get("mergedObjectIds") or []]
        emails = sorted(
            {
                m.email
                for m in session.scalars(select(Member).where(Member.hubspot_id.in_(merged_ids)))
                if m.email != primary.email
            }
        )
        runtime.publish(
            session,
            CONTACT_UPDATED,
            {
                "email": primary.email,
                "hubspot_id": str(primary.hubspot_id),
                "profile": {},
                "opt_ins": {},
                "merged_emails": emails,
                "note": None,
                "note_hash": None,
            },
        )
        return "applied"
    if kind == "deal.propertyChange" and event.get("propertyName") == "dealstage":
        deal = session.scalar(select(HubspotDeal).where(HubspotDeal.hubspot_deal_id == str(object_id)))
        if deal is None:
            return "unknown_deal"
        stages = {v: k for k, v in (common.setting(session, "hubspot.deal_stages") or {}).items()}
        deal.stage = str(event.get("propertyValue"))
        deal.stage_name = stages.get(deal.stage)
        deal.updated_at = utcnow()
        return "applied"
    if kind == "deal.deletion":
        session.execute(delete(HubspotDeal).where(HubspotDeal.hubspot_deal_id == str(object_id)))
        return "applied"
    return "ignored"


# --- meetings → tours ---------------------------------------------------------------------------------

MEETING_PROPERTIES = (
    "hs_meeting_title",
    "hs_meeting_location",
    "hs_meeting_start_time",
    "hs_meeting_end_time",
    "hs_meeting_outcome",
    "hs_meeting_body",
)


def import_meetings(runtime: Runtime, client: HubspotClient, now: datetime) -> dict[str, int]:
    """Meetings whose title or location mentions a tour become tours (or are matched to one by
    meeting id, else e-mail + start ±15 minutes); dismissed meetings stay out."""
    counts = {"created": 0, "matched": 0, "updated": 0}
    after = None
    try:
        while True:
            page, after = client.objects_page("meetings", after, MEETING_PROPERTIES, ("contacts",))
            tours = [
                m
                for m in page
                if tour_rules.mentions_tour(m[1].get("hs_meeting_title"), m[1].get("hs_meeting_location"))
            ]
            contact_ids = sorted({c for _id, _p, linked in tours for c in linked.get("contacts", [])})
            emails = (
                client.contacts_by_id(contact_ids, ("email", "firstname", "lastname", "phone"))
                if contact_ids
                else {}
            )
            with runtime.db.transaction() as session:
                for meeting_id, props, linked in tours:
                    contact = next((emails[c] for c in linked.get("contacts", []) if c in emails), {})
                    outcome = _meeting(runtime, session, str(meeting_id), props, contact, now)
                    if outcome:
                        counts[outcome] += 1
            if not after:
                break
    except HubspotError as exc:
        hubspot_pull.record(runtime, "meetings", now, error=exc.failure.message)
        raise
    hubspot_pull.record(runtime, "meetings", now)
    return counts


def _meeting(
    runtime: Runtime, session: Session, meeting_id: str, props: dict, contact: dict, now: datetime
) -> str | None:
    if session.scalar(
        select(DismissedHubspotMeeting.id).where(DismissedHubspotMeeting.hubspot_meeting_id == meeting_id)
    ):
        return None
    start = _instant(props.get("hs_meeting_start_time"))
    if start is None:
        return None
    end = _instant(props.get("hs_meeting_end_time")) or start + tour_rules.SLOT
    email = club_settings.normalise_email(contact.get("email"))
    if common.excluded(session, email):
        return None
    cancelled = str(props.get("hs_meeting_outcome") or "").upper() in ("CANCELED", "CANCELLED")
    local = start.astimezone(runtime.tz)
    when = {
        "scheduled_at": start,
        "ends_at": end,
        "tour_date": local.date(),
        "start_time": local.time().replace(second=0, microsecond=0),
        "end_time": end.astimezone(runtime.tz).time().replace(second=0, microsecond=0),
    }
    tour = session.scalar(select(Tour).where(Tour.hubspot_meeting_id == meeting_id).with_for_update())
    if tour is not None:
        if tour.status in ("pending", "scheduled") and (tour.scheduled_at != start or cancelled):
            for key, value in when.items():
                setattr(tour, key, value)
            if cancelled:
                tour.status, tour.cancelled_at, tour.cancel_reason = "cancelled", now, "cancelled in HubSpot"
            tour.updated_at = now
            return "updated"
        return None
    if email:
        candidates = session.scalars(
            select(Tour)
            .where(
                Tour.visitor_email == email,
                Tour.hubspot_meeting_id.is_(None),
                Tour.status.in_(("pending", "scheduled")),
            )
            .with_for_update()
        ).all()
        near = [
            t for t in candidates if t.scheduled_at is None or abs(t.scheduled_at - start) <= MEETING_MATCH
        ]
        near.sort(key=lambda t: abs(t.scheduled_at - start) if t.scheduled_at else MEETING_MATCH)
        if near:
            tour = near[0]
            tour.hubspot_meeting_id = meeting_id
            if tour.scheduled_at is None:  # a pending tour request, now booked in HubSpot
                for key, value in when.items():
                    setattr(tour, key, value)
                tour.status = "scheduled"
                tours.booked(session, tour)
            tour.updated_at = now
            return "matched"
    if cancelled:
        return None
    name = " ".join(p for p in (contact.get("firstname"), contact.get("lastname")) if p) or email or "Visitor"
    tour = Tour(
        hubspot_meeting_id=meeting_id,
        visitor_name=name[:200],
        visitor_email=email,
        visitor_phone=contact.get("phone"),
        status="scheduled",
        source="hubspot",
        notes=(props.get("hs_meeting_title") or "")[:1000] or None,
        created_at=now,
        updated_at=now,
        **when,
    )
    session.add(tour)
    session.flush()
    tours.booked(session, tour)
    return "created"


def dismiss_meeting(session: Session, meeting_id: str, by: str, reason: str | None, now: datetime) -> bool:
    """Hide a HubSpot meeting from the import; a tour made from it and not yet held is cancelled."""
    added = session.scalar(
        insert(DismissedHubspotMeeting)
        .values(hubspot_meeting_id=meeting_id, dismissed_by=by, reason=reason, dismissed_at=now)
        .on_conflict_do_nothing(index_elements=[DismissedHubspotMeeting.hubspot_meeting_id])
        .returning(DismissedHubspotMeeting.id)
    )
    tour = session.scalar(select(Tour).where(Tour.hubspot_meeting_id == meeting_id, Tour.source == "hubspot"))
    if tour is not None and tour.status in ("pending", "scheduled"):
        tour.status, tour.cancelled_at, tour.cancel_reason, tour.updated_at = (
            "cancelled",
            now,
            "dismissed",
            now,
        )
    return added is not None


def _instant(value: Any) -> datetime | None:
    if value in (None, ""):
        return None
    text = str(value)
    if text.isdigit():
        return ms_to_datetime(text)
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else None


# --- engagements -----------------------------------------------------------------------------------

ENGAGEMENT_TYPES = {
    # HubSpot object → (our type, subject property, body property, direction property, status property)
    "notes": ("note", None, "hs_note_body", None, None),
    "calls": ("call", "hs_call_title", "hs_call_body", "hs_call_direction", "hs_call_status"),
    "emails": ("email", "hs_email_subject", "hs_email_text", "hs_email_direction", "hs_email_status"),
    "meetings": ("meeting", "hs_meeting_title", "hs_meeting_body", None, "hs_meeting_outcome"),
    "communications": ("sms", None, "hs_communication_body", None, None),
}


def pull_engagements(runtime: Runtime, client: HubspotClient, now: datetime) -> int:
    """Engagements changed since the last pull, for members only → notifications' communication log."""
    with runtime.db.transaction() as session:
        state = session.get(HubspotPullState, "engagements")
        since = (
            state.cursor
            if state and state.cursor
            else str(int((now - timedelta(days=30)).timestamp() * 1000))
        )
    published = 0
    newest = int(since)
    try:
        for object_type, (kind, subject_p, body_p, direction_p, status_p) in ENGAGEMENT_TYPES.items():
            properties = [
                p
                for p in (subject_p, body_p, direction_p, status_p, "hs_timestamp", "hs_lastmodifieddate")
                if p
            ]
            found = client.call(
                getattr(client.api.crm.objects, object_type).search_api.do_search,
                public_object_search_request={
                    "filterGroups": [
                        {
                            "filters": [
                                {"propertyName": "hs_lastmodifieddate", "operator": "GT", "value": since}
                            ]
                        }
                    ],
                    "properties": properties,
                    "limit": 100,
                },
            )
            for result in found.results:
                full = client.call(
                    getattr(client.api.crm.objects, object_type).basic_api.get_by_id,
                    result.id,
                    properties=properties,
                    associations=["contacts"],
                )
                props = dict(full.properties or {})
                modified = _instant(props.get("hs_lastmodifieddate"))
                if modified is not None:
                    newest = max(newest, int(modified.timestamp() * 1000))
                contact_ids = (
                    [a.id for a in ((full.associations or {}).get("contacts").results or [])]
                    if (full.associations and full.associations.get("contacts"))
                    else []
                )
                contacts = client.contacts_by_id(contact_ids, ("email",)) if contact_ids else {}
                occurred = _instant(props.get("hs_timestamp")) or modified or now
                with runtime.db.transaction() as session:
                    for contact in contacts.values():
                        member = common.member_for_email(
                            session, club_settings.normalise_email(contact.get("email"))
                        )
                        if member is None:
                            continue
                        direction = str(props.get(direction_p) or "") if direction_p else ""
                        runtime.publish(
                            session,
                            ENGAGEMENT,
                            {
                                "engagement_id": f"{object_type}:{result.id}",
                                "member_email": member.email,
                                "type": kind,
                                "direction": "inbound"
                                if "INBOUND" in direction.upper() or "INCOMING" in direction.upper()
                                else "outbound",
                                "subject": (props.get(subject_p) if subject_p else None),
                                "body": props.get(body_p) if body_p else None,
                                "status": props.get(status_p) if status_p else None,
                                "occurred_at": occurred.isoformat(),
                            },
                        )
                        published += 1
    except HubspotError as exc:
        hubspot_pull.record(runtime, "engagements", now, error=exc.failure.message)
        raise
    hubspot_pull.record(runtime, "engagements", now, cursor=str(newest))
    return published
