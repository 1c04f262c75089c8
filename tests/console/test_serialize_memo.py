"""`to_jsonable` with a memo (the recorder's): each message is converted once per run, and a
message whose content or tool calls were replaced since is converted again."""

from __future__ import annotations

from typing import Any

from langchain_core.messages import AIMessage, HumanMessage

from console.kernel.serialize import MessageMemo, to_jsonable


def test_a_message_seen_again_is_not_converted_again() -> None:
    memo: MessageMemo = {}
    question = HumanMessage(content="where is my order?")
    answer = AIMessage(content="", tool_calls=[{"name": "lookup", "args": {"id": 7}, "id": "c1"}])
    first = to_jsonable({"messages": [question]}, memo=memo)
    second = to_jsonable({"messages": [question, answer]}, memo=memo)
    assert first == {"messages": [{"type": "human", "content": "where is my order?"}]}
    assert second["messages"][0] is first["messages"][0]
    assert second["messages"][1]["tool_calls"][0]["args"] == {"id": 7}
    assert second == to_jsonable({"messages": [question, answer]})


def test_a_message_changed_since_is_converted_again() -> None:
    memo: MessageMemo = {}
    message = AIMessage(content="draft")
    assert to_jsonable([message], memo=memo)[0]["content"] == "draft"
    message.content = "final"
    assert to_jsonable([message], memo=memo)[0]["content"] == "final"
    message.tool_calls = [{"name": "send", "args": {}, "id": "c2"}]
    converted: Any = to_jsonable([message], memo=memo)[0]
    assert converted["tool_calls"][0]["name"] == "send"
