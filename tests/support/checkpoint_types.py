"""State types a graph keeps in its checkpoints (pydantic and dataclass), for the serializer's
allow-list tests: each test uses its own, since LangGraph warns once per type and process."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel


class AllowedOrder(BaseModel):
    order_id: str
    amount: float


@dataclass
class AllowedParcel:
    parcel_id: str
    grams: int


class BlockedOrder(BaseModel):
    order_id: str
