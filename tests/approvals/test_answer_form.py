"""An interrupt of no known shape is answered through a form generated from its `response_schema`
(approvals/answer_form.py), or a JSON editor when it has none; the post is assembled and checked
server-side, and a refusal shows each message next to its field with what was typed kept.

The agents are written the LangGraph docs' way (tests/support/interrupt_agents.py); the run is
executed in this process up to its interrupt and resumed after the answer, and the test reads what
the agent's node received (its output).
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.urls import reverse

from agents.engine import runtime
from agents.engine.services import start_run
from approvals.models import ApprovalRequest

pytestmark = pytest.mark.django_db(transaction=True)


def _waiting(agent: str, user: Any) -> tuple[Any, ApprovalRequest]:
    run = start_run(agent, {"topic": "t"}, user)
    assert runtime.execute(run.id) == "waiting"
    return run, ApprovalRequest.objects.get(run=run, status=ApprovalRequest.Status.PENDING)


def _received(run: Any) -> Any:
    assert runtime.execute(run.id) == "succeeded"
    run.refresh_from_db()
    return run.output["answer"]


def _tag(html: str, element_id: str) -> str:
    found = re.search(rf'<[a-z]+ [^>]*id="{element_id}"[^>]*>', html)
    assert found, f"no #{element_id}"
    return found.group(0)


def test_the_variants_of_a_schema_become_fieldsets_with_labelled_typed_fields(client_for: Any, engineer: Any, reviewer: Any) -> None:
    _, request = _waiting("booking_review", engineer)
    html = client_for(reviewer).get(reverse("approval_detail", args=[request.id])).content.decode()
    # One fieldset per variant, chosen with a radio; the first is chosen to begin with.
    assert 'name="answer_variant" value="0" id="answer-variant-0-choice" checked' in html
    assert 'name="answer_variant" value="1" id="answer-variant-1-choice" >' in html
    assert "> Accept</label></legend>" in html and "> Edit</label></legend>" in html
    # The `type` const is the variant itself, not a field.
    assert 'name="answer.v1.type"' not in html
    nights = _tag(html, "af-answer-v1-nights")
    assert 'type="number"' in nights and 'step="1"' in nights and 'value="2"' in nights  # the default
    assert "How many nights to book; at least 1" in html  # description and constraint as help
    assert '<label for="af-answer-v1-nights">nights <abbr title="required">*</abbr></label>' in html
    assert '<option value="double" selected>double</option>' in html and "<select id=\"af-answer-v1-room\"" in html
    assert 'type="checkbox" id="af-answer-v1-breakfast"' in html
    assert "<textarea id=\"af-answer-v1-note\"" in html  # a long string is a textarea
    assert '<fieldset class="answer-group" id="af-answer-v1-guest">' in html  # a nested object: its own fields
    assert 'type="text"  id="af-answer-v1-guest-name"' in html
    assert 'class="json-editor"' in _tag(html, "af-answer-v1-extras")  # a list: a JSON box
    assert 'id="answer-json-panel"' in html and "Advanced: JSON" in html  # the raw JSON alternative
    assert '"type": "accept"\n}</textarea>' in html.replace("&quot;", '"')  # its example: the first variant


def test_the_generated_form_posts_the_json_value_the_agent_receives(client_for: Any, engineer: Any, reviewer: Any) -> None:
    browser = client_for(reviewer)
    run, request = _waiting("booking_review", engineer)
    answered = browser.post(reverse("approval_decide", args=[request.id]), {
        "decision": "answer", "answer_mode": "form", "answer_variant": "1",
        "answer.v1.nights": "3", "answer.v1.room": "suite", "answer.v1.breakfast": "on", "answer.v1.note": "",
        "answer.v1.guest.name": "Ada", "answer.v1.guest.email": "", "answer.v1.extras": '["cot"]',
        # The other variant's fields are ignored.
        "answer.v0.whatever": "x",
    })
    assert answered.status_code == 302, answered.content.decode()[:2000]
    assert _received(run) == {"type": "edit", "nights": 3, "room": "suite", "breakfast": True, "guest": {"name": "Ada"}, "extras": ["cot"]}

    run, request = _waiting("booking_review", engineer)
    browser.post(reverse("approval_decide", args=[request.id]), {"decision": "answer", "answer_mode": "form", "answer_variant": "0"})
    assert _received(run) == {"type": "accept"}


def test_a_refused_answer_shows_each_error_next_to_its_field_and_keeps_what_was_typed(client_for: Any, engineer: Any, reviewer: Any) -> None:
    browser = client_for(reviewer)
    run, request = _waiting("booking_review", engineer)
    refused = browser.post(reverse("approval_decide", args=[request.id]), {
        "decision": "answer", "answer_mode": "form", "answer_variant": "1",
        "answer.v1.nights": "0", "answer.v1.room": "suite", "answer.v1.note": "late arrival",
        "answer.v1.guest.name": "", "answer.v1.guest.email": "ada@example.test", "answer.v1.extras": "[cot",
    })
    html = refused.content.decode()
    assert refused.status_code == 422
    assert ApprovalRequest.objects.get(id=request.id).status == "pending"
    # Every problem at once: a list that is not JSON, and what the schema refuses.
    assert '<small class="error field-error" id="af-answer-v1-extras-error">not valid JSON' in html
    assert 'id="af-answer-v1-nights-error">0 is less than the minimum of 1</small>' in html
    assert "extras: not valid JSON" in html  # the page's summary names the field as the reviewer knows it
    assert 'id="answer-variant-1-choice" checked' in html  # the chosen variant stays chosen
    assert ">late arrival</textarea>" in html and 'value="ada@example.test"' in html and "[cot</textarea>" in html

    refused = browser.post(reverse("approval_decide", args=[request.id]), {
        "decision": "answer", "answer_mode": "form", "answer_variant": "1",
        "answer.v1.nights": "0", "answer.v1.room": "suite", "answer.v1.guest.email": "ada@example.test",
    })
    html = refused.content.decode()
    assert refused.status_code == 422
    assert 'id="af-answer-v1-nights-error">0 is less than the minimum of 1</small>' in html
    assert 'aria-invalid="true"' in _tag(html, "af-answer-v1-nights") and 'value="0"' in _tag(html, "af-answer-v1-nights")
    assert 'id="af-answer-v1-guest-name-error">required</small>' in html  # the nested object's own required field
    refused = browser.post(reverse("approval_decide", args=[request.id]), {
        "decision": "answer", "answer_mode": "form", "answer_variant": "1", "answer.v1.nights": "two", "answer.v1.room": "suite",
    })
    assert 'id="af-answer-v1-nights-error">must be a whole number</small>' in refused.content.decode()
    assert ApprovalRequest.objects.get(id=request.id).status == "pending"

    browser.post(reverse("approval_decide", args=[request.id]), {
        "decision": "answer", "answer_mode": "form", "answer_variant": "1", "answer.v1.nights": "1", "answer.v1.room": "single",
    })
    assert _received(run) == {"type": "edit", "nights": 1, "room": "single", "breakfast": False}


def test_the_advanced_json_box_is_checked_against_the_schema_too(client_for: Any, engineer: Any, reviewer: Any) -> None:
    browser = client_for(reviewer)
    run, request = _waiting("booking_review", engineer)
    refused = browser.post(reverse("approval_decide", args=[request.id]), {"decision": "answer", "answer_mode": "json", "value": '{"type": "edit"'})
    html = refused.content.decode()
    assert refused.status_code == 422 and "not valid JSON: Expecting &#x27;,&#x27; delimiter at line 1 column 16" in html
    assert '{&quot;type&quot;: &quot;edit&quot;</textarea>' in html and '<details id="answer-json-panel" open>' in html
    refused = browser.post(reverse("approval_decide", args=[request.id]), {"decision": "answer", "answer_mode": "json", "value": '{"type": "maybe"}'})
    assert refused.status_code == 422 and 'id="answer-value-error"' in refused.content.decode()
    browser.post(reverse("approval_decide", args=[request.id]), {"decision": "answer", "answer_mode": "json", "value": '{"type": "accept"}'})
    assert _received(run) == {"type": "accept"}


def test_a_scalar_schema_is_one_field_and_no_schema_is_a_json_editor(client_for: Any, engineer: Any, reviewer: Any) -> None:
    browser = client_for(reviewer)
    run, request = _waiting("question", engineer)  # response_schema: a string matching ^A-[0-9]+$
    html = browser.get(reverse("approval_detail", args=[request.id])).content.decode()
    assert 'name="answer"' in _tag(html, "af-answer") and "matches ^A-[0-9]+$" in html
    refused = browser.post(reverse("approval_decide", args=[request.id]), {"decision": "answer", "answer_mode": "form", "answer": "B-7"})
    assert refused.status_code == 422 and 'id="af-answer-error">&#x27;B-7&#x27; does not match' in refused.content.decode()
    assert 'value="B-7"' in _tag(refused.content.decode(), "af-answer")
    browser.post(reverse("approval_decide", args=[request.id]), {"decision": "answer", "answer_mode": "form", "answer": "A-9"})
    assert _received(run) == "A-9"

    run = start_run("parallel_questions", {"items": ["apples"]}, engineer)
    assert runtime.execute(run.id) == "waiting"
    request = ApprovalRequest.objects.get(run=run, status="pending")
    html = browser.get(reverse("approval_detail", args=[request.id])).content.decode()
    assert 'id="answer-form"' not in html  # no schema: nothing to generate
    assert '<details id="answer-json-panel" open>' in html and 'class="json-editor"' in _tag(html, "answer-value")
    assert ">{}</textarea>" in html and "text in quotes" in html
    refused = browser.post(reverse("approval_decide", args=[request.id]), {"decision": "answer", "answer_mode": "json", "value": "yes please"})
    assert refused.status_code == 422 and "Text goes in double quotes" in refused.content.decode()
    assert ">yes please</textarea>" in refused.content.decode()
    browser.post(reverse("approval_decide", args=[request.id]), {"decision": "answer", "answer_mode": "json", "value": '"yes please"'})
    assert runtime.execute(run.id) == "succeeded"
    run.refresh_from_db()
    assert run.output == {"answers": ["apples: yes please"]}


def test_the_pane_shows_the_generated_form_and_a_refusal_in_place(client_for: Any, engineer: Any, reviewer: Any) -> None:
    browser = client_for(reviewer)
    _, request = _waiting("booking_review", engineer)
    pane = browser.get(reverse("approval_detail", args=[request.id]), {"pane": "1"}).content.decode()
    assert 'id="answer-form"' in pane and 'id="af-answer-v1-nights"' in pane
    refused = browser.post(reverse("approval_decide", args=[request.id]), {
        "decision": "answer", "answer_mode": "form", "answer_variant": "1", "answer.v1.nights": "0", "answer.v1.room": "suite", "pane": "1",
    })
    html = refused.content.decode()
    assert refused.status_code == 422 and 'id="pane-body"' in html and "<html" not in html
    assert 'id="af-answer-v1-nights-error">0 is less than the minimum of 1</small>' in html
