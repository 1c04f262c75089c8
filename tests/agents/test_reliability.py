"""Retries, fallbacks and circuit breakers, on real runs with a fake model provider
(tests/support/graphs.py: `FakeProviderModel`, the `resilient` and `blip` agents)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client, override_settings
from django.utils import timezone

from agents.engine import circuit, runtime
from agents.engine.circuit import CircuitOpen
from agents.engine.models import Agent, Circuit, Run
from agents.engine.reliability import RetryPolicy, TransientError, is_transient, retry_policy
from agents.engine.services import start_run
from tests.support import graphs
from traces.inspection.replay import replay
from traces.recording.models import Span

FACTORIES = {"alpha": "tests.support.graphs.fake_provider_model", "beta": "tests.support.graphs.fake_provider_model"}
# No waiting between attempts in tests: the backoff's shape is tested on the policy itself.
NO_WAIT = {"attempts": 3, "base_delay": 0, "max_delay": 0}
# Every read of a circuit goes to the database: tests look at each state change at once.
BREAKER = {"failures": 3, "cooldown_seconds": 30, "cache_seconds": 0}


@pytest.fixture(autouse=True)
def _fresh_provider() -> Iterator[None]:
    graphs.PROVIDER_CALLS.clear()
    graphs.TOOL_CALLS.clear()
    circuit.forget_cached()
    yield
    circuit.forget_cached()


def models(spec: str) -> Any:
    """The `resilient` agent's models for one test, through the deployment's settings."""
    return override_settings(
        STEWARD_MODEL_FACTORIES=FACTORIES, STEWARD_AGENT_MODELS={"resilient": spec}, STEWARD_RETRY=NO_WAIT,
        STEWARD_CIRCUIT=BREAKER,
    )


def run_agent(agent: str, topic: str, user: User) -> Run:
    run = start_run(agent, {"topic": topic}, user)
    runtime.execute(run.id)
    run.refresh_from_db()
    return run


def spans_of(run: Run, kind: str) -> list[tuple[str, str]]:
    """(status, model or name) of the run's spans of one kind, in order."""
    return [
        (s.status, s.model or s.name) for s in Span.objects.filter(run=run, kind=kind).order_by("seq")
    ]


# --- what counts as transient -----------------------------------------------------------------


class _Status(Exception):
    def __init__(self, code: int) -> None:
        super().__init__(f"HTTP {code}")
        self.status_code = code


class APITimeoutError(Exception):
    """Named like the openai SDK's: recognised by name, without importing the SDK."""


class _Response:
    status_code = 503


class HTTPStatusError(Exception):
    response = _Response()


@pytest.mark.parametrize(
    ("error", "transient"),
    [
        (TimeoutError("read timed out"), True),
        (ConnectionResetError("reset by peer"), True),
        (_Status(429), True),
        (_Status(503), True),
        (_Status(529), True),
        (HTTPStatusError("bad gateway"), True),
        (APITimeoutError("timed out"), True),
        (TransientError("upstream busy"), True),
        (_Status(400), False),
        (_Status(401), False),
        (ValueError("bad arguments"), False),
        (CircuitOpen("alpha", None), False),
    ],
)
def test_transient_errors_are_timeouts_connections_rate_limits_and_server_errors(error: Exception, transient: bool) -> None:
    assert is_transient(error) is transient


def test_backoff_grows_exponentially_up_to_the_cap_with_jitter() -> None:
    policy = RetryPolicy(attempts=5, base_delay=0.5, max_delay=3.0)
    for failures, ceiling in ((1, 0.5), (2, 1.0), (3, 2.0), (4, 3.0), (5, 3.0)):
        waits = [policy.delay(failures) for _ in range(50)]
        assert all(ceiling / 2 <= w <= ceiling for w in waits), (failures, min(waits), max(waits))
        assert len(set(waits)) > 1  # jittered: workers do not all come back at once


