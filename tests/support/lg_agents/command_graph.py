"""A graph the LangGraph docs way for `Command(update=..., goto=...)`, a run's own
`config["configurable"]` values and its runtime `context`: `draft` writes a note, `review` waits
for a person with `interrupt`, `send` reads the note and the tone, `escalate` is reached only
by a goto. Every node records what it received in `seen`."""

from __future__ import annotations

import operator
from dataclasses import dataclass
from typing import Annotated

from langchain_core.runnables import RunnableConfig
from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime
from langgraph.types import interrupt
from typing_extensions import TypedDict


@dataclass
class Context:
    team: str = "nobody"


def team_of(runtime: Runtime[Context]) -> str:
    # A run without context gets None, as with LangGraph's invoke.
    return runtime.context.team if runtime.context is not None else "nobody"


class State(TypedDict, total=False):
    note: str
    tone: str
    sent: str
    approved: bool
    seen: Annotated[list[str], operator.add]


def draft(state: State, config: RunnableConfig, runtime: Runtime[Context]) -> State:
    user_name = config["configurable"].get("user_name", "anonymous")
    return {"note": f"note for {user_name}", "tone": state.get("tone", "plain"), "seen": [f"draft:{user_name}:{team_of(runtime)}"]}


def review(state: State) -> State:
    answer = interrupt({"question": "send this note?", "note": state["note"]})
    return {"approved": bool(answer), "seen": ["review"]}


def send(state: State, config: RunnableConfig, runtime: Runtime[Context]) -> State:
    user_name = config["configurable"].get("user_name", "anonymous")
    return {"sent": f"{state['tone']}: {state['note']}", "seen": [f"send:{user_name}:{team_of(runtime)}"]}


def escalate(state: State) -> State:
    return {"sent": f"escalated: {state['note']}", "seen": ["escalate"]}


builder = StateGraph(State, context_schema=Context)
builder.add_node("draft", draft)
builder.add_node("review", review)
builder.add_node("send", send)
builder.add_node("escalate", escalate)
builder.add_edge(START, "draft")
builder.add_edge("draft", "review")
builder.add_edge("review", "send")
builder.add_edge("send", END)
builder.add_edge("escalate", END)
graph = builder.compile()
