"""The prompts API: admins create prompts, save versions and move labels (protected labels wait for
another admin); engineers and reviewers read; each version shows how its runs did."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db.models import Sum

from agents.engine import runtime
from agents.engine.models import Agent, Run
from agents.engine.registry import sync_agents
from agents.engine.services import start_run
from agents.prompts import save_pins, sync_prompts
from agents.prompts.models import Prompt, PromptLabel, PromptLabelMove, PromptVersion
from approvals.models import ApprovalRequest, Queue
from console.kernel.models import AuditEvent
from tests.support.clients import ApiClient
from tests.support.prompts import chat
from tests.support.users import make_user
from traces.recording.models import Span

Api = Callable[[User | None], ApiClient]

CHAT = [
    {"role": "system", "content": "You greet {customer} on behalf of {shop}."},
    {"role": "placeholder", "name": "history"},
]
VARIABLES = {"customer": "string", "shop": "string", "history": "messages"}


def put(client: ApiClient, path: str, body: Any) -> Any:
    return client.client.put(path, json.dumps(body), content_type="application/json", headers=client.headers)


@pytest.fixture
def greeting(admin_user: User, api: Api) -> dict[str, Any]:
    """The prompt `greeting`, created through the API by `admin`."""
    response = api(admin_user).post(
        "/api/prompts",
        {"name": "greeting", "description": "Greets", "template": CHAT, "variables": VARIABLES, "message": "first"},
    )
    assert response.status_code == 201, response.json()
    return response.json()


def save(client: ApiClient, text: str, base: int | None, message: str = "change") -> Any:
    body: dict[str, Any] = {"template": chat(text), "variables": VARIABLES, "message": message}
    if base is not None:
        body["base_version"] = base
    return client.post("/api/prompts/greeting/versions", body)


# --- creating and reading ------------------------------------------------------------------


def test_create_is_201_with_version_1_labelled_production(greeting: dict[str, Any]) -> None:
    """POST /api/prompts makes version 1 and points the protected `production` label at it."""
    assert greeting["name"] == "greeting" and greeting["kind"] == "chat" and greeting["latest_version"] == 1
    assert greeting["labels"] == [
        {
            "name": "production", "version": 1, "split": [], "protected": True, "updated_by": "admin",
            "updated_at": greeting["labels"][0]["updated_at"], "pending_request": None,
        }
    ]
    assert [(v["number"], v["message"], v["author"], v["labels"]) for v in greeting["versions"]] == [
        (1, "first", "admin", ["production"])
    ]
    version = PromptVersion.objects.get(prompt__name="greeting", number=1)
    assert version.template == CHAT and version.variables == VARIABLES
    assert version.content_hash == version.compute_hash() == greeting["versions"][0]["content_hash"]
    assert PromptLabel.objects.get(prompt__name="greeting", name="production").version == version


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ({"name": "bad", "template": chat("Hi {customer}"), "variables": {}}, ["variables", "customer"]),
        ({"name": "bad", "template": chat("Hi {customer")}, ["template", 0, "content"]),
        ({"name": "bad", "template": chat("Hi {}")}, ["template", 0, "content"]),
        ({"name": "has space", "template": chat("Hi")}, ["body", "name"]),
        ({"name": "bad", "kind": "yaml", "template": "Hi"}, ["kind"]),
        ({"name": "bad", "template": chat("Hi"), "model_settings": {"temperature": "hot"}}, ["model_settings", "temperature"]),
    ],
)
def test_create_refuses_bad_content_with_422_and_saves_nothing(
    admin_user: User, api: Api, body: dict[str, Any], where: list[Any]
) -> None:
    """An undefined variable, bad syntax, a bad name, kind or setting: 422 naming the field, no prompt."""
    response = api(admin_user).post("/api/prompts", body)
    assert response.status_code == 422, response.json()
    assert where in [e["loc"] for e in response.json()["detail"]]
    assert not Prompt.objects.filter(name=body["name"]).exists()


def test_create_with_a_taken_name_is_409(greeting: dict[str, Any], admin_user: User, api: Api) -> None:
    response = api(admin_user).post("/api/prompts", {"name": "greeting", "template": chat("Other")})
    assert response.status_code == 409
    assert "already exists" in response.json()["detail"]
    assert PromptVersion.objects.filter(prompt__name="greeting").count() == 1


def test_list_shows_labels_and_latest_version(greeting: dict[str, Any], admin_user: User, engineer: User, api: Api) -> None:
    """GET /api/prompts: each prompt's name, description, kind, {label: version} and latest number."""
    assert save(api(admin_user), "Hello {customer} from {shop}.", 1).status_code == 201
    assert put(api(admin_user), "/api/prompts/greeting/labels/staging", {"version": 2}).status_code == 200
    response = api(engineer).get("/api/prompts")
    assert response.status_code == 200
    item = next(p for p in response.json() if p["name"] == "greeting")
    assert item == {
        "name": "greeting", "description": "Greets", "kind": "chat",
        "labels": {"production": 1, "staging": 2}, "latest_version": 2,
    }


