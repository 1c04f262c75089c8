"""The store: put, get, search and delete items, list namespaces, as `langgraph_sdk`'s
StoreClient calls them. It is the store the graphs get in the worker (agents/engine/store.py):
an item the SDK puts, a node receiving `store: BaseStore` reads, and the other way round.

One store for the installation, as on LangGraph Platform without custom auth: whoever may read
runs reads it; putting and deleting need the role that starts runs (urls.py). No embeddings are
configured: `query` (meaning search), `index` fields and `ttl` answer 422 rather than being ignored.
"""

from __future__ import annotations

from typing import Any, Literal

from langgraph.store.base import InvalidNamespaceError, Item
from pydantic import BaseModel, ConfigDict, Field

from agents.engine.store import steward_store
from console.kernel.errors import Invalid
from console.langgraph_api.http import Call, Reply, body_as

__all__ = ["delete_item", "get_item", "list_namespaces", "put_item", "search_items"]


class _In(BaseModel):
    model_config = ConfigDict(extra="ignore")


class PutIn(_In):
    namespace: list[str] = Field(min_length=1)
    key: str = Field(min_length=1)
    value: dict[str, Any]
    index: Literal[False] | list[str] | None = None
    ttl: float | None = None


class DeleteIn(_In):
    namespace: list[str] = Field(min_length=1)
    key: str = Field(min_length=1)


class SearchIn(_In):
    namespace_prefix: list[str] = Field(default_factory=list)
    filter: dict[str, Any] | None = None
    limit: int = Field(default=10, ge=1, le=1000)
    offset: int = Field(default=0, ge=0)
    query: str | None = None
    refresh_ttl: bool | None = None


class NamespacesIn(_In):
    prefix: list[str] | None = None
    suffix: list[str] | None = None
    max_depth: int | None = Field(default=None, ge=1)
    limit: int = Field(default=100, ge=1, le=1000)
    offset: int = Field(default=0, ge=0)


def _refuse(field: str, msg: str) -> Invalid:
    return Invalid([{"loc": ["body", field], "msg": msg}])


def _labels(namespace: list[str] | tuple[str, ...], where: list[str], *, whole: bool = True) -> tuple[str, ...]:
    """The namespace as LangGraph takes it. Labels are non-empty, without periods (the SDK joins
    them with one in `get_item`); a whole namespace does not start with LangGraph's own "langgraph".

    Raises:
        Invalid: 422 naming the bad label."""
    for label in namespace:
        if not label or "." in label or "\x00" in label:
            raise Invalid([{"loc": where, "msg": f"namespace label {label!r} is invalid: labels are non-empty and contain no '.'"}])
    if whole and namespace and namespace[0] == "langgraph":
        raise Invalid([{"loc": where, "msg": 'a namespace cannot start with "langgraph" (LangGraph keeps it for itself)'}])
    return tuple(namespace)


def _item_out(item: Item) -> dict[str, Any]:
    out = item.dict()
    score = getattr(item, "score", None)
    if score is not None:
        out["score"] = score
    return out


def put_item(call: Call) -> Reply:
    body = body_as(PutIn, call.body)
    namespace = _labels(body.namespace, ["body", "namespace"])
    if isinstance(body.index, list):
        raise _refuse("index", "Steward's store has no embeddings configured: send index=False or leave it out")
    if body.ttl is not None:
        raise _refuse("ttl", "item expiry (ttl) is not supported by Steward's store")
    try:
        steward_store().put(namespace, body.key, body.value, index=False)
    except InvalidNamespaceError as exc:
        raise _refuse("namespace", str(exc)) from None
    return Reply(None, 204)


def get_item(call: Call) -> Any:
    """The item, or null when there is none (as LangGraph Platform answers)."""
    key, dotted = call.query("key"), call.query("namespace")
    if not key:
        raise Invalid([{"loc": ["query", "key"], "msg": "key is required"}])
    namespace = _labels(dotted.split(".") if dotted else [], ["query", "namespace"])
    if not namespace:
        raise Invalid([{"loc": ["query", "namespace"], "msg": "namespace is required (labels joined with '.')"}])
    item = steward_store().get(namespace, key)
    return _item_out(item) if item is not None else None


def delete_item(call: Call) -> Reply:
    body = body_as(DeleteIn, call.body)
    steward_store().delete(_labels(body.namespace, ["body", "namespace"]), body.key)
    return Reply(None, 204)


def search_items(call: Call) -> dict[str, Any]:
    body = body_as(SearchIn, call.body)
    if body.query:
        raise _refuse("query", "Steward's store has no embeddings configured: search by namespace_prefix and filter")
    prefix = _labels(body.namespace_prefix, ["body", "namespace_prefix"], whole=False)
    try:
        items = steward_store().search(prefix, filter=body.filter, limit=body.limit, offset=body.offset)
    except (ValueError, TypeError) as exc:  # an operator LangGraph's filter does not know
        raise _refuse("filter", str(exc)) from None
    return {"items": [_item_out(i) for i in items]}


def list_namespaces(call: Call) -> dict[str, Any]:
    body = body_as(NamespacesIn, call.body)
    prefix = _labels(body.prefix, ["body", "prefix"], whole=False) if body.prefix else None
    suffix = _labels(body.suffix, ["body", "suffix"], whole=False) if body.suffix else None
    namespaces = steward_store().list_namespaces(
        prefix=prefix, suffix=suffix, max_depth=body.max_depth, limit=body.limit, offset=body.offset
    )
    return {"namespaces": [list(ns) for ns in namespaces]}
