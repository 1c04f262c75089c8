"""How pages print numbers: counts with thousands separators, minutes as hours or days, amounts
with two decimals and the currency when the action declares one, an action's argument as people
read it. Pure functions, so the unit tests and every template print the same figure the same way."""

from __future__ import annotations

import json
from decimal import Decimal, InvalidOperation
from typing import Any

__all__ = ["amount_currency", "format_amount", "format_count", "format_minutes", "format_value"]


def format_count(value: Any) -> str:
    """880874 -> "880,874"; "–" for None or what is not a number."""
    if value is None or isinstance(value, bool):
        return "–"
    try:
        return f"{int(value):,}"
    except (TypeError, ValueError):
        return "–"


def format_minutes(minutes: Any) -> str:
    """A due time in minutes as people plan it: "45 min", "2 h", "1 h 30 min", "1 day", "3 days"."""
    try:
        total = int(minutes)
    except (TypeError, ValueError):
        return "–"
    if total < 60:
        return f"{total} min"
    days, rest = divmod(total, 1440)
    hours, mins = divmod(rest, 60)
    if days and not rest:
        return f"{days} day" if days == 1 else f"{days} days"
    if days:
        return f"{days} d {hours} h" if hours else f"{days} d {mins} min"
    return f"{hours} h {mins} min" if mins else f"{hours} h"


def amount_currency(schema: dict[str, Any] | None, field: str) -> str | None:
    """The currency an args_schema declares for `field`: a "currency" key, or "format": "currency:EUR"."""
    prop = ((schema or {}).get("properties") or {}).get(field) or {}
    if isinstance(prop.get("currency"), str):
        return str(prop["currency"])
    fmt = prop.get("format")
    if isinstance(fmt, str) and fmt.startswith("currency:"):
        return fmt.split(":", 1)[1] or None
    return None


def format_amount(value: Any, currency: str | None = None) -> str:
    """250 -> "250.00"; with a currency, "250.00 USD"; a value that is not a number is shown as is."""
    if value is None or isinstance(value, bool):
        return "–" if value is None else str(value)
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return str(value)
    if not number.is_finite():
        return str(value)
    shown = f"{number.quantize(Decimal('0.01')):,}"
    return f"{shown} {currency}" if currency else shown


def format_value(value: Any, currency: str | None = None) -> str:
    """An argument's value as people read it: an amount with its currency ("150.00 USD") when one
    is declared, a number with thousands separators and no stray ".0" ("1,500", "0.125"), "yes"
    or "no", "–" for null, a string as it is, and a nested value as indented JSON (for a <pre>)."""
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, float)):
        return format_amount(value, currency) if currency else _plain_number(value)
    if isinstance(value, (dict, list)):
        return json.dumps(value, indent=2, ensure_ascii=False, default=str)
    return str(value)


def _plain_number(value: int | float) -> str:
    number = Decimal(str(value))
    if not number.is_finite():
        return str(value)
    if number == number.to_integral_value():
        return f"{int(number):,}"
    # The shortest repr Python gives a float ("0.1", not "0.1000000000000000055"), grouped.
    return f"{number:,f}"
