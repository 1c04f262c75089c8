"""The idempotency ledger: a side effect runs once per key, whoever asks again gets its result.

The key row is inserted first, in the same transaction as the effect's own writes; a second
caller blocks on the unique key until the first commits, then reads the stored result. A crash
before the commit leaves neither the row nor the effect, so the retry performs it.

A key names one action with its arguments: asking again under the same key with other arguments
is a different action, and answering it with the stored result would report as done what never
ran. So the arguments' hash is compared: a mismatch raises `ArgumentsChanged`, unless the caller
declares that other arguments make a new action (`changed_args="new_action"`).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable
from typing import Any, Literal

from django.db import IntegrityError, transaction
from langchain_core.tools import ToolException

from agents.engine.models import IdempotencyRecord

__all__ = ["ArgumentsChanged", "args_hash", "run_once"]


class ArgumentsChanged(ToolException):
    """The key was already used for the same action with other arguments: nothing ran.

    A ToolException, so a tool that raises it answers the agent with the message
    (agents/engine/tools.py `run_tool_calls`) instead of failing the run.
    """


def args_hash(args: Any) -> str:
    """The arguments' fingerprint: the same arguments in any key order give the same hash."""
    canonical = json.dumps(args, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def run_once(
    *,
    key: str,
    action: str,
    args: Any,
    effect: Callable[[], Any],
    run_id: str | uuid.UUID | None = None,
    changed_args: Literal["refuse", "new_action"] = "refuse",
) -> tuple[Any, bool]:
    """Run `effect` once for `key`.

    Args:
        key: the side effect's unique key.
        action: what the effect is (for people reading the ledger).
        args: the effect's arguments, stored as a hash and compared on every repeat.
        effect: the function with the side effect; its writes join the ledger's transaction.
        run_id: the run that performed it.
        changed_args: what a repeat of `key` with other arguments is: "refuse" (raise
            `ArgumentsChanged`) or "new_action" (the arguments' hash joins the key, so each set
            of arguments runs once).

    Returns:
        (result, repeated): the effect's result, and whether it was stored by an earlier call.

    Raises:
        ArgumentsChanged: `key` was done with other arguments (with changed_args="refuse").
    """
    fingerprint = args_hash(args)
    if changed_args == "new_action":
        key = f"{key}:{fingerprint}"
    done = _done(key)
    if done is not None:
        return _repeat(done, action, fingerprint), True
    try:
        with transaction.atomic():
            record = IdempotencyRecord.objects.create(key=key, action=action, args_hash=fingerprint, run_id=run_id)
            result = effect()
            record.result = result
            record.save(update_fields=["result"])
        return result, False
    except IntegrityError:
        done = _done(key)
        if done is None:
            raise
        return _repeat(done, action, fingerprint), True


def _done(key: str) -> IdempotencyRecord | None:
    """The committed record of `key` (a record is only ever seen with its effect's writes)."""
    return IdempotencyRecord.objects.filter(key=key).first()


def _repeat(done: IdempotencyRecord, action: str, fingerprint: str) -> Any:
    """The stored result, if the repeat asks for the same arguments."""
    if done.args_hash != fingerprint:
        raise ArgumentsChanged(
            f"{action} was not performed: {done.key} was already done with different arguments "
            f"at {done.created_at:%Y-%m-%d %H:%M} UTC (its result: {json.dumps(done.result, default=str)}); "
            "the same key cannot be used for other arguments"
        )
    return done.result
