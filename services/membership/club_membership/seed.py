"""The demo club's membership side (development mode only; safe to run on every start).

Made through the service's own actions, so every event a person's action would publish is
published (other services build their read models from them). Anything already there is left as
it is: running it again changes nothing.

Sign in as any of these (the development 202 body carries `dev_code`):
admin@clubhouse.test, staff@clubhouse.test, social@, core@, premium@, corporate@, vip@clubhouse.test
and jamie@clubhouse.test (on premium@'s family plan).
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from club_shared.clubtime import utcnow
from club_shared.runtime import Runtime

from .actions import groups as group_actions
from .actions import members as member_actions
from .actions import settings as settings_actions
from .actions import signin
from .actions import staff as staff_actions
from .domain.actors import SYSTEM
from .models import BillingGroup, CafeItem, Faq, GalleryImage, StaffUser, TrainingSection, User

log = logging.getLogger(__name__)

DOMAIN = "clubhouse.test"

STAFF = [
    {"email": f"admin@{DOMAIN}", "name": "Alex Admin", "role": "admin"},
    {"email": f"staff@{DOMAIN}", "name": "Sam Staff", "role": "staff"},
]

MEMBERS = [
    {"email": f"social@{DOMAIN}", "first_name": "Sky", "last_name": "Social", "tier": "social"},
    {"email": f"core@{DOMAIN}", "first_name": "Cory", "last_name": "Core", "tier": "core"},
    {"email": f"premium@{DOMAIN}", "first_name": "Pat", "last_name": "Premium", "tier": "premium"},
    {"email": f"corporate@{DOMAIN}", "first_name": "Cam", "last_name": "Corporate", "tier": "corporate"},
    {"email": f"vip@{DOMAIN}", "first_name": "Val", "last_name": "Vip", "tier": "vip"},
]

FAMILY = {
    "primary": f"premium@{DOMAIN}",
    "name": "The Premium family",
    "members": [
        {"email": f"jamie@{DOMAIN}", "first_name": "Jamie", "last_name": "Premium", "relationship": "child"}
    ],
}

FAQS = [
    ("How far ahead can I book a bay?", "Core members 7 days, Premium and Corporate 10, VIP 14.", "Booking"),
    (
        "Can I bring a guest?",
        "Yes: your tier's guest passes cover them, otherwise the guest fee is $25.",
        "Guests",
    ),
    (
        "What if I cancel late?",
        "Cancel at least an hour before your start for a refund of what you paid.",
        "Booking",
    ),
]
GALLERY = [
    ("The simulator bays", "https://images.clubhouse.test/bays.jpg", "Golf"),
    ("The lounge", "https://images.clubhouse.test/lounge.jpg", "Club"),
]
CAFE = [
    ("Breakfast", "Avocado toast", 1200),
    ("Lunch", "Club sandwich", 1600),
    ("Sides", "Fries", 600),
    ("Dessert", "Brownie", 550),
    ("Coffee", "Flat white", 450),
]
TRAINING = [
    ("Opening the club", "opening", "Lights, bays on, TrackMan logged in, café float counted.", False),
    ("Refunds and comps", "refunds", "Only admins refund: use the booking's payment line.", True),
]
SETTINGS: dict[str, Any] = {
    "contact.phone": "+1 415 555 0100",
    "contact.email": f"hello@{DOMAIN}",
    "contact.address": "1 Fairway Lane, San Francisco, CA",
    "social.instagram": "https://instagram.com/clubhouse",
}


def seed_demo(runtime: Runtime) -> dict[str, int]:
    """Seed the demo club's members, staff, family group, content and settings; what was added."""
    if not runtime.settings.is_development:
        log.info("demo seed skipped: not in development mode")
        return {}
    added = {"staff": 0, "members": 0, "groups": 0, "content": 0, "settings": 0}
    with runtime.db.transaction() as session:
        now = utcnow()
        for person in STAFF:
            if session.scalar(select(StaffUser.id).where(StaffUser.email == person["email"])) is None:
                staff_actions.create(session, runtime, SYSTEM, **person)
                added["staff"] += 1
            if session.scalar(select(User.id).where(User.email == person["email"])) is None:
                subject = signin.subject_for(session, person["email"])
                signin.ensure_staff_user(session, runtime, subject, now)
        for member in MEMBERS:
            added["members"] += _member(session, runtime, **member)
        if (
            session.scalar(select(BillingGroup.id).where(BillingGroup.primary_email == FAMILY["primary"]))
            is None
        ):
            primary = session.scalar(select(User).where(User.email == FAMILY["primary"]))
            group = group_actions.create(
                session,
                runtime,
                SYSTEM,
                primary=primary,
                type="family",
                group_name=FAMILY["name"],
                company_name=None,
                max_seats=None,
            )
            for person in FAMILY["members"]:
                user = session.scalar(select(User).where(User.email == person["email"]))
                if user is None:
                    user = member_actions.create(
                        session,
                        runtime,
                        SYSTEM,
                        email=person["email"],
                        first_name=person["first_name"],
                        last_name=person["last_name"],
                        status="pending",
                    )
                group_actions.add_member(
                    session, runtime, SYSTEM, group, user, relationship=person["relationship"], tier=None
                )
                # What billing.group_item.added does once billing has added the add-on.
                group_actions.activate_member(session, runtime, SYSTEM, user.email, now=now, item_id=None)
                _sign_waiver(session, runtime, user)
            added["groups"] += 1
        added["content"] += _content(session, runtime)
        for key, value in SETTINGS.items():
            if settings_actions.get(session, key) in ("", None):
                settings_actions.put(session, runtime, SYSTEM, key, value)
                added["settings"] += 1
    log.info("membership demo seeded", extra={"added": added})
    return added


