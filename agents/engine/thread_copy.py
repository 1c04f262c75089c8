"""Copy a thread's whole checkpoint history to a new thread, in SQL, inside the caller's transaction.

A recorded replay (traces/inspection/replay.py) is the original's thread as it is, under a new
thread id: every checkpoint of every namespace (subgraphs included), with the same checkpoint ids
and parents, the channel blobs and the pending writes. Nothing is deserialized, so no agent code
and no serializer runs, whatever the agent is made of.

The rows are copied byte for byte even when checkpoints are encrypted (agents/engine/checkpointer.py):
LangGraph's EncryptedSerializer calls the cipher with the serialized value only, and Steward's
AesGcmCipher seals it with no associated data, so a ciphertext is not bound to its thread id and
opens the same under the new one. Checkpoint metadata is copied too: it still names the run that
wrote each checkpoint (`steward_run_id`), which is the original.

Tables: LangGraph's PostgresSaver (`checkpoints`, `checkpoint_blobs`, `checkpoint_writes`) or,
embedded, its SqliteSaver (`checkpoints`, `writes`), both in Django's database.
"""

from __future__ import annotations

from typing import Any

__all__ = ["copy_thread"]

_POSTGRES = (
    "INSERT INTO checkpoints (thread_id, checkpoint_ns, checkpoint_id, parent_checkpoint_id, type, checkpoint, metadata) "
    "SELECT %s, checkpoint_ns, checkpoint_id, parent_checkpoint_id, type, checkpoint, metadata "
    "FROM checkpoints WHERE thread_id = %s",
    "INSERT INTO checkpoint_blobs (thread_id, checkpoint_ns, channel, version, type, blob) "
    "SELECT %s, checkpoint_ns, channel, version, type, blob FROM checkpoint_blobs WHERE thread_id = %s",
    "INSERT INTO checkpoint_writes (thread_id, checkpoint_ns, checkpoint_id, task_id, idx, channel, type, blob, task_path) "
    "SELECT %s, checkpoint_ns, checkpoint_id, task_id, idx, channel, type, blob, task_path "
    "FROM checkpoint_writes WHERE thread_id = %s",
)

_SQLITE = (
    "INSERT INTO checkpoints (thread_id, checkpoint_ns, checkpoint_id, parent_checkpoint_id, type, checkpoint, metadata) "
    "SELECT %s, checkpoint_ns, checkpoint_id, parent_checkpoint_id, type, checkpoint, metadata "
    "FROM checkpoints WHERE thread_id = %s",
    "INSERT INTO writes (thread_id, checkpoint_ns, checkpoint_id, task_id, task_path, idx, channel, type, value) "
    "SELECT %s, checkpoint_ns, checkpoint_id, task_id, task_path, idx, channel, type, value "
    "FROM writes WHERE thread_id = %s",
)


def copy_thread(cursor: Any, vendor: str, source_thread_id: str, target_thread_id: str, placeholder: str = "%s") -> int:
    """Copy every checkpoint, blob and pending write of `source_thread_id` to `target_thread_id`
    (which must have none yet), on `cursor` (Django's, or a driver's with its `placeholder`), in
    its transaction.

    Returns:
        How many checkpoints were copied (0: the source thread has none).
    """
    statements = _POSTGRES if vendor == "postgresql" else _SQLITE
    cursor.execute(statements[0].replace("%s", placeholder), [target_thread_id, source_thread_id])
    copied = int(cursor.rowcount)
    if copied:
        for statement in statements[1:]:
            cursor.execute(statement.replace("%s", placeholder), [target_thread_id, source_thread_id])
    return copied
