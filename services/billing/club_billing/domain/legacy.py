"""Legacy purchases (domain.md §6.7): one CSV row of a past point-of-sale export, validated.

Columns (header row required, order free): sale_id, line_no, email, purchase_date (YYYY-MM-DD),
category, product_type (or item_name), amount (dollars, e.g. 12.50) or amount_cents, is_comp
(true/false/yes/no/1/0, optional), linked_session_id (optional).
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation

REQUIRED = ("sale_id", "line_no", "email", "purchase_date")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
TRUE = {"true", "yes", "1", "y", "t"}
FALSE = {"false", "no", "0", "n", "f", ""}


@dataclass(frozen=True)
class LegacyRow:
    source_sale_id: str
    line_no: int
    email: str
    purchase_date: date
    category: str | None
    product_type: str
    amount_cents: int
    is_comp: bool
    linked_session_id: int | None


@dataclass(frozen=True)
class Rejected:
    row: int  # 1-based data row (header excluded)
    reason: str
    raw: dict


def parse(text: str) -> tuple[list[tuple[int, LegacyRow]], list[Rejected], list[str]]:
    """(rows that are valid, with their row number; rejected rows with reasons; header problems)."""
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip().lower() for h in (reader.fieldnames or [])]
    missing = [c for c in REQUIRED if c not in header]
    if "amount" not in header and "amount_cents" not in header:
        missing.append("amount or amount_cents")
    if missing:
        return [], [], [f"missing column(s): {', '.join(missing)}"]
    rows, rejected = [], []
    seen: set[tuple[str, int]] = set()
    for number, raw in enumerate(reader, start=1):
        clean = {(k or "").strip().lower(): (v or "").strip() for k, v in raw.items() if k is not None}
        try:
            row = _row(clean)
        except ValueError as exc:
            rejected.append(Rejected(number, str(exc), clean))
            continue
        key = (row.source_sale_id, row.line_no)
        if key in seen:
            rejected.append(Rejected(number, f"duplicate of sale {key[0]} line {key[1]} in this file", clean))
            continue
        seen.add(key)
        rows.append((number, row))
    return rows, rejected, []


def _row(raw: dict) -> LegacyRow:
    sale = raw.get("sale_id", "")
    if not sale or len(sale) > 100:
        raise ValueError("sale_id is missing or longer than 100 characters")
    try:
        line_no = int(raw.get("line_no", ""))
    except ValueError:
        raise ValueError(f"line_no {raw.get('line_no')!r} is not a whole number") from None
    if line_no < 1:
        raise ValueError("line_no must be 1 or more")
    email = raw.get("email", "").lower()
    if not EMAIL.match(email) or len(email) > 320:
        raise ValueError(f"email {raw.get('email')!r} is not an e-mail address")
    try:
        purchased = date.fromisoformat(raw.get("purchase_date", ""))
    except ValueError:
        raise ValueError(f"purchase_date {raw.get('purchase_date')!r} is not YYYY-MM-DD") from None
    if raw.get("amount_cents"):
        try:
            cents = int(raw["amount_cents"])
        except ValueError:
            raise ValueError(f"amount_cents {raw['amount_cents']!r} is not a whole number") from None
    else:
        try:
            amount = Decimal(raw.get("amount", "").replace("$", "").replace(",", ""))
        except InvalidOperation:
            raise ValueError(f"amount {raw.get('amount')!r} is not a number") from None
        if amount != amount.quantize(Decimal("0.01")):
            raise ValueError(f"amount {raw.get('amount')!r} has more than two decimals")
        cents = int(amount * 100)
    if cents < 0 or cents > 10_000_000:
        raise ValueError("amount is negative or implausibly large")
    comp = raw.get("is_comp", "").lower()
    if comp not in TRUE | FALSE:
        raise ValueError(f"is_comp {raw.get('is_comp')!r} is not true or false")
    linked = raw.get("linked_session_id") or None
    if linked is not None and not linked.isdigit():
        raise ValueError(f"linked_session_id {linked!r} is not a number")
    product = raw.get("product_type") or raw.get("item_name") or raw.get("category") or "unknown"
    return LegacyRow(
        source_sale_id=sale,
        line_no=line_no,
        email=email,
        purchase_date=purchased,
        category=raw.get("category") or None,
        product_type=product[:100],
        amount_cents=cents,
        is_comp=comp in TRUE,
        linked_session_id=int(linked) if linked else None,
    )
