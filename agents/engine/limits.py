"""Run limits (guardrails): max steps, a wall-clock timeout, a per-node timeout, a max cost.

Where a run's limits come from, per limit, first match wins:

1. the run's own `limits` (`POST /api/runs`, the start form). Whoever may start a run may
   tighten the agent's limits; only an admin may loosen them (a higher value, or `null` for
   none), so an admin's guardrail cannot be bypassed one run at a time;
2. the admin's override, `Agent.settings["limits"]` (`PUT /api/agents/{key}/limits`);
3. the code's defaults, `register_agent(..., limits=Limits(...))`.

The effective limits are written on the run when it is created (`Run.limits`): a resume, a
crash recovery or a retry uses those, whatever the agent's limits become meanwhile.

What a breach does is the agent's `on_breach`: `fail` ends the run `failed` with the breach as
its error; `pause` stops it `waiting` with an approval request ("Budget exceeded, continue?") in
the agent's `queue` (`budget` by default). Approving continues the run from its last checkpoint
with that limit raised (to what the reviewer approved); rejecting ends it `failed`, like `fail`
would have, with who refused and why (`failed`, not `cancelled`: the run did not finish its work
within what it was allowed, and failed-run lists, alerts and the `run_stopped` signal should see it).

The checks themselves run in the worker (agents/engine/limit_guard.py); the pause's approval
request, and what its decision does, belong to approvals (approvals/limit_requests.py).
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import asdict, dataclass, field, fields, replace
from typing import TYPE_CHECKING, Any, Literal, Protocol

from django.utils import timezone
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from agents.engine.models import Run
from console.kernel.errors import Forbidden, Invalid, validation_errors
from console.kernel.roles import is_admin

if TYPE_CHECKING:
    from agents.engine.models import Agent

__all__ = [
    "LIMIT_ACTION",
    "LIMIT_NAMES",
    "AgentLimitsIn",
    "Breach",
    "LimitExceeded",
    "Limits",
    "RunLimitsIn",
    "agent_limits",
    "format_limit",
    "limit_form_fields",
    "limits_for_run",
    "limits_from_form",
    "record_breach",
]

log = logging.getLogger(__name__)

LIMIT_NAMES = ("max_steps", "timeout_seconds", "node_timeout_seconds", "max_cost_usd")
LABELS = {
    "max_steps": "max steps",
    "timeout_seconds": "timeout",
    "node_timeout_seconds": "node timeout",
    "max_cost_usd": "max cost",
}
FAIL, PAUSE = "fail", "pause"
DEFAULT_QUEUE = "budget"
# The approval request's action. The dot keeps it apart from tool names (providers allow none).
LIMIT_ACTION = "run.over_limit"


@dataclass(frozen=True)
class Limits:
    """One agent's or one run's limits; None means no limit."""

    max_steps: int | None = None
    timeout_seconds: float | None = None
    node_timeout_seconds: float | None = None
    max_cost_usd: float | None = None
    on_breach: str = FAIL
    queue: str = DEFAULT_QUEUE
    # Which limits the run itself set (the rest are the agent's); for the run page.
    set_for_run: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        if self.on_breach not in (FAIL, PAUSE):
            raise ValueError(f"on_breach must be {FAIL!r} or {PAUSE!r}, not {self.on_breach!r}")

    @property
    def any(self) -> bool:
        return any(getattr(self, name) is not None for name in LIMIT_NAMES)

    @property
    def timed(self) -> bool:
        """A time limit needs a watchdog beside the graph (a node may never return)."""
        return self.timeout_seconds is not None or self.node_timeout_seconds is not None

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["set_for_run"] = list(self.set_for_run)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> Limits:
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in (data or {}).items() if k in known}
        if "set_for_run" in values:
            values["set_for_run"] = tuple(values["set_for_run"] or ())
        return cls(**values)


class RunLimitsIn(BaseModel):
    """Limits a caller may set on one run; leave a field out to keep the agent's. Numbers only
    (strict): `true` or `"5"` is refused, not read as 1 or 5."""

    model_config = ConfigDict(extra="forbid", strict=True)

    max_steps: int | None = Field(None, ge=1, le=1_000_000, description="node executions, at most")
    timeout_seconds: float | None = Field(
        None, gt=0, le=30 * 86400, allow_inf_nan=False,
        description="seconds a worker may spend on the run in all (time waiting for people or a worker is not counted)",
    )
    node_timeout_seconds: float | None = Field(
        None, gt=0, le=30 * 86400, allow_inf_nan=False, description="seconds one node may run"
    )
    max_cost_usd: float | None = Field(
        None, ge=0, le=1_000_000, allow_inf_nan=False, description="USD, from the model price table"
    )


class AgentLimitsIn(RunLimitsIn):
    """An admin's override of an agent's limits: what is left out comes from the code."""

    on_breach: Literal["fail", "pause"] | None = Field(None, description="fail the run, or pause it for an approval")
    queue: str | None = Field(None, min_length=1, max_length=100, pattern=r"^[-a-zA-Z0-9_]+$")


# --- where limits come from -------------------------------------------------------------------


class LimitedAgent(Protocol):
    """What `agent_limits` reads of an agent's spec (agents/engine/registry.py `AgentSpec`)."""

    @property
    def key(self) -> str: ...

    @property
    def limits(self) -> Limits: ...


