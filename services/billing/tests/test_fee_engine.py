"""The fee engine against every fee example of domain.md §15, and its invariants (hypothesis)."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from club_billing.domain.fees import (
    SEED_TIERS,
    FeeInput,
    Player,
    TierRules,
    compute_fees,
    marginal_overage_cents,
    overage_cents,
)

SOCIAL, CORE, PREMIUM, VIP = (SEED_TIERS[s] for s in ("social", "core", "premium", "vip"))


def owner(tier, **kw):
    return Player(
        type="owner", slot=1, participant_id=1, email="owner@example.com", name="Owner", tier=tier, **kw
    )


def member(slot, tier, email="bo@example.com", **kw):
    return Player(
        type="member", slot=slot, participant_id=slot, email=email, name="Bo", user_id="u-bo", tier=tier, **kw
    )


def guest(slot, *, email="guest@example.com", name="Sam", pass_covered=False, placeholder=False, **kw):
    return Player(
        type="guest",
        slot=slot,
        participant_id=slot,
        email=None if placeholder else email,
        name=f"Guest {slot}" if placeholder else name,
        is_placeholder=placeholder,
        pass_covered=pass_covered,
        **kw,
    )


def staff(slot, **kw):
    return Player(
        type="member",
        slot=slot,
        participant_id=slot,
        email="pro@club.example",
        name="Pro",
        is_staff=True,
        **kw,
    )


def fees(players, minutes, declared, status="approved", resource="simulator"):
    return compute_fees(FeeInput(status, resource, minutes, declared, tuple(players)))


def by_slot(result):
    return {line.slot: line for line in result.lines}


# --- overage arithmetic --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("minutes", "allowance", "cents"),
    [
        (60, 0, 5000),
        (60, 60, 0),
        (61, 60, 2500),
        (90, 60, 2500),
        (91, 60, 5000),
        (120, 90, 2500),
        (1000, None, 0),
    ],
)
def test_overage_per_started_30_minutes(minutes, allowance, cents):
    assert overage_cents(minutes, allowance, 2500) == cents


def test_marginal_overage_against_earlier_usage():
    assert marginal_overage_cents(60, 30, 60, 2500) == 2500  # example 4, #102
    assert marginal_overage_cents(0, 30, 60, 2500) == 0


# --- domain.md §15, every fee example ------------------------------------------------------------

# fmt: off
EXAMPLES = {
    "1 social solo": (
        [owner(SOCIAL)], 60, 1, "approved", "simulator", {1: (60, 5000, 0)}, 5000,
    ),
    "2 owner absorbs a guest": (
        [owner(SOCIAL), guest(2, email="sam@example.com")], 60, 2, "approved", "simulator",
        {1: (60, 5000, 0), 2: (30, 0, 2500)}, 7500,
    ),
    "3 members, a pass, an empty slot": (
        [owner(CORE), member(2, PREMIUM), guest(3, name="Cy", email="cy@example.com", pass_covered=True)],
        120, 4, "approved", "simulator",
        {1: (90, 2500, 0), 2: (30, 0, 0), 3: (30, 0, 0), 4: (30, 0, 2500)}, 5000,
    ),
    "3b placeholder guest pays and holds no pass": (
        [owner(CORE), member(2, PREMIUM), guest(3, placeholder=True)],
        120, 4, "approved", "simulator",
        {1: (90, 2500, 0), 2: (30, 0, 0), 3: (30, 0, 2500), 4: (30, 0, 2500)}, 7500,
    ),
    "4 #101 uses the allowance": ([owner(CORE)], 60, 1, "approved", "simulator", {1: (60, 0, 0)}, 0),
    "4 #102 after 60 minutes that day": (
        [owner(CORE, used_before=60)], 30, 1, "approved", "simulator", {1: (30, 2500, 0)}, 2500,
    ),
    "4 #102 recomputed after #101 is cancelled": (
        [owner(CORE, used_before=0)], 30, 1, "approved", "simulator", {1: (30, 0, 0)}, 0,
    ),
    "5 unlimited owner, passes run out": (
        [
            owner(VIP),
            guest(2, email="g2@example.com", pass_covered=True),
            guest(3, email="g3@example.com"),
            guest(4, email="g4@example.com"),
        ],
        240, 4, "approved", "simulator",
        {1: (240, 0, 0), 2: (60, 0, 0), 3: (60, 0, 2500), 4: (60, 0, 2500)}, 5000,
    ),
    "6a golf instructor in slot 2": (
        [owner(CORE), staff(2)], 60, 2, "approved", "simulator", {1: (30, 0, 0), 2: (30, 0, 0)}, 0,
    ),
    "6b staff member's own booking": (
        [Player(type="owner", slot=1, participant_id=1, email="desk@club.example", is_staff=True)],
        180, 1, "approved", "simulator", {1: (180, 0, 0)}, 0,
    ),
    "7a example 3 declined": (
        [owner(CORE), member(2, PREMIUM), guest(3, name="Cy", email="cy@example.com", pass_covered=True)],
        120, 4, "declined", "simulator",
        {1: (90, 0, 0), 2: (30, 0, 0), 3: (30, 0, 0), 4: (30, 0, 0)}, 0,
    ),
    "7a cancellation_pending computes to 0": (
        [owner(SOCIAL), guest(2)], 60, 2, "cancellation_pending", "simulator", {1: (60, 0, 0), 2: (30, 0, 0)}, 0,
    ),
    "7b conference room, attendees not charged": (
        [owner(CORE), member(2, SOCIAL), guest(3), guest(4, email="g4@example.com")],
        90, 4, "confirmed", "conference_room",
        {1: (90, 2500, 0), 2: (0, 0, 0), 3: (0, 0, 0), 4: (0, 0, 0)}, 2500,
    ),
    "11 a staff booking across the DST change billed as 240 minutes": (
        [Player(type="owner", slot=1, participant_id=1, email="desk@club.example", is_staff=True)],
        240, 1, "approved", "simulator", {1: (240, 0, 0)}, 0,
    ),
    "14 late-cancel example before the cancel": (
        [owner(PREMIUM), guest(2, pass_covered=True)], 120, 2, "approved", "simulator",
        {1: (120, 2500, 0), 2: (60, 0, 0)}, 2500,
    ),
    "16 unresolvable tier: guests pay, no pass": (
        [owner(CORE), guest(2, email="a@example.com"), guest(3, email="b@example.com")],
        120, 3, "approved", "simulator",
        {1: (120, 5000, 0), 2: (40, 0, 2500), 3: (40, 0, 2500)}, 10000,
    ),
}
# fmt: on


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_domain_examples(name):
    players, minutes, declared, status, resource, expected, total = EXAMPLES[name]
    result = fees(players, minutes, declared, status, resource)
    got = {
        slot: (line.minutes, line.overage_cents, line.guest_fee_cents)
        for slot, line in by_slot(result).items()
    }
    assert got == expected
    assert result.total_cents == total


def test_example_3_lines_say_who_is_what():
    result = fees(
        [owner(CORE), member(2, PREMIUM), guest(3, name="Cy", email="cy@example.com", pass_covered=True)],
        120,
        4,
    )
    lines = by_slot(result)
    assert lines[1].allowance_minutes == 60 and lines[1].tier == "core"
    assert lines[2].allowance_minutes == 90 and lines[2].tier == "premium"
    assert lines[3].guest_pass_used and lines[3].total_cents == 0
    assert lines[4].participant_type == "empty_slot" and lines[4].display_name == "Empty Slot"
    assert result.allocations == {"owner@example.com": 90, "bo@example.com": 30}


def test_a_member_without_access_is_charged_as_a_guest_and_absorbed():
    lapsed = member(2, PREMIUM, in_access_status=False)
    lines = by_slot(fees([owner(CORE), lapsed], 120, 2))
    assert (lines[1].minutes, lines[1].overage_cents) == (120, 5000)
    assert (lines[2].guest_fee_cents, lines[2].overage_cents) == (2500, 0)


def test_a_guest_with_a_user_id_is_a_member():
    known = replace(guest(2), user_id="u-9", tier=PREMIUM)
    lines = by_slot(fees([owner(CORE), known], 120, 2))
    assert (lines[1].minutes, lines[1].overage_cents) == (60, 0)
    assert (lines[2].guest_fee_cents, lines[2].overage_cents) == (0, 0)


def test_the_owners_tier_guest_fee_applies():
    pricey = TierRules("gold", 60, 60, guest_fee_cents=4000)
    assert by_slot(fees([owner(pricey), guest(2)], 60, 2))[2].guest_fee_cents == 4000


def test_a_paid_line_is_never_recomputed():
    first = fees([owner(CORE, used_before=60)], 30, 1)
    paid = {line.key: replace(line, payment_status="paid") for line in first.lines}
    again = compute_fees(FeeInput("approved", "simulator", 30, 1, (owner(CORE, used_before=0),)), paid)
    [line] = again.lines
    assert (line.overage_cents, line.payment_status) == (2500, "paid")
    assert again.owed_cents() == 0


def test_a_waived_line_is_zero():
    result = fees([owner(SOCIAL, payment_status="waived")], 60, 1)
    assert result.total_cents == 0 and result.lines[0].payment_status == "waived"


# --- invariants ----------------------------------------------------------------------------------

tiers = st.sampled_from([SOCIAL, SEED_TIERS["core"], PREMIUM, SEED_TIERS["corporate"], VIP, None])
statuses = st.sampled_from(
    [
        "pending",
        "approved",
        "confirmed",
        "checked_in",
        "attended",
        "cancelled",
        "declined",
        "cancellation_pending",
    ]
)


@st.composite
def others(draw, max_size=3):
    count = draw(st.integers(0, max_size))
    players = []
    for i in range(count):
        slot = i + 2
        kind = draw(st.sampled_from(["member", "guest", "staff", "lapsed"]))
        used = draw(st.integers(0, 300))
        if kind == "member":
            players.append(member(slot, draw(tiers), email=f"m{slot}@example.com", used_before=used))
        elif kind == "lapsed":
            players.append(member(slot, draw(tiers), email=f"m{slot}@example.com", in_access_status=False))
        elif kind == "staff":
            players.append(staff(slot))
        else:
            placeholder = draw(st.booleans())
            players.append(
                guest(
                    slot,
                    email=f"g{slot}@example.com",
                    pass_covered=draw(st.booleans()),
                    placeholder=placeholder,
                )
            )
    return players


@st.composite
def bookings(draw):
    rest = draw(others())
    the_owner = owner(
        draw(tiers),
        used_before=draw(st.integers(0, 300)),
        is_staff=draw(st.booleans()) and draw(st.booleans()),
    )
    declared = draw(st.integers(max(1, len(rest) + 1) if draw(st.booleans()) else 1, 4))
    return FeeInput(
        draw(statuses),
        draw(st.sampled_from(["simulator", "conference_room"])),
        draw(st.integers(1, 480)),
        declared,
        (the_owner, *rest),
    )


@settings(max_examples=300, deadline=None)
@given(bookings())
def test_fees_are_never_negative_and_lines_add_up(fee_input):
    result = compute_fees(fee_input)
    for line in result.lines:
        assert line.overage_cents >= 0 and line.guest_fee_cents >= 0 and line.minutes >= 0
        assert line.total_cents == line.overage_cents + line.guest_fee_cents
    assert result.total_cents == sum(line.total_cents for line in result.lines) >= 0
    # one line per participant and per empty declared slot
    assert len(result.lines) >= len(fee_input.players)
    assert len({line.key for line in result.lines}) == len(result.lines)


@settings(max_examples=200, deadline=None)
@given(bookings())
def test_staff_owners_and_zero_fee_statuses_cost_nothing(fee_input):
    for status in ("cancelled", "declined", "cancellation_pending"):
        assert compute_fees(replace(fee_input, status=status)).total_cents == 0
    staff_owner = replace(fee_input.players[0], is_staff=True)
    assert compute_fees(replace(fee_input, players=(staff_owner, *fee_input.players[1:]))).total_cents == 0


@settings(max_examples=200, deadline=None)
@given(bookings())
def test_staff_participants_and_unlimited_tiers_pay_no_overage(fee_input):
    result = compute_fees(fee_input)
    for player, line in zip(
        sorted(fee_input.players, key=lambda p: (p.type != "owner", p.slot)), result.lines, strict=False
    ):
        if player.is_staff:
            assert line.total_cents == 0
        if player.tier is VIP and player.in_access_status:
            assert line.overage_cents == 0


@settings(max_examples=300, deadline=None)
@given(bookings(), st.booleans())
def test_filling_an_empty_slot_with_a_guest_never_lowers_the_total(fee_input, placeholder):
    used = {p.slot for p in fee_input.players}
    free = [s for s in range(2, 5) if s not in used]
    if fee_input.declared_player_count <= len(fee_input.players) or not free:
        return
    before = compute_fees(fee_input).total_cents
    newcomer = guest(free[0], email="new@example.com", placeholder=placeholder)
    after = compute_fees(replace(fee_input, players=(*fee_input.players, newcomer))).total_cents
    assert after >= before


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from([SOCIAL, SEED_TIERS["core"], PREMIUM, VIP]),
    st.integers(1, 480),
    st.integers(0, 2),
    st.integers(0, 300),
)
def test_adding_a_paying_guest_to_owner_and_guests_never_lowers_the_total(tier, minutes, guests, used_before):
    players = [owner(tier, used_before=used_before)] + [
        guest(i + 2, email=f"g{i}@example.com") for i in range(guests)
    ]
    before = fees(players, minutes, len(players)).total_cents
    players.append(guest(len(players) + 1, email="new@example.com"))
    assert fees(players, minutes, len(players)).total_cents >= before


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from([SOCIAL, SEED_TIERS["core"], PREMIUM, VIP]),
    st.lists(st.integers(1, 240), min_size=1, max_size=5),
)
def test_a_days_bookings_add_up_to_the_overage_of_the_days_minutes(tier, durations):
    """Marginal pricing: however a member splits a day, they pay the overage of the day's total."""
    used, paid = 0, 0
    for minutes in durations:
        paid += fees([owner(tier, used_before=used)], minutes, 1).total_cents
        used += minutes
    assert paid == overage_cents(used, tier.daily_sim_minutes, 2500)


@settings(max_examples=200, deadline=None)
@given(bookings(), st.integers(1, 120))
def test_a_longer_booking_never_costs_less(fee_input, extra):
    longer = replace(fee_input, duration_minutes=fee_input.duration_minutes + extra)
    assert compute_fees(longer).total_cents >= compute_fees(fee_input).total_cents


@settings(max_examples=200, deadline=None)
@given(bookings())
def test_recomputing_is_deterministic_and_keeps_paid_lines(fee_input):
    first = compute_fees(fee_input)
    assert compute_fees(fee_input) == first
    paid = {line.key: replace(line, payment_status="paid") for line in first.lines}
    again = compute_fees(fee_input, paid)
    for line in again.lines:
        if line.key in paid and fee_input.players and line.participant_type != "empty_slot":
            assert line == paid[line.key] or line.payment_status != "paid"
