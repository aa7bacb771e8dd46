"""Sign-in by code or link, refresh sessions, and the limits kept in `rate_limits` (domain.md §2.6).

Limit counters are written in transactions of their own, committed whatever the request's outcome
(a refused or failed attempt must still count), and shared by every replica through the database.
When the limit store cannot be read or written the request is refused with 503: we fail closed.
"""

from __future__ import annotations

import hmac
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session

from club_shared.auth import Identity, development_key_pair, sign_access_token
from club_shared.clubtime import utcnow
from club_shared.problems import Problem
from club_shared.runtime import Runtime

from ..domain import signin as rules
from ..domain import statuses
from ..domain.actors import SYSTEM
from ..models import MagicLink, RateLimit, RefreshSession, StaffUser, User
from . import members as member_actions

log = logging.getLogger(__name__)

SIGNIN_EVENT = "membership.signin.code_issued"
#: how long a limit-store statement may wait for a lock before we call the store unavailable
LIMIT_LOCK_TIMEOUT_MS = 2000


def signing_key(runtime: Runtime) -> str:
    settings = runtime.settings
    if settings.jwt_private_key:
        return settings.jwt_private_key
    if settings.is_development:
        return development_key_pair(settings.data_dir)[0]
    raise Problem(503, "Sign-in is not configured (JWT_PRIVATE_KEY is missing).", code="AUTH_UNAVAILABLE")


def hash_key(runtime: Runtime) -> bytes:
    """SIGNIN_HASH_KEY when set; else derived from the signing key, which then voids every stored code
    and refresh session whenever that key is rotated."""
    return rules.derive_key(runtime.settings.signin_hash_key or signing_key(runtime))


# ------------------------------------------------------------------------------------------------
# Rate limits
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Refusal:
    until: datetime
    limit_type: str


class LimitStore:
    """Fixed-window counters in `rate_limits`, opened by the first hit of a window."""

    def __init__(self, runtime: Runtime):
        self.db = runtime.db

    def _transaction(self):
        return self.db.transaction()

    def _guard(self, work):
        try:
            with self._transaction() as session:
                session.execute(text(f"SET LOCAL lock_timeout = '{LIMIT_LOCK_TIMEOUT_MS}ms'"))
                return work(session)
        except SQLAlchemyError as exc:
            log.error("sign-in limit store unavailable", extra={"error": type(exc).__name__})
            raise Problem(
                503,
                "Sign-in is unavailable for a moment; try again shortly.",
                code="RATE_LIMIT_UNAVAILABLE",
                headers={"Retry-After": "5"},
            ) from None

    def hit(self, limits, email: str | None, ip: str | None, now: datetime) -> Refusal | None:
        """Count one attempt against every limit; the refusal with the latest end, if any is over."""

        def work(session: Session) -> Refusal | None:
            refusals = []
            for limit in limits:
                row = session.execute(
                    insert(RateLimit)
                    .values(
                        key=limit.key(email, ip),
                        limit_type=limit.limit_type,
                        count=1,
                        window_start=now,
                        reset_at=now + rules.WINDOW,
                    )
                    .on_conflict_do_update(
                        index_elements=[RateLimit.key],
                        set_={
                            "count": _case_expired(now, 1, RateLimit.count + 1),
                            "window_start": _case_expired(now, now, RateLimit.window_start),
                            "reset_at": _case_expired(now, now + rules.WINDOW, RateLimit.reset_at),
                        },
                    )
                    .returning(RateLimit.id, RateLimit.count, RateLimit.reset_at, RateLimit.locked_until)
                ).one()
                if limit.locks:
                    if row.count >= limit.maximum:
                        until = now + rules.LOCKOUT
                        session.execute(
                            update(RateLimit).where(RateLimit.id == row.id).values(locked_until=until)
                        )
                elif row.count > limit.maximum:
                    refusals.append(Refusal(row.reset_at, limit.limit_type))
            return max(refusals, key=lambda r: r.until, default=None)

        return self._guard(work)

    def check(self, limits, email: str | None, ip: str | None, now: datetime) -> Refusal | None:
        """Without counting: is a lock on, or a limit already full for this window?"""

        def work(session: Session) -> Refusal | None:
            keys = {limit.key(email, ip): limit for limit in limits}
            refusals = []
            for row in session.scalars(select(RateLimit).where(RateLimit.key.in_(keys))):
                limit = keys[row.key]
                if limit.locks:
                    if row.locked_until is not None and row.locked_until > now:
                        refusals.append(Refusal(row.locked_until, limit.limit_type))
                elif row.count >= limit.maximum and row.reset_at > now:
                    refusals.append(Refusal(row.reset_at, limit.limit_type))
            return max(refusals, key=lambda r: r.until, default=None)

        return self._guard(work)

    def clear(self, limits, email: str | None, ip: str | None) -> None:
        def work(session: Session) -> None:
            session.execute(
                delete(RateLimit).where(RateLimit.key.in_([limit.key(email, ip) for limit in limits]))
            )

        self._guard(work)


