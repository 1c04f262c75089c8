"""Retries with exponential backoff for transient model and tool errors, and model fallbacks.

Transient: timeouts, dropped connections, rate limits (429) and server errors (5xx) from a
provider, or an exception that says so (`steward_transient = True`, e.g. `TransientError`).
Everything else (a validation error, a 400, a bug, an interrupt) fails at once: retrying would
fail the same way.

- **Models**: `agents.engine.llm.chat_model_for` returns a `ResilientModel` for configured providers
  ("openai:gpt-4o-mini,anthropic:claude-3-5-haiku-latest"): each model in order, each with the
  agent's retries; a provider whose circuit is open (agents/engine/circuit.py) is skipped at once; the
  next model is used when one fails transiently. A permanent error is raised as it is.
- **Tools**: `agents.engine.tools.run_tool_calls` retries a tool marked `retry_safe(tool)`: a timeout
  does not say whether the side effect happened, so only tools that may run twice (reads, or
  writes through the idempotency ledger) are retried.
- **Recorded replays** retry at once, exactly where the original retried or fell back (the
  cassette knows whether the original called again after a failure), so they replay its answers.

Each attempt is its own span (a failed one has status `error`), so the run page shows what was
retried and which model answered.

Settings: `STEWARD_RETRY = {"attempts": 3, "base_delay": 0.5, "max_delay": 8.0}` (seconds; the
wait before retry n is base_delay * 2**(n-1), capped at max_delay, with jitter), overridden per
agent by `Agent.settings["retry"]` (the same keys, any subset).
"""

from __future__ import annotations

import functools
import logging
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from django.conf import settings
from django.db import DatabaseError
from langchain_core.runnables import Runnable, RunnableConfig

from agents.engine import circuit
from agents.engine.circuit import CircuitOpen
from agents.engine.models import Agent, Run
from console.kernel.off_loop import off_the_loop

__all__ = [
    "Candidate",
    "ModelUnavailable",
    "ResilientModel",
    "RetryPolicy",
    "TransientError",
    "invoke_tool",
    "is_retry_safe",
    "is_transient",
    "retry_policy",
    "retry_safe",
]

log = logging.getLogger(__name__)

# More than any sane policy allows; a recorded replay stops when the recording does.
_REPLAY_ATTEMPTS = 100
_RETRY_SAFE = "steward_retry_safe"


class TransientError(Exception):
    """Raise it (or subclass it) from a tool for a failure worth retrying."""

    steward_transient = True


class ModelUnavailable(RuntimeError):
    """Every model of the agent's list failed transiently or had its circuit open."""

    steward_transient = False


# Exception class names (anywhere in the class's ancestry) that mean "try again later", from
# the provider SDKs and HTTP clients LangChain uses, so none of them needs to be imported.
_TRANSIENT_NAMES = frozenset(
    {
        "APIConnectionError",  # openai, anthropic (APITimeoutError derives from it)
        "APITimeoutError",
        "RateLimitError",
        "InternalServerError",
        "ServiceUnavailableError",
        "OverloadedError",
        "TimeoutException",  # httpx
        "NetworkError",
        "RemoteProtocolError",
        "ServiceUnavailable",  # google.api_core
        "DeadlineExceeded",
        "ResourceExhausted",
        "TooManyRequests",
    }
)


def _status_code(exc: BaseException) -> int | None:
    for holder in (exc, getattr(exc, "response", None)):
        code = getattr(holder, "status_code", None)
        if isinstance(code, int):
            return code
    return None


