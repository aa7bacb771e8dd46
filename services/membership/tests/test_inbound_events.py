"""What other services' events do to members (domain.md §2.2, §2.3, §8.2, §15 examples 19 and 24),
through membership's real consumer."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from club_membership.models import MemberNote, User
from club_shared.events import make_event


def _event(event_type: str, data: dict, producer: str | None = None):
    return make_event(event_type, data, producer=producer or event_type.split(".")[0])


def _subscription(
    email, sub, status, *, tier="core", customer=None, stripe_event="customer.subscription.updated"
):
    return _event(
        "billing.subscription.updated",
        {
            "subscription_id": sub,
            "customer_id": customer,
            "email": email,
            "stripe_status": status,
            "tier_slug": tier,
            "stripe_event": stripe_event,
        },
    )


def _payment(kind, email, sub, *, tier="core", at=None):
    return _event(
        f"billing.membership_payment.{kind}",
        {
            "email": email,
            "customer_id": None,
            "subscription_id": sub,
            "invoice_id": f"in_{uuid.uuid4().hex[:8]}",
            "amount_cents": 25000,
            "tier_slug": tier,
            "occurred_at": (at or datetime.now(UTC)).isoformat(),
        },
    )


@pytest.fixture
def stripe_member(make_member):
    return make_member(status="pending", tier=None)


def test_the_first_subscription_event_sets_tier_and_status(deliver, stripe_member, user_row, outbox):
    deliver(
        _subscription(
            stripe_member.email,
            "sub_A",
            "active",
            tier="premium",
            stripe_event="customer.subscription.created",
        )
    )
    row = user_row(stripe_member.id)
    assert (row.status, row.tier, row.stripe_subscription_id) == ("active", "premium", "sub_A")
    assert (
        outbox("membership.member.status_changed", member_id=stripe_member.id)[-1]["reason"]
        == "stripe active"
    )


@pytest.mark.parametrize(
    "start, stripe_status, expected",
    [
        ("pending", "trialing", "trialing"),
        ("active", "past_due", "past_due"),
        ("active", "unpaid", "suspended"),
        ("active", "paused", "frozen"),
        ("frozen", "active", "active"),
        ("trialing", "incomplete_expired", "trialing"),  # not a move the table allows: skipped
    ],
)
def test_stripe_statuses_map_to_member_statuses(
    deliver, make_member, user_row, start, stripe_status, expected
):
    ann = make_member(status=start, tier="core", stripe_subscription_id=f"sub_{stripe_status}")
    deliver(_subscription(ann.email, f"sub_{stripe_status}", stripe_status))
    assert user_row(ann.id).status == expected


def test_only_stripe_billed_members_follow_stripe(deliver, make_member, user_row):
    comped = make_member(status="active", tier="vip", billing_provider="comped")
    deliver(_subscription(comped.email, "sub_X", "canceled"))
    assert (user_row(comped.id).status, user_row(comped.id).tier) == ("active", "vip")


def test_example_19_subscription_events_out_of_order(deliver, make_member, user_row):
    """Dee on sub_A: deleted → cancelled, last tier kept, tier cleared; the old subscription never
    revives her; a new subscription sub_B does; a late failure of sub_A is ignored."""
    dee = make_member(status="active", tier="core", stripe_subscription_id="sub_A")
    deliver(_subscription(dee.email, "sub_A", "canceled", stripe_event="customer.subscription.deleted"))
    row = user_row(dee.id)
    assert (row.status, row.tier, row.last_tier, row.stripe_subscription_id) == (
        "cancelled",
        None,
        "core",
        None,
    )
    deliver(
        _subscription(dee.email, "sub_A", "canceled", stripe_event="customer.subscription.deleted")
    )  # again
    assert user_row(dee.id).status == "cancelled"
    deliver(
        _subscription(
            dee.email, "sub_B", "active", tier="premium", stripe_event="customer.subscription.created"
        )
    )
    row = user_row(dee.id)
    assert (row.status, row.tier, row.stripe_subscription_id) == ("active", "premium", "sub_B")
    deliver(_payment("failed", dee.email, "sub_A"))
    assert user_row(dee.id).status == "active"


def test_a_trialing_member_whose_subscription_ends_is_paused(deliver, make_member, user_row):
    tia = make_member(status="trialing", tier="core", stripe_subscription_id="sub_T")
    deliver(_subscription(tia.email, "sub_T", "canceled"))
    assert user_row(tia.id).status == "paused"


def test_example_24_grace_period(deliver, make_member, user_row, outbox):
    dee = make_member(status="active", tier="core", stripe_subscription_id="sub_G")
    failed_at = datetime(2026, 9, 1, 15, tzinfo=UTC)
    deliver(_payment("failed", dee.email, "sub_G", at=failed_at))
    row = user_row(dee.id)
    assert (row.status, row.grace_period_start) == ("past_due", failed_at)
    deliver(_payment("failed", dee.email, "sub_G"))  # a second failure keeps the first start
    assert user_row(dee.id).grace_period_start == failed_at
    deliver(
        _event(
            "billing.grace_period.expired",
            {
                "email": dee.email,
                "customer_id": None,
                "subscription_id": "sub_G",
                "grace_period_start": failed_at.isoformat(),
                "reminders_sent": 3,
            },
        )
    )
    row = user_row(dee.id)
    assert (row.status, row.tier, row.last_tier) == ("terminated", None, "core")
    assert outbox("membership.notification.requested", type="membership_terminated")[-1]["urgent"] is True


def test_a_payment_in_grace_restores_the_member(deliver, make_member, user_row):
    dee = make_member(status="active", tier="core", stripe_subscription_id="sub_H")
    deliver(_payment("failed", dee.email, "sub_H"))
    deliver(_payment("succeeded", dee.email, "sub_H", tier="premium"))
    row = user_row(dee.id)
    assert (row.status, row.tier, row.grace_period_start, row.grace_email_count) == (
        "active",
        "premium",
        None,
        0,
    )


def _dispute(kind, email, dispute_id, outcome=None):
    return _event(
        f"billing.dispute.{kind}",
        {
            "dispute_id": dispute_id,
            "charge_id": None,
            "payment_intent_id": None,
            "email": email,
            "customer_id": None,
            "amount_cents": 5000,
            "reason": "fraudulent",
            "stripe_status": "needs_response",
            "outcome": outcome,
        },
    )


def test_disputes_suspend_and_a_won_one_reactivates_when_none_is_open(deliver, make_member, user_row, outbox):
    ann = make_member(status="active", tier="core", stripe_subscription_id="sub_D")
    deliver(_dispute("opened", ann.email, "dp_1"), _dispute("opened", ann.email, "dp_2"))
    assert user_row(ann.id).status == "suspended"
    assert outbox("membership.notification.requested", type="dispute_opened")[-1]["urgent"] is True
    deliver(_dispute("closed", ann.email, "dp_1", "won"))
    assert user_row(ann.id).status == "suspended"  # dp_2 is still open
    deliver(_dispute("closed", ann.email, "dp_2", "won"))
    assert user_row(ann.id).status == "active"


def test_a_renewal_does_not_lift_a_suspension(deliver, make_member, user_row):
    ann = make_member(status="suspended", tier="core", stripe_subscription_id="sub_S")
    deliver(_subscription(ann.email, "sub_S", "active"))
    assert user_row(ann.id).status == "suspended"


def test_a_checkout_makes_a_pending_member_and_a_corporate_one_its_group(deliver, emails, db, runtime):
    address = emails("buyer")
    deliver(
        _event(
            "billing.checkout.completed",
            {
                "checkout_session_id": "cs_1",
                "purpose": "company_name",
                "email": address,
                "customer_id": "cus_9",
                "subscription_id": "sub_9",
                "payment_intent_id": None,
                "amount_total_cents": 350000,
                "metadata": {
                    "company_name": "Acme",
                    "quantity": "10",
                    "first_name": "Bea",
                    "last_name": "Buyer",
                },
            },
        )
    )
    with db() as session:
        user = session.scalar(select(User).where(User.email == address))
        assert (user.status, user.first_name, user.stripe_customer_id) == ("pending", "Bea", "cus_9")
        from club_membership.models import BillingGroup

        group = session.scalar(select(BillingGroup).where(BillingGroup.primary_email == address))
        assert (group.type, group.company_name, group.max_seats) == ("corporate", "Acme", 10)


def test_an_invited_applicant_becomes_a_pending_member_once(deliver, emails, outbox):
    address = emails("applicant")
    invite = {
        "submission_id": 7,
        "email": address,
        "first_name": "Ivy",
        "last_name": "Applicant",
        "phone": None,
        "tier": "core",
        "invited_by": "staff@clubhouse.test",
    }
    deliver(_event("integrations.application.invited", invite))
    deliver(_event("integrations.application.invited", invite))
    [created] = outbox("membership.member.created", email=address)
    assert (created["status"], created["tier"], created["first_name"]) == ("pending", "core", "Ivy")


def test_hubspot_fills_blanks_overwrites_opt_ins_and_links_merged_emails(
    deliver, make_member, emails, user_row, db
):
    ann = make_member(first_name="Ann")
    merged = emails("old")
    deliver(
        _event(
            "integrations.hubspot.contact_updated",
            {
                "email": ann.email,
                "hubspot_id": "hs-1",
                "profile": {"firstname": "Annabel", "phone": "555-0199"},
                "opt_ins": {"sms_opt_in": True},
                "merged_emails": [merged],
                "note": "Met at the open day.",
                "note_hash": "h1",
            },
        )
    )
    row = user_row(ann.id)
    assert (row.first_name, row.phone, row.sms_opt_in, row.hubspot_id) == ("Ann", "555-0199", True, "hs-1")
    assert [link.linked_email for link in row.linked_emails] == [merged]
    with db() as session:
        assert (
            session.scalar(select(MemberNote.note).where(MemberNote.member_email == ann.email))
            == "Met at the open day."
        )


def test_first_booking_and_email_delivery(deliver, make_member, user_row):
    ann = make_member()
    booking = {
        "booking_id": 1,
        "session_id": None,
        "status": "pending",
        "source": "booking_preview",
        "member_id": ann.id,
        "member_email": ann.email,
        "member_name": "Ann Lee",
        "resource_id": 1,
        "resource_name": "Bay 1",
        "resource_type": "simulator",
        "date": "2026-07-04",
        "start_time": "14:00",
        "end_time": "15:00",
        "starts_at": "2026-07-04T21:00:00+00:00",
        "ends_at": "2026-07-04T22:00:00+00:00",
        "duration_minutes": 60,
        "declared_player_count": 1,
        "roster_version": 1,
        "trackman_booking_id": None,
        "participants": [],
        "created_by": ann.email,
    }
    event = _event("booking.request.created", booking)
    deliver(event)
    assert user_row(ann.id).first_booking_at == event.occurred_at
    deliver(
        _event(
            "notifications.email.bounced",
            {
                "email": ann.email,
                "occurred_at": datetime.now(UTC).isoformat(),
                "bounce_type": "hard",
                "detail": None,
                "provider_message_id": None,
            },
        )
    )
    assert user_row(ann.id).email_delivery_status == "bounced"


def _group_item(kind, group, email, member_id):
    return _event(
        f"billing.group_item.{kind}",
        {
            "group_id": group["id"],
            "group_type": "family",
            "primary_email": group["primary_email"],
            "member_email": email,
            "member_id": member_id,
            "subscription_id": "sub_P",
            "subscription_item_id": "si_9" if kind == "added" else None,
            "reason": None if kind == "added" else "card declined",
        },
    )


def test_billing_confirms_or_refuses_a_group_member(client, staff, make_member, deliver, user_row, db):
    from club_membership.models import GroupMember

    primary = make_member(status="active", tier="core")
    group = client.post(
        "/api/v1/billing-groups",
        headers=staff.headers,
        json={"primary_member_id": primary.id, "type": "family"},
    ).get_json()
    kid, other = make_member(status="pending", tier=None), make_member(status="pending", tier=None)
    for person in (kid, other):
        client.post(
            f"/api/v1/billing-groups/{group['id']}/members",
            headers=staff.headers,
            json={"email": person.email},
        )
    deliver(
        _group_item("added", group, kid.email, kid.id), _group_item("failed", group, other.email, other.id)
    )
    row = user_row(kid.id)
    assert (row.status, row.tier, row.billing_provider) == ("active", "core", "family_addon")
    assert (user_row(other.id).status, user_row(other.id).tier) == ("pending", None)
    with db() as session:
        item = session.scalar(
            select(GroupMember.stripe_subscription_item_id).where(GroupMember.member_email == kid.email)
        )
    assert item == "si_9"
