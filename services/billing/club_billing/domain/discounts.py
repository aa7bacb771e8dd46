"""Discount rules (domain.md §6.4): the highest applicable percentage wins, no stacking; each rule
is a Stripe coupon `{TAG}_{PCT}PCT`."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

TAG = re.compile(r"^[A-Z][A-Z0-9]{0,39}$")


@dataclass(frozen=True)
class Discount:
    tag: str
    percent: int
    is_active: bool = True


def coupon_id(tag: str, percent: int) -> str:
    return f"{tag}_{percent}PCT"


def best_discount(rules: Iterable[Discount], applicable_tags: Iterable[str]) -> Discount | None:
    """The one discount to apply: the highest percentage among active rules whose tag applies."""
    tags = set(applicable_tags)
    candidates = [r for r in rules if r.is_active and r.tag in tags and 0 < r.percent <= 100]
    return max(candidates, key=lambda r: (r.percent, r.tag), default=None)


def discounted_cents(amount_cents: int, discount: Discount | None) -> int:
    """The amount after the discount, rounded to the nearest cent (never below 0)."""
    if discount is None:
        return amount_cents
    return max(0, amount_cents - (amount_cents * discount.percent + 50) // 100)
