"""How pages print durations, counts, due times, amounts and times (console/templatetags/display.py)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.contrib.auth.models import User
from django.template import Context, Template

from approvals.inbox import args_items, diff_items
from console.kernel.display import amount_currency, format_amount, format_count, format_minutes, format_value
from tests.support.clients import ClientFor
from tests.support.runs import waiting_refund


def render(source: str, **context: object) -> str:
    return Template("{% load display %}" + source).render(Context(context))


def test_durations_read_in_human_units() -> None:
    assert render("{{ v|ms }}", v=420) == "420 ms"
    assert render("{{ v|ms }}", v=15_200) == "15.2 s"
    assert render("{{ v|ms }}", v=419_875) == "7 min"
    assert render("{{ v|ms }}", v=425_000) == "7 min 5 s"
    assert render("{{ v|ms }}", v=None) == "–"


def test_counts_have_thousands_separators() -> None:
    assert format_count(880874) == "880,874"
    assert format_count(12) == "12"
    assert format_count(None) == "–"
    assert render("{{ v|count }} tokens", v=880874) == "880,874 tokens"


def test_due_minutes_read_in_hours_and_days() -> None:
    assert format_minutes(45) == "45 min"
    assert format_minutes(90) == "1 h 30 min"
    assert format_minutes(120) == "2 h"
    assert format_minutes(1440) == "1 day"
    assert format_minutes(4320) == "3 days"
    assert format_minutes(1500) == "1 d 1 h"
    assert render("Due {{ v|minutes }}", v=1440) == "Due 1 day"


def test_amounts_have_two_decimals_and_the_declared_currency() -> None:
    assert format_amount(250.0) == "250.00"
    assert format_amount(1234.5, "EUR") == "1,234.50 EUR"
    assert format_amount("not a number") == "not a number"
    assert render('{{ v|amount:"USD" }}', v=250.0) == "250.00 USD"
    schema = {"properties": {"amount": {"type": "number", "currency": "USD"}, "fee": {"format": "currency:EUR"}}}
    assert amount_currency(schema, "amount") == "USD"
    assert amount_currency(schema, "fee") == "EUR"
    assert amount_currency(schema, "order_id") is None
    assert amount_currency(None, "amount") is None


def test_an_argument_reads_in_human_form() -> None:
    """Numbers without a stray ".0" and with separators, an amount with its currency, booleans
    and null as words, strings as they are, nested values as indented JSON."""
    assert format_value(150.0) == "150"
    assert format_value(1234567) == "1,234,567"
    assert format_value(1234.5) == "1,234.5"
    assert format_value(0.125) == "0.125"
    assert format_value(1e-7) == "0.0000001"
    assert format_value(150.0, "USD") == "150.00 USD"
    assert format_value(True) == "yes" and format_value(False) == "no"
    assert format_value(True, "USD") == "yes"
    assert format_value(None) == "–"
    assert format_value("A-42") == "A-42"
    assert format_value("150", "USD") == "150"  # a string stays the agent's text
    assert format_value({"sku": "é", "qty": [1, 2]}) == '{\n  "sku": "é",\n  "qty": [\n    1,\n    2\n  ]\n}'
    assert format_value(float("nan")) == "nan"


def test_arguments_are_listed_in_the_declared_order_with_their_currency() -> None:
    schema = {
        "required": ["order_id", "amount"],
        "properties": {"order_id": {"type": "string"}, "amount": {"type": "number", "currency": "EUR"}, "notify": {}},
    }
    items = args_items({"notify": False, "amount": 1500.0, "order_id": "A-1", "lines": [{"n": 1}]}, schema)
    assert [(i["name"], i["text"], i["nested"]) for i in items] == [
        ("order_id", "A-1", False),
        ("amount", "1,500.00 EUR", False),
        ("lines", '[\n  {\n    "n": 1\n  }\n]', True),
        ("notify", "no", False),
    ]
    assert args_items("not an object", schema) == []
    diff = diff_items([{"field": "amount", "from": 400.0, "to": 120}], schema)
    assert diff == [{"field": "amount", "from": "400.00 EUR", "to": "120.00 EUR", "nested": False}]


def test_a_time_renders_as_a_time_element_with_the_utc_title() -> None:
    html = render("{{ v|local_time }}", v=datetime(2026, 12, 7, 12, 9, 51, tzinfo=UTC))
    assert html == (
        '<time datetime="2026-12-07T12:09:51+00:00" data-local title="2026-12-07 12:09:51 UTC">'
        "2026-12-07 12:09:51 UTC</time>"
    )


def test_a_message_s_iso_times_show_as_times_and_the_rest_is_escaped() -> None:
    html = render("{{ v|times_local }}", v="already approved, by <b>ann</b> at 2026-12-07T12:09:51.123456+00:00")
    assert html == (
        "already approved, by &lt;b&gt;ann&lt;/b&gt; at "
        '<time datetime="2026-12-07T12:09:51.123456+00:00" data-local title="2026-12-07 12:09:51 UTC">'
        "2026-12-07 12:09:51 UTC</time>"
    )


def test_backticks_in_a_description_become_code_and_the_rest_is_escaped() -> None:
    assert render("{{ v|inline_code }}", v="wait in the `payments` queue <b>") == (
        "wait in the <code>payments</code> queue &lt;b&gt;"
    )
    assert render("{{ v|inline_code }}", v="a lone ` stays") == "a lone ` stays"


@pytest.mark.django_db
def test_the_start_form_shows_no_literal_backticks(engineer: User, client_for: ClientFor) -> None:
    page = client_for(engineer).get("/agents/refund/start").content.decode()
    assert "<code>payments</code> queue" in page and "`payments`" not in page


@pytest.mark.django_db(transaction=True)
def test_a_summary_shows_an_amount_with_two_decimals_and_its_currency(engineer: User) -> None:
    """The refund action declares its amount in USD (its args_schema): "Refund 250.00 USD", not "Refund 250.0"."""
    run, request = waiting_refund(engineer, amount=250)
    assert request.summary == f"Refund 250.00 USD on order {run.input['order_id']}"
    assert request.args_schema["properties"]["amount"]["currency"] == "USD"


@pytest.mark.django_db(transaction=True)
def test_the_request_page_and_the_pane_show_the_amount_with_its_currency(
    engineer: User, reviewer: User, client_for: ClientFor
) -> None:
    """The args panel of the request's page and of the inbox's pane: "150.00 USD", not "150.0";
    once approved, the approved arguments read the same way."""
    _, request = waiting_refund(engineer, amount=150)
    client = client_for(reviewer)
    for path in (f"/approvals/{request.id}/", f"/approvals/{request.id}/?pane=1"):
        html = client.get(path).content.decode()
        assert "<dt>amount</dt><dd>150.00 USD</dd>" in html, path
        assert "150.0<" not in html, path
    client.post(f"/approvals/{request.id}/decide", {"decision": "approve"})
    html = client.get(f"/approvals/{request.id}/").content.decode()
    approved = html.split('id="approved-args"')[1].split("</dl>")[0]
    assert "<dt>amount</dt><dd>150.00 USD</dd>" in approved
