"""The prompt pages: who may see and use each one, what the editor, label and playground forms do
with good and bad input, and the stale-save path (nothing saved, nothing lost, the diff shown).

Prompts, versions and label moves are real rows written by `agents.prompt_admin.services`; promotions
are decided with the real `approvals.services.decide`.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from agents.engine.services import start_run
from agents.prompt_admin import services as prompt_services
from agents.prompts.models import Prompt, PromptLabel, PromptLabelMove, PromptVersion
from approvals.models import ApprovalRequest
from approvals.services import decide
from tests.support.clients import ClientFor
from tests.support.users import make_user

pytestmark = pytest.mark.django_db

READERS = ["engineer", "reviewer", "admin_user"]
SYSTEM = "You greet guests of {shop}.\nSign-off: the {shop} team"


def greeting(admin: User, name: str = "greeting") -> Prompt:
    """A chat prompt with a system message, a placeholder and a user message: v1 under production."""
    prompt_services.create_prompt(
        admin,
        name,
        description="Greets a guest",
        template=[
            {"role": "system", "content": SYSTEM},
            {"role": "placeholder", "name": "history"},
            {"role": "user", "content": "My name is {guest}."},
        ],
        model_settings={"model": "scripted-demo", "temperature": 0.2},
        message="first",
    )
    return Prompt.objects.get(name=name)


def editor_post(
    contents: list[tuple[str, str]],
    variables: dict[str, str],
    base: int | None,
    message: str = "an edit",
    **extra: Any,
) -> dict[str, Any]:
    """What the editor form posts: aligned role/content/placeholder lists and var_name/var_type."""
    data: dict[str, Any] = {
        "role": [role for role, _ in contents],
        "content": [text if role != "placeholder" else "" for role, text in contents],
        "placeholder": [text if role == "placeholder" else "" for role, text in contents],
        "var_name": list(variables),
        "var_type": list(variables.values()),
        "model": "scripted-demo",
        "temperature": "0.2",
        "max_tokens": "",
        "output_schema": "",
        "message": message,
        "base": "" if base is None else str(base),
    }
    data.update(extra)
    return data


GREETING_VARS = {"shop": "string", "history": "messages", "guest": "string"}


def greeting_rows(system: str = SYSTEM) -> list[tuple[str, str]]:
    return [("system", system), ("placeholder", "history"), ("user", "My name is {guest}.")]


def text(response: Any) -> str:
    return response.content.decode()


def message_rows(page: str) -> int:
    """The editor's message rows (not the blank one in the <template> the script clones)."""
    return page.split('<template id="message-row-template">')[0].count('<fieldset class="message-row')


# --- who may see what ----------------------------------------------------------------------------


@pytest.mark.parametrize("role", READERS)
def test_every_read_page_renders_for_each_role(role: str, request: pytest.FixtureRequest, admin_user: User, client_for: ClientFor) -> None:
    """Engineers, reviewers and admins see the list, a prompt, a version, a diff and the playground."""
    user: User = request.getfixturevalue(role)
    prompt = greeting(admin_user)
    prompt_services.save_version(
        admin_user, prompt.name, template=[{"role": "system", "content": "Hi {guest}"}], message="shorter", base_number=1
    )
    client = client_for(user)
    for path in (
        "/prompts/",
        f"/prompts/{prompt.name}/",
        f"/prompts/{prompt.name}/versions/1/",
        f"/prompts/{prompt.name}/versions/2/",
        f"/prompts/{prompt.name}/diff?a=1&b=2",
        f"/prompts/{prompt.name}/playground?version=1",
    ):
        response = client.get(path)
        assert response.status_code == 200, (path, response.status_code)
        assert prompt.name in text(response)
    # Only admins are offered the forms that change things.
    detail = text(client.get(f"/prompts/{prompt.name}/"))
    assert ('id="move-label"' in detail) is (role == "admin_user")
    assert ("Edit from here" in detail) is (role == "admin_user")
    assert ('id="new-prompt"' in text(client.get("/prompts/"))) is (role == "admin_user")