def test_read_prompt_and_versions(greeting: dict[str, Any], admin_user: User, reviewer: User, api: Api) -> None:
    """A reviewer reads the prompt (versions newest first), the version list and one version."""
    assert save(api(admin_user), "Hello {customer} from {shop}.", 1, "shorter").status_code == 201
    client = api(reviewer)
    detail = client.get("/api/prompts/greeting").json()
    assert detail["latest_version"] == 2
    assert [(v["number"], v["base_number"], v["labels"]) for v in detail["versions"]] == [
        (2, 1, []), (1, None, ["production"])
    ]
    versions = client.get("/api/prompts/greeting/versions")
    assert versions.status_code == 200
    assert [v["number"] for v in versions.json()] == [2, 1]
    assert versions.json()[0]["template"] == chat("Hello {customer} from {shop}.")
    one = client.get("/api/prompts/greeting/versions/1")
    assert one.status_code == 200
    assert one.json()["template"] == CHAT and one.json()["variables"] == VARIABLES
    assert one.json()["message"] == "first" and one.json()["author"] == "admin"


def test_unknown_prompt_or_version_is_404(greeting: dict[str, Any], admin_user: User, engineer: User, api: Api) -> None:
    client = api(engineer)
    for path in (
        "/api/prompts/nope",
        "/api/prompts/nope/versions",
        "/api/prompts/greeting/versions/9",
        "/api/prompts/nope/results",
        "/api/prompts/greeting/labels/nothing/history",
    ):
        response = client.get(path)
        assert response.status_code == 404, path
        assert response.json()["detail"]
    assert api(admin_user).post(
        "/api/prompts/nope/versions", {"template": chat("x"), "message": "m"}
    ).status_code == 404
    assert put(api(admin_user), "/api/prompts/nope/labels/staging", {"version": 1}).status_code == 404


# --- saving versions -------------------------------------------------------------------------


def test_save_version_is_201_and_immutable_history_grows(greeting: dict[str, Any], admin_user: User, api: Api) -> None:
    response = save(api(admin_user), "Welcome {customer} to {shop}.", 1, "warmer")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["prompt"], body["number"], body["base_number"], body["author"], body["message"]) == (
        "greeting", 2, 1, "admin", "warmer"
    )
    version = PromptVersion.objects.get(prompt__name="greeting", number=2)
    assert body["content_hash"] == version.content_hash == version.compute_hash()
    # The first version is still there, unchanged; production still points at it.
    assert PromptVersion.objects.get(prompt__name="greeting", number=1).template == CHAT
    assert PromptLabel.objects.get(prompt__name="greeting", name="production").version.number == 1
    assert AuditEvent.objects.filter(action="prompt.version_created", data__version=2).exists()


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ({"template": chat("Hi {customer}, {mood}"), "variables": {"customer": "string"}}, ["variables", "mood"]),
        ({"template": chat("Hi {customer")}, ["template", 0, "content"]),
        ({"template": chat("Hi"), "variables": {"customer": "colour"}}, ["variables", "customer"]),
        ({"template": "a string for a chat prompt"}, ["template"]),
    ],
)
def test_save_version_refuses_bad_content_with_422(
    greeting: dict[str, Any], admin_user: User, api: Api, body: dict[str, Any], where: list[Any]
) -> None:
    """Bad syntax or an undefined variable: 422 naming the place, and no version is saved."""
    response = api(admin_user).post("/api/prompts/greeting/versions", {**body, "message": "try", "base_version": 1})
    assert response.status_code == 422, response.json()
    assert where in [e["loc"] for e in response.json()["detail"]]
    assert PromptVersion.objects.filter(prompt__name="greeting").count() == 1