def agent_limits(spec: LimitedAgent, agent: Agent | None) -> Limits:
    """The code's defaults with the admin's override on top."""
    override = ((agent.settings or {}).get("limits") if agent is not None else None) or {}
    if not override:
        return spec.limits
    try:
        values = AgentLimitsIn.model_validate(override).model_dump(exclude_unset=True)
    except ValidationError as exc:
        # Only the API writes it, validated; a hand edit that broke it must not stop the agent.
        log.warning("agent %s: ignoring invalid limits override %r: %s", spec.key, override, exc)
        return spec.limits
    if values.get("on_breach") is None:
        values.pop("on_breach", None)
    if values.get("queue") is None:
        values.pop("queue", None)
    return replace(spec.limits, **values)


def _looser(value: Any, current: Any) -> bool:
    if current is None:
        return False
    return value is None or value > current


def limits_for_run(base: Limits, requested: dict[str, Any] | None, user: Any) -> Limits:
    """The run's effective limits: the agent's, with what the run asked for.

    Raises:
        Invalid: a value is not a valid limit. Forbidden: a non-admin asked for more than the
            agent allows.
    """
    if not requested:
        return base
    try:
        values = RunLimitsIn.model_validate(requested).model_dump(exclude_unset=True)
    except ValidationError as exc:
        raise Invalid(validation_errors(exc, "limits")) from None
    looser = [name for name, value in values.items() if _looser(value, getattr(base, name))]
    if looser and not is_admin(user):
        asked = ", ".join(f"{name} {values[name] if values[name] is not None else 'null (none)'}" for name in looser)
        allowed = ", ".join(f"{name} {getattr(base, name)}" for name in looser)
        raise Forbidden(
            f"{asked} is looser than the agent allows ({allowed}): only an admin may loosen an agent's limits"
        )
    return replace(base, **values, set_for_run=tuple(sorted(values)))


# --- breaches ---------------------------------------------------------------------------------


def format_limit(name: str, value: float) -> str:
    """A limit's value as people read it: "50", "$0.25", "30 s"."""
    if name == "max_steps":
        return str(int(value))
    if name == "max_cost_usd":
        return f"${value:g}"
    return f"{value:g} s"


def _usd(value: float, digits: int) -> str:
    return f"${value:.{digits}f}"