def test_pages_refuse_users_without_a_role_and_send_anonymous_to_login(outsider: User, admin_user: User, client_for: ClientFor) -> None:
    prompt = greeting(admin_user)
    for path in ("/prompts/", f"/prompts/{prompt.name}/", f"/prompts/{prompt.name}/versions/1/",
                 f"/prompts/{prompt.name}/diff", f"/prompts/{prompt.name}/playground"):
        assert client_for(outsider).get(path).status_code == 403, path
        response = Client().get(path)
        assert response.status_code == 302 and response["Location"].startswith("/login/"), path


@pytest.mark.parametrize("role", ["engineer", "reviewer"])
def test_only_admins_edit_create_move_and_validate(role: str, request: pytest.FixtureRequest, admin_user: User, client_for: ClientFor) -> None:
    """The editor, the new-prompt form, label moves and the live check answer 403 to non-admins,
    and nothing is written."""
    user: User = request.getfixturevalue(role)
    prompt = greeting(admin_user)
    client = client_for(user)
    assert client.get(f"/prompts/{prompt.name}/edit").status_code == 403
    assert client.get("/prompts/new").status_code == 403
    post = editor_post(greeting_rows("Changed {shop}"), GREETING_VARS, base=1)
    assert client.post(f"/prompts/{prompt.name}/edit", post).status_code == 403
    assert client.post("/prompts/new", {**post, "name": "sneaky", "kind": "chat"}).status_code == 403
    assert client.post(f"/prompts/{prompt.name}/labels", {"label": "staging", "version": "1"}).status_code == 403
    assert client.post("/prompts/validate", post).status_code == 403
    assert PromptVersion.objects.filter(prompt=prompt).count() == 1
    assert not Prompt.objects.filter(name="sneaky").exists()
    assert not PromptLabel.objects.filter(prompt=prompt, name="staging").exists()


def test_unknown_prompt_or_version_is_404(engineer: User, admin_user: User, client_for: ClientFor) -> None:
    prompt = greeting(admin_user)
    assert client_for(engineer).get("/prompts/nope/").status_code == 404
    assert client_for(engineer).get(f"/prompts/{prompt.name}/versions/9/").status_code == 404


# --- list, prompt, version -----------------------------------------------------------------------


def test_list_shows_labels_latest_version_and_last_change(engineer: User, admin_user: User, client_for: ClientFor) -> None:
    prompt = greeting(admin_user)
    prompt_services.save_version(admin_user, prompt.name, template=[{"role": "system", "content": "v2 {guest}"}], base_number=1)
    prompt_services.move_label(admin_user, prompt.name, "staging", 2)
    page = text(client_for(engineer).get("/prompts/"))
    row = re.search(r'<tr id="prompt-greeting">(.*?)</tr>', page, re.S)
    assert row is not None
    assert "Greets a guest" in row.group(1)
    assert re.search(r"production</span> → <a [^>]*>v1</a>", row.group(1))
    assert re.search(r"staging</span> → <a [^>]*>v2</a>", row.group(1))
    assert 'href="/prompts/greeting/versions/2/">v2</a></td>' in row.group(1)  # the latest
    assert "UTC" in row.group(1)
    # Prompts the demo agents declare in code are listed too.
    assert 'id="prompt-refund_system"' in page


def test_prompt_page_shows_versions_labels_history_and_results(engineer: User, admin_user: User, client_for: ClientFor) -> None:
    """Versions with author, message and hash; labels; each label's history; per-version results
    from the runs pinned to them."""
    refund = Prompt.objects.get(name="refund_system")
    start_run("refund", {"order_id": "PP-1", "amount": 20, "reason": "broken"}, engineer)
    page = text(client_for(engineer).get("/prompts/refund_system/"))
    v1 = PromptVersion.objects.get(prompt=refund, number=1)
    assert v1.content_hash[:10] in page
    assert 'id="label-production"' in page
    results_row = re.search(r'<tr id="results-v1">(.*?)</tr>', page, re.S)
    assert results_row is not None and "<td>1 <small" in results_row.group(1)  # one run, still queued


def test_version_page_shows_messages_variables_settings_and_links(engineer: User, admin_user: User, client_for: ClientFor) -> None:
    prompt = greeting(admin_user)
    page = text(client_for(engineer).get(f"/prompts/{prompt.name}/versions/1/"))
    assert "You greet guests of {shop}." in page
    assert "The messages in <code>history</code> go here." in page
    assert "<code>guest</code></td><td>string</td>" in page
    assert "<dt>temperature</dt><dd>0.2</dd>" in page
    assert 'id="compare"' in page
    assert "Edit from this version" not in page  # engineers do not edit
    admin_page = text(client_for(admin_user).get(f"/prompts/{prompt.name}/versions/1/"))
    assert f'href="/prompts/{prompt.name}/edit?from=1"' in admin_page