@pytest.mark.django_db
def test_the_agent_settings_override_the_deployment_retry_policy() -> None:
    Agent.objects.update_or_create(key="resilient", defaults={"name": "r", "settings": {"retry": {"attempts": 5, "max_delay": "oops"}}})
    with override_settings(STEWARD_RETRY={"attempts": 2, "base_delay": 0.25, "max_delay": 4}):
        assert retry_policy("resilient") == RetryPolicy(attempts=5, base_delay=0.25, max_delay=4.0)
        assert retry_policy("known") == RetryPolicy(attempts=2, base_delay=0.25, max_delay=4.0)
    assert retry_policy(None) == RetryPolicy(attempts=3, base_delay=0.5, max_delay=8.0)


# --- retries and fallbacks on real runs ---------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_transient_model_failure_is_retried_and_the_run_succeeds(engineer: User) -> None:
    with models("alpha:flaky-2"):
        run = run_agent("resilient", "tides", engineer)
    assert run.status == "succeeded", run.error
    assert run.output["result"] == "answer from flaky-2: tides"
    assert graphs.PROVIDER_CALLS == {"flaky-2": 3}
    # Each attempt is its own span: two timed out, the third answered.
    assert spans_of(run, "model") == [("error", "flaky-2"), ("error", "flaky-2"), ("ok", "flaky-2")]
    assert "TimeoutError" in Span.objects.filter(run=run, kind="model", status="error").first().error
    assert run.tokens_in == 3 and run.tokens_out == 4  # only the call that answered used tokens


@pytest.mark.django_db(transaction=True)
def test_a_rate_limited_call_is_retried(engineer: User) -> None:
    with models("alpha:limited-1"):
        run = run_agent("resilient", "tides", engineer)
    assert run.status == "succeeded" and graphs.PROVIDER_CALLS == {"limited-1": 2}


@pytest.mark.django_db(transaction=True)
def test_a_permanent_model_error_is_not_retried_and_not_sent_to_the_fallback(engineer: User) -> None:
    with models("alpha:broken,beta:steady"):
        run = run_agent("resilient", "tides", engineer)
    assert run.status == "failed" and "BadRequest" in run.error and "400" in run.error
    assert graphs.PROVIDER_CALLS == {"broken": 1}
    # It said nothing about the provider's health: no circuit counts it.
    assert not Circuit.objects.filter(failures__gt=0).exists()


@pytest.mark.django_db(transaction=True)
def test_the_agents_own_attempts_apply(engineer: User) -> None:
    Agent.objects.filter(key="resilient").update(settings={"retry": {"attempts": 2}})
    with models("alpha:flaky-2"):
        run = run_agent("resilient", "tides", engineer)
    assert run.status == "failed" and run.error.startswith("TimeoutError")
    assert graphs.PROVIDER_CALLS == {"flaky-2": 2}


@pytest.mark.django_db(transaction=True)
def test_the_fallback_answers_when_the_primary_keeps_failing(engineer: User) -> None:
    with models("alpha:down,beta:steady"):
        run = run_agent("resilient", "tides", engineer)
    assert run.status == "succeeded", run.error
    assert run.output["result"] == "answer from steady: tides"
    assert graphs.PROVIDER_CALLS == {"down": 3, "steady": 1}
    # The span that answered names the model that answered.
    assert spans_of(run, "model") == [("error", "down")] * 3 + [("ok", "steady")]


@pytest.mark.django_db(transaction=True)
def test_when_every_model_fails_the_run_fails_naming_each(engineer: User) -> None:
    with models("alpha:down,beta:down-b"):
        run = run_agent("resilient", "tides", engineer)
    assert run.status == "failed"
    assert run.error.startswith("ModelUnavailable: no model answered")
    assert "alpha:down: ConnectionError" in run.error and "beta:down-b: ConnectionError" in run.error


@pytest.mark.django_db(transaction=True)
def test_the_offline_model_can_be_the_last_resort(engineer: User) -> None:
    with models("alpha:down,scripted-backup"):
        run = run_agent("resilient", "tides", engineer)
    assert run.status == "succeeded" and run.output["result"] == "offline answer: tides"
    assert spans_of(run, "model")[-1] == ("ok", "scripted-backup")


