"""What a model call cost, from the per-model price table."""

from __future__ import annotations

from django.conf import settings

__all__ = ["price"]


def price(model: str, tokens_in: int, tokens_out: int) -> float:
    """Cost in USD from the per-model price table (`STEWARD_MODEL_PRICES`, per 1,000 tokens)."""
    prices = settings.STEWARD_MODEL_PRICES.get(model)
    if not prices:
        return 0.0
    return round(tokens_in / 1000 * prices["input"] + tokens_out / 1000 * prices["output"], 8)
