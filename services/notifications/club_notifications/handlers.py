"""Events the notifications service turns into messages (who hears what, §10 and §13).

Each handler runs in the consumer's transaction, next to the inbox record that makes a redelivery a
no-op; it only writes rows (the in-app notification, read models, delivery jobs). Push and e-mail
leave later, from the job runner, after this transaction has committed.

`HANDLERS` lists the handled types that the shared event catalog has. A handler written for a type
the producing service has not catalogued yet waits in `WAITING` and is bound as soon as the type is
in the catalog (the contract test checks HANDLERS against the catalog).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime

from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from club_shared.bus import publish
from club_shared.config import SERVICES
from club_shared.events import CATALOG, Event

from . import notify
from .domain import messages
from .domain.messages import Email, Message
from .models import (
    BUS,
    Announcement,
    Closure,
    CommunicationLog,
    DismissedNotice,
    FeeWaiver,
    Notification,
    PushSubscription,
    StaffRecipient,
    Upcoming,
)

Handler = Callable[[Session, Event], None]


def _first_name(data: dict) -> str:
    name = data.get("first_name") or data.get("member_name") or data.get("name") or ""
    return name.split()[0] if name else ""


# --- membership ------------------------------------------------------------------------------------


def on_member_created(session: Session, event: Event) -> None:
    data = event.data
    notify.notify_member(session, data["email"], messages.welcome(data["first_name"]))


def on_member_status_changed(session: Session, event: Event) -> None:
    data = event.data
    old, new = data["old_status"], data["new_status"]
    if old == new:
        return
    name = (
        data.get("name")
        or " ".join(p for p in (data.get("first_name"), data.get("last_name")) if p)
        or data["email"]
    )
    if new == "past_due":
        notify.notify_member(session, data["email"], messages.grace_period_reminder(_first_name(data), 3))
    else:
        notify.notify_member(session, data["email"], messages.membership_status_changed(name, old, new))
    notify.notify_staff(session, messages.staff_member_status_changed(name, data["email"], old, new))


def on_staff_updated(session: Session, event: Event) -> None:
    data = event.data
    email = data["email"].strip().lower()
    session.execute(
        insert(StaffRecipient)
        .values(email=email, role=data["role"], is_active=data["is_active"])
        .on_conflict_do_update(
            index_elements=[StaffRecipient.email], set_={"role": data["role"], "is_active": data["is_active"]}
        )
    )


def on_signin_code_issued(session: Session, event: Event) -> None:
    """E-mail the code. It is kept in `pending_secrets` only until sent or expired; never logged."""
    data = event.data
    expires_at = data["expires_at"]
    if isinstance(expires_at, str):
        expires_at = datetime.fromisoformat(expires_at)
    remaining = expires_at - datetime.now(UTC)
    if remaining.total_seconds() <= 0:
        return
    minutes = max(1, round(remaining.total_seconds() / 60))
    spec = Email("signin_code", {"first_name": data.get("first_name") or "", "expires_in_minutes": minutes})
    notify.queue_email(
        session,
        data["email"],
        spec,
        secret={"code": data["code"], "link": data["link_url"]},
        secret_ttl=remaining,
    )


def on_member_email_changed(session: Session, event: Event) -> None:
    """Everything kept under the old address moves to the new one."""
    old, new = event.data["old_email"].lower(), event.data["new_email"].lower()
    for column in (
        Notification.user_email,
        PushSubscription.user_email,
        CommunicationLog.member_email,
        Upcoming.user_email,
        FeeWaiver.member_email,
    ):
        session.execute(update(column.class_).where(column == old).values({column.key: new}))
    session.execute(
        update(DismissedNotice)
        .where(DismissedNotice.user_email == old)
        .where(
            ~select(DismissedNotice.id)
            .where(DismissedNotice.user_email == new)
            .correlate_except(DismissedNotice)
            .exists()
        )
        .values(user_email=new)
    )
    session.execute(delete(DismissedNotice).where(DismissedNotice.user_email == old))


def on_member_deleted(session: Session, event: Event) -> None:
    """Account deletion: erase what we hold about every address of the member (suppressions stay:
    they protect the address, and hold nothing but it)."""
    addresses = {event.data["email"].lower(), *(e.lower() for e in event.data["linked_emails"])}
    for model, column in (
        (Notification, Notification.user_email),
        (PushSubscription, PushSubscription.user_email),
        (CommunicationLog, CommunicationLog.member_email),
        (DismissedNotice, DismissedNotice.user_email),
        (Upcoming, Upcoming.user_email),
        (FeeWaiver, FeeWaiver.member_email),
    ):
        session.execute(delete(model).where(column.in_(addresses)))


def on_notification_requested(session: Session, event: Event) -> None:
    """`<service>.notification.requested`: an ad-hoc message from another service."""
    data = event.data
    channels = set(data["channels"]) or {"in_app"}
    message = Message(
        type=data["type"],
        title=data["title"],
        message=data["message"],
        link=data.get("link"),
        push="push" in channels or bool(data.get("urgent")),
        email=Email(
            "notice", {"title": data["title"], "message": data["message"], "link": data.get("link") or ""}
        )
        if "email" in channels
        else None,
        in_app="in_app" in channels or not ({"push", "email"} & channels),
    )
    if data["audience"] == "member":
        if data.get("email"):
            notify.notify_member(session, data["email"], message)
    elif data["audience"] == "admins":
        notify.notify_admins(session, message)
    else:
        notify.notify_staff(session, message)


# --- booking ---------------------------------------------------------------------------------------


def _people(data: dict) -> list[str]:
    """The owner and every member participant with a real address, once each."""
    seen: list[str] = []
    for email in [data["member_email"]] + [
        p["email"]
        for p in data["participants"]
        if p["type"] in ("owner", "member") and p.get("email") and not p["is_placeholder"]
    ]:
        email = email.lower()
        if email not in seen:
            seen.append(email)
    return seen


def _resource(data: dict) -> str:
    return data.get("resource_name") or (
        "the conference room" if data["resource_type"] == "conference_room" else "a bay"
    )


def _booking_args(data: dict) -> tuple[int, str, str, str]:
    return data["booking_id"], _resource(data), str(data["date"]), data["start_time"]


# The reminders' read model of bookings, statements built once (every approval runs them).
_upcoming = Upcoming.__table__
#: People no longer on the booking (all of them when it is over) are inactive.
_BOOKING_GONE = (
    update(_upcoming)
    .where(
        _upcoming.c.kind == "booking",
        _upcoming.c.item_id == bindparam("booking_id"),
        _upcoming.c.user_email.not_in(bindparam("people", expanding=True)),
    )
    .values(active=False)
)
_booking_row = insert(_upcoming).values(
    kind="booking",
    item_id=bindparam("booking_id"),
    user_email=bindparam("person"),
    # Parameter names apart from the columns': an update would take those as values to set.
    title=bindparam("new_title"),
    local_date=bindparam("new_date"),
    start_time=bindparam("new_start"),
    starts_at=bindparam("new_starts_at"),
    active=True,
)
_BOOKING_UPSERT = _booking_row.on_conflict_do_update(
    index_elements=[_upcoming.c.kind, _upcoming.c.item_id, _upcoming.c.user_email],
    set_={
        **{name: _booking_row.excluded[name] for name in ("title", "local_date", "start_time", "starts_at")},
        "active": True,
        "reminded_on": None,
    },
)
#: The first person's upsert also marks the others inactive: one statement for the usual booking.
_BOOKING_UPSERT_AND_GONE = _BOOKING_UPSERT.add_cte(
    _BOOKING_GONE.returning(_upcoming.c.user_email).cte("gone")
)


def _remember_booking(session: Session, data: dict, active: bool = True) -> None:
    """Keep the booking in the reminders' read model for each person on it (or mark it inactive)."""
    people = _people(data) if active else []
    if not people:
        session.execute(_BOOKING_GONE, {"booking_id": data["booking_id"], "people": []})
        return
    values = {
        "booking_id": data["booking_id"],
        "people": people,
        "new_title": _resource(data),
        "new_date": data["date"],
        "new_start": data["start_time"][:5],
        "new_starts_at": data["starts_at"],
    }
    for person in people:
        statement = _BOOKING_UPSERT_AND_GONE if person == people[0] else _BOOKING_UPSERT
        session.execute(statement, {**values, "person": person})