@pytest.mark.django_db(transaction=True)
def test_a_recorded_replay_plays_the_retries_and_the_fallback_back_without_calling(engineer: User) -> None:
    with models("alpha:down,beta:flaky-1"):
        original = run_agent("resilient", "tides", engineer)
        assert original.status == "succeeded", original.error
        calls = dict(graphs.PROVIDER_CALLS)
        copy = replay(original, engineer, mode="recorded")
        assert runtime.execute(copy.id) == "succeeded"
    copy.refresh_from_db()
    assert copy.output == original.output
    assert graphs.PROVIDER_CALLS == calls  # no provider was called again
    # The same calls: three failures of alpha, one of beta, then beta's answer.
    assert [status for status, _ in spans_of(copy, "model")] == ["error"] * 4 + ["ok"]
    assert spans_of(copy, "model")[-1] == spans_of(original, "model")[-1] == ("ok", "flaky-1")


# --- tools ------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_retry_safe_tool_is_retried_on_a_transient_error(engineer: User) -> None:
    with override_settings(STEWARD_RETRY=NO_WAIT):
        run = run_agent("blip", "blip-2", engineer)
    assert run.status == "succeeded", run.error
    assert graphs.TOOL_CALLS == {"blip-2": 3}
    assert [status for status, _ in spans_of(run, "tool")] == ["error", "error", "ok"]


@pytest.mark.django_db(transaction=True)
def test_a_tool_error_that_is_not_transient_is_not_retried(engineer: User) -> None:
    with override_settings(STEWARD_RETRY=NO_WAIT):
        run = run_agent("blip", "broken", engineer)
    assert run.status == "failed" and "no such record" in run.error
    assert graphs.TOOL_CALLS == {"broken": 1}


@pytest.mark.django_db(transaction=True)
def test_a_tool_not_marked_retry_safe_is_not_retried(engineer: User) -> None:
    """A timeout does not say whether a side effect happened: only retry-safe tools retry."""
    with override_settings(STEWARD_RETRY=NO_WAIT):
        run = run_agent("flaky", "reliability-unmarked", engineer)
    assert run.status == "failed" and "ConnectionError" in run.error


# --- the circuit breaker ----------------------------------------------------------------------


@pytest.mark.django_db
def test_the_breaker_opens_fails_fast_half_opens_once_and_closes_or_reopens() -> None:
    t0 = timezone.now()
    with override_settings(STEWARD_CIRCUIT=BREAKER):
        for _ in range(2):
            assert circuit.admit("alpha", now=t0) is False
            circuit.record_failure("alpha", TimeoutError("slow"), now=t0)
        assert Circuit.objects.get(provider="alpha").state == "closed"
        circuit.record_failure("alpha", TimeoutError("slow"), now=t0)
        row = Circuit.objects.get(provider="alpha")
        assert (row.state, row.failures, row.opened_at) == ("open", 3, t0)

        # Open: every call fails fast until the cool-down is over.
        with pytest.raises(CircuitOpen, match="until"):
            circuit.admit("alpha", now=t0 + timedelta(seconds=29))
        # Then one caller (in the whole installation) gets the trial; the others still fail fast.
        assert circuit.admit("alpha", now=t0 + timedelta(seconds=31)) is True
        assert Circuit.objects.get(provider="alpha").state == "half_open"
        with pytest.raises(CircuitOpen, match="trial"):
            circuit.admit("alpha", now=t0 + timedelta(seconds=32))

        # The trial fails: open again, for a new cool-down.
        t1 = t0 + timedelta(seconds=33)
        circuit.record_failure("alpha", TimeoutError("still slow"), now=t1)
        row = Circuit.objects.get(provider="alpha")
        assert (row.state, row.opened_at, row.failures_total) == ("open", t1, 4)
        with pytest.raises(CircuitOpen):
            circuit.admit("alpha", now=t1 + timedelta(seconds=29))

        # A trial whose worker died is taken over after another cool-down; its success closes.
        assert circuit.admit("alpha", now=t1 + timedelta(seconds=31)) is True
        assert circuit.admit("alpha", now=t1 + timedelta(seconds=62)) is True
        circuit.record_success("alpha", trial=True)
        row = Circuit.objects.get(provider="alpha")
        assert (row.state, row.failures, row.opened_at, row.failures_total) == ("closed", 0, None, 4)
        assert circuit.admit("alpha", now=t1 + timedelta(seconds=63)) is False


