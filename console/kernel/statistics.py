"""Percentiles in Python, the same way Postgres' `percentile_cont` computes them."""

from __future__ import annotations

import math
from collections.abc import Sequence

__all__ = ["median", "percentile"]


def percentile(values: Sequence[float], fraction: float) -> float | None:
    """The `fraction` percentile of `values` (0.95 for p95) by linear interpolation.

    Returns None for no values, so "nothing measured yet" is not mistaken for zero.
    """
    if not values:
        return None
    ordered = sorted(values)
    position = fraction * (len(ordered) - 1)
    lower, upper = math.floor(position), math.ceil(position)
    return ordered[lower] + (ordered[upper] - ordered[lower]) * (position - lower)


def median(values: Sequence[float]) -> float | None:
    return percentile(values, 0.5)
