"""HubSpot → our app (domain.md §8.2): the daily member sync at 03:00. Profile fields fill blanks only,
opt-ins overwrite, merged contacts' e-mails become linked e-mails, a changed note becomes a member
note — membership applies integrations.hubspot.contact_updated; status and tier are never read.
Only what changed since the last sync is published (a fingerprint per member)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.dialects.postgresql import insert

from club_shared.runtime import Runtime

from ..domain import hubspot as rules
from ..domain import settings as club_settings
from ..models import HubspotPullState
from ..outside.hubspot import HubspotClient, HubspotError
from . import common

CONTACT_UPDATED = "integrations.hubspot.contact_updated"


def member_sync(runtime: Runtime, client: HubspotClient, now: datetime) -> int:
    """Page through every HubSpot contact; publish what changed for members. The count published."""
    published = 0
    after = None
    try:
        while True:
            page, after = client.contacts_page(after, rules.READ_PROPERTIES)
            with runtime.db.transaction() as session:
                for contact_id, properties in page:
                    email = club_settings.normalise_email(properties.get("email"))
                    member = common.member_for_email(session, email)
                    if member is None or member.archived:
                        continue
                    data = rules.contact_update(contact_id, properties, member.email)
                    fingerprint = rules.fingerprint(data)
                    if member.hubspot_contact_hash == fingerprint:
                        continue
                    member.hubspot_contact_hash = fingerprint
                    member.hubspot_id = str(contact_id)
                    runtime.publish(session, CONTACT_UPDATED, data)
                    published += 1
            if not after:
                break
    except HubspotError as exc:
        record(runtime, "member_sync", now, error=exc.failure.message)
        raise
    record(runtime, "member_sync", now)
    return published


def record(
    runtime: Runtime, name: str, now: datetime, *, cursor: str | None = None, error: str | None = None
) -> None:
    values = {"name": name, "last_run_at": now, "last_error": error}
    if error is None:
        values["last_success_at"] = now
    if cursor is not None:
        values["cursor"] = cursor
    with runtime.db.transaction() as session:
        session.execute(
            insert(HubspotPullState)
            .values(**values)
            .on_conflict_do_update(
                index_elements=[HubspotPullState.name], set_={k: v for k, v in values.items() if k != "name"}
            )
        )