def _case_expired(now: datetime, fresh, current):
    from sqlalchemy import case

    return case((RateLimit.reset_at <= now, fresh), else_=current)


def too_many(refusal: Refusal, now: datetime, detail: str) -> Problem:
    seconds = rules.retry_after_seconds(refusal.until, now)
    return Problem(
        429, detail, code="RATE_LIMITED", headers={"Retry-After": str(seconds)}, retry_after_seconds=seconds
    )


# ------------------------------------------------------------------------------------------------
# Who may sign in
# ------------------------------------------------------------------------------------------------


@dataclass
class Subject:
    email: str  # the primary address sessions are kept under
    role: str  # the token's role
    first_name: str | None
    user: User | None
    staff: StaffUser | None


def subject_for(session: Session, email: str) -> Subject | None:
    """Active staff (any role), or a member in an access status; anyone else cannot sign in."""
    user = member_actions.resolve_email(session, email)
    staff = session.scalar(
        select(StaffUser).where(
            StaffUser.email.in_({email, user.email} if user else {email}), StaffUser.is_active
        )
    )
    if staff is not None:
        first = staff.name.split(" ", 1)[0] if staff.name else None
        return Subject(email=staff.email, role=staff.role, first_name=first, user=user, staff=staff)
    if user is not None and statuses.has_access(user.status):
        return Subject(email=user.email, role="member", first_name=user.first_name, user=user, staff=None)
    return None


def ensure_staff_user(session: Session, runtime: Runtime, subject: Subject, now: datetime) -> User:
    """Staff sign-in ensures a users row with their role, tier VIP and status active."""
    staff = subject.staff
    assert staff is not None
    role = "admin" if staff.role == "admin" else "staff"
    user = subject.user or session.scalar(select(User).where(User.email == staff.email))
    if user is None:
        first, _, last = (staff.name or staff.email.split("@")[0]).partition(" ")
        return member_actions.create(
            session,
            runtime,
            SYSTEM,
            email=staff.email,
            first_name=first or staff.email,
            last_name=last or "",
            tier="vip",
            status="active",
            billing_provider="comped",
            role=role,
        )
    if user.status in statuses.FINAL_STATUSES:
        raise Problem(403, "This account cannot sign in.", code="ACCOUNT_INACTIVE")
    if user.role != role:
        member_actions.update_profile(session, runtime, SYSTEM, user, {"role": role})
    if user.tier != "vip":
        member_actions.set_tier(session, runtime, SYSTEM, user, "vip")
    if user.status != "active":
        if statuses.can_transition(user.status, "active"):
            member_actions.change_status(
                session, runtime, SYSTEM, user, "active", now=now, reason="staff sign-in"
            )
        else:
            for step in ("pending", "active"):  # e.g. cancelled → pending → active
                if statuses.can_transition(user.status, step):
                    member_actions.change_status(
                        session, runtime, SYSTEM, user, step, now=now, reason="staff sign-in"
                    )
    return user


