"""The prompt diff's display rows (agents/prompt_admin/word_diff.py): replaced lines re-paired by
similarity, the changed words of an edited line marked, line numbers per side. Pure functions:
no database."""

from __future__ import annotations

from agents.prompt_admin.word_diff import changed_rows, pair_lines, side_by_side, word_segments
from agents.prompts.templates import version_diff


def test_an_edited_line_is_shown_beside_its_old_self_not_beside_the_line_at_its_index() -> None:
    old = ["Hello.", "You greet guests of the shop.", "Thanks."]
    new = ["Hello.", "Say hello first.", "You welcome guests of the shop."]
    rows = version_diff(old, new)
    # version_diff pairs a replaced block by position: the edited line is beside an unrelated one.
    assert rows[1] == {"op": "replace", "left": "You greet guests of the shop.", "right": "Say hello first."}

    shown = side_by_side(rows)

    assert [(r["op"], r["left"], r["right"], r["left_no"], r["right_no"]) for r in shown] == [
        ("equal", "Hello.", "Hello.", 1, 1),
        ("insert", None, "Say hello first.", "", 2),
        ("replace", "You greet guests of the shop.", "You welcome guests of the shop.", 2, 3),
        ("delete", "Thanks.", None, 3, ""),
    ]
    edited = shown[2]
    assert [p["text"] for p in edited["left_parts"] if p["changed"]] == ["greet"]
    assert [p["text"] for p in edited["right_parts"] if p["changed"]] == ["welcome"]
    assert changed_rows(rows) == 3


def test_changed_words_are_whole_words_and_the_parts_rebuild_each_line() -> None:
    left, right = word_segments("Answer in 3 sentences.", "Answer in three short sentences!")
    assert "".join(p["text"] for p in left) == "Answer in 3 sentences."
    assert "".join(p["text"] for p in right) == "Answer in three short sentences!"
    assert [p["text"] for p in left if p["changed"]] == ["3", "."]
    assert {p["text"] for p in right if p["changed"]} == {"three short", "!"}


def test_lines_too_different_to_pair_stay_side_by_side_in_order() -> None:
    assert pair_lines(["abc", "def"], ["xyz"]) == [("abc", "xyz"), ("def", None)]
    assert pair_lines([], ["new"]) == [(None, "new")]


def test_what_is_not_a_list_of_rows_shows_as_no_rows() -> None:
    assert side_by_side(None) == [] and side_by_side("rows") == []
    assert changed_rows([{"op": "insert", "left": None, "right": "x"}, "junk"]) == 1
