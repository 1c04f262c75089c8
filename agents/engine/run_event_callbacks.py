"""The SDK's "events" stream mode: LangChain callback events in `astream_events(version="v2")`'s
shape (`event`, `name`, `run_id`, `parent_ids`, `tags`, `metadata`, `data`), made by a callback
handler on the run's config, so a streamed run keeps one code path (`graph.stream`)."""

from __future__ import annotations

import uuid
from typing import Any

from langchain_core.callbacks import BaseCallbackHandler

from agents.engine.run_events import RunPublisher

__all__ = ["EventsHandler"]


class EventsHandler(BaseCallbackHandler):
    run_inline = True  # in order, in the run's own thread

    def __init__(self, events: RunPublisher) -> None:
        self.events = events
        self._names: dict[uuid.UUID, str] = {}
        self._parents: dict[uuid.UUID, uuid.UUID | None] = {}

    def _emit(self, event: str, run_id: uuid.UUID, data: dict[str, Any], **kwargs: Any) -> None:
        parents: list[str] = []
        parent = self._parents.get(run_id)
        while parent is not None:
            parents.append(str(parent))
            parent = self._parents.get(parent)
        self.events.event(
            {
                "event": event,
                "name": self._names.get(run_id, ""),
                "run_id": str(run_id),
                "parent_ids": parents[::-1],
                "tags": kwargs.get("tags") or [],
                "metadata": kwargs.get("metadata") or {},
                "data": data,
            }
        )

    def _start(
        self,
        kind: str,
        serialized: Any,
        run_id: uuid.UUID,
        parent_run_id: uuid.UUID | None,
        data: dict[str, Any],
        **kwargs: Any,
    ) -> None:
        name = (
            kwargs.get("name")
            or (serialized or {}).get("name")
            or ((serialized or {}).get("id") or ["?"])[-1]
        )
        self._names[run_id], self._parents[run_id] = str(name), parent_run_id
        self._emit(f"on_{kind}_start", run_id, data, **kwargs)

    def on_chain_start(
        self,
        serialized: Any,
        inputs: Any,
        *,
        run_id: uuid.UUID,
        parent_run_id: uuid.UUID | None = None,
        **kwargs: Any,
    ) -> None:
        self._start("chain", serialized, run_id, parent_run_id, {"input": inputs}, **kwargs)

    def on_chain_end(self, outputs: Any, *, run_id: uuid.UUID, **kwargs: Any) -> None:
        self._emit("on_chain_end", run_id, {"output": outputs}, **kwargs)

    def on_chat_model_start(
        self,
        serialized: Any,
        messages: Any,
        *,
        run_id: uuid.UUID,
        parent_run_id: uuid.UUID | None = None,
        **kwargs: Any,
    ) -> None:
        self._start(
            "chat_model", serialized, run_id, parent_run_id, {"input": {"messages": messages}}, **kwargs
        )

    def on_llm_new_token(self, token: Any, *, chunk: Any = None, run_id: uuid.UUID, **kwargs: Any) -> None:
        message = getattr(chunk, "message", None)
        self._emit(
            "on_chat_model_stream", run_id, {"chunk": message if message is not None else token}, **kwargs
        )

    def on_llm_end(self, response: Any, *, run_id: uuid.UUID, **kwargs: Any) -> None:
        generations = getattr(response, "generations", None) or [[]]
        output = getattr(generations[0][0], "message", None) if generations[0] else None
        self._emit("on_chat_model_end", run_id, {"output": output}, **kwargs)

    def on_tool_start(
        self,
        serialized: Any,
        input_str: str,
        *,
        run_id: uuid.UUID,
        parent_run_id: uuid.UUID | None = None,
        **kwargs: Any,
    ) -> None:
        self._start(
            "tool", serialized, run_id, parent_run_id, {"input": kwargs.get("inputs") or input_str}, **kwargs
        )

    def on_tool_end(self, output: Any, *, run_id: uuid.UUID, **kwargs: Any) -> None:
        self._emit("on_tool_end", run_id, {"output": output}, **kwargs)