def on_booking_created(session: Session, event: Event) -> None:
    data = event.data
    if data["status"] not in ("pending", "pending_approval"):
        return  # a conference room is confirmed at once: booking.request.confirmed tells the member
    booking_id, resource, day, start = _booking_args(data)
    name = data.get("member_name") or data["member_email"]
    notify.notify_staff(session, messages.booking_request_for_staff(booking_id, name, resource, day, start))


def on_booking_confirmed(session: Session, event: Event) -> None:
    data = event.data
    notify.notify_member(session, data["member_email"], messages.booking_confirmed(*_booking_args(data)))
    _remember_booking(session, data)


def on_booking_approved(session: Session, event: Event) -> None:
    data = event.data
    notify.notify_member(
        session,
        data["member_email"],
        messages.booking_approved(*_booking_args(data), first_name=_first_name(data)),
    )
    _remember_booking(session, data)


def on_booking_declined(session: Session, event: Event) -> None:
    data = event.data
    notify.notify_member(
        session,
        data["member_email"],
        messages.booking_declined(
            *_booking_args(data), reason=data.get("reason"), first_name=_first_name(data)
        ),
    )
    _remember_booking(session, data, active=False)


def on_booking_cancelled(session: Session, event: Event) -> None:
    data = event.data
    by = data["actor_type"] if data["actor_type"] in ("staff", "trackman") else "member"
    for email in _people(data):
        first = _first_name(data) if email == data["member_email"].lower() else ""
        notify.notify_member(
            session, email, messages.booking_cancelled(*_booking_args(data), by=by, first_name=first)
        )
    _remember_booking(session, data, active=False)


