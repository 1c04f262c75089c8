"""The cassette: a replay's LangChain model and tool calls answered from the original run's spans.

A replay run carries `metadata["replay"] = {"source_run_id", "mode", "live_from_step", ...}`,
which the runtime puts in the graph's config (`configurable.steward_replay`). In `cassette` mode
every step is covered; in `mixed` mode the steps before `live_from_step`. While a covered step
runs, node code runs as usual, but:

- every chat model call, of any `BaseChatModel` (a provider's, a fake, Steward's), is answered
  with the original's recorded reply: `install()` wraps `BaseChatModel._generate_with_cache` /
  `_agenerate_with_cache` (what `invoke`, `batch`, `generate` and the streaming fallbacks all go
  through) and turns streaming off (`_should_stream`), so `stream()` falls back to a played-back
  `invoke()`; the v3 event stream, which bypasses both, refuses to run;
- every tool call, of any `BaseTool` (LangGraph's `ToolNode`, `create_agent`,
  `create_react_agent`, Steward's tool loop, a direct `tool.invoke`), is answered with the
  original's recorded result: `install()` wraps `BaseTool.run` / `arun` and runs LangChain's own
  `run` on a stand-in (`_PlaybackTool`) with the tool's name, schema and response format, so the
  callbacks, the span, the `ToolMessage` and its `tool_call_id` are what the real tool gives;
- a call with no recorded match raises `CassetteMiss` and nothing is called: the replay fails,
  and the runtime fails it even if the agent caught the error (`first_miss`); so does a call that
  cannot be played back (a text-completion `BaseLLM`, a model's v3 event stream).

Why patching: LangChain's callbacks see a call but cannot replace its result, and its LLM cache
covers neither tools nor models built with `cache=False`. The wrappers are installed once per
process (the runtime calls `install()`) and do nothing unless the running graph's config names a
covered replay step: one `get_config()` look-up per call.

Matching (`Cassette.play`): a recorded call is found by its place (the node path from the
checkpoint namespace, e.g. ("booking", "agent"), and the step within that graph) and then by
content, the first unused call in recorded order: for a model, the messages it was sent (type,
content, name, tool calls and tool_call_id; as stored, i.e. redacted); for a tool, its name and
arguments (without injected ones). Paused calls (a tool that called `interrupt()`) and calls made
inside another recorded call are never played back. A recorded failure fails again the same way.
Not intercepted: code outside LangChain models and tools (a plain HTTP call in a node), and calls
made from threads a node starts without LangGraph's context.
"""

from __future__ import annotations

import json
import threading
from abc import abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, BaseLLM
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.tools import BaseTool, ToolException
from langgraph.config import get_config

from console.kernel.sealing import SealError, open_json
from console.kernel.serialize import to_jsonable
from traces.recording.models import Span
from traces.recording.writer import stored_form

__all__ = [
    "AnsweringChatModel",
    "Cassette",
    "CassetteMiss",
    "RecordedCallError",
    "RecordedChatModel",
    "current",
    "first_miss",
    "forget",
    "install",
    "prepare",
]

# Where a call happens: the node path of its checkpoint namespace and the step in that graph.
Place = tuple[tuple[str, ...], int]


class RecordedCallError(RuntimeError):
    """A call the original run made failed: the replay fails the same way.

    `steward_transient` says whether the original called again at this place after the failure
    (a retry or a fallback, agents/engine/reliability.py): the replay then retries too, at once, and
    plays the next recorded call back.
    """

    def __init__(self, message: str, retried: bool = False) -> None:
        super().__init__(message)
        self.steward_transient = retried


class CassetteMiss(RuntimeError):
    """The replay made a model or tool call the original did not make: nothing was called."""


class SealedValueUnreadable(RuntimeError):
    """The original's output was sealed with a key this Steward no longer has."""


@dataclass
class _Recorded:
    span: Any
    content: str
    used: bool = False


def _content_key(kind: str, name: str, stored: Any) -> str:
    """What a call is compared by: its input as stored (redacted JSON), without token counts."""
    if kind == "model" and isinstance(stored, list):
        stored = [{k: v for k, v in m.items() if k != "usage_metadata"} if isinstance(m, dict) else m for m in stored]
    return json.dumps([kind, name, stored], sort_keys=True)


def _live_key(kind: str, name: str, value: Any) -> str:
    return _content_key(kind, name, stored_form(to_jsonable(value)))


