"""The worker's background work: delivering push and e-mail after the causing transaction, and the
scheduled jobs (reminders 18:00, closures 08:00, clean-up 00:00, secrets every 5 minutes).

Deliveries handle their own retries (the job re-queues itself with back-off, or at the time a 429
asked for) so that a message given up is recorded as failed rather than left as a dead job.
"""

from __future__ import annotations

import logging
from datetime import date, time, timedelta
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from club_shared.clubtime import today, utcnow
from club_shared.jobs import Daily, Every, FailedJob, JobRunner, Scheduled, enqueue, failed_text
from club_shared.runtime import Runtime

from . import notify
from .channels import Attachment, DeliveryError, EmailChannel, PushChannel, announce
from .domain import emails, messages, push, rules
from .models import (
    JOBS,
    Closure,
    CommunicationLog,
    FeeWaiver,
    Notification,
    PendingSecret,
    PushSubscription,
    Upcoming,
)

log = logging.getLogger(__name__)

SCHEDULE = (
    Scheduled("cleanup", Daily(time(0, 0))),
    Scheduled("reminders", Daily(time(18, 0))),
    Scheduled("closure_digest", Daily(time(8, 0))),
    Scheduled("purge_secrets", Every(timedelta(minutes=5))),
    Scheduled("waiver_review", Every(timedelta(hours=4))),
)

#: A fee waiver no admin has reviewed for this long is brought to the admins (§10).
WAIVER_REVIEW_AFTER = timedelta(hours=12)

PUSH_TTL_S = 24 * 3600