def _member(
    session: Session, runtime: Runtime, *, email: str, first_name: str, last_name: str, tier: str
) -> int:
    if session.scalar(select(User.id).where(User.email == email)) is not None:
        return 0
    user = member_actions.create(
        session,
        runtime,
        SYSTEM,
        email=email,
        first_name=first_name,
        last_name=last_name,
        tier=tier,
        status="active",
        billing_provider="manual",
    )
    _sign_waiver(session, runtime, user)
    return 1


def _sign_waiver(session: Session, runtime: Runtime, user: User) -> None:
    version = settings_actions.get(session, "waiver.current_version")
    if user.waiver_version != version:
        member_actions.update_profile(
            session, runtime, SYSTEM, user, {"waiver_version": version, "waiver_signed_at": utcnow()}
        )


def _content(session: Session, runtime: Runtime) -> int:
    count = 0
    for order, (question, answer, category) in enumerate(FAQS):
        if session.scalar(select(Faq.id).where(Faq.question == question)) is None:
            session.add(Faq(question=question, answer=answer, category=category, sort_order=order))
            count += 1
    for order, (title, url, category) in enumerate(GALLERY):
        if session.scalar(select(GalleryImage.id).where(GalleryImage.title == title)) is None:
            session.add(GalleryImage(title=title, url=url, category=category, sort_order=order))
            count += 1
    for order, (category, name, cents) in enumerate(CAFE):
        if session.scalar(select(CafeItem.id).where(CafeItem.name == name)) is None:
            item = CafeItem(category=category, name=name, price_cents=cents, sort_order=order)
            session.add(item)
            session.flush()
            runtime.publish(  # billing mirrors café items to Stripe
                session,
                "membership.cafe_item.updated",
                {
                    "item_id": item.id,
                    "name": name,
                    "category": category,
                    "price_cents": cents,
                    "description": None,
                    "is_active": True,
                    "deleted": False,
                    "stripe_product_id": None,
                },
            )
            count += 1
    for order, (title, guide_id, content, admin_only) in enumerate(TRAINING):
        if session.scalar(select(TrainingSection.id).where(TrainingSection.guide_id == guide_id)) is None:
            session.add(
                TrainingSection(
                    title=title, guide_id=guide_id, content=content, sort_order=order, admin_only=admin_only
                )
            )
            count += 1
    session.flush()
    return count