# --- the editor ----------------------------------------------------------------------------------


def test_editor_opens_on_the_chosen_version_and_saves_a_new_one(admin_user: User, client_for: ClientFor) -> None:
    prompt = greeting(admin_user)
    client = client_for(admin_user)
    page = text(client.get(f"/prompts/{prompt.name}/edit?from=1"))
    assert 'name="base" value="1"' in page
    assert "You greet guests of {shop}." in page
    assert message_rows(page) == 3
    response = client.post(
        f"/prompts/{prompt.name}/edit",
        editor_post(greeting_rows(SYSTEM + "\nBe brief."), GREETING_VARS, base=1, message="be brief", max_tokens="300"),
    )
    assert response.status_code == 302 and response["Location"] == f"/prompts/{prompt.name}/"
    saved = PromptVersion.objects.get(prompt=prompt, number=2)
    assert saved.template[0]["content"].endswith("Be brief.")
    assert saved.template[1] == {"role": "placeholder", "name": "history"}
    assert saved.variables == GREETING_VARS
    assert saved.model_settings == {"model": "scripted-demo", "temperature": 0.2, "max_tokens": 300}
    assert saved.message == "be brief" and saved.base_number == 1 and saved.author == admin_user
    follow = text(client.get(response["Location"]))
    assert "Saved version 2 of greeting." in follow


def test_editor_with_an_unknown_from_says_so_and_opens_the_latest(admin_user: User, client_for: ClientFor) -> None:
    prompt = greeting(admin_user)
    response = client_for(admin_user).get(f"/prompts/{prompt.name}/edit?from=abc")
    assert response.status_code == 200
    assert "There is no version &#x27;abc&#x27;" in text(response)
    assert 'name="base" value="1"' in text(response)


def test_a_bad_template_rerenders_with_the_error_and_the_text_kept(admin_user: User, client_for: ClientFor) -> None:
    prompt = greeting(admin_user)
    broken = "You greet guests of {shop.\nKeep this line"
    response = client_for(admin_user).post(
        f"/prompts/{prompt.name}/edit", editor_post(greeting_rows(broken), GREETING_VARS, base=1)
    )
    assert response.status_code == 422
    page = text(response)
    assert 'id="editor-problem"' in page
    assert "template syntax" in page
    assert "You greet guests of {shop.\nKeep this line</textarea>" in page
    assert 'aria-invalid="true"' in page
    assert PromptVersion.objects.filter(prompt=prompt).count() == 1


def test_bad_model_settings_and_output_schema_are_field_errors(admin_user: User, client_for: ClientFor) -> None:
    prompt = greeting(admin_user)
    response = client_for(admin_user).post(
        f"/prompts/{prompt.name}/edit",
        editor_post(greeting_rows(), GREETING_VARS, base=1, temperature="warm", output_schema="{not json"),
    )
    assert response.status_code == 422
    page = text(response)
    assert "temperature is a number" in page
    assert "the output schema is not JSON" in page
    assert 'value="warm"' in page and "{not json</textarea>" in page
    assert PromptVersion.objects.filter(prompt=prompt).count() == 1


def test_a_variable_without_a_type_is_undefined_then_listed_so_the_next_save_works(admin_user: User, client_for: ClientFor) -> None:
    """Without the live check, a new {variable} reaches the service undeclared: the page says so
    and lists it with a type to choose; posting again saves."""
    prompt = greeting(admin_user)
    client = client_for(admin_user)
    rows = greeting_rows(SYSTEM + "\nToday is {weekday}.")
    response = client.post(f"/prompts/{prompt.name}/edit", editor_post(rows, GREETING_VARS, base=1))
    assert response.status_code == 422
    page = text(response)
    assert "the template uses {weekday}, which is not defined" in page
    assert 'id="var-weekday"' in page and 'name="var_name" value="weekday"' in page
    response = client.post(f"/prompts/{prompt.name}/edit", editor_post(rows, {**GREETING_VARS, "weekday": "string"}, base=1))
    assert response.status_code == 302
    assert PromptVersion.objects.get(prompt=prompt, number=2).variables["weekday"] == "string"


