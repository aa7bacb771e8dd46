"""Membership's scheduled work (domain.md §2.3, §2.6, §11, §12), run by the worker's JobRunner.

- 02:00 club time: expired sessions, spent sign-in codes and finished limit windows are deleted.
- every 6 h: `pending` sign-ups without a subscription are listed to staff after 24 h and removed
  after 48 h (family members waiting for billing's add-on are left alone).
- 10:00 club time: onboarding nudges (24 h, 72 h, 7 days; at most 3 per member, 20 per run).
- every 5 minutes: data exports still missing a part an hour on are failed.
- every 24 h: tier reconciliation (`users.tier` follows `users.tier_id`).
- 00:00 club time: membership's integrity checks → membership.integrity.checked.

The grace-period reminders and expiry are billing's (billing.grace_period.expired → membership).
"""

from __future__ import annotations

import uuid
from datetime import datetime, time, timedelta
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from club_shared.clubtime import utcnow
from club_shared.jobs import Daily, Every, JobRunner, Scheduled, alert_by_event
from club_shared.runtime import Runtime

from .actions import account, signin
from .actions import settings as settings_actions
from .domain import onboarding, statuses
from .models import JOBS, GroupMember, MembershipTier, RefreshSession, User, UserLinkedEmail

SCHEDULE = (
    Scheduled("membership.purge_sessions", Daily(time(2, 0))),
    Scheduled("membership.pending_signups", Every(timedelta(hours=6))),
    Scheduled("membership.onboarding_nudges", Daily(time(10, 0))),
    Scheduled("membership.export_deadlines", Every(timedelta(minutes=5))),
    Scheduled("membership.tier_reconciliation", Every(timedelta(hours=24))),
    Scheduled("membership.integrity", Daily(time(0, 0))),
)

ABANDONED_AFTER = timedelta(hours=24)
REMOVED_AFTER = timedelta(hours=48)


def purge_sessions(session: Session, rt: Runtime, now: datetime) -> int:
    signin.purge_code_events(session, rt)
    return signin.purge_expired(session, now)


def _staff_notice(session: Session, rt: Runtime, kind: str, title: str, message: str) -> None:
    rt.publish(
        session,
        "membership.notification.requested",
        {
            "audience": "staff",
            "type": kind,
            "title": title,
            "message": message,
            "link": None,
            "urgent": False,
            "channels": ["in_app"],
        },
    )


def pending_signups(session: Session, rt: Runtime, now: datetime) -> dict[str, list[str]]:
    """Sign-ups that never subscribed: listed after 24 h, removed after 48 h."""
    in_group = select(GroupMember.member_email).where(GroupMember.is_active)
    stale = session.scalars(
        select(User)
        .where(
            User.status == "pending",
            User.stripe_subscription_id.is_(None),
            User.billing_provider == "stripe",
            User.created_at <= now - ABANDONED_AFTER,
            User.email.not_in(in_group),
        )
        .order_by(User.created_at)
        .with_for_update(skip_locked=True)
    ).all()
    removed = [u for u in stale if u.created_at <= now - REMOVED_AFTER]
    listed = [u for u in stale if u not in removed]
    for user in removed:
        linked = [link.linked_email for link in user.linked_emails]
        session.execute(delete(UserLinkedEmail).where(UserLinkedEmail.primary_email == user.email))
        session.execute(delete(RefreshSession).where(RefreshSession.subject_email == user.email))
        rt.publish(
            session,
            "membership.member.deleted",
            {"member_id": user.id, "email": user.email, "linked_emails": linked},
        )
        session.delete(user)
    if listed or removed:
        _staff_notice(
            session,
            rt,
            "abandoned_signups",
            "Abandoned sign-ups",
            f"{len(listed)} sign-up(s) pending for over a day without a subscription"
            + (f"; {len(removed)} removed after two days" if removed else "")
            + (": " + ", ".join(u.email for u in listed[:20]) if listed else ""),
        )
    return {"listed": [u.email for u in listed], "removed": [u.email for u in removed]}


def onboarding_nudges(session: Session, rt: Runtime, now: datetime) -> list[str]:
    current = settings_actions.get(session, "waiver.current_version")
    nudge_max = settings_actions.get(session, "scheduling.nudge_max")
    candidates = session.scalars(
        select(User)
        .where(
            User.status.in_(("active", "trialing")),
            User.role == "member",
            User.nudge_count < nudge_max,
            User.created_at <= now - onboarding.NUDGE_AFTER[0],
        )
        .order_by(User.created_at)
        .with_for_update(skip_locked=True)
    ).all()
    nudged = []
    for user in candidates:
        if len(nudged) >= onboarding.NUDGES_PER_RUN:
            break
        missing = onboarding.missing_steps(
            phone=user.phone,
            waiver_version=user.waiver_version,
            current_waiver=current,
            first_booking_at=user.first_booking_at,
            app_installed_at=user.app_installed_at,
        )
        if not missing or not onboarding.nudge_due(user.created_at, user.nudge_count, now, nudge_max):
            continue
        steps = ", ".join(onboarding.STEP_LABELS[s] for s in missing)
        rt.publish(
            session,
            "membership.notification.requested",
            {
                "audience": "member",
                "email": user.email,
                "type": "onboarding_nudge",
                "title": "Finish setting up",
                "message": f"Welcome to the club, {user.first_name}! Still to do: {steps}.",
                "link": None,
                "urgent": False,
                "channels": ["in_app", "push", "email"],
            },
        )
        user.nudge_count += 1
        nudged.append(user.email)
    return nudged


