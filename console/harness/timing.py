"""Timing requests made in-process, for the benchmark commands: total and database time."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from django.db import connection

__all__ = ["time_calls"]


def time_calls(call: Callable[[], Any], repeat: int, warmup: int) -> tuple[list[float], list[float], int]:
    """Run `call` `warmup` times untimed, then `repeat` times.

    Returns:
        Milliseconds of each timed call, milliseconds spent in the database during each, and
        the size of the last response's body.
    """
    for _ in range(warmup):
        call()
    timings: list[float] = []
    db_timings: list[float] = []
    size = 0
    in_database = [0.0]

    def timed_query(execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any) -> Any:
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            in_database[0] += time.perf_counter() - started

    with connection.execute_wrapper(timed_query):
        for _ in range(repeat):
            in_database[0] = 0.0
            started = time.perf_counter()
            response = call()
            timings.append((time.perf_counter() - started) * 1000)
            db_timings.append(in_database[0] * 1000)
            size = len(response.content)
    return timings, db_timings, size