@pytest.mark.django_db
def test_a_stale_cached_open_state_lets_the_call_through_once_another_worker_closed_it() -> None:
    """This process cached "open, cool-down over"; meanwhile another worker's trial closed the
    circuit. The call must go ahead, not fail with CircuitOpen."""
    t0 = timezone.now()
    with override_settings(STEWARD_CIRCUIT={**BREAKER, "cache_seconds": 3600}):
        for _ in range(3):
            circuit.record_failure("alpha", TimeoutError("slow"), now=t0)
        with pytest.raises(CircuitOpen):
            circuit.admit("alpha", now=t0 + timedelta(seconds=1))  # caches the open state
        # Another worker's trial succeeded: the row is closed, this process's cache is not.
        Circuit.objects.filter(provider="alpha").update(state="closed", failures=0, opened_at=None, trial_started_at=None)
        assert circuit.admit("alpha", now=t0 + timedelta(seconds=31)) is False


@pytest.mark.django_db
def test_a_success_resets_the_count_of_consecutive_failures() -> None:
    with override_settings(STEWARD_CIRCUIT=BREAKER):
        circuit.record_failure("alpha", ConnectionError("x"))
        circuit.record_failure("alpha", ConnectionError("x"))
        circuit.record_success("alpha")
        circuit.record_failure("alpha", ConnectionError("x"))
        circuit.record_failure("alpha", ConnectionError("x"))
        row = Circuit.objects.get(provider="alpha")
    assert (row.state, row.failures, row.failures_total) == ("closed", 2, 4)


@pytest.mark.django_db(transaction=True)
def test_an_open_circuit_sends_calls_to_the_fallback_then_a_trial_closes_it(engineer: User) -> None:
    """Three timeouts open alpha's circuit; the next run skips alpha at once; after the
    cool-down one trial call goes to alpha, answers, and the circuit closes."""
    with models("alpha:flaky-3,beta:steady"):
        first = run_agent("resilient", "one", engineer)
        assert first.status == "succeeded" and first.output["result"] == "answer from steady: one"
        assert Circuit.objects.get(provider="alpha").state == "open"
        assert graphs.PROVIDER_CALLS == {"flaky-3": 3, "steady": 1}

        second = run_agent("resilient", "two", engineer)
        assert second.output["result"] == "answer from steady: two"
        assert graphs.PROVIDER_CALLS == {"flaky-3": 3, "steady": 2}  # alpha was not called
        assert spans_of(second, "model") == [("ok", "steady")]

        page = _dashboard(engineer)
        assert re.search(r'data-provider="alpha" data-state="open"', page)
        assert re.search(r'data-provider="beta" data-state="closed"', page)
        samples = _metrics()
        assert samples[("steward_circuit_state", "alpha")] == 2.0
        assert samples[("steward_circuit_state", "beta")] == 0.0
        assert samples[("steward_circuit_failures_total", "alpha")] == 3.0

        # The cool-down passes (the circuit's clock moved back, no sleeping).
        Circuit.objects.filter(provider="alpha").update(opened_at=timezone.now() - timedelta(seconds=31))
        third = run_agent("resilient", "three", engineer)
        assert third.output["result"] == "answer from flaky-3: three"
        assert Circuit.objects.get(provider="alpha").state == "closed"
        assert _metrics()[("steward_circuit_state", "alpha")] == 0.0


def _dashboard(user: User) -> str:
    client = Client()
    client.force_login(user)
    response = client.get("/")
    assert response.status_code == 200
    return response.content.decode()


def _metrics() -> dict[tuple[str, str], float]:
    from prometheus_client.parser import text_string_to_metric_families

    response = Client().get("/metrics")
    assert response.status_code == 200
    samples = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            if "provider" in sample.labels:
                samples[(sample.name, sample.labels["provider"])] = sample.value
    return samples
