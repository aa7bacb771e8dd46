"""A member's account: deletion requests and data exports (domain.md §2.3).

The data export is gathered from every service:

1. The member asks (`POST /api/v1/account/exports`). Membership records the request, writes its own
   part at once and publishes `membership.data_export.requested {request_id, member_id, email,
   emails, requested_at}` — `emails` are the primary and every linked e-mail.
2. Every other service answers with `<service>.data_export.part_written {request_id, email,
   service, part}`: `part` maps each of its tables (or read models) that hold rows about any of
   those e-mails (or the member id) to the list of those rows as JSON objects — an empty list when
   there are none, so that a missing table is a bug and not an absence of data.
3. Membership stores each part once (the latest delivery wins) and completes the export when every
   service in `EXPECTED_PARTS` has answered; a part still missing an hour after the request makes
   the export `failed`, with the missing services named.
4. The member downloads one JSON document (`…/download`) for `privacy.export_link_days` days.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from club_shared.config import SERVICES
from club_shared.events import Event
from club_shared.problems import Problem
from club_shared.runtime import Runtime

from ..domain import statuses
from ..domain.actors import Actor
from ..models import (
    AccountDeletionRequest,
    AdminAuditLog,
    BillingGroup,
    BugReport,
    DataExportPart,
    DataExportRequest,
    GroupMember,
    MagicLink,
    MemberDispute,
    MemberNote,
    RefreshSession,
    StaffUser,
    SyncExclusion,
    User,
    UserLinkedEmail,
)
from . import audit, signin
from . import members as member_actions
from . import settings as settings_actions

log = logging.getLogger(__name__)

#: the services whose parts make an export whole
EXPECTED_PARTS = tuple(SERVICES)
PART_DEADLINE = timedelta(hours=1)
DELETION_BUSINESS_DAYS = 7


# ------------------------------------------------------------------------------------------------
# Data export
# ------------------------------------------------------------------------------------------------


def _rows(items, *columns: str) -> list[dict[str, Any]]:
    out = []
    for item in items:
        row = {}
        for column in columns:
            value = getattr(item, column)
            row[column] = value.isoformat() if isinstance(value, datetime | date) else value
        out.append(row)
    return out


def membership_part(session: Session, user: User) -> dict[str, list[dict[str, Any]]]:
    """Everything membership keeps about the member, by table."""
    emails = [user.email] + [link.linked_email for link in user.linked_emails]
    profile = member_actions.snapshot(user)
    profile.update(
        {
            "last_tier": user.last_tier,
            "grace_period_start": user.grace_period_start.isoformat() if user.grace_period_start else None,
            "first_booking_at": user.first_booking_at.isoformat() if user.first_booking_at else None,
            "app_installed_at": user.app_installed_at.isoformat() if user.app_installed_at else None,
            "lifetime_visits": user.lifetime_visits,
            "merged_into": user.merged_into,
        }
    )
    groups = session.scalars(select(GroupMember).where(GroupMember.member_email.in_(emails))).all()
    group_ids = {g.billing_group_id for g in groups}
    return {
        "users": [profile],
        "user_linked_emails": _rows(user.linked_emails, "linked_email", "source", "linked_at"),
        "group_members": _rows(
            groups,
            "billing_group_id",
            "member_email",
            "relationship",
            "is_primary",
            "member_tier",
            "add_on_price_cents",
            "is_active",
            "added_at",
            "removed_at",
        ),
        "billing_groups": _rows(
            session.scalars(select(BillingGroup).where(BillingGroup.id.in_(group_ids))).all()
            if group_ids
            else [],
            "id",
            "type",
            "group_name",
            "company_name",
            "primary_email",
            "is_active",
            "created_at",
        ),
        "staff_users": _rows(
            session.scalars(select(StaffUser).where(StaffUser.email.in_(emails))).all(),
            "email",
            "name",
            "role",
            "is_active",
            "created_at",
        ),
        "sessions": [
            {
                "created_at": s.created_at.isoformat(),
                "expires_at": s.expire.isoformat(),
                "ip": s.sess.get("ip"),
                "user_agent": s.sess.get("user_agent"),
            }
            for s in session.scalars(select(RefreshSession).where(RefreshSession.subject_email.in_(emails)))
        ],
        "member_disputes": _rows(
            session.scalars(select(MemberDispute).where(MemberDispute.member_email.in_(emails))).all(),
            "dispute_id",
            "status",
            "amount_cents",
            "opened_at",
            "closed_at",
        ),
        "member_notes": _rows(
            session.scalars(select(MemberNote).where(MemberNote.member_email.in_(emails))).all(),
            "note",
            "created_by",
            "is_pinned",
            "created_at",
        ),
        "bug_reports": _rows(
            session.scalars(select(BugReport).where(BugReport.user_email.in_(emails))).all(),
            "description",
            "status",
            "page_url",
            "created_at",
            "resolved_at",
        ),
        "account_deletion_requests": _rows(
            session.scalars(
                select(AccountDeletionRequest).where(AccountDeletionRequest.user_id == user.id)
            ).all(),
            "status",
            "reason",
            "requested_at",
            "processed_at",
        ),
        "data_export_requests": _rows(
            session.scalars(select(DataExportRequest).where(DataExportRequest.user_id == user.id)).all(),
            "id",
            "status",
            "requested_at",
            "completed_at",
        ),
        "admin_audit_log": _rows(
            session.scalars(
                select(AdminAuditLog)
                .where(
                    (AdminAuditLog.actor_email.in_(emails))
                    | ((AdminAuditLog.resource_type == "member") & (AdminAuditLog.resource_id == user.id))
                )
                .order_by(AdminAuditLog.id)
            ).all(),
            "action",
            "actor_type",
            "actor_email",
            "resource_type",
            "resource_id",
            "source_service",
            "created_at",
        ),
    }


def request_export(
    session: Session, runtime: Runtime, actor: Actor, user: User, *, now: datetime
) -> DataExportRequest:
    open_request = session.scalar(
        select(DataExportRequest).where(
            DataExportRequest.user_id == user.id, DataExportRequest.status.in_(("pending", "processing"))
        )
    )
    if open_request is not None and open_request.requested_at > now - PART_DEADLINE:
        raise Problem(
            409, "An export is already being gathered.", code="EXPORT_IN_PROGRESS", export_id=open_request.id
        )
    request = DataExportRequest(user_email=user.email, user_id=user.id, status="pending", requested_at=now)
    session.add(request)
    session.flush()
    emails = [user.email] + [link.linked_email for link in user.linked_emails]
    runtime.publish(
        session,
        "membership.data_export.requested",
        {
            "request_id": request.id,
            "member_id": user.id,
            "email": user.email,
            "emails": emails,
            "requested_at": now.isoformat(),
        },
    )
    _store(session, request, "membership", membership_part(session, user), now=now, runtime=runtime)
    audit.record(
        session,
        actor,
        "data_export.requested",
        "member",
        user.id,
        resource_name=user.name,
        details={"request_id": request.id},
    )
    return request


def _store(
    session: Session,
    request: DataExportRequest,
    service: str,
    part: dict[str, Any],
    *,
    now: datetime,
    runtime: Runtime | None,
) -> None:
    session.execute(
        insert(DataExportPart)
        .values(request_id=request.id, service=service, data=part)
        .on_conflict_do_update(constraint="uq_data_export_parts_request_service", set_={"data": part})
    )
    received = set(
        session.scalars(select(DataExportPart.service).where(DataExportPart.request_id == request.id))
    )
    if request.status == "completed":
        return
    if set(EXPECTED_PARTS) <= received:
        days = settings_actions.get(session, "privacy.export_link_days")
        request.status = "completed"
        request.completed_at = now
        request.expires_at = now + timedelta(days=days)
        request.failure_reason = None
        request.download_url = f"/api/v1/account/exports/{request.id}/download"
        _publish(
            session,
            runtime,
            "membership.notification.requested",
            {
                "audience": "member",
                "email": request.user_email,
                "type": "data_export_ready",
                "title": "Your data is ready",
                "message": f"The copy of your data you asked for is ready to download for {days} days.",
                "link": request.download_url,
                "urgent": False,
                "channels": ["in_app", "email"],
            },
        )
    elif request.status == "pending":
        request.status = "processing"


def store_part(session: Session, event: Event) -> None:
    """`<service>.data_export.part_written` arrived."""
    data = event.data
    request = session.scalar(
        select(DataExportRequest).where(DataExportRequest.id == data["request_id"]).with_for_update()
    )
    if request is None:
        log.warning(
            "data export part for an unknown request",
            extra={"request_id": data["request_id"], "service": data["service"]},
        )
        return
    if data["service"] != event.producer:
        log.warning(
            "data export part names another service",
            extra={"producer": event.producer, "service": data["service"]},
        )
        return
    _store(session, request, data["service"], data["part"], now=event.occurred_at, runtime=None)


def _publish(session: Session, runtime: Runtime | None, event_type: str, data: dict[str, Any]) -> None:
    """Publish from a request (the runtime) or from a handler (the consumer's transaction)."""
    if runtime is not None:
        runtime.publish(session, event_type, data)
    else:
        from club_shared.bus import publish

        from ..models import BUS

        publish(session, BUS, event_type, data, producer="membership")


def missing_parts(session: Session, request: DataExportRequest) -> list[str]:
    received = set(
        session.scalars(select(DataExportPart.service).where(DataExportPart.request_id == request.id))
    )
    return [s for s in EXPECTED_PARTS if s not in received]


def check_deadline(session: Session, request: DataExportRequest, *, now: datetime) -> None:
    """An export still missing a part an hour after it was asked for has failed."""
    if request.status in ("pending", "processing") and request.requested_at + PART_DEADLINE <= now:
        missing = missing_parts(session, request)
        request.status = "failed"
        request.failure_reason = "No answer from: " + ", ".join(missing)


def fail_overdue(session: Session, *, now: datetime) -> int:
    """For a scheduler: fail every export past its deadline."""
    overdue = session.scalars(
        select(DataExportRequest)
        .where(
            DataExportRequest.status.in_(("pending", "processing")),
            DataExportRequest.requested_at <= now - PART_DEADLINE,
        )
        .with_for_update(skip_locked=True)
    ).all()
    for request in overdue:
        check_deadline(session, request, now=now)
    return len(overdue)


def document(session: Session, request: DataExportRequest) -> dict[str, Any]:
    parts = {
        p.service: p.data
        for p in session.scalars(select(DataExportPart).where(DataExportPart.request_id == request.id))
    }
    return {
        "export": {
            "request_id": request.id,
            "member_id": request.user_id,
            "email": request.user_email,
            "requested_at": request.requested_at.isoformat(),
            "completed_at": request.completed_at.isoformat() if request.completed_at else None,
        },
        **{service: parts.get(service, {}) for service in EXPECTED_PARTS},
    }


# ------------------------------------------------------------------------------------------------
# Account deletion
# ------------------------------------------------------------------------------------------------


def add_business_days(start: date, days: int) -> date:
    current = start
    while days > 0:
        current += timedelta(days=1)
        if current.weekday() < 5:
            days -= 1
    return current


def request_deletion(
    session: Session, runtime: Runtime, actor: Actor, user: User, *, reason: str | None
) -> AccountDeletionRequest:
    if session.scalar(
        select(AccountDeletionRequest.id).where(
            AccountDeletionRequest.email == user.email, AccountDeletionRequest.status == "pending"
        )
    ):
        raise Problem(409, "Your account's deletion is already requested.", code="DELETION_PENDING")
    request = AccountDeletionRequest(user_id=user.id, email=user.email, status="pending", reason=reason)
    session.add(request)
    session.flush()
    runtime.publish(
        session,
        "membership.notification.requested",
        {
            "audience": "staff",
            "type": "account_deletion_requested",
            "title": "Account deletion requested",
            "message": f"{user.name} ({user.email}) asked for their account to be deleted; "
            f"complete it within {DELETION_BUSINESS_DAYS} business days.",
            "link": None,
            "urgent": False,
            "channels": ["in_app"],
        },
    )
    audit.record(session, actor, "account.deletion_requested", "member", user.id, resource_name=user.name)
    return request


def cancel_deletion(session: Session, actor: Actor, user: User) -> AccountDeletionRequest:
    request = session.scalar(
        select(AccountDeletionRequest)
        .where(AccountDeletionRequest.user_id == user.id, AccountDeletionRequest.status == "pending")
        .with_for_update()
    )
    if request is None:
        raise Problem(404, "There is no pending deletion request.", code="NOT_FOUND")
    request.status = "cancelled"
    audit.record(session, actor, "account.deletion_cancelled", "member", user.id, resource_name=user.name)
    return request


def complete_deletion(
    session: Session, runtime: Runtime, actor: Actor, request_id: int, *, now: datetime
) -> AccountDeletionRequest:
    """Erase the member here, put their addresses on the sync exclusions, and tell every service
    (membership.member.deleted: each erases or anonymises what it keeps)."""
    done = session.execute(
        update(AccountDeletionRequest)
        .where(AccountDeletionRequest.id == request_id, AccountDeletionRequest.status == "pending")
        .values(status="completed", processed_at=now, processed_by=actor.email)
        .returning(AccountDeletionRequest.id)
    ).first()
    request = session.get(AccountDeletionRequest, request_id)
    if request is None:
        raise Problem(404, "No such deletion request.", code="NOT_FOUND")
    if done is None:
        if request.status == "completed":
            return request  # already done: no second effect
        raise Problem(409, f"The request is {request.status}.", code="STATE_CONFLICT")
    session.refresh(request)
    user = session.scalar(select(User).where(User.id == request.user_id).with_for_update())
    if user is None:
        return request
    original = user.email
    linked = [link.linked_email for link in user.linked_emails]
    emails = [original, *linked]
    if user.status not in statuses.FINAL_STATUSES:
        member_actions.archive(session, runtime, actor, user, now=now, reason="account deleted")
    signin.revoke_all(session, runtime, original, member_id=user.id, reason="deleted")
    session.execute(delete(UserLinkedEmail).where(UserLinkedEmail.primary_email == original))
    session.execute(delete(MemberNote).where(MemberNote.member_email.in_(emails)))
    session.execute(delete(MagicLink).where(MagicLink.email.in_(emails)))
    session.execute(
        update(BugReport)
        .where(BugReport.user_email.in_(emails))
        .values(user_email=f"deleted-{user.id}@deleted.invalid")
    )
    session.execute(
        update(GroupMember)
        .where(GroupMember.member_email.in_(emails))
        .values(member_email=f"deleted-{user.id}@deleted.invalid")
    )
    session.execute(
        update(DataExportRequest)
        .where(DataExportRequest.user_id == user.id)
        .values(user_email=f"deleted-{user.id}@deleted.invalid")
    )
    session.execute(
        delete(DataExportPart).where(
            DataExportPart.request_id.in_(
                select(DataExportRequest.id).where(DataExportRequest.user_id == user.id)
            )
        )
    )
    session.execute(
        update(AccountDeletionRequest)
        .where(AccountDeletionRequest.user_id == user.id)
        .values(email=f"deleted-{user.id}@deleted.invalid")
    )
    for address in emails:
        session.execute(
            insert(SyncExclusion)
            .values(email=address, reason="account_deleted")
            .on_conflict_do_nothing(index_elements=[SyncExclusion.email])
        )
    session.execute(
        update(User)
        .where(User.id == user.id)
        .values(
            email=f"deleted-{user.id}@deleted.invalid",
            first_name="Deleted",
            last_name="Member",
            name="Deleted Member",
            phone=None,
            hubspot_id=None,
            stripe_customer_id=None,
            stripe_subscription_id=None,
            email_opt_in=False,
            sms_opt_in=False,
            push_opt_in=False,
            marketing_opt_in=False,
        )
    )
    runtime.publish(
        session,
        "membership.member.deleted",
        {"member_id": user.id, "email": original, "linked_emails": linked},
    )
    audit.record(session, actor, "account.deleted", "member", user.id, details={"request_id": request.id})
    return request