def test_stale_base_is_409_with_message_latest_and_diff(
    greeting: dict[str, Any], admin_user: User, second_admin: User, api: Api
) -> None:
    """Two admins open v1; the second to save gets 409 with the latest version and the diff from
    v1 to it, and nothing is saved."""
    assert save(api(admin_user), "Welcome {customer} to {shop}.", 1, "first edit").status_code == 201
    response = save(api(second_admin), "Good day {customer}, this is {shop}.", 1, "second edit")
    assert response.status_code == 409
    detail = response.json()["detail"]
    assert "admin saved version 2" in detail["message"] and "nothing was saved" in detail["message"]
    assert detail["latest"]["number"] == 2
    assert detail["latest"]["template"] == chat("Welcome {customer} to {shop}.")
    changed = [row for row in detail["diff"] if row["op"] != "equal"]
    assert changed == [
        {"op": "replace", "left": "[system] You greet {customer} on behalf of {shop}.",
         "right": "[system] Welcome {customer} to {shop}."}
    ]
    assert PromptVersion.objects.filter(prompt__name="greeting").count() == 2
    # Rebased on the latest, the same text saves.
    assert save(api(second_admin), "Good day {customer}, this is {shop}.", 2, "second edit").status_code == 201


def test_saving_the_same_content_again_is_409(greeting: dict[str, Any], admin_user: User, api: Api) -> None:
    response = api(admin_user).post(
        "/api/prompts/greeting/versions", {"template": CHAT, "variables": VARIABLES, "message": "again"}
    )
    assert response.status_code == 409
    assert "nothing changed" in response.json()["detail"]


# --- roles -------------------------------------------------------------------------------------


def test_roles(greeting: dict[str, Any], engineer: User, reviewer: User, outsider: User, api: Api) -> None:
    """Engineers and reviewers read, only admins write (403 even for a bad body: 403 comes before
    422), other users get 403, and no key is 401."""
    for user in (engineer, reviewer):
        client = api(user)
        for path in ("/api/prompts", "/api/prompts/greeting", "/api/prompts/greeting/versions",
                     "/api/prompts/greeting/versions/1", "/api/prompts/greeting/results",
                     "/api/prompts/greeting/labels/production/history", "/api/prompts/export"):
            assert client.get(path).status_code == 200, (user, path)
        for path, body in (
            ("/api/prompts", {"name": "mine", "template": chat("Hi")}),
            ("/api/prompts", {"bogus": True}),
            ("/api/prompts/greeting/versions", {"template": chat("Hi"), "message": "m"}),
            ("/api/prompts/greeting/versions", {}),
            ("/api/prompts/import", {"format": "nope"}),
        ):
            response = client.post(path, body)
            assert response.status_code == 403, (user, path, response.json())
            assert "your role does not allow you to change prompts" in response.json()["detail"]
        assert put(client, "/api/prompts/greeting/labels/staging", {"version": 1}).status_code == 403
        assert put(client, "/api/prompts/greeting/labels/staging", {}).status_code == 403
    assert api(outsider).get("/api/prompts").status_code == 403
    anonymous = api(None)
    assert anonymous.get("/api/prompts").status_code == 401
    assert anonymous.get("/api/prompts/greeting").status_code == 401
    assert anonymous.post("/api/prompts", {"name": "x", "template": chat("Hi")}).status_code == 401
    assert put(anonymous, "/api/prompts/greeting/labels/staging", {"version": 1}).status_code == 401
    assert not Prompt.objects.filter(name="mine").exists()
    assert not PromptLabel.objects.filter(name="staging").exists()


# --- labels ----------------------------------------------------------------------------------


