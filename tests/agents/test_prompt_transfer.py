"""Moving prompts between Stewards: the export holds every version (content, hash, number, message,
author, time) and every label with its history; an import adds what is missing, never overwrites a
version or moves a label, and refuses a version whose content does not match its hash."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import User

from agents.prompt_admin.services import create_prompt, move_label, save_version
from agents.prompt_admin.transfer import import_prompts, validate_document
from agents.prompts.models import Prompt, PromptLabel, PromptLabelMove, PromptVersion, RunPromptVersion
from approvals.services import decide
from console.kernel.errors import Forbidden, Invalid
from console.kernel.models import AuditEvent
from tests.support.clients import ApiClient
from tests.support.prompts import chat

Api = Callable[[User | None], ApiClient]

VARIABLES = {"customer": "string", "history": "messages"}


@pytest.fixture
def prompts(admin_user: User, second_admin: User) -> None:
    """`greeting` (chat) with three versions by two authors, `production` promoted to v2 with
    admin2's approval, `staging` splitting v3/v2; and `subject` (text) with one version."""
    create_prompt(admin_user, "greeting", description="Greets", template=chat("Hello {customer}."),
                  variables=VARIABLES, model_settings={"model": "scripted-demo", "temperature": 0.2}, message="first")
    save_version(second_admin, "greeting", template=chat("Welcome, {customer}!"), variables=VARIABLES,
                 model_settings={"model": "scripted-demo", "temperature": 0.2}, message="warmer", base_number=1)
    save_version(admin_user, "greeting", template=chat("Hi {customer}."), variables=VARIABLES,
                 output_schema={"type": "object"}, message="shorter", base_number=2)
    _, request = move_label(admin_user, "greeting", "production", 2, note="ship v2")
    decide(request.id, second_admin, "approve")
    move_label(admin_user, "greeting", "staging", 3, split=[{"version": 3, "weight": 80}, {"version": 2, "weight": 20}],
               note="try v3")
    create_prompt(second_admin, "subject", kind="text", template="Order {order_id} for {customer}", message="text one",
                  protected_labels=[])


def export(client: ApiClient, **params: Any) -> dict[str, Any]:
    response = client.get("/api/prompts/export", **params)
    assert response.status_code == 200, response.content
    return json.loads(response.content)


def snapshot() -> dict[str, Any]:
    """What a round trip must keep, by prompt name (not ids, not local user links)."""
    state: dict[str, Any] = {}
    for prompt in Prompt.objects.order_by("name"):
        state[prompt.name] = {
            "prompt": (prompt.description, prompt.kind, prompt.protected_labels, prompt.created_at),
            "versions": [
                (v.number, v.kind, v.template, v.variables, v.model_settings, v.output_schema, v.content_hash,
                 v.message, v.base_number, v.author_name, v.created_at)
                for v in PromptVersion.objects.filter(prompt=prompt).select_related("author").order_by("number")
            ],
            "labels": [
                (label.name, label.version.number, label.split, label.updated_at)
                for label in PromptLabel.objects.filter(prompt=prompt).select_related("version").order_by("name")
            ],
            "history": [
                (m.label, m.from_number, m.to_number, m.split, m.created_at)
                for m in PromptLabelMove.objects.filter(prompt=prompt).order_by("created_at", "id")
            ],
        }
    return state


def empty_prompts() -> None:
    RunPromptVersion.objects.all().delete()
    PromptLabelMove.objects.all().delete()
    PromptLabel.objects.all().delete()
    PromptVersion.objects.all().delete()
    Prompt.objects.all().delete()


def counts() -> tuple[int, int, int, int]:
    return (Prompt.objects.count(), PromptVersion.objects.count(), PromptLabel.objects.count(),
            PromptLabelMove.objects.count())


# --- export --------------------------------------------------------------------------------------


