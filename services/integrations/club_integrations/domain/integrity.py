"""Integrity checks (domain.md §11) as plain Python: integrations' own checks over rows handed in, issue
keys, ignore durations, and what a run means for the issues already tracked."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from . import hubspot as hubspot_rules

IGNORE_FOR = {"24h": timedelta(hours=24), "1w": timedelta(weeks=1), "30d": timedelta(days=30)}
UNMATCHED_AFTER = timedelta(hours=24)
TOUR_MATCH = timedelta(minutes=15)


def issue_key(table: str, record_id: Any) -> str:
    return f"{table}_{record_id}"


@dataclass
class Check:
    name: str
    category: str
    severity: str
    issues: list[dict[str, Any]] = field(default_factory=list)
    status: str = "ok"
    error: str | None = None

    def add(self, table: str, record_id: Any, description: str, **details: Any) -> None:
        self.issues.append(
            {"table": table, "record_id": str(record_id), "description": description, "details": details}
        )
        self.status = "issues"

    def result(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "category": self.category,
            "severity": self.severity,
            "status": self.status,
            "error": self.error,
            "issues": self.issues,
        }


def deal_stage_drift(
    deals: Iterable[Mapping], members: Mapping[str, Mapping], stages: Mapping[str, str]
) -> Check:
    """A deal whose stage is not what the member's status says it should be."""
    check = Check("Deal Stage Drift", "sync_mismatch", "medium")
    for deal in deals:
        member = members.get(deal["member_email"] or "")
        if member is None:
            continue
        expected = hubspot_rules.deal_stage(member.get("status"), stages)
        if expected and deal["stage"] != expected[1]:
            check.add(
                "hubspot_deals",
                deal["id"],
                f"Deal {deal['hubspot_deal_id']} is at {deal['stage_name'] or deal['stage']}"
                f" but {deal['member_email']} is {member.get('status')} ({expected[0]}).",
                member_email=deal["member_email"],
                expected=expected[0],
                actual=deal["stage_name"],
            )
    return check


def deals_without_line_items(deals: Iterable[Mapping], deals_with_items: set[str]) -> Check:
    check = Check("Deals Without Line Items", "data_quality", "low")
    for deal in deals:
        if deal["stage_name"] == "closed_won" and deal["hubspot_deal_id"] not in deals_with_items:
            check.add(
                "hubspot_deals",
                deal["id"],
                f"Won deal {deal['hubspot_deal_id']} has no line items.",
                member_email=deal["member_email"],
            )
    return check


def hubspot_id_duplicates(members: Iterable[Mapping]) -> Check:
    check = Check("HubSpot ID Duplicates", "data_quality", "high")
    by_id: dict[str, list[Mapping]] = {}
    for member in members:
        if member.get("hubspot_id"):
            by_id.setdefault(member["hubspot_id"], []).append(member)
    for hubspot_id, same in sorted(by_id.items()):
        if len(same) > 1:
            emails = sorted(m["email"] for m in same)
            for member in same:
                check.add(
                    "members",
                    member["member_id"],
                    f"HubSpot contact {hubspot_id} is shared by {', '.join(emails)}.",
                    hubspot_id=hubspot_id,
                    emails=emails,
                )
    return check


def hubspot_sync_mismatch(dead_jobs: Iterable[Mapping]) -> Check:
    """Members whose HubSpot sync gave up: HubSpot no longer says what we say."""
    check = Check("HubSpot Sync Mismatch", "sync_mismatch", "medium")
    for job in dead_jobs:
        check.add(
            "hubspot_sync_queue",
            job["id"],
            f"{job['action']} for {job['entity_id']} gave up: {(job['last_error'] or '')[:200]}",
            email=job["entity_id"],
            action=job["action"],
        )
    return check


def duplicate_tour_sources(tours: Iterable[Mapping]) -> Check:
    """The same visitor's tour twice (e.g. booked here and imported from HubSpot) within 15 minutes."""
    check = Check("Duplicate Tour Sources", "data_quality", "medium")
    active = sorted(
        (
            t
            for t in tours
            if t["visitor_email"] and t["scheduled_at"] and t["status"] in ("scheduled", "checked_in")
        ),
        key=lambda t: (t["visitor_email"], t["scheduled_at"], t["id"]),
    )
    for earlier, later in zip(active, active[1:], strict=False):
        if (
            earlier["visitor_email"] == later["visitor_email"]
            and later["scheduled_at"] - earlier["scheduled_at"] <= TOUR_MATCH
        ):
            check.add(
                "tours",
                later["id"],
                f"Tour {later['id']} ({later['source']}) repeats tour {earlier['id']} "
                f"({earlier['source']}) for {later['visitor_email']}.",
                duplicate_of=earlier["id"],
            )
    return check


def stale_past_tours(tours: Iterable[Mapping], now: datetime) -> Check:
    check = Check("Stale Past Tours", "booking_issue", "low")
    for tour in tours:
        if tour["status"] == "scheduled" and tour["ends_at"] and tour["ends_at"] <= now:
            check.add(
                "tours",
                tour["id"],
                f"Tour {tour['id']} for {tour['visitor_name']} is past and still scheduled.",
            )
    return check


def unmatched_trackman(items: Iterable[Mapping], now: datetime) -> Check:
    check = Check("Unmatched Trackman Bookings", "booking_issue", "high")
    for item in items:
        if item["status"] == "unresolved" and item["created_at"] <= now - UNMATCHED_AFTER:
            check.add(
                "trackman_unmatched_bookings",
                item["id"],
                f"TrackMan booking {item['trackman_booking_id']} on {item['booking_date']} is unmatched "
                f"({item['reason']}).",
                trackman_booking_id=item["trackman_booking_id"],
            )
    return check
