"""What redaction finds and what it leaves alone (console/kernel/redaction.py), and the sealing keys."""

from __future__ import annotations

import base64
import json
import logging
from io import StringIO

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from console.kernel.logs import formatter
from console.kernel.redaction import (
    is_card_number,
    might_contain_secret,
    parse_patterns,
    redact,
    redact_text,
    redacted,
)
from console.kernel.sealing import Keyring, SealError, parse_keys

STEWARD_KEY = "stw_" + "Zx9-_a" * 7 + "q"  # the shape ApiKey.issue gives: stw_ + 43 url-safe characters


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("key sk-proj-4bQ9xK2mP7vR1sT8wY3zA6cD0eF5gH", "openai_key"),
        ("key sk-ant-api03-Xy7_Kp2Lm9Qr4St6Uv8Wx0Yz1Ab3Cd5", "anthropic_key"),
        ("aws AKIAIOSFODNN7EXAMPLE then", "aws_key"),
        ("token ghp_16C7e42F292c6912E7710c838347Ae178B4a in the clone url", "github_token"),
        ("github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuv", "github_token"),
        (f"curl -H 'X-Key: {STEWARD_KEY}'", "steward_key"),
        ("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U", "jwt"),
        ("Authorization: Bearer abc.DEF-123_456", "token"),
        ('{"headers": "authorization=Basic dXNlcjpwYXNzd29yZA=="}', "token"),
        ("retry with bearer Tk_9f8e7d6c5b4a", "token"),
        ("db password=hunter22 ok", "secret"),
        ("client_secret: 'abc123xyz'", "secret"),
        ("visa 4111 1111 1111 1111 exp 12/27", "card"),
        ("mc 5555-5555-5555-4444", "card"),
        ("amex 3782 822463 10005", "card"),
        ("plain 4012888888881881.", "card"),
    ],
)
def test_each_kind_of_secret_is_replaced_by_its_marker(text: str, kind: str) -> None:
    result = redact_text(text)
    assert f"[redacted:{kind}]" in result, result
    assert might_contain_secret(text)


@pytest.mark.parametrize(
    "text",
    [
        "refund 120.50 for order R-1001 (A-1001, #20240101123456)",
        "order 4111111111111112 fails the Luhn check",
        "timestamp 1700000000000 and a float 0.4111111111111111",
        "fingerprint a4111111111111111b and hash 9f3c4111111111111111e2",
        "the bearer instruments and bearer bonds are fine",
        "max_tokens=100 input_tokens: 1234 tokens_in=5",
        "the key to the door, a password reset link was sent",
        "",
    ],
)
def test_ordinary_text_is_left_alone(text: str) -> None:
    assert redact_text(text) is text


def test_card_numbers_need_a_network_prefix_a_length_and_the_luhn_digit() -> None:
    assert is_card_number("4111111111111111") and is_card_number("5555 5555 5555 4444") and is_card_number("378282246310005")
    assert not is_card_number("4111111111111112")  # Luhn
    assert not is_card_number("1234567812345670")  # passes Luhn, no network starts with 1
    assert not is_card_number("411111111111111")  # a Visa number is 13, 16 or 19 digits


def test_values_are_walked_keys_named_like_secrets_are_hidden_and_counts_are_not() -> None:
    value = {
        "messages": [{"type": "human", "content": "charge 4111 1111 1111 1111 please"}],
        "headers": {"Authorization": "Bearer Xy12345678", "X-Api-Key": "k-1", "Accept": "json"},
        "password": "hunter2",
        "card": 4111111111111111,
        "usage_metadata": {"input_tokens": 12, "output_tokens": 3},
        "order_id": "R-1001",
        "amount": 120.5,
    }
    before = json.dumps(value)
    clean, changed = redacted(value)
    assert changed and json.dumps(value) == before, "the input is never modified"
    assert clean["messages"][0]["content"] == "charge [redacted:card] please"
    assert clean["headers"] == {"Authorization": "[redacted:secret]", "X-Api-Key": "[redacted:secret]", "Accept": "json"}
    assert clean["password"] == "[redacted:secret]" and clean["card"] == "[redacted:card]"
    assert clean["usage_metadata"] == {"input_tokens": 12, "output_tokens": 3}
    assert clean["order_id"] == "R-1001" and clean["amount"] == 120.5
    untouched = {"a": [1, "two", {"b": None}]}
    assert redacted(untouched) == (untouched, False) and redact(untouched) is untouched


