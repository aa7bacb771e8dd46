"""/api/v1/members/{id}/notes: staff notes on a member (pinnable)."""

from __future__ import annotations

import hashlib

from flask_smorest import Blueprint
from sqlalchemy import select

from club_shared.problems import Problem
from club_shared.web import runtime

from ..actions import audit
from ..actions import members as member_actions
from ..context import actor, staff_only
from ..models import MemberNote
from ..schemas import NoteCreate, NoteOut, NoteUpdate

blp = Blueprint("member_notes", __name__, url_prefix="/api/v1/members", description="Staff notes on members")


def _hash(note: str) -> str:
    return hashlib.sha256(" ".join(note.split()).lower().encode()).hexdigest()


def _note(session, user, note_id: int) -> MemberNote:
    note = session.get(MemberNote, note_id, with_for_update=True)
    if note is None or note.member_email != user.email:
        raise Problem(404, "No such note.", code="NOT_FOUND")
    return note


@blp.get("/<member_id>/notes")
@staff_only
@blp.response(200, NoteOut(many=True))
def list_notes(member_id: str):
    """Pinned first, then newest first."""
    with runtime().db.transaction() as session:
        user = member_actions.get(session, member_id)
        return session.scalars(
            select(MemberNote)
            .where(MemberNote.member_email == user.email)
            .order_by(MemberNote.is_pinned.desc(), MemberNote.created_at.desc(), MemberNote.id.desc())
        ).all()


@blp.post("/<member_id>/notes")
@staff_only
@blp.arguments(NoteCreate)
@blp.response(201, NoteOut)
def add_note(body, member_id: str):
    with runtime().db.transaction() as session:
        user = member_actions.get(session, member_id)
        digest = _hash(body["note"])
        if session.scalar(
            select(MemberNote.id).where(
                MemberNote.member_email == user.email, MemberNote.content_hash == digest
            )
        ):
            raise Problem(409, "The member has this note already.", code="DUPLICATE_NOTE")
        note = MemberNote(member_email=user.email, created_by=actor().email, content_hash=digest, **body)
        session.add(note)
        session.flush()
        session.refresh(note)
        audit.record(
            session,
            actor(),
            "member_note.created",
            "member",
            user.id,
            resource_name=user.name,
            details={"note_id": note.id},
        )
        return note


@blp.patch("/<member_id>/notes/<int:note_id>")
@staff_only
@blp.arguments(NoteUpdate)
@blp.response(200, NoteOut)
def update_note(body, member_id: str, note_id: int):
    with runtime().db.transaction() as session:
        user = member_actions.get(session, member_id)
        note = _note(session, user, note_id)
        if "note" in body:
            digest = _hash(body["note"])
            if digest != note.content_hash and session.scalar(
                select(MemberNote.id).where(
                    MemberNote.member_email == user.email, MemberNote.content_hash == digest
                )
            ):
                raise Problem(409, "The member has this note already.", code="DUPLICATE_NOTE")
            note.note, note.content_hash = body["note"], digest
        if "is_pinned" in body:
            note.is_pinned = body["is_pinned"]
        session.flush()
        session.refresh(note)
        audit.record(
            session,
            actor(),
            "member_note.updated",
            "member",
            user.id,
            resource_name=user.name,
            details={"note_id": note_id},
        )
        return note


@blp.delete("/<member_id>/notes/<int:note_id>")
@staff_only
@blp.response(204)
def delete_note(member_id: str, note_id: int):
    with runtime().db.transaction() as session:
        user = member_actions.get(session, member_id)
        session.delete(_note(session, user, note_id))
        audit.record(
            session,
            actor(),
            "member_note.deleted",
            "member",
            user.id,
            resource_name=user.name,
            details={"note_id": note_id},
        )
