"""/api/v1/notices: what a member should see today (announcements and closures), minus what they
dismissed; and the notice types staff keep."""

from __future__ import annotations

from flask_smorest import Blueprint
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert

from club_shared.auth import current_identity
from club_shared.clubtime import today
from club_shared.problems import Problem
from club_shared.web import runtime

from ..models import Announcement as AnnouncementRow
from ..models import Closure, DismissedNotice, NoticeType
from ..schemas import Dismiss, Marked, Notice, NoticeTypeIn, NoticeTypeOut, NoticeTypePatch
from ._access import signed_in, staff_only
from .announcements import PRIORITY_ORDER, live_on

blp = Blueprint(
    "notices", __name__, url_prefix="/api/v1/notices", description="Notices a member sees, and dismissals"
)


def _visible(session, email: str) -> list[dict]:
    day = today(runtime().tz)
    dismissed = set(
        session.execute(
            select(DismissedNotice.notice_type, DismissedNotice.notice_id).where(
                DismissedNotice.user_email == email
            )
        ).all()
    )
    notices = []
    for a in session.scalars(
        select(AnnouncementRow).where(*live_on(day)).order_by(PRIORITY_ORDER, AnnouncementRow.id.desc())
    ):
        if ("announcement", a.id) not in dismissed:
            notices.append(
                {
                    "notice_type": "announcement",
                    "notice_id": a.id,
                    "title": a.title,
                    "message": a.message,
                    "priority": a.priority,
                    "show_as_banner": a.show_as_banner,
                    "link_type": a.link_type,
                    "link_target": a.link_target,
                    "starts_on": a.starts_on,
                    "ends_on": a.ends_on,
                }
            )
    for c in session.scalars(
        select(Closure)
        .where(Closure.is_active, Closure.notify_members, Closure.end_date >= day)
        .order_by(Closure.start_date, Closure.closure_id)
    ):
        if ("closure", c.closure_id) not in dismissed:
            notices.append(
                {
                    "notice_type": "closure",
                    "notice_id": c.closure_id,
                    "title": c.title,
                    "message": c.member_notice or c.title,
                    "priority": "high" if c.start_date <= day else "normal",
                    "show_as_banner": False,
                    "link_type": "closure",
                    "link_target": str(c.closure_id),
                    "starts_on": c.start_date,
                    "ends_on": c.end_date,
                }
            )
    return notices


@blp.get("")
@signed_in
@blp.response(200, Notice(many=True))
@blp.doc(security=[{"bearerAuth": []}])
def list_notices():
    """Live announcements and current or coming closures the caller has not dismissed."""
    with runtime().db.transaction() as session:
        return _visible(session, current_identity().email)


@blp.post("/dismiss")
@signed_in
@blp.arguments(Dismiss)
@blp.response(204)
@blp.doc(security=[{"bearerAuth": []}])
def dismiss(body):
    """Dismiss one notice (again: no change)."""
    with runtime().db.transaction() as session:
        model, key = (
            (AnnouncementRow, AnnouncementRow.id)
            if body["notice_type"] == "announcement"
            else (Closure, Closure.closure_id)
        )
        if session.scalar(select(key).where(key == body["notice_id"])) is None:
            raise Problem(404, "No such notice.", code="NOT_FOUND")
        session.execute(
            insert(DismissedNotice)
            .values(
                user_email=current_identity().email,
                notice_type=body["notice_type"],
                notice_id=body["notice_id"],
            )
            .on_conflict_do_nothing()
        )


@blp.post("/dismiss-all")
@signed_in
@blp.response(200, Marked)
@blp.doc(security=[{"bearerAuth": []}])
def dismiss_all():
    """Dismiss every notice the caller sees now."""
    email = current_identity().email
    with runtime().db.transaction() as session:
        visible = [(n["notice_type"], n["notice_id"]) for n in _visible(session, email)]
        if visible:
            session.execute(
                insert(DismissedNotice)
                .values([{"user_email": email, "notice_type": t, "notice_id": i} for t, i in visible])
                .on_conflict_do_nothing()
            )
    return {"marked": len(visible)}


@blp.get("/types")
@signed_in
@blp.response(200, NoticeTypeOut(many=True))
@blp.doc(security=[{"bearerAuth": []}])
def list_types():
    with runtime().db.transaction() as session:
        return session.scalars(select(NoticeType).order_by(NoticeType.name)).all()


@blp.post("/types")
@staff_only
@blp.arguments(NoticeTypeIn)
@blp.response(201, NoticeTypeOut)
@blp.alt_response(409, description="A type with this name exists.")
@blp.doc(security=[{"bearerAuth": []}])
def create_type(body):
    with runtime().db.transaction() as session:
        row = session.execute(
            insert(NoticeType)
            .values(**body)
            .on_conflict_do_nothing(index_elements=[NoticeType.name])
            .returning(NoticeType.id)
        ).first()
        if row is None:
            raise Problem(409, f"A notice type {body['name']} exists.", code="DUPLICATE")
        return session.get(NoticeType, row.id)


@blp.patch("/types/<int:notice_type_id>")
@staff_only
@blp.arguments(NoticeTypePatch)
@blp.response(200, NoticeTypeOut)
@blp.doc(security=[{"bearerAuth": []}])
def update_type(body, notice_type_id: int):
    with runtime().db.transaction() as session:
        row = session.get(NoticeType, notice_type_id, with_for_update=True)
        if row is None:
            raise Problem(404, "No such notice type.", code="NOT_FOUND")
        if (
            "name" in body
            and body["name"] != row.name
            and session.scalar(select(NoticeType.id).where(NoticeType.name == body["name"]))
        ):
            raise Problem(409, f"A notice type {body['name']} exists.", code="DUPLICATE")
        for key, value in body.items():
            setattr(row, key, value)
        return row
