"""OpenTelemetry export settings that need no database: collector headers, providers, the check."""

from __future__ import annotations

from typing import Any

import pytest

from traces.inspection import otel


def test_headers_and_providers() -> None:
    """Headers as OTEL_EXPORTER_OTLP_HEADERS writes them; the provider from the model's name."""
    assert otel.parse_headers("Authorization=Bearer%20abc, x-scope-orgid=7,") == {
        "authorization": "Bearer abc",
        "x-scope-orgid": "7",
    }
    with pytest.raises(ValueError, match="not key=value"):
        otel.parse_headers("just-a-token")
    assert otel.provider_of("gpt-4o-mini") == "openai"
    assert otel.provider_of("claude-sonnet-4-5") == "anthropic"
    assert otel.provider_of("scripted-demo") == "steward.scripted"
    assert otel.provider_of("llama3.2") == "_OTHER"


def test_an_endpoint_without_a_path_gets_the_traces_path() -> None:
    assert otel.traces_url("http://collector:4318") == "http://collector:4318/v1/traces"
    assert otel.traces_url("http://collector:4318/") == "http://collector:4318/v1/traces"
    assert otel.traces_url("https://otlp.example.com/api/otel/v1/traces") == "https://otlp.example.com/api/otel/v1/traces"


def test_check_refuses_malformed_headers(settings: Any) -> None:
    """`manage.py check` is quiet while export is off, and names malformed headers when it is on."""
    settings.STEWARD_OTLP_ENDPOINT = ""
    settings.STEWARD_OTLP_HEADERS = "nonsense"
    assert otel.check_otel_installed() == []
    settings.STEWARD_OTLP_ENDPOINT = "http://collector.internal:4318/v1/traces"
    assert [m.id for m in otel.check_otel_installed()] == ["steward.E001"]
    settings.STEWARD_OTLP_HEADERS = "x-api-key=abc"
    assert otel.check_otel_installed() == []
