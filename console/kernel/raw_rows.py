"""Model instances from the row of a hand-written statement, for the few hot queries where the
ORM's cost of building the SQL is most of the query's cost (a worker's claim, an API key's lookup).

Postgres only: it applies the fields' converters, not the backend's (which Postgres has none of,
and SQLite has, for booleans, dates and UUIDs); its callers use the ORM on SQLite."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from django.db import connection, models

__all__ = ["columns", "instance_from_row"]

M = TypeVar("M", bound=models.Model)


def columns(model: type[models.Model], alias: str) -> str:
    """`alias.column, …` for every concrete field, in `instance_from_row`'s order."""
    return ", ".join(f"{alias}.{field.column}" for field in model._meta.concrete_fields)


def instance_from_row(model: type[M], values: Sequence[Any]) -> M:
    """An instance of `model` from its concrete fields' raw values (as `columns` lists them),
    converted as the ORM converts what it loads (JSON decoded, and so on)."""
    fields: Sequence[Any] = model._meta.concrete_fields
    converted = []
    for field, value in zip(fields, values, strict=True):
        for converter in field.get_db_converters(connection):
            value = converter(value, field, connection)
        converted.append(value)
    return model.from_db("default", [f.attname for f in fields], converted)