def test_a_stale_save_keeps_the_text_shows_their_change_and_the_next_save_works(admin_user: User, client_for: ClientFor) -> None:
    """Admin A opened v1; admin B saved v2 meanwhile. A's save saves nothing, shows B's change
    side by side, keeps A's text, and takes v2 as the base: saving again makes v3 from A's text."""
    prompt = greeting(admin_user)
    other = make_user("admin_b", "admins")
    client = client_for(admin_user)
    assert 'name="base" value="1"' in text(client.get(f"/prompts/{prompt.name}/edit"))
    theirs = SYSTEM + "\nTheir line from B."
    prompt_services.save_version(
        other, prompt.name, template=[{"role": "system", "content": theirs}, {"role": "placeholder", "name": "history"},
                                      {"role": "user", "content": "My name is {guest}."}],
        variables=GREETING_VARS, message="B's change", base_number=1,
    )
    mine = SYSTEM + "\nMy own line from A."
    response = client.post(f"/prompts/{prompt.name}/edit", editor_post(greeting_rows(mine), GREETING_VARS, base=1))
    assert response.status_code == 409
    page = text(response)
    assert 'id="conflict"' in page
    assert "admin_b saved version 2 after you opened version 1" in page
    # The diff of what B changed, with B's line on the right.
    diff = page[page.index('id="conflict"'):page.index("</article>", page.index('id="conflict"'))]
    assert re.search(r'<tr class="insert">.*Their line from B\.', diff)
    # A's text is still in the editor, and the base is now B's version.
    assert "My own line from A.</textarea>" in page
    assert 'name="base" value="2"' in page
    assert PromptVersion.objects.filter(prompt=prompt).count() == 2
    response = client.post(f"/prompts/{prompt.name}/edit", editor_post(greeting_rows(mine), GREETING_VARS, base=2))
    assert response.status_code == 302
    v3 = PromptVersion.objects.get(prompt=prompt, number=3)
    assert v3.template[0]["content"] == mine and v3.base_number == 2


def test_saving_what_is_already_there_says_nothing_changed(admin_user: User, client_for: ClientFor) -> None:
    prompt = greeting(admin_user)
    response = client_for(admin_user).post(
        f"/prompts/{prompt.name}/edit", editor_post(greeting_rows(), GREETING_VARS, base=1, message="no-op")
    )
    assert response.status_code == 409
    assert "nothing changed" in text(response)
    assert PromptVersion.objects.filter(prompt=prompt).count() == 1


def test_an_untouched_whole_number_setting_is_not_a_change(admin_user: User, client_for: ClientFor) -> None:
    """A temperature of 0 comes back from the form as "0": it stays 0, not 0.0, so saving the
    version as it is changes nothing."""
    prompt_services.create_prompt(
        admin_user, "plain", template=[{"role": "system", "content": "Hi {who}"}], model_settings={"temperature": 0}
    )
    client = client_for(admin_user)
    page = text(client.get("/prompts/plain/edit"))
    assert 'name="temperature" value="0"' in page
    response = client.post(
        "/prompts/plain/edit",
        editor_post([("system", "Hi {who}")], {"who": "string"}, base=1, model="", temperature="0"),
    )
    assert response.status_code == 409 and "nothing changed" in text(response)


def test_line_breaks_from_the_browser_are_saved_as_newlines(admin_user: User, client_for: ClientFor) -> None:
    """Browsers post a textarea's line breaks as CRLF; the saved template has plain newlines."""
    prompt = greeting(admin_user)
    rows = greeting_rows("First line {shop}\r\nSecond line")
    response = client_for(admin_user).post(f"/prompts/{prompt.name}/edit", editor_post(rows, GREETING_VARS, base=1))
    assert response.status_code == 302
    assert PromptVersion.objects.get(prompt=prompt, number=2).template[0]["content"] == "First line {shop}\nSecond line"