@dataclass
class Cassette:
    source_run_id: str
    live_from_step: int | None
    _places: dict[Place, list[_Recorded]] | None = None
    _misses: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def covers(self, step: int | None) -> bool:
        return step is not None and (self.live_from_step is None or step < self.live_from_step)

    def _recording(self) -> dict[Place, list[_Recorded]]:
        if self._places is None:
            self._places = recorded_calls(self.source_run_id)
        return self._places

    def play(self, place: Place, kind: str, name: str, content: Any) -> Any:
        """The original's first unused call of this kind, name and content at this place.

        Raises:
            CassetteMiss: there is none (remembered for `first_miss`).
        """
        key = _live_key(kind, name, content)
        with self._lock:
            for recorded in self._recording().get(place, []):
                if not recorded.used and recorded.content == key:
                    recorded.used = True
                    return _unsealed(recorded.span)
            message = _miss_message(self._recording().get(place, []), place, kind, name)
            self._misses.append(message)
        raise CassetteMiss(message)

    def has_next(self, place: Place, kind: str, name: str, content: Any) -> bool:
        """Whether the original made the same call again here: after a failure, a retry."""
        key = _live_key(kind, name, content)
        with self._lock:
            return any(not r.used and r.content == key for r in self._recording().get(place, []))


def _miss_message(recorded: list[_Recorded], place: Place, kind: str, name: str) -> str:
    where = f"node {'/'.join(place[0]) or '?'} at step {place[1]}"
    what = "model call" if kind == "model" else f"call of tool {name!r}"
    same = [r for r in recorded if r.span.kind == kind and (kind == "model" or r.span.name == name)]
    if not same:
        detail = f"the original made no {what.replace('call of ', '')} call there" if kind == "tool" else "the original called no model there"
    elif all(r.used for r in same):
        detail = f"the original made only {len(same)} such call(s) there, all played back already"
    else:
        detail = "the original made such calls there, but with other " + ("messages" if kind == "model" else "arguments")
    return f"cassette replay: a {what} in {where} is not in the recording ({detail}); nothing was called"


def recorded_calls(source_run_id: str) -> dict[Place, list[_Recorded]]:
    """The original's playable model and tool calls by place, in recorded order (one query)."""
    spans = list(
        Span.objects.filter(run_id=source_run_id, kind__in=("node", "model", "tool"))
        .order_by("seq")
        .only("id", "parent_id", "kind", "name", "step", "status", "input", "output", "error", "model", "tokens_in", "tokens_out", "sealed")
    )
    by_id: dict[Any, Any] = {span.id: span for span in spans}
    places: dict[Place, list[_Recorded]] = {}
    for span in spans:
        if span.kind == "node" or span.status == "paused":
            continue
        parent = by_id.get(span.parent_id)
        if parent is not None and parent.kind != "node":
            continue  # made inside another recorded call, which plays back as a whole
        place = place_of(span, by_id)
        name = "" if span.kind == "model" else span.name
        places.setdefault(place, []).append(_Recorded(span, _content_key(span.kind, name, span.input)))
    return places


def place_of(span: Any, by_id: dict[Any, Any]) -> Place:
    """A recorded call's place: the names of its node ancestors (outermost first) and the step of
    the innermost one."""
    path: list[str] = []
    step = span.step
    node = by_id.get(span.parent_id)
    while node is not None:
        if node.kind == "node":
            if not path:
                step = node.step
            path.append(node.name)
        node = by_id.get(node.parent_id)
    return tuple(reversed(path)), int(step if step is not None else -1)


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


def current() -> tuple[Cassette, Place] | None:
    """The cassette and the place, when the code running now is in a covered step of a replay."""
    try:
        config = get_config()
    except RuntimeError:
        return None
    replay = (config.get("configurable") or {}).get("steward_replay")
    if not replay or replay.get("mode") == "live":
        return None
    metadata = config.get("metadata") or {}
    step = metadata.get("langgraph_step")
    run_id = config["configurable"].get("steward_run_id", "")
    with _cassettes_lock:
        cassette = _cassettes.get(run_id)
        if cassette is None:
            live_from = replay.get("live_from_step") if replay.get("mode") == "mixed" else None
            cassette = _cassettes[run_id] = Cassette(replay["source_run_id"], live_from)
    if step is None or not cassette.covers(step):
        return None
    namespace = str(metadata.get("langgraph_checkpoint_ns") or "")
    path = tuple(part.split(":", 1)[0] for part in namespace.split("|") if part)
    return cassette, (path, int(step))


def prepare(run_id: str, replay: dict[str, Any] | None) -> None:
    """Load the recording a replay run plays back, before its graph runs: an async graph's nodes
    run in an event loop, where the database may not be queried (Django refuses)."""
    if not replay or replay.get("mode") == "live" or replay.get("copied"):
        return
    live_from = replay.get("live_from_step") if replay.get("mode") == "mixed" else None
    cassette = Cassette(replay["source_run_id"], live_from)
    cassette._recording()
    with _cassettes_lock:
        _cassettes[str(run_id)] = cassette


