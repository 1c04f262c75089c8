"""The cassette: a recorded replay answers model and tool calls from the original run's spans.

A replay run carries `metadata["replay"] = {"source_run_id", "mode", "live_from_step"}`. While a
node of such a run executes, `agents.engine.llm.chat_model_for` and `agents.engine.tools.run_tool_calls` ask
`current()` whether this step is recorded; if so they answer from the original's spans (keyed
by step and call order) instead of calling the model or running the tool. Nothing external is
called and no side effect repeats; a recorded tool failure fails again, the same way.
"""

from __future__ import annotations

import threading
from abc import abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.tools import StructuredTool, ToolException
from langgraph.config import get_config

from console.kernel.sealing import SealError, open_json
from traces.recording.models import Span

__all__ = ["AnsweringChatModel", "Cassette", "RecordedCallError", "RecordedChatModel", "current"]


class RecordedCallError(RuntimeError):
    """A call the original run made failed: the recorded replay fails the same way.

    `steward_transient` says whether the original called again at this step after the failure
    (a retry or a fallback, agents/engine/reliability.py): the replay then retries too, at once, and
    plays the next recorded call back.
    """

    def __init__(self, message: str, retried: bool = False) -> None:
        super().__init__(message)
        self.steward_transient = retried


class CassetteMiss(RuntimeError):
    """The replay made a call the original did not make at this step (the code has changed)."""