@dataclass(frozen=True)
class Breach:
    """A limit the run reached: `used` against `allowed`, and the node it stopped before or in."""

    limit: str
    used: float
    allowed: float
    node: str = ""

    @property
    def message(self) -> str:
        if self.limit == "max_steps":
            stopped = f"; node {self.node!r} did not start" if self.node else ""
            return f"max steps exceeded: {int(self.used)} steps done, limit {int(self.allowed)}{stopped}"
        if self.limit == "max_cost_usd":
            # Enough decimals that a small budget does not read "$0.0000 spent, limit $0.0000".
            digits = 4 if self.allowed >= 0.001 else 6 if self.allowed >= 0.00001 else 8
            return f"max cost exceeded: {_usd(self.used, digits)} spent, limit {_usd(self.allowed, digits)}"
        if self.limit == "timeout_seconds":
            return f"timeout exceeded: {self.used:.1f} s spent running, limit {self.allowed:g} s"
        return f"node timeout exceeded: node {self.node!r} still running after {self.allowed:g} s"

    def proposed_limit(self) -> float | int:
        """What approving "continue" sets the limit to: past what is used by the limit's own size
        (a node that timed out gets twice the time)."""
        if self.limit == "max_steps":
            return int(self.used + self.allowed)
        if self.limit == "max_cost_usd":
            return round(self.used + self.allowed, 8)
        if self.limit == "timeout_seconds":
            return round(self.used + self.allowed, 1)
        return round(self.allowed * 2, 3)

    def format_value(self, value: float) -> str:
        return format_limit(self.limit, value)

    def args_schema(self) -> dict[str, Any]:
        """What a reviewer may approve instead: a higher value of the same limit."""
        if self.limit == "max_steps":
            prop: dict[str, Any] = {"type": "integer", "minimum": int(self.used) + 1}
        elif self.limit == "node_timeout_seconds":
            prop = {"type": "number", "exclusiveMinimum": self.allowed}
        else:
            prop = {"type": "number", "exclusiveMinimum": round(self.used, 8)}
        prop["title"] = f"New {LABELS[self.limit]}" + (" (USD)" if self.limit == "max_cost_usd" else "")
        if self.limit.endswith("_seconds"):
            prop["title"] += " (seconds)"
        return {"type": "object", "properties": {self.limit: prop}, "required": [self.limit], "additionalProperties": False}


class LimitExceeded(RuntimeError):
    """A run reached one of its limits. A RuntimeError, so LangGraph's default retry policy
    does not retry the node it stopped."""

    def __init__(self, breach: Breach) -> None:
        super().__init__(breach.message)
        self.breach = breach


def record_breach(run_id: uuid.UUID, breach: Breach, action: str, approval_id: str | None = None) -> None:
    """Append the breach to the run's history (inside the transaction that stops the run)."""

    entry = {
        "limit": breach.limit,
        "used": breach.used,
        "allowed": breach.allowed,
        "node": breach.node,
        "message": breach.message,
        "action": action,
        "at": timezone.now().isoformat(),
        "approval_id": approval_id,
        # failed | waiting | continued, and in words.
        "state": "failed" if action == FAIL else "waiting",
        "outcome": "the run failed" if action == FAIL else "waiting for a decision",
    }
    Run.append_limit_breach(run_id, entry)


# --- the start form -----------------------------------------------------------------------------


def limits_from_form(post: Any) -> dict[str, Any]:
    """The start form's `limit_<name>` fields → a run's limits; blank fields keep the agent's.
    What does not parse is passed on as typed, for the validation to name."""
    values: dict[str, Any] = {}
    for name in LIMIT_NAMES:
        raw = str(post.get(f"limit_{name}", "")).strip()
        if not raw:
            continue
        try:
            values[name] = int(raw) if name == "max_steps" else float(raw)
        except ValueError:
            values[name] = raw
    return values


def limit_form_fields(base: Limits, post: Any, errors: dict[str, str]) -> list[dict[str, Any]]:
    """One number field per limit, with the agent's value as the placeholder."""
    units = {"max_steps": "steps", "timeout_seconds": "seconds", "node_timeout_seconds": "seconds", "max_cost_usd": "USD"}
    fields_ = []
    for name in LIMIT_NAMES:
        current = getattr(base, name)
        fields_.append(
            {
                "name": f"limit_{name}",
                "label": f"{LABELS[name].capitalize()} ({units[name]})",
                "value": post.get(f"limit_{name}", "") if post is not None else "",
                "placeholder": f"agent's: {current:g}" if current is not None else "agent's: none",
                "step": "1" if name == "max_steps" else "any",
                "error": errors.get(f"limit_{name}", ""),
            }
        )
    return fields_