def on_booking_rescheduled(session: Session, event: Event) -> None:
    data = event.data
    booking_id, resource, day, start = _booking_args(data)
    notify.notify_member(
        session,
        data["member_email"],
        Message(
            type="booking_updated",
            title="Booking changed",
            message=f"Your booking of {resource} is now on {messages.when(day, start)}.",
            related_type="booking",
            related_id=booking_id,
            push=True,
        ),
    )
    if data["status"] in ("approved", "confirmed"):
        _remember_booking(session, data)


def on_booking_checked_in(session: Session, event: Event) -> None:
    data = event.data
    notify.notify_member(
        session, data["member_email"], messages.booking_checked_in(data["booking_id"], _resource(data))
    )


def on_booking_expired(session: Session, event: Event) -> None:
    data = event.data
    booking_id, resource, day, start = _booking_args(data)
    notify.notify_member(
        session,
        data["member_email"],
        Message(
            type="booking",
            title="Request expired",
            message=f"Your request for {resource} on {messages.when(day, start)} expired before it was approved.",
            related_type="booking",
            related_id=booking_id,
        ),
    )
    _remember_booking(session, data, active=False)


def on_booking_finished(session: Session, event: Event) -> None:
    """Attended or no-show: nothing to say, but nothing left to remind either."""
    _remember_booking(session, event.data, active=False)


def on_guest_pass_consumed(session: Session, event: Event) -> None:
    data = event.data
    names = ", ".join(g.get("name") or g.get("email") or "a guest" for g in data["guests"]) or "a guest"
    notify.notify_member(
        session,
        data["member_email"],
        messages.guest_pass_used(data["booking_id"] or 0, names, data["available_passes"])
        if data["booking_id"]
        else Message(
            type="guest_pass", title="Guest pass used", message=f"A guest pass was used for {names}."
        ),
    )


def on_visit_recorded(session: Session, event: Event) -> None:
    """Only a trialing member's first walk-in is greeted (§4.8); other visits are just counted by
    membership."""
    data = event.data
    if data["first_visit"] and data["member_status"] == "trialing":
        notify.notify_member(
            session, data["member_email"], messages.first_visit(data["visit_id"], _first_name(data))
        )


