"""What the club says, by occasion, and on which channels (§10).

Every occasion gives a `Message`: the in-app row (always), whether it is also pushed, and which
e-mail template (if any) goes with it. The texts are plain: e-mail templates escape every value,
and the app renders these as text, never as HTML.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, time
from typing import Any


@dataclass(frozen=True)
class Email:
    template: str
    context: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Message:
    type: str
    title: str
    message: str
    related_type: str | None = None
    related_id: int | None = None
    link: str | None = None
    push: bool = False
    email: Email | None = None
    in_app: bool = True


def when(day: date | str, start: time | str | None = None) -> str:
    """ "Fri 12 Jun at 18:00" (club time, as booked)."""
    if isinstance(day, str):
        day = date.fromisoformat(day)
    text = f"{day:%a} {day.day} {day:%b}"
    if start is not None:
        start_text = start if isinstance(start, str) else start.strftime("%H:%M")
        text += f" at {start_text[:5]}"
    return text


def money(cents: int, currency: str = "usd") -> str:
    symbol = "$" if currency.lower() == "usd" else f"{currency.upper()} "
    return f"{symbol}{cents // 100:,}.{cents % 100:02d}"


# --- membership ---------------------------------------------------------------------------------


def welcome(first_name: str) -> Message:
    return Message(
        type="new_member",
        title="Welcome to the club",
        message=f"Welcome, {first_name}! Your membership account is ready.",
        email=Email("welcome", {"first_name": first_name}),
    )


def first_visit(visit_id: int, first_name: str) -> Message:
    """A trialing member's first walk-in (§4.8): thanked in the app and by e-mail."""
    return Message(
        type="membership_first_visit",
        title="Thanks for your first visit",
        message=f"Thanks for visiting{', ' + first_name if first_name else ''}! We hope you enjoyed it.",
        related_type="visit",
        related_id=visit_id,
        email=Email("first_visit", {"first_name": first_name}),
    )


def signin_code(*, expires_in_minutes: int = 15) -> Email:
    """Only an e-mail: the code itself is added at sending time and stored nowhere else."""
    return Email("signin_code", {"expires_in_minutes": expires_in_minutes})


MEMBERSHIP_STATUS_TEXT = {
    "active": "Your membership is active.",
    "past_due": "Your last membership payment failed. Please update your card to keep your access.",
    "frozen": "Your membership is frozen.",
    "suspended": "Your membership is suspended. Please contact the front desk.",
    "terminated": "Your membership has ended.",
    "cancelled": "Your membership has been cancelled.",
    "pending": "Your membership is pending activation.",
}


def membership_status_changed(member_name: str, old: str | None, new: str) -> Message:
    return Message(
        type="membership_status",
        title="Membership status changed",
        message=MEMBERSHIP_STATUS_TEXT.get(new, f"Your membership status is now {new}."),
        push=new in {"past_due", "suspended", "terminated"},
    )


def staff_member_status_changed(member_name: str, email: str, old: str | None, new: str) -> Message:
    return Message(
        type="member_status_change",
        title=f"{member_name}: {old or 'new'} → {new}",
        message=f"{member_name} ({email}) is now {new}.",
        push=new in {"terminated", "suspended"},
    )


def grace_period_reminder(first_name: str, days_left: int) -> Message:
    return Message(
        type="billing_alert",
        title="Your membership payment failed",
        message=f"Please update your card within {days_left} day(s) to keep your membership.",
        push=True,
        email=Email("grace_reminder", {"first_name": first_name, "days_left": days_left}),
    )


# --- bookings -----------------------------------------------------------------------------------


def booking_request_for_staff(
    booking_id: int, member_name: str, resource: str, day: str, start: str
) -> Message:
    return Message(
        type="booking_request",
        title="New booking request",
        message=f"{member_name} asks for {resource} on {when(day, start)}.",
        related_type="booking",
        related_id=booking_id,
        link=f"/staff/bookings/{booking_id}",
        push=True,
    )


def booking_approved(booking_id: int, resource: str, day: str, start: str, first_name: str = "") -> Message:
    return Message(
        type="booking_approved",
        title="Booking approved",
        message=f"Your booking of {resource} on {when(day, start)} is approved.",
        related_type="booking",
        related_id=booking_id,
        push=True,
        email=Email(
            "booking_approved",
            {
                "first_name": first_name,
                "resource": resource,
                "when": when(day, start),
                "booking_id": booking_id,
            },
        ),
    )


def booking_confirmed(booking_id: int, resource: str, day: str, start: str) -> Message:
    return Message(
        type="booking_confirmed",
        title="Booking confirmed",
        message=f"{resource} is yours on {when(day, start)}.",
        related_type="booking",
        related_id=booking_id,
        push=True,
    )