# ------------------------------------------------------------------------------------------------
# Codes
# ------------------------------------------------------------------------------------------------


def purge_code_events(session: Session, runtime: Runtime) -> None:
    """Sign-in codes leave the outbox once sent, or once they have expired unsent."""
    outbox = runtime.tables.outbox
    session.execute(
        delete(outbox).where(
            outbox.c.event_type == SIGNIN_EVENT,
            (outbox.c.sent_at.is_not(None)) | (outbox.c.created_at < func.now() - rules.CODE_TTL),
        )
    )


def request_code(runtime: Runtime, email: str, ip: str, now: datetime, *, app_url: str) -> str | None:
    """Issue a code if `email` may sign in; the code (for the development body) or None. The caller
    answers 202 either way."""
    limits = LimitStore(runtime)
    refusal = limits.hit(rules.CODE_REQUEST_LIMITS, email, ip, now)
    if refusal is not None:
        raise too_many(refusal, now, "Too many sign-in codes requested; wait before asking again.")
    key = hash_key(runtime)
    with runtime.db.transaction() as session:
        purge_code_events(session, runtime)
        subject = subject_for(session, email)
        if subject is None:
            return None
        session.execute(
            update(MagicLink)
            .where(MagicLink.email == email, ~MagicLink.is_used)
            .values(is_used=True, used_at=now)
        )
        link_token = rules.new_secret()
        for _attempt in range(10):
            code = rules.new_code()
            try:
                with session.begin_nested():
                    session.add(
                        MagicLink(
                            token=rules.code_hash(key, email, code),
                            link_token=rules.link_hash(key, link_token),
                            email=email,
                            expires_at=now + rules.CODE_TTL,
                            request_ip=ip,
                            created_at=now,
                        )
                    )
                    session.flush()
                break
            except IntegrityError:
                continue  # a collision draws a new code
        else:  # pragma: no cover - ten collisions in a row
            raise Problem(503, "Could not issue a code; try again.", code="SERVICE_UNAVAILABLE")
        from urllib.parse import urlencode

        runtime.publish(
            session,
            SIGNIN_EVENT,
            {
                "email": email,
                "first_name": subject.first_name,
                "code": code,
                "link_token": link_token,
                "link_url": f"{app_url.rstrip('/')}/sign-in?"
                + urlencode({"email": email, "code": code, "token": link_token}),
                "expires_at": (now + rules.CODE_TTL).isoformat(),
            },
        )
        return code


# ------------------------------------------------------------------------------------------------
# Sessions
# ------------------------------------------------------------------------------------------------


def _issue(
    session: Session, runtime: Runtime, subject: Subject, *, ip: str, user_agent: str | None, now: datetime
) -> dict[str, Any]:
    user = ensure_staff_user(session, runtime, subject, now) if subject.staff is not None else subject.user
    assert user is not None
    sid = secrets.token_hex(16)
    secret = rules.new_secret()
    session.add(
        RefreshSession(
            sid=sid,
            sess={
                "member_id": user.id,
                "secret_hash": rules.secret_hash(hash_key(runtime), secret),
                "ip": ip,
                "user_agent": user_agent,
            },
            expire=now + rules.SESSION_TTL,
            subject_email=user.email,
            role=subject.role,
            created_at=now,
            last_used_at=now,
        )
    )
    session.flush()
    return _tokens(runtime, user, subject.role, sid, secret)


def _tokens(runtime: Runtime, user: User, role: str, sid: str, secret: str) -> dict[str, Any]:
    settings = runtime.settings
    access = sign_access_token(
        signing_key(runtime),
        settings.jwt_issuer,
        Identity(subject=user.id, email=user.email, role=role),
        settings.access_token_ttl_s,
        extra_claims={"sid": sid, "tier": user.tier},
    )
    return {
        "access_token": access,
        "refresh_token": f"{sid}.{secret}",
        "token_type": "Bearer",
        "expires_in": settings.access_token_ttl_s,
        "user": {
            "id": user.id,
            "email": user.email,
            "role": role,
            "tier": user.tier,
            "status": user.status,
            "first_name": user.first_name,
            "last_name": user.last_name,
        },
    }


