"""Redacting secrets from what Steward stores for display, logs and exports.

`redact(value)` walks dicts, lists and strings and returns a copy with secrets replaced by a
marker such as ``[redacted:card]``; `redact_text(text)` does one string. What is found:

- API keys by their shape: OpenAI (``sk-...``), Anthropic (``sk-ant-...``), AWS access key ids
  (``AKIA...``/``ASIA...``), GitHub tokens (``ghp_...``, ``github_pat_...``), Steward's own API
  keys (``stw_...``, console/models.py) and JWTs (``eyJ...``);
- bearer tokens (``Bearer x``, ``Authorization: ...``), and the values of keys named like a
  secret (``password``, ``secret``, ``token``, ``api_key``, ``authorization``, ``cookie``...),
  both as dict keys and as ``key=value``/``key: value`` inside text;
- card numbers: 13–19 digits, plain or in groups of 4 (or Amex's 4-6-5), that start like a card
  network's numbers with one of its lengths and pass the Luhn check, so order ids, timestamps,
  dates and amounts stay;
- the regexes of ``settings.STEWARD_REDACT_PATTERNS`` (``[redacted:pattern]``).

Fast where it matters: patterns are compiled once; a text is first folded (one C-speed pass:
ASCII lowercased, digits made "0") and a rule's regex only runs where the folded text holds its
trigger (``sk-``, 13 digits, a secret-like word...). A text, or a whole JSON payload, with no
trigger costs that fold and one search (`might_contain_secret`). Values that did not change are
returned as they are (unchanged parts of a copy are shared, not copied).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import structlog
from django.conf import settings
from django.core.signals import setting_changed

__all__ = [
    "MARKER_PREFIX",
    "compile_patterns",
    "is_card_number",
    "is_marker",
    "might_contain_secret",
    "parse_patterns",
    "redact",
    "redact_log_event",
    "redact_text",
    "redacted",
]

MARKER_PREFIX = "[redacted:"
_MAX_DEPTH = 64


def _mark(kind: str) -> str:
    return f"{MARKER_PREFIX}{kind}]"


# Words that make a dict key a secret. "token" must stand alone as a word: input_tokens,
# max_tokens and tokens_in are counts, not secrets.
_SECRET_KEY = re.compile(
    r"(?:^|[_\-.\s])(?:password|passwd|passphrase|secret|token|api[_-]?key|apikey|access[_-]?key"
    r"|private[_-]?key|authorization|cookie|credentials?|session[_-]?id)(?:$|[_\-.\s])",
    re.IGNORECASE,
)


@lru_cache(maxsize=4096)
def _is_secret_key(key: str) -> bool:
    # Payloads repeat the same few keys (type, content, args...): each is looked at once.
    return _SECRET_KEY.search(key) is not None


# Every check starts on a folded copy of the text (UTF-8 bytes, ASCII letters lowercased, digits
# all "0"), made in one C-speed pass: a rule's regex runs only when the folded text holds its
# trigger. Folding keeps every ASCII letter, digit, "-", "_" and space where it was, so the same
# triggers also hold in JSON-escaped text (a whole serialized payload is checked in one go).
_FOLD = bytes.maketrans(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", b"abcdefghijklmnopqrstuvwxyz0000000000")


def _folded(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass").translate(_FOLD)


@dataclass(frozen=True)
class _Rule:
    kind: str
    needles: tuple[bytes, ...]
    pattern: re.Pattern[str]
    # Replaces the whole match unless the pattern has a group "value" (then only that group).
    check: Callable[[str], bool] | None = None
    trigger: re.Pattern[bytes] | None = None

    def present(self, folded: bytes) -> bool:
        if self.trigger is not None and self.trigger.search(folded) is not None:
            return True
        return any(needle in folded for needle in self.needles)

    def _replace(self, match: re.Match[str]) -> str:
        if self.check is not None and not self.check(match.group(0)):
            return match.group(0)
        if "value" in self.pattern.groupindex:
            start, end = match.span("value")
            text, offset = match.group(0), match.start()
            return text[: start - offset] + _mark(self.kind) + text[end - offset :]
        return _mark(self.kind)

    def apply(self, text: str) -> str:
        return self.pattern.sub(self._replace, text)


def _luhn(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def _card_network_length(digits: str) -> bool:
    """Whether the number starts like a card network's numbers and has one of its lengths
    (Visa, Mastercard, Amex, Diners, JCB, Discover, UnionPay, Maestro); dates and timestamps
    such as 20240101123456 or 1700000000000 do not."""
    n, p2, p3, p4 = len(digits), int(digits[:2]), int(digits[:3]), int(digits[:4])
    if digits[0] == "4":
        return n in (13, 16, 19)
    if 51 <= p2 <= 55 or 2221 <= p4 <= 2720:
        return n == 16
    if p2 in (34, 37):
        return n == 15
    if p2 in (36, 38, 39) or 300 <= p3 <= 305 or 3528 <= p4 <= 3589:
        return 14 <= n <= 19
    return p2 == 50 or 56 <= p2 <= 69


def is_card_number(text: str) -> bool:
    """13–19 digits (spaces and dashes ignored) that start like a card network's, with one of
    its lengths, and end in a valid Luhn check digit."""
    digits = text.replace(" ", "").replace("-", "")
    return 13 <= len(digits) <= 19 and digits.isdigit() and _card_network_length(digits) and _luhn(digits)


_NOT_MARKED = r"(?!\[redacted:)"
# In order: an Anthropic key also looks like an OpenAI one; an Authorization header's value is
# taken whole before the bearer rule looks at it (its scheme, once seen, is never taken for the
# value: `?+`); a key shape beats `api_key=...`.
_RULES: tuple[_Rule, ...] = (
    _Rule("anthropic_key", (b"sk-ant-",), re.compile(r"(?<![A-Za-z0-9_-])sk-ant-[A-Za-z0-9_-]{20,}")),
    _Rule("openai_key", (b"sk-",), re.compile(r"(?<![A-Za-z0-9_-])sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,}")),
    _Rule("aws_key", (b"akia", b"asia"), re.compile(r"(?<![A-Z0-9])(?:AKIA|ASIA)[A-Z0-9]{16}(?![A-Z0-9])")),
    _Rule(
        "github_token", (), re.compile(r"(?<![A-Za-z0-9_])(?:gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{22,255})"),
        trigger=re.compile(rb"g(?:h[pousr]_|ithub_pat_)"),
    ),
    _Rule("steward_key", (b"stw_",), re.compile(r"(?<![A-Za-z0-9_-])stw_[A-Za-z0-9_-]{20,}")),
    _Rule("jwt", (b"eyj",), re.compile(r"(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*")),
    _Rule(
        "token", (b"authorization",),
        re.compile(
            r"(?i:\bauthorization)[\"']?\s*[:=]\s*[\"']?(?:(?i:bearer|basic|digest|token|apikey)\s+)?+"
            + _NOT_MARKED + r"(?P<value>[^\s\"',;]{4,})"
        ),
    ),
    # Lower-case words after "bearer" are prose ("bearer bonds"), not tokens.
    _Rule(
        "token", (b"bearer",),
        re.compile(r"(?i:\bbearer)\s+" + _NOT_MARKED + r"(?P<value>(?![a-z]+\b)[A-Za-z0-9._~+/=-]{8,})"),
    ),
    _Rule(
        "secret", (b"pass", b"secret", b"key"),
        re.compile(
            r"(?i:password|passwd|passphrase|secret|token|api[_-]?key|apikey|access[_-]?key|private[_-]?key)"
            r"(?![A-Za-z0-9])[\"']?\s*[:=]\s*[\"']?" + _NOT_MARKED + r"(?P<value>[^\s\"',;&)}\]]{3,})"
        ),
        trigger=re.compile(rb"token(?!s)"),
    ),
    _Rule(
        "card", (),
        re.compile(
            # Not inside a longer number, a decimal or a word (hex ids and hashes hold digit runs).
            r"(?<![0-9A-Za-z.])(?:[0-9]{13,19}|[0-9]{4}(?P<sep>[ -])[0-9]{4}(?P=sep)[0-9]{4}(?P=sep)[0-9]{1,7}"
            r"|[0-9]{4}(?P<sep2>[ -])[0-9]{6}(?P=sep2)[0-9]{4,5})(?![0-9A-Za-z])"
        ),
        check=is_card_number,
        trigger=re.compile(rb"0000(?:0{9}|[ -]0000[ -]0000[ -]0|[ -]000000[ -]0000)"),
    ),
)
# Everything any rule, or a dict key named like a secret, is triggered by.
_ANY_NEEDLE = tuple(
    sorted(
        {needle for rule in _RULES for needle in rule.needles}
        - {b"sk-ant-"}
        | {b"cookie", b"credential", b"session", b"authorization", b"pass", b"secret", b"key"}
    )
)
_ANY_TRIGGER = tuple(rule.trigger for rule in _RULES if rule.trigger is not None)
# Short texts: one regex search beats a dozen `in` scans (call overhead); long ones the reverse
# (Python's regex engine tries every alternative at each position, `in` is a C-speed scan).
_ANY_RE = re.compile(b"|".join([*(re.escape(n) for n in _ANY_NEEDLE), *(t.pattern for t in _ANY_TRIGGER)]))
_SHORT = 1024


# --- configurable patterns --------------------------------------------------------------------


def parse_patterns(text: str) -> list[str]:
    """STEWARD_REDACT_PATTERNS from the environment: a JSON list of regexes, or one per line.

    Raises:
        ValueError: not a JSON list of strings, or a regex that does not compile.
    """
    text = text.strip()
    if not text:
        return []
    if text.startswith("["):
        try:
            patterns = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"STEWARD_REDACT_PATTERNS is not a JSON list: {exc}") from None
        if not isinstance(patterns, list) or not all(isinstance(p, str) for p in patterns):
            raise ValueError("STEWARD_REDACT_PATTERNS must be a JSON list of strings (regexes)")
    else:
        patterns = [line.strip() for line in text.splitlines() if line.strip()]
    compile_patterns(tuple(patterns))
    return patterns


@lru_cache(maxsize=8)
def compile_patterns(patterns: tuple[str, ...]) -> tuple[re.Pattern[str], ...]:
    compiled = []
    for pattern in patterns:
        try:
            compiled.append(re.compile(pattern))
        except re.error as exc:
            raise ValueError(f"STEWARD_REDACT_PATTERNS: {pattern!r} is not a valid regex: {exc}") from None
    return tuple(compiled)


_extra: tuple[re.Pattern[str], ...] | None = None


def _extra_patterns() -> tuple[re.Pattern[str], ...]:
    # Read from settings once (settings access is slow on a hot path); tests that override the
    # setting reset it through the setting_changed signal below.
    global _extra
    if _extra is None:

        patterns = getattr(settings, "STEWARD_REDACT_PATTERNS", None) or ()
        _extra = compile_patterns(tuple(patterns)) if patterns else ()
    return _extra


def _reset_extra(setting: str = "", **kwargs: Any) -> None:
    global _extra
    if setting == "STEWARD_REDACT_PATTERNS":
        _extra = None


setting_changed.connect(_reset_extra)


# --- the walk --------------------------------------------------------------------------------


def _candidate(folded: bytes) -> bool:
    if len(folded) <= _SHORT:
        return _ANY_RE.search(folded) is not None
    for needle in _ANY_NEEDLE:
        if needle in folded:
            return True
    for trigger in _ANY_TRIGGER:
        if trigger.search(folded) is not None:
            return True
    return False


def might_contain_secret(text: str) -> bool:
    """False when `text` (plain, or a whole JSON serialization of a payload) surely holds nothing
    `redact` would change; True when it may (then walk the value)."""
    return bool(_extra_patterns()) or _candidate(_folded(text))


def redact_text(text: str) -> str:
    """`text` with every secret replaced by its marker (the same object when there is none)."""
    if not text:
        return text
    extra = _extra_patterns()
    folded = _folded(text)
    if not extra and not _candidate(folded):
        return text
    result = text
    for rule in _RULES:
        if rule.present(folded):
            result = rule.apply(result)
    for pattern in extra:
        result = pattern.sub(_mark("pattern"), result)
    return result if result != text else text


def is_marker(value: Any) -> bool:
    """A redaction marker, as `redact` writes it."""
    return isinstance(value, str) and value.startswith(MARKER_PREFIX) and value.endswith("]")


def _walk(value: Any, depth: int) -> tuple[Any, bool]:
    if isinstance(value, str):
        result = redact_text(value)
        return result, result is not value
    if isinstance(value, bool) or value is None or isinstance(value, float):
        return value, False
    if isinstance(value, int):
        # A card number stored as a number.
        if 10**12 <= value < 10**19 and is_card_number(str(value)):
            return _mark("card"), True
        return value, False
    if depth >= _MAX_DEPTH:
        return value, False
    if isinstance(value, dict):
        changed_items: dict[Any, Any] | None = None
        for key, item in value.items():
            if isinstance(key, str) and _is_secret_key(key) and _secret_value(item):
                new_item, changed = _mark("secret"), True
            else:
                new_item, changed = _walk(item, depth + 1)
            if changed:
                changed_items = changed_items or {}
                changed_items[key] = new_item
        if changed_items is None:
            return value, False
        return {k: changed_items.get(k, v) for k, v in value.items()}, True
    if isinstance(value, (list, tuple)):
        items = [_walk(item, depth + 1) for item in value]
        if not any(changed for _, changed in items):
            return value, False
        return [item for item, _ in items], True
    return value, False


def _secret_value(item: Any) -> bool:
    # A secret key's scalar value is hidden whole; containers under it are walked as usual.
    if isinstance(item, str):
        return bool(item) and not is_marker(item)
    return isinstance(item, (int, float)) and not isinstance(item, bool)


def redacted(value: Any) -> tuple[Any, bool]:
    """(the redacted copy of a JSON-like value, whether anything was redacted)."""
    return _walk(value, 0)


def redact(value: Any) -> Any:
    """A copy of a JSON-like value (dicts, lists, strings, numbers) with secrets replaced by
    markers. Parts that hold no secret are the original objects; the input is never modified."""
    return _walk(value, 0)[0]


# --- logs ----------------------------------------------------------------------------------------

# Fields our own code binds, never secret: skipped for speed.
_LOG_SAFE_KEYS = frozenset(
    {"timestamp", "level", "logger", "run_id", "span_id", "trace_id", "span_kind", "span_status", "latency_ms"}
)


def redact_log_event(logger: Any, method_name: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """A structlog processor: the event and every field, secrets redacted; a traceback is
    rendered to text first (``exception``) so that it is redacted too."""
    if event_dict.get("exc_info"):

        event_dict = structlog.processors.format_exc_info(logger, method_name, event_dict)
    for key, value in list(event_dict.items()):
        if key in _LOG_SAFE_KEYS or key.startswith("_"):
            continue
        if _is_secret_key(key) and _secret_value(value):
            event_dict[key] = _mark("secret")
        elif isinstance(value, (str, dict, list, tuple, int)):
            new, changed = _walk(value, 0)
            if changed:
                event_dict[key] = new
    return event_dict