class Deliveries:
    """The job functions, bound to the channels and settings of one runtime."""

    def __init__(
        self, runtime: Runtime, email: EmailChannel | None = None, push_channel: PushChannel | None = None
    ):
        self.runtime = runtime
        self.settings = runtime.settings
        self.email = email or EmailChannel(runtime.settings)
        self.push = push_channel or PushChannel(runtime.settings)

    def jobs(self) -> dict[str, Any]:
        return {
            "push": self.push_notification,
            "push_one": self.push_one,
            "email": self.send_email,
            "cleanup": self.cleanup,
            "reminders": self.reminders,
            "closure_digest": self.closure_digest,
            "purge_secrets": self.purge_secrets,
            "broadcast": self.broadcast,
            "waiver_review": self.waiver_review,
        }

    # --- push -----------------------------------------------------------------------------------

    def push_notification(self, session: Session, payload: dict[str, Any]) -> None:
        if not self.push.enabled:
            return  # push is off: the in-app row is all there is
        # The notification with each of its member's browsers, in one query (none: deleted since).
        for notification, subscription in session.execute(
            select(Notification, PushSubscription)
            .join(PushSubscription, PushSubscription.user_email == Notification.user_email)
            .where(Notification.id == payload["notification_id"])
            .order_by(PushSubscription.id)
        ):
            self._push_to(session, notification, subscription, attempt=0)

    def push_one(self, session: Session, payload: dict[str, Any]) -> None:
        notification = session.get(Notification, payload["notification_id"])
        subscription = session.get(PushSubscription, payload["subscription_id"])
        if notification is None or subscription is None or not self.push.enabled:
            return
        if subscription.user_email == notification.user_email:
            self._push_to(session, notification, subscription, attempt=payload["attempt"])

    def _push_to(
        self, session: Session, notification: Notification, subscription: PushSubscription, attempt: int
    ) -> None:
        if not self.push.endpoint_allowed(subscription.endpoint):
            session.delete(subscription)
            return
        message = push.for_notification(
            notification_id=notification.id,
            type=notification.type,
            title=notification.title,
            message=notification.message,
            related_type=notification.related_type,
            related_id=notification.related_id,
            link=notification.link,
        )
        try:
            result = self.push.send(
                subscription.endpoint,
                subscription.keys,
                push.encode(message),
                ttl=PUSH_TTL_S,
                urgency=message.urgency,
                topic=message.tag,
            )
        except DeliveryError as exc:
            log.warning("push refused", extra={"subscription_id": subscription.id, "error": str(exc)})
            return
        if result.status == "sent":
            used = subscription.last_used_at
            if used is None or used < utcnow() - rules.PUSH_USE_RECORDED_EVERY:  # a write per push is waste
                subscription.last_used_at = func.now()
        elif result.status == "gone":
            session.delete(subscription)
        elif attempt + 1 < rules.MAX_DELIVERY_ATTEMPTS:
            now = utcnow()
            delay = (
                rules.parse_retry_after(result.retry_after, now)
                if result.retry_after or result.detail == "429"
                else rules.retry_delay(attempt + 1)
            )
            enqueue(
                session,
                JOBS,
                "push_one",
                {
                    "notification_id": notification.id,
                    "subscription_id": subscription.id,
                    "attempt": attempt + 1,
                },
                run_at=now + delay,
                priority=rules.PUSH_PRIORITY,
            )
        else:
            log.warning("push given up", extra={"subscription_id": subscription.id, "attempts": attempt + 1})

    def broadcast(self, session: Session, payload: dict[str, Any]) -> None:
        """One push to every subscribed browser (a closure members should know of, an announcement)."""
        if not self.push.enabled:
            return
        message = push.PushMessage(
            title=payload["title"],
            body=payload["message"],
            tag=push.tag_for(payload.get("related_type"), payload.get("related_id")),
            url=push.deep_link(payload.get("link"), payload.get("related_type"), payload.get("related_id")),
            type=payload["type"],
        )
        raw = push.encode(message)
        after = payload.get("after_id", 0)
        batch = session.scalars(
            select(PushSubscription)
            .where(PushSubscription.id > after)
            .order_by(PushSubscription.id)
            .limit(200)
        ).all()
        for subscription in batch:
            if not self.push.endpoint_allowed(subscription.endpoint):
                continue
            try:
                result = self.push.send(
                    subscription.endpoint,
                    subscription.keys,
                    raw,
                    ttl=PUSH_TTL_S,
                    urgency="normal",
                    topic=message.tag,
                )
            except DeliveryError:
                continue
            if result.status == "sent":
                subscription.last_used_at = func.now()
            elif result.status == "gone":
                session.delete(subscription)
        if len(batch) == 200:  # the next 200 in a job of their own
            enqueue(session, JOBS, "broadcast", {**payload, "after_id": batch[-1].id})

    # --- e-mail ---------------------------------------------------------------------------------

    def send_email(self, session: Session, payload: dict[str, Any]) -> None:
        entry = session.get(CommunicationLog, payload["log_id"])
        if entry is None or entry.status not in ("queued", "retrying"):
            return
        attempt = payload.get("attempt", 0)
        secret: dict[str, Any] = {}
        secret_row = None
        if "secret_id" in payload:
            secret_row = session.get(PendingSecret, payload["secret_id"])
            if secret_row is None or secret_row.expires_at <= utcnow():
                entry.status, entry.subject = (
                    "expired",
                    emails.SECRET_SUBJECTS.get(entry.template or "", entry.subject),
                )
                entry.body = emails.SECRET_TEMPLATES.get(entry.template or "", entry.body)
                if secret_row is not None:
                    session.delete(secret_row)
                return
            secret = dict(secret_row.value)
        rendered = emails.render(
            payload["template"], {**payload["context"], **secret}, app_url=self.settings.app_base_url
        )
        suppressed = notify.is_suppressed(session, entry.member_email)  # before the entry changes: one update
        entry.subject, entry.body = emails.loggable(payload["template"], rendered)
        if suppressed:
            entry.status = "suppressed"
            self._forget(session, secret_row)
            return
        if not self.email.enabled:
            entry.status, entry.error = "skipped", f"e-mail is off: {self.email.off_reason}"
            self._forget(session, secret_row)
            return
        try:
            entry.provider_message_id = self.email.send(
                to=entry.member_email,
                subject=rendered.subject,
                html=rendered.html,
                text=rendered.text,
                idempotency_key=f"communication-{entry.id}",
                tags={"template": payload["template"]},
                attachments=_attachments(payload["template"], payload["context"]),
            )
        except DeliveryError as exc:
            entry.error = str(exc)[:2000]
            if exc.permanent or attempt + 1 >= rules.MAX_DELIVERY_ATTEMPTS:
                entry.status = "failed"
                self._forget(session, secret_row)
                return
            entry.status = "retrying"
            now = utcnow()
            delay = (
                rules.parse_retry_after(exc.retry_after, now)
                if exc.retry_after
                else rules.retry_delay(attempt + 1)
            )
            enqueue(session, JOBS, "email", {**payload, "attempt": attempt + 1}, run_at=now + delay)
            return
        entry.status, entry.error, entry.occurred_at = "sent", None, func.now()
        self._forget(session, secret_row)

    @staticmethod
    def _forget(session: Session, secret_row: PendingSecret | None) -> None:
        if secret_row is not None:
            session.delete(secret_row)

    # --- scheduled ------------------------------------------------------------------------------

    def purge_secrets(self, session: Session, payload: dict[str, Any]) -> None:
        session.execute(delete(PendingSecret).where(PendingSecret.expires_at <= func.now()))

    def cleanup(self, session: Session, payload: dict[str, Any]) -> None:
        now = utcnow()
        session.execute(
            delete(Notification).where(
                Notification.created_at
                < rules.retention_cutoff(now, self.settings.notification_retention_days)
            )
        )
        session.execute(
            delete(PushSubscription).where(
                func.coalesce(PushSubscription.last_used_at, PushSubscription.created_at)
                < now - rules.PUSH_PRUNE_AFTER
            )
        )
        session.execute(delete(PendingSecret).where(PendingSecret.expires_at <= now))

    def reminders(self, session: Session, payload: dict[str, Any]) -> None:
        """Tomorrow's bookings, events and classes (club time), each reminded once. The club day is
        the one the scheduler claimed, so a run that starts late still reminds for the right day."""
        club_today = self._club_day(payload)
        tomorrow = club_today + timedelta(days=1)
        items = session.scalars(
            select(Upcoming)
            .where(Upcoming.local_date == tomorrow, Upcoming.active, Upcoming.reminded_on.is_(None))
            .with_for_update(skip_locked=True)
        ).all()
        for item in items:
            day, start = item.local_date.isoformat(), item.start_time
            if item.kind == "booking":
                message = messages.booking_reminder(item.item_id, item.title, day, start)
            elif item.kind == "event":
                message = messages.event_reminder(item.item_id, item.title, day, start)
            else:
                message = messages.wellness_reminder(item.item_id, item.title, day, start)
            notify.notify_member(session, item.user_email, message)
            item.reminded_on = club_today
        session.execute(delete(Upcoming).where(Upcoming.local_date < club_today))

    def waiver_review(self, session: Session, payload: dict[str, Any]) -> None:
        """Fee waivers unreviewed for more than 12 hours, to the admins (every 4 hours)."""
        count, total = session.execute(
            select(func.count(), func.coalesce(func.sum(FeeWaiver.amount_cents), 0)).where(
                FeeWaiver.reviewed_at.is_(None), FeeWaiver.waived_at < utcnow() - WAIVER_REVIEW_AFTER
            )
        ).one()
        if count:
            notify.notify_admins(session, messages.waivers_to_review(count, total))

    def _club_day(self, payload: dict[str, Any]) -> date:
        period = payload.get("period")
        if isinstance(period, str) and len(period) == 10:
            return date.fromisoformat(period)
        return today(self.runtime.tz)

    def closure_digest(self, session: Session, payload: dict[str, Any]) -> None:
        """Today's closures, to staff at 08:00."""
        club_today = self._club_day(payload)
        closures = session.scalars(
            select(Closure)
            .where(Closure.is_active, Closure.start_date <= club_today, Closure.end_date >= club_today)
            .order_by(Closure.start_date, Closure.closure_id)
        ).all()
        if closures:
            notify.notify_staff(session, messages.closures_today([c.title for c in closures]))


