"""/api/v1/guest-passes: a member's guest passes this period (their own; staff: anyone's)."""

from __future__ import annotations

from flask_smorest import Blueprint
from marshmallow import Schema, fields
from sqlalchemy import select

from club_shared.fields import EmailAddress
from club_shared.problems import Problem
from club_shared.web import runtime

from .. import queries
from ..domain import passes as rules
from ..flows import passes
from ..models import GuestPass, GuestPassHold
from ..schemas import _In
from .common import caller, local, now, signed_in, unit_of_work

blp = Blueprint("guest_passes", __name__, url_prefix="/api/v1/guest-passes", description="Guest passes")


class PassQuery(_In):
    member_email = EmailAddress(load_default=None)


class HoldOut(Schema):
    booking_id = fields.Integer()
    passes_held = fields.Integer()
    expires_at = fields.AwareDateTime()


class PassesOut(Schema):
    member_email = fields.String()
    total_passes = fields.Integer()
    used_passes = fields.Integer()
    held_passes = fields.Integer()
    available_passes = fields.Integer()
    period_key = fields.String()
    reset_period = fields.String()
    holds = fields.List(fields.Nested(HoldOut))


@blp.get("")
@signed_in
@blp.arguments(PassQuery, location="query")
@blp.response(200, PassesOut)
def get_passes(query):
    """Total, used, held and available passes; available = total − used − active holds."""
    who = caller()
    at = now()
    with unit_of_work() as session:
        if who.is_staff and query["member_email"]:
            email = query["member_email"]
        elif query["member_email"] and query["member_email"] not in queries.emails_of(session, who.email):
            raise Problem(403, "Members see only their own passes.", code="FORBIDDEN")
        else:
            email = who.email
        person = queries.person_by_email(session, email)
        email = person.email if person else email
        period = queries.settings(session).guest_pass_reset_period
        key = rules.period_key(at, runtime().tz, period)
        account = session.scalar(select(GuestPass).where(GuestPass.member_email == email))
        allowance = passes.tier_allowance(session, email)
        if account is None or account.period_key != key:
            total, used = rules.allocation(allowance, 0), 0
        else:
            total, used = account.total_passes, account.used_passes
        holds = session.scalars(
            select(GuestPassHold)
            .where(GuestPassHold.member_email == email, GuestPassHold.expires_at > at)
            .order_by(GuestPassHold.id)
        ).all()
        balance = rules.PassBalance(total, used, sum(h.passes_held for h in holds))
        return {
            "member_email": email,
            "total_passes": balance.total,
            "used_passes": balance.used,
            "held_passes": balance.held,
            "available_passes": balance.available,
            "period_key": key,
            "reset_period": period,
            "holds": [
                {"booking_id": h.booking_id, "passes_held": h.passes_held, "expires_at": local(h.expires_at)}
                for h in holds
            ],
        }
