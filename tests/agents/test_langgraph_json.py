"""Graphs brought as they are, through the LangGraph CLI's langgraph.json (STEWARD_LANGGRAPH_JSON):
the example agents in tests/support/lg_agents are written the way LangGraph's docs write them (no
Steward import). Each becomes an agent, runs in a real Celery worker on the real checkpointer and
is recorded; what cannot be loaded stops `manage.py check` and the embedded server, naming the graph."""

from __future__ import annotations

import importlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agents.engine import runtime
from agents.engine.checkpointer import checkpointer
from agents.engine.langgraph_json import LangGraphJsonError
from agents.engine.models import Agent, Run
from agents.engine.registry import get_agent, reload_langgraph_json
from agents.engine.services import start_run
from agents.engine.tasks import send_run
from approvals.models import ApprovalRequest
from approvals.services import decide
from tests.support.processes import ROOT, free_port, fresh_django, fresh_env
from tests.support.runs import node_names
from tests.support.waiting import wait_for
from traces.recording.models import Span

LG_AGENTS = ROOT / "tests" / "support" / "lg_agents"
LANGGRAPH_JSON = LG_AGENTS / "langgraph.json"
GRAPH_IDS = ["lg_async", "lg_factory", "lg_plain", "lg_react"]


@pytest.fixture
def lg_json(settings: Any) -> Iterator[Path]:
    """STEWARD_LANGGRAPH_JSON set to the example agents' langgraph.json for the test."""
    settings.STEWARD_LANGGRAPH_JSON = str(LANGGRAPH_JSON)
    yield LANGGRAPH_JSON


def _issued() -> list[dict[str, Any]]:
    # The example tool's ledger, a sibling module of the graphs (on sys.path through `dependencies`).
    ledger: list[dict[str, Any]] = importlib.import_module("refund_ledger").ISSUED
    return ledger


def _start(client: Any, agent: str, data: dict[str, Any]) -> str:
    response = client.post("/api/runs", {"agent": agent, "input": data})
    assert response.status_code == 201, response.content
    return str(response.json()["id"])


def _stopped(client: Any, run_id: str) -> dict[str, Any]:
    detail: dict[str, Any] = wait_for(
        lambda: (d := client.get(f"/api/runs/{run_id}").json())["status"] in ("succeeded", "failed", "waiting") and d
    )
    return detail


# --- loading --------------------------------------------------------------------------------


@pytest.mark.django_db
def test_every_graph_of_langgraph_json_is_an_agent_beside_those_in_code(lg_json: Path, api: Any, engineer: Any) -> None:
    client = api(engineer)
    response = client.get("/api/agents")
    assert response.status_code == 200, response.content
    agents = {a["key"]: a for a in response.json()}
    for key in GRAPH_IDS:
        assert agents[key]["source"] == "langgraph.json"
    assert agents["lg_plain"]["origin"] == "./plain_graph.py:builder"
    assert agents["refund"]["source"] == "code" and agents["refund"]["origin"] == ""
    # Agent rows exist as soon as the registry has loaded the file.
    assert set(Agent.objects.filter(key__in=GRAPH_IDS).values_list("key", flat=True)) == set(GRAPH_IDS)

    one = client.get("/api/agents/lg_plain").json()
    assert one["description"] == "An uncompiled StateGraph: the host compiles it."
    # The input schema is the graph's own.
    assert set(one["input_schema"]["$defs"]["State"]["properties"]) == {"topic", "greeting", "words"}
    assert client.get("/api/agents/nope").json() == {"detail": "unknown agent 'nope'"}


@pytest.mark.django_db
def test_a_compiled_graph_keeps_what_its_author_compiled_in_but_not_its_checkpointer(lg_json: Path) -> None:
    from agents.engine.runtime import compiled_graph

    spec = get_agent("lg_react")
    assert spec is not None
    with checkpointer() as saver:
        graph = compiled_graph(spec, saver)
    assert graph.checkpointer is saver
    assert graph.interrupt_before_nodes == ["tools"] and graph.name == "refund_react"


def _broken(tmp_path: Path, graphs: dict[str, str], files: dict[str, str]) -> Path:
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    path = tmp_path / "langgraph.json"
    path.write_text(json.dumps({"dependencies": ["."], "graphs": graphs}))
    return path


@pytest.mark.parametrize(
    "graphs, files, message",
    [
        ({"bad": "./missing.py:graph"}, {}, "graph 'bad': "),
        ({"bad": "./boom.py:graph"}, {"boom.py": "raise ImportError('no module named nowhere')\n"}, "graph 'bad': importing ./boom.py failed: ImportError: no module named nowhere"),
        ({"bad": "./plain.py:graph"}, {"plain.py": "graph = 42\n"}, "graph 'bad': ./plain.py:graph is int, not a graph"),
        ({"bad": "./plain.py:nothing"}, {"plain.py": "graph = 42\n"}, "graph 'bad': ./plain.py has no attribute 'nothing'"),
        ({"bad": "./factory.py:make"}, {"factory.py": "def make():\n    return 'not a graph'\n"}, "graph 'bad': its factory returned str"),
    ],
)
@pytest.mark.django_db
def test_a_graph_that_cannot_be_loaded_is_an_error_naming_it(
    settings: Any, tmp_path: Path, graphs: dict[str, str], files: dict[str, str], message: str
) -> None:
    settings.STEWARD_LANGGRAPH_JSON = str(_broken(tmp_path, graphs, files))
    with pytest.raises(LangGraphJsonError) as raised:
        reload_langgraph_json()
    assert message in str(raised.value)