def _attachments(template: str, context: dict[str, Any]) -> tuple[Attachment, ...]:
    if template == "day_pass" and context.get("pass_code"):
        import io

        import segno

        buffer = io.BytesIO()
        segno.make(str(context["pass_code"]), error="m").save(buffer, kind="png", scale=8, border=2)
        return (Attachment("day-pass.png", buffer.getvalue(), "image/png", content_id="day-pass-qr"),)
    return ()


def make_jobs(
    runtime: Runtime, *, email: EmailChannel | None = None, push_channel: PushChannel | None = None
) -> JobRunner:
    deliveries = Deliveries(runtime, email, push_channel)
    announce(deliveries.email, deliveries.push)
    # Two delivery threads: more starve the consumer thread of the GIL (each of its statements
    # waits behind push encryption), and the backlog grows. bench/notifications at 100 events/s:
    # 2 threads p99 0.34 s, 3 threads 3.1 s, 4 threads 15 s.
    return JobRunner(runtime.db, JOBS, deliveries.jobs(), runtime.tz, SCHEDULE, threads=2, alert=alert_staff)


def alert_staff(session: Session, failed: FailedJob) -> None:
    """A job gave up: tell the staff directly (the other services ask us by event)."""
    notify.notify_staff(
        session,
        messages.Message(
            type="job_failed", title="Background job failed", message=failed_text("notifications", failed)
        ),
    )


def queue_broadcast(session: Session, message: messages.Message) -> None:
    """Push `message` to every subscribed browser, after the caller's transaction commits."""
    enqueue(
        session,
        JOBS,
        "broadcast",
        {
            "title": message.title,
            "message": message.message,
            "type": message.type,
            "related_type": message.related_type,
            "related_id": message.related_id,
            "link": message.link,
        },
    )