def first_miss(run_id: str) -> str | None:
    """The first call this run's cassette could not answer, even if the agent caught the error."""
    with _cassettes_lock:
        cassette = _cassettes.get(str(run_id))
    return cassette._misses[0] if cassette is not None and cassette._misses else None


def forget(run_id: str) -> None:
    with _cassettes_lock:
        _cassettes.pop(str(run_id), None)


# --- models -------------------------------------------------------------------------------------


def _message_from(output: Any) -> AIMessage:
    if not isinstance(output, dict):
        return AIMessage(content=str(output or ""))
    message = AIMessage(
        content=output.get("content", ""),
        tool_calls=[
            {"name": c.get("name", ""), "args": c.get("args") or {}, "id": c.get("id"), "type": "tool_call"}
            for c in output.get("tool_calls") or []
        ],
    )
    if output.get("name"):
        message.name = output["name"]
    if output.get("usage_metadata"):
        message.usage_metadata = output["usage_metadata"]
    return message


def _played_model_call(found: tuple[Cassette, Place], messages: list[BaseMessage]) -> Any:
    cassette, place = found
    span = cassette.play(place, "model", "", messages)
    if span.status == "error":
        raise RecordedCallError(
            span.error.strip().splitlines()[-1] if span.error else "the model call failed",
            retried=cassette.has_next(place, "model", "", messages),
        )
    return span


@dataclass
class Answer:
    """A model's reply with what it is billed as."""

    message: AIMessage
    tokens_in: int
    tokens_out: int
    model_name: str


class AnsweringChatModel(BaseChatModel):
    """A chat model that calls no provider: the offline scripted model (agents/engine/llm.py) and the
    replay's model below. A subclass says what it answers; this class turns the answer into the
    reply LangChain expects, with the usage and model name the recorder reads."""

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
    """Steward's `chat_model_for` in a covered step: answers with the original's reply for this
    call (the interception below leaves it alone), and names the model the original used."""

    model_name: str = "recorded"

    @property
    def _llm_type(self) -> str:
        return "recorded"

    def answer(self, messages: list[BaseMessage]) -> Answer:
        found = current()
        if found is None:
            raise CassetteMiss("a recorded model was called outside a covered replay step")
        span = _played_model_call(found, messages)
        return Answer(_message_from(span.output), span.tokens_in, span.tokens_out, span.model or self.model_name)


def _recorded_result(found: tuple[Cassette, Place], messages: list[BaseMessage]) -> ChatResult:
    span = _played_model_call(found, messages)
    message = _message_from(span.output)
    if span.model:
        # The recorder names the replay's span after the model the original reported.
        message.response_metadata = {"model_name": span.model}
    return ChatResult(generations=[ChatGeneration(message=message)])


# --- tools --------------------------------------------------------------------------------------


def _recorded_error_content(error: ToolException) -> Any:
    # The tool's error was handled into an error ToolMessage: the recorded content, unchanged.
    return getattr(error, "content", str(error))


class _HandledToolError(ToolException):
    def __init__(self, content: Any) -> None:
        super().__init__(str(content))
        self.content = content


class _PlaybackTool(BaseTool):
    """Stands in for the real tool in LangChain's own `BaseTool.run`: same name, schema and
    response format (so the arguments are parsed and the ToolMessage built the same way); its
    `_run` answers from the recording instead of running anything."""

    found: Any
    wanted: Any
    has_call_id: bool = False

    def _run(self, *args: Any, **kwargs: Any) -> Any:
        cassette, place = self.found
        span = cassette.play(place, "tool", self.name, self.wanted)
        output = span.output
        if span.status == "error":
            if isinstance(output, dict) and "refused" in output:
                # The tool refused the call (a ToolException, recorder.py `on_tool_error`): again.
                raise ToolException(str(output["refused"]))
            raise RecordedCallError(
                span.error.strip().splitlines()[-1] if span.error else f"{self.name} failed",
                retried=cassette.has_next(place, "tool", self.name, self.wanted),
            )
        message = isinstance(output, dict) and output.get("type") == "tool"
        if self.has_call_id and not message:
            raise CassetteMiss(
                f"cassette replay: the recorded result of tool {self.name!r} is not a message "
                "(e.g. a Command) and cannot be played back; nothing was called"
            )
        content = output["content"] if message else output
        if message and output.get("status") == "error":
            # The original tool's error was handled into an error ToolMessage: handled again here.
            self.handle_tool_error = _recorded_error_content
            raise _HandledToolError(content)
        # Artifacts are not recorded: a content-and-artifact tool plays back without one.
        return (content, None) if self.response_format == "content_and_artifact" else content