def test_export_is_a_file_with_every_version_and_label(prompts: None, reviewer: User, api: Api) -> None:
    """A reviewer downloads the export: versions with content, hash, number, message, author and
    time; labels with their split and history (oldest first, with who moved and approved)."""
    response = api(reviewer).get("/api/prompts/export", name="greeting")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/json")
    assert response["Content-Disposition"].startswith('attachment; filename="prompt-greeting-')
    document = json.loads(response.content)
    assert document["format"] == "steward.prompts.v1" and document["exported_at"] and document["source"]
    [greeting] = document["prompts"]
    assert (greeting["name"], greeting["kind"], greeting["description"], greeting["protected_labels"]) == (
        "greeting", "chat", "Greets", ["production"]
    )
    assert [(v["number"], v["message"], v["author"], v["base_number"]) for v in greeting["versions"]] == [
        (1, "first", "admin", None), (2, "warmer", "admin2", 1), (3, "shorter", "admin", 2)
    ]
    stored = PromptVersion.objects.get(prompt__name="greeting", number=3)
    third = greeting["versions"][2]
    assert third["template"] == chat("Hi {customer}.") and third["output_schema"] == {"type": "object"}
    assert third["content_hash"] == stored.content_hash and third["created_at"] == stored.created_at.isoformat()
    production, staging = greeting["labels"]
    assert (production["name"], production["version"], production["split"]) == ("production", 2, [])
    assert [(m["from_number"], m["to_number"], m["moved_by"], m["approved_by"], m["note"]) for m in production["history"]] == [
        (None, 1, "admin", None, "created"), (1, 2, "admin", "admin2", "ship v2")
    ]
    assert (staging["name"], staging["version"]) == ("staging", 3)
    assert staging["split"] == [{"version": 3, "weight": 80.0}, {"version": 2, "weight": 20.0}]
    assert [m["note"] for m in staging["history"]] == ["try v3"]


def test_export_all_or_several_by_name(prompts: None, engineer: User, api: Api) -> None:
    client = api(engineer)
    everything = {p["name"] for p in export(client)["prompts"]}
    assert {"greeting", "subject"} <= everything
    assert everything == set(Prompt.objects.values_list("name", flat=True))
    assert [p["name"] for p in export(client, name=["subject", "greeting"])["prompts"]] == ["greeting", "subject"]
    missing = client.get("/api/prompts/export", name=["greeting", "nope"])
    assert missing.status_code == 404 and "nope" in missing.json()["detail"]


# --- import ------------------------------------------------------------------------------------


def test_round_trip_into_an_empty_steward_keeps_everything(prompts: None, admin_user: User, api: Api) -> None:
    """Export, empty the prompt tables, import: the same numbers, hashes, content, messages,
    authors, times, labels and label history; the import is audited."""
    client = api(admin_user)
    document = export(client)
    before = snapshot()
    empty_prompts()
    assert counts() == (0, 0, 0, 0)

    response = client.post("/api/prompts/import", document)
    assert response.status_code == 200, response.json()
    report = response.json()
    assert set(report["created_prompts"]) == set(before)
    assert len(report["created_versions"]) == sum(len(p["versions"]) for p in before.values())
    assert report["skipped"] == [] and report["conflicts"] == [] and report["labels_skipped"] == []
    assert {(e["prompt"], e["label"]) for e in report["labels_created"]} >= {
        ("greeting", "production"), ("greeting", "staging")
    }
    assert snapshot() == before
    for version in PromptVersion.objects.all():
        assert version.content_hash == version.compute_hash()
        assert version.author is None and version.imported_author == before[version.prompt.name]["versions"][
            version.number - 1][9]
    # Who moved and approved stays readable, without linking to whoever has that name here.
    approved = PromptLabelMove.objects.get(prompt__name="greeting", label="production", to_number=2)
    assert approved.moved_by is None and approved.approved_by is None
    assert approved.note == "ship v2 [imported: moved by admin, approved by admin2]"
    history = client.get("/api/prompts/greeting/labels/production/history").json()
    assert [(m["from_version"], m["to_version"]) for m in history] == [(1, 2), (None, 1)]
    events = AuditEvent.objects.filter(action="prompt.imported", actor=admin_user)
    assert {e.data["source"] for e in events} == {document["source"]}
    greeting_event = events.get(object_id=str(Prompt.objects.get(name="greeting").pk))
    assert greeting_event.data["created_versions"] == [1, 2, 3]
    assert greeting_event.data["labels_created"] == ["production", "staging"]

    # The imported prompt is live: a new version continues the numbering.
    saved = save_version(admin_user, "greeting", template=chat("Hey {customer}."), variables=VARIABLES,
                         message="after import", base_number=3)
    assert saved.number == 4


def test_importing_twice_changes_nothing(prompts: None, admin_user: User, api: Api) -> None:
    client = api(admin_user)
    document = export(client)
    before, sizes = snapshot(), counts()
    report = client.post("/api/prompts/import", document).json()
    assert report["created_prompts"] == [] and report["created_versions"] == [] and report["conflicts"] == []
    assert len(report["skipped"]) == sizes[1]
    assert report["labels_created"] == [] and len(report["labels_skipped"]) == sizes[2]
    assert client.post("/api/prompts/import", document).json() == report
    assert snapshot() == before and counts() == sizes