@pytest.mark.django_db
def test_a_missing_file_or_dependency_is_reported_never_installed(settings: Any, tmp_path: Path) -> None:
    settings.STEWARD_LANGGRAPH_JSON = str(tmp_path / "nowhere.json")
    with pytest.raises(LangGraphJsonError, match="nowhere.json does not exist"):
        reload_langgraph_json()
    path = tmp_path / "langgraph.json"
    path.write_text(json.dumps({"dependencies": ["not-a-package-steward-has"], "graphs": {"g": "./g.py:graph"}}))
    settings.STEWARD_LANGGRAPH_JSON = str(path)
    with pytest.raises(LangGraphJsonError, match="dependencies not installed .*: not-a-package-steward-has"):
        reload_langgraph_json()


def test_a_broken_langgraph_json_stops_check_and_the_embedded_server(tmp_path: Path) -> None:
    path = _broken(tmp_path, {"support": "./agent.py:graph"}, {"agent.py": "import not_installed_anywhere\n"})
    env = fresh_env(
        without=("DATABASE_URL", "CELERY_BROKER_URL", "CHANNEL_LAYER_URL"),
        STEWARD_VAR_DIR=str(tmp_path / "var"),
        STEWARD_AGENT_MODULES="",
        STEWARD_LANGGRAPH_JSON=str(path),
    )
    checked = fresh_django("manage.py", "check", env=env)
    assert checked.returncode != 0
    assert "graph 'support': importing ./agent.py failed: ModuleNotFoundError" in checked.stderr
    served = fresh_django("manage.py", "serve_embedded", "--port", str(free_port()), env=env, timeout=60)
    assert served.returncode != 0
    assert "graph 'support'" in served.stderr and "Steward is serving" not in served.stdout


# --- running in the worker ------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_an_uncompiled_state_graph_runs_to_the_end(celery_worker: Any, lg_json: Path, api: Any, engineer: Any) -> None:
    client = api(engineer)
    run = _stopped(client, _start(client, "lg_plain", {"topic": "refunds"}))
    assert run["status"] == "succeeded", run
    # Its env file was read before the graph was imported.
    assert run["output"] == {"topic": "refunds", "greeting": "hello from .env: refunds", "words": 4}
    assert node_names(run["id"]) == ["greet", "count"]


@pytest.mark.django_db(transaction=True)
def test_a_factory_taking_a_runnable_config_runs_to_the_end(celery_worker: Any, lg_json: Path, api: Any, engineer: Any) -> None:
    client = api(engineer)
    run = _stopped(client, _start(client, "lg_factory", {"text": "hi"}))
    assert run["status"] == "succeeded", run
    assert run["output"] == {"text": "hi", "shout": "HI!!!"}
    assert node_names(run["id"]) == ["shout"]


@pytest.mark.django_db(transaction=True)
def test_an_async_graph_runs_through_the_async_api_and_savers(celery_worker: Any, lg_json: Path, api: Any, engineer: Any) -> None:
    client = api(engineer)
    run = _stopped(client, _start(client, "lg_async", {"n": 20}))
    assert run["status"] == "succeeded", run
    assert run["output"] == {"n": 20, "doubled": 40, "total": 41}
    # Recorded in each step's checkpoint transaction, like a sync graph's.
    spans = list(Span.objects.filter(run_id=run["id"], kind="node").order_by("seq"))
    assert [s.name for s in spans] == ["double", "add_one"]
    assert all(s.checkpoint_id for s in spans)
    assert run["totals"]["steps"] == 2


@pytest.mark.django_db(transaction=True)
def test_a_prebuilt_react_agent_waits_at_its_breakpoint_and_continues(
    celery_worker: Any, lg_json: Path, api: Any, engineer: Any, reviewer: Any
) -> None:
    client = api(engineer)
    _issued().clear()
    run_id = _start(client, "lg_react", {"messages": [{"type": "human", "content": "refund order A-1"}]})
    run = _stopped(client, run_id)
    # interrupt_before=["tools"], compiled in by the author: the run waits before the tool runs.
    assert run["status"] == "waiting", run
    breakpoint = Run.objects.get(id=run_id).metadata["breakpoint"]
    assert (breakpoint["when"], breakpoint["nodes"]) == ("before", ["tools"])
    assert _issued() == []
    # On Steward's checkpointer, not the InMemorySaver the author compiled in.
    with checkpointer() as saver:
        saved = saver.get_tuple({"configurable": {"thread_id": run_id, "checkpoint_ns": ""}})
    assert saved is not None

    # A requeue alone (the sweeper, a lost message) does not get past a breakpoint: it waits again.
    assert Run.requeue(Run.objects.get(id=run_id).id, Run.Status.WAITING)
    send_run(run_id)
    assert _stopped(client, run_id)["status"] == "waiting" and _issued() == []
    # A reviewer continues it (tests/agents/test_breakpoints.py has the rest): the tool runs.
    [request] = ApprovalRequest.objects.filter(run_id=run_id)
    decide(request.id, reviewer, "approve")
    run = wait_for(lambda: (d := client.get(f"/api/runs/{run_id}").json())["status"] == "succeeded" and d)
    assert _issued() == [{"order_id": "A-1", "amount": 12.5}]
    assert run["output"] == {"answer": "done: refunded 12.5 on A-1"}
    assert node_names(run_id) == ["agent", "tools", "agent"]
    [tool] = Span.objects.filter(run_id=run_id, kind="tool")
    assert tool.name == "issue_refund" and tool.output["tool_call_id"] == "call_1"