def booking_declined(
    booking_id: int, resource: str, day: str, start: str, reason: str | None = None, first_name: str = ""
) -> Message:
    text = f"Your request for {resource} on {when(day, start)} was declined."
    if reason:
        text += f" Reason: {reason}"
    return Message(
        type="booking_declined",
        title="Booking declined",
        message=text,
        related_type="booking",
        related_id=booking_id,
        push=True,
        email=Email(
            "booking_declined",
            {
                "first_name": first_name,
                "resource": resource,
                "when": when(day, start),
                "reason": reason or "",
            },
        ),
    )


def booking_cancelled(
    booking_id: int, resource: str, day: str, start: str, by: str = "member", first_name: str = ""
) -> Message:
    """`by`: member (the member did it: in-app only), staff, or trackman."""
    kind = {"staff": "booking_cancelled_by_staff", "trackman": "booking_cancelled_via_trackman"}.get(
        by, "booking_cancelled"
    )
    text = f"Your booking of {resource} on {when(day, start)} is cancelled."
    if by == "staff":
        text = f"The club cancelled your booking of {resource} on {when(day, start)}."
    return Message(
        type=kind,
        title="Booking cancelled",
        message=text,
        related_type="booking",
        related_id=booking_id,
        push=by != "member",
        email=Email(
            "booking_cancelled",
            {"first_name": first_name, "resource": resource, "when": when(day, start), "by": by},
        ),
    )


def booking_checked_in(booking_id: int, resource: str) -> Message:
    return Message(
        type="booking_checked_in",
        title="Checked in",
        message=f"You're checked in for {resource}. Enjoy!",
        related_type="booking",
        related_id=booking_id,
    )


def booking_reminder(booking_id: int, title: str, day: str, start: str, first_name: str = "") -> Message:
    return Message(
        type="booking_reminder",
        title="Tomorrow at the club",
        message=f"Reminder: {title} tomorrow, {when(day, start)}.",
        related_type="booking",
        related_id=booking_id,
        push=True,
        email=Email("booking_reminder", {"first_name": first_name, "title": title, "when": when(day, start)}),
    )


def event_reminder(event_id: int, title: str, day: str, start: str) -> Message:
    return Message(
        type="event_reminder",
        title="Tomorrow at the club",
        message=f"Reminder: {title} tomorrow, {when(day, start)}.",
        related_type="event",
        related_id=event_id,
        push=True,
    )


def wellness_reminder(class_id: int, title: str, day: str, start: str) -> Message:
    return Message(
        type="wellness_reminder",
        title="Tomorrow at the club",
        message=f"Reminder: {title} tomorrow, {when(day, start)}.",
        related_type="wellness_class",
        related_id=class_id,
        push=True,
    )


def guest_pass_used(booking_id: int, guest_name: str, remaining: int | None) -> Message:
    text = f"A guest pass was used for {guest_name}."
    if remaining is not None:
        text += f" {remaining} left this period."
    return Message(
        type="guest_pass",
        title="Guest pass used",
        message=text,
        related_type="booking",
        related_id=booking_id,
    )


def outstanding_balance(booking_id: int, amount_cents: int) -> Message:
    return Message(
        type="outstanding_balance",
        title="Fees outstanding",
        message=f"You have {money(amount_cents)} outstanding for a booking.",
        related_type="booking",
        related_id=booking_id,
        push=True,
    )


# --- billing ------------------------------------------------------------------------------------


def payment_succeeded(payment_id: int, amount_cents: int, description: str, first_name: str = "") -> Message:
    return Message(
        type="payment_succeeded",
        title="Payment received",
        message=f"We received {money(amount_cents)} for {description}. Thank you!",
        related_type="payment",
        related_id=payment_id,
        email=Email(
            "payment_receipt",
            {"first_name": first_name, "amount": money(amount_cents), "description": description},
        ),
    )


def payment_failed(
    payment_id: int, amount_cents: int, description: str, reason: str = "", first_name: str = ""
) -> Message:
    return Message(
        type="payment_failed",
        title="Payment failed",
        message=f"Your payment of {money(amount_cents)} for {description} failed. Please update your card.",
        related_type="payment",
        related_id=payment_id,
        push=True,
        email=Email(
            "payment_failed",
            {
                "first_name": first_name,
                "amount": money(amount_cents),
                "description": description,
                "reason": reason,
            },
        ),
    )


def payment_failed_for_staff(
    payment_id: int, member_email: str, amount_cents: int, reason: str = ""
) -> Message:
    return Message(
        type="billing_alert",
        title="Payment failed",
        message=f"{member_email}: {money(amount_cents)} failed{f' ({reason})' if reason else ''}.",
        related_type="payment",
        related_id=payment_id,
    )


def day_pass_purchased(purchase_id: int, product: str, pass_code: str, valid_until: str | None) -> Email:
    return Email(
        "day_pass",
        {
            "product": product,
            "pass_code": pass_code,
            "valid_until": valid_until or "",
            "purchase_id": purchase_id,
        },
    )