def sign_in_with_code(
    runtime: Runtime, email: str, code: str, *, ip: str, user_agent: str | None, now: datetime
) -> dict[str, Any]:
    limits = LimitStore(runtime)
    refusal = limits.check(rules.FAILED_VERIFY_LIMITS, email, ip, now)
    if refusal is not None:
        raise too_many(refusal, now, "Too many wrong codes; wait before trying again.")
    key = hash_key(runtime)
    wanted = rules.code_hash(key, email, code)
    outcome = "INVALID_CODE"
    with runtime.db.transaction() as session:
        purge_code_events(session, runtime)
        newest = session.scalar(
            select(MagicLink)
            .where(MagicLink.email == email, ~MagicLink.is_used)
            .order_by(MagicLink.created_at.desc(), MagicLink.id.desc())
            .limit(1)
            .with_for_update()
        )
        if newest is not None and hmac.compare_digest(newest.token, wanted) and newest.expires_at > now:
            return _consume(session, runtime, newest, ip=ip, user_agent=user_agent, now=now)
        match = session.scalar(select(MagicLink).where(MagicLink.token == wanted, MagicLink.email == email))
        if match is not None:
            outcome = "CODE_USED" if match.is_used else "CODE_EXPIRED"
    if outcome == "INVALID_CODE":
        limits.hit(rules.FAILED_VERIFY_LIMITS, email, ip, now)
    raise _refused(outcome)


def sign_in_with_token(
    runtime: Runtime, token: str, *, ip: str, user_agent: str | None, now: datetime
) -> dict[str, Any]:
    limits = LimitStore(runtime)
    refusal = limits.check(rules.FAILED_TOKEN_LIMITS, None, ip, now)
    if refusal is not None:
        raise too_many(refusal, now, "Too many failed sign-ins; wait before trying again.")
    outcome = "INVALID_TOKEN"
    with runtime.db.transaction() as session:
        link = session.scalar(
            select(MagicLink)
            .where(MagicLink.link_token == rules.link_hash(hash_key(runtime), token))
            .with_for_update()
        )
        if link is not None:
            locked = limits.check(rules.FAILED_VERIFY_LIMITS, link.email, ip, now)
            if locked is not None:
                raise too_many(locked, now, "Too many wrong codes; wait before trying again.")
            if link.is_used:
                outcome = "CODE_USED"
            elif link.expires_at <= now:
                outcome = "CODE_EXPIRED"
            else:
                purge_code_events(session, runtime)
                return _consume(session, runtime, link, ip=ip, user_agent=user_agent, now=now)
    if outcome == "INVALID_TOKEN":
        limits.hit(rules.FAILED_TOKEN_LIMITS, None, ip, now)
    raise _refused(outcome)


def _consume(
    session: Session, runtime: Runtime, link: MagicLink, *, ip: str, user_agent: str | None, now: datetime
) -> dict[str, Any]:
    consumed = session.execute(
        update(MagicLink)
        .where(MagicLink.id == link.id, ~MagicLink.is_used)
        .values(is_used=True, used_at=now)
        .returning(MagicLink.id)
    ).first()
    if consumed is None:  # pragma: no cover - the row lock makes this a double-check
        raise _refused("CODE_USED")
    subject = subject_for(session, link.email)
    if subject is None:
        raise Problem(403, "This account cannot sign in.", code="ACCOUNT_INACTIVE")
    result = _issue(session, runtime, subject, ip=ip, user_agent=user_agent, now=now)
    LimitStore(runtime).clear(rules.FAILED_VERIFY_LIMITS[:1], link.email, ip)
    return result


