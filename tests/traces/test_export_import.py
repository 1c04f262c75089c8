"""Exporting a run's whole trace as JSON and importing it into a Steward as a read-only copy."""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Callable
from typing import Any, get_args

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from agents.engine import runtime
from agents.engine.models import Agent, Run
from agents.engine.services import start_run
from approvals.models import ApprovalRequest, Decision
from console.kernel.errors import Invalid
from console.kernel.models import AuditEvent
from tests.support.clients import ApiClient
from tests.support.runs import approved_refund
from tests.support.trace_documents import valid_document
from traces.inspection.export import ApprovalV1, DecisionV1, import_run
from traces.recording.models import Span

Api = Callable[[User | None], ApiClient]


def _span_tree(run_id: Any) -> list[tuple[Any, ...]]:
    """Each span's content and its parent's seq: what must survive a round trip (ids need not)."""
    spans = list(Span.objects.filter(run_id=run_id).order_by("seq"))
    seq_of = {s.id: s.seq for s in spans}
    return [
        (
            s.seq, s.kind, s.name, s.status, s.step, s.tokens_in, s.tokens_out, s.cost, s.model,
            s.input, s.output, s.error, s.latency_ms, s.started_at, s.checkpoint_id,
            seq_of.get(s.parent_id) if s.parent_id else None,
        )
        for s in spans
    ]


def _locs(response: Any) -> set[str]:
    return {".".join(str(p) for p in e["loc"]) for e in response.json()["detail"]}


# --- the round trip ---------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_export_then_import_makes_a_read_only_copy(engineer: User, reviewer: User, api: Api) -> None:
    """Export a real run (spans, approval with its decision) and import it: a new run with new ids,
    the same spans and span tree, marked imported, never executed, and not cancellable."""
    run = approved_refund(engineer, reviewer, comment="fine by me")
    client = api(engineer)

    exported = client.get(f"/api/runs/{run.id}/export")
    assert exported.status_code == 200, exported.content
    assert exported["Content-Disposition"] == f'attachment; filename="run-{run.id}.json"'
    assert exported["Content-Type"].startswith("application/json")
    document = json.loads(exported.content)
    assert document["format"] == "steward.trace.v1" and document["source"] == settings.STEWARD_BASE_URL
    assert document["exported_at"]
    assert document["run"]["id"] == str(run.id) and document["run"]["agent"] == "refund"
    assert document["run"]["status"] == "succeeded" and document["run"]["created_by"] == "engineer"
    assert document["run"]["input"] == run.input and document["run"]["output"] == run.output
    assert document["run"]["totals"]["tokens_in"] == run.tokens_in and document["run"]["totals"]["steps"] == run.steps
    assert [s["seq"] for s in document["spans"]] == sorted(s.seq for s in Span.objects.filter(run=run))
    assert len(document["spans"]) >= 4
    [approval] = document["approvals"]
    assert approval["action"] == "issue_refund" and approval["status"] == "approved"
    assert approval["decided_by"] == "reviewer"
    assert [(d["user"], d["decision"], d["comment"]) for d in approval["decisions"]] == [("reviewer", "approve", "fine by me")]
    assert AuditEvent.objects.filter(action="run.exported", object_id=str(run.id), actor=engineer).exists()

    before = Run.objects.count()
    imported = client.post("/api/runs/import", raw=exported.content.decode())
    assert imported.status_code == 201, imported.content
    body = imported.json()
    assert Run.objects.count() == before + 1
    copy_id = uuid.UUID(body["id"])
    assert copy_id != run.id
    assert body["status"] == "succeeded" and body["agent"] == "refund"
    assert body["input"] == run.input and body["output"] == run.output
    marker = body["metadata"]["imported"]
    assert marker["source"] == settings.STEWARD_BASE_URL and marker["original_id"] == str(run.id)
    assert marker["exported_at"] == document["exported_at"] and marker["imported_by"] == "engineer"
    assert marker["imported_at"] and marker["created_by"] == "engineer"

    # The same spans, with new ids, and the same tree.
    assert _span_tree(copy_id) == _span_tree(run.id)
    old_ids = set(Span.objects.filter(run=run).values_list("id", flat=True))
    new_spans = list(Span.objects.filter(run_id=copy_id))
    assert old_ids.isdisjoint({s.id for s in new_spans})
    assert any(s.parent_id for s in new_spans)
    assert {s.parent_id for s in new_spans if s.parent_id} <= {s.id for s in new_spans}
    copy_row = Run.objects.get(id=copy_id)
    assert (copy_row.steps, copy_row.tokens_in, copy_row.tokens_out, copy_row.cost) == (
        run.steps, run.tokens_in, run.tokens_out, run.cost,
    )
    assert not ApprovalRequest.objects.filter(run_id=copy_id).exists()
    assert AuditEvent.objects.filter(action="run.imported", object_id=str(copy_id), actor=engineer).exists()

    # Read-only: a worker will not take it, and cancelling it is 409.
    assert runtime.execute(copy_id) is None
    cancelled = client.post(f"/api/runs/{copy_id}/cancel")
    assert cancelled.status_code == 409
    assert cancelled.json() == {"detail": "imported runs are read-only"}
    assert Run.objects.get(id=copy_id).status == "succeeded"

    # Exporting the copy again keeps the approvals it came with.
    again = json.loads(client.get(f"/api/runs/{copy_id}/export").content)
    assert again["approvals"] == document["approvals"]
    assert [s["name"] for s in again["spans"]] == [s["name"] for s in document["spans"]]

    # The run page: the badge, the export link, no cancel button.
    page = Client()
    page.force_login(engineer)
    html = page.get(f"/runs/{copy_id}/").content.decode()
    assert f"Imported from {settings.STEWARD_BASE_URL}" in html
    assert f'href="/runs/{copy_id}/export"' in html
    assert "Cancel run" not in html