def on_closure_created(session: Session, event: Event) -> None:
    data = event.data
    values = {
        "title": data["title"],
        "member_notice": data.get("member_notice"),
        "start_date": data["start_date"],
        "end_date": data["end_date"],
        "affected_areas": data["affected_areas"],
        "notify_members": data["notify_members"],
        "is_active": True,
    }
    session.execute(
        insert(Closure)
        .values(closure_id=data["closure_id"], **values)
        .on_conflict_do_update(index_elements=[Closure.closure_id], set_=values)
    )
    start, end = str(data["start_date"]), str(data["end_date"])
    notify.notify_staff(
        session, messages.closure_created_for_staff(data["closure_id"], data["title"], start, end)
    )
    if data["notify_members"]:
        # Members see it among their notices (GET /api/v1/notices); their browsers are pushed now.
        from .jobs import queue_broadcast

        message = messages.closure_for_members(
            data["closure_id"], data["title"], data.get("member_notice"), start, end
        )
        queue_broadcast(session, message)


def on_closure_deleted(session: Session, event: Event) -> None:
    closure_id = event.data["closure_id"]
    session.execute(update(Closure).where(Closure.closure_id == closure_id).values(is_active=False))
    session.execute(delete(Announcement).where(Announcement.closure_id == closure_id))


def on_trackman_match_succeeded(session: Session, event: Event) -> None:
    data = event.data
    if not data.get("newly_linked") or not data.get("member_email"):
        return  # only newly linked bookings notify the member (§7)
    notify.notify_member(
        session,
        data["member_email"],
        Message(
            type="trackman_booking",
            title="TrackMan booking linked",
            message="Your TrackMan booking is linked to your club booking.",
            related_type="booking",
            related_id=data["booking_id"],
        ),
    )


def on_trackman_match_failed(session: Session, event: Event) -> None:
    data = event.data
    when = f" on {messages.when(str(data['date']), data.get('start_time'))}" if data.get("date") else ""
    notify.notify_staff(
        session,
        Message(
            type="trackman_unmatched",
            title="Unmatched TrackMan booking",
            message=f"TrackMan booking {data['trackman_booking_id']}{when} matched no request ({data['reason']}).",
            related_type="booking" if data.get("booking_id") else None,
            related_id=data.get("booking_id"),
            link="/staff/trackman/unmatched",
        ),
    )


def on_data_export_requested(session: Session, event: Event) -> None:
    """Our share of a member's data export (§2.3): what we hold under any of their addresses.
    Push keys are left out: they are the browser's secrets, not the member's data."""
    data = event.data
    addresses = sorted({data["email"].lower(), *(e.lower() for e in data["emails"])})
    part = {}
    for name, model, column, skip in (
        ("notifications", Notification, Notification.user_email, ()),
        ("push_subscriptions", PushSubscription, PushSubscription.user_email, ("keys",)),
        ("user_dismissed_notices", DismissedNotice, DismissedNotice.user_email, ()),
        ("communication_logs", CommunicationLog, CommunicationLog.member_email, ()),
        ("fee_waivers", FeeWaiver, FeeWaiver.member_email, ()),
    ):
        rows = session.scalars(select(model).where(column.in_(addresses)).order_by(model.id)).all()
        part[name] = [_exported(row, skip) for row in rows]
    publish(
        session,
        BUS,
        "notifications.data_export.part_written",
        {"request_id": data["request_id"], "email": data["email"], "service": "notifications", "part": part},
        producer="notifications",
    )


def _exported(row, skip: tuple[str, ...]) -> dict:
    values = {}
    for attribute in row.__mapper__.column_attrs:
        if attribute.key in skip:
            continue
        value = getattr(row, attribute.key)
        values[attribute.key] = value.isoformat() if isinstance(value, date | datetime) else value
    return values


# --- billing -------------------------------------------------------------------------------------


def on_fee_waived(session: Session, event: Event) -> None:
    """Into the admins' review queue (the 4-hourly job reminds them of what waits > 12 h). The same
    line waived again is a new decision: it waits for review again."""
    data = event.data
    values = {
        "member_email": data["member_email"].lower(),
        "member_name": data["member_name"],
        "participant_name": data["participant_name"],
        "club_date": data["club_date"],
        "amount_cents": data["amount_cents"],
        "reason": data["reason"],
        "waived_by": data["waived_by"],
        "waived_at": data["waived_at"],
        "reviewed_at": None,
        "reviewed_by": None,
    }
    session.execute(
        insert(FeeWaiver)
        .values(booking_id=data["booking_request_id"], line_key=data["line_key"], **values)
        .on_conflict_do_update(index_elements=[FeeWaiver.booking_id, FeeWaiver.line_key], set_=values)
    )


