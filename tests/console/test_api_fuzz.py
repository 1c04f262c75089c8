"""Fuzz the whole API from its own OpenAPI document with schemathesis, as each role.

Every operation `/api/openapi.json` lists is called with generated values (the document's
examples, then valid and invalid random draws) through the WSGI application in this process,
with a real API key of the role. No answer may be a server error; each must have a status the
document declares for the operation, the declared content type and, for a success, a body that
matches the declared schema. A new endpoint is fuzzed as soon as it is in the document.

Path parameters carry examples naming real objects (a waiting run's approval, finished runs, a
dead letter, the refund prompt with a pending promotion), so besides the 404s of random ids the real objects are read
and written too. Bounded and deterministic: a fixed seed, derandomized generation, no example
database, a few examples per operation. For a deeper run (schemathesis's coverage phase, which
adds ~50 boundary and negative cases per operation, and more random examples):

    STEWARD_FUZZ_DEEP=1 STEWARD_FUZZ_EXAMPLES=50 pytest tests/console/test_api_fuzz.py -s

Schemathesis runs through its engine (what its CLI runs), not its pytest plugin, whose lazy
schemas do not work with pytest 9.2 (they read a node attribute pytest no longer has).
"""

from __future__ import annotations

import copy
import json
import logging
import os
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from django.core.wsgi import get_wsgi_application
from django.db import connections
from django.test import Client
from schemathesis.engine import events
from schemathesis.engine import from_schema as engine_for

from tests.support.api_world import PROMPT, World, build_world

# Transactional: the runtime (its own connection) and schemathesis's worker thread must see the
# world, and the world what they write.
pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.postgres,
    pytest.mark.redis,
    # The app draws from `random` (retry jitter, agents/engine/reliability.py) while a request runs;
    # Hypothesis warns as if a strategy did, which none of ours does.
    pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisDeprecationWarning"),
]

DEEP = os.environ.get("STEWARD_FUZZ_DEEP") == "1"
MAX_EXAMPLES = int(os.environ.get("STEWARD_FUZZ_EXAMPLES", "4"))
SEED = 2026
CHECKS = ("not_a_server_error", "status_code_conformance", "content_type_conformance", "response_schema_conformance")