def test_add_and_remove_message_rows_without_javascript(admin_user: User, client_for: ClientFor) -> None:
    prompt = greeting(admin_user)
    client = client_for(admin_user)
    post = editor_post(greeting_rows("Still here {shop}"), GREETING_VARS, base=1, row_action="add")
    page = text(client.post(f"/prompts/{prompt.name}/edit", post))
    assert message_rows(page) == 4 and "Still here {shop}</textarea>" in page
    post["row_action"] = "remove-2"
    page = text(client.post(f"/prompts/{prompt.name}/edit", post))
    assert message_rows(page) == 2 and "My name is {guest}." not in page
    assert PromptVersion.objects.filter(prompt=prompt).count() == 1


# --- the live check --------------------------------------------------------------------------------


def test_validate_returns_the_detected_variables_with_a_type_each(admin_user: User, client_for: ClientFor) -> None:
    prompt = greeting(admin_user)
    post = editor_post(greeting_rows(SYSTEM + " Budget: {budget}"), {"shop": "string", "guest": "string"}, base=1,
                       prompt=prompt.name)
    response = client_for(admin_user).post("/prompts/validate", post)
    assert response.status_code == 200
    page = text(response)
    assert page.lstrip().startswith('<article id="variables"')
    for name in ("shop", "history", "guest", "budget"):
        assert f'name="var_name" value="{name}"' in page
    assert re.search(r'id="var-budget">.*?new</span>', page, re.S)  # not in v1
    assert not re.search(r'id="var-guest">.*?new</span>.*?</tr>', page.split('id="var-budget"')[0], re.S)
    # A placeholder's type is fixed; the others get a select.
    assert re.search(r'id="var-history">.*?<span>messages</span> <small class="meta">\(placeholder\)</small><input type="hidden" name="var_type" value="messages">', page, re.S)
    assert 'aria-label="Type of budget"' in page
    assert 'id="no-problems"' in page


def test_validate_shows_syntax_errors_per_message_and_setting_errors(admin_user: User, client_for: ClientFor) -> None:
    prompt = greeting(admin_user)
    post = editor_post(
        [("system", "Hello {shop"), ("user", "")], GREETING_VARS, base=1, prompt=prompt.name, temperature="hot"
    )
    page = text(client_for(admin_user).post("/prompts/validate", post))
    assert 'id="problems"' in page
    assert "Message 1, 2: see the problems under them." in page
    assert "temperature: temperature is a number" in page
    # The row errors travel in a data attribute; the script writes them under each message.
    attr = re.search(r'data-row-errors="([^"]*)"', page)
    assert attr is not None and "template syntax" in attr.group(1) and "a message needs some content" in attr.group(1)


def test_validate_lists_variables_of_a_text_prompt_for_the_new_prompt_form(admin_user: User, client_for: ClientFor) -> None:
    post = {"kind": "text", "text": "Summarise {document} in {words} words", "base": ""}
    page = text(client_for(admin_user).post("/prompts/validate", post))
    assert 'name="var_name" value="document"' in page and 'name="var_name" value="words"' in page


def test_validate_marks_an_unknown_type_and_a_removed_variable(admin_user: User, client_for: ClientFor) -> None:
    prompt = greeting(admin_user)
    post = editor_post([("system", "Only {shop}")], {"shop": "colour"}, base=1, prompt=prompt.name)
    page = text(client_for(admin_user).post("/prompts/validate", post))
    assert 'id="removed-variables"' in page and "<code>guest</code>" in page and "<code>history</code>" in page
    assert 'aria-label="Type of shop" aria-invalid="true"' in page
    assert "type must be one of string, number, integer, boolean, messages" in page


# --- a new prompt ----------------------------------------------------------------------------------


def test_new_prompt_is_created_with_version_1_under_production(admin_user: User, client_for: ClientFor) -> None:
    client = client_for(admin_user)
    assert client.get("/prompts/new").status_code == 200
    response = client.post(
        "/prompts/new",
        {"name": "triage", "kind": "text", "description": "Sorts tickets", "text": "Sort: {ticket}",
         "var_name": ["ticket"], "var_type": ["string"], "message": "start", "model": "", "temperature": "",
         "max_tokens": "", "output_schema": '{"type": "object"}'},
    )
    assert response.status_code == 302 and response["Location"] == "/prompts/triage/"
    version = PromptVersion.objects.get(prompt__name="triage", number=1)
    assert version.kind == "text" and version.template == "Sort: {ticket}" and version.output_schema == {"type": "object"}
    assert PromptLabel.objects.get(prompt__name="triage", name="production").version == version


