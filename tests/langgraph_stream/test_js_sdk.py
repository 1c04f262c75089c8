"""The JavaScript LangGraph SDK (@langchain/langgraph-sdk, pinned in tests/js/package.json, run
with Debian's nodejs; .ci/run installs both) against Steward: create a thread, stream a run with
messages-tuple, resume its interrupt."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from agents.engine.models import Run
from approvals.models import ApprovalRequest
from tests.langgraph_stream.conftest import Steward
from tests.support.processes import ROOT

pytestmark = [pytest.mark.postgres, pytest.mark.redis]
JS = ROOT / "tests" / "js"


def test_js_sdk_streams_a_run_and_resumes_its_interrupt(steward: Steward) -> None:
    """The JS client sees `metadata`, the interrupt in `updates` and `end` (interrupted); the
    resume, sent by a reviewer through the stream endpoint with a command, streams the model's
    tokens and ends `success`. The run is one Steward run with the reviewer's decision."""
    node = shutil.which("node")
    assert node, "nodejs is missing: apt-get install nodejs (.ci/run does)"
    assert (JS / "node_modules" / "@langchain" / "langgraph-sdk").exists(), (
        "run `npm ci` in tests/js (.ci/run does)"
    )
    done = subprocess.run(
        [node, "stream_run.mjs", steward.url, steward.key, steward.reviewer_key],
        cwd=JS,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])

    first = result["first"]
    assert first[0]["event"] == "metadata" and first[-1] == {
        "event": "end",
        "data": {"run_id": first[0]["data"]["run_id"], "status": "interrupted"},
    }
    interrupt = next(
        p["data"]["__interrupt__"][0]
        for p in first
        if p["event"] == "updates" and "__interrupt__" in p["data"]
    )
    assert interrupt["value"] == "Which order?" and interrupt["id"]

    resumed = result["resumed"]
    assert resumed[0]["event"] == "metadata" and resumed[0]["data"]["run_id"] == first[0]["data"]["run_id"]
    tokens = [
        p["data"][0]["content"] for p in resumed if p["event"] == "messages" and p["data"][0]["content"]
    ]
    assert tokens == ["echo:", " A-1001"]
    assert resumed[-1]["event"] == "end" and resumed[-1]["data"]["status"] == "success"

    run = Run.objects.get(id=first[0]["data"]["run_id"])
    assert run.status == "succeeded" and run.thread_id == result["thread_id"]
    request = ApprovalRequest.objects.get(run=run)
    assert request.status != "pending" and request.decisions.get().user.username == "reviewer"
