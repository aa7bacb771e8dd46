"""HubSpot rules as plain Python (domain.md §8): the queue's priorities, keys and back-off, what a
failure means, contact properties and the label maps, deal stages, the token bucket."""

from __future__ import annotations

import base64
import hashlib
import hmac
import random
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

# --- the queue ------------------------------------------------------------------------------------

OPERATIONS = (
    "create_contact",
    "update_contact",
    "sync_tier",
    "sync_payment",
    "sync_day_pass",
    "sync_company",
    "enrich_event_deal",
    "sync_tour",
    "delete_contact",
)
#: an erasure goes first: the law gives it a deadline, the others only want freshness
PRIORITIES = {
    "delete_contact": 1,
    "sync_tier": 2,
    "sync_payment": 3,
    "sync_day_pass": 3,
    "sync_tour": 3,
    "sync_company": 5,
}
DEFAULT_PRIORITY = 5
MAX_RETRIES = 5
CLAIM_LIMIT = 50
STALE_AFTER = timedelta(minutes=10)
STALE_RETRY_IN = timedelta(minutes=5)
#: within one job, a call is tried again only on 429: this many tries, waiting 1–30 s
CALL_TRIES = 5
#: statuses a job waits in (an idempotency key in one of them is taken)
OPEN_STATUSES = ("pending", "processing", "failed")


def priority_of(operation: str) -> int:
    return PRIORITIES.get(operation, DEFAULT_PRIORITY)


def tier_sync_key(email: str, old: str | None, new: str | None) -> str:
    return f"tier_sync_{email}_{old or 'none'}_to_{new or 'none'}"


def payment_sync_key(payment_intent_id: str) -> str:
    return f"payment_sync_{payment_intent_id}"


def day_pass_sync_key(payment_intent_id: str) -> str:
    return f"day_pass_sync_{payment_intent_id}"


def member_creation_key(email: str) -> str:
    return f"member_creation_{email}"


def tour_booked_key(tour_id: int) -> str:
    return f"tour_booked_{tour_id}"


def contact_deletion_key(member_id: str) -> str:
    return f"contact_deletion_{member_id}"


def backoff(failures: int, jitter: float | None = None) -> timedelta:
    """The wait after the n-th failed attempt: min(2^(n−1) minutes, 60 minutes) + 0–10 % jitter."""
    base = min(2 ** (max(failures, 1) - 1), 60) * 60.0
    jitter = random.uniform(0.0, 0.1) if jitter is None else jitter
    return timedelta(seconds=base * (1 + jitter))


@dataclass(frozen=True)
class Failure:
    """What a failed call means for its job."""

    #: retry (back-off, then dead after 5 retries) | dead (at once, staff alerted) | rate_limited
    kind: str
    message: str
    status: int | None = None
    retry_after_s: float | None = None


def classify(status: int | None, body: str | bytes | None, retry_after: str | None = None) -> Failure:
    text = body.decode(errors="replace") if isinstance(body, bytes) else (body or "")
    message = f"HTTP {status}: {text[:300]}" if status else text[:300] or "no answer"
    if status in (401, 403) or "MISSING_SCOPES" in text:
        return Failure("dead", message, status)
    if status == 429:
        return Failure("rate_limited", message, status, retry_after_seconds(retry_after))
    return Failure("retry", message, status)


