"""HubSpot through the official `hubspot-api-client`, at HUBSPOT_API_BASE.

Every call first takes a token from the bucket all replicas share (HubspotRateLimiter), has a
timeout, and is tried again only on 429 (5 tries, waiting Retry-After or 1–30 s). Any other failure
raises HubspotError with what it means for the job (domain.hubspot.classify).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.dialects.postgresql import insert

from club_shared.config import Settings
from club_shared.db import Database

from ..domain import hubspot as rules
from ..models import HubspotRateLimit

log = logging.getLogger(__name__)

TIMEOUT = (5, 20)  # connect, read (seconds)


class HubspotError(Exception):
    def __init__(self, failure: rules.Failure):
        super().__init__(failure.message)
        self.failure = failure


def hubspot_enabled(settings: Settings) -> bool:
    return bool(settings.hubspot_access_token)


def writes_enabled(settings: Settings) -> bool:
    """Outside production every HubSpot write is blocked, unless HUBSPOT_WRITES=on."""
    if settings.hubspot_writes:
        return settings.hubspot_writes.strip().lower() in ("on", "true", "1", "yes")
    return settings.env == "production"


class HubspotRateLimiter:
    """The token bucket in `hubspot_rate_limit`, worked with SELECT … FOR UPDATE on the database's clock."""

    def __init__(
        self, db: Database, per_10s: int, *, sleep: Callable[[float], None] = time.sleep, name="hubspot"
    ):
        self.db = db
        self.per_10s = per_10s
        self.sleep = sleep
        self.name = name
        self.waited = 0.0

    def take(self) -> float:
        """Take a token if there is one; else the seconds until there will be."""
        with self.db.transaction() as session:
            now = session.scalar(text("SELECT clock_timestamp()"))
            session.execute(
                insert(HubspotRateLimit)
                .values(name=self.name, tokens=max(1.0, self.per_10s / 2), refilled_at=now)
                .on_conflict_do_nothing(index_elements=[HubspotRateLimit.name])
            )
            bucket = session.scalar(
                select(HubspotRateLimit).where(HubspotRateLimit.name == self.name).with_for_update()
            )
            tokens, wait = rules.take_token(bucket.tokens, bucket.refilled_at, now, self.per_10s)
            bucket.tokens, bucket.refilled_at = tokens, now
            return wait

    def acquire(self) -> None:
        while (wait := self.take()) > 0:
            self.waited += wait
            self.sleep(wait)