@pytest.mark.django_db(transaction=True)
def test_a_waiting_run_cannot_be_imported(engineer: User, api: Api) -> None:
    """A run exported while waiting for approval is refused: 422, only finished runs."""
    run = start_run("refund", {"order_id": f"W-{uuid.uuid4().hex[:10]}", "amount": 250, "reason": "x"}, engineer)
    assert runtime.execute(run.id) == Run.Status.WAITING
    client = api(engineer)
    document = json.loads(client.get(f"/api/runs/{run.id}/export").content)
    assert document["run"]["status"] == "waiting"
    before = Run.objects.count()
    response = client.post("/api/runs/import", document)
    assert response.status_code == 422, response.content
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", "run", "status"]
    assert error["msg"].startswith("only finished runs can be imported")
    assert Run.objects.count() == before


# --- what an import refuses ---------------------------------------------------------------------


# An exported approval request, as much of one as the format requires.
APPROVAL = {"queue": "payments", "action": "issue_refund", "status": "approved", "proposed_args": {"amount": 5}}


def test_approval_values_in_the_format_are_the_models(engineer: User, api: Api) -> None:
    """The format's closed lists are the models' choices, and a document holding them imports."""
    assert set(get_args(ApprovalV1.model_fields["status"].annotation)) == set(ApprovalRequest.Status.values)
    assert set(get_args(DecisionV1.model_fields["decision"].annotation)) == set(Decision.Kind.values)
    document = valid_document()
    document["approvals"] = [{**APPROVAL, "decisions": [{"decision": "edit", "args": {"amount": 4}}]}]
    response = api(engineer).post("/api/runs/import", document)
    assert response.status_code == 201, response.content