def test_redacting_twice_changes_nothing_more() -> None:
    once = redact({"password": "x", "note": "token=abcdef and 4111 1111 1111 1111", "auth": "Authorization: Bearer Zz99999999"})
    assert redacted(once) == (once, False)


def test_a_serialized_payload_with_no_candidate_is_not_walked() -> None:
    payload = [{"type": "ai", "content": "Refund issued.", "usage_metadata": {"input_tokens": 10, "total_tokens": 12}}]
    assert not might_contain_secret(json.dumps(payload))
    assert might_contain_secret(json.dumps({"api_key": "abc"})) and might_contain_secret(json.dumps({"cookie": "abc"}))
    # Long texts take another path (a scan per needle): the same answers.
    long = [{"type": "human", "content": "Refund order R-1001, the parcel arrived damaged. " * 40}]
    assert not might_contain_secret(json.dumps(long))
    long[0]["content"] += f"Charge {'4111 1111 1111 1111'} instead."
    assert might_contain_secret(json.dumps(long)) and "[redacted:card]" in redact(long)[0]["content"]


def test_configured_patterns_are_redacted_too() -> None:
    assert redact_text("ticket ORD-123456") == "ticket ORD-123456"
    with override_settings(STEWARD_REDACT_PATTERNS=[r"ORD-\d{6}", r"(?i)internal-[a-z]+"]):
        assert redact_text("ticket ORD-123456 for Internal-Zeus") == "ticket [redacted:pattern] for [redacted:pattern]"
        assert might_contain_secret("anything at all")
    assert redact_text("ticket ORD-123456") == "ticket ORD-123456"


def test_patterns_from_the_environment_are_checked() -> None:
    assert parse_patterns('["a+b", "c{2}"]') == ["a+b", "c{2}"]
    assert parse_patterns("ORD-\\d+\n  \nEMP-\\d{4}\n") == ["ORD-\\d+", "EMP-\\d{4}"]
    with pytest.raises(ValueError, match="not a valid regex"):
        parse_patterns('["(unclosed"]')
    with pytest.raises(ValueError, match="JSON list"):
        parse_patterns('["a", 3]')


def test_log_lines_are_redacted_in_both_formats() -> None:
    for output in ("json", "console"):
        stream = StringIO()
        handler = logging.StreamHandler(stream)
        handler.setFormatter(formatter(output))
        logger = logging.getLogger(f"tests.redaction.{output}")
        logger.addHandler(handler)
        logger.propagate = False
        try:
            logger.warning("charging %s", "4111 1111 1111 1111", extra={"api_key": "sk-live", "order": "R-9"})
            try:
                raise ConnectionError("upstream refused key sk-proj-4bQ9xK2mP7vR1sT8wY3zA6cD0eF5gH")
            except ConnectionError:
                logger.exception("call failed")
        finally:
            logger.removeHandler(handler)
        text = stream.getvalue()
        assert "4111" not in text and "sk-live" not in text and "4bQ9xK2" not in text, text
        assert "[redacted:card]" in text and "[redacted:openai_key]" in text and "R-9" in text
        if output == "json":
            lines = [json.loads(line) for line in text.splitlines()]
            assert lines[0]["api_key"] == "[redacted:secret]" and "Traceback" in lines[1]["exception"]


def test_a_keyring_opens_what_any_of_its_keys_sealed_and_only_for_the_same_row() -> None:
    old, new = b"o" * 32, b"n" * 32
    sealed = Keyring([old]).seal(b"4111 1111 1111 1111", b"row-1")
    assert b"4111" not in sealed
    rotated = Keyring([new, old])
    assert rotated.open(sealed, b"row-1") == b"4111 1111 1111 1111"
    assert rotated.open(rotated.seal(b"x", b"row-1"), b"row-1") == b"x"
    with pytest.raises(SealError, match="another row|altered"):
        rotated.open(sealed, b"row-2")
    with pytest.raises(SealError, match="not configured"):
        Keyring([new]).open(sealed, b"row-1")


def test_keys_from_the_environment_are_checked() -> None:
    key = base64.b64encode(b"k" * 32).decode()
    urlsafe = base64.urlsafe_b64encode(bytes(range(200, 232))).decode().rstrip("=")
    assert parse_keys(f"{key}, {urlsafe}", "X") == [b"k" * 32, bytes(range(200, 232))]
    assert parse_keys("", "X") == []
    with pytest.raises(ImproperlyConfigured, match="16, 24 or 32"):
        parse_keys(base64.b64encode(b"short").decode(), "X")
    with pytest.raises(ImproperlyConfigured, match="not base64"):
        parse_keys("not base64 at all!", "X")