class HubspotClient:
    def __init__(
        self,
        settings: Settings,
        limiter: HubspotRateLimiter | None = None,
        *,
        sleep: Callable[[float], None] = time.sleep,
    ):
        from hubspot import HubSpot
        from urllib3.util.retry import Retry

        if not settings.hubspot_access_token:
            raise RuntimeError("HubSpot is off: HUBSPOT_ACCESS_TOKEN is not set")
        base = settings.hubspot_api_base.rstrip("/")
        self.api = HubSpot(
            access_token=settings.hubspot_access_token,
            host=base,
            base_url=base,
            retry=Retry(total=0, connect=0, read=0, redirect=0, status=0, raise_on_status=False),
        )
        self.limiter = limiter
        self.sleep = sleep
        self.portal_id = settings.hubspot_portal_id

    # --- the one way every call goes ---------------------------------------------------------------

    def call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        for attempt in range(1, rules.CALL_TRIES + 1):
            if self.limiter is not None:
                self.limiter.acquire()
            try:
                return fn(*args, _request_timeout=TIMEOUT, **kwargs)
            except Exception as exc:  # the generated client raises one ApiException class per API
                failure = _failure(exc)
            if failure.kind == "rate_limited" and attempt < rules.CALL_TRIES:
                self.sleep(rules.rate_limit_wait(failure.retry_after_s, attempt))
                continue
            raise HubspotError(failure)
        raise AssertionError("unreachable")

    def raw(self, method: str, path: str, *, qs: dict[str, Any] | None = None, body: Any = None) -> Any:
        """A call the generated client has no method for (legacy form submissions), same rules."""

        def send(_request_timeout=None):
            options: dict[str, Any] = {"method": method, "path": path}
            if qs:
                options["qs"] = qs
            if body is not None:
                options["body"] = body
            response = self.api.api_request(options)
            if response.status_code >= 400:
                raise _RawError(response.status_code, response.text, response.headers.get("Retry-After"))
            return response.json() if response.content else {}

        return self.call(send)

    # --- contacts ----------------------------------------------------------------------------------

    def find_contact(self, email: str, properties: tuple[str, ...] = ("email",)) -> tuple[str, dict] | None:
        found = self.call(
            self.api.crm.contacts.search_api.do_search,
            public_object_search_request={
                "filterGroups": [{"filters": [{"propertyName": "email", "operator": "EQ", "value": email}]}],
                "properties": list(properties),
                "limit": 1,
            },
        )
        if not found.results:
            return None
        return found.results[0].id, dict(found.results[0].properties or {})

    def create_contact(self, properties: dict[str, str]) -> str:
        try:
            created = self.call(
                self.api.crm.contacts.basic_api.create,
                simple_public_object_input_for_create={"properties": properties, "associations": []},
            )
            return created.id
        except HubspotError as exc:
            existing = re.search(r"Existing ID: (\d+)", exc.failure.message)
            if exc.failure.status == 409 and existing:  # made meanwhile: update it instead
                self.update_contact(existing.group(1), properties)
                return existing.group(1)
            raise

    def update_contact(self, contact_id: str, properties: dict[str, str]) -> None:
        self.call(
            self.api.crm.contacts.basic_api.update,
            contact_id,
            simple_public_object_input={"properties": properties},
        )

    def purge_contact(self, object_id: str, *, by_email: bool) -> bool:
        """GDPR-delete a contact, by id or by e-mail (an unknown e-mail is blocklisted by HubSpot);
        False when HubSpot has no such contact (already deleted)."""
        request: dict[str, str] = {"objectId": object_id}
        if by_email:
            request["idProperty"] = "email"
        try:
            self.call(self.api.crm.contacts.basic_api.purge, public_gdpr_delete_input=request)
        except HubspotError as exc:
            if exc.failure.status == 404:
                return False
            raise
        return True

    def contacts_page(
        self, after: str | None, properties: tuple[str, ...]
    ) -> tuple[list[tuple[str, dict]], str | None]:
        kwargs: dict[str, Any] = {"limit": 100, "properties": list(properties)}
        if after:
            kwargs["after"] = after
        page = self.call(self.api.crm.contacts.basic_api.get_page, **kwargs)
        following = page.paging.next.after if page.paging and page.paging.next else None
        return [(r.id, dict(r.properties or {})) for r in page.results], following

    def contacts_by_id(self, ids: list[str], properties: tuple[str, ...]) -> dict[str, dict]:
        if not ids:
            return {}
        found = self.call(
            self.api.crm.contacts.batch_api.read,
            batch_read_input_simple_public_object_id={
                "inputs": [{"id": i} for i in ids],
                "properties": list(properties),
                "propertiesWithHistory": [],
            },
        )
        return {r.id: dict(r.properties or {}) for r in found.results}

    # --- deals and line items ----------------------------------------------------------------------

    def deals_for_contact(self, contact_id: str) -> list[tuple[str, dict]]:
        found = self.call(
            self.api.crm.deals.search_api.do_search,
            public_object_search_request={
                "filterGroups": [
                    {
                        "filters": [
                            {"propertyName": "associations.contact", "operator": "EQ", "value": contact_id}
                        ]
                    }
                ],
                "properties": [
                    "dealname",
                    "dealstage",
                    "pipeline",
                    "amount",
                    "closedate",
                    "hs_lastmodifieddate",
                ],
                "sorts": [{"propertyName": "hs_lastmodifieddate", "direction": "DESCENDING"}],
                "limit": 10,
            },
        )
        return [(r.id, dict(r.properties or {})) for r in found.results]

    def update_deal(self, deal_id: str, properties: dict[str, str]) -> None:
        self.call(
            self.api.crm.deals.basic_api.update,
            deal_id,
            simple_public_object_input={"properties": properties},
        )

    def line_items_for_deal(self, deal_id: str) -> list[tuple[str, dict]]:
        found = self.call(
            self.api.crm.line_items.search_api.do_search,
            public_object_search_request={
                "filterGroups": [
                    {"filters": [{"propertyName": "associations.deal", "operator": "EQ", "value": deal_id}]}
                ],
                "properties": ["name", "hs_product_id", "quantity", "price", "hs_discount_percentage"],
                "limit": 100,
            },
        )
        return [(r.id, dict(r.properties or {})) for r in found.results]

    def create_line_item(self, deal_id: str, properties: dict[str, str]) -> str:
        created = self.call(
            self.api.crm.line_items.basic_api.create,
            simple_public_object_input_for_create={
                "properties": properties,
                "associations": [
                    {
                        "to": {"id": deal_id},
                        "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 20}],
                    }
                ],
            },
        )
        return created.id

    def archive_line_item(self, line_item_id: str) -> None:
        self.call(self.api.crm.line_items.basic_api.archive, line_item_id)

    # --- companies ---------------------------------------------------------------------------------

    def find_company(self, name: str | None, domain: str | None) -> str | None:
        groups = []
        if domain:
            groups.append({"filters": [{"propertyName": "domain", "operator": "EQ", "value": domain}]})
        if name:
            groups.append({"filters": [{"propertyName": "name", "operator": "EQ", "value": name}]})
        if not groups:
            return None
        found = self.call(
            self.api.crm.companies.search_api.do_search,
            public_object_search_request={
                "filterGroups": groups,
                "properties": ["name", "domain"],
                "limit": 1,
            },
        )
        return found.results[0].id if found.results else None

    def create_company(self, properties: dict[str, str]) -> str:
        created = self.call(
            self.api.crm.companies.basic_api.create,
            simple_public_object_input_for_create={"properties": properties, "associations": []},
        )
        return created.id

    def associate(self, from_type: str, from_id: str, to_type: str, to_id: str) -> None:
        self.call(self.api.crm.associations.v4.basic_api.create_default, from_type, from_id, to_type, to_id)

    # --- forms, meetings, engagements --------------------------------------------------------------

    def forms(self) -> list[dict]:
        return self.raw("GET", "/marketing/v3/forms").get("results", [])

    def form_submissions(self, form_id: str, after: str | None) -> tuple[list[dict], str | None]:
        qs: dict[str, Any] = {"limit": 50}
        if after:
            qs["after"] = after
        page = self.raw("GET", f"/form-integrations/v1/submissions/forms/{form_id}", qs=qs)
        following = ((page.get("paging") or {}).get("next") or {}).get("after")
        return page.get("results", []), following

    def submit_form(
        self, portal_id: str, form_id: str, fields: dict[str, str], context: dict | None = None
    ) -> None:
        self.raw(
            "POST",
            f"/submissions/v3/integration/submit/{portal_id}/{form_id}",
            body={"fields": [{"name": k, "value": v} for k, v in fields.items()], "context": context or {}},
        )

    def objects_page(
        self,
        object_type: str,
        after: str | None,
        properties: tuple[str, ...],
        associations: tuple[str, ...] = (),
    ) -> tuple[list[tuple[str, dict, dict]], str | None]:
        """A page of CRM objects: (id, properties, {association type: [ids]})."""
        api = getattr(self.api.crm.objects, object_type).basic_api
        kwargs: dict[str, Any] = {"limit": 100, "properties": list(properties)}
        if associations:
            kwargs["associations"] = list(associations)
        if after:
            kwargs["after"] = after
        page = self.call(api.get_page, **kwargs)
        following = page.paging.next.after if page.paging and page.paging.next else None
        out = []
        for r in page.results:
            linked: dict[str, list[str]] = {}
            for kind, assoc in (r.associations or {}).items():
                linked[kind] = [a.id for a in (assoc.results or [])]
            out.append((r.id, dict(r.properties or {}), linked))
        return out, following


class _RawError(Exception):
    def __init__(self, status: int, body: str, retry_after: str | None):
        super().__init__(f"HTTP {status}")
        self.status, self.body, self.retry_after = status, body, retry_after


def _failure(exc: Exception) -> rules.Failure:
    if isinstance(exc, _RawError):
        return rules.classify(exc.status, exc.body, exc.retry_after)
    status = getattr(exc, "status", None)
    if isinstance(status, int) and status >= 400:
        headers = getattr(exc, "headers", None) or {}
        retry_after = headers.get("Retry-After") if hasattr(headers, "get") else None
        return rules.classify(status, getattr(exc, "body", None), retry_after)
    return rules.Failure("retry", f"{type(exc).__name__}: {exc}"[:500])


def ms_to_datetime(value: Any) -> datetime | None:
    from datetime import UTC

    try:
        return datetime.fromtimestamp(int(value) / 1000, tz=UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return None
