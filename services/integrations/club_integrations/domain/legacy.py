"""Legacy point-of-sale exports (domain.md §6.7): each line of a sale becomes a legacy purchase."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation

from . import settings as club_settings

COLUMNS = {
    "source_sale_id": ("saleid", "sourcesaleid", "receipt", "receiptid", "orderid", "transactionid"),
    "line_no": ("line", "lineno", "linenumber"),
    "email": ("email", "customeremail", "memberemail"),
    "date": ("date", "saledate", "purchasedon", "purchasedate"),
    "category": ("category", "department"),
    "item_name": ("item", "itemname", "description", "product"),
    "quantity": ("quantity", "qty"),
    "amount": ("amount", "total", "price", "linetotal"),
    "is_comp": ("comp", "iscomp", "complimentary"),
}
REQUIRED = ("source_sale_id", "date", "item_name", "amount")
MAX_ROWS = 50_000


class LegacyRefused(ValueError):
    pass


@dataclass(frozen=True)
class LegacyLine:
    line: int
    source_sale_id: str
    line_no: int
    member_email: str | None
    purchased_on: date
    category: str | None
    item_name: str
    quantity: int
    amount_cents: int
    is_comp: bool


def parse(text: str, placeholder_patterns: Iterable[str]) -> tuple[list[LegacyLine], list[tuple[int, str]]]:
    patterns = list(placeholder_patterns)
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        raise LegacyRefused("The file is empty.") from None
    except csv.Error as exc:
        raise LegacyRefused(f"The file is not CSV: {exc}") from None
    index: dict[str, int] = {}
    for i, raw in enumerate(header):
        key = re.sub(r"[^a-z0-9]", "", raw.lower())
        for name, aliases in COLUMNS.items():
            if key in aliases and name not in index:
                index[name] = i
    missing = [c for c in REQUIRED if c not in index]
    if missing:
        raise LegacyRefused(f"Missing columns: {', '.join(missing)}.")
    lines: list[LegacyLine] = []
    errors: list[tuple[int, str]] = []
    per_sale: dict[str, int] = {}
    try:
        for number, values in enumerate(reader, start=2):
            if not any(v.strip() for v in values):
                continue
            if len(lines) + len(errors) >= MAX_ROWS:
                raise LegacyRefused(f"More than {MAX_ROWS} rows: split the file.")
            row = {name: values[i].strip() if i < len(values) else "" for name, i in index.items()}
            try:
                lines.append(_line(number, row, per_sale, patterns))
            except ValueError as exc:
                errors.append((number, str(exc)))
    except csv.Error as exc:
        raise LegacyRefused(f"The file is not CSV: {exc}") from None
    return lines, errors


def _line(number: int, row: dict[str, str], per_sale: dict[str, int], patterns: list[str]) -> LegacyLine:
    sale = row["source_sale_id"]
    if not sale:
        raise ValueError("No sale id.")
    if row.get("line_no"):
        if not row["line_no"].isdigit() or int(row["line_no"]) < 1:
            raise ValueError(f"Not a line number: {row['line_no']!r}.")
        line_no = int(row["line_no"])
    else:
        line_no = per_sale.get(sale, 0) + 1
    per_sale[sale] = max(per_sale.get(sale, 0), line_no)
    raw_date = row["date"]
    us = re.match(r"^(\d{1,2})/(\d{1,2})/(\d{4})", raw_date)
    try:
        day = (
            date(int(us.group(3)), int(us.group(1)), int(us.group(2)))
            if us
            else date.fromisoformat(raw_date[:10])
        )
    except ValueError:
        raise ValueError(f"Not a date: {raw_date!r}.") from None
    amount_text = row["amount"].replace("$", "").replace(",", "").strip()
    try:
        cents = int((Decimal(amount_text) * 100).to_integral_value())
    except InvalidOperation:
        raise ValueError(f"Not an amount: {row['amount']!r}.") from None
    quantity = row.get("quantity") or "1"
    if not re.fullmatch(r"-?\d+", quantity):
        raise ValueError(f"Not a quantity: {quantity!r}.")
    comp_text = (row.get("is_comp") or "").lower()
    is_comp = comp_text in ("1", "true", "yes", "y", "comp") or (
        cents == 0 and "comp" in (row.get("category") or "").lower()
    )
    if not row["item_name"]:
        raise ValueError("No item.")
    return LegacyLine(
        line=number,
        source_sale_id=sale[:100],
        line_no=line_no,
        member_email=club_settings.real_email(row.get("email"), patterns),
        purchased_on=day,
        category=(row.get("category") or None) and row["category"][:100],
        item_name=row["item_name"][:300],
        quantity=int(quantity),
        amount_cents=cents,
        is_comp=is_comp,
    )
