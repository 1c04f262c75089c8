"""Argument types the management commands share (argparse calls them with the text given).

argparse names the function in its error ("invalid positive value: '0'"), so the names are words.
"""

from __future__ import annotations

__all__ = ["non_negative", "positive"]


def positive(value: str) -> int:
    """A whole number of at least 1."""
    number = int(value)
    if number < 1:
        raise ValueError("must be at least 1")
    return number


def non_negative(value: str) -> int:
    """A whole number of at least 0."""
    number = int(value)
    if number < 0:
        raise ValueError("must not be negative")
    return number