def test_a_conflicting_version_is_reported_and_not_overwritten(prompts: None, admin_user: User, api: Api) -> None:
    """Here `greeting` was made separately (its v1 differs): v1 is a conflict and keeps its content,
    v2 and v3 are added; `production` exists here and does not move; `staging` (on v3 and v2, now
    the exported content) is created."""
    client = api(admin_user)
    document = export(client, name="greeting")
    empty_prompts()
    local = create_prompt(admin_user, "greeting", template=chat("Ours: {customer}."), variables=VARIABLES, message="ours")

    report = client.post("/api/prompts/import", document).json()
    exported_v1 = document["prompts"][0]["versions"][0]["content_hash"]
    assert [(c["prompt"], c["number"], c["content_hash"], c["existing_hash"]) for c in report["conflicts"]] == [
        ("greeting", 1, exported_v1, local.content_hash)
    ]
    assert "not overwritten" in report["conflicts"][0]["msg"]
    assert [v["number"] for v in report["created_versions"]] == [2, 3]
    assert [(s["label"], "exists here" in s["msg"]) for s in report["labels_skipped"]] == [("production", True)]
    assert [(c["label"], c["version"]) for c in report["labels_created"]] == [("staging", 3)]
    v1 = PromptVersion.objects.get(prompt__name="greeting", number=1)
    assert v1.template == chat("Ours: {customer}.") and v1.content_hash == local.content_hash
    assert PromptLabel.objects.get(prompt__name="greeting", name="production").version.number == 1
    assert PromptVersion.objects.get(prompt__name="greeting", number=2).imported_author == "admin2"


def test_a_label_on_a_conflicting_version_is_not_created(prompts: None, admin_user: User, api: Api) -> None:
    """A missing label whose version differs here is reported, not pointed at other content."""
    client = api(admin_user)
    document = export(client, name="greeting")
    document["prompts"][0]["labels"] = [
        {**document["prompts"][0]["labels"][1], "name": "canary", "version": 1, "split": [], "history": []}
    ]
    empty_prompts()
    create_prompt(admin_user, "greeting", template=chat("Ours: {customer}."), variables=VARIABLES)
    report = client.post("/api/prompts/import", document).json()
    assert [(s["label"], s["msg"]) for s in report["labels_skipped"]] == [
        ("canary", "v1 here is not the exported content: the label was not created")
    ]
    assert not PromptLabel.objects.filter(name="canary").exists()


def test_new_versions_and_labels_join_an_existing_prompt(prompts: None, admin_user: User, api: Api) -> None:
    """A Steward that has v1 and v2 of `greeting` gets v3 and the missing `staging` label, keeps its
    own `production`, and numbers its next save after the imported version."""
    client = api(admin_user)
    document = export(client, name="greeting")
    PromptLabelMove.objects.filter(label="staging").delete()
    PromptLabel.objects.filter(name="staging").delete()
    PromptLabel.objects.filter(prompt__name="greeting", name="production").update(
        version=PromptVersion.objects.get(prompt__name="greeting", number=1)
    )
    PromptVersion.objects.filter(prompt__name="greeting", number=3).delete()

    report = client.post("/api/prompts/import", document).json()
    assert [v["number"] for v in report["created_versions"]] == [3]
    assert [v["number"] for v in report["skipped"]] == [1, 2]
    assert [c["label"] for c in report["labels_created"]] == ["staging"]
    assert PromptLabel.objects.get(prompt__name="greeting", name="production").version.number == 1
    staging = PromptLabel.objects.get(prompt__name="greeting", name="staging")
    assert staging.version.number == 3 and staging.split == [{"version": 3, "weight": 80.0}, {"version": 2, "weight": 20.0}]
    assert list(PromptLabelMove.objects.filter(label="staging").values_list("to_number", "note")) == [
        (3, "try v3 [imported: moved by admin]")
    ]
    assert save_version(admin_user, "greeting", template=chat("Yo {customer}."), variables=VARIABLES).number == 4


def test_a_prompt_of_another_kind_here_gets_nothing(prompts: None, admin_user: User, api: Api) -> None:
    """`subject` is a chat prompt here and a text prompt in the export: its version is a conflict."""
    client = api(admin_user)
    document = export(client, name="subject")
    empty_prompts()
    create_prompt(admin_user, "subject", template=chat("Chat: {customer}"), variables=VARIABLES, protected_labels=[])
    report = client.post("/api/prompts/import", document).json()
    assert [(c["number"], c["existing_hash"] is not None) for c in report["conflicts"]] == [(1, True)]
    assert report["created_versions"] == [] and PromptVersion.objects.filter(prompt__name="subject").count() == 1
    PromptLabel.objects.filter(prompt__name="subject").delete()
    PromptVersion.objects.filter(prompt__name="subject").delete()
    report = client.post("/api/prompts/import", document).json()
    assert [(c["number"], c["msg"]) for c in report["conflicts"]] == [
        (1, "the prompt here is a chat prompt, this version is text")
    ]
    assert not PromptVersion.objects.filter(prompt__name="subject").exists()


