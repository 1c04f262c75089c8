"""GraphCall.resume_command: the update/goto sent with a resume goes with the resume of those
interrupts only, never with a later interrupt's."""

from __future__ import annotations

from agents.engine.graph_call import GraphCall


def test_the_update_goes_with_the_resume_of_its_interrupts_only() -> None:
    call = GraphCall.from_metadata(
        {"graph_call": {"resume_with": {"interrupts": ["a", "b"], "update": {"tone": "firm"}, "goto": "send"}}}
    )
    with_it = call.resume_command({"a": True})
    assert with_it.resume == {"a": True} and with_it.update == {"tone": "firm"} and with_it.goto == "send"
    # Both decided before the worker resumed them: still one Command with the update.
    assert call.resume_command({"a": True, "c": 1}).update == {"tone": "firm"}
    later = call.resume_command({"c": False})
    assert later.resume == {"c": False} and later.update is None and later.goto == ()
    # No goto given: none sent (LangGraph's default).
    assert GraphCall(resume_with={"interrupts": ["a"], "update": {"x": 1}, "goto": None}).resume_command({"a": 1}).goto == ()
    # Kept in the run's metadata and read back as it was.
    stored = GraphCall(resume_with={"interrupts": ["a"], "update": {"x": 1}, "goto": None}).as_dict()
    assert GraphCall.from_metadata({"graph_call": stored}).resume_with == {"interrupts": ["a"], "update": {"x": 1}, "goto": None}