# --- integrations ----------------------------------------------------------------------------------


def on_tour_booked(session: Session, event: Event) -> None:
    """The visitor is not a member: their confirmation goes to the address they booked with."""
    data = event.data
    notify.queue_email(
        session,
        data["visitor_email"],
        messages.tour_booked_for_visitor(data["visitor_name"], str(data["date"]), data["start_time"]),
    )


def on_engagement_received(session: Session, event: Event) -> None:
    data = event.data
    session.execute(
        insert(CommunicationLog)
        .values(
            member_email=data["member_email"].lower(),
            type=data["type"],
            direction=data["direction"],
            subject=(data.get("subject") or None) and data["subject"][:300],
            body=data.get("body"),
            status=data.get("status") or "logged",
            hubspot_engagement_id=data["engagement_id"],
            occurred_at=data["occurred_at"],
            created_by="hubspot",
        )
        .on_conflict_do_nothing(index_elements=[CommunicationLog.hubspot_engagement_id])
    )


# --- club events and wellness (booking, domain.md §9) -------------------------------------------


def _remember_item(session: Session, kind: str, item_id: int, data: dict, title: str, active: bool) -> None:
    """Keep an RSVP'd event or an enrolled class in the reminders' read model (or mark it inactive)."""
    email = data["member_email"].strip().lower()
    if not active:
        session.execute(
            update(Upcoming)
            .where(Upcoming.kind == kind, Upcoming.item_id == item_id, Upcoming.user_email == email)
            .values(active=False)
        )
        return
    values = {
        "title": title[:200],
        "local_date": data["date"],
        "start_time": data["start_time"][:5],
        "starts_at": data["starts_at"],
        "active": True,
    }
    session.execute(
        insert(Upcoming)
        .values(kind=kind, item_id=item_id, user_email=email, **values)
        .on_conflict_do_update(
            index_elements=[Upcoming.kind, Upcoming.item_id, Upcoming.user_email],
            set_={**values, "reminded_on": None},
        )
    )


def on_rsvp_changed(session: Session, event: Event) -> None:
    data = event.data
    notify.notify_member(
        session,
        data["member_email"],
        messages.rsvp_changed(data["event_id"], data["event_title"], data["status"]),
    )
    _remember_item(
        session, "event", data["event_id"], data, data["event_title"], data["status"] == "confirmed"
    )


def on_enrollment_changed(session: Session, event: Event) -> None:
    data = event.data
    by_club = data["status"] == "cancelled" and (data["changed_by"] or "").lower() not in (
        "",
        data["member_email"].lower(),
    )
    notify.notify_member(
        session,
        data["member_email"],
        messages.enrolment_cancelled_by_club(
            data["class_id"], data["class_title"], str(data["date"]), data["start_time"]
        )
        if by_club
        else messages.enrolment_changed(data["class_id"], data["class_title"], data["status"]),
    )
    _remember_item(
        session, "wellness", data["class_id"], data, data["class_title"], data["status"] == "confirmed"
    )


def on_enrollment_promoted(session: Session, event: Event) -> None:
    data = event.data
    notify.notify_member(
        session,
        data["member_email"],
        messages.waitlist_promoted(data["class_id"], data["class_title"], data["date"], data["start_time"]),
    )
    _remember_item(session, "wellness", data["class_id"], data, data["class_title"], True)


def _still_ahead(data: dict) -> bool:
    """An event archived after it ended was not cancelled for anyone: nobody is told."""
    ends_at = data["ends_at"]
    if isinstance(ends_at, str):
        ends_at = datetime.fromisoformat(ends_at)
    return ends_at > datetime.now(UTC)


def on_club_event_updated(session: Session, event: Event) -> None:
    """Attendees hear of a new date or start time. The reminders' read model holds where each of
    them last knew the event to be, so an edit of anything else, or a redelivery, says nothing."""
    data = event.data
    if not _still_ahead(data):
        return
    day, start = date.fromisoformat(str(data["date"])), data["start_time"][:5]
    for email in {e.strip().lower() for e in data["attendee_emails"]}:
        known = session.scalar(
            select(Upcoming).where(
                Upcoming.kind == "event", Upcoming.item_id == data["event_id"], Upcoming.user_email == email
            )
        )
        moved = known is not None and (known.local_date, known.start_time) != (day, start)
        if moved:
            notify.notify_member(
                session,
                email,
                messages.event_moved(data["event_id"], data["title"], str(day), start, data["location"]),
            )
        if known is None or moved:
            _remember_item(
                session, "event", data["event_id"], {**data, "member_email": email}, data["title"], True
            )
        else:
            known.title = data["title"][:200]