def test_hand_written_document_imports(engineer: User, api: Api) -> None:
    """The document the refusal tests tamper with is itself valid: it imports (201)."""
    document = valid_document()
    response = api(engineer).post("/api/runs/import", document)
    assert response.status_code == 201, response.content
    run = Run.objects.get(id=response.json()["id"])
    spans = list(Span.objects.filter(run=run).order_by("seq"))
    assert [s.name for s in spans] == ["plan", "scripted"]
    assert spans[1].parent_id == spans[0].id
    assert run.metadata["tag"] == "demo" and run.created_by is None
    assert run.metadata["imported"]["source"] == "https://steward.example.com"


def test_import_creates_a_missing_agent_unregistered(engineer: User) -> None:
    """An agent this Steward does not know gets a row, not registered, and nothing runs it."""
    document = valid_document()
    document["run"]["agent"] = "ghost-agent"
    document["run"]["agent_name"] = "Ghost"
    run = import_run(document, engineer)
    agent = Agent.objects.get(key="ghost-agent")
    assert run.agent == agent and agent.name == "Ghost" and agent.is_registered is False
    assert Agent.objects.get(key="refund").is_registered is True


@pytest.mark.parametrize(
    ("tamper", "expected"),
    [
        (lambda d: d.update(format="langsmith.v2"), {"body.format"}),
        (lambda d: d["run"].pop("agent"), {"body.run.agent"}),
        (lambda d: d["run"].update(agent="not a slug!"), {"body.run.agent"}),
        (lambda d: d["run"].update(status="exploded"), {"body.run.status"}),
        (lambda d: d["run"].update(created_at="yesterday"), {"body.run.created_at"}),
        (lambda d: d["run"]["totals"].update(tokens_in=-3), {"body.run.totals.tokens_in"}),
        (lambda d: d["spans"][1].update(kind="bogus", seq=-1), {"body.spans.1.kind", "body.spans.1.seq"}),
        (lambda d: d["spans"][0].update(evil=True), {"body.spans.0.evil"}),
        (lambda d: d["spans"][1].update(parent_id=str(uuid.uuid4())), {"body.spans.1.parent_id"}),
        (lambda d: d["spans"][1].update(id=d["spans"][0]["id"], parent_id=None), {"body.spans.1.id"}),
        (lambda d: d["spans"][1].update(seq=0), {"body.spans.1.seq"}),
        (lambda d: d["spans"][0].update(parent_id=d["spans"][1]["id"]), {"body.spans.0.parent_id", "body.spans.1.parent_id"}),
        (lambda d: d["run"].update(status="running"), {"body.run.status"}),
        (
            lambda d: d.update(approvals=[{**APPROVAL, "status": "banana", "decisions": [{"decision": "maybe"}]}]),
            {"body.approvals.0.status", "body.approvals.0.decisions.0.decision"},
        ),
        (lambda d: d.update(approvals=[{**APPROVAL, "action": "x" * 201}]), {"body.approvals.0.action"}),
    ],
)
def test_tampered_document_is_422_listing_what_is_wrong(
    engineer: User, api: Api, tamper: Callable[[dict[str, Any]], Any], expected: set[str]
) -> None:
    """Every broken field is named in one 422 answer; nothing is written."""
    document = valid_document()
    tamper(document)
    before = (Run.objects.count(), Span.objects.count())
    response = api(engineer).post("/api/runs/import", document)
    assert response.status_code == 422, response.content
    assert expected <= _locs(response), response.json()
    assert all(e["msg"] for e in response.json()["detail"])
    assert (Run.objects.count(), Span.objects.count()) == before


def test_several_problems_are_listed_together(engineer: User, api: Api) -> None:
    """A body with many problems lists them all, each with a message."""
    document = valid_document()
    document["run"]["input"] = "not an object"
    document["spans"][0]["status"] = "fine"
    document["spans"][1]["tokens_out"] = "many"
    response = api(engineer).post("/api/runs/import", document)
    assert response.status_code == 422
    assert {"body.run.input", "body.spans.0.status", "body.spans.1.tokens_out"} <= _locs(response)