def waivers_to_review(count: int, total_cents: int) -> Message:
    return Message(
        type="waiver_review",
        title="Fee waivers to review",
        message=f"{count} fee waiver(s) totalling {money(total_cents)} have waited more than 12 hours for review.",
        link="/staff/fee-waivers",
        push=True,
    )


# --- closures, events, wellness, tours ----------------------------------------------------------


def closure_created_for_staff(closure_id: int, title: str, start: str, end: str) -> Message:
    return Message(
        type="closure_created",
        title="Closure scheduled",
        message=f"{title}: {when(start)}{'' if start == end else ' – ' + when(end)}.",
        related_type="closure",
        related_id=closure_id,
    )


def closure_for_members(closure_id: int, title: str, notice: str | None, start: str, end: str) -> Message:
    return Message(
        type="closure",
        title=title,
        message=notice or f"Closed {when(start)}{'' if start == end else ' – ' + when(end)}.",
        related_type="closure",
        related_id=closure_id,
        push=True,
    )


def closures_today(titles: list[str]) -> Message:
    return Message(
        type="closure_today",
        title="Closures today",
        message="; ".join(titles),
        push=True,
    )


def rsvp_changed(event_id: int, title: str, status: str) -> Message:
    kind = {"cancelled": "event_rsvp_cancelled"}.get(status, "event_rsvp")
    text = {
        "confirmed": f"You're on the list for {title}.",
        "waitlisted": f"You're on the waitlist for {title}.",
        "cancelled": f"Your RSVP for {title} is cancelled.",
    }.get(status, f"Your RSVP for {title} is {status}.")
    return Message(type=kind, title=title, message=text, related_type="event", related_id=event_id)


def enrolment_changed(class_id: int, title: str, status: str) -> Message:
    text = {
        "confirmed": f"You're enrolled in {title}.",
        "waitlisted": f"The class is full: you're on the waitlist for {title}.",
        "cancelled": f"Your place in {title} is cancelled.",
    }.get(status, f"Your enrolment in {title} is {status}.")
    return Message(
        type=f"wellness_{status}",
        title=title,
        message=text,
        related_type="wellness_class",
        related_id=class_id,
    )


def enrolment_cancelled_by_club(class_id: int, title: str, day: str, start: str) -> Message:
    """Staff cancelled the member's place (or the whole class): unlike the member's own cancelling,
    this is news to them, so it is pushed and e-mailed."""
    return Message(
        type="wellness_cancelled",
        title=f"Cancelled: {title}",
        message=f"The club cancelled your place in {title} on {when(day, start)}.",
        related_type="wellness_class",
        related_id=class_id,
        push=True,
        email=Email("wellness_cancelled", {"title": title, "when": when(day, start)}),
    )


def waitlist_promoted(class_id: int, title: str, day: str, start: str) -> Message:
    return Message(
        type="wellness_promoted",
        title="You're in!",
        message=f"A place opened up: you're now enrolled in {title} on {when(day, start)}.",
        related_type="wellness_class",
        related_id=class_id,
        push=True,
    )


def event_moved(event_id: int, title: str, day: str, start: str, location: str | None) -> Message:
    where = f" ({location})" if location else ""
    return Message(
        type="event",
        title=f"Moved: {title}",
        message=f"{title} is now on {when(day, start)}{where}. Your RSVP still stands.",
        related_type="event",
        related_id=event_id,
        link=f"/events/{event_id}",
        push=True,
    )


def event_cancelled(event_id: int, title: str, day: str, start: str, first_name: str = "") -> Message:
    return Message(
        type="event",
        title=f"Cancelled: {title}",
        message=f"{title} on {when(day, start)} is cancelled. We're sorry to miss you there.",
        related_type="event",
        related_id=event_id,
        push=True,
        email=Email("event_cancelled", {"first_name": first_name, "title": title, "when": when(day, start)}),
    )


def wellness_class_moved(class_id: int, title: str, day: str, start: str) -> Message:
    return Message(
        type="wellness_updated",
        title=f"Moved: {title}",
        message=f"{title} is now on {when(day, start)}. Your place still stands.",
        related_type="wellness_class",
        related_id=class_id,
        push=True,
    )


def tour_booked_for_visitor(visitor_name: str, day: str, start: str) -> Email:
    return Email("tour_confirmation", {"visitor_name": visitor_name, "when": when(day, start)})


def tour_booked_for_staff(tour_id: int, visitor_name: str, day: str, start: str) -> Message:
    return Message(
        type="tour_scheduled",
        title="Tour booked",
        message=f"{visitor_name} booked a tour on {when(day, start)}.",
        related_type="tour",
        related_id=tour_id,
    )


def integration_error(source: str, detail: str) -> Message:
    return Message(
        type="integration_error", title=f"{source} needs attention", message=detail[:1000], push=True
    )


def announcement(announcement_id: int, title: str, message: str) -> Message:
    return Message(
        type="announcement",
        title=title,
        message=message,
        related_type="announcement",
        related_id=announcement_id,
        push=True,
    )
