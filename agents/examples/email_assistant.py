"""An email assistant: LangChain's `create_agent` with `HumanInTheLoopMiddleware`, which asks a person to approve, edit, reject or answer each email before it is sent.

Try it with `{"messages": [{"role": "user", "content": "email ana@example.com, bo@example.com about the March invoice"}]}`:
the model proposes one `send_email` per address, in one turn, and the middleware pauses on them as
a batch (one decision per email).
"""

from __future__ import annotations

from typing import Any

from langchain.agents import create_agent
from langchain.agents.middleware import HumanInTheLoopMiddleware
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.tools import tool

# Every email really sent, in order (a stand-in for your mail provider).
SENT: list[dict[str, str]] = []


@tool
def send_email(to: str, subject: str, body: str) -> str:
    """Send an email to one address."""
    SENT.append({"to": to, "subject": subject, "body": body})
    return f"sent to {to}: {subject}"


class FakeEmailModel(BaseChatModel):
    """Offline stand-in for a chat model. Asked "email a@x, b@y about S", it calls `send_email`
    once per address; once the tools have answered, it sums up what they said."""

    @property
    def _llm_type(self) -> str:
        return "fake-email-model"

    def bind_tools(self, tools: Any, **kwargs: Any) -> FakeEmailModel:
        return self

    def _generate(self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kwargs: Any) -> ChatResult:
        if isinstance(messages[-1], ToolMessage):
            results = [str(m.content) for m in messages if isinstance(m, ToolMessage)]
            reply = AIMessage(content="Done. " + " | ".join(results))
        else:
            request = str(messages[-1].content)
            addresses, _, subject = request.removeprefix("email ").partition(" about ")
            calls = [
                {"name": "send_email", "args": {"to": to.strip(), "subject": subject or "Hello", "body": f"About {subject}."},
                 "id": f"call_email_{i}", "type": "tool_call"}
                for i, to in enumerate(addresses.split(","))
                if "@" in to
            ]
            reply = AIMessage(content="" if calls else "Whom should I email? Say: email a@example.com about ...", tool_calls=calls)
        return ChatResult(generations=[ChatGeneration(message=reply)])


agent = create_agent(
    model=FakeEmailModel(),
    tools=[send_email],
    middleware=[HumanInTheLoopMiddleware(interrupt_on={"send_email": True}, description_prefix="Email to send")],
    system_prompt="You write and send short emails.",
    name="email_assistant",
)