def test_not_an_object_or_empty_is_422(engineer: User, api: Api) -> None:
    """JSON that is not an object, or no body at all: 422 with a message."""
    for raw in ("[1, 2, 3]", '"steward.trace.v1"', ""):
        response = api(engineer).post("/api/runs/import", raw=raw)
        assert response.status_code == 422, (raw, response.content)
        assert response.json()["detail"][0]["msg"]


@pytest.mark.parametrize(
    "raw",
    [
        "this is not json",
        '{"format": "steward.trace.v1", "exported_at": NaN}',
        json.dumps({**valid_document(), "source": "nul \u0000 here"}),
    ],
)
def test_unparseable_body_is_400_like_every_api_call(engineer: User, api: Api, raw: str) -> None:
    """Not JSON, NaN, a NUL character: 400 with a message (console/kernel/middleware.py), never a 500."""
    response = api(engineer).post("/api/runs/import", raw=raw)
    assert response.status_code == 400, response.content
    assert response.json()["detail"].startswith("malformed JSON body")


def test_unstorable_values_are_refused_by_the_service(engineer: User) -> None:
    """import_run itself (the page's path) names NUL characters, unpaired surrogates, NaN, overly
    deep values and times out of range."""
    document = valid_document()
    document["spans"][0]["output"] = {"text": "nul \u0000 here"}
    document["run"]["metadata"] = {"deep": json.loads("[" * 70 + "]" * 70)}
    document["run"]["totals"]["cost"] = float("nan")
    document["run"]["error"] = "lone \ud800 surrogate"
    document["spans"][1]["started_at"] = "0001-01-01T00:00:00+05:00"
    with pytest.raises(Invalid) as caught:
        import_run(document, engineer)
    locs = {".".join(e["loc"]) for e in caught.value.detail}
    assert "body.spans.0.output.text" in locs and "body.run.totals.cost" in locs
    assert "body.run.error" in locs and "body.spans.1.started_at" in locs
    assert any(loc.startswith("body.run.metadata.deep") for loc in locs)
    assert not Run.objects.filter(metadata__imported__isnull=False).exists()


# --- who may ------------------------------------------------------------------------------------


def test_roles(engineer: User, reviewer: User, outsider: User, api: Api) -> None:
    """Reviewers may export (read) but not import (403); outsiders neither; no key is 401."""
    run = import_run(valid_document(), engineer)
    assert api(reviewer).get(f"/api/runs/{run.id}/export").status_code == 200
    response = api(reviewer).post("/api/runs/import", valid_document())
    assert response.status_code == 403
    assert response.json() == {"detail": "your role does not allow you to import runs"}
    assert api(outsider).get(f"/api/runs/{run.id}/export").status_code == 403
    assert api(None).get(f"/api/runs/{run.id}/export").status_code == 401
    assert api(None).post("/api/runs/import", valid_document()).status_code == 401
    assert api(engineer).get(f"/api/runs/{uuid.uuid4()}/export").status_code == 404


def test_export_keeps_an_imported_run_read_only_on_cancel_page(engineer: User) -> None:
    """The run page's cancel form (POST) refuses an imported run with a message."""
    run = import_run(valid_document(), engineer)
    client = Client()
    client.force_login(engineer)
    response = client.post(f"/runs/{run.id}/cancel", follow=True)
    assert "imported runs are read-only" in response.content.decode()
    assert Run.objects.get(id=run.id).status == "succeeded"


# --- the pages ----------------------------------------------------------------------------------


def _upload(document: Any, name: str = "run.json") -> SimpleUploadedFile:
    data = document if isinstance(document, bytes) else json.dumps(document).encode()
    return SimpleUploadedFile(name, data, content_type="application/json")