def test_unprotected_label_moves_at_once_with_history(greeting: dict[str, Any], admin_user: User, api: Api) -> None:
    """PUT on a label that is not protected: 200 with the label; the history lists every move."""
    client = api(admin_user)
    assert save(client, "Welcome {customer} to {shop}.", 1).status_code == 201
    response = put(client, "/api/prompts/greeting/labels/staging", {"version": 2, "note": "try it"})
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["label"]["name"] == "staging" and body["label"]["version"] == 2 and not body["label"]["protected"]
    assert (body["move"]["from_version"], body["move"]["to_version"], body["move"]["moved_by"], body["move"]["note"]) == (
        None, 2, "admin", "try it"
    )
    split = [{"version": 2, "weight": 80}, {"version": 1, "weight": 20}]
    response = put(client, "/api/prompts/greeting/labels/staging", {"version": 2, "split": split})
    assert response.status_code == 200
    assert response.json()["label"]["split"] == [{"version": 2, "weight": 80.0}, {"version": 1, "weight": 20.0}]
    assert put(client, "/api/prompts/greeting/labels/staging", {"version": 1}).status_code == 200
    row = PromptLabel.objects.get(prompt__name="greeting", name="staging")
    assert row.version.number == 1 and row.split == []
    history = client.get("/api/prompts/greeting/labels/staging/history").json()
    assert [(m["from_version"], m["to_version"], m["moved_by"], m["approved_by"]) for m in history] == [
        (2, 1, "admin", None), (2, 2, "admin", None), (None, 2, "admin", None)
    ]
    assert history[1]["split"] == [{"version": 2, "weight": 80.0}, {"version": 1, "weight": 20.0}]


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ({"version": 7}, ["body", "version"]),
        ({"version": 1, "split": [{"version": 1, "weight": 50}, {"version": 8, "weight": 50}]}, ["body", "split", 1, "version"]),
        ({"version": 1, "split": [{"version": 1, "weight": 0}]}, ["body", "split", 0, "weight"]),
        ({"version": 1, "split": [{"weight": 5}]}, ["body", "split", 0]),
        ({}, ["body", "body", "version"]),
    ],
)
def test_bad_label_move_is_422_and_moves_nothing(
    greeting: dict[str, Any], admin_user: User, api: Api, body: dict[str, Any], where: list[Any]
) -> None:
    response = put(api(admin_user), "/api/prompts/greeting/labels/staging", body)
    assert response.status_code == 422, response.json()
    assert where in [e["loc"] for e in response.json()["detail"]], response.json()
    assert not PromptLabel.objects.filter(prompt__name="greeting", name="staging").exists()


def test_protected_label_waits_for_another_admin(
    greeting: dict[str, Any], admin_user: User, second_admin: User, api: Api
) -> None:
    """Moving `production` is 202 with an approval request; a second move is 409 while it waits;
    the requester may not approve it (403); another admin's approval moves the label."""
    client = api(admin_user)
    assert save(client, "Welcome {customer} to {shop}.", 1).status_code == 201
    response = put(client, "/api/prompts/greeting/labels/production", {"version": 2, "note": "ship it"})
    assert response.status_code == 202, response.json()
    pending = response.json()
    assert pending["status"] == "pending" and pending["queue"] == "prompt-review"
    assert pending["url"] == f"/approvals/{pending['id']}/"
    assert "v1 to v2" in pending["summary"]
    assert PromptLabel.objects.get(prompt__name="greeting", name="production").version.number == 1
    assert client.get("/api/prompts/greeting").json()["labels"][0]["pending_request"] == pending["id"]

    again = put(client, "/api/prompts/greeting/labels/production", {"version": 1})
    assert again.status_code == 409
    assert pending["id"] in again.json()["detail"]
    assert put(client, "/api/prompts/greeting/labels/production", {"version": 5}).status_code == 422

    decision = f"/api/approvals/{pending['id']}/decision"
    own = client.post(decision, {"decision": "approve"})
    assert own.status_code == 403
    assert "four-eyes" in own.json()["detail"]
    assert PromptLabel.objects.get(prompt__name="greeting", name="production").version.number == 1

    approved = api(second_admin).post(decision, {"decision": "approve"})
    assert approved.status_code == 200, approved.json()
    assert approved.json()["status"] == "approved"
    assert PromptLabel.objects.get(prompt__name="greeting", name="production").version.number == 2
    history = client.get("/api/prompts/greeting/labels/production/history").json()
    assert [(m["from_version"], m["to_version"], m["moved_by"], m["approved_by"]) for m in history] == [
        (1, 2, "admin", "admin2"), (None, 1, "admin", None)
    ]
    assert history[0]["approval_request"] == pending["id"] and history[0]["note"] == "ship it"
    assert client.get("/api/prompts/greeting").json()["labels"][0]["pending_request"] is None
    actions = set(AuditEvent.objects.filter(object_id=str(Prompt.objects.get(name="greeting").pk)).values_list("action", flat=True))
    assert {"prompt.promotion_requested", "prompt.promotion_decided", "prompt.label_moved"} <= actions