def retry_after_seconds(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def rate_limit_wait(retry_after_s: float | None, attempt: int) -> float:
    """Wait before trying a 429'd call again: Retry-After when given, else 1, 2, 4 … s; 1–30 s."""
    wanted = retry_after_s if retry_after_s is not None else 2 ** (attempt - 1)
    return min(max(wanted, 1.0), 30.0)


# --- the token bucket -----------------------------------------------------------------------------


def take_token(tokens: float, refilled_at: datetime, now: datetime, per_10s: int) -> tuple[float, float]:
    """(tokens left, seconds to wait): a bucket of `per_10s // 2` refilled at `per_10s` per 10 s, so
    no 10-second window ever sees more than 1.5 × per_10s calls (100 → 150, under HubSpot's 190)."""
    capacity = max(1.0, per_10s / 2)
    rate = per_10s / 10.0
    elapsed = max(0.0, (now - refilled_at).total_seconds())
    available = min(capacity, tokens + elapsed * rate)
    if available >= 1.0:
        return available - 1.0, 0.0
    return available, (1.0 - available) / rate


# --- contacts -------------------------------------------------------------------------------------

STATUS_LABELS = {
    "active": "Active",
    "trialing": "Active",
    "cancelled": "Terminated",
    "terminated": "Terminated",
    "frozen": "Froze",
    "suspended": "Suspended",
    "inactive": "Suspended",
    "pending": "Pending",
    "non-member": "Non-Member",
    "past_due": "Past Due",
    "grace_period": "Past Due",
    "paused": "Froze",
    "expired": "Terminated",
    "former_member": "Terminated",
    "declined": "Declined",
    "visitor": "Non-Member",
}
ACCESS_STATUSES = ("active", "trialing", "past_due", "grace_period")


def status_label(status: str | None) -> str | None:
    if not status:
        return None
    return STATUS_LABELS.get(status, status.replace("_", " ").title())


def tier_label(tier: str | None, labels: Mapping[str, str]) -> str | None:
    if not tier:
        return None
    return labels.get(tier) or tier.replace("-", " ").title() + " Membership"


def contact_properties(member: Mapping[str, Any], tier_labels: Mapping[str, str]) -> dict[str, str]:
    """HubSpot contact properties from a member snapshot: status and tier are ours to say."""
    status = member.get("status")
    props: dict[str, Any] = {
        "email": member.get("email"),
        "firstname": member.get("first_name"),
        "lastname": member.get("last_name"),
        "phone": member.get("phone"),
        "membership_tier": tier_label(member.get("tier"), tier_labels) or "",
        "membership_status": status_label(status),
        "billing_provider": member.get("billing_provider"),
        "lifecyclestage": "customer" if status in ACCESS_STATUSES else "other",
        "membership_start_date": (member.get("created_at") or "")[:10] or None,
        "stripe_customer_id": member.get("stripe_customer_id"),
        "stripe_subscription_id": member.get("stripe_subscription_id"),
        "hs_sms_opt_in": _flag(member.get("sms_opt_in")),
        "marketing_opt_in": _flag(member.get("marketing_opt_in")),
    }
    return {k: v for k, v in props.items() if v is not None}


def _flag(value: Any) -> str | None:
    return None if value is None else ("true" if value else "false")


#: profile fields HubSpot may fill when ours are blank, by HubSpot property
PROFILE_FROM_HUBSPOT = {"firstname": "first_name", "lastname": "last_name", "phone": "phone"}
#: opt-ins HubSpot overwrites, by HubSpot property
OPT_INS_FROM_HUBSPOT = {"hs_sms_opt_in": "sms_opt_in", "marketing_opt_in": "marketing_opt_in"}
NOTE_PROPERTY = "hs_content_membership_notes"
ADDITIONAL_EMAILS = "hs_additional_emails"
READ_PROPERTIES = ("email", *PROFILE_FROM_HUBSPOT, *OPT_INS_FROM_HUBSPOT, NOTE_PROPERTY, ADDITIONAL_EMAILS)


def contact_update(contact_id: str, properties: Mapping[str, Any], member_email: str) -> dict[str, Any]:
    """integrations.hubspot.contact_updated from a HubSpot contact (never status or tier)."""
    profile = {
        ours: properties.get(theirs)
        for theirs, ours in PROFILE_FROM_HUBSPOT.items()
        if properties.get(theirs)
    }
    opt_ins = {
        ours: str(properties.get(theirs)).lower() == "true"
        for theirs, ours in OPT_INS_FROM_HUBSPOT.items()
        if properties.get(theirs) not in (None, "")
    }
    merged = sorted(
        {
            e.strip().lower()
            for e in (properties.get(ADDITIONAL_EMAILS) or "").replace(",", ";").split(";")
            if "@" in e and e.strip().lower() != member_email
        }
    )
    note = (properties.get(NOTE_PROPERTY) or "").strip() or None
    return {
        "email": member_email,
        "hubspot_id": str(contact_id),
        "profile": profile,
        "opt_ins": opt_ins,
        "merged_emails": merged,
        "note": note,
        "note_hash": hashlib.sha256(note.encode()).hexdigest() if note else None,
    }


def fingerprint(data: Mapping[str, Any]) -> str:
    import json

    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()


# --- deals ----------------------------------------------------------------------------------------

STAGE_FOR_STATUS = {
    "active": "closed_won",
    "trialing": "closed_won",
    "pending": "payment_declined",
    "declined": "payment_declined",
    "suspended": "payment_declined",
    "expired": "payment_declined",
    "frozen": "payment_declined",
    "past_due": "payment_declined",
    "grace_period": "payment_declined",
    "terminated": "closed_lost",
    "cancelled": "closed_lost",
    "non-member": "closed_lost",
}


def deal_stage(status: str | None, stages: Mapping[str, str]) -> tuple[str, str] | None:
    """(stage name, HubSpot stage id) for a membership status, or None when status says nothing."""
    name = STAGE_FOR_STATUS.get(status or "")
    return (name, stages[name]) if name and name in stages else None


#: a booked tour moves a deal on only from the tour request: a deal further along never goes back
TOUR_BOOKED_FROM = ("day_pass_tour_request",)


def tour_booked_deals(deals: list[tuple[str, Mapping[str, Any]]], stages: Mapping[str, str]) -> list[str]:
    """The ids of the deals a booked tour moves to `tour_booked` (none when the stage is not set)."""
    if "tour_booked" not in stages:
        return []
    earlier = {stages[name] for name in TOUR_BOOKED_FROM if name in stages}
    return [deal_id for deal_id, props in deals if props.get("dealstage") in earlier]


def payment_status(stage_name: str | None) -> str:
    return {"closed_won": "current", "payment_declined": "overdue"}.get(stage_name or "", "unknown")


# --- webhooks -------------------------------------------------------------------------------------

MAX_WEBHOOK_AGE_MS = 5 * 60 * 1000


def webhook_signature(secret: str, method: str, uri: str, body: str, timestamp: str) -> str:
    digest = hmac.new(secret.encode(), f"{method}{uri}{body}{timestamp}".encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def webhook_valid(
    secret: str,
    method: str,
    uris: list[str],
    body: str,
    timestamp: str | None,
    signature: str | None,
    now_ms: int,
) -> bool:
    """Signature v3: base64(HMAC-SHA256(secret, method + uri + body + timestamp)), at most 5 minutes old."""
    if not signature or not timestamp or not timestamp.isdigit():
        return False
    if abs(now_ms - int(timestamp)) > MAX_WEBHOOK_AGE_MS:
        return False
    return any(
        hmac.compare_digest(webhook_signature(secret, method, uri, body, timestamp), signature)
        for uri in uris
    )
