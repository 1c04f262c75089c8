"""A gated action's arguments as people see them: redacted, and restored when sent back.

The arguments are stored as the agent proposed them, because approving must run the action with
exactly those (their hash is checked at the gate). Everything that shows them (the request page,
the API, notifications, action links) shows the redacted copy (console/kernel/redaction.py). A reviewer
who edits starts from that copy, so a value sent back as it was shown, marker and all, means
"keep the original": `restore` puts the proposed value back there. Nothing is lost by editing.
What the reviewer sends is stored redacted, its exact copy sealed (approvals/models.py `Decision`).
"""

from __future__ import annotations

from typing import Any

from console.kernel.redaction import redact

__all__ = ["restore", "shown"]


def shown(args: Any) -> Any:
    """The arguments with every secret replaced by its marker."""
    return redact(args)


def restore(submitted: Any, proposed: Any) -> Any:
    """`submitted` with each part that equals the shown (redacted) copy of the proposed part at the
    same place replaced by the proposed original. Parts the reviewer changed stay as sent."""
    if submitted == shown(proposed):
        return proposed
    if isinstance(submitted, dict) and isinstance(proposed, dict):
        return {key: restore(value, proposed[key]) if key in proposed else value for key, value in submitted.items()}
    if isinstance(submitted, list) and isinstance(proposed, list):
        return [restore(value, proposed[i]) if i < len(proposed) else value for i, value in enumerate(submitted)]
    return submitted