def test_import_page_uploads_a_file(engineer: User) -> None:
    """The import form takes an exported file and shows the new run; a bad file is 422 with the reasons."""
    client = Client()
    client.force_login(engineer)
    assert client.get("/runs/import").status_code == 200

    response = client.post("/runs/import", {"trace": _upload(valid_document())})
    assert response.status_code == 302
    run = Run.objects.get(metadata__imported__source="https://steward.example.com")
    assert response["Location"] == f"/runs/{run.id}/"

    bad = valid_document("waiting")
    bad["spans"][0]["kind"] = "bogus"
    response = client.post("/runs/import", {"trace": _upload(bad)})
    assert response.status_code == 422
    html = response.content.decode()
    assert "only finished runs can be imported" in html and "spans.0.kind" in html

    response = client.post("/runs/import", {"trace": _upload(b"\xff\xfe not text")})
    assert response.status_code == 422 and "not UTF-8" in response.content.decode()
    nan = json.dumps(valid_document()).replace('"cost": 0.001', '"cost": NaN', 1).encode()
    response = client.post("/runs/import", {"trace": _upload(nan)})
    assert response.status_code == 422 and "NaN is not JSON" in response.content.decode()
    response = client.post("/runs/import", {})
    assert response.status_code == 422 and "Choose an exported trace file" in response.content.decode()


def test_import_and_export_pages_roles(engineer: User, reviewer: User, outsider: User) -> None:
    """Reviewers may download an export but not import; outsiders neither; anonymous goes to login."""
    run = import_run(valid_document(), engineer)
    reviewer_client, outsider_client = Client(), Client()
    reviewer_client.force_login(reviewer)
    outsider_client.force_login(outsider)

    download = reviewer_client.get(f"/runs/{run.id}/export")
    assert download.status_code == 200
    assert download["Content-Disposition"] == f'attachment; filename="run-{run.id}.json"'
    assert json.loads(download.content)["run"]["id"] == str(run.id)
    assert AuditEvent.objects.filter(action="run.exported", actor=reviewer).exists()

    assert reviewer_client.get("/runs/import").status_code == 403
    assert reviewer_client.post("/runs/import", {"trace": _upload(valid_document())}).status_code == 403
    assert outsider_client.get(f"/runs/{run.id}/export").status_code == 403
    assert Client().get("/runs/import")["Location"] == "/login/?next=/runs/import"


def test_round_trip_of_document_is_stable(engineer: User) -> None:
    """Import then export gives back the same run content and spans (with the import marker added)."""
    from traces.inspection.export import export_run

    document = valid_document()
    run = import_run(copy.deepcopy(document), engineer)
    again = export_run(run)
    for key in ("agent", "thread_id", "status", "input", "output", "totals", "created_at", "finished_at"):
        assert again["run"][key] == document["run"][key], key
    strip = ("id", "parent_id")
    assert [{k: v for k, v in s.items() if k not in strip and k in document["spans"][i]} for i, s in enumerate(again["spans"])] == [
        {k: v for k, v in s.items() if k not in strip} for s in document["spans"]
    ]


def test_an_imported_run_with_pinned_prompts_replays_on_this_stewards_versions(engineer: User) -> None:
    """Pins in a document carry version numbers, not this Steward's ids: a replay pins the local
    versions with those numbers, and a number this Steward lacks is a 422, never a 500."""
    from agents.prompts.models import PromptVersion
    from traces.inspection.replay import replay

    local = PromptVersion.objects.get(prompt__name="refund_system", number=1)
    document = valid_document()
    document["run"]["prompt_versions"] = {"refund_system": {"version": 1, "label": "production"}}
    imported = import_run(document, engineer)
    copy = replay(imported, engineer, mode="live")
    assert copy.prompt_versions["refund_system"]["id"] == local.pk
    assert copy.prompt_versions["refund_system"]["version"] == 1

    document = valid_document()
    document["run"]["prompt_versions"] = {"refund_system": {"version": 99, "label": ""}}
    missing = import_run(document, engineer)
    with pytest.raises(Invalid, match="no version 99"):
        replay(missing, engineer, mode="live")