@pytest.mark.django_db(transaction=True)
def test_a_gated_tool_run_by_langgraph_s_tool_node_knows_its_tool_call_id(engineer: Any) -> None:
    run = start_run("toolnode_gate", {"order_id": "T-7"}, engineer)
    assert runtime.execute(run.id) == Run.Status.WAITING
    request = ApprovalRequest.objects.get(run=run)
    assert request.action == "refund_order" and request.proposed_args == {"order_id": "T-7"}
    assert request.tool_call_id == "call_toolnode"


# --- input and output schemas ---------------------------------------------------------------


@pytest.mark.django_db
def test_post_runs_validates_against_the_graph_s_input_schema(lg_json: Path, api: Any, engineer: Any) -> None:
    client = api(engineer)
    refused = client.post("/api/runs", {"agent": "lg_plain", "input": {"topic": ["not", "a", "string"]}})
    assert refused.status_code == 422, refused.content
    assert "topic" in json.dumps(refused.json()["detail"])
    one = client.get("/api/agents/lg_react").json()
    # Both schemas are the graph's own, their properties at the top (the start form reads them).
    assert "messages" in one["input_schema"]["properties"]
    assert "messages" in one["output_schema"]["properties"]


@pytest.mark.parametrize(
    "messages",
    [
        [{"role": "user", "content": "refund order A-1"}],
        [{"type": "human", "content": "refund order A-1"}],
        "refund order A-1",
    ],
    ids=["role form", "langchain form", "text"],
)
@pytest.mark.django_db
def test_messages_may_be_given_in_role_or_langchain_form(lg_json: Path, api: Any, engineer: Any, messages: Any) -> None:
    response = api(engineer).post("/api/runs", {"agent": "lg_react", "input": {"messages": messages}})
    assert response.status_code == 201, response.content
    [message] = Run.objects.get(id=response.json()["id"]).input["messages"]
    assert (message["type"], message["content"]) == ("human", "refund order A-1")


@pytest.mark.django_db
def test_the_start_form_validates_against_the_graph_s_schema(lg_json: Path, client_for: Any, engineer: Any) -> None:
    page = client_for(engineer)
    form = page.get("/agents/lg_plain/start")
    assert form.status_code == 200 and 'name="topic"' in form.content.decode()
    started = page.post("/agents/lg_plain/start", {"topic": "refunds"})
    assert started.status_code == 302, started.content.decode()[:500]
    assert Run.objects.get(agent__key="lg_plain").input == {"topic": "refunds"}


@pytest.mark.django_db(transaction=True)
def test_an_async_graph_keeps_its_limits(celery_worker: Any, lg_json: Path, api: Any, engineer: Any) -> None:
    client = api(engineer)
    # A timed run goes through the watched path (its own thread and saver), async all the same.
    timed = client.post("/api/runs", {"agent": "lg_async", "input": {"n": 1}, "limits": {"timeout_seconds": 120}})
    assert timed.status_code == 201, timed.content
    run = _stopped(client, timed.json()["id"])
    assert run["status"] == "succeeded", run
    assert run["output"]["total"] == 3
    # Over its step limit it fails, before the second node runs.
    short = client.post("/api/runs", {"agent": "lg_async", "input": {"n": 1}, "limits": {"max_steps": 1}})
    assert short.status_code == 201, short.content
    run = _stopped(client, short.json()["id"])
    assert run["status"] == "failed" and "max steps" in run["error"], run
    assert node_names(run["id"]) == ["double"]


@pytest.mark.django_db(transaction=True)
def test_a_gate_in_an_async_node_waits_and_runs_once_approved(engineer: Any, reviewer: Any) -> None:
    run = start_run("async_gate", {"order_id": "C-9"}, engineer)
    assert runtime.execute(run.id) == Run.Status.WAITING
    request = ApprovalRequest.objects.get(run=run)
    assert request.action == "cancel_order" and request.proposed_args == {"order_id": "C-9"}
    decide(request.id, reviewer, "approve")
    assert runtime.execute(run.id) == Run.Status.SUCCEEDED, Run.objects.get(id=run.id).error
    assert Run.objects.get(id=run.id).output == {"outcome": "cancelled C-9"}
