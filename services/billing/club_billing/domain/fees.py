"""The fee engine (domain.md §5.1–5.2): plain Python, no Flask, no SQL.

One line per participant plus one per empty declared slot. Inputs are what billing knows from its
read models: the booking's fee input (from booking's events), each member's tier rules and status,
and the minutes already allocated to each member earlier that club day (`used_before`).

Money is integer cents; minutes are the booking's real duration (never a wall-clock difference).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace

SIMULATOR = "simulator"
CONFERENCE_ROOM = "conference_room"
RESOURCE_TYPES = (SIMULATOR, CONFERENCE_ROOM)

#: Fees are 0 in these statuses (§4.2).
ZERO_FEE_STATUSES = frozenset({"cancelled", "declined", "cancellation_pending"})
#: Bookings in these statuses do not count as earlier usage of the day (§5.2 rule 8).
NOT_USAGE_STATUSES = frozenset({"cancelled", "declined", "expired"})
#: Member statuses that give access (§2.2).
ACCESS_STATUSES = frozenset({"active", "trialing", "past_due"})

BLOCK_MINUTES = 30
DEFAULT_OVERAGE_RATE_CENTS = 2500
DEFAULT_GUEST_FEE_CENTS = 2500
#: A daily allowance at or above this many minutes is unlimited (membership's convention).
UNLIMITED_MINUTES = 999

EMPTY_SLOT = "empty_slot"


@dataclass(frozen=True)
class TierRules:
    """What billing needs of a tier: its daily allowances and guest fee. None = unlimited."""

    slug: str
    daily_sim_minutes: int | None
    daily_conf_minutes: int | None
    guest_fee_cents: int = DEFAULT_GUEST_FEE_CENTS

    def allowance(self, resource_type: str) -> int | None:
        return self.daily_conf_minutes if resource_type == CONFERENCE_ROOM else self.daily_sim_minutes

    @classmethod
    def from_limits(
        cls,
        slug: str,
        *,
        daily_sim_minutes: int,
        daily_conf_minutes: int,
        guest_fee_cents: int,
        unlimited_access: bool = False,
    ) -> TierRules:
        def limit(minutes: int) -> int | None:
            return None if unlimited_access or minutes >= UNLIMITED_MINUTES else max(0, minutes)

        return cls(slug, limit(daily_sim_minutes), limit(daily_conf_minutes), max(0, guest_fee_cents))


#: The seed tiers of domain.md §2.1 (used until membership tells us otherwise).
SEED_TIERS: dict[str, TierRules] = {
    "social": TierRules("social", 0, 0),
    "core": TierRules("core", 60, 60),
    "premium": TierRules("premium", 90, 90),
    "corporate": TierRules("corporate", 90, 90),
    "vip": TierRules("vip", None, None),
}


@dataclass(frozen=True)
class Player:
    """One participant of the booking as the fee input names it, with what billing knows of them."""

    type: str  # owner | member | guest
    slot: int
    participant_id: int | None = None
    email: str | None = None
    name: str | None = None
    user_id: str | None = None
    is_staff: bool = False
    is_placeholder: bool = False
    #: a guest pass covers this guest (held before the session, converted or consumed after)
    pass_covered: bool = False
    payment_status: str | None = None
    #: the member's tier (None: unknown, or a guest)
    tier: TierRules | None = None
    #: the member is in an access status (§2.2); unknown members count as in access
    in_access_status: bool = True
    #: minutes allocated to this member earlier that club day on the same resource type
    used_before: int = 0

    @property
    def key(self) -> str:
        """Identifies the line across recomputations."""
        if self.participant_id is not None:
            return f"p{self.participant_id}"
        return f"s{self.slot}"


@dataclass(frozen=True)
class FeeInput:
    status: str
    resource_type: str
    duration_minutes: int
    declared_player_count: int
    players: tuple[Player, ...]
    overage_rate_cents: int = DEFAULT_OVERAGE_RATE_CENTS
    #: the `guest-pass` product price, used when the owner's tier has no guest fee
    default_guest_fee_cents: int = DEFAULT_GUEST_FEE_CENTS


@dataclass(frozen=True)
class FeeLine:
    key: str
    participant_type: str  # owner | member | guest | empty_slot
    slot: int
    participant_id: int | None
    email: str | None
    display_name: str | None
    minutes: int
    overage_cents: int
    guest_fee_cents: int
    guest_pass_used: bool
    payment_status: str
    tier: str | None
    allowance_minutes: int | None
    used_before_minutes: int
    is_staff: bool = False

    @property
    def total_cents(self) -> int:
        return self.overage_cents + self.guest_fee_cents

    def as_dict(self) -> dict:
        return {
            "key": self.key,
            "participant_id": self.participant_id,
            "email": self.email,
            "display_name": self.display_name,
            "participant_type": self.participant_type,
            "slot": self.slot,
            "minutes": self.minutes,
            "overage_cents": self.overage_cents,
            "guest_fee_cents": self.guest_fee_cents,
            "total_cents": self.total_cents,
            "guest_pass_used": self.guest_pass_used,
            "payment_status": self.payment_status,
            "tier": self.tier,
            "allowance_minutes": self.allowance_minutes,
            "used_before_minutes": self.used_before_minutes,
            "is_staff": self.is_staff,
        }

    @classmethod
    def from_dict(cls, raw: Mapping) -> FeeLine:
        return cls(
            key=raw["key"],
            participant_type=raw["participant_type"],
            slot=raw["slot"],
            participant_id=raw.get("participant_id"),
            email=raw.get("email"),
            display_name=raw.get("display_name"),
            minutes=raw["minutes"],
            overage_cents=raw["overage_cents"],
            guest_fee_cents=raw["guest_fee_cents"],
            guest_pass_used=raw["guest_pass_used"],
            payment_status=raw["payment_status"],
            tier=raw.get("tier"),
            allowance_minutes=raw.get("allowance_minutes"),
            used_before_minutes=raw.get("used_before_minutes", 0),
            is_staff=raw.get("is_staff", False),
        )


@dataclass(frozen=True)
class FeeResult:
    lines: tuple[FeeLine, ...]
    #: minutes to count as this booking's usage, per member e-mail (for later bookings that day)
    allocations: dict[str, int] = field(default_factory=dict)

    @property
    def total_cents(self) -> int:
        return sum(line.total_cents for line in self.lines)

    def owed_cents(self) -> int:
        """What is still to pay: lines neither paid, waived nor refunded."""
        return sum(line.total_cents for line in self.lines if line.payment_status == "pending")


def overage_cents(minutes: int, allowance: int | None, rate_cents: int) -> int:
    """ceil(max(0, minutes − allowance) / 30) × rate; an unlimited allowance never pays."""
    if allowance is None:
        return 0
    over = max(0, minutes - allowance)
    return -(-over // BLOCK_MINUTES) * rate_cents


def marginal_overage_cents(used_before: int, minutes: int, allowance: int | None, rate_cents: int) -> int:
    """The fee for `minutes` more after `used_before` that day (§5.2 rule 8)."""
    return overage_cents(used_before + minutes, allowance, rate_cents) - overage_cents(
        used_before, allowance, rate_cents
    )


def _is_member(player: Player) -> bool:
    """Owner and members; a "guest" with a user id is a member (rule 9)."""
    return player.type in ("owner", "member") or (player.type == "guest" and bool(player.user_id))


def compute_fees(fee_input: FeeInput, previous: Mapping[str, FeeLine] | None = None) -> FeeResult:
    """The lines of one booking. `previous` holds the lines of the last computation, by key: a
    line that was paid is kept exactly as it was (rule: a paid line is never recomputed)."""
    previous = previous or {}
    players = sorted(fee_input.players, key=lambda p: (p.type != "owner", p.slot))
    owner = next((p for p in players if p.type == "owner"), None)
    resource_type = fee_input.resource_type
    conference = resource_type == CONFERENCE_ROOM
    zero = fee_input.status in ZERO_FEE_STATUSES or (owner is not None and owner.is_staff)
    duration = max(0, fee_input.duration_minutes)
    declared = max(1, fee_input.declared_player_count)
    effective = max(declared, len(players), 1)
    share = duration if conference else duration // effective
    owner_tier = owner.tier if owner is not None else None
    guest_fee = owner_tier.guest_fee_cents if owner_tier and owner_tier.guest_fee_cents else None
    if guest_fee is None:
        guest_fee = max(0, fee_input.default_guest_fee_cents)
    rate = max(0, fee_input.overage_rate_cents)

    # Who pays as a member, who as a guest, whose minutes the owner absorbs.
    absorbed = 0
    roles: list[tuple[Player, str]] = []  # (player, "owner" | "member" | "guest" | "staff")
    for player in players:
        if player.is_staff:
            roles.append((player, "staff"))
        elif player.type == "owner":
            roles.append((player, "owner"))
        elif _is_member(player) and player.in_access_status:
            roles.append((player, "member"))
        else:
            roles.append((player, "guest"))
            absorbed += 1
    empty_slots = 0 if conference else max(0, declared - len(players))
    absorbed += empty_slots

    lines: list[FeeLine] = []
    allocations: dict[str, int] = {}
    for player, role in roles:
        prior = previous.get(player.key)
        if prior is not None and prior.payment_status == "paid" and player.payment_status in (None, "paid"):
            lines.append(prior)
            if role in ("owner", "member") and player.email:
                allocations[player.email] = allocations.get(player.email, 0) + prior.minutes
            continue
        status = player.payment_status or "pending"
        tier = player.tier
        allowance = tier.allowance(resource_type) if tier is not None else 0
        minutes, overage, guest_cents, pass_used = 0, 0, 0, False
        if role == "staff":
            minutes = 0 if conference and player.type != "owner" else share
            allowance = None
        elif role == "owner":
            minutes = share + (0 if conference else share * absorbed)
            overage = marginal_overage_cents(player.used_before, minutes, allowance, rate)
        elif role == "member":
            minutes = 0 if conference else share
            overage = marginal_overage_cents(player.used_before, minutes, allowance, rate)
        else:  # a guest, or a member without access charged as one
            minutes = 0 if conference else share
            pass_used = player.pass_covered and not player.is_placeholder and not _is_member(player)
            guest_cents = 0 if conference or pass_used else guest_fee
            allowance = None
        if zero or status in ("waived", "refunded"):
            overage, guest_cents = 0, 0
        if fee_input.status in ZERO_FEE_STATUSES:
            pass_used = False
        if role in ("owner", "member") and player.email and fee_input.status not in NOT_USAGE_STATUSES:
            allocations[player.email] = allocations.get(player.email, 0) + minutes
        lines.append(
            FeeLine(
                key=player.key,
                participant_type=player.type,
                slot=player.slot,
                participant_id=player.participant_id,
                email=player.email,
                display_name=player.name,
                minutes=minutes,
                overage_cents=overage,
                guest_fee_cents=guest_cents,
                guest_pass_used=pass_used,
                payment_status=status,
                tier=tier.slug if tier is not None and role != "guest" else None,
                allowance_minutes=allowance if role in ("owner", "member") else None,
                used_before_minutes=player.used_before if role in ("owner", "member") else 0,
                is_staff=player.is_staff,
            )
        )

    used_slots = {p.slot for p in players}
    free_slots = [s for s in range(1, 5) if s not in used_slots]
    for index in range(empty_slots):
        slot = free_slots[index] if index < len(free_slots) else len(players) + index + 1
        key = f"e{slot}"
        prior = previous.get(key)
        if prior is not None and prior.payment_status == "paid":
            lines.append(prior)
            continue
        status = prior.payment_status if prior is not None and prior.payment_status == "waived" else "pending"
        lines.append(
            FeeLine(
                key=key,
                participant_type=EMPTY_SLOT,
                slot=slot,
                participant_id=None,
                email=None,
                display_name="Empty Slot",
                minutes=share,
                overage_cents=0,
                guest_fee_cents=0 if zero or status == "waived" else guest_fee,
                guest_pass_used=False,
                payment_status=status,
                tier=None,
                allowance_minutes=None,
                used_before_minutes=0,
            )
        )
    return FeeResult(tuple(lines), allocations)


def with_payment_status(lines: Iterable[FeeLine], keys: Iterable[str], status: str) -> tuple[FeeLine, ...]:
    """The lines with `status` on those whose key is in `keys` (waived lines drop to 0)."""
    wanted = set(keys)
    out = []
    for line in lines:
        if line.key in wanted:
            line = replace(line, payment_status=status)
            if status == "waived":
                line = replace(line, overage_cents=0, guest_fee_cents=0)
        out.append(line)
    return tuple(out)
