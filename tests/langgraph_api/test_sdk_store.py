"""The store through `get_sync_client`: put, get, search, list namespaces, delete; and the same
store in the worker, where a graph node receiving `store: BaseStore` reads what the SDK put."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from django.db import connection
from langgraph.graph import START, StateGraph
from langgraph.store.memory import InMemoryStore
from langgraph_sdk import get_sync_client
from typing_extensions import TypedDict

from agents.engine.registry import compile_agent, get_agent
from agents.engine.store import StewardStore, with_store

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres, pytest.mark.redis]


@pytest.fixture(autouse=True)
def empty_store(transactional_db: Any) -> None:
    """LangGraph's store table is not a Django model: the test database's flush leaves it as is."""
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM store")


def _status_of(call: Any) -> tuple[int, Any]:
    with pytest.raises(httpx.HTTPStatusError) as caught:
        call()
    return caught.value.response.status_code, caught.value.response.json()


def test_items_are_put_read_searched_and_deleted(sdk_url: str, key_of: Any, engineer: Any, reviewer: Any) -> None:
    client = get_sync_client(url=sdk_url, api_key=key_of(engineer))
    client.store.put_item(["docs", "ada"], "d1", {"title": "Notes", "author": "ada"})
    client.store.put_item(["docs", "ada"], "d2", {"title": "Plans", "author": "ada"})
    client.store.put_item(["docs", "bob"], "d1", {"title": "Diary", "author": "bob"})
    client.store.put_item(["prefs", "ada"], "theme", {"dark": True})

    item = client.store.get_item(["docs", "ada"], key="d1")
    assert item["namespace"] == ["docs", "ada"] and item["key"] == "d1"
    assert item["value"] == {"title": "Notes", "author": "ada"} and item["created_at"] and item["updated_at"]
    client.store.put_item(["docs", "ada"], "d1", {"title": "Notes v2", "author": "ada"})
    assert client.store.get_item(["docs", "ada"], key="d1")["value"]["title"] == "Notes v2"
    assert client.store.get_item(["docs", "ada"], key="missing") is None

    found = client.store.search_items(["docs"], limit=10)["items"]
    assert {(tuple(i["namespace"]), i["key"]) for i in found} == {(("docs", "ada"), "d1"), (("docs", "ada"), "d2"), (("docs", "bob"), "d1")}
    by_bob = client.store.search_items(["docs"], filter={"author": "bob"})["items"]
    assert [(i["namespace"], i["value"]["title"]) for i in by_bob] == [(["docs", "bob"], "Diary")]
    assert len(client.store.search_items(["docs"], limit=2)["items"]) == 2

    assert sorted(client.store.list_namespaces()["namespaces"]) == [["docs", "ada"], ["docs", "bob"], ["prefs", "ada"]]
    assert sorted(client.store.list_namespaces(prefix=["docs"])["namespaces"]) == [["docs", "ada"], ["docs", "bob"]]
    assert client.store.list_namespaces(suffix=["bob"])["namespaces"] == [["docs", "bob"]]
    assert sorted(client.store.list_namespaces(max_depth=1)["namespaces"]) == [["docs"], ["prefs"]]

    client.store.delete_item(["docs", "ada"], key="d2")
    assert client.store.get_item(["docs", "ada"], key="d2") is None

    # Reviewers read the store; writing it is for the role that starts runs.
    reader = get_sync_client(url=sdk_url, api_key=key_of(reviewer))
    assert reader.store.get_item(["prefs", "ada"], key="theme")["value"] == {"dark": True}
    assert _status_of(lambda: reader.store.put_item(["prefs", "ada"], "theme", {"dark": False}))[0] == 403
    assert _status_of(lambda: reader.store.delete_item(["prefs", "ada"], key="theme"))[0] == 403
    assert client.store.get_item(["prefs", "ada"], key="theme")["value"] == {"dark": True}


def test_bad_namespaces_and_what_the_store_cannot_do_answer_422(sdk_url: str, key_of: Any, engineer: Any) -> None:
    key = key_of(engineer)
    client = get_sync_client(url=sdk_url, api_key=key)
    with httpx.Client(base_url=sdk_url, headers={"x-api-key": key}) as http:
        for namespace in ([], ["a.b"], [""], ["langgraph", "x"]):
            response = http.put("/store/items", json={"namespace": namespace, "key": "k", "value": {}})
            assert response.status_code == 422 and response.json()["detail"], namespace
        assert http.put("/store/items", json={"namespace": ["a"], "key": "k", "value": "not an object"}).status_code == 422
        assert http.get("/store/items", params={"namespace": "a"}).status_code == 422  # no key
        assert http.request("DELETE", "/store/items", json={"namespace": ["a..b"], "key": "k"}).status_code == 422
    assert _status_of(lambda: client.store.search_items(["a"], query="what did ada like?"))[0] == 422
    assert _status_of(lambda: client.store.put_item(["a"], "k", {"x": 1}, index=["x"]))[0] == 422
    assert _status_of(lambda: client.store.put_item(["a"], "k", {"x": 1}, ttl=5))[0] == 422
    # Nothing was written by the refused calls.
    assert client.store.list_namespaces()["namespaces"] == []


def test_a_graph_in_the_worker_reads_and_writes_the_sdks_store(sdk_url: str, key_of: Any, engineer: Any) -> None:
    client = get_sync_client(url=sdk_url, api_key=key_of(engineer))
    client.store.put_item(["profiles", "ada"], "preferences", {"tone": "brief"})
    thread = client.threads.create()["thread_id"]

    first = client.runs.wait(thread, "lg_memory", input={"user": "ada"})
    # `recall` got the store as `store: BaseStore` and read the SDK's item.
    assert first["remembered"] == {"tone": "brief"} and first["visits"] == 1
    # `note_visit` wrote through `get_store()`: the SDK reads it.
    assert client.store.get_item(["visits", "ada"], key="count")["value"] == {"n": 1}
    second = client.runs.wait(thread, "lg_memory", input={"user": "ada"})
    assert second["visits"] == 2
    # Another user has no memories.
    assert client.runs.wait(None, "lg_memory", input={"user": "bob"})["remembered"] == {}


class State(TypedDict):
    n: int


def test_a_store_the_author_compiled_in_stays_and_others_get_stewards() -> None:
    builder = StateGraph(State)
    builder.add_node("step", lambda state: state)
    builder.add_edge(START, "step")
    own = InMemoryStore()
    assert with_store(builder.compile(store=own)).store is own
    assert isinstance(with_store(builder.compile()).store, StewardStore)
    # Every agent is compiled with one.
    known = get_agent("known")
    assert known is not None and isinstance(compile_agent(known).store, StewardStore)