def on_club_event_cancelled(session: Session, event: Event) -> None:
    data = event.data
    ahead = _still_ahead(data)
    for email in {e.strip().lower() for e in data["attendee_emails"]}:
        if ahead:
            notify.notify_member(
                session,
                email,
                messages.event_cancelled(
                    data["event_id"], data["title"], str(data["date"]), data["start_time"]
                ),
            )
        _remember_item(session, "event", data["event_id"], {"member_email": email}, data["title"], False)


def on_wellness_class_updated(session: Session, event: Event) -> None:
    """A class moved: its enrolled and waitlisted members are told (the reminder follows the seat)."""
    data = event.data
    if not {"date", "start_time"} & set(data["changed_fields"]) or not _still_ahead(data):
        return
    for email in {e.strip().lower() for e in data["enrolled_emails"] + data["waitlisted_emails"]}:
        notify.notify_member(
            session,
            email,
            messages.wellness_class_moved(
                data["class_id"], data["title"], str(data["date"]), data["start_time"]
            ),
        )
    for email in {e.strip().lower() for e in data["enrolled_emails"]}:
        _remember_item(
            session, "wellness", data["class_id"], {**data, "member_email": email}, data["title"], True
        )


#: Every handler, by event type; HANDLERS keeps those whose type is in the catalog.
ALL_HANDLERS: dict[str, Handler] = {
    "membership.member.created": on_member_created,
    "membership.member.status_changed": on_member_status_changed,
    "membership.member.email_changed": on_member_email_changed,
    "membership.member.deleted": on_member_deleted,
    "membership.staff.updated": on_staff_updated,
    "membership.signin.code_issued": on_signin_code_issued,
    "booking.request.created": on_booking_created,
    "booking.request.confirmed": on_booking_confirmed,
    "booking.request.approved": on_booking_approved,
    "booking.request.declined": on_booking_declined,
    "booking.request.cancelled": on_booking_cancelled,
    "booking.request.rescheduled": on_booking_rescheduled,
    "booking.request.checked_in": on_booking_checked_in,
    "booking.request.expired": on_booking_expired,
    "booking.request.attended": on_booking_finished,
    "booking.request.no_show_marked": on_booking_finished,
    "booking.guest_pass.consumed": on_guest_pass_consumed,
    "booking.visit.recorded": on_visit_recorded,
    "booking.closure.created": on_closure_created,
    "booking.closure.deleted": on_closure_deleted,
    "booking.trackman_match.succeeded": on_trackman_match_succeeded,
    "booking.trackman_match.failed": on_trackman_match_failed,
    "booking.rsvp.confirmed": on_rsvp_changed,
    "booking.rsvp.cancelled": on_rsvp_changed,
    "booking.enrollment.confirmed": on_enrollment_changed,
    "booking.enrollment.waitlisted": on_enrollment_changed,
    "booking.enrollment.cancelled": on_enrollment_changed,
    "booking.enrollment.promoted": on_enrollment_promoted,
    "booking.event.updated": on_club_event_updated,
    "booking.event.cancelled": on_club_event_cancelled,
    "booking.wellness_class.updated": on_wellness_class_updated,
    "membership.data_export.requested": on_data_export_requested,
    "billing.fee.waived": on_fee_waived,
    "integrations.hubspot.engagement_received": on_engagement_received,
    "integrations.tour.booked": on_tour_booked,
    **{
        f"{service}.notification.requested": on_notification_requested
        for service in SERVICES
        if service != "notifications"
    },
}

_CATALOGUED = {event_type for event_type, _version in CATALOG}
HANDLERS: dict[str, Handler] = {t: h for t, h in ALL_HANDLERS.items() if t in _CATALOGUED}
#: Written, waiting for the producer to add the type to the catalog.
WAITING = sorted(set(ALL_HANDLERS) - set(HANDLERS))