def _playback_tool(tool: BaseTool, found: tuple[Cassette, Place], tool_input: Any, tool_call_id: Any) -> _PlaybackTool:
    # What the recorder stored as the call's input: the arguments without injected ones.
    wanted = tool._filter_injected_args(tool_input) if isinstance(tool_input, dict) else tool_input  # noqa: SLF001
    return _PlaybackTool(
        name=tool.name,
        description=tool.description or tool.name,
        args_schema=tool.args_schema,
        response_format=tool.response_format,
        handle_validation_error=tool.handle_validation_error,
        return_direct=tool.return_direct,
        callbacks=tool.callbacks,
        tags=tool.tags,
        metadata=tool.metadata,
        found=found,
        wanted=wanted,
        has_call_id=bool(tool_call_id),
    )


# --- the interception ---------------------------------------------------------------------------

_installed = False
_install_lock = threading.Lock()


def install() -> None:
    """Wrap LangChain's model and tool entry points once per process (see the module docstring)."""
    global _installed
    with _install_lock:
        if _installed:
            return
        _installed = True
        _wrap_models()
        _wrap_tools()


def _wrap_models() -> None:
    generate = BaseChatModel._generate_with_cache  # noqa: SLF001
    agenerate = BaseChatModel._agenerate_with_cache  # noqa: SLF001
    should_stream = BaseChatModel._should_stream  # noqa: SLF001
    stream_v3: Callable[..., Any] | None = getattr(BaseChatModel, "_chat_model_stream_v3", None)
    astream_v3: Callable[..., Any] | None = getattr(BaseChatModel, "_achat_model_stream_v3", None)

    def _covering(model: Any) -> tuple[Cassette, Place] | None:
        return None if isinstance(model, RecordedChatModel) else current()

    def _generate_with_cache(self: Any, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kwargs: Any) -> Any:
        found = _covering(self)
        if found is None:
            return generate(self, messages, stop, run_manager, **kwargs)
        return _recorded_result(found, messages)

    async def _agenerate_with_cache(self: Any, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kwargs: Any) -> Any:
        found = _covering(self)
        if found is None:
            return await agenerate(self, messages, stop, run_manager, **kwargs)
        return _recorded_result(found, messages)

    def _should_stream(self: Any, **kwargs: Any) -> bool:
        # A played-back call does not stream: `stream()` falls back to a played-back `invoke()`.
        return False if _covering(self) is not None else should_stream(self, **kwargs)

    BaseChatModel._generate_with_cache = _generate_with_cache  # type: ignore[method-assign]  # noqa: SLF001
    BaseChatModel._agenerate_with_cache = _agenerate_with_cache  # type: ignore[method-assign]  # noqa: SLF001
    BaseChatModel._should_stream = _should_stream  # type: ignore[method-assign]  # noqa: SLF001
    v3 = "stream_events(version='v3') on a chat model"
    if stream_v3 is not None:
        BaseChatModel._chat_model_stream_v3 = _refusing(stream_v3, v3)  # type: ignore[method-assign]  # noqa: SLF001
    if astream_v3 is not None:
        BaseChatModel._achat_model_stream_v3 = _refusing(astream_v3, v3)  # type: ignore[method-assign]  # noqa: SLF001
    # Text-completion LLMs (not chat models) are not played back: in a covered step they refuse
    # to run rather than call out.
    for name in ("_generate_helper", "_agenerate_helper", "stream", "astream"):
        setattr(BaseLLM, name, _refusing(getattr(BaseLLM, name), "a text-completion LLM (BaseLLM) call"))


def _refusing(original: Callable[..., Any], what: str) -> Callable[..., Any]:
    """`original`, except in a covered replay step, where it fails without calling anything."""

    def refuse_when_covered(self: Any, *args: Any, **kwargs: Any) -> Any:
        if current() is not None and not isinstance(self, RecordedChatModel):
            raise CassetteMiss(f"cassette replay: {what} cannot be played back; nothing was called")
        return original(self, *args, **kwargs)

    return refuse_when_covered


def _wrap_tools() -> None:
    run = BaseTool.run
    arun = BaseTool.arun

    def _stand_in(tool: Any, tool_input: Any, kwargs: dict[str, Any]) -> Any:
        if isinstance(tool, _PlaybackTool):
            return tool
        found = current()
        return tool if found is None else _playback_tool(tool, found, tool_input, kwargs.get("tool_call_id"))

    def run_played_back(self: Any, tool_input: Any, *args: Any, **kwargs: Any) -> Any:
        return run(_stand_in(self, tool_input, kwargs), tool_input, *args, **kwargs)

    async def arun_played_back(self: Any, tool_input: Any, *args: Any, **kwargs: Any) -> Any:
        return await arun(_stand_in(self, tool_input, kwargs), tool_input, *args, **kwargs)

    BaseTool.run = run_played_back  # type: ignore[method-assign]
    BaseTool.arun = arun_played_back  # type: ignore[method-assign]
