"""Capturing what the JSON log formatter writes."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from io import StringIO


@contextmanager
def json_log_lines(levels: dict[str, int]) -> Iterator[StringIO]:
    """What the JSON formatter settings install writes, from a handler on the root logger into a
    buffer. Each logger in `levels` is set to its level and enabled for the while, whatever an
    earlier test left it at (one CI run lost a line that way), then put back."""
    from console.kernel.logs import formatter

    stream = StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter("json"))
    root = logging.getLogger()
    saved = {name: (logging.getLogger(name).level, logging.getLogger(name).disabled) for name in levels}
    root.addHandler(handler)
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)
        logging.getLogger(name).disabled = False
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        for name, (level, disabled) in saved.items():
            logging.getLogger(name).setLevel(level)
            logging.getLogger(name).disabled = disabled
