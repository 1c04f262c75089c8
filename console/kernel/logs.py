"""Log lines through structlog: JSON lines in production, readable lines while developing.

Every standard-library logger (``logging.getLogger(__name__)`` across the code, Django,
Celery) goes through structlog's ProcessorFormatter, so existing log calls come out in the
same format, with whatever is bound in structlog's contextvars: a run execution binds
``run_id`` and ``trace_id`` (agents/engine/runtime.py), the recorder ``span_id`` (traces/recording/recorder.py).
Settings pick the format (``STEWARD_LOG_FORMAT``) and name ``formatter`` in LOGGING.
Every line has its secrets redacted (console/kernel/redaction.py) before it is written.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import structlog
from django.core.exceptions import ImproperlyConfigured

from console.kernel.redaction import redact_log_event

__all__ = ["FORMATS", "ForbiddenWithoutTraceback", "formatter", "logging_config"]

FORMATS = ("json", "console")


def _shared_processors() -> list[Any]:
    return [
        structlog.contextvars.merge_contextvars,
        # `extra={...}` of a standard-library call becomes fields of the line.
        structlog.stdlib.ExtraAdder(),
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]


def _configure_structlog() -> None:
    # Loggers from structlog.get_logger() hand their event to the standard library's handlers,
    # so both kinds of logger end up in the one formatter below.
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *_shared_processors(),
            structlog.processors.StackInfoRenderer(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )


def formatter(output: str = "json") -> logging.Formatter:
    """The formatter LOGGING names (dictConfig calls this when Django sets logging up).

    Args:
        output: "json" (one JSON object per line) or "console" (key=value, for people).
    """
    if output not in FORMATS:
        raise ValueError(f"STEWARD_LOG_FORMAT must be one of {', '.join(FORMATS)}, not {output!r}")
    _configure_structlog()
    renderer: Any
    if output == "json":
        renderer = structlog.processors.JSONRenderer()
    else:
        renderer = structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=_shared_processors(),
        # Secrets are redacted from every line, whoever logged it; a traceback is rendered to
        # text first (in both formats) so that it is redacted too.
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, redact_log_event, renderer],
    )


class ForbiddenWithoutTraceback(logging.Filter):
    """Django's django.request logger attaches the PermissionDenied traceback to its "Forbidden"
    warning. A 403 is an answer, not an error: keep the one warning line, drop the traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "status_code", None) == 403:
            record.exc_info = None
            record.exc_text = None
        return True


def logging_config(output: str, level: str) -> dict[str, Any]:
    """LOGGING for settings: one stream handler on the root logger, quieter noisy libraries."""
    if output not in FORMATS:
        # Settings are read before logging exists: fail loudly at start, not on the first line.

        raise ImproperlyConfigured(f"STEWARD_LOG_FORMAT must be one of {', '.join(FORMATS)}, not {output!r}")
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"steward": {"()": "console.kernel.logs.formatter", "output": output}},
        "filters": {"forbidden_without_traceback": {"()": "console.kernel.logs.ForbiddenWithoutTraceback"}},
        "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "steward"}},
        "root": {"handlers": ["console"], "level": level},
        "loggers": {
            # Django's default handlers print a second, differently formatted copy: its lines
            # go to the root handler like everyone else's.
            "django": {"handlers": [], "level": "INFO"},
            "django.request": {"filters": ["forbidden_without_traceback"]},
            "django.server": {"handlers": ["console"], "level": "INFO", "propagate": False},
            "httpx": {"level": "WARNING"},
            "celery": {"level": "WARNING"},
            "daphne": {"level": "WARNING"},
        },
    }
