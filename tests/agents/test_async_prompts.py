"""`agents.prompts.get` / `aget` and `agents.llm.chat_model_for` work from an `async def` node:
their database reads and writes (the pinned version, a prompt pinned at its first use, the circuit
breaker of a configured model) run off the graph's event loop. A real worker runs the async graph
(tests/support/graphs.py `async_prompted`); only the model is scripted."""

from __future__ import annotations

from typing import Any

import pytest

from agents.engine.models import Run
from agents.prompt_admin.services import create_prompt
from agents.prompts.models import RunPromptVersion
from tests.support.prompts import chat
from tests.support.waiting import wait_for
from traces.recording.models import Span


@pytest.mark.django_db(transaction=True)
def test_prompts_and_the_model_helper_work_from_an_async_node(
    celery_worker: Any, api: Any, engineer: Any, admin_user: Any, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Django refuses the ORM on a running event loop unless told not to: make sure nobody told it.
    monkeypatch.delenv("DJANGO_ALLOW_ASYNC_UNSAFE", raising=False)
    create_prompt(admin_user, "async_pinned", template=chat("pinned: version 1 from the console"))
    create_prompt(admin_user, "async_late", template=chat("late: version 1 from the console"))
    # A configured model goes through the resilient wrapper and its circuit breaker (queries too).
    settings.STEWARD_AGENT_MODELS = {"async_prompted": "scripted-async"}

    client = api(engineer)
    started = client.post("/api/runs", {"agent": "async_prompted", "input": {"topic": "refunds"}})
    assert started.status_code == 201, started.content
    run_id = started.json()["id"]
    run = wait_for(lambda: (d := client.get(f"/api/runs/{run_id}").json())["status"] in ("succeeded", "failed") and d)
    assert run["status"] == "succeeded", run["error"]
    assert run["output"] == {"reply": "pinned: version 1 from the console / late: version 1 from the console"}

    # The prompt the agent did not declare was pinned on the run at its first use, from the loop.
    pins = Run.objects.get(id=run_id).prompt_versions
    assert set(pins) == {"async_pinned", "async_late"}
    assert set(RunPromptVersion.objects.filter(run_id=run_id).values_list("version__prompt__name", flat=True)) == {
        "async_pinned", "async_late",
    }
    [model_span] = Span.objects.filter(run_id=run_id, kind="model")
    assert model_span.model == "scripted-async"