def test_new_prompt_errors_keep_what_was_typed(admin_user: User, client_for: ClientFor) -> None:
    greeting(admin_user)
    client = client_for(admin_user)
    base = {"kind": "chat", "description": "d", "role": ["system"], "content": ["Hello {who}"], "placeholder": [""],
            "var_name": ["who"], "var_type": ["string"], "message": "m"}
    taken = client.post("/prompts/new", {**base, "name": "greeting"})
    assert taken.status_code == 409 and "already exists" in text(taken) and "Hello {who}</textarea>" in text(taken)
    bad = client.post("/prompts/new", {**base, "name": "no spaces allowed"})
    assert bad.status_code == 422 and "letters, digits" in text(bad) and 'value="no spaces allowed"' in text(bad)
    empty = client.post("/prompts/new", {**base, "name": ""})
    assert empty.status_code == 422 and "give the prompt a name" in text(empty)
    assert Prompt.objects.filter(name__in=["no spaces allowed", ""]).count() == 0


# --- labels ----------------------------------------------------------------------------------------


def test_moving_an_unprotected_label_says_moved_and_records_history(admin_user: User, client_for: ClientFor) -> None:
    prompt = greeting(admin_user)
    prompt_services.save_version(admin_user, prompt.name, template=[{"role": "system", "content": "v2"}], base_number=1)
    client = client_for(admin_user)
    response = client.post(f"/prompts/{prompt.name}/labels", {"label": "staging", "version": "2", "note": "try it"}, follow=True)
    assert "Moved: staging now points at v2." in text(response)
    assert PromptLabel.objects.get(prompt=prompt, name="staging").version.number == 2
    history = re.search(r'id="history-staging">(.*?)</table>', text(response), re.S)
    assert history is not None and "→ v2" in history.group(1) and "try it" in history.group(1)


def test_a_split_is_saved_and_bad_weights_are_errors(admin_user: User, client_for: ClientFor) -> None:
    prompt = greeting(admin_user)
    prompt_services.save_version(admin_user, prompt.name, template=[{"role": "system", "content": "v2"}], base_number=1)
    client = client_for(admin_user)
    bad = client.post(f"/prompts/{prompt.name}/labels", {"label": "staging", "version": "1", "weight-1": "lots", "note": "ab"})
    assert bad.status_code == 422 and "the weight of v1 is not a number" in text(bad)
    assert 'value="lots"' in text(bad) and 'value="ab"' in text(bad)
    missing = client.post(f"/prompts/{prompt.name}/labels", {"label": "staging", "version": "1", "weight-2": "20"})
    assert missing.status_code == 422 and "must include version 1" in text(missing)
    assert not PromptLabel.objects.filter(prompt=prompt, name="staging").exists()
    ok = client.post(f"/prompts/{prompt.name}/labels", {"label": "staging", "version": "1", "weight-1": "80", "weight-2": "20"})
    assert ok.status_code == 302
    assert PromptLabel.objects.get(prompt=prompt, name="staging").split == [{"version": 1, "weight": 80.0}, {"version": 2, "weight": 20.0}]
    assert "v1 80 % / v2 20 %" in text(client.get(f"/prompts/{prompt.name}/"))


def test_bad_label_and_version_are_messages_not_500s(admin_user: User, client_for: ClientFor) -> None:
    prompt = greeting(admin_user)
    client = client_for(admin_user)
    response = client.post(f"/prompts/{prompt.name}/labels", {"label": "bad label!", "version": "x"})
    assert response.status_code == 422
    assert "a label uses letters" in text(response) and "choose a version" in text(response)
    missing = client.post(f"/prompts/{prompt.name}/labels", {"label": "staging", "version": "9"})
    assert missing.status_code == 422 and "has no version 9" in text(missing)