def is_transient(exc: BaseException) -> bool:
    """Whether retrying the call may succeed (see the module's docstring)."""
    flag = getattr(exc, "steward_transient", None)
    if isinstance(flag, bool):
        return flag
    if isinstance(exc, TimeoutError | ConnectionError):
        return True
    status = _status_code(exc)
    if status is not None:
        return status in (408, 425, 429) or 500 <= status <= 599
    return any(cls.__name__ in _TRANSIENT_NAMES for cls in type(exc).__mro__)


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently a transient failure is retried (the defaults: STEWARD_RETRY's)."""

    attempts: int = 3
    base_delay: float = 0.5
    max_delay: float = 8.0

    def delay(self, failures: int) -> float:
        """Seconds to wait after the `failures`-th failed attempt: exponential, capped, half jittered
        (so the workers a provider outage hit do not all come back at the same instant)."""
        ceiling = min(self.max_delay, self.base_delay * 2 ** max(failures - 1, 0))
        return ceiling / 2 + random.uniform(0, ceiling / 2)

    def updated(self, values: dict[str, Any]) -> RetryPolicy:
        """This policy with the settings in `values`; a value that is not a number in range is
        ignored (logged), so a typo in an agent's settings keeps the deployment's value."""
        policy = self
        for key, low, high in (("attempts", 1, 20), ("base_delay", 0.0, 300.0), ("max_delay", 0.0, 3600.0)):
            if key not in values:
                continue
            try:
                value = int(values[key]) if key == "attempts" else float(values[key])
                if not low <= value <= high:
                    raise ValueError(f"not between {low} and {high}")
            except (TypeError, ValueError) as exc:
                log.warning("retry setting %s=%r ignored: %s", key, values[key], exc)
                continue
            changes: dict[str, Any] = {key: value}
            policy = replace(policy, **changes)
        return policy


REPLAY_POLICY = RetryPolicy(attempts=_REPLAY_ATTEMPTS, base_delay=0.0, max_delay=0.0)


def retry_policy(agent_key: str | None) -> RetryPolicy:
    """STEWARD_RETRY, then the agent's `settings["retry"]` on top. Read when a call has failed
    (not before every call), so a change in the admin applies to the next failure."""
    policy = RetryPolicy().updated(getattr(settings, "STEWARD_RETRY", None) or {})
    if agent_key:

        own = Agent.objects.filter(key=agent_key).values_list("settings", flat=True).first() or {}
        if isinstance(own.get("retry"), dict):
            policy = policy.updated(own["retry"])
    return policy


@functools.lru_cache(maxsize=4096)
def _agent_of_run(run_id: str) -> str | None:

    return Run.objects.filter(id=run_id).values_list("agent__key", flat=True).first()


def agent_key_of(config: RunnableConfig | None) -> str | None:
    """The agent of the run a node works for, from its config (None outside a run)."""
    configurable = (config or {}).get("configurable") or {}
    run_id = configurable.get("steward_run_id")
    return _agent_of_run(str(run_id)) if run_id else None


def _wait(what: str, failures: int, policy: RetryPolicy, exc: BaseException) -> None:
    if policy is REPLAY_POLICY:
        log.info("%s: the original retried after %s here; playing its next call back", what, type(exc).__name__)
        return
    seconds = policy.delay(failures)
    log.warning(
        "%s failed (attempt %d of %d): %s: %s; retrying in %.2f s",
        what, failures, policy.attempts, type(exc).__name__, exc, seconds,
    )
    if seconds > 0:
        time.sleep(seconds)


# --- tools ------------------------------------------------------------------------------------


def retry_safe(tool: Any) -> Any:
    """Mark a tool as safe to call again after a transient failure (it reads, or its side
    effect goes through the idempotency ledger); returns the tool."""
    tool.metadata = {**(tool.metadata or {}), _RETRY_SAFE: True}
    return tool


def is_retry_safe(tool: Any) -> bool:
    return bool((getattr(tool, "metadata", None) or {}).get(_RETRY_SAFE))


def invoke_tool(tool: Any, call: Any, config: RunnableConfig | None, *, replaying: bool = False) -> Any:
    """`tool.invoke(call, config)`, retried on transient failures when the tool is retry-safe
    (or, in a recorded replay, where the original was retried)."""
    if not (replaying or is_retry_safe(tool)):
        return tool.invoke(call, config)
    failures = 0
    policy: RetryPolicy | None = None
    while True:
        try:
            return tool.invoke(call, config)
        except Exception as exc:
            if not is_transient(exc):
                raise
            failures += 1
            policy = policy or (REPLAY_POLICY if replaying else retry_policy(agent_key_of(config)))
            if failures >= policy.attempts:
                raise
            _wait(f"tool {tool.name}", failures, policy, exc)


# --- models -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Candidate:
    """One model of an agent's ordered list: its spec ("openai:gpt-4o-mini"), provider and model."""

    name: str
    provider: str
    model: Any


class ResilientModel(Runnable[Any, Any]):
    """Calls its models in order until one answers: each with retries on transient failures,
    skipping a provider whose circuit is open. Invoked like the chat model it wraps.

    It opens no run of its own in the callbacks: each attempt is the model's own span.
    """

    def __init__(
        self, candidates: Sequence[Candidate], policy: Callable[[], RetryPolicy], *, breaker: bool = True
    ) -> None:
        if not candidates:
            raise ValueError("a ResilientModel needs at least one model")
        self.candidates = list(candidates)
        self.policy = policy
        self.breaker = breaker
        self.name = "ResilientModel"

    @classmethod
    def replaying(cls, model: Any) -> ResilientModel:
        """A recorded replay's stand-in: retried at once where the original retried, no circuit."""
        return cls([Candidate("recorded", "recorded", model)], lambda: REPLAY_POLICY, breaker=False)

    def bind_tools(self, tools: Any, **kwargs: Any) -> ResilientModel:
        bound = [replace(c, model=c.model.bind_tools(tools, **kwargs)) for c in self.candidates]
        return ResilientModel(bound, self.policy, breaker=self.breaker)

    def invoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        failed: list[str] = []
        last: BaseException | None = None
        for position, candidate in enumerate(self.candidates):
            try:
                return self._call(candidate, input, config, kwargs)
            except Exception as exc:
                if not is_transient(exc) and not isinstance(exc, CircuitOpen):
                    raise
                last = exc
                failed.append(f"{candidate.name}: {type(exc).__name__}: {exc}")
                if position + 1 < len(self.candidates):
                    log.warning(
                        "model %s unavailable (%s); falling back to %s",
                        candidate.name, type(exc).__name__, self.candidates[position + 1].name,
                    )
        assert last is not None
        if len(self.candidates) == 1:
            raise last
        raise ModelUnavailable("no model answered: " + "; ".join(failed)) from last

    def _call(self, candidate: Candidate, input: Any, config: RunnableConfig | None, kwargs: dict[str, Any]) -> Any:
        failures = 0
        policy: RetryPolicy | None = None
        while True:
            trial = self._admit(candidate.provider)
            try:
                result = candidate.model.invoke(input, config, **kwargs)
            except Exception as exc:
                transient = is_transient(exc)
                # Only transient failures say the provider is unwell; any other answer says it is up.
                self._record(candidate.provider, trial, exc if transient else None)
                if not transient:
                    raise
                failures += 1
                policy = policy or off_the_loop(self.policy)
                if failures >= policy.attempts:
                    raise
                _wait(f"model {candidate.name}", failures, policy, exc)
                continue
            self._record(candidate.provider, trial, None)
            return result

    def _admit(self, provider: str) -> bool:
        if not self.breaker:
            return False
        try:
            # A model called from an `async def` node: the circuit's queries run off its event loop.
            return off_the_loop(circuit.admit, provider)
        except DatabaseError as exc:
            # The breaker must not fail calls it cannot account for: let the call go ahead.
            log.warning("circuit of %r not readable (%s); calling anyway", provider, exc)
            return False

    def _record(self, provider: str, trial: bool, error: BaseException | None) -> None:
        if not self.breaker:
            return
        try:
            if error is None:
                off_the_loop(circuit.record_success, provider, trial)
            else:
                off_the_loop(circuit.record_failure, provider, error)
        except DatabaseError as exc:
            log.warning("circuit of %r not updated (%s)", provider, exc)