@dataclass
class Cassette:
    source_run_id: str
    live_from_step: int | None
    _calls: dict[tuple[int | None, str], list[Any]] = field(default_factory=dict)
    _used: dict[tuple[int, str, str], int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def covers(self, step: int | None) -> bool:
        return step is not None and (self.live_from_step is None or step < self.live_from_step)

    def _recorded(self, step: int, kind: str) -> list[Any]:

        if not self._calls:
            # One query for the whole recording: a replay must not cost more than the original.
            calls: dict[tuple[int | None, str], list[Any]] = {}
            spans = (
                Span.objects.filter(run_id=self.source_run_id, kind__in=("model", "tool"))
                .order_by("seq")
                .only("step", "kind", "name", "status", "output", "error", "model", "tokens_in", "tokens_out", "sealed")
            )
            for span in spans:
                calls.setdefault((span.step, span.kind), []).append(span)
            self._calls = calls or {(-1, ""): []}
        return self._calls.get((step, kind), [])

    def next_call(self, step: int, kind: str, name: str) -> Any:
        """The original's next recorded call of this kind (and, for tools, this name) at this
        step, in order. Paused spans of a step resumed after approval are skipped: only completed
        calls are played back."""
        with self._lock:
            calls = self._playable(step, kind, name)
            index = self._used.get((step, kind, name), 0)
            self._used[(step, kind, name)] = index + 1
        if index >= len(calls):
            raise CassetteMiss(f"the original run made no {kind} call #{index + 1} at step {step}")
        return _unsealed(calls[index])

    def has_next(self, step: int, kind: str, name: str) -> bool:
        """Whether the original made another call of this kind (and name) at this step after the
        one just played back: after a failed call, that means it was retried or fell back."""
        with self._lock:
            return self._used.get((step, kind, name), 0) < len(self._playable(step, kind, name))

    def _playable(self, step: int, kind: str, name: str) -> list[Any]:
        return [s for s in self._recorded(step, kind) if s.status != "paused" and (kind != "tool" or s.name == name)]


class SealedValueUnreadable(RuntimeError):
    """The original's output was sealed with a key this Steward no longer has."""


def _unsealed(span: Any) -> Any:
    """The span with the output and error the call really gave: the stored ones are redacted,
    the originals of what redaction changed are sealed (traces/recording/writer.py)."""
    if span.sealed is None:
        return span

    try:
        originals = open_json(span.sealed, span.id.bytes)
    except SealError as exc:
        raise SealedValueUnreadable(
            f"the recorded {span.kind} call {span.name!r} holds secrets sealed with another encryption key "
            f"({exc}); replay this step live, or restore the key (STEWARD_ENCRYPTION_KEY or SECRET_KEY_FALLBACKS)"
        ) from None
    span.output = originals.get("output", span.output)
    span.error = originals.get("error", span.error)
    span.sealed = None
    return span


_cassettes: dict[str, Cassette] = {}
_cassettes_lock = threading.Lock()


def current() -> tuple[Cassette, int] | None:
    """The cassette and step, when the node running now belongs to a recorded step of a replay."""
    try:
        config = get_config()
    except RuntimeError:
        return None
    replay = config.get("configurable", {}).get("steward_replay")
    if not replay or replay.get("mode") == "live":
        return None
    step = config.get("metadata", {}).get("langgraph_step")
    run_id = config["configurable"].get("steward_run_id", "")
    with _cassettes_lock:
        cassette = _cassettes.get(run_id)
        if cassette is None:
            live_from = replay.get("live_from_step") if replay.get("mode") == "mixed" else None
            cassette = _cassettes[run_id] = Cassette(replay["source_run_id"], live_from)
    return (cassette, step) if step is not None and cassette.covers(step) else None


def forget(run_id: str) -> None:
    with _cassettes_lock:
        _cassettes.pop(str(run_id), None)


def _message_from(output: Any) -> AIMessage:
    if not isinstance(output, dict):
        return AIMessage(content=str(output or ""))
    return AIMessage(
        content=output.get("content", ""),
        tool_calls=[
            {"name": c.get("name", ""), "args": c.get("args") or {}, "id": c.get("id"), "type": "tool_call"}
            for c in output.get("tool_calls") or []
        ],
    )


@dataclass
class Answer:
    """A model's reply with what it is billed as."""

    message: AIMessage
    tokens_in: int
    tokens_out: int
    model_name: str


class AnsweringChatModel(BaseChatModel):
    """A chat model that calls no provider: the offline scripted model (agents/engine/llm.py) and the
    recorded replay's model below. A subclass says what it answers; this class turns the answer
    into the reply LangChain expects, with the usage and model name the recorder reads."""

    model_name: str

    def bind_tools(self, tools: Any, **kwargs: Any) -> AnsweringChatModel:
        # The answer decides which tools to call; binding changes nothing.
        return self

    @abstractmethod
    def answer(self, messages: list[BaseMessage]) -> Answer: ...

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        answer = self.answer(messages)
        message = answer.message
        message.usage_metadata = {
            "input_tokens": answer.tokens_in,
            "output_tokens": answer.tokens_out,
            "total_tokens": answer.tokens_in + answer.tokens_out,
        }
        message.response_metadata = {"model_name": answer.model_name}
        return ChatResult(generations=[ChatGeneration(message=message)])


class RecordedChatModel(AnsweringChatModel):
    """Answers with the original run's model output for this step and call."""

    model_name: str = "recorded"

    @property
    def _llm_type(self) -> str:
        return "recorded"

    def answer(self, messages: list[BaseMessage]) -> Answer:
        found = current()
        if found is None:
            raise CassetteMiss("a recorded model was called outside a recorded step")
        cassette, step = found
        span = cassette.next_call(step, "model", "")
        if span.status == "error":
            raise RecordedCallError(
                span.error.strip().splitlines()[-1] if span.error else "the model call failed",
                retried=cassette.has_next(step, "model", ""),
            )
        return Answer(_message_from(span.output), span.tokens_in, span.tokens_out, span.model or self.model_name)


def recorded_tool_output(name: str) -> Any:
    """The original's output for the next call of tool `name` at this step; re-raises its failure
    (a refusal as the same ToolException)."""
    found = current()
    if found is None:
        raise CassetteMiss("a recorded tool was called outside a recorded step")
    cassette, step = found
    span = cassette.next_call(step, "tool", name)
    if span.status == "error" and isinstance(span.output, dict) and "refused" in span.output:
        # The tool refused the call (recorder.py `on_tool_error`): the agent reads the same refusal.
        raise ToolException(str(span.output["refused"]))
    if span.status == "error":
        raise RecordedCallError(
            span.error.strip().splitlines()[-1] if span.error else f"{name} failed",
            retried=cassette.has_next(step, "tool", name),
        )
    output = span.output
    if isinstance(output, dict) and "content" in output:
        return output["content"]
    return output


def recorded_tools(tools: Sequence[Any]) -> list[Any]:
    """Stand-ins with the same names that play back the recording (so spans are still recorded)."""

    def stand_in(tool: Any) -> Any:
        def play(**kwargs: Any) -> Any:
            return recorded_tool_output(tool.name)

        return StructuredTool.from_function(
            func=play, name=tool.name, description=tool.description or tool.name, args_schema=tool.args_schema
        )

    return [stand_in(t) for t in tools]