def test_rejected_promotion_leaves_the_label(greeting: dict[str, Any], admin_user: User, second_admin: User, api: Api) -> None:
    client = api(admin_user)
    assert save(client, "Welcome {customer} to {shop}.", 1).status_code == 201
    request_id = put(client, "/api/prompts/greeting/labels/production", {"version": 2}).json()["id"]
    rejected = api(second_admin).post(f"/api/approvals/{request_id}/decision", {"decision": "reject", "comment": "not yet"})
    assert rejected.status_code == 200 and rejected.json()["status"] == "rejected"
    assert PromptLabel.objects.get(prompt__name="greeting", name="production").version.number == 1
    assert PromptLabelMove.objects.filter(prompt__name="greeting", label="production").count() == 1
    # Nothing waits any more: the move can be asked for again.
    assert put(client, "/api/prompts/greeting/labels/production", {"version": 2}).status_code == 202


# --- results -----------------------------------------------------------------------------------


def _run(agent: Agent, version: PromptVersion, status: str, tokens: tuple[int, int], cost: float, latency: float) -> Run:
    run = Run.objects.create(
        agent=agent, thread_id=f"t-{Run.objects.count()}", status=status, tokens_in=tokens[0],
        tokens_out=tokens[1], cost=cost, latency_ms=latency,
        prompt_versions={version.prompt.name: {"version": version.number, "id": version.pk, "label": "production"}},
    )
    save_pins(run.id, run.prompt_versions)
    return run


def test_compare_and_results_count_the_runs_of_each_version(
    greeting: dict[str, Any], admin_user: User, engineer: User, api: Api
) -> None:
    """Figures per version come from the runs pinned to it: rates over finished runs, tokens,
    cost, latency, and the rejection rate of their decided approvals."""
    assert save(api(admin_user), "Welcome {customer} to {shop}.", 1).status_code == 201
    sync_agents()
    agent = Agent.objects.get(key="stock_check")
    v1, v2 = (PromptVersion.objects.get(prompt__name="greeting", number=n) for n in (1, 2))
    _run(agent, v1, Run.Status.SUCCEEDED, (100, 20), 0.01, 1000)
    _run(agent, v1, Run.Status.FAILED, (50, 10), 0.005, 3000)
    rejected = _run(agent, v2, Run.Status.SUCCEEDED, (80, 30), 0.02, 500)
    approved = _run(agent, v2, Run.Status.SUCCEEDED, (40, 10), 0.01, 700)
    _run(agent, v2, Run.Status.RUNNING, (0, 0), 0.0, 0)
    queue = Queue.objects.get(name="payments")
    ApprovalRequest.objects.create(queue=queue, run=rejected, action="issue_refund", status=ApprovalRequest.Status.REJECTED)
    ApprovalRequest.objects.create(queue=queue, run=approved, action="issue_refund", status=ApprovalRequest.Status.APPROVED)

    response = api(engineer).get("/api/prompts/greeting/compare", a=1, b=2)
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["a"]["number"] == 1 and body["b"]["number"] == 2
    assert [r for r in body["diff"] if r["op"] != "equal"] == [
        {"op": "replace", "left": "[system] You greet {customer} on behalf of {shop}.",
         "right": "[system] Welcome {customer} to {shop}."}
    ]
    a, b = body["results"]["a"], body["results"]["b"]
    assert (a["runs"], a["succeeded"], a["failed"], a["running"]) == (2, 1, 1, 0)
    assert (a["success_rate"], a["failure_rate"], a["rejection_rate"]) == (0.5, 0.5, None)
    assert (a["tokens_in"], a["tokens_out"], a["cost"], a["avg_latency_ms"]) == (150, 30, 0.015, 2000.0)
    assert (b["runs"], b["succeeded"], b["failed"], b["running"]) == (3, 2, 0, 1)
    assert (b["success_rate"], b["approvals_decided"], b["approvals_rejected"], b["rejection_rate"]) == (1.0, 2, 1, 0.5)
    assert (b["tokens_in"], b["cost"], b["avg_latency_ms"]) == (120, 0.03, 600.0)

    results = api(engineer).get("/api/prompts/greeting/results")
    assert results.status_code == 200
    assert results.json() == [b, a]