def test_moving_production_waits_for_another_admin_who_approves_it(admin_user: User, client_for: ClientFor) -> None:
    """A protected label: the move becomes an approval request (linked from the prompt page and the
    message); the request page shows the diff; the requester cannot approve; another admin can."""
    prompt = greeting(admin_user)
    second = make_user("admin_b", "admins")
    prompt_services.save_version(
        admin_user, prompt.name, template=[{"role": "system", "content": SYSTEM + "\nA brand new line"},
                                           {"role": "placeholder", "name": "history"}],
        variables={"shop": "string", "history": "messages"}, base_number=1,
    )
    client = client_for(admin_user)
    response = client.post(f"/prompts/{prompt.name}/labels", {"label": "production", "version": "2"}, follow=True)
    request = ApprovalRequest.objects.get(action="prompt.promote", proposed_args__prompt=prompt.name)
    page = text(response)
    assert "Waiting for review by another admin" in page
    assert f'href="/approvals/{request.id}/" id="promotion-request-link"' in page
    assert f'href="/approvals/{request.id}/" id="pending-request-link"' in page
    assert PromptLabel.objects.get(prompt=prompt, name="production").version.number == 1

    own = text(client.get(f"/approvals/{request.id}/"))
    assert "You requested this: someone else must decide it." in own
    review = text(client_for(second).get(f"/approvals/{request.id}/"))
    assert 'id="promotion-args"' in review and 'id="promotion-diff"' in review
    assert re.search(r'<tr class="insert">.*A brand new line', review)
    assert "v1 (now)" in review and "v2 (proposed)" in review

    again = client.post(f"/prompts/{prompt.name}/labels", {"label": "production", "version": "2", "note": "again"})
    assert again.status_code == 409 and "already waits for review" in text(again) and 'value="again"' in text(again)
    assert ApprovalRequest.objects.filter(action="prompt.promote", proposed_args__prompt=prompt.name).count() == 1

    decide(request.id, second, "approve")
    page = text(client.get(f"/prompts/{prompt.name}/"))
    assert PromptLabel.objects.get(prompt=prompt, name="production").version.number == 2
    history = re.search(r'id="history-production">(.*?)</table>', page, re.S)
    assert history is not None
    assert "v1 → v2" in history.group(1) and "admin_b" in history.group(1)
    assert f'href="/approvals/{request.id}/"' in history.group(1)
    assert 'id="pending-promotion"' not in page


def test_roll_back_from_a_history_row_and_point_production_at_a_version(admin_user: User, client_for: ClientFor) -> None:
    prompt = greeting(admin_user)
    prompt_services.save_version(admin_user, prompt.name, template=[{"role": "system", "content": "v2"}], base_number=1)
    prompt_services.move_label(admin_user, prompt.name, "staging", 1)
    prompt_services.move_label(admin_user, prompt.name, "staging", 2)
    client = client_for(admin_user)
    page = text(client.get(f"/prompts/{prompt.name}/"))
    assert "Roll back to v1" in page and "Point production here" in page
    client.post(f"/prompts/{prompt.name}/labels", {"label": "staging", "version": "1", "note": "rollback to v1"})
    assert PromptLabel.objects.get(prompt=prompt, name="staging").version.number == 1
    assert PromptLabelMove.objects.filter(prompt=prompt, label="staging").first().note == "rollback to v1"
    response = client.post(f"/prompts/{prompt.name}/labels", {"label": "production", "version": "2"}, follow=True)
    assert "Waiting for review by another admin" in text(response)


# --- diff ------------------------------------------------------------------------------------------


def test_diff_shows_changed_lines_side_by_side_with_results(engineer: User, admin_user: User, client_for: ClientFor) -> None:
    prompt = greeting(admin_user)
    prompt_services.save_version(
        admin_user, prompt.name, template=[{"role": "system", "content": SYSTEM.replace("greet", "welcome")},
                                           {"role": "placeholder", "name": "history"}, {"role": "user", "content": "My name is {guest}."}],
        variables=GREETING_VARS, base_number=1,
    )
    page = text(client_for(engineer).get(f"/prompts/{prompt.name}/diff?a=1&b=2"))
    row = re.search(r'<tr class="replace">.*?<td class="text left">(.*?)</td>.*?<td class="text right">(.*?)</td></tr>', page, re.S)
    assert row is not None
    assert row.group(1) == "[system] You <mark>greet</mark> guests of {shop}."
    assert row.group(2) == "[system] You <mark>welcome</mark> guests of {shop}."
    assert 'id="diff-results"' in page and "Success" in page
    assert '<option value="1" selected>v1</option>' in page


