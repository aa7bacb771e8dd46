"""/api/v1/push-subscriptions: the caller's browsers that receive web push."""

from __future__ import annotations

from flask import current_app
from flask_smorest import Blueprint
from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert

from club_shared.auth import current_identity
from club_shared.problems import Problem
from club_shared.web import runtime

from ..channels import PushChannel
from ..models import PushSubscription
from ..schemas import PushConfig, PushSubscriptionIn, PushSubscriptionOut, Unsubscribe
from ._access import signed_in

blp = Blueprint(
    "push_subscriptions",
    __name__,
    url_prefix="/api/v1/push-subscriptions",
    description="Web-push subscriptions (one per browser endpoint)",
)


def _push() -> PushChannel:
    return current_app.extensions["notification_channels"].push


@blp.get("/config")
@blp.response(200, PushConfig)
def push_config():
    """Whether push is on, and the VAPID public key browsers subscribe with (public)."""
    channel = _push()
    return {"enabled": channel.enabled, "public_key": channel.public_key if channel.enabled else None}


@blp.get("")
@signed_in
@blp.response(200, PushSubscriptionOut(many=True))
@blp.doc(security=[{"bearerAuth": []}])
def list_subscriptions():
    email = current_identity().email
    with runtime().db.transaction() as session:
        return session.scalars(
            select(PushSubscription).where(PushSubscription.user_email == email).order_by(PushSubscription.id)
        ).all()


@blp.post("")
@signed_in
@blp.arguments(PushSubscriptionIn)
@blp.response(201, PushSubscriptionOut)
@blp.doc(security=[{"bearerAuth": []}])
def subscribe(body):
    """Subscribe this browser. The endpoint is unique: subscribing it again (after a new sign-in on
    the same browser, or with new keys) moves it to the caller and refreshes its keys."""
    email = current_identity().email
    if not _push().endpoint_allowed(body["endpoint"]):
        raise Problem(422, "A push endpoint must be an https URL.", code="INVALID_ENDPOINT")
    keys = {"p256dh": body["keys"]["p256dh"], "auth": body["keys"]["auth"]}
    with runtime().db.transaction() as session:
        row_id = session.execute(
            insert(PushSubscription)
            .values(endpoint=body["endpoint"], user_email=email, keys=keys)
            .on_conflict_do_update(
                index_elements=[PushSubscription.endpoint], set_={"user_email": email, "keys": keys}
            )
            .returning(PushSubscription.id)
        ).scalar_one()
        return session.get(PushSubscription, row_id)


@blp.delete("/<int:subscription_id>")
@signed_in
@blp.response(204)
@blp.doc(security=[{"bearerAuth": []}])
def unsubscribe(subscription_id: int):
    email = current_identity().email
    with runtime().db.transaction() as session:
        gone = session.execute(
            delete(PushSubscription).where(
                PushSubscription.id == subscription_id, PushSubscription.user_email == email
            )
        ).rowcount
    if not gone:
        raise Problem(404, "No such subscription.", code="NOT_FOUND")


@blp.post("/unsubscribe")
@signed_in
@blp.arguments(Unsubscribe)
@blp.response(204)
@blp.doc(security=[{"bearerAuth": []}])
def unsubscribe_endpoint(body):
    """Unsubscribe by endpoint (what a browser knows); unknown endpoints are already gone (204)."""
    email = current_identity().email
    with runtime().db.transaction() as session:
        session.execute(
            delete(PushSubscription).where(
                PushSubscription.endpoint == body["endpoint"], PushSubscription.user_email == email
            )
        )