def test_values_the_database_cannot_store_are_refused_by_name(prompts: None, admin_user: User, api: Api) -> None:
    """A NUL character (JSON allows it, Postgres refuses it), as an uploaded file could hold
    (the API's JSON parser refuses it first): Invalid naming where, nothing imported."""
    document = export(api(admin_user))
    empty_prompts()
    document["prompts"][0]["versions"][0]["template"] = "nul \u0000 here"
    with pytest.raises(Invalid) as caught:
        validate_document(document)
    nul = [e for e in caught.value.detail if "NUL" in e["msg"]]
    assert [[str(p) for p in e["loc"]] for e in nul] == [["body", "prompts", "0", "versions", "0", "template"]]
    assert counts() == (0, 0, 0, 0)


@pytest.mark.parametrize(
    "tamper",
    [
        lambda v: v["template"][0].update(content="Send all refunds to {customer}."),
        lambda v: v.update(content_hash="0" * 64),
        lambda v: v["model_settings"].update(temperature=1.5),
        lambda v: v["variables"].update(extra="string"),
    ],
)
def test_a_version_whose_content_does_not_match_its_hash_is_refused(
    prompts: None, admin_user: User, api: Api, tamper: Callable[[dict[str, Any]], None]
) -> None:
    """One tampered version: 422 naming it, and nothing at all is imported."""
    client = api(admin_user)
    document = export(client)
    empty_prompts()
    tampered = copy.deepcopy(document)
    index = next(i for i, p in enumerate(tampered["prompts"]) if p["name"] == "greeting")
    tamper(tampered["prompts"][index]["versions"][1])
    response = client.post("/api/prompts/import", tampered)
    assert response.status_code == 422, response.json()
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", "prompts", index, "versions", 1, "content_hash"]
    assert "does not match its hash" in error["msg"]
    assert counts() == (0, 0, 0, 0)
    assert not AuditEvent.objects.filter(action="prompt.imported").exists()


@pytest.mark.parametrize(
    ("change", "loc"),
    [
        (lambda d: d.update(format="steward.trace.v1"), ["body", "format"]),
        (lambda d: d["prompts"][0]["labels"][0].update(version=9), ["body", "prompts", 0, "labels", 0, "version"]),
        (lambda d: d["prompts"][0]["versions"][0].update(kind="text"), ["body", "prompts", 0, "versions", 0, "kind"]),
        (lambda d: d["prompts"][0]["versions"][1].update(number=1), ["body", "prompts", 0, "versions", 1, "number"]),
        (lambda d: d["prompts"][0].update(name="not a slug"), ["body", "prompts", 0, "name"]),
        (lambda d: d["prompts"][0].update(unknown=True), ["body", "prompts", 0, "unknown"]),
        (lambda d: d["prompts"][0]["versions"][0]["template"][0].update(content="Hi {customer"),
         ["body", "prompts", 0, "versions", 0, "template", 0, "content"]),
    ],
)
def test_an_invalid_document_is_422_and_imports_nothing(
    prompts: None, admin_user: User, api: Api, change: Callable[[dict[str, Any]], None], loc: list[Any]
) -> None:
    client = api(admin_user)
    document = export(client, name="greeting")
    empty_prompts()
    change(document)
    response = client.post("/api/prompts/import", document)
    assert response.status_code == 422, response.json()
    assert loc in [e["loc"] for e in response.json()["detail"]], response.json()
    assert counts() == (0, 0, 0, 0)


def test_import_body_errors_and_roles(prompts: None, admin_user: User, engineer: User, api: Api) -> None:
    """A body that is not JSON is 400; not an object is 422; engineers may not import (403, before
    its values are checked; malformed JSON is 400 before anything), nor anyone without a key (401); the service says the same."""
    document = export(api(engineer))
    client = api(admin_user)
    assert client.post("/api/prompts/import", raw="{not json").status_code == 400
    assert client.post("/api/prompts/import", [1, 2]).status_code == 422
    assert api(engineer).post("/api/prompts/import", document).status_code == 403
    assert api(engineer).post("/api/prompts/import", raw="{not json").status_code == 400
    assert api(None).post("/api/prompts/import", document).status_code == 401
    with pytest.raises(Forbidden):
        import_prompts(document, engineer)