def test_diff_with_bad_versions_says_so(engineer: User, admin_user: User, client_for: ClientFor) -> None:
    prompt = greeting(admin_user)
    response = client_for(engineer).get(f"/prompts/{prompt.name}/diff?a=zz&b=7")
    assert response.status_code == 200
    page = text(response)
    assert "There is no version &#x27;7&#x27;" in page and "There is no version &#x27;zz&#x27;" in page


# --- playground ------------------------------------------------------------------------------------


def test_playground_renders_and_runs_the_declaring_agents_scripted_model(engineer: User, client_for: ClientFor) -> None:
    """refund_system belongs to the refund agent: its sample conversation is prefilled, and the
    agent's offline script answers (it asks to look the order up)."""
    client = client_for(engineer)
    page = text(client.get("/prompts/refund_system/playground"))
    assert "refund" in page and "offline scripted model" in page
    sample = re.search(r'name="var-history"[^>]*>\n(.*?)</textarea>', page, re.S)
    assert sample is not None and "A-1001" in sample.group(1)
    history = sample.group(1).replace("&quot;", '"').replace("&#x27;", "'").replace("&amp;", "&")
    response = client.post("/prompts/refund_system/playground", {"version": "1", "var-shop_name": "Test Shop", "var-history": history})
    assert response.status_code == 200
    page = text(response)
    assert "You are the refund assistant of Test Shop." in page
    assert "Tool call <code>lookup_order</code>" in page and "A-1001" in page


def test_playground_without_an_agent_uses_the_describing_script_and_escapes_values(admin_user: User, client_for: ClientFor) -> None:
    prompt = greeting(admin_user)
    response = client_for(admin_user).post(
        f"/prompts/{prompt.name}/playground",
        {"version": "1", "var-shop": "<script>alert(1)</script>", "var-guest": "Ada",
         "var-history": '[{"type": "ai", "content": "Hello again"}]'},
    )
    assert response.status_code == 200
    page = text(response)
    assert "(scripted model) I received 3 messages; the last says: My name is Ada." in page
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "Hello again" in page


def test_playground_output_is_redacted_and_the_form_keeps_the_values(admin_user: User, client_for: ClientFor) -> None:
    """The describing script quotes the last message back: a card number typed into a value
    shows redacted in the rendered prompt and the reply, and stays as typed in the form."""
    prompt = greeting(admin_user)
    card = "4111 1111 1111 1111"
    response = client_for(admin_user).post(
        f"/prompts/{prompt.name}/playground",
        {"version": "1", "var-shop": "S", "var-guest": f"Ada, card {card}", "var-history": "[]"},
    )
    assert response.status_code == 200
    page = text(response)
    assert "(scripted model) I received" in page and "[redacted:card]" in page
    assert page.count(card) == 1 and f'value="Ada, card {card}"' in page


def test_playground_bad_values_are_field_errors(admin_user: User, client_for: ClientFor) -> None:
    prompt = greeting(admin_user)
    response = client_for(admin_user).post(
        f"/prompts/{prompt.name}/playground", {"version": "1", "var-shop": "S", "var-guest": "G", "var-history": "[not json"}
    )
    assert response.status_code == 422
    assert "messages are a JSON list" in text(response) and "[not json</textarea>" in text(response)


def test_playground_runs_only_for_engineers_and_admins(reviewer: User, admin_user: User, client_for: ClientFor) -> None:
    prompt = greeting(admin_user)
    page = text(client_for(reviewer).get(f"/prompts/{prompt.name}/playground?version=abc"))
    assert "Engineers and admins can run the playground." in page and "There is no version" in page
    response = client_for(reviewer).post(f"/prompts/{prompt.name}/playground", {"version": "1"})
    assert response.status_code == 403


def test_playground_shows_a_failed_provider_call_as_a_message(admin_user: User, monkeypatch: pytest.MonkeyPatch, client_for: ClientFor) -> None:
    """A version naming a provider model that cannot be reached here (no extra or no key): the
    page says the call failed, with the rendered prompt, never a 500."""
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    prompt_services.create_prompt(
        admin_user, "remote", template=[{"role": "user", "content": "Hi {who}"}], model_settings={"model": "openai:gpt-4o-mini"}
    )
    response = client_for(admin_user).post("/prompts/remote/playground", {"version": "1", "var-who": "Bo"})
    assert response.status_code == 200
    page = text(response)
    assert 'id="model-error"' in page and "The model call failed" in page
    assert "Hi Bo" in page