_REFUSALS = {
    "INVALID_CODE": "That code is not right.",
    "INVALID_TOKEN": "That sign-in link is not valid.",
    "CODE_USED": "That code has been used already; ask for a new one.",
    "CODE_EXPIRED": "That code has expired; ask for a new one.",
}


def _refused(outcome: str) -> Problem:
    return Problem(401, _REFUSALS[outcome], code=outcome)


def refresh(runtime: Runtime, refresh_token: str, *, now: datetime) -> dict[str, Any]:
    parsed = rules.split_refresh_token(refresh_token)
    if parsed is None:
        raise Problem(401, "That refresh token is not valid.", code="INVALID_REFRESH_TOKEN")
    sid, secret = parsed
    key = hash_key(runtime)
    revoked_for = None
    with runtime.db.transaction() as session:
        row = session.scalar(select(RefreshSession).where(RefreshSession.sid == sid).with_for_update())
        if row is None:
            raise Problem(401, "The session has ended; sign in again.", code="SESSION_REVOKED")
        if row.expire <= now:
            session.delete(row)
            revoked_for = "SESSION_EXPIRED"
        elif not hmac.compare_digest(str(row.sess.get("secret_hash", "")), rules.secret_hash(key, secret)):
            # An old refresh token came back: someone may hold a copy. End the session.
            session.delete(row)
            runtime.publish(
                session,
                "membership.session.revoked",
                {
                    "email": row.subject_email,
                    "member_id": row.sess.get("member_id"),
                    "session_id": sid,
                    "reason": "refresh_reuse",
                },
            )
            revoked_for = "REFRESH_REUSED"
        else:
            subject = subject_for(session, row.subject_email)
            user = session.get(User, row.sess.get("member_id"))
            if subject is None or user is None:
                session.delete(row)
                revoked_for = "SESSION_REVOKED"
            else:
                new_secret = rules.new_secret()
                row.sess = {**row.sess, "secret_hash": rules.secret_hash(key, new_secret)}
                row.role = subject.role
                row.last_used_at = now
                return _tokens(runtime, user, subject.role, sid, new_secret)
    raise Problem(401, "The session has ended; sign in again.", code=revoked_for)


def sessions_of(session: Session, email: str, now: datetime) -> list[RefreshSession]:
    return list(
        session.scalars(
            select(RefreshSession)
            .where(RefreshSession.subject_email == email, RefreshSession.expire > now)
            .order_by(RefreshSession.created_at.desc())
        )
    )


def revoke(session: Session, runtime: Runtime, row: RefreshSession, *, reason: str) -> None:
    session.delete(row)
    runtime.publish(
        session,
        "membership.session.revoked",
        {
            "email": row.subject_email,
            "member_id": row.sess.get("member_id"),
            "session_id": row.sid,
            "reason": reason,
        },
    )


def revoke_all(session: Session, runtime: Runtime, email: str, *, member_id: str | None, reason: str) -> int:
    """End every session of an address (leaving the access statuses, archive, merge, deletion,
    staff deactivation)."""
    gone = session.execute(
        delete(RefreshSession).where(RefreshSession.subject_email == email).returning(RefreshSession.sid)
    ).all()
    if gone:
        runtime.publish(
            session,
            "membership.session.revoked",
            {"email": email, "member_id": member_id, "session_id": None, "reason": reason},
        )
    return len(gone)


def purge_expired(session: Session, now: datetime | None = None) -> int:
    """The 02:00 clean-up: expired sessions, spent codes and finished limit windows."""
    now = now or utcnow()
    count = session.execute(delete(RefreshSession).where(RefreshSession.expire <= now)).rowcount
    session.execute(delete(MagicLink).where(MagicLink.expires_at <= now - rules.CODE_TTL))
    session.execute(
        delete(RateLimit).where(
            RateLimit.reset_at <= now, (RateLimit.locked_until.is_(None)) | (RateLimit.locked_until <= now)
        )
    )
    return int(count or 0)