class ThreadConnections:
    """The WSGI app, noting the database connections each calling thread opens, so they can be
    closed once schemathesis's worker thread is done (they would otherwise outlive the test)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.opened: dict[int, Any] = {}

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        try:
            return self.app(environ, start_response)
        finally:
            for connection in connections.all(initialized_only=True):
                self.opened[id(connection)] = connection

    def close(self) -> None:
        for connection in self.opened.values():
            connection.inc_thread_sharing()  # closed from this thread, not the one that opened it
            connection.close()
            connection.dec_thread_sharing()


@pytest.fixture
def world(roles: None, settings: Any, purge_broker: None) -> Iterator[World]:
    # Rate limits have their own tests; here hundreds of calls in a minute would hit them.
    settings.STEWARD_RATE_LIMIT_PER_MINUTE = 0
    # Thousands of expected 4xx: Django's warning for each would only hide what matters.
    request_log = logging.getLogger("django.request")
    level = request_log.level
    request_log.setLevel(logging.ERROR)
    try:
        yield build_world()
    finally:
        request_log.setLevel(level)


def path_examples(world: World) -> dict[str, Any]:
    """A real value for each path parameter name the API uses."""
    assert world.finished_run and world.other_run and world.approval and world.promotion and world.dead_letter
    return {
        "run_id": str(world.finished_run.id),
        "a": str(world.finished_run.id),
        "b": str(world.other_run.id),
        "thread_id": world.finished_run.thread_id,
        "approval_id": str(world.approval.id),
        "request_id": str(world.promotion.id),
        "name": PROMPT,
        "key": "refund",
        "label": "production",
        "number": 1,
        "letter_id": str(world.dead_letter.id),
    }


def with_path_examples(document: dict[str, Any], examples: dict[str, Any]) -> dict[str, Any]:
    document = copy.deepcopy(document)
    for path, operations in document["paths"].items():
        for operation in operations.values():
            for parameter in operation.get("parameters", []):
                if parameter["in"] != "path" or parameter["name"] not in examples:
                    continue
                value = examples[parameter["name"]]
                if parameter["name"] == "name" and path.startswith("/api/queues/"):
                    value = "payments"
                parameter["example"] = value
    return document


def fuzz(world: World, role: str, document: dict[str, Any]) -> tuple[int, dict[str, int], list[str]]:
    """Run schemathesis over every operation of `document` as `role`: (operations, cases by
    phase, failures)."""
    config = schemathesis.Config.from_dict(
        {
            "seed": SEED,
            "workers": 1,
            # No cache of earlier runs' findings: each run is the same, and writes nothing.
            "cache": {"enabled": False},
            # A slow, shared machine must not turn into a failure: only answers count.
            "suppress-health-check": ["all"],
            "headers": world.headers(role),
            "generation": {"max-examples": MAX_EXAMPLES, "deterministic": True, "database": "none"},
            "phases": {
                "stateful": {"enabled": False},
                "coverage": {"enabled": DEEP, "unexpected-methods": []},
            },
            "checks": {"enabled": False, **{name: {"enabled": True} for name in CHECKS}},
        }
    )
    schema = schemathesis.openapi.from_dict(with_path_examples(document, path_examples(world)), config=config)
    app = ThreadConnections(get_wsgi_application())
    schema.app = app
    schema.location = "/api/openapi.json"
    operations: set[str] = set()
    cases: dict[str, int] = {}
    failures: list[str] = []
    try:
        stream = list(engine_for(schema).execute())
    finally:
        app.close()
    for event in stream:
        if isinstance(event, events.ScenarioFinished):
            operations.add(event.recorder.label)
            cases[str(event.phase)] = cases.get(str(event.phase), 0) + len(event.recorder.cases)
            for checks in event.recorder.checks.values():
                for check in checks:
                    if check.failure_info is not None:
                        failure = check.failure_info.failure
                        failures.append(
                            f"{event.recorder.label}: {check.name}: {failure.title}: {failure.message}\n"
                            f"{check.failure_info.code_sample}"
                        )
        elif isinstance(event, events.NonFatalError):
            failures.append(f"{event.label}: {event.info.format()}")
        elif isinstance(event, events.FatalError):
            failures.append(f"fatal: {event.exception!r}")
    return len(operations), cases, list(dict.fromkeys(failures))


@pytest.mark.parametrize("role", ["reviewer", "engineer", "admin"])
def test_fuzzing_the_api_finds_no_server_error_and_nothing_undocumented(world: World, role: str) -> None:
    """As each role, every operation: no 5xx, and only what the document declares."""
    document = Client().get("/api/openapi.json").json()
    operations, cases, failures = fuzz(world, role, document)
    print(f"\nfuzz as {role}: {operations} operations, {sum(cases.values())} cases {cases}, {len(failures)} failures")
    assert operations == sum(len(methods) for methods in document["paths"].values())
    assert not failures, "\n\n".join(failures)


def test_a_body_that_is_not_a_json_object_is_refused_by_every_operation(world: World) -> None:
    """What fuzzing found: django-ninja read a JSON list or number as an object with no fields,
    so `[{"mode": "live"}]` started a recorded replay. Every operation with a body now says 422."""
    document = Client().get("/api/openapi.json").json()
    examples = path_examples(world)
    with_body = [
        (method, path)
        for path, methods in document["paths"].items()
        for method, operation in methods.items()
        if "requestBody" in operation
    ]
    assert len(with_body) >= 13
    for method, path in with_body:
        url = path
        for name, value in examples.items():
            url = url.replace("{" + name + "}", "payments" if name == "name" and "/queues/" in path else str(value))
        for body in ('[{"mode": "live"}]', "7", '"text"'):
            response = Client().generic(
                method.upper(), url, body, content_type="application/json", headers=world.headers("admin")
            )
            assert response.status_code == 422, (method, url, body, response.status_code, response.content[:200])
            detail = json.dumps(response.json()["detail"])
            assert "object" in detail or "dictionary" in detail, (method, url, detail)


def test_the_document_declares_the_statuses_shared_machinery_answers(db: None) -> None:
    """What fuzzing found first: the middleware's 400 and django-ninja's 422 (a path id that is not
    a UUID) were undocumented. Every operation now declares 400, 401 and 403; those with
    parameters or a body 422; the rate-limited ones 429 with Retry-After (console/web/api.py)."""
    paths = Client().get("/api/openapi.json").json()["paths"]
    for path, methods in paths.items():
        for method, operation in methods.items():
            declared = set(operation["responses"])
            assert {"400", "401", "403"} <= declared, (method, path, declared)
            if operation.get("parameters") or operation.get("requestBody"):
                assert "422" in declared, (method, path, declared)
    for method, path in [("post", "/api/runs"), ("post", "/api/approvals/{approval_id}/decision")]:
        limited = paths[path][method]["responses"]["429"]
        assert "Retry-After" in limited["headers"]
    assert "429" not in paths["/api/runs"]["get"]["responses"]  # reads are not limited