def tier_reconciliation(session: Session, now: datetime) -> int:
    """`users.tier` and `users.tier_id` always agree: the id wins (a slug without an id is cleared)."""
    fixed = session.execute(
        update(User)
        .where(User.tier_id == MembershipTier.id, User.tier.is_distinct_from(MembershipTier.slug))
        .values(tier=MembershipTier.slug)
    ).rowcount
    fixed += session.execute(
        update(User).where(User.tier_id.is_(None), User.tier.is_not(None)).values(tier=None)
    ).rowcount
    return int(fixed or 0)


def integrity(session: Session, rt: Runtime, now: datetime, trigger: str = "scheduled") -> dict[str, Any]:
    """Membership's own data checks (domain.md §11), published for integrations to track."""
    current_waiver = settings_actions.get(session, "waiver.current_version")
    checks = []

    def check(name: str, category: str, severity: str, query, describe) -> None:
        try:
            rows = session.execute(query).all()
            issues = [
                {"table": "users", "record_id": str(r[0]), "description": describe(r), "details": {}}
                for r in rows[:500]
            ]
            checks.append(
                {
                    "name": name,
                    "category": category,
                    "severity": severity,
                    "status": "issues" if issues else "ok",
                    "error": None,
                    "issues": issues,
                }
            )
        except Exception as exc:  # one broken check never hides the others
            checks.append(
                {
                    "name": name,
                    "category": category,
                    "severity": severity,
                    "status": "error",
                    "error": f"{type(exc).__name__}",
                    "issues": [],
                }
            )

    linked_primary = UserLinkedEmail.__table__.alias("l")
    check(
        "Duplicate Members",
        "data_quality",
        "high",
        select(User.id, User.email)
        .join(linked_primary, linked_primary.c.linked_email == User.email)
        .where(linked_primary.c.primary_email != User.email, User.status.not_in(statuses.FINAL_STATUSES)),
        lambda r: f"{r[1]} is also a linked e-mail of another member",
    )
    check(
        "Members Without Email",
        "data_quality",
        "critical",
        select(User.id).where(func.coalesce(func.btrim(User.email), "") == ""),
        lambda r: "no e-mail",
    )
    check(
        "Billing Provider Hybrid State",
        "billing_issue",
        "medium",
        select(User.id, User.billing_provider).where(
            User.billing_provider != "stripe",
            User.stripe_subscription_id.is_not(None),
            User.status.in_(statuses.ACCESS_STATUSES),
        ),
        lambda r: f"billed as {r[1]} but has a Stripe subscription",
    )
    check(
        "Stuck Transitional Members",
        "data_quality",
        "medium",
        select(User.id, User.status).where(
            User.status.in_(("pending", "past_due")), User.updated_at <= now - timedelta(days=30)
        ),
        lambda r: f"{r[1]} for over 30 days",
    )
    check(
        "Tier Reconciliation",
        "sync_mismatch",
        "high",
        select(User.id).where(
            User.status.in_(statuses.ACCESS_STATUSES), User.tier_id.is_(None), User.role == "member"
        ),
        lambda r: "in an access status without a tier",
    )
    check(
        "Archived Member Lingering Data",
        "orphan_record",
        "low",
        select(User.id).where(
            User.status == "archived",
            User.email.in_(
                select(RefreshSession.subject_email).union(
                    select(GroupMember.member_email).where(GroupMember.is_active)
                )
            ),
        ),
        lambda r: "archived but still has sessions or an active group membership",
    )
    check(
        "Active Members Without Waivers",
        "data_quality",
        "medium",
        select(User.id).where(
            User.status.in_(statuses.ACCESS_STATUSES),
            User.role == "member",
            User.waiver_version.is_distinct_from(current_waiver),
        ),
        lambda r: "has not signed the current waiver",
    )
    data = {"run_id": uuid.uuid4().hex, "checked_at": now.isoformat(), "trigger": trigger, "checks": checks}
    rt.publish(session, "membership.integrity.checked", data)
    return data


def job_functions(rt: Runtime, clock=utcnow):
    return {
        "membership.purge_sessions": lambda session, payload: purge_sessions(session, rt, clock()),
        "membership.pending_signups": lambda session, payload: pending_signups(session, rt, clock()),
        "membership.onboarding_nudges": lambda session, payload: onboarding_nudges(session, rt, clock()),
        "membership.export_deadlines": lambda session, payload: account.fail_overdue(session, now=clock()),
        "membership.tier_reconciliation": lambda session, payload: tier_reconciliation(session, clock()),
        "membership.integrity": lambda session, payload: integrity(session, rt, clock()),
    }


def make_jobs(rt: Runtime, clock=utcnow) -> JobRunner:
    return JobRunner(
        rt.db, JOBS, job_functions(rt, clock), rt.tz, SCHEDULE, alert=alert_by_event(rt.publish, rt.service)
    )