def test_compare_needs_two_existing_versions(greeting: dict[str, Any], engineer: User, api: Api) -> None:
    client = api(engineer)
    assert client.get("/api/prompts/greeting/compare", a=1, b=3).status_code == 404
    assert client.get("/api/prompts/greeting/compare", a=1).status_code == 422
    assert client.get("/api/prompts/greeting/compare", a=1, b="two").status_code == 422
    same = client.get("/api/prompts/greeting/compare", a=1, b=1)
    assert same.status_code == 200
    assert all(row["op"] == "equal" for row in same.json()["diff"])
    assert same.json()["results"]["a"]["runs"] == 0


@pytest.mark.django_db(transaction=True)
def test_real_stock_check_runs_are_counted_per_version(engineer: User, admin_user: User, api: Api) -> None:
    """stock_check runs on v1 of `stock_check_system`; an admin saves v2 and another admin
    promotes it; new runs use v2 and its figures count them, the model spans name the version."""
    sync_prompts()
    admin2 = make_user("admin2", "admins")
    before = start_run("stock_check", {"sku": "SKU-1"}, engineer)
    assert runtime.execute(before.id) == Run.Status.SUCCEEDED

    client = api(admin_user)
    saved = client.post(
        "/api/prompts/stock_check_system/versions",
        {
            "template": chat("You check stock levels across {shop_name}'s warehouses. Answer in one line."),
            "variables": {"shop_name": "string", "history": "messages"},
            "model_settings": {"model": "scripted-demo", "temperature": 0},
            "message": "one line answers",
            "base_version": 1,
        },
    )
    assert saved.status_code == 201, saved.json()
    request_id = put(client, "/api/prompts/stock_check_system/labels/production", {"version": 2}).json()["id"]
    assert api(admin2).post(f"/api/approvals/{request_id}/decision", {"decision": "approve"}).status_code == 200

    good = start_run("stock_check", {"sku": "SKU-1"}, engineer)
    bad = start_run("stock_check", {"sku": "BROKEN-1"}, engineer)
    assert runtime.execute(good.id) == Run.Status.SUCCEEDED
    assert runtime.execute(bad.id) == Run.Status.FAILED
    assert Run.objects.get(id=before.id).prompt_versions["stock_check_system"]["version"] == 1
    assert Run.objects.get(id=good.id).prompt_versions["stock_check_system"]["version"] == 2
    assert Span.objects.filter(run_id=good.id, kind="model", prompt_version__number=2).exists()

    body = api(engineer).get("/api/prompts/stock_check_system/compare", a=1, b=2).json()
    a, b = body["results"]["a"], body["results"]["b"]
    assert (a["runs"], a["succeeded"], a["failed"], a["success_rate"]) == (1, 1, 0, 1.0)
    assert (b["runs"], b["succeeded"], b["failed"], b["success_rate"], b["failure_rate"]) == (2, 1, 1, 0.5, 0.5)
    on_v2 = Run.objects.filter(id__in=[good.id, bad.id]).aggregate(tokens_in=Sum("tokens_in"), tokens_out=Sum("tokens_out"))
    assert (b["tokens_in"], b["tokens_out"]) == (on_v2["tokens_in"], on_v2["tokens_out"])
    assert a["tokens_in"] == Run.objects.get(id=before.id).tokens_in
