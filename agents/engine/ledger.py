"""The idempotency ledger: a side effect runs once per key, whoever asks again gets its result.

The key row is inserted first, in the same transaction as the effect's own writes; a second
caller blocks on the unique key until the first commits, then reads the stored result. A crash
before the commit leaves neither the row nor the effect, so the retry performs it.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable
from typing import Any

from django.db import IntegrityError, transaction

from agents.engine.models import IdempotencyRecord

__all__ = ["args_hash", "run_once"]


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
) -> tuple[Any, bool]:
    """Run `effect` once for `key`.

    Args:
        key: the side effect's unique key.
        action: what the effect is (for people reading the ledger).
        args: the effect's arguments, stored as a hash.
        effect: the function with the side effect; its writes join the ledger's transaction.
        run_id: the run that performed it.

    Returns:
        (result, repeated): the effect's result, and whether it was stored by an earlier call.
    """
    existing = IdempotencyRecord.objects.filter(key=key).values_list("result", flat=True).first()
    if existing is not None:
        return existing, True
    try:
        with transaction.atomic():
            record = IdempotencyRecord.objects.create(
                key=key, action=action, args_hash=args_hash(args), run_id=run_id
            )
            result = effect()
            record.result = result
            record.save(update_fields=["result"])
        return result, False
    except IntegrityError:
        stored = IdempotencyRecord.objects.filter(key=key).values_list("result", flat=True).first()
        if stored is None:
            raise
        return stored, True
