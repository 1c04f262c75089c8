"""Agents that pause the way LangChain's and LangGraph's docs show, with no Steward import:
HumanInTheLoopMiddleware (batched and per call), an Agent Inbox `HumanInterrupt`, a plain
question, and two parallel interrupts (Send). Registered for tests in tests/support/graphs.py.

Their tools record what they really did in `SENT_EMAILS` (the worker runs in the test's process).
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from typing import Annotated, Any, Literal, TypedDict

from langchain.agents import create_agent
from langchain.agents.middleware import HumanInTheLoopMiddleware
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.tools import tool
from langgraph.graph import END, START, StateGraph
from langgraph.types import Send, interrupt

# to → the emails really sent to that address, {"subject", "body"} each.
SENT_EMAILS: dict[str, list[dict[str, str]]] = {}


@tool
def send_email(to: str, subject: str, body: str) -> str:
    """Send an email."""
    SENT_EMAILS.setdefault(to, []).append({"subject": subject, "body": body})
    return f"sent to {to}: {subject}"


class EmailingModel(BaseChatModel):
    """A fake provider: asked "email a@x, b@y about S", it calls send_email once per address in one
    turn; once the tools answered, it repeats what they said."""

    @property
    def _llm_type(self) -> str:
        return "fake-emailing"

    def bind_tools(self, tools: Any, **kwargs: Any) -> EmailingModel:  # type: ignore[override]
        return self

    def _generate(self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kwargs: Any) -> ChatResult:
        if isinstance(messages[-1], ToolMessage):
            results = [str(m.content) for m in messages if isinstance(m, ToolMessage)]
            reply = AIMessage(content="done: " + " | ".join(results))
        else:
            text = str(messages[-1].content).removeprefix("email ")
            addresses, _, subject = text.partition(" about ")
            reply = AIMessage(
                content="",
                tool_calls=[
                    {"name": "send_email", "args": {"to": to.strip(), "subject": subject, "body": "hello"}, "id": f"call_{i}", "type": "tool_call"}
                    for i, to in enumerate(addresses.split(","))
                ],
            )
        return ChatResult(generations=[ChatGeneration(message=reply)])


def build_hitl_email() -> StateGraph:
    """create_agent with HumanInTheLoopMiddleware(interrupt_on={"send_email": True}) (batched)."""
    agent = create_agent(
        model=EmailingModel(), tools=[send_email], middleware=[HumanInTheLoopMiddleware(interrupt_on={"send_email": True})]
    )
    return agent.builder


def build_hitl_email_per_call() -> StateGraph:
    """The same middleware per call, approve or reject only."""
    middleware = HumanInTheLoopMiddleware(
        interrupt_on={"send_email": {"allowed_decisions": ["approve", "reject"]}}, interrupt_mode="per_call"
    )
    return create_agent(model=EmailingModel(), tools=[send_email], middleware=[middleware]).builder


def email_request(text: str) -> dict[str, Any]:
    return {"messages": [HumanMessage(content=text)]}


def agent_reply(state: dict[str, Any]) -> dict[str, Any]:
    messages: Sequence[BaseMessage] = state["messages"]
    return {
        "reply": str(messages[-1].content),
        "tool_results": [str(m.content) for m in messages if isinstance(m, ToolMessage)],
    }


# --- Agent Inbox (its TypedDicts, as its README defines them) ----------------------------------


class ActionRequest(TypedDict):
    action: str
    args: dict[str, Any]


class HumanInterruptConfig(TypedDict):
    allow_ignore: bool
    allow_respond: bool
    allow_edit: bool
    allow_accept: bool


class HumanInterrupt(TypedDict):
    action_request: ActionRequest
    config: HumanInterruptConfig
    description: str | None


class HumanResponse(TypedDict):
    type: Literal["accept", "ignore", "response", "edit"]
    args: None | str | ActionRequest


class InboxState(TypedDict):
    to: str
    outcome: str


def inbox_node(state: InboxState) -> dict[str, Any]:
    return ask_inbox(state, "# Send the invoice\n<b>check</b> the address")


# A description as an agent may write it from what it read: markdown, and HTML that must stay text.
SCRIPTED_NOTE = "**Check** the address first.\n\n<script>window.__pwned = 1</script><img src=x onerror=\"window.__pwned = 2\">"


def noted_inbox_node(state: InboxState) -> dict[str, Any]:
    return ask_inbox(state, SCRIPTED_NOTE)


def ask_inbox(state: InboxState, description: str) -> dict[str, Any]:
    request: HumanInterrupt = {
        "action_request": {"action": "send_email", "args": {"to": state["to"], "subject": "Invoice", "body": "attached"}},
        "config": {"allow_ignore": True, "allow_respond": True, "allow_edit": True, "allow_accept": False},
        "description": description,
    }
    response: HumanResponse = interrupt([request])[0]
    if response["type"] == "accept":
        args = request["action_request"]["args"]
    elif response["type"] == "edit":
        edited = response["args"]
        assert isinstance(edited, dict)
        args = edited["args"]
    elif response["type"] == "response":
        return {"outcome": f"response: {response['args']}"}
    else:
        return {"outcome": "ignored"}
    return {"outcome": str(send_email.invoke(args))}


def build_inbox_email() -> StateGraph:
    """One node asking Agent Inbox (edit, respond or ignore; no accept) before sending an email."""
    graph = StateGraph(InboxState)
    graph.add_node("ask", inbox_node)
    graph.add_edge(START, "ask")
    graph.add_edge("ask", END)
    return graph


def build_inbox_email_noted() -> StateGraph:
    """The same, its description carrying a `<script>` and an `<img onerror>` (SCRIPTED_NOTE)."""
    graph = StateGraph(InboxState)
    graph.add_node("ask", noted_inbox_node)
    graph.add_edge(START, "ask")
    graph.add_edge("ask", END)
    return graph


# --- a plain question, and two at once -----------------------------------------------------------


class QuestionState(TypedDict):
    topic: str
    answer: Any


def question_node(state: QuestionState) -> dict[str, Any]:
    return {"answer": interrupt("What is the order id?", response_schema={"type": "string", "pattern": "^A-[0-9]+$"})}


def build_question() -> StateGraph:
    graph = StateGraph(QuestionState)
    graph.add_node("ask", question_node)
    graph.add_edge(START, "ask")
    graph.add_edge("ask", END)
    return graph


# A question whose answer is one of two shapes told apart by `type`, as LangGraph's
# human-in-the-loop guide answers a tool call (accept, or edit with new values).
BOOKING_REVIEW = {
    "oneOf": [
        {"type": "object", "title": "Accept", "properties": {"type": {"const": "accept"}}, "required": ["type"]},
        {
            "type": "object",
            "title": "Edit",
            "properties": {
                "type": {"const": "edit"},
                "nights": {"type": "integer", "minimum": 1, "description": "How many nights to book", "default": 2},
                "room": {"enum": ["single", "double", "suite"], "default": "double"},
                "breakfast": {"type": "boolean"},
                "note": {"type": "string", "maxLength": 500},
                "guest": {"type": "object", "properties": {"name": {"type": "string", "minLength": 1}, "email": {"type": "string"}}, "required": ["name"]},
                "extras": {"type": "array", "items": {"type": "string"}},
            },
            "required": ["type", "nights", "room"],
        },
    ]
}


def booking_review_node(state: QuestionState) -> dict[str, Any]:
    return {"answer": interrupt("How should the booking go?", response_schema=BOOKING_REVIEW)}


def build_booking_review() -> StateGraph:
    graph = StateGraph(QuestionState)
    graph.add_node("ask", booking_review_node)
    graph.add_edge(START, "ask")
    graph.add_edge("ask", END)
    return graph


class ParallelState(TypedDict):
    items: list[str]
    answers: Annotated[list[str], operator.add]


def fan_out(state: ParallelState) -> list[Send]:
    return [Send("confirm", {"item": item}) for item in state["items"]]


def confirm_node(state: dict[str, Any]) -> dict[str, Any]:
    answer = interrupt(f"Ship {state['item']}?")
    return {"answers": [f"{state['item']}: {answer}"]}


def build_parallel_questions() -> StateGraph:
    """One Send per item; each asks its own question at the same time."""
    graph = StateGraph(ParallelState)
    graph.add_node("confirm", confirm_node)
    graph.add_conditional_edges(START, fan_out, ["confirm"])
    graph.add_edge("confirm", END)
    return graph
