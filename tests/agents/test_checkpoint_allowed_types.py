"""STEWARD_CHECKPOINT_ALLOWED_TYPES: the types a graph's state restores from its checkpoints
(pydantic models, dataclasses), passed to LangGraph's serializer as its msgpack allow-list, so
such agents resume and replay without "unregistered type" warnings; a type left off is refused."""

from __future__ import annotations

import logging
import uuid
from typing import Any

import pytest
from langgraph.checkpoint.base import empty_checkpoint

from agents.engine.checkpointer import checkpointer
from tests.support.checkpoint_types import AllowedOrder, AllowedParcel, BlockedOrder

pytestmark = pytest.mark.django_db


def _round_trip(value: Any) -> Any:
    thread = {"configurable": {"thread_id": f"allowed-{uuid.uuid4().hex}", "checkpoint_ns": ""}}
    checkpoint = empty_checkpoint()
    checkpoint["channel_values"] = {"state": value}
    checkpoint["channel_versions"] = {"state": "1"}
    with checkpointer() as saver:
        saver.put(thread, checkpoint, {"source": "input", "step": -1}, {"state": "1"})
        saved = saver.get_tuple(thread)
        saver.delete_thread(thread["configurable"]["thread_id"])
    assert saved is not None
    return saved.checkpoint["channel_values"]["state"]


def test_allowed_types_restore_without_a_warning(settings: Any, caplog: pytest.LogCaptureFixture) -> None:
    settings.STEWARD_CHECKPOINT_ALLOWED_TYPES = [
        "tests.support.checkpoint_types.AllowedOrder",
        "tests.support.checkpoint_types.AllowedParcel",
    ]
    with caplog.at_level(logging.WARNING):
        order = _round_trip(AllowedOrder(order_id="A-1", amount=12.5))
        parcel = _round_trip(AllowedParcel(parcel_id="P-1", grams=300))
    assert order == AllowedOrder(order_id="A-1", amount=12.5)
    assert parcel == AllowedParcel(parcel_id="P-1", grams=300)
    assert "unregistered type" not in caplog.text


def test_with_an_allow_list_a_type_left_off_is_not_restored(settings: Any) -> None:
    settings.STEWARD_CHECKPOINT_ALLOWED_TYPES = ["tests.support.checkpoint_types.AllowedOrder"]
    restored = _round_trip(BlockedOrder(order_id="B-1"))
    assert not isinstance(restored, BlockedOrder)
