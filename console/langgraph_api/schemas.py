"""The shapes `langgraph_sdk` sends and reads (its `schema.py`): request bodies as pydantic
models, responses as the dicts the SDK's TypedDicts describe."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from console.kernel.serialize import to_jsonable

__all__ = [
    "AssistantSearchIn",
    "HistoryIn",
    "RunCreateIn",
    "StateAtCheckpointIn",
    "StateUpdateIn",
    "ThreadCreateIn",
    "ThreadSearchIn",
    "ThreadUpdateIn",
    "jsonable",
]

# LangGraph Platform's namespace for the assistant of a graph: the same graph id names the same
# assistant id on Platform and here.
ASSISTANT_NAMESPACE = uuid.UUID("6ba7b821-9dad-11d1-80b4-00c04fd430c8")


def assistant_id_of(graph_id: str) -> str:
    return str(uuid.uuid5(ASSISTANT_NAMESPACE, graph_id))


def jsonable(value: Any) -> Any:
    """A state value as the SDK reads it: messages and other pydantic models as their full
    `model_dump` (type, content, id...), the rest as Steward's JSON."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    return to_jsonable(value)


def iso(when: datetime | None) -> str | None:
    return when.isoformat() if when else None


class _In(BaseModel):
    # Fields the SDK may add later are let through; the ones it sends today are all named here,
    # and those Steward cannot honour are refused by the handlers, never dropped silently.
    model_config = ConfigDict(extra="ignore")


class AssistantSearchIn(_In):
    metadata: dict[str, Any] | None = None
    graph_id: str | None = None
    name: str | None = None
    limit: int = Field(10, ge=1, le=1000)
    offset: int = Field(0, ge=0)
    sort_by: Literal["assistant_id", "graph_id", "name", "created_at", "updated_at"] | None = None
    sort_order: Literal["asc", "desc"] | None = None
    select: list[str] | None = None


class ThreadCreateIn(_In):
    thread_id: str | None = None
    metadata: dict[str, Any] | None = None
    if_exists: Literal["raise", "do_nothing"] | None = None
    supersteps: list[Any] | None = None
    graph_id: str | None = None
    ttl: Any = None


class ThreadUpdateIn(_In):
    metadata: dict[str, Any] = Field(default_factory=dict)
    ttl: Any = None


class ThreadSearchIn(_In):
    metadata: dict[str, Any] | None = None
    values: dict[str, Any] | None = None
    ids: list[str] | None = None
    status: Literal["idle", "busy", "interrupted", "error"] | None = None
    limit: int = Field(10, ge=1, le=1000)
    offset: int = Field(0, ge=0)
    sort_by: Literal["thread_id", "status", "created_at", "updated_at"] | None = None
    sort_order: Literal["asc", "desc"] | None = None
    select: list[str] | None = None
    extract: dict[str, str] | None = None


class CheckpointIn(_In):
    thread_id: str | None = None
    checkpoint_ns: str = ""
    checkpoint_id: str | None = None
    checkpoint_map: dict[str, Any] | None = None


class StateAtCheckpointIn(_In):
    checkpoint: CheckpointIn
    subgraphs: bool = False
    select: list[str] | None = None


class StateUpdateIn(_In):
    values: dict[str, Any] | list[Any] | None = None
    as_node: str | None = None
    checkpoint_id: str | None = None
    checkpoint: CheckpointIn | None = None


class HistoryIn(_In):
    limit: int = Field(10, ge=1, le=1000)
    before: str | CheckpointIn | None = None
    metadata: dict[str, Any] | None = None
    checkpoint: CheckpointIn | None = None
    select: list[str] | None = None


class CommandIn(_In):
    resume: Any = None
    update: Any = None
    goto: Any = None


class RunCreateIn(_In):
    assistant_id: str
    input: dict[str, Any] | None = None
    command: CommandIn | None = None
    metadata: dict[str, Any] | None = None
    config: dict[str, Any] | None = None
    context: dict[str, Any] | None = None
    interrupt_before: Any = None
    interrupt_after: Any = None
    webhook: str | None = None
    checkpoint: CheckpointIn | None = None
    checkpoint_id: str | None = None
    checkpoint_during: bool | None = None
    durability: str | None = None
    multitask_strategy: Literal["reject", "interrupt", "rollback", "enqueue"] | None = None
    if_not_exists: Literal["create", "reject"] | None = None
    on_disconnect: Literal["cancel", "continue"] | None = None
    on_completion: Literal["delete", "keep"] | None = None
    after_seconds: float | None = None
    # Streaming options: the stream endpoints read them; a background run has no stream to send.
    stream_mode: Any = None
    stream_subgraphs: bool | None = None
    stream_resumable: bool | None = None
    feedback_keys: Any = None
    strict_resume: bool | None = None
    langsmith_tracer: Any = None
